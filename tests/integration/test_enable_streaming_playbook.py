# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/enable_streaming.yml with the host_streaming role, as a user runs it."""

from __future__ import annotations

import os
import re

import yaml

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    VDAGENT,
    VIRTIO_SERIAL,
    VNC_GRAPHICS,
    domain_xml,
    run_playbook,
)

PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'enable_streaming.yml')


def recap(proc):
    match = re.search(r'localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', proc.stdout)
    assert match, proc.stdout + proc.stderr
    ok, changed, unreachable, failed = (int(group) for group in match.groups())
    return {'ok': ok, 'changed': changed, 'unreachable': unreachable, 'failed': failed}


def test_playbook_converges_reports_and_then_changes_nothing(domains, tmp_path):
    domains.define('desk', domain_xml)
    domains.define('live', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, VDAGENT, SPICE_GRAPHICS)), start=True)
    domains.define('kiosk', lambda n: domain_xml(n, devices=(VNC_GRAPHICS,)))
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {'localhost': {
        'ansible_connection': 'local',
        'ansible_python_interpreter': '/usr/bin/python3',
        'host_streaming_domains': [domains.prefix + '-*'],
        'host_streaming_backup_dir': str(tmp_path / 'backups'),
    }}}}))
    before = domains.snapshot()

    check = run_playbook(PLAYBOOK, str(inventory), check=True)
    assert recap(check) == {'ok': 3, 'changed': 1, 'unreachable': 0, 'failed': 0}, check.stdout
    assert domains.snapshot() == before

    first = run_playbook(PLAYBOOK, str(inventory))
    assert recap(first)['changed'] == 1 and recap(first)['failed'] == 0, first.stdout
    # The report names what changed, what waits for a cold start, and what was skipped.
    assert domains.name('desk') in first.stdout and 'waiting_for_cold_start' in first.stdout
    assert 'Hotplug unsupported' in first.stdout or 'hot-plugged' in first.stdout
    assert 'no SPICE graphics' in first.stdout
    assert len(os.listdir(tmp_path / 'backups')) == 2

    again_check = run_playbook(PLAYBOOK, str(inventory), check=True)
    assert recap(again_check)['changed'] == 0, again_check.stdout
    again = run_playbook(PLAYBOOK, str(inventory))
    assert recap(again)['changed'] == 0, again.stdout
    assert domains.conn.lookupByName(domains.name('live')).isActive()


def test_role_rejects_a_bad_mode_before_touching_anything(domains, tmp_path):
    domains.define('bad', domain_xml)
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {'localhost': {
        'ansible_connection': 'local',
        'ansible_python_interpreter': '/usr/bin/python3',
        'host_streaming_domains': [domains.prefix + '-*'],
        'host_streaming_mode': 'fast',
    }}}}))
    before = domains.snapshot()
    proc = run_playbook(PLAYBOOK, str(inventory))
    assert proc.returncode != 0
    assert 'host_streaming_mode' in proc.stdout and 'fast' in proc.stdout, proc.stdout
    assert domains.snapshot() == before
