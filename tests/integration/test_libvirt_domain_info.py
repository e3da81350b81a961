# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spice.streaming.libvirt_domain_info against the real libvirtd and real QEMU.

Running domains are started paused: QEMU is up, its live XML is real (the stream
channel shows ``state='disconnected'`` since no guest holds it), yet it burns no CPU.
"""

from __future__ import annotations

import libvirt
from lxml import etree

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

MODULE = 'spice.streaming.libvirt_domain_info'
PASSWORD = 's3cret-info-pw'
SPICE_FILTER = SPICE_GRAPHICS.replace("<listen type='none'/>",
                                      "<listen type='none'/>\n      <streaming mode='filter'/>")
SPICE_PASSWORD = SPICE_GRAPHICS.replace("autoport='no'", "autoport='no' passwd='%s'" % PASSWORD)
UNIX_STREAM_PORT = """<channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='org.spice-space.stream.0'/>
    </channel>"""
STREAMING = (VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_FILTER)


def change_definition(conn, name, streaming_mode, add_channel):
    """Edit a running domain's persistent definition, as an administrator (or libvirt_domain) would."""
    dom = conn.lookupByName(name)
    root = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE).encode())
    devices = root.find('devices')
    if add_channel:
        devices.append(etree.fromstring(STREAM_CHANNEL))
    graphics = devices.find("graphics[@type='spice']")
    etree.SubElement(graphics, 'streaming', mode=streaming_mode)
    conn.defineXML(etree.tostring(root, encoding='unicode'))


def version_parts(number):
    return number // 1000000, number // 1000 % 1000, number % 1000


def test_reads_every_kind_of_domain_and_changes_nothing(domains):
    conn = domains.conn
    domains.define('off', domain_xml)
    domains.define('run', lambda n: domain_xml(n, devices=STREAMING), start=True)
    domains.define('pend', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)), start=True)
    change_definition(conn, domains.name('pend'), 'all', add_channel=True)
    domains.define('trans', lambda n: domain_xml(n, devices=STREAMING), transient=True)
    domains.define('vnc', lambda n: domain_xml(n, devices=(VNC_GRAPHICS,)))
    domains.define('conf', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, UNIX_STREAM_PORT, SPICE_GRAPHICS)))
    domains.define('dup', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, STREAM_CHANNEL,
                                                           SPICE_GRAPHICS)))
    domains.define('pw', lambda n: domain_xml(n, devices=(SPICE_PASSWORD,)), start=True)
    before = domains.snapshot()

    check = run_module(MODULE, {'uri': URI, 'name': [domains.prefix + '-*']}, check=True)
    real = run_module(MODULE, {'uri': URI, 'name': [domains.prefix + '-*']})
    for run in (check, real):
        assert not run.failed and not run.changed, run
    assert domains.snapshot() == before
    result = real.result
    # Check mode is the same read.
    assert check.result['domains'] == result['domains'] and check.result['summary'] == result['summary']
    assert PASSWORD not in repr(result) and 'passwd' not in repr(result)
    assert set(result['domains']) == set(domains.names)
    info = {name[len(domains.prefix) + 1:]: value for name, value in result['domains'].items()}

    assert info['off'] == {
        'active': False, 'persistent': True, 'state': 'shut off', 'graphics': ['spice'],
        'streaming_mode': None, 'streaming_mode_live': None, 'agent_channel': False,
        'agent_channel_live': False, 'agent_channel_state': None, 'has_managed_save': False,
        'restart_required': [], 'problems': [], 'skipped': False, 'reason': None,
        'asked': None, 'compliance': None, 'compliance_reasons': [],
        'image_compression': None, 'image_compression_live': None, 'jpeg_compression': None,
        'jpeg_compression_live': None, 'zlib_compression': None, 'zlib_compression_live': None,
        'playback_compression': None, 'playback_compression_live': None}

    # Running with the channel and nothing in the guest: the case a report lists first.
    run = info['run']
    assert (run['state'], run['streaming_mode'], run['streaming_mode_live']) == ('paused', 'filter', 'filter')
    assert run['agent_channel'] and run['agent_channel_live']
    assert run['agent_channel_state'] == 'disconnected'
    assert run['restart_required'] == [] and run['problems'] == []

    # The definition changed after the start: both parts wait for a cold start.
    pend = info['pend']
    assert (pend['streaming_mode'], pend['streaming_mode_live']) == ('all', 'off')
    assert pend['agent_channel'] and not pend['agent_channel_live'] and pend['agent_channel_state'] is None
    assert [gap['change'] for gap in pend['restart_required']] == ['streaming_mode', 'agent_channel']
    assert all('cold start' in gap['reason'] for gap in pend['restart_required'])
    assert result['restart_required'] == [domains.name('pend')]

    trans = info['trans']
    assert not trans['persistent'] and trans['skipped'] and 'transient' in trans['reason']
    assert trans['streaming_mode'] is None and not trans['agent_channel']
    assert trans['streaming_mode_live'] == 'filter' and trans['agent_channel_state'] == 'disconnected'
    assert trans['restart_required'] == []

    vnc = info['vnc']
    assert vnc['graphics'] == ['vnc'] and vnc['skipped'] and 'no SPICE graphics' in vnc['reason']
    assert vnc['problems'] == []    # selected by a pattern: libvirt_domain skips it, no failure

    assert len(info['conf']['problems']) == 1
    assert "'unix'" in info['conf']['problems'][0] and STREAM in info['conf']['problems'][0]
    assert info['conf']['agent_channel'] is False
    assert info['dup']['problems'][0].startswith('2 stream channels') and info['dup']['agent_channel']

    assert info['pw']['state'] == 'paused' and info['pw']['agent_channel_state'] is None

    assert result['skipped_domains'] == {domains.name('trans'): trans['reason'],
                                         domains.name('vnc'): vnc['reason']}
    assert result['summary'] == {
        'domains': 8, 'running': 0, 'paused': 4, 'shut_off': 4, 'transient': 1, 'spice': 7,
        'streaming_modes': {'off': 0, 'all': 1, 'filter': 1, 'unset': 4},
        'agent_channel': 3, 'agent_connected': 0, 'agent_disconnected': 2,
        'restart_required': 1, 'problems': 2, 'skipped': 2,
        'compliance': {'compliant': 0, 'waiting': 0, 'not_compliant': 0, 'left_alone': 0},
        # No definition here says anything about compression.
        'image_compression': {'auto_glz': 0, 'auto_lz': 0, 'quic': 0, 'glz': 0, 'lz': 0, 'off': 0, 'unset': 6},
        'jpeg_compression': {'auto': 0, 'never': 0, 'always': 0, 'unset': 6},
        'zlib_compression': {'auto': 0, 'never': 0, 'always': 0, 'unset': 6},
        'playback_compression': {'on': 0, 'off': 0, 'unset': 6}}
    assert result['uri'] == URI and result['hypervisor']
    # The versions of the real daemon and QEMU, as virsh version prints them.
    assert result['libvirt_version'] == '%d.%d.%d' % version_parts(conn.getLibVersion())
    assert result['qemu_version'] == '%d.%d.%d' % version_parts(conn.getVersion())
    assert result['asked'] is None


