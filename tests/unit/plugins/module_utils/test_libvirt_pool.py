# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connections in parallel, on libvirt's test:///default driver (its state is shared by
every connection of the process, as a daemon's is by its clients)."""

from __future__ import annotations

import threading

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import libvirt_pool as lp
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_streaming as ls
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest

URI = 'test:///default'
ENABLE = StreamingRequest('filter', 'present')


class Item:
    def __init__(self, name, dom=None):
        self.name = name
        self.dom = dom


def test_map_returns_in_order_and_spreads_over_the_connections(conn):
    pool = lp.ConnectionPool(conn, URI, size=4)
    try:
        seen = {}
        gate = threading.Barrier(4, timeout=10)

        def work(worker, index):
            if index < 4:
                gate.wait()   # four items at once: one per connection
            seen.setdefault(id(worker), set()).add(index)
            return index * index

        outcomes = pool.map(work, range(40))
        assert [outcome.value for outcome in outcomes] == [index * index for index in range(40)]
        assert len(seen) == 4
        assert pool.size == 4 and pool.note() is None
    finally:
        pool.close()


def test_an_exception_stops_every_worker_and_is_given_back(conn):
    pool = lp.ConnectionPool(conn, URI, size=3)
    try:
        def work(_worker, index):
            if index == 5:
                raise libvirt.libvirtError('client socket is closed')
            return index

        outcomes = pool.map(work, range(200))
        assert isinstance(lp.first_error(outcomes), libvirt.libvirtError)
        # The workers stopped: far from every item was started.
        assert sum(1 for outcome in outcomes if not outcome.started) > 150
        assert all(outcomes[index].value == index for index in range(5))
    finally:
        pool.close()


def test_a_daemon_that_refuses_more_connections_leaves_the_ones_it_gave(conn):
    opened = []

    def opener(uri):
        if len(opened) == 1:
            raise libvirt.libvirtError('too many active clients (5000), dropping connection')
        opened.append(libvirt.open(uri))
        return opened[-1]

    pool = lp.ConnectionPool(conn, URI, size=4, opener=opener)
    try:
        assert [outcome.value for outcome in pool.map(lambda w, i: i, range(9))] == list(range(9))
        assert pool.size == 2
        assert 'accepted 2 of the 4' in pool.note()
        # Refused once: the next pass runs with what it has, without asking again.
        assert [outcome.value for outcome in pool.map(lambda w, i: i, range(9))] == list(range(9))
        assert len(opened) == 1
    finally:
        pool.close()


def test_connections_are_opened_for_the_work_there_is_and_never_beyond_the_cap(conn):
    opened = []

    def opener(uri):
        opened.append(libvirt.open(uri))
        return opened[-1]

    pool = lp.ConnectionPool(conn, URI, size=lp.MAX_PARALLEL + 990, opener=opener)
    try:
        # Nothing is opened before there is work, and one item needs no second connection.
        assert opened == []
        assert [outcome.value for outcome in pool.map(lambda w, i: i, [7])] == [7]
        assert opened == [] and pool.note() is None
        # Three items: three connections, the caller's and two more.
        pool.map(lambda w, i: i, range(3))
        assert len(opened) == 2 and pool.size == 3
        # Many items: the cap, however large the size asked for.
        pool.map(lambda w, i: i, range(500))
        assert pool.size == lp.MAX_PARALLEL and len(opened) == lp.MAX_PARALLEL - 1
        assert pool.note() is None
    finally:
        pool.close()


def test_the_cap_is_documented_and_below_libvirtds_workers():
    from ansible_collections.spice.streaming.plugins.doc_fragments.streaming import ModuleDocFragment
    import yaml
    doc = yaml.safe_load(ModuleDocFragment.LIBVIRT)['options']['parallel']
    assert 'At most V(%d)' % lp.MAX_PARALLEL in ' '.join(doc['description'])
    # libvirtd's default max_workers is 20: the task leaves workers for other clients.
    assert lp.MAX_PARALLEL < 20


def test_a_connection_that_does_not_open_in_time_is_like_a_refused_one(conn):
    def opener(uri):
        raise lp.ConnectTimeout('no answer within 3 s')

    pool = lp.ConnectionPool(conn, URI, size=4, opener=opener)
    try:
        assert [outcome.value for outcome in pool.map(lambda w, i: i, range(5))] == list(range(5))
        assert pool.size == 1
        assert 'accepted 1 of the 4' in pool.note() and 'no answer within 3 s' in pool.note()
    finally:
        pool.close()


