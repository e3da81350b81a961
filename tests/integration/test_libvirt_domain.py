# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spice.streaming.libvirt_domain against the real libvirtd and real QEMU.

Pattern of every converge test: check-mode run, real run, check-mode rerun and
real rerun (both report no change); then the XML, QEMU's own command line and
the running domain's live XML prove the result.
"""

from __future__ import annotations

import os
import stat

import libvirt
from lxml import etree

from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM,
    STREAM_CHANNEL,
    URI,
    VDAGENT,
    VIRTIO_SERIAL,
    VNC_GRAPHICS,
    domain_xml,
    run_module,
)
from tests.support.unprivileged import run_module_as_nobody

MODULE = 'spice.streaming.libvirt_domain'
ENABLE = {'streaming_mode': 'filter', 'agent_channel': 'present'}


def stream_channels(xml):
    root = etree.fromstring(xml.encode())
    return [c for c in root.iterfind("devices/channel[@type='spiceport']")
            if c.find('target').get('name') == STREAM]


def streaming_modes(xml):
    root = etree.fromstring(xml.encode())
    return [None if g.find('streaming') is None else g.find('streaming').get('mode')
            for g in root.iterfind("devices/graphics[@type='spice']")]


def controllers(xml, kind='virtio-serial'):
    return etree.fromstring(xml.encode()).findall("devices/controller[@type='%s']" % kind)


def without_managed_parts(xml):
    """The definition minus what the module manages and minus addresses libvirt assigns."""
    root = etree.fromstring(xml.encode())
    devices = root.find('devices')
    for element in list(devices):
        if element.tag == 'channel' and element.get('type') == 'spiceport':
            devices.remove(element)
        elif element.tag == 'controller' and element.get('type') in ('virtio-serial', 'pci'):
            devices.remove(element)
    for graphics in devices.iterfind('graphics'):
        for streaming in graphics.findall('streaming'):
            graphics.remove(streaming)
    for element in root.iter('address'):
        element.getparent().remove(element)
    for element in root.iter():
        element.tail = None
        if element.text is not None and not element.text.strip():
            element.text = None
    return etree.tostring(root, method='c14n')


def args(domains, **extra):
    merged = {'uri': URI, 'name': domains}
    merged.update(extra)
    return merged


def converge(names, expect_first_changed=True, **options):
    """check, real, check again, real again; returns the four runs."""
    request = args(names, **options)
    first_check = run_module(MODULE, request, check=True)
    first = run_module(MODULE, request)
    second_check = run_module(MODULE, request, check=True)
    second = run_module(MODULE, request)
    for run in (first_check, first, second_check, second):
        assert not run.failed, run
    assert first_check.changed is expect_first_changed, first_check
    assert first.changed is expect_first_changed, first
    assert not second_check.changed, second_check
    assert not second.changed, second
    return first_check, first, second_check, second


# ------------------------------------------------------------------ converging


def test_converge_stopped_domains_and_prove_on_qemu(domains):
    domains.define('bare', domain_xml)
    domains.define('virtmgr', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, VDAGENT, SPICE_GRAPHICS)))
    domains.define('pc', lambda n: domain_xml(n, machine='pc'))
    domains.define('vnc', lambda n: domain_xml(n, devices=(VNC_GRAPHICS,)))
    before = {name: domains.inactive_xml(name) for name in domains.names}

    check, real, _check2, _real2 = converge([domains.prefix + '-*'], **ENABLE)

    spice = [domains.name(label) for label in ('bare', 'virtmgr', 'pc')]
    vnc = domains.name('vnc')
    # Check mode predicted exactly what the real run did.
    for name in spice + [vnc]:
        assert check.domain(name)['actions'] == real.domain(name)['actions'], name
    assert sorted(real.result['changed_domains']) == sorted(spice)
    assert real.result['skipped_domains'] == {vnc: real.domain(vnc)['reason']}
    assert 'no SPICE graphics' in real.domain(vnc)['reason']
    assert domains.inactive_xml(vnc) == before[vnc]

    for name in spice:
        after = domains.inactive_xml(name)
        assert len(stream_channels(after)) == 1
        channel = stream_channels(after)[0]
        assert channel.find('source').get('channel') == STREAM
        assert channel.find('target').get('type') == 'virtio'
        assert len(controllers(after)) == 1
        assert streaming_modes(after) == ['filter']
        # Nothing but the managed parts moved.
        assert without_managed_parts(after) == without_managed_parts(before[name]), name

    # QEMU itself gets the stream port and the streaming mode.
    for name in spice:
        domains.cold_restart(name)
        cmdline = domains.qemu_cmdline(name)
        chardevs = [cmdline[i + 1] for i, arg in enumerate(cmdline) if arg == '-chardev']
        assert any(c.startswith('spiceport,') and c.endswith('name=' + STREAM) for c in chardevs), cmdline
        devices = [cmdline[i + 1] for i, arg in enumerate(cmdline) if arg == '-device']
        assert any('virtserialport' in d and STREAM in d for d in devices), cmdline
        spice_opts = cmdline[cmdline.index('-spice') + 1]
        assert 'streaming-video=filter' in spice_opts.split(','), spice_opts
        assert stream_channels(domains.live_xml(name))[0].find('target').get('state') == 'disconnected'


def test_check_mode_changes_nothing_and_diff_masks_passwords(domains):
    secret_graphics = SPICE_GRAPHICS.replace("autoport='no'", "autoport='no' passwd='s3cret-pw'")
    domains.define('pw', lambda n: domain_xml(n, devices=(secret_graphics,)))
    name = domains.name('pw')
    before = domains.snapshot()

    check = run_module(MODULE, args([name], **ENABLE), check=True, diff=True)
    assert check.changed and not check.failed, check
    assert domains.snapshot() == before
    diff = check.result['diff']
    assert len(diff) == 1 and name in diff[0]['before_header']
    # Check mode reads over a read-only connection, which never sees secrets at all.
    assert 's3cret-pw' not in repr(check.result)

    real = run_module(MODULE, args([name], **ENABLE), diff=True)
    assert real.changed, real
    assert 's3cret-pw' not in repr(real.result)
    for side in ('before', 'after'):
        assert 'passwd="********"' in real.result['diff'][0][side]
    assert STREAM in real.result['diff'][0]['after'] and STREAM not in real.result['diff'][0]['before']
    # The password survived the redefine.
    assert "passwd='s3cret-pw'" in domains.inactive_xml(name)


def test_foreign_metadata_and_qemu_commandline_are_kept(domains):
    ns = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
    head = """<metadata>
    <my:desk xmlns:my='http://example.org/ns/desk/1'><my:owner>alice</my:owner></my:desk>
  </metadata>
  <description>finance desktop</description>"""
    qemu_cmd = """<qemu:commandline>
    <qemu:arg value='-set'/>
    <qemu:arg value='device.video0.ram_size=67108864'/>
  </qemu:commandline>"""
    domains.define('meta', lambda n: domain_xml(n, head=head, ns=ns).replace('</domain>', qemu_cmd + '\n</domain>'))
    name = domains.name('meta')
    before = domains.inactive_xml(name)
    converge([name], **ENABLE)
    after = domains.inactive_xml(name)
    assert without_managed_parts(after) == without_managed_parts(before)
    assert '<my:owner>alice</my:owner>' in after
    assert "<qemu:arg value='device.video0.ram_size=67108864'/>" in after


def test_duplicate_stream_channels_are_reduced_to_one_and_domain_starts(domains):
    # What virt-xml --add-device run twice leaves: libvirt defines it, QEMU refuses to start it.
    second = STREAM_CHANNEL
    domains.define('dup', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, second, SPICE_GRAPHICS)))
    name = domains.name('dup')
    assert len(stream_channels(domains.inactive_xml(name))) == 2
    dom = domains.conn.lookupByName(name)
    try:
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        started_with_duplicates = True
    except libvirt.libvirtError as err:
        started_with_duplicates = False
        assert 'already exists' in str(err) or 'port' in str(err), err
    assert not started_with_duplicates, 'QEMU started a domain with two ports of one name'

    _check, real, _c2, _r2 = converge([name], agent_channel='present')
    assert any('duplicate' in action for action in real.domain(name)['actions'])
    assert len(stream_channels(domains.inactive_xml(name))) == 1
    dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
    assert len(stream_channels(domains.live_xml(name))) == 1


def test_only_mode_given_leaves_channel_alone_and_vice_versa(domains):
    domains.define('mode', domain_xml)
    domains.define('chan', domain_xml)
    mode, chan = domains.name('mode'), domains.name('chan')
    converge([mode], streaming_mode='all')
    converge([chan], agent_channel='present')
    assert streaming_modes(domains.inactive_xml(mode)) == ['all']
    assert stream_channels(domains.inactive_xml(mode)) == []
    assert streaming_modes(domains.inactive_xml(chan)) == [None]
    assert len(stream_channels(domains.inactive_xml(chan))) == 1
    # An explicit mode already in place is no change.
    converge([mode], expect_first_changed=False, streaming_mode='all')


def test_absent_removes_only_the_stream_channel(domains):
    domains.define('abs', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, VDAGENT, STREAM_CHANNEL, SPICE_GRAPHICS)))
    name = domains.name('abs')
    converge([name], agent_channel='absent')
    after = domains.inactive_xml(name)
    assert stream_channels(after) == []
    assert len(controllers(after)) == 1
    assert "name='com.redhat.spice.0'" in after


# ------------------------------------------------------------------ running domains


def test_running_domain_with_controller_hotplug_or_restart_required(domains):
    domains.define('run', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, VDAGENT, SPICE_GRAPHICS)), start=True)
    name = domains.name('run')
    live_before = domains.live_xml(name)

    check = run_module(MODULE, args([name], **ENABLE), check=True)
    assert domains.live_xml(name) == live_before
    real = run_module(MODULE, args([name], **ENABLE))
    assert real.changed and not real.failed, real
    result = real.domain(name)
    live = domains.live_xml(name)
    assert domains.conn.lookupByName(name).isActive(), 'the module must never stop a running domain'

    pending = {item['change']: item['reason'] for item in result['restart_required']}
    # The streaming mode can never change live; the live XML still has the old mode.
    assert 'cold start' in pending['streaming_mode']
    assert streaming_modes(live) == [None]
    # The channel: hot-plugged, or reported as waiting, and the live XML agrees either way.
    if stream_channels(live):
        assert result['live_actions'] == ['hot-plugged the stream channel into the running domain']
        assert 'agent_channel' not in pending
    else:
        assert result['live_actions'] == []
        assert 'refused' in pending['agent_channel'], pending
    assert name in real.result['restart_required']
    assert name in check.result['restart_required']

    # Rerun: nothing changes, the restart is still pending.
    again = run_module(MODULE, args([name], **ENABLE))
    assert not again.changed, again
    assert name in again.result['restart_required']

    # After the cold restart the running domain has everything and nothing is pending.
    domains.cold_restart(name)
    live = domains.live_xml(name)
    assert streaming_modes(live) == ['filter'] and len(stream_channels(live)) == 1
    final = run_module(MODULE, args([name], **ENABLE))
    assert not final.changed and final.result['restart_required'] == [], final


COMPRESSION = {'image_compression': 'glz', 'jpeg_compression': 'never', 'zlib_compression': 'always',
               'playback_compression': 'off'}
COMPRESSION_KEYS = ['image-compression=glz', 'jpeg-wan-compression=never', 'zlib-glz-wan-compression=always',
                    'playback-compression=off']


def spice_keys(cmdline):
    """The keys of QEMU's -spice option as QEMU got it, in order."""
    return cmdline[cmdline.index('-spice') + 1].split(',')


