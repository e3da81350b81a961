# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restart layer on libvirt's in-process test:///default driver.

Real restarts (ACPI, timeouts, forced off, rollbacks) run on the real libvirtd in
tests/integration/test_restart.py; here the interleavings that a real daemon
cannot be made to produce on cue: the connection dying in the middle of a batch.
"""

from __future__ import annotations

import os

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import libvirt_restart as lr
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_streaming as ls
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest

URI = 'test:///default'

ENABLE = StreamingRequest('filter', 'present')


def running_domains(conn, names):
    for name in names:
        conn.define('q35-spice-virtmanager.xml', name).create()


def plan_and_apply(conn, pattern, **options):
    selection = ls.select(conn, [pattern], [])
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
        with pytest.raises(ls.StreamingError) as raised:
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
        with pytest.raises(ls.StreamingError) as raised:
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