def test_compression_is_read_as_defined_and_as_running(domains):
    """A compression changed in the definition of a running domain waits, like the mode."""
    compressed = SPICE_GRAPHICS.replace("<listen type='none'/>", "<listen type='none'/>\n      "
                                        "<image compression='quic'/>\n      <playback compression='off'/>")
    domains.define('cmp', lambda n: domain_xml(n, devices=(compressed,)), start=True)
    name = domains.name('cmp')
    dom = domains.conn.lookupByName(name)
    root = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
    root.find("devices/graphics/image").set('compression', 'glz')
    domains.conn.defineXML(etree.tostring(root, encoding='unicode'))

    run = run_module(MODULE, {'uri': URI, 'name': [name]})
    assert not run.failed and not run.changed, run
    info = run.domain(name)
    assert (info['image_compression'], info['image_compression_live']) == ('glz', 'quic')
    assert (info['playback_compression'], info['playback_compression_live']) == ('off', 'off')
    # Not written: QEMU runs its default, which the live field says.
    assert (info['jpeg_compression'], info['jpeg_compression_live']) == (None, 'auto')
    assert (info['zlib_compression'], info['zlib_compression_live']) == (None, 'auto')
    assert info['restart_required'] == [{
        'change': 'image_compression',
        'reason': 'the definition says image compression glz, the running domain runs with image '
                  'compression quic; libvirt applies the image compression at the next cold start '
                  '(shut down, then start: a guest reboot is not enough)'}]
    assert run.result['summary']['image_compression']['glz'] == 1
    assert run.result['restart_required'] == [name]


def test_exact_names_unknown_are_listed_and_no_spice_is_a_problem(domains):
    domains.define('vnc', lambda n: domain_xml(n, devices=(VNC_GRAPHICS,)))
    domains.define('spice', domain_xml)
    vnc = domains.name('vnc')
    missing = domains.name('missing')

    # A name that no longer exists does not hide the others: they are read, it is listed.
    run = run_module(MODULE, {'uri': URI, 'name': [vnc, domains.name('spice'), missing]})
    assert not run.failed and not run.changed, run
    assert sorted(run.result['domains']) == sorted([vnc, domains.name('spice')])
    assert run.result['missing_domains'] == [missing]
    assert "no domain named '%s'" % missing in run.stderr and URI in run.stderr and 'virsh' in run.stderr
    assert 'failed_domains' not in run.result

    # Named exactly, a domain without SPICE is what libvirt_domain fails on: a problem, not a skip.
    named = run_module(MODULE, {'uri': URI, 'name': [vnc]})
    assert not named.failed, named
    assert not named.domain(vnc)['skipped']
    assert 'no SPICE graphics' in named.domain(vnc)['problems'][0]