def compression_elements(xml):
    graphics = etree.fromstring(xml.encode()).find("devices/graphics[@type='spice']")
    return [(child.tag, child.get('compression')) for child in graphics
            if child.tag in ('image', 'jpeg', 'zlib', 'playback')]


def test_compression_waits_for_a_cold_start_and_reaches_qemu(domains):
    """The four compression settings on a running domain: defined, reported, applied at a restart.

    libvirt cannot change them live: update-device says it did and changes nothing, in the
    live XML or in QEMU, which is why the module never calls it.
    """
    dom = domains.define('cmp', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)), start=True)
    name = domains.name('cmp')
    started_with = domains.qemu_cmdline(name)
    assert not any(key.split('=', maxsplit=1)[0] in ' '.join(spice_keys(started_with)) for key in COMPRESSION_KEYS)

    _check, real, _check2, again = converge([name], **COMPRESSION)
    assert real.domain(name)['actions'] == [
        'set SPICE image compression to glz (was not set, which QEMU runs as auto_glz)',
        'set SPICE JPEG compression to never (was not set, which QEMU runs as auto)',
        'set SPICE zlib compression to always (was not set, which QEMU runs as auto)',
        'set SPICE playback compression to off (was not set, which QEMU runs as on)']
    assert compression_elements(domains.inactive_xml(name)) == [
        ('image', 'glz'), ('jpeg', 'never'), ('zlib', 'always'), ('playback', 'off')]
    pending = {item['change']: item['reason'] for item in again.domain(name)['restart_required']}
    assert sorted(pending) == sorted(COMPRESSION), pending
    assert 'libvirt cannot change the SPICE image compression of a running domain' in \
        real.domain(name)['restart_required'][0]['reason']
    assert pending['image_compression'].startswith('the running domain runs with image compression auto_glz;')
    assert compression_elements(domains.live_xml(name)) == []

    # What the module does not do, tried by hand: libvirt answers success and changes nothing.
    live_graphics = etree.fromstring(domains.live_xml(name).encode()).find("devices/graphics[@type='spice']")
    etree.SubElement(live_graphics, 'image', compression='glz')
    assert dom.updateDeviceFlags(etree.tostring(live_graphics, encoding='unicode'),
                                 libvirt.VIR_DOMAIN_AFFECT_LIVE) == 0
    assert compression_elements(domains.live_xml(name)) == []
    assert domains.qemu_cmdline(name) == started_with

    # restart=when_needed applies them (the domain is paused: forced off at once, started paused).
    restart = run_module(MODULE, args([name], restart='when_needed', force_off=True, **COMPRESSION))
    assert not restart.failed and restart.result['restarted_domains'] == [name], restart
    assert restart.domain(name)['restart']['reason'].endswith(
        'the image compression and the JPEG compression and the zlib compression and the playback '
        'compression now in effect'), restart
    keys = spice_keys(domains.qemu_cmdline(name))
    assert [key for key in keys if key in COMPRESSION_KEYS] == COMPRESSION_KEYS, keys
    assert compression_elements(domains.live_xml(name)) == compression_elements(domains.inactive_xml(name))
    final = run_module(MODULE, args([name], **COMPRESSION))
    assert not final.changed and final.result['restart_required'] == [], final

    # null leaves each one as it is; the stream settings alone leave them too.
    untouched = run_module(MODULE, args([name], image_compression=None, **ENABLE))
    assert not untouched.failed and compression_elements(domains.inactive_xml(name))[0] == ('image', 'glz')


