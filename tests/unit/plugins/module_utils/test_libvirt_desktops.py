# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt side of the desktops inventory on libvirt's test:///default driver, and its
bounded calls (guest agents that hang, hypervisors that never answer) with plain callables."""

from __future__ import annotations

import fnmatch
import threading
import time

import pytest

from ansible_collections.spice.streaming.plugins.module_utils import libvirt_desktops as ld
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import StreamingError

URI = 'test:///default'


@pytest.mark.parametrize('name', ['vdi-001', 'a', 'odd*name', 'with[bracket', 'q?'])
def test_as_pattern_matches_exactly_that_name(name):
    pattern = ld.as_pattern(name)
    assert any(char in pattern for char in '*?['), pattern
    assert fnmatch.fnmatchcase(name, pattern)
    assert not fnmatch.fnmatchcase(name + 'x', pattern) and not fnmatch.fnmatchcase('x' + name, pattern)


def test_patterns_stay_patterns():
    assert ld.as_pattern('vdi-*') == 'vdi-*'


def test_read_desktops_lists_spice_domains_only(conn):
    conn.define('q35-spice-streaming-filter.xml', 'sst-unit-desk-a')
    conn.define('q35-vnc-only.xml', 'sst-unit-vnc')
    conn.define('q35-spice-virtmanager.xml', 'sst-unit-desk-b').create()
    result = ld.read_desktops(URI, ['sst-unit-*', 'not-on-this-hypervisor'], exclude=[], parallel=2)
    assert sorted(result['desktops']) == ['sst-unit-desk-a', 'sst-unit-desk-b']
    assert result['domains_read'] == 3 and result['uri'] == URI
    shut_off = result['desktops']['sst-unit-desk-a']
    assert shut_off['info']['state'] == 'shut off' and shut_off['info']['streaming_mode'] == 'filter'
    assert shut_off['guest']['agent'] == 'not asked: the desktop is shut off'
    assert shut_off['guest']['addresses'] == []
    running = result['desktops']['sst-unit-desk-b']
    assert running['info']['state'] == 'running'
    # The test driver has no guest agent; its lease and ARP answers are fixed data.
    assert running['guest']['agent'].startswith('no answer: ')
    assert running['guest']['addresses'][0]['source'] == 'lease'
    assert running['guest']['addresses'][0]['family'] == 'ipv4'


def test_the_libosinfo_id_comes_from_the_xml_already_read_not_a_call_per_desktop(conn, monkeypatch):
    """One round trip fewer per desktop: on a remote hypervisor that is most of a shut-off desktop's read."""
    conn.define('q35-spice-virtmanager.xml', 'sst-unit-osinfo-off')
    conn.define('q35-spice-virtmanager.xml', 'sst-unit-osinfo-on').create()

    def no_call(*_args, **_kwargs):
        raise AssertionError('virDomain.metadata called: the id is in the XML already read')
    monkeypatch.setattr(ld.libvirt.virDomain, 'metadata', no_call)
    result = ld.read_desktops(URI, ['sst-unit-osinfo-*'], parallel=2)
    for name in ('sst-unit-osinfo-off', 'sst-unit-osinfo-on'):
        assert result['desktops'][name]['guest']['libosinfo_id'] == 'http://debian.org/debian/11', name
    # osinfo_metadata: false in the inventory plugin: not read at all.
    result = ld.read_desktops(URI, ['sst-unit-osinfo-off'], osinfo=False)
    assert result['desktops']['sst-unit-osinfo-off']['guest']['libosinfo_id'] is None


def test_read_desktops_stops_at_the_first_source_that_is_enough(conn):
    conn.define('q35-spice-virtmanager.xml', 'sst-unit-desk-c').create()
    every = ld.read_desktops(URI, ['sst-unit-desk-c'], sources=['lease', 'arp'])
    assert [entry['source'] for entry in every['desktops']['sst-unit-desk-c']['guest']['addresses']] == \
        ['lease', 'arp']
    first = ld.read_desktops(URI, ['sst-unit-desk-c'], sources=['lease', 'arp'], enough=bool)
    assert [entry['source'] for entry in first['desktops']['sst-unit-desk-c']['guest']['addresses']] == ['lease']


