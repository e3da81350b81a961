# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spice.streaming.libvirt_domain_restore and playbooks/restore_definitions.yml against the real
libvirtd and real QEMU: a rollout with backups, then the way back."""

from __future__ import annotations

import os
import re
from xml.sax.saxutils import escape

import yaml

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    URI,
    VDAGENT,
    VIRTIO_SERIAL,
    domain_xml,
    run_module,
    run_playbook,
)

RESTORE = 'spice.streaming.libvirt_domain_restore'
ROLLOUT = 'spice.streaming.libvirt_domain'
ENABLE = {'streaming_mode': 'filter', 'agent_channel': 'present'}
PASSWORD = 'pw-restore-secret'
HAND_SET_ALL = SPICE_GRAPHICS.replace("<listen type='none'/>", "<listen type='none'/>\n      <streaming mode='all'/>")


def _qemu_pid(name):
    with open('/run/libvirt/qemu/%s.pid' % name, encoding='ascii') as handle:
        return int(handle.read().strip())


def _rollout(names, backup_dir, **request):
    run = run_module(ROLLOUT, {'uri': URI, 'name': names, 'backup': True, 'backup_dir': backup_dir,
                               **(request or ENABLE)})
    assert not run.failed and sorted(run.result['changed_domains']) == sorted(names), run
    return run


def _restore(names, backup_dir, check=False, diff=False, **options):
    return run_module(RESTORE, {'uri': URI, 'name': names, 'backup_dir': backup_dir, **options},
                      check=check, diff=diff)


def test_enable_then_restore_gives_every_definition_back_exactly(domains, tmp_path):
    secret = SPICE_GRAPHICS.replace("autoport='no'", "autoport='no' passwd='%s'" % PASSWORD)
    domains.define('plain', domain_xml)
    domains.define('agent', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, VDAGENT, secret)))
    domains.define('hand', lambda n: domain_xml(n, devices=(HAND_SET_ALL,)))
    domains.define('run', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, VDAGENT, SPICE_GRAPHICS)), start=True)
    long_label = (" <b>&'\"*|? " + 'x' * 247)[:247 - len(domains.prefix) - 1]
    domains.define(long_label, lambda n: domain_xml(escape(n)))
    names = [domains.name(label) for label in ('plain', 'agent', 'hand', 'run', long_label)]
    running = domains.name('run')
    originals = {name: domains.inactive_xml(name) for name in names}
    pid = _qemu_pid(running)
    backup_dir = str(tmp_path / 'backups')
    _rollout(names, backup_dir)
    assert all(domains.inactive_xml(name) != originals[name] for name in names)
    rolled_out = domains.snapshot()
    files = sorted(os.listdir(backup_dir))

    check = _restore([domains.prefix + '-*'], backup_dir, check=True, diff=True)
    assert not check.failed and sorted(check.result['changed_domains']) == sorted(names), check
    assert domains.snapshot() == rolled_out and sorted(os.listdir(backup_dir)) == files
    assert check.result['backup_files'] == {}
    shown = ''.join(entry['before'] + entry['after'] for entry in check.result['diff'])
    assert PASSWORD not in shown and '<streaming mode="all"/>' in shown, check
    assert check.domain(running)['restart'] is None

    real = _restore([domains.prefix + '-*'], backup_dir, diff=True)
    assert not real.failed and sorted(real.result['changed_domains']) == sorted(names), real
    for name in names:
        assert domains.inactive_xml(name) == originals[name], name
        assert real.result['restored_from'][name] == check.domain(name)['restored_from']
        assert real.domain(name)['actions'] == check.domain(name)['actions']
        kept = real.result['backup_files'][name]
        assert kept.endswith('.before-restore.xml')
        with open(kept, encoding='utf-8') as handle:
            assert handle.read() == rolled_out[name][0]
    assert PASSWORD in domains.inactive_xml(domains.name('agent'))
    assert PASSWORD not in str(real.result['diff'])
    # The running domain was not restarted; it never ran the rolled-out definition, so nothing waits.
    assert domains.conn.lookupByName(running).isActive() and _qemu_pid(running) == pid
    assert real.domain(running)['restart'] is None and real.result['restarted_domains'] == []

    for check_mode in (True, False):
        again = _restore([domains.prefix + '-*'], backup_dir, check=check_mode)
        assert not again.failed and not again.changed and again.result['changed_domains'] == [], again
    assert {name: domains.inactive_xml(name) for name in names} == originals


def test_a_domain_edited_after_the_rollout_is_refused_unless_forced(domains, tmp_path):
    domains.define('edited', domain_xml)
    domains.define('other', domain_xml)
    edited, other = domains.name('edited'), domains.name('other')
    original = domains.inactive_xml(edited)
    backup_dir = str(tmp_path / 'backups')
    _rollout([edited, other], backup_dir)
    # Another administrator gives the desktop more memory after the rollout.
    theirs = re.sub(r"<memory unit='KiB'>\d+</memory>", "<memory unit='KiB'>131072</memory>",
                    domains.inactive_xml(edited))
    domains.conn.defineXML(theirs)
    before = domains.snapshot()

    refused = _restore([edited, other], backup_dir)
    msg = refused.result['msg']
    assert refused.failed and not refused.changed, refused
    assert msg.startswith('nothing was changed') and "domain '%s' on" % edited in msg and URI in msg, msg
    assert '<memory> changed' in msg and 'force' in msg, msg
    assert list(refused.result['failed_domains']) == [edited]
    assert domains.snapshot() == before

    forced = _restore([edited], backup_dir, force=True)
    assert not forced.failed and forced.result['changed_domains'] == [edited], forced
    assert domains.inactive_xml(edited) == original
    with open(forced.result['backup_files'][edited], encoding='utf-8') as handle:
        assert "<memory unit='KiB'>131072</memory>" in handle.read()


def test_enable_disable_then_restore_the_oldest_definitions_with_the_playbooks(domains, tmp_path):
    """Item 27: after enable then disable, a hand-set mode is off and the added controller stays;
    restore_definitions.yml with the oldest backups gives the definitions back."""
    domains.define('desk', lambda n: domain_xml(n, devices=(HAND_SET_ALL,)))
    name = domains.name('desk')
    original = domains.inactive_xml(name)
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3',
        'host_streaming_domains': [domains.prefix + '-*'],
        'host_streaming_backup_dir': str(tmp_path / 'backups')}}}}))

    def play(playbook, check=False, **extra):
        proc = run_playbook(os.path.join(REPO_ROOT, 'playbooks', playbook), str(inventory), check=check,
                            diff=check, extra_vars=extra or None, tags='hypervisors')
        match = re.search(r'localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)', proc.stdout)
        assert match and match.group(2) == '0', proc.stdout + proc.stderr
        return int(match.group(1)), proc.stdout + proc.stderr

    play('enable_streaming.yml')
    play('disable_streaming.yml')
    disabled = domains.inactive_xml(name)
    assert "<streaming mode='off'/>" in disabled and "type='virtio-serial'" in disabled

    changed, out = play('restore_definitions.yml', check=True, host_streaming_restore_backup='oldest')
    assert changed == 1 and "SPICE streaming mode back to all (is off)" in out, out
    assert domains.inactive_xml(name) == disabled
    changed, out = play('restore_definitions.yml', host_streaming_restore_backup='oldest')
    assert changed == 1, out
    assert domains.inactive_xml(name) == original
    assert play('restore_definitions.yml', host_streaming_restore_backup='oldest')[0] == 0


def test_a_running_domain_is_not_restarted_and_what_waits_for_a_cold_start_is_reported(domains, tmp_path):
    domains.define('live', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, VDAGENT, HAND_SET_ALL)), start=True)
    name = domains.name('live')
    original = domains.inactive_xml(name)
    backup_dir = str(tmp_path / 'backups')
    _rollout([name], backup_dir)
    domains.cold_restart(name)   # a maintenance window: it now runs the rolled-out definition
    pid = _qemu_pid(name)

    for check_mode in (True, False):
        run = _restore([name], backup_dir, check=check_mode)
        assert not run.failed and run.result['changed_domains'] == [name], run
        assert run.result['restart_required'] == [name] and run.domain(name)['restart'] is None, run
        waiting = {entry['change'] for entry in run.domain(name)['restart_required']}
        assert waiting == {'streaming_mode', 'agent_channel'}, run
        assert name in run.result['report']['waiting_for_cold_start']
        assert _qemu_pid(name) == pid and domains.conn.lookupByName(name).isActive()
    assert domains.inactive_xml(name) == original
    # Until its cold start, later runs say the same without changing anything.
    again = _restore([name], backup_dir)
    assert not again.changed and again.result['restart_required'] == [name], again


def test_restarts_only_when_asked_and_only_what_needs_it(domains, tmp_path):
    """restart=when_needed: check mode predicts exactly; the real run restarts the domain that runs
    the rolled-out definition and leaves the one that never did alone."""
    devices = (VIRTIO_SERIAL, VDAGENT, HAND_SET_ALL)
    domains.define('cold', lambda n: domain_xml(n, devices=devices), start=True)
    domains.define('warm', lambda n: domain_xml(n, devices=devices), start=True)
    cold, warm = domains.name('cold'), domains.name('warm')
    backup_dir = str(tmp_path / 'backups')
    _rollout([cold, warm], backup_dir)
    domains.cold_restart(cold)   # runs the rolled-out definition now; warm still runs its original
    pids = {name: _qemu_pid(name) for name in (cold, warm)}
    options = {'restart': 'when_needed', 'force_off': True, 'shutdown_timeout': 0}

    check = _restore([cold, warm], backup_dir, check=True, **options)
    assert not check.failed and check.domain(cold)['restart']['state'] == 'would_restart', check
    assert check.domain(warm)['restart'] is None, check
    assert {name: _qemu_pid(name) for name in pids} == pids

    real = _restore([cold, warm], backup_dir, **options)
    assert not real.failed and real.result['restarted_domains'] == [cold], real
    assert _qemu_pid(warm) == pids[warm] and _qemu_pid(cold) != pids[cold]
    live = domains.live_xml(cold)
    assert "<streaming mode='all'/>" in live and 'org.spice-space.stream.0' not in live
    assert real.result['restart_required'] == []