def test_running_domain_without_controller_waits_for_restart(domains):
    domains.define('noctl', domain_xml, start=True)
    name = domains.name('noctl')
    real = run_module(MODULE, args([name], agent_channel='present'))
    assert real.changed and not real.failed, real
    pending = real.domain(name)['restart_required']
    assert [item['change'] for item in pending] == ['agent_channel']
    assert 'no virtio-serial controller' in pending[0]['reason']
    assert stream_channels(domains.live_xml(name)) == []
    assert len(stream_channels(domains.inactive_xml(name))) == 1


def test_running_domain_channel_removed_live_or_reported(domains):
    domains.define('unplug', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_GRAPHICS)),
                   start=True)
    name = domains.name('unplug')
    real = run_module(MODULE, args([name], agent_channel='absent'))
    assert real.changed and not real.failed, real
    result = real.domain(name)
    live = domains.live_xml(name)
    if stream_channels(live):
        assert result['restart_required'] and result['live_actions'] == []
    else:
        assert result['live_actions'] == ['hot-unplugged the stream channel from the running domain']
        assert result['restart_required'] == []
    assert stream_channels(domains.inactive_xml(name)) == []
    again = run_module(MODULE, args([name], agent_channel='absent'))
    assert not again.changed, again


def test_live_false_changes_only_the_definition(domains):
    domains.define('nolive', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_GRAPHICS)),
                   start=True)
    name = domains.name('nolive')
    real = run_module(MODULE, args([name], agent_channel='absent', live=False))
    assert real.changed and real.domain(name)['live_actions'] == []
    assert len(stream_channels(domains.live_xml(name))) == 1


