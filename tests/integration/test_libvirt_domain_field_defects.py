# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The defects found by trying the collection as a new administrator, on the real libvirtd.

Each test failed on the code before its fix, and each wrong result also proves that
nothing else changed (a snapshot of every domain of the test before and after).
"""

from __future__ import annotations

import os
import shutil

import libvirt

from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM,
    STREAM_CHANNEL,
    URI,
    VIRTIO_SERIAL,
    VNC_GRAPHICS,
    domain_xml,
    run_module,
)
from tests.support.unprivileged import run_module_as_nobody, world_readable_dir

MODULE = 'spice.streaming.libvirt_domain'
ENABLE = {'streaming_mode': 'filter', 'agent_channel': 'present'}
QEMU_NS = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"


def args(domains, **extra):
    merged = {'uri': URI, 'name': domains}
    merged.update(extra)
    return merged


def with_qemu_args(*values):
    """A SPICE domain whose <qemu:commandline> passes ``values`` to QEMU."""
    commandline = '<qemu:commandline>%s</qemu:commandline>\n</domain>' % ''.join(
        "<qemu:arg value='%s'/>" % value for value in values)
    return lambda name: domain_xml(name, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS), ns=QEMU_NS).replace(
        '</domain>', commandline)


def stream_channel_count(xml):
    return xml.count("<channel type='spiceport'>")


# ------------------------------------------------------------------ 1. ports in <qemu:commandline>


def test_a_stream_port_in_qemu_commandline_fails_the_task_and_the_domain_still_starts(domains):
    chardev = 'spiceport,id=hidden0,name=%s' % STREAM
    # QEMU 7.2 creates libvirt's JSON -device entries after key=value ones, so a key=value
    # port brings its own key=value bus, as such command lines do in the field.
    domains.define('kv', with_qemu_args(
        '-chardev', chardev, '-device', 'virtio-serial-pci,id=hiddenbus,bus=pcie.0,addr=0x11', '-device',
        'virtserialport,bus=hiddenbus.0,nr=5,chardev=hidden0,id=hiddenport0,name=%s' % STREAM))
    domains.define('json', with_qemu_args(
        '-chardev', chardev, '-device',
        '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":5,"chardev":"hidden0",'
        '"id":"hiddenport0","name":"%s"}' % STREAM))
    domains.define('chardev', with_qemu_args('-chardev', chardev))
    before = domains.snapshot()

    run = run_module(MODULE, args([domains.prefix + '-*'], agent_channel='present'))
    assert run.failed and not run.changed, run
    assert set(run.result['failed_domains']) == set(domains.names)
    assert run.result['msg'].count('<qemu:commandline> -chardev spiceport') == 3, run.result['msg']
    assert run.result['msg'].count('<qemu:commandline> -device virtserialport') == 2, run.result['msg']
    assert domains.snapshot() == before
    # What the users had still starts: we added no second port of that name.
    for name in domains.names:
        dom = domains.conn.lookupByName(name)
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        assert stream_channel_count(domains.live_xml(name)) == 0
    assert any(STREAM in arg for arg in domains.qemu_cmdline(domains.name('kv')))


def test_a_second_port_added_despite_the_commandline_would_not_start(domains):
    """Why it matters: the state the old code produced, made by hand, does not start."""
    domains.define('clash', with_qemu_args(
        '-chardev', 'spiceport,id=hidden0,name=%s' % STREAM, '-device',
        '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":5,"chardev":"hidden0",'
        '"id":"hiddenport0","name":"%s"}' % STREAM))
    name = domains.name('clash')
    xml = domains.inactive_xml(name).replace('</devices>', STREAM_CHANNEL + '</devices>')
    dom = domains.conn.defineXML(xml)
    try:
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
    except libvirt.libvirtError as err:
        assert 'already exists' in str(err), err
    else:
        raise AssertionError('QEMU started a domain with two ports named %s' % STREAM)


# ------------------------------------------------------------------ 2. names that look like patterns


def test_exact_names_with_pattern_characters_select_and_exclude_exactly(domains):
    domains.define('desk[1]', domain_xml)
    domains.define('desk1', domain_xml)
    literal, plain = domains.name('desk[1]'), domains.name('desk1')
    before = domains.snapshot()

    run = run_module(MODULE, args([literal], streaming_mode='all'))
    assert not run.failed and run.result['changed_domains'] == [literal], run
    assert "<streaming mode='all'/>" in domains.inactive_xml(literal)
    assert domains.snapshot()[plain] == before[plain]

    run = run_module(MODULE, args([domains.prefix + '-*'], exclude=[literal], streaming_mode='off'))
    assert run.result['changed_domains'] == [plain], run
    assert "<streaming mode='all'/>" in domains.inactive_xml(literal)


# ------------------------------------------------------------------ 3. live: false keeps restart_required


def test_live_false_still_reports_what_waits_for_a_cold_start(domains):
    domains.define('run', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)), start=True)
    name = domains.name('run')
    live_before = domains.live_xml(name)
    for check in (True, False):
        run = run_module(MODULE, args([name], live=False, **ENABLE), check=check)
        assert not run.failed, run
        assert run.result['restart_required'] == [name], run
        waiting = {entry['change']: entry['reason'] for entry in run.domain(name)['restart_required']}
        assert set(waiting) == {'streaming_mode', 'agent_channel'}, waiting
        assert 'live is false' in waiting['agent_channel']
        assert run.domain(name)['live_actions'] == []
    assert domains.live_xml(name) == live_before
    # A later run with nothing left to define still says the running domain waits.
    again = run_module(MODULE, args([name], live=False, **ENABLE))
    assert not again.changed and again.result['restart_required'] == [name], again


# ------------------------------------------------------------------ 4. null means leave it


def test_explicit_null_options_leave_those_parts_alone(domains):
    domains.define('null', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_GRAPHICS)))
    name = domains.name('null')
    run = run_module(MODULE, args([name], streaming_mode=None, agent_channel='present'))
    assert not run.failed and not run.changed, run
    run = run_module(MODULE, args([name], streaming_mode='all', agent_channel=None))
    assert not run.failed and run.changed, run
    after = domains.inactive_xml(name)
    assert "<streaming mode='all'/>" in after and stream_channel_count(after) == 1


# ------------------------------------------------------------------ 5. a pattern never fails on a VNC domain


def test_a_pattern_selected_vnc_domain_with_a_unix_stream_port_is_skipped(domains):
    unix_port = """<channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='org.spice-space.stream.0'/>
    </channel>"""
    domains.define('vnc', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, unix_port, VNC_GRAPHICS)))
    domains.define('desk', domain_xml)
    vnc = domains.name('vnc')
    before = domains.snapshot()
    run = run_module(MODULE, args([domains.prefix + '-*'], **ENABLE))
    assert not run.failed, run
    assert 'no SPICE graphics' in run.result['skipped_domains'][vnc]
    assert run.result['changed_domains'] == [domains.name('desk')]
    assert domains.snapshot()[vnc] == before[vnc]


# ------------------------------------------------------------------ 8. empty selections are told


def test_a_selection_that_matches_nothing_warns_or_fails_when_asked(domains):
    domains.define('vd1-a', domain_xml)
    before = domains.snapshot()
    mistyped = domains.prefix + '-vdi-*'
    run = run_module(MODULE, args([mistyped], **ENABLE))
    assert not run.failed and run.result['domains'] == {}, run
    assert any(mistyped in warning and 'no domain was selected' in warning
               for warning in run.result.get('warnings', [])), run
    for empty in (args([], **ENABLE), args([domains.prefix + '-*'], exclude=['*'], **ENABLE)):
        run = run_module(MODULE, empty)
        assert not run.failed and run.result.get('warnings'), run
    run = run_module(MODULE, args([mistyped], require_match=True, **ENABLE))
    assert run.failed and 'require_match' in run.result['msg'] and mistyped in run.result['msg'], run
    assert domains.snapshot() == before


# ------------------------------------------------------------------ 9 and 10. every problem at once, or skip


def test_every_problem_is_named_in_one_message(domains):
    domains.define('spice', domain_xml)
    domains.define('vnc', lambda n: domain_xml(n, devices=(VNC_GRAPHICS,)))
    before = domains.snapshot()
    missing, vnc = domains.name('missing'), domains.name('vnc')
    run = run_module(MODULE, args([domains.name('spice'), vnc, missing], **ENABLE))
    assert run.failed and not run.changed, run
    assert set(run.result['failed_domains']) == {missing, vnc}
    assert "no domain named '%s'" % missing in run.result['msg'] and 'no SPICE graphics' in run.result['msg']
    assert domains.snapshot() == before


def test_unfit_domains_skip_converges_the_rest(domains):
    domains.define('fit', domain_xml)
    domains.define('vnc', lambda n: domain_xml(n, devices=(VNC_GRAPHICS,)))
    fit, vnc, missing = domains.name('fit'), domains.name('vnc'), domains.name('missing')
    before = domains.snapshot()
    check = run_module(MODULE, args([fit, vnc, missing], unfit_domains='skip', **ENABLE), check=True)
    assert check.changed and check.result['changed_domains'] == [fit], check
    assert domains.snapshot() == before
    run = run_module(MODULE, args([fit, vnc, missing], unfit_domains='skip', **ENABLE))
    assert not run.failed and run.result['changed_domains'] == [fit], run
    assert set(run.result['skipped_domains']) == {vnc, missing}
    assert len([w for w in run.result['warnings'] if 'unfit_domains=skip' in w]) == 2, run
    assert domains.snapshot()[vnc] == before[vnc]
    assert stream_channel_count(domains.inactive_xml(fit)) == 1


# ------------------------------------------------------------------ 11. backup_dir checked first


def test_a_backup_dir_that_is_a_file_fails_before_anything_changes(domains, tmp_path):
    domains.define('a', domain_xml)
    domains.define('b', domain_xml)
    (tmp_path / 'backups').write_text('a file, not a directory')
    before = domains.snapshot()
    run = run_module(MODULE, args([domains.prefix + '-*'], backup=True,
                                  backup_dir=str(tmp_path / 'backups'), **ENABLE))
    assert run.failed and not run.changed, run
    assert 'backup_dir' in run.result['msg'] and 'not a directory' in run.result['msg'], run
    assert domains.snapshot() == before


def test_a_backup_dir_the_task_user_cannot_write_names_the_option(tmp_path):
    """As 'nobody' (root may write anywhere), on a libvirt test driver node of its own."""
    work = world_readable_dir()
    try:
        node = os.path.join(work, 'node.xml')
        with open(node, 'w', encoding='utf-8') as handle:
            handle.write("<node><domain type='test'><name>desk</name><memory>65536</memory>"
                         "<os><type>hvm</type></os><devices><graphics type='spice'/></devices>"
                         "</domain></node>")
        os.chmod(node, 0o644)
        root_only = os.path.join(work, 'root-only')
        os.mkdir(root_only, 0o755)
        result = run_module_as_nobody('libvirt_domain', {
            'uri': 'test://' + node, 'name': ['desk'], 'backup': True,
            'backup_dir': os.path.join(root_only, 'backups'), 'streaming_mode': 'filter'}, work=work)
    finally:
        shutil.rmtree(work)
    assert result.get('failed') and not result.get('changed'), result
    assert 'backup_dir' in result['msg'] and 'become' in result['msg'], result['msg']


# ------------------------------------------------------------------ 12. check mode's hint


def test_check_mode_connection_error_names_the_read_only_command():
    uri = 'qemu+unix:///system?socket=/nonexistent/libvirt-sock'
    run = run_module(MODULE, {'uri': uri, 'name': ['*'], 'streaming_mode': 'filter'}, check=True)
    assert run.failed and "virsh -r -c %s version" % uri in run.result['msg'], run
