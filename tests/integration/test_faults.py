# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection to libvirt lost in the middle of a run: stop at once, say it once, lose nothing.

The daemon killed here is the ``qemu:///session`` libvirtd of a throw-away user
(tests/support/session_libvirt.py), never the system libvirtd the other tests share.
The modules run as that user, as Ansible runs them (become, AnsiballZ, the system
Python), against ``qemu:///session``.  The test watches the daemon's own log (each RPC
it dispatches, each command it sends to QEMU) and kills the daemon with SIGKILL at the
point of the run it wants: in the converge pass after a few defines, in the read pass
of libvirt_domain_info after a few reads, and in a restart batch once every domain of
the batch has been asked to shut down.
"""

from __future__ import annotations

import os
import re
import socket

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import DEFAULT_PARALLEL
from tests.support.libvirt_env import SPICE_GRAPHICS, STREAM, VIRTIO_SERIAL, domain_xml, start_module
from tests.support.session_libvirt import (
    PROC_DOMAIN_DEFINE_XML,
    PROC_DOMAIN_GET_XML_DESC,
    SessionLibvirt,
    remove_stale_users,
)

URI = SessionLibvirt.URI
# Enough that a kill after a few defines (or reads) lands well before the end of the pass.
IDLE_DOMAINS = 300
# The modules keep one call in flight per connection (parallel, default 4): after twice as
# many calls dispatched, at least that many have been answered.
ANSWERED_AFTER = 2 * DEFAULT_PARALLEL
ENABLE = {'streaming_mode': 'filter', 'agent_channel': 'present'}
XML_FLAGS = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE


@pytest.fixture(scope='module')
def session():
    remove_stale_users('sst-fault-')
    daemon = SessionLibvirt('sst-fault-%d' % os.getpid()).create_user()
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.remove()


@pytest.fixture
def prefix(session, request):
    """Names for this test's domains; every domain of the session is removed afterwards."""
    yield 'sst-fault-%s' % re.sub(r'[^a-z0-9]+', '-', request.node.name.lower())[5:25].strip('-')
    session.start()
    session.remove_domains()
    session.disconnect()


def define_idle(session, prefix, count=IDLE_DOMAINS):
    """Minimal SPICE domains, never started; returns their definitions as libvirt stored them."""
    conn = session.conn()
    originals = {}
    for index in range(count):
        name = '%s-%03d' % (prefix, index)
        dom = conn.defineXML(domain_xml(name, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)))
        originals[name] = dom.XMLDesc(XML_FLAGS)
    return originals


def run_as_user(session, module, args):
    """Start the module as the session's user; the test's own connection is closed first."""
    session.disconnect()
    session.mark()
    return start_module(module, args, become_user=session.user)


def converged(xml):
    return (xml.count("<channel type='spiceport'>") == 1 and "<target type='virtio' name='%s'/>" % STREAM in xml
            and "<streaming mode='filter'/>" in xml)


def where():
    return 'lost the connection to libvirt at %s on %s' % (URI, socket.gethostname())


def said_once(msg):
    """One sentence for the whole run, not one per domain."""
    assert msg.count('lost the connection') == 1, msg
    assert len(msg) < 1200, msg