def test_transient_domain_is_left_alone(domains):
    domains.define('trans', domain_xml, transient=True)
    name = domains.name('trans')
    before = domains.snapshot()
    real = run_module(MODULE, args([domains.prefix + '-*'], **ENABLE))
    assert not real.changed and not real.failed, real
    assert 'transient' in real.result['skipped_domains'][name]
    assert domains.snapshot() == before
    assert not domains.conn.lookupByName(name).isPersistent()


def test_transient_domain_named_exactly_is_unfit_like_one_without_spice(domains):
    domains.define('named-trans', domain_xml, transient=True)
    domains.define('named-fit', domain_xml)
    trans, fit = domains.name('named-trans'), domains.name('named-fit')
    before = domains.snapshot()
    for check in (True, False):
        run = run_module(MODULE, args([fit, trans], require_match=True, **ENABLE), check=check)
        assert run.failed and not run.changed, run
        msg = run.result['msg']
        assert msg.startswith('nothing was changed: 1 domain cannot be brought to the asked state'), msg
        assert "domain '%s' on %s (%s) is transient" % (trans, domains.conn.getHostname(), URI) in msg, msg
        assert "'virsh define'" in msg and 'unfit_domains=skip' in msg, msg
        assert list(run.result['failed_domains']) == [trans]
        assert domains.snapshot() == before

    skip = run_module(MODULE, args([fit, trans], unfit_domains='skip', **ENABLE))
    assert not skip.failed and skip.result['changed_domains'] == [fit], skip
    assert skip.result['skipped_domains'][trans].startswith('unfit, left alone: is transient'), skip
    assert any(trans in warning and 'unfit_domains=skip' in warning for warning in skip.result['warnings'])
    assert not domains.conn.lookupByName(trans).isPersistent()


