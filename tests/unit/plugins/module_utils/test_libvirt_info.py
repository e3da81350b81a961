# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt_info on libvirt's in-process test:///default driver (no daemon), with real fixtures.

The real daemon is exercised by tests/integration/test_libvirt_domain_info.py; here the
connection that drops in the middle of a pass is set up exactly, by a stand-in whose reads
fail the way libvirt's do once the daemon is gone.
"""

from __future__ import annotations

import os
import re
import uuid

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_info
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_streaming as ls
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import StreamingError

URI = 'test:///default'
FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'domains')
PREFIX = 'sst-unit-info-%d-' % os.getpid()


def fixture_xml(fixture, name):
    with open(os.path.join(FIXTURES, fixture), encoding='utf-8') as handle:
        text = handle.read()
    text = re.sub(r'<name>[^<]*</name>', '<name>%s</name>' % name, text, count=1)
    return re.sub(r'<uuid>[^<]*</uuid>', '<uuid>%s</uuid>' % uuid.uuid4(), text, count=1)


def load(fixture):
    with open(os.path.join(FIXTURES, fixture), encoding='utf-8') as handle:
        return dx.parse_domain(handle.read())


@pytest.fixture
def conn():
    connection = lc.connect(URI)
    yield connection
    for dom in connection.listAllDomains(0):
        if dom.name().startswith(PREFIX):
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()
    connection.close()


def blank(active=False, persistent=True):
    selected = lc.SelectedDomain('x', None, False, active, persistent)
    return libvirt_info._blank(selected, 'running' if active else 'shut off')


# ------------------------------------------------------------------ describe (pure)


def test_describe_a_shut_off_definition():
    info = libvirt_info.describe(blank(), load('q35-spice-streaming-filter.xml'), None, exact=False)
    assert (info['streaming_mode'], info['agent_channel']) == ('filter', True)
    assert (info['streaming_mode_live'], info['agent_channel_live'], info['agent_channel_state']) == (None, False, None)
    assert info['restart_required'] == [] and info['problems'] == [] and not info['skipped']


def test_describe_running_with_a_definition_changed_since_start():
    live = load('q35-stream-channel-no-mode.xml')
    dx.stream_channels(live)[0].find('target').set('state', 'disconnected')
    info = libvirt_info.describe(blank(active=True), load('q35-spice-streaming-filter.xml'), live, exact=False)
    assert (info['streaming_mode'], info['streaming_mode_live']) == ('filter', 'off')
    assert info['agent_channel_state'] == 'disconnected' and libvirt_info.disconnected(info)
    assert [gap['change'] for gap in info['restart_required']] == ['streaming_mode']


def test_describe_a_shut_off_domain_whose_saved_state_lacks_its_definition():
    info = blank()
    info['has_managed_save'] = True
    libvirt_info.describe(info, load('q35-spice-streaming-filter.xml'), None, exact=False,
                          saved_root=load('q35-spice-virtmanager.xml'))
    assert [gap['change'] for gap in info['restart_required']] == ['streaming_mode', 'agent_channel']
    assert all('managedsave-remove' in gap['reason'] for gap in info['restart_required'])
    assert info['streaming_mode_live'] is None and not info['agent_channel_live']


def test_describe_skips_like_libvirt_domain():
    vnc = load('q35-vnc-only.xml')
    by_pattern = libvirt_info.describe(blank(), vnc, None, exact=False)
    assert by_pattern['skipped'] and by_pattern['reason'] == libvirt_info.SKIP_NO_SPICE
    assert by_pattern['problems'] == []
    named = libvirt_info.describe(blank(), vnc, None, exact=True)
    assert not named['skipped'] and 'no SPICE graphics' in named['problems'][0]
    transient = libvirt_info.describe(blank(active=True, persistent=False), None,
                                      load('q35-spice-streaming-filter.xml'), exact=False)
    assert transient['skipped'] and transient['reason'] == libvirt_info.SKIP_TRANSIENT
    assert transient['streaming_mode'] is None and transient['streaming_mode_live'] == 'filter'
    assert transient['agent_channel'] is False and transient['agent_channel_live'] is True


def test_describe_a_transient_domain_named_exactly_as_a_problem_like_libvirt_domain():
    named = libvirt_info.describe(blank(active=True, persistent=False), None,
                                  load('q35-spice-streaming-filter.xml'), exact=True)
    assert not named['skipped'] and named['reason'] is None
    assert named['problems'] == [libvirt_info.TRANSIENT_NAMED_EXACTLY]
    assert 'libvirt_domain refuses it' in named['problems'][0]


# ------------------------------------------------------------------ gather on test:///


def test_gather_on_the_test_driver(conn):
    conn.defineXML(fixture_xml('q35-spice-streaming-filter.xml', PREFIX + 'filter'))
    conn.defineXML(fixture_xml('q35-vnc-only.xml', PREFIX + 'vnc'))
    conn.defineXML(fixture_xml('q35-duplicate-stream-channel.xml', PREFIX + 'dup'))
    conn.defineXML(fixture_xml('q35-spice-virtmanager.xml', PREFIX + 'run')).create()
    result = libvirt_info.gather(conn, URI, [PREFIX + '*'], [])
    assert sorted(result['domains']) == sorted(PREFIX + n for n in ('filter', 'vnc', 'dup', 'run'))
    assert result['domains'][PREFIX + 'run']['state'] == 'running'
    assert result['skipped_domains'] == {PREFIX + 'vnc': libvirt_info.SKIP_NO_SPICE}
    summary = result['summary']
    assert (summary['domains'], summary['running'], summary['shut_off'], summary['spice']) == (4, 1, 3, 3)
    assert (summary['agent_channel'], summary['problems'], summary['skipped']) == (2, 1, 1)
    assert summary['streaming_modes'] == {'off': 0, 'all': 0, 'filter': 1, 'unset': 2}


def test_unknown_exact_name_is_listed_and_the_others_are_read(conn):
    conn.defineXML(fixture_xml('q35-spice-streaming-filter.xml', PREFIX + 'a'))
    conn.defineXML(fixture_xml('q35-spice-virtmanager.xml', PREFIX + 'b'))
    result = libvirt_info.gather(conn, URI, [PREFIX + 'a', PREFIX + 'b', PREFIX + 'retired'], [])
    assert sorted(result['domains']) == [PREFIX + 'a', PREFIX + 'b']
    assert result['missing_domains'] == [PREFIX + 'retired']
    assert result['summary']['domains'] == 2
    (warning,) = result['warnings']
    assert "no domain named '%sretired'" % PREFIX in warning and URI in warning
    assert "virsh -c %s list --all" % URI in warning
    assert libvirt_info.gather(conn, URI, [PREFIX + 'a'], [])['missing_domains'] == []


class _DroppingConnection:
    """Stands in for a connection whose daemon dies after ``reads`` XML reads.

    Listing goes to the real test:/// connection; every read after the limit fails
    with the error libvirt-python raises once the socket is gone, and the
    connection then reports itself dead, as a real one does.
    """

    def __init__(self, real, reads):
        self.real = real
        self.reads_left = reads
        self.alive = True

    def __getattr__(self, name):
        return getattr(self.real, name)

    def isAlive(self):  # noqa: N802 (libvirt's name)
        return self.alive

    def listAllDomains(self, flags=0):  # noqa: N802
        return [_DroppingDomain(dom, self) for dom in self.real.listAllDomains(flags)]


class _DroppingDomain:
    def __init__(self, dom, owner):
        self.dom = dom
        self.owner = owner

    def name(self):
        return self.dom.name()

    def XMLDesc(self, flags=0):  # noqa: N802
        if self.owner.reads_left <= 0:
            self.owner.alive = False
            raise libvirt.libvirtError('internal error: client socket is closed')
        self.owner.reads_left -= 1
        return self.dom.XMLDesc(flags)


def test_connection_lost_mid_pass_says_it_once(conn):
    for index in range(5):
        conn.defineXML(fixture_xml('pc-spice.xml', '%s%02d' % (PREFIX, index)))
    with pytest.raises(StreamingError) as caught:
        libvirt_info.gather(_DroppingConnection(conn, reads=3), URI, [PREFIX + '*'], [])
    message = caught.value.msg
    assert message.startswith('lost the connection to libvirt at %s on ' % URI)
    assert 'after reading 3 of 5 selected domains' in message and 'client socket is closed' in message
    assert 'Run the task again' in message and message.count('client socket is closed') == 1
    assert caught.value.details['domains_read'] == 3


def test_a_domain_that_vanishes_is_skipped_not_fatal(conn):
    conn.defineXML(fixture_xml('pc-spice.xml', PREFIX + 'stay'))
    gone = conn.defineXML(fixture_xml('pc-spice.xml', PREFIX + 'gone'))
    selected, _unknown = lc.select_domains(conn, [PREFIX + '*'], [])
    gone.undefine()

    class Listed:
        """The listing taken before the domain was undefined."""

        def __getattr__(self, name):
            return getattr(conn, name)

        @staticmethod
        def listAllDomains(flags=0):  # noqa: N802
            names = {item.name for item in selected}
            return [item.dom for item in selected] if flags == 0 else \
                [dom for dom in conn.listAllDomains(flags) if dom.name() in names]

    result = libvirt_info.gather(Listed(), URI, [PREFIX + '*'], [])
    assert result['domains'][PREFIX + 'gone']['reason'] == libvirt_info.SKIP_VANISHED
    assert not result['domains'][PREFIX + 'stay']['skipped']


def test_a_domain_that_vanishes_before_another_connection_looks_it_up_is_skipped(conn):
    """With parallel > 1 a pool connection looks each domain up again (by UUID): a domain
    undefined after the listing is then gone there too; that is a skip, not a lost connection
    (seen while other clients removed domains during a read of every domain)."""
    from ansible_collections.spice.streaming.plugins.module_utils.libvirt_pool import Outcome, Worker

    conn.defineXML(fixture_xml('pc-spice.xml', PREFIX + 'p-stay'))
    gone = conn.defineXML(fixture_xml('pc-spice.xml', PREFIX + 'p-gone'))
    other = lc.connect(URI)

    class OtherConnection:
        """Every domain read on a second connection, after 'gone' was undefined."""

        @staticmethod
        def map(func, items):
            gone.undefine()
            worker = Worker(other)
            return [Outcome(func(worker, item)) for item in items]

    try:
        result = libvirt_info.gather(conn, URI, [PREFIX + 'p-*'], [], pool=OtherConnection())
    finally:
        other.close()
    assert result['domains'][PREFIX + 'p-gone']['reason'] == libvirt_info.SKIP_VANISHED
    assert not result['domains'][PREFIX + 'p-stay']['skipped']


# ------------------------------------------------------------------ compliance, as libvirt_domain plans

REQUESTS = [dx.StreamingRequest('filter', 'present'), dx.StreamingRequest('off', 'absent'),
            dx.StreamingRequest(None, 'present'), dx.StreamingRequest('all', None)]
FIXTURE_NAMES = sorted(name for name in os.listdir(FIXTURES) if name.endswith('.xml'))


@pytest.mark.parametrize('request_index', range(len(REQUESTS)))
def test_compliance_agrees_with_what_libvirt_domain_would_do(conn, request_index):
    """Every fixture, shut off and running: not compliant exactly where a check-mode run changes or
    refuses the domain, waiting exactly where it says something waits for a cold start or would
    hot-plug, left alone where it skips."""
    asked = REQUESTS[request_index]
    names = {}
    for index, fixture in enumerate(FIXTURE_NAMES):
        for running in (False, True):
            name = '%s%02d-%s' % (PREFIX, index, 'run' if running else 'off')
            dom = conn.defineXML(fixture_xml(fixture, name))
            if running:
                dom.create()
            names[name] = fixture
    result = libvirt_info.gather(conn, URI, [PREFIX + '*'], [], request=asked)
    run = ls.StreamingRun(conn, URI, asked, check_mode=True, skip_unfit=True)
    selected, _unknown = lc.select_domains(conn, [PREFIX + '*'], [])
    run.plan(selected)
    hotplugs = {plug[0].name for plug in run._hotplugs}  # pylint: disable=protected-access
    assert set(result['domains']) == set(run.results) == set(names)
    for name, info in result['domains'].items():
        planned = run.results[name]
        if planned['skipped']:
            expected = 'not_compliant' if planned['reason'].startswith('unfit') else 'left_alone'
        elif planned['changed']:
            expected = 'not_compliant'
        elif planned['restart_required'] or name in hotplugs:
            expected = 'waiting'
        else:
            expected = 'compliant'
        assert info['compliance'] == expected, (names[name], name, info, planned)
        # What is asked names every setting of the registry (None: left as it is).
        assert info['asked'] == asked.values
        assert bool(info['compliance_reasons']) == (expected in ('not_compliant', 'waiting')), (name, info)
    counts = result['summary']['compliance']
    assert sum(counts.values()) == len(names)
    assert result['asked'] == dict(asked.values, overrides=[])


def test_an_override_changes_what_is_asked_of_its_domains(conn):
    conn.defineXML(fixture_xml('q35-spice-streaming-filter.xml', PREFIX + 'desk'))
    conn.defineXML(fixture_xml('q35-spice-streaming-filter.xml', PREFIX + 'kiosk'))
    enable = dx.StreamingRequest('filter', 'present')
    overrides = ls.override_requests([{'name': [PREFIX + 'kiosk'], 'streaming_mode': 'off',
                                       'agent_channel': None}], enable)
    result = libvirt_info.gather(conn, URI, [PREFIX + '*'], [], request=enable, overrides=overrides)
    desk, kiosk = result['domains'][PREFIX + 'desk'], result['domains'][PREFIX + 'kiosk']
    nothing_else = dict.fromkeys(['image_compression', 'jpeg_compression', 'zlib_compression',
                                  'playback_compression'])
    assert (desk['asked'], desk['compliance']) == (
        dict(nothing_else, streaming_mode='filter', agent_channel='present'), 'compliant')
    assert (kiosk['asked'], kiosk['compliance']) == (
        dict(nothing_else, streaming_mode='off', agent_channel='present'), 'not_compliant')
    assert 'set SPICE streaming mode to off (was filter)' in kiosk['compliance_reasons'][0]
    assert result['asked']['overrides'] == [dict(nothing_else, name=[PREFIX + 'kiosk'], streaming_mode='off',
                                                 agent_channel='present')]
    assert result['summary']['compliance'] == {'compliant': 1, 'waiting': 0, 'not_compliant': 1, 'left_alone': 0}


def test_without_a_request_nothing_is_judged_and_the_versions_are_there(conn):
    conn.defineXML(fixture_xml('q35-spice-streaming-filter.xml', PREFIX + 'a'))
    result = libvirt_info.gather(conn, URI, [PREFIX + '*'], [])
    info = result['domains'][PREFIX + 'a']
    assert (info['asked'], info['compliance'], info['compliance_reasons']) == (None, None, [])
    assert result['asked'] is None
    assert set(result['summary']['compliance'].values()) == {0}
    major, minor, micro = (int(part) for part in result['libvirt_version'].split('.'))
    assert major * 1000000 + minor * 1000 + micro == conn.getLibVersion()
    # The test driver is not QEMU: no QEMU version is claimed for it.
    assert result['qemu_version'] is None
