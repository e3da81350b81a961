# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Another client changes a domain while a task runs, on the real libvirtd.

The test drives the module's own passes in order (plan, apply, restart) in this
process, over the same code the module runs, and acts as the other client between
them: it undefines, destroys or renames a domain after the plan read it, or during
the restart wait.  The wait runs on a clock the test advances (the restart layer's
``clock`` and ``sleep`` hooks), so a 30 s timeout costs no 30 s, and the test acts at
a known poll.  The domains have no operating system, so they ignore the ACPI power
button; a guest that honours it is played by the test powering the domain off after
the request, as the guest would.
"""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_streaming as ls
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_pool import ConnectionPool
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_restart import RestartPolicy, Restarts
from tests.support.libvirt_env import SPICE_GRAPHICS, STREAM, URI, VIRTIO_SERIAL, domain_xml

ENABLE = StreamingRequest('filter', 'present')


def diskless(name):
    return domain_xml(name, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS))


def start_running(domains, label):
    """A diskless domain running (not paused) in its firmware: it ignores ACPI."""
    domains.define(label, diskless).create()
    return domains.name(label)


def planned(domains, names, **options):
    """The plan pass over ``names``, as the module runs it."""
    selection = lc.select(domains.conn, names, [])
    run = ls.StreamingRun(domains.conn, URI, ENABLE, **options)
    run.plan(selection.domains, selection.unknown)
    return run, selection


class Wait:
    """The restart wait on a clock the test moves: each poll advances it and lets the test act."""

    def __init__(self, act):
        self.now = 0.0
        self.polls = 0
        self.act = act

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.polls += 1
        self.act(self.polls)
        self.now += seconds


def restart(run, selection, act, **policy):
    wait = Wait(act)
    Restarts(run, RestartPolicy('when_needed', **policy), clock=wait.clock, sleep=wait.sleep).restart(
        selection.domains)
    return run.summary()


def live_has_stream(conn, name):
    live = conn.lookupByName(name).XMLDesc(0)
    return "name='%s'" % STREAM in live and "<streaming mode='filter'/>" in live


def exists(conn, name):
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError:
        return False
    return True


def test_a_domain_removed_during_the_restart_wait_is_a_skip_and_the_batch_finishes(domains):
    conn = domains.conn
    deaf, gone, honours = (start_running(domains, label) for label in ('deaf', 'gone', 'honours'))
    run, selection = planned(domains, [domains.prefix + '-*'])
    run.apply()

    def act(poll):
        if poll == 1:
            # The other client removes one domain; another's guest honours the ACPI request.
            dom = conn.lookupByName(gone)
            dom.destroy()
            dom.undefine()
            conn.lookupByName(honours).destroy()

    summary = restart(run, selection, act, batch=5, shutdown_timeout=30)

    assert summary['changed'] is True
    assert sorted(summary['changed_domains']) == sorted([deaf, gone, honours])
    vanished = summary['domains'][gone]
    assert vanished['restart']['state'] == 'vanished', vanished
    assert summary['skipped_domains'][gone].startswith(lc.SKIP_VANISHED), summary['skipped_domains']
    assert 'after it had been sent the ACPI shutdown' in vanished['reason']
    assert gone not in summary['restart_required']
    # The domain whose guest honoured the request was started again, with the change in effect.
    assert summary['restarted_domains'] == [honours], summary
    assert conn.lookupByName(honours).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert live_has_stream(conn, honours)
    # The one that ignores ACPI waited out the 30 s and is reported as left running.
    assert summary['domains'][deaf]['restart']['state'] == 'left_running'
    assert 'within 30 s' in summary['domains'][deaf]['restart']['reason']
    assert summary['report']['skipped'][gone] == vanished['reason']
    assert not run.failures
    assert not exists(conn, gone), 'nothing brought the removed domain back'


@pytest.mark.parametrize('backup', [False, True], ids=['no backup', 'backup'])
def test_a_domain_undefined_during_the_wait_is_never_forced_off_defined_or_started(domains, tmp_path, backup):
    conn = domains.conn
    name = start_running(domains, 'undefined')
    run, selection = planned(domains, [name], backup_dir=str(tmp_path / 'backups') if backup else None)
    run.apply()
    pid = domains.qemu_cmdline(name)

    def act(poll):
        if poll == 1:
            conn.lookupByName(name).undefine()   # it runs on, now a transient domain

    summary = restart(run, selection, act, shutdown_timeout=30, force_off=True)

    dom = conn.lookupByName(name)
    assert dom.isActive() and not dom.isPersistent(), 'the other client\'s undefine stands'
    assert domains.qemu_cmdline(name) == pid, 'the same QEMU process: it was never forced off'
    result = summary['domains'][name]
    assert result['restart']['state'] == 'transient', result
    assert result['skipped'] and result['reason'].startswith(lc.SKIP_NOW_TRANSIENT)
    assert 'virsh' not in result['reason'], 'no advice to start a domain that cannot be started'
    assert name not in summary['restart_required'] and not run.failures
    assert any(name in warning and 'transient' in warning for warning in run.warnings)


def test_a_domain_undefined_before_the_restart_is_left_alone_even_paused_with_force_off(domains):
    conn = domains.conn
    domains.define('paused', diskless, start=True)
    name = domains.name('paused')
    run, selection = planned(domains, [name])
    run.apply()
    conn.lookupByName(name).undefine()

    summary = restart(run, selection, lambda poll: None, shutdown_timeout=30, force_off=True)

    dom = conn.lookupByName(name)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED and not dom.isPersistent()
    assert summary['domains'][name]['restart']['state'] == 'transient', summary
    assert summary['skipped_domains'][name].startswith(lc.SKIP_NOW_TRANSIENT)


def test_a_running_domain_undefined_between_plan_and_apply_is_not_defined_again(domains):
    conn = domains.conn
    name = start_running(domains, 'between')
    run, _selection = planned(domains, [name])
    assert run.results[name]['changed'], 'the plan found work to do'
    conn.lookupByName(name).undefine()

    run.apply()

    dom = conn.lookupByName(name)
    assert dom.isActive() and not dom.isPersistent(), 'defineXML would have made it persistent again'
    summary = run.summary()
    assert summary['changed'] is False and summary['changed_domains'] == []
    assert summary['skipped_domains'] == {name: lc.SKIP_NOW_TRANSIENT}
    assert summary['domains'][name]['actions'] == [] and not run.failures
    assert STREAM not in dom.XMLDesc(0), 'nothing was hot-plugged into it either'


def test_a_domain_undefined_between_plan_and_apply_is_the_same_skip_as_in_the_plan(domains):
    conn = domains.conn
    domains.define('undefined', diskless)
    domains.define('stays', diskless)
    name, other = domains.name('undefined'), domains.name('stays')
    run, _selection = planned(domains, [domains.prefix + '-*'])
    conn.lookupByName(name).undefine()

    run.apply()

    summary = run.summary()
    assert not run.failures, run.failures
    assert summary['skipped_domains'] == {name: lc.SKIP_VANISHED}
    assert summary['changed_domains'] == [other]
    assert not exists(conn, name), 'nothing defined it again'


@pytest.mark.parametrize('parallel', [1, 2])
def test_a_domain_renamed_between_plan_and_apply_is_reported_under_its_new_name(domains, parallel):
    conn = domains.conn
    olds = [domains.name(label) for label in ('a', 'b')]
    for label in ('a', 'b'):
        domains.define(label, diskless)
    pool = ConnectionPool(conn, URI, parallel)
    try:
        run, _selection = planned(domains, [domains.prefix + '-*'], pool=pool)
        news = []
        for old in olds:
            new = old + '-renamed'
            domains.names.append(new)
            conn.lookupByName(old).rename(new, 0)
            news.append(new)

        run.apply()
    finally:
        pool.close()

    summary = run.summary()
    assert not run.failures, run.failures
    assert sorted(summary['domains']) == sorted(news), summary['domains'].keys()
    assert sorted(summary['changed_domains']) == sorted(news)
    for old, new in zip(olds, news):
        result = summary['domains'][new]
        assert result['name'] == new
        assert any("renamed it from '%s' to '%s'" % (old, new) in note for note in result['notes']), result
        assert not exists(conn, old), 'the old name was not defined again'
        inactive = conn.lookupByName(new).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        assert "name='%s'" % STREAM in inactive and "<streaming mode='filter'/>" in inactive