def test_overrides_that_change_nothing_are_warned_about(domains):
    for label in ('desk-01', 'kiosk'):
        domains.define(label, domain_xml)
    desk, kiosk = domains.name('desk-01'), domains.name('kiosk')
    run = run_module(MODULE, args([domains.prefix + '-*'], overrides=[
        {'name': [domains.prefix + '-desk-1'], 'streaming_mode': 'off'},
        {'name': [domains.prefix + '-*'], 'streaming_mode': 'all'},
        {'name': [kiosk], 'streaming_mode': 'off'}], **ENABLE), check=True)
    assert not run.failed, run
    # The ad-hoc runner's own warning (a template for task args) is not ours.
    warnings = [warning for warning in run.result['warnings'] if warning.startswith('override')]
    host = domains.conn.getHostname()
    assert "override #1 (name '%s-desk-1') matches none of the 2 selected domains on %s (%s), so it changes " \
           "nothing. Did you mean '%s'?" % (domains.prefix, host, URI, desk) in warnings[0], warnings
    assert warnings[1].startswith("override #3 (name '%s') changes nothing on %s (%s): every domain it matches "
                                  "('%s') is matched first by override #2 (name '%s-*')"
                                  % (kiosk, host, URI, kiosk, domains.prefix)), warnings
    assert len(warnings) == 2, warnings
    # What the overrides say, first match wins: both get mode all.
    assert all(any('streaming mode to all' in action for action in run.domain(name)['actions'])
               for name in (desk, kiosk)), run


# ------------------------------------------------------------------ backups


def test_backup_keeps_the_original_and_restores_it(domains, tmp_path):
    secret_graphics = SPICE_GRAPHICS.replace("autoport='no'", "autoport='no' passwd='pw-in-backup'")
    domains.define('bak', lambda n: domain_xml(n, devices=(secret_graphics,)))
    name = domains.name('bak')
    original = domains.inactive_xml(name)
    backup_dir = str(tmp_path / 'backups')

    check = run_module(MODULE, args([name], backup=True, backup_dir=backup_dir, **ENABLE), check=True)
    assert check.result['backup_files'] == {} and not os.path.exists(backup_dir)
    real = run_module(MODULE, args([name], backup=True, backup_dir=backup_dir, **ENABLE))
    path = real.result['backup_files'][name]
    assert real.domain(name)['backup_file'] == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(backup_dir).st_mode) == 0o700
    with open(path, encoding='utf-8') as handle:
        saved = handle.read()
    assert saved == original and 'pw-in-backup' in saved
    again = run_module(MODULE, args([name], backup=True, backup_dir=backup_dir, **ENABLE))
    assert again.result['backup_files'] == {} and len(os.listdir(backup_dir)) == 1

    # The documented restore: virsh define FILE.
    domains.conn.defineXML(saved)
    assert stream_channels(domains.inactive_xml(name)) == []
    assert streaming_modes(domains.inactive_xml(name)) == [None]