def test_each_worker_finds_the_domains_on_its_own_connection(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-pw-a')
    pool = lp.ConnectionPool(conn, URI, size=2)
    try:
        pool.map(lambda w, i: i, range(2))
        main, other = pool.workers
        selected = Item('u-pw-a', conn.lookupByName('u-pw-a'))
        assert main.domain(selected) is selected.dom
        assert other.domain(selected).UUIDString() == selected.dom.UUIDString()
        assert other.domain(selected).connect() is other.conn
    finally:
        pool.close()


def _run(conn, names, pool, **options):
    selection = lc.select(conn, names, [])
    run = ls.StreamingRun(conn, URI, ENABLE, pool=pool, **options)
    run.plan(selection.domains, selection.unknown)
    return run


@pytest.mark.parametrize('size', [1, 4])
def test_parallel_runs_give_what_the_serial_run_gives(conn, size):
    for index in range(30):
        conn.define('q35-spice-virtmanager.xml' if index % 3 else 'q35-spice-streaming-filter.xml',
                    'u-par-%02d' % index)
    pool = lp.ConnectionPool(conn, URI, size=size)
    try:
        run = _run(conn, ['u-par-*'], pool)
        run.apply()
    finally:
        pool.close()
    summary = run.summary()
    assert list(summary['domains']) == ['u-par-%02d' % index for index in range(30)]
    # The filter fixture already streams with the channel: nothing to do there.
    assert summary['changed_domains'] == ['u-par-%02d' % index for index in range(30) if index % 3]
    for index in range(30):
        xml = conn.lookupByName('u-par-%02d' % index).XMLDesc(0)
        assert xml.count("<channel type='spiceport'>") == 1 and "<streaming mode='filter'/>" in xml


def test_a_concurrent_edit_landing_while_workers_run_is_built_upon(conn):
    names = ['u-cc-%02d' % index for index in range(40)]
    for name in names:
        conn.define('q35-spice-virtmanager.xml', name)
    pool = lp.ConnectionPool(conn, URI, size=4)
    editor = libvirt.open(URI)
    try:
        run = _run(conn, ['u-cc-*'], pool)
        real_apply_one = run._apply_one

        def apply_one(worker, plan):
            if plan[0].name == names[0]:
                # While the first domains are being defined, an admin edits the last one,
                # which no worker has taken yet (they take them in order, four at a time).
                last = editor.lookupByName(names[-1])
                edited = last.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).replace(
                    '</devices>', '<watchdog model="i6300esb" action="reset"/></devices>')
                editor.defineXML(edited)
            return real_apply_one(worker, plan)

        run._apply_one = apply_one
        run.apply()
    finally:
        pool.close()
        editor.close()
    final = conn.lookupByName(names[-1]).XMLDesc(0)
    assert "<watchdog model='i6300esb' action='reset'/>" in final
    assert final.count("<channel type='spiceport'>") == 1
    assert any('someone else' in note for note in run.results[names[-1]]['notes'])


def test_a_connection_lost_with_workers_in_flight_says_it_once(conn):
    names = ['u-lw-%02d' % index for index in range(30)]
    for name in names:
        conn.define('q35-spice-virtmanager.xml', name)
    pool = lp.ConnectionPool(conn, URI, size=4)
    lost = threading.Event()
    try:
        run = _run(conn, ['u-lw-*'], pool)
        real_define = run._define

        def define(worker, selected, digest, result):
            if selected.name == names[10]:
                lost.set()
                raise libvirt.libvirtError('End of file while reading data: Input/output error')
            return real_define(worker, selected, digest, result)

        run._define = define
        for worker in pool.workers:
            worker.conn.isAlive = lambda: 0 if lost.is_set() else 1
        with pytest.raises(lc.StreamingError) as raised:
            run.apply()
    finally:
        pool.close()
    message = raised.value.msg
    assert message.count('End of file') == 1 and "'%s'" % names[10] in message
    details = raised.value.details
    done = details['changed_domains']
    untouched = [n for n in names if 'not touched' in ' '.join(details['domains'][n]['notes'])]
    assert names[10] not in done and names[10] not in untouched
    # Every domain is untouched or converged, and the result says which.
    for name in names:
        xml = conn.lookupByName(name).XMLDesc(0)
        converged = xml.count("<channel type='spiceport'>") == 1
        assert converged == (name in done or name == names[10] and converged), name
    assert len(done) + len(untouched) + 1 == len(names)