def test_converge_pass_stops_at_once_and_a_rerun_finishes(session, prefix):
    originals = define_idle(session, prefix)
    args = dict(ENABLE, uri=URI, name=[prefix + '-*'])
    started = run_as_user(session, 'spice.streaming.libvirt_domain', args)
    session.kill_when(lambda: session.rpc_count(PROC_DOMAIN_DEFINE_XML) >= ANSWERED_AFTER, started.running)
    run = started.wait()

    assert run.failed and run.result.get('connection_lost') is True, run
    msg = run.result['msg']
    said_once(msg)
    assert msg.startswith(where()), msg
    done = run.result['changed_domains']
    assert 0 < len(done) < IDLE_DOMAINS, run
    assert '%d domains converged before that (changed_domains names them)' % len(done) in msg, msg
    counts = re.search(r"\(changed_domains names them\)(?:, (.*) in progress)?, (\d+) left untouched", msg)
    assert counts, msg
    # The defines that were waiting for the daemon when it died (one per connection at most).
    in_progress = set(re.findall(r"'([^']+)'", counts.group(1) or ''))
    assert len(in_progress) <= DEFAULT_PARALLEL, msg
    assert len(done) + int(counts.group(2)) + len(in_progress) == IDLE_DOMAINS, msg
    assert "Every domain is either untouched or fully converged. Run the task again once 'virsh -c %s version' " \
        'answers.' % URI in msg, msg
    assert all(not run.domain(name)['changed'] for name in originals if name not in done)

    # Read back once the daemon runs again: each domain is exactly as it was, or converged.
    session.start()
    conn = session.conn()
    now = {name: conn.lookupByName(name).XMLDesc(XML_FLAGS) for name in originals}
    landed = {name for name, xml in now.items() if converged(xml)}
    assert all(now[name] == originals[name] for name in set(originals) - landed), \
        'a domain is neither untouched nor converged'
    assert set(done) <= landed
    # A define in flight when the daemon died either landed or did not: never half.
    assert landed - set(done) <= in_progress

    again = run_as_user(session, 'spice.streaming.libvirt_domain', args).wait()
    assert not again.failed, again
    assert sorted(again.result['changed_domains']) == sorted(set(originals) - landed)
    conn = session.conn()
    assert all(converged(conn.lookupByName(name).XMLDesc(XML_FLAGS)) for name in originals)


def test_info_pass_stops_at_once_and_a_rerun_reads_everything(session, prefix):
    define_idle(session, prefix)
    args = {'uri': URI, 'name': [prefix + '-*']}
    started = run_as_user(session, 'spice.streaming.libvirt_domain_info', args)
    session.kill_when(lambda: session.rpc_count(PROC_DOMAIN_GET_XML_DESC) >= 5 * ANSWERED_AFTER, started.running)
    run = started.wait()

    assert run.failed, run
    msg = run.result['msg']
    said_once(msg)
    read = run.result['domains_read']
    assert 0 < read < IDLE_DOMAINS, run
    assert msg.startswith('%s after reading %d of %d selected domains' % (where(), read, IDLE_DOMAINS)), msg
    assert 'Nothing was changed: this module only reads. Run the task again' in msg, msg
    assert run.result['changed'] is False

    session.start()
    again = run_as_user(session, 'spice.streaming.libvirt_domain_info', args).wait()
    assert not again.failed, again
    assert again.result['summary']['domains'] == IDLE_DOMAINS
    assert again.result['summary']['shut_off'] == IDLE_DOMAINS


def test_restart_batch_cut_names_every_domain_that_may_be_down(session, prefix):
    conn = session.conn()
    names = ['%s-%d' % (prefix, index) for index in range(3)]
    for name in names:
        # Diskless and not paused: it ignores the ACPI request, so the batch waits for it.
        conn.defineXML(domain_xml(name, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS))).create()
    restart = {'restart': 'when_needed', 'force_off': True, 'restart_batch': len(names)}
    args = dict(ENABLE, uri=URI, name=[prefix + '-*'], shutdown_timeout=120, **restart)
    started = run_as_user(session, 'spice.streaming.libvirt_domain', args)
    # Every domain of the batch was asked to shut down: the batch is waiting for them.
    session.kill_when(lambda: session.powerdowns() >= len(names), started.running)
    run = started.wait()

    assert run.failed and run.result.get('connection_lost') is True, run
    msg = run.result['msg']
    said_once(msg)
    assert msg.startswith(where() + ' during a restart batch'), msg
    assert 'MAY BE SHUT OFF now: %s.' % ', '.join(sorted(names)) in msg, msg
    assert run.result['possibly_down'] == sorted(names)
    for name in names:
        assert run.domain(name)['restart']['state'] == 'unknown', run
    assert run.result['restarted_domains'] == []

    # The daemon comes back and finds its QEMU processes; a rerun finishes the restarts.
    session.start()
    conn = session.conn()
    assert all(conn.lookupByName(name).isActive() for name in names)
    args['shutdown_timeout'] = 2
    again = run_as_user(session, 'spice.streaming.libvirt_domain', args).wait()
    assert not again.failed, again
    assert sorted(again.result['restarted_domains']) == sorted(names), again
    conn = session.conn()
    for name in names:
        dom = conn.lookupByName(name)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        live = dom.XMLDesc(0)
        assert "name='%s'" % STREAM in live and "<streaming mode='filter'/>" in live, name
