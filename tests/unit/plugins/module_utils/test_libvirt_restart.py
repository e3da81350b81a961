# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restart layer on libvirt's in-process test:///default driver.

Real restarts (ACPI, timeouts, forced off, rollbacks) run on the real libvirtd in
tests/integration/test_restart.py; here the interleavings that a real daemon
cannot be made to produce on cue: the connection dying in the middle of a batch.
"""

from __future__ import annotations

import json
import os

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import libvirt_restart as lr
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc
from ansible_collections.spice.streaming.plugins.module_utils.domain_results import DomainResults
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_streaming as ls
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest
from ansible_collections.spice.streaming.plugins.module_utils.option_names import OptionNames

URI = 'test:///default'

ENABLE = StreamingRequest('filter', 'present')


def running_domains(conn, names):
    for name in names:
        conn.define('q35-spice-virtmanager.xml', name).create()


def plan_and_apply(conn, pattern, **options):
    selection = lc.select(conn, [pattern], [])
    run = ls.StreamingRun(conn, URI, ENABLE, **options)
    run.plan(selection.domains)
    run.apply()
    return run, selection


def test_policy_refuses_nonsense():
    with pytest.raises(ValueError, match='restart_batch'):
        lr.RestartPolicy('when_needed', batch=0)
    with pytest.raises(ValueError, match='shutdown_timeout'):
        lr.RestartPolicy('when_needed', shutdown_timeout=-1)
    assert not lr.RestartPolicy().enabled


def test_check_mode_says_which_would_restart(conn):
    running_domains(conn, ['u-rs-a', 'u-rs-b'])
    conn.define('q35-spice-virtmanager.xml', 'u-rs-off')
    run, selection = plan_and_apply(conn, 'u-rs-*', check_mode=True)
    lr.Restarts(run, lr.RestartPolicy('when_needed')).restart(selection.domains)
    report = run.summary()['report']
    assert sorted(report['would_restart']) == ['u-rs-a', 'u-rs-b']
    assert all(conn.lookupByName(n).isActive() for n in ('u-rs-a', 'u-rs-b'))


def test_a_batch_cut_by_a_lost_connection_names_the_domains_that_may_be_down(conn):
    running_domains(conn, ['u-cut-%d' % index for index in range(4)])
    run, selection = plan_and_apply(conn, 'u-cut-*')
    lost = {'now': False}
    real_create = libvirt.virDomain.createWithFlags

    def create_then_lose(dom, flags=0):
        if dom.name() == 'u-cut-1':
            lost['now'] = True
            raise libvirt.libvirtError('End of file while reading data: Input/output error')
        return real_create(dom, flags)

    libvirt.virDomain.createWithFlags = create_then_lose
    conn.isAlive = lambda: 0 if lost['now'] else 1
    try:
        with pytest.raises(lc.StreamingError) as raised:
            lr.Restarts(run, lr.RestartPolicy('when_needed', batch=2), sleep=lambda s: None).restart(
                selection.domains)
    finally:
        libvirt.virDomain.createWithFlags = real_create
    message = raised.value.msg
    assert 'MAY BE SHUT OFF' in message and "u-cut-1" in message, message
    assert raised.value.details['possibly_down'] == ['u-cut-1']
    assert raised.value.details['restarted_domains'] == ['u-cut-0']
    # The next batch never began: those domains still run.
    assert conn.lookupByName('u-cut-2').isActive() and conn.lookupByName('u-cut-3').isActive()
    assert not conn.lookupByName('u-cut-1').isActive()


@pytest.mark.parametrize('paused', [False, True], ids=['ACPI request', 'paused, forced off'])
def test_a_request_that_landed_without_an_answer_still_names_its_domain(conn, paused):
    """The daemon acted on the shutdown (or the destroy) and died before it answered."""
    names = ['u-ans-%d' % index for index in range(3)]
    running_domains(conn, names)
    if paused:
        for name in names:
            conn.lookupByName(name).suspend()
    run, selection = plan_and_apply(conn, 'u-ans-*')
    method = 'destroy' if paused else 'shutdown'
    real = getattr(libvirt.virDomain, method)
    lost = {'now': False}

    def act_then_lose(dom):
        result = real(dom)
        if dom.name() == 'u-ans-1':
            lost['now'] = True
            raise libvirt.libvirtError('End of file while reading data: Input/output error')
        return result

    setattr(libvirt.virDomain, method, act_then_lose)
    conn.isAlive = lambda: 0 if lost['now'] else 1
    try:
        with pytest.raises(lc.StreamingError) as raised:
            lr.Restarts(run, lr.RestartPolicy('when_needed', batch=3, force_off=True),
                        sleep=lambda s: None).restart(selection.domains)
    finally:
        setattr(libvirt.virDomain, method, real)
    assert raised.value.details['possibly_down'] == ['u-ans-0', 'u-ans-1'], raised.value.msg
    assert 'u-ans-0, u-ans-1.' in raised.value.msg
    assert not conn.lookupByName('u-ans-1').isActive()
    # Never asked: still runs, and is not named.
    assert conn.lookupByName('u-ans-2').isActive()


def _start_fails(conn, also=None):
    """Every start fails, as on a broken host; ``also`` is what another client does meanwhile."""
    real_create = libvirt.virDomain.createWithFlags

    def fail(dom, flags=0):
        if also:
            also()
        raise libvirt.libvirtError('internal error: qemu unexpectedly closed the monitor (test)')

    libvirt.virDomain.createWithFlags = fail
    return real_create


def test_a_domain_undefined_before_its_rollback_is_never_defined_again(conn, tmp_path):
    """The start failed; another client undefined the shut-off domain: no define brings it back."""
    running_domains(conn, ['u-rb-gone'])
    run, selection = plan_and_apply(conn, 'u-rb-gone', backup_dir=str(tmp_path))
    assert run.results['u-rb-gone']['backup_file']
    real_create = _start_fails(conn, also=lambda: conn.lookupByName('u-rb-gone').undefine())
    try:
        lr.Restarts(run, lr.RestartPolicy('when_needed', force_off=True), sleep=lambda s: None).restart(
            selection.domains)
    finally:
        libvirt.virDomain.createWithFlags = real_create
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName('u-rb-gone')
    result = run.results['u-rb-gone']
    assert result['restart']['state'] == 'vanished', result
    assert 'nothing was rolled back or started' in result['reason'] and 'virsh' not in result['reason']
    assert 'u-rb-gone' not in run.failures and result['restart_required'] == []


def test_a_failed_rollback_says_so_in_one_clean_sentence(conn, tmp_path):
    running_domains(conn, ['u-rb-down'])
    run, selection = plan_and_apply(conn, 'u-rb-down', backup_dir=str(tmp_path))
    os.unlink(run.results['u-rb-down']['backup_file'])     # the backup cannot be read back
    real_create = _start_fails(conn)
    try:
        lr.Restarts(run, lr.RestartPolicy('when_needed', force_off=True), sleep=lambda s: None).restart(
            selection.domains)
    finally:
        libvirt.virDomain.createWithFlags = real_create
    result = run.results['u-rb-down']
    assert result['restart']['state'] == 'down'
    reason = result['restart']['reason']
    assert 'bringing back its previous definition failed too (' in reason and '  ' not in reason, reason
    assert run.failures['u-rb-down'] == reason and result['restart_required'] == []
    report = run.summary()['report']
    assert report['failed'] == {'u-rb-down': reason} and 'waiting_for_cold_start' not in report
    assert run.summary()['restart_required'] == []


# ---------------------------------------------------------------- a batch over several runs
# (issue 16, item 4): the action plugin runs a batch as several runs of the module and shows
# progress between them; what one run hands the next is plain data (JSON through Ansible).

def _ignores_acpi(names):
    """Domains in ``names`` do not act on the ACPI request, as a guest without ACPI support."""
    real = libvirt.virDomain.shutdown

    def shutdown(dom):
        if dom.name() in names:
            return 0
        return real(dom)

    libvirt.virDomain.shutdown = shutdown
    return real


def test_a_batch_waits_over_several_runs_and_the_last_one_forces_off_and_starts(conn):
    running_domains(conn, ['u-st-fast', 'u-st-slow'])
    run, selection = plan_and_apply(conn, 'u-st-*')
    policy = lr.RestartPolicy('when_needed', batch=2, shutdown_timeout=60, force_off=True)
    states = [candidate.state() for candidate in lr.Restarts(run, policy).candidates(selection.domains)]
    assert [state['name'] for state in states] == ['u-st-fast', 'u-st-slow']
    assert all(state['live'] is None for state in states)   # not asked yet
    real = _ignores_acpi({'u-st-slow'})
    try:
        # First run: both asked, the fast one is off, the slow one still runs: the batch waits.
        first = lr.Restarts(run, policy, sleep=lambda s: None)
        done, waited, waiting = first.step(json.loads(json.dumps(states)), 0, False)
        assert not done and waited >= 0
        # Both go on to the next run: the fast one to be started, the slow one to be waited for.
        assert [(state['name'], state['stopped']) for state in waiting] == [('u-st-fast', True), ('u-st-slow', False)]
        assert conn.lookupByName('u-st-slow').isActive() and not conn.lookupByName('u-st-fast').isActive()
        # What it kept of the running domains is the managed parts only, and marks them as asked.
        assert all(state['live'].startswith('<domain><devices>') for state in waiting)
        # A later run, as a new module run would: its own run object, the results handed over.
        later_run = ls.StreamingRun(conn, URI, ENABLE)
        later_run.results = DomainResults(
            json.loads(json.dumps({name: run.results[name] for name in ('u-st-fast', 'u-st-slow')})))
        done, _waited, waiting = lr.Restarts(later_run, policy, sleep=lambda s: None).step(
            json.loads(json.dumps(waiting)), 0, True)
    finally:
        libvirt.virDomain.shutdown = real
    assert done and waiting == []
    # The slow one was forced off and started with its new definition.
    slow = later_run.results['u-st-slow']['restart']
    assert slow['state'] == 'restarted' and slow['reason'].startswith('forced off after 60 s, then started'), slow
    assert conn.lookupByName('u-st-slow').isActive() and conn.lookupByName('u-st-fast').isActive()
    assert "name='org.spice-space.stream.0'" in conn.lookupByName('u-st-slow').XMLDesc(0)


def test_a_domain_removed_between_two_runs_of_a_batch_is_reported_not_started(conn):
    running_domains(conn, ['u-gone-a'])
    run, selection = plan_and_apply(conn, 'u-gone-a')
    policy = lr.RestartPolicy('when_needed', shutdown_timeout=60, force_off=True)
    states = [candidate.state() for candidate in lr.Restarts(run, policy).candidates(selection.domains)]
    real = _ignores_acpi({'u-gone-a'})
    try:
        _done, _waited, waiting = lr.Restarts(run, policy, sleep=lambda s: None).step(states, 0, False)
    finally:
        libvirt.virDomain.shutdown = real
    assert [state['name'] for state in waiting] == ['u-gone-a']
    dom = conn.lookupByName('u-gone-a')
    dom.destroy()
    dom.undefine()
    done, _waited, rest = lr.Restarts(run, policy, sleep=lambda s: None).step(waiting, 0, True)
    assert done and rest == []
    result = run.results['u-gone-a']
    assert result['restart']['state'] == 'vanished' and 'after it had been sent the ACPI shutdown' in result['reason']


def test_a_lost_connection_in_a_later_run_names_the_domains_asked_to_stop(conn):
    running_domains(conn, ['u-lost-a', 'u-lost-b'])
    run, selection = plan_and_apply(conn, 'u-lost-*')
    policy = lr.RestartPolicy('when_needed', batch=2, shutdown_timeout=60)
    states = [candidate.state() for candidate in lr.Restarts(run, policy).candidates(selection.domains)]
    real = _ignores_acpi({'u-lost-a', 'u-lost-b'})
    try:
        _done, _waited, waiting = lr.Restarts(run, policy, sleep=lambda s: None).step(states, 0, False)
        real_state = libvirt.virDomain.state

        def dead(dom, flags=0):
            raise libvirt.libvirtError('End of file while reading data: Input/output error')

        libvirt.virDomain.state = dead
        conn.isAlive = lambda: 0
        try:
            with pytest.raises(lc.StreamingError) as raised:
                lr.Restarts(run, policy, sleep=lambda s: None).step(waiting, 5, False)
        finally:
            libvirt.virDomain.state = real_state
    finally:
        libvirt.virDomain.shutdown = real
    assert raised.value.details['possibly_down'] == ['u-lost-a', 'u-lost-b']
    assert 'MAY BE SHUT OFF now: u-lost-a, u-lost-b.' in raised.value.msg


def test_restart_messages_name_the_callers_variables(conn):
    """Issue 16, item 5: through the role, 'set host_streaming_force_off', not 'set force_off'."""
    names = OptionNames({'force_off': 'host_streaming_force_off', 'restart_batch': 'host_streaming_restart_batch'})
    with pytest.raises(ValueError, match='^host_streaming_restart_batch must be at least 1'):
        lr.RestartPolicy('when_needed', batch=0, names=names)
    running_domains(conn, ['u-nm-p'])
    conn.lookupByName('u-nm-p').suspend()
    selection = lc.select(conn, ['u-nm-p'], [])
    run = ls.StreamingRun(conn, URI, ENABLE, names=names)
    run.plan(selection.domains)
    run.apply()
    lr.Restarts(run, lr.RestartPolicy('when_needed'), sleep=lambda s: None).restart(selection.domains)
    reason = run.results['u-nm-p']['restart']['reason']
    assert 'set host_streaming_force_off to power it off' in reason and ' force_off' not in reason, reason