def test_read_desktops_without_the_guest_agent_reads_read_only(conn):
    conn.define('q35-spice-virtmanager.xml', 'sst-unit-desk-d').create()
    result = ld.read_desktops(URI, ['sst-unit-desk-d'], guest_agent=False)
    assert 'read-write' in result['desktops']['sst-unit-desk-d']['guest']['agent']


def test_an_unreachable_hypervisor_is_a_streaming_error():
    with pytest.raises(StreamingError) as caught:
        ld.read_desktops('test:///nonexistent/file.xml')
    assert 'test:///nonexistent/file.xml' in caught.value.msg


def test_bounded_gives_up_on_a_call_that_hangs():
    release = threading.Event()
    started = time.monotonic()
    assert ld.bounded(release.wait, 0.2) is ld.LATE
    assert time.monotonic() - started < 2
    release.set()
    assert ld.bounded(lambda: 42, 1) == 42
    error = ld.bounded(lambda: 1 / 0, 1)
    assert isinstance(error, ZeroDivisionError)


def test_read_guest_bounds_a_guest_agent_that_hangs():
    release = threading.Event()

    class HangingAgent:
        def guestInfo(self, *_args):
            release.wait(30)
            return {}

        def interfaceAddresses(self, *_args):
            return {}

    started = time.monotonic()
    guest = ld.read_guest(HangingAgent(), 'running', agent_timeout=0.3, osinfo_id='http://microsoft.com/win/11')
    release.set()
    assert time.monotonic() - started < 5
    assert guest['agent'] == 'no answer within 0.3 s'
    assert guest['os'] is None and guest['libosinfo_id'] == 'http://microsoft.com/win/11'


def test_read_many_bounds_workers_and_time_and_keeps_order():
    running = []
    peak = []
    lock = threading.Lock()
    hang = threading.Event()

    def read(item):
        with lock:
            running.append(item)
            peak.append(len(running))
        try:
            if item == 'hangs':
                hang.wait(30)
            elif item == 'fails':
                raise StreamingError('refused')
            time.sleep(0.05)
            return item.upper()
        finally:
            with lock:
                running.remove(item)

    items = ['a', 'hangs', 'b', 'fails', 'c', 'd', 'e']
    started = time.monotonic()
    results = ld.read_many(items, read, workers=3, timeout=0.5)
    elapsed = time.monotonic() - started
    hang.set()
    assert elapsed < 5
    assert max(peak) <= 3
    assert [value for value, _error, _seconds in results] == ['A', None, 'B', None, 'C', 'D', 'E']
    assert results[1][1] is ld.LATE
    assert isinstance(results[3][1], StreamingError)


def test_read_host_with_guests_is_the_info_result_with_the_guest_of_each_spice_domain(conn):
    conn.define('q35-spice-streaming-filter.xml', 'sst-unit-g-off')
    conn.define('q35-vnc-only.xml', 'sst-unit-g-vnc')
    conn.define('q35-spice-virtmanager.xml', 'sst-unit-g-run').create()
    result = ld.read_host_with_guests(URI, ['sst-unit-g-*', 'sst-unit-g-missing'], parallel=2)
    # libvirt_domain_info's shape: summary, missing names with their warning, every domain read.
    assert set(result['domains']) == {'sst-unit-g-off', 'sst-unit-g-vnc', 'sst-unit-g-run'}
    assert result['missing_domains'] == ['sst-unit-g-missing'] and result['summary']['domains'] == 3
    assert any('sst-unit-g-missing' in text for text in result['warnings'])
    assert 'guest' not in result['domains']['sst-unit-g-vnc']
    assert result['domains']['sst-unit-g-off']['guest']['agent'] == 'not asked: the desktop is shut off'
    running = result['domains']['sst-unit-g-run']['guest']
    assert running['agent'].startswith('no answer: ')
    # Every source read (no 'enough'): the caller chooses the address.
    assert [entry['source'] for entry in running['addresses']][:1] == ['lease']