def test_name_defaults_to_every_domain(domains):
    domains.define('one', domain_xml)
    run = run_module(MODULE, {'uri': URI, 'exclude': ['sst-bench*']})
    assert not run.failed and not run.changed, run
    assert domains.name('one') in run.result['domains']
    assert run.result['summary']['domains'] == len(run.result['domains'])


def test_a_transient_domain_named_exactly_is_a_problem_and_by_pattern_a_skip(domains):
    domains.define('trans', domain_xml, transient=True)
    name = domains.name('trans')
    named = run_module(MODULE, {'uri': URI, 'name': [name]})
    assert not named.failed, named
    assert not named.domain(name)['skipped'] and named.domain(name)['reason'] is None
    assert 'named exactly: libvirt_domain refuses it' in named.domain(name)['problems'][0]
    by_pattern = run_module(MODULE, {'uri': URI, 'name': [domains.prefix + '-*']})
    assert by_pattern.domain(name)['skipped'] and by_pattern.domain(name)['problems'] == []
    assert 'transient' in by_pattern.result['skipped_domains'][name]


def test_a_connection_error_in_a_normal_run_does_not_blame_check_mode():
    uri = 'qemu+unix:///system?socket=/nonexistent/libvirt-sock'
    run = run_module(MODULE, {'uri': uri})
    assert run.failed, run
    msg = run.result['msg']
    assert '%s on ' % uri in msg and ' (read-only, this module only reads): ' in msg, msg
    assert 'check mode' not in msg and "'virsh -r -c %s version'" % uri in msg, msg


def test_compare_with_judges_each_domain_as_libvirt_domain_would(domains):
    """What a rollout would ask (filter + present, a kiosk override to off), against real domains:
    the module's answer and a check-mode libvirt_domain run with the same request agree."""
    domains.define('done', lambda n: domain_xml(n, devices=STREAMING))
    domains.define('todo', domain_xml)
    domains.define('pend', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)), start=True)
    change_definition(domains.conn, domains.name('pend'), 'filter', add_channel=True)
    domains.define('kiosk', lambda n: domain_xml(n, devices=STREAMING))
    domains.define('vnc', lambda n: domain_xml(n, devices=(VNC_GRAPHICS,)))
    before = domains.snapshot()
    asked = {'streaming_mode': 'filter', 'agent_channel': 'present',
             'overrides': [{'name': [domains.name('kiosk')], 'mode': 'off', 'agent_channel': None}]}
    args = {'uri': URI, 'name': [domains.prefix + '-*'], 'compare_with': asked}
    run = run_module(MODULE, args)
    assert not run.failed and not run.changed, run
    assert domains.snapshot() == before
    judged = {name[len(domains.prefix) + 1:]: (info['compliance'], info['asked'])
              for name, info in run.result['domains'].items()}
    # What is asked names every setting of the registry; None: left as it is.
    unasked = dict.fromkeys(['image_compression', 'jpeg_compression', 'zlib_compression', 'playback_compression'])
    enable = dict(unasked, streaming_mode='filter', agent_channel='present')
    assert judged == {
        'done': ('compliant', enable), 'todo': ('not_compliant', enable), 'pend': ('waiting', enable),
        'kiosk': ('not_compliant', dict(unasked, streaming_mode='off', agent_channel='present')),
        'vnc': ('left_alone', enable)}
    assert run.result['summary']['compliance'] == {'compliant': 1, 'waiting': 1, 'not_compliant': 2, 'left_alone': 1}
    pend = run.domain(domains.name('pend'))['compliance_reasons']
    assert any('streams with mode off' in reason for reason in pend), pend
    todo = run.domain(domains.name('todo'))['compliance_reasons']
    assert len(todo) == 1 and "added <channel type='spiceport'>" in todo[0], todo
    # A null in compare_with means "leave it", as in libvirt_domain (the action plugin drops it).
    assert run.result['asked'] == dict(enable, overrides=[
        dict(unasked, name=[domains.name('kiosk')], streaming_mode='off', agent_channel='present')])

    # libvirt_domain in check mode, asked the same, changes exactly the domains not compliant.
    plan = run_module('spice.streaming.libvirt_domain', {
        'uri': URI, 'name': [domains.prefix + '-*'], 'streaming_mode': 'filter', 'agent_channel': 'present',
        'overrides': asked['overrides']}, check=True)
    assert not plan.failed, plan
    assert sorted(plan.result['changed_domains']) == sorted(domains.name(n) for n in ('todo', 'kiosk'))
    assert plan.result['restart_required'] == [domains.name('pend')]


def test_compare_with_null_leaves_a_part_as_it_is(domains):
    domains.define('todo', domain_xml)
    run = run_module(MODULE, {'uri': URI, 'name': [domains.name('todo')],
                              'compare_with': {'streaming_mode': None, 'agent_channel': None}})
    assert not run.failed, run
    info = run.domain(domains.name('todo'))
    assert (info['compliance'], info['asked']) == (
        'compliant', dict.fromkeys(['streaming_mode', 'image_compression', 'jpeg_compression', 'zlib_compression',
                                    'playback_compression', 'agent_channel']))