# ------------------------------------------------------------------ errors change nothing


def test_unknown_name_fails_and_changes_nothing(domains):
    domains.define('known', domain_xml)
    before = domains.snapshot()
    missing = domains.name('missing')
    run = run_module(MODULE, args([domains.name('known'), missing], **ENABLE))
    assert run.failed and not run.changed, run
    assert "'%s'" % missing in run.result['msg'] and 'nothing was changed' in run.result['msg']
    assert 'list --all' in run.result['msg']
    assert run.result['failed_domains'] == {missing: 'no such domain'}
    assert domains.snapshot() == before


def test_exact_name_without_spice_fails_and_changes_nothing(domains):
    domains.define('spice', domain_xml)
    domains.define('vnc', lambda n: domain_xml(n, devices=(VNC_GRAPHICS,)))
    before = domains.snapshot()
    vnc = domains.name('vnc')
    run = run_module(MODULE, args([domains.name('spice'), vnc], **ENABLE))
    assert run.failed and not run.changed, run
    assert vnc in run.result['msg'] and 'no SPICE graphics' in run.result['msg']
    assert URI in run.result['msg']
    assert list(run.result['failed_domains']) == [vnc]
    assert domains.snapshot() == before


def test_conflicting_port_of_the_stream_name_fails_and_changes_nothing(domains):
    unix_port = """<channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='org.spice-space.stream.0'/>
    </channel>"""
    domains.define('ok', domain_xml)
    domains.define('clash', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, unix_port, SPICE_GRAPHICS)))
    before = domains.snapshot()
    run = run_module(MODULE, args([domains.prefix + '-*'], agent_channel='present'))
    assert run.failed and not run.changed, run
    clash = domains.name('clash')
    assert clash in run.result['msg'] and "<channel type='unix'>" in run.result['msg']
    assert domains.snapshot() == before


def test_connection_refused_names_the_uri_and_what_to_check(domains):
    domains.define('any', domain_xml)
    before = domains.snapshot()
    uri = 'qemu+unix:///system?socket=/nonexistent/libvirt-sock'
    run = run_module(MODULE, {'uri': uri, 'name': ['*'], 'streaming_mode': 'filter'})
    assert run.failed and not run.changed, run
    assert uri in run.result['msg'] and 'libvirtd' in run.result['msg']
    assert domains.snapshot() == before


def test_interpreter_without_bindings_respawns_under_system_python(domains, tmp_path):
    """A venv without libvirt-python, as on a hypervisor where Ansible picked another Python."""
    import subprocess
    venv = tmp_path / 'bare'
    subprocess.run(['/usr/bin/python3', '-m', 'venv', '--without-pip', str(venv)], check=True)
    bare_python = str(venv / 'bin' / 'python')
    probe = subprocess.run([bare_python, '-c', 'import libvirt'], capture_output=True, check=False)
    assert probe.returncode != 0, 'the bare venv must not see libvirt-python'
    domains.define('respawn', domain_xml)
    name = domains.name('respawn')
    run = run_module(MODULE, args([name], **ENABLE), interpreter=bare_python)
    assert run.changed and not run.failed, run
    assert streaming_modes(domains.inactive_xml(name)) == ['filter']


def test_connection_denied_to_an_unprivileged_user_says_what_to_check(domains):
    """The module run as 'nobody', who may not manage qemu:///system."""
    domains.define('denied', domain_xml)
    before = domains.snapshot()
    result = run_module_as_nobody('libvirt_domain', args(['*'], **ENABLE))
    assert result.get('failed') and not result.get('changed'), result
    assert URI in result['msg'] and 'libvirt group' in result['msg'], result['msg']
    assert domains.snapshot() == before


def test_invalid_option_value_fails_before_connecting(domains):
    domains.define('badarg', domain_xml)
    before = domains.snapshot()
    run = run_module(MODULE, args([domains.name('badarg')], streaming_mode='fast'))
    assert run.failed and not run.changed, run
    assert 'streaming_mode' in run.result['msg'] and 'filter' in run.result['msg']
    assert domains.snapshot() == before
