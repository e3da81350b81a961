# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain with a saved state (virsh managedsave), on the real libvirtd and QEMU.

Starting such a domain resumes the saved state with the configuration it was saved
with, not with its definition: a changed definition waits.  The modules say so, and
``restart: when_needed`` never discards the saved state (the guest's running session).
"""

from __future__ import annotations

import libvirt

from tests.support.libvirt_env import SPICE_GRAPHICS, STREAM, URI, VIRTIO_SERIAL, domain_xml, run_module

MODULE = 'spice.streaming.libvirt_domain'
INFO = 'spice.streaming.libvirt_domain_info'
ENABLE = {'streaming_mode': 'filter', 'agent_channel': 'present'}


def saved_domain(domains, label):
    dom = domains.define(label, lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)))
    dom.create()
    dom.managedSave(0)
    return domains.name(label)


def live_has_stream(dom):
    live = dom.XMLDesc(0)
    return "name='%s'" % STREAM in live and "<streaming mode='filter'/>" in live


def test_a_saved_domain_waits_and_its_saved_state_is_never_discarded(domains):
    name = saved_domain(domains, 'saved')
    dom = domains.conn.lookupByName(name)
    args = dict(ENABLE, uri=URI, name=[name], restart='when_needed', force_off=True, shutdown_timeout=3)

    check = run_module(MODULE, args, check=True)
    run = run_module(MODULE, args)

    assert not run.failed and run.changed, run
    result = run.domain(name)
    assert run.result['restart_required'] == [name], run
    assert sorted(entry['change'] for entry in result['restart_required']) == ['agent_channel', 'streaming_mode']
    assert all('saved state' in entry['reason'] and 'managedsave-remove' in entry['reason']
               for entry in result['restart_required']), result
    assert result['restart']['state'] == 'saved', result
    assert "'virsh -c %s managedsave-remove %s'" % (URI, name) in result['restart']['reason']
    assert name in run.result['report']['waiting_for_cold_start']
    assert name in run.result['report']['not_restarted']
    assert any(name in warning and 'saved state' in warning for warning in run.result['warnings'])
    # Check mode said exactly that.
    assert check.domain(name)['restart'] == result['restart'], check
    assert check.domain(name)['restart_required'] == result['restart_required']
    # Nothing was started, and the saved state is still there.
    assert not dom.isActive() and dom.hasManagedSaveImage(0) == 1

    info = run_module(INFO, {'uri': URI, 'name': [name]})
    assert not info.failed, info
    described = info.result['domains'][name]
    assert described['has_managed_save'] is True and described['state'] == 'shut off'
    assert [entry['change'] for entry in described['restart_required']] == \
        [entry['change'] for entry in result['restart_required']]
    assert info.result['restart_required'] == [name] and info.result['summary']['restart_required'] == 1

    # Why it waits: a start resumes the saved state, which lacks the change.
    dom.create()
    assert not live_has_stream(dom)
    # The way the message names applies it (saved again first: a resume consumes the image).
    dom.managedSave(0)
    dom.managedSaveRemove(0)
    dom.create()
    assert live_has_stream(dom)
    after = run_module(INFO, {'uri': URI, 'name': [name]})
    assert after.result['domains'][name]['has_managed_save'] is False
    assert after.result['domains'][name]['restart_required'] == []


def test_a_saved_domain_that_already_has_the_change_waits_for_nothing(domains):
    name = saved_domain(domains, 'current')
    dom = domains.conn.lookupByName(name)
    dom.managedSaveRemove(0)
    first = run_module(MODULE, dict(ENABLE, uri=URI, name=[name]))
    assert first.changed and first.result['restart_required'] == [], first
    dom.create()
    dom.managedSave(0)

    again = run_module(MODULE, dict(ENABLE, uri=URI, name=[name], restart='when_needed'))
    assert not again.changed and again.result['restart_required'] == [], again
    assert again.domain(name)['restart'] is None
    info = run_module(INFO, {'uri': URI, 'name': [name]})
    assert info.result['domains'][name]['has_managed_save'] is True
    assert info.result['domains'][name]['restart_required'] == []
    assert libvirt.VIR_DOMAIN_SHUTOFF == dom.state()[0]
