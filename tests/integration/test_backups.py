# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups of spice.streaming.libvirt_domain on the real libvirtd: any valid domain name, and a
backup_dir that cannot take them (a read-only mount, made in a mount namespace of the run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from xml.sax.saxutils import escape

from tests.support import libvirt_env
from tests.support.libvirt_env import URI, domain_xml, run_module

MODULE = 'spice.streaming.libvirt_domain'
ENABLE = {'streaming_mode': 'filter', 'agent_channel': 'present'}
# Everything libvirt's QEMU driver allows in a name but '/', which it refuses.
ODD = " <img src=x onerror=alert(1)> & 'q' \"qq\" *|? "


def _long_name(domains, length):
    return domains.name(ODD + 'x' * (length - len(domains.name(ODD))))


def test_a_domain_with_the_longest_name_libvirt_allows_is_changed_with_its_backup(domains, tmp_path):
    """Item 15: 'could not write its backup ... (File name too long)' for a valid name."""
    label = _long_name(domains, 247)[len(domains.prefix) + 1:]
    domains.define(label, lambda n: domain_xml(escape(n)))
    name = domains.name(label)
    assert len(name.encode()) == 247
    original = domains.inactive_xml(name)
    backup_dir = tmp_path / 'backups'
    run = run_module(MODULE, {'uri': URI, 'name': [name], 'backup': True, 'backup_dir': str(backup_dir),
                              **ENABLE})
    assert not run.failed and run.result['changed_domains'] == [name], run
    path = run.result['backup_files'][name]
    assert os.path.dirname(path) == str(backup_dir) and len(os.path.basename(path)) < 130
    assert domains.conn.lookupByName(name).UUIDString() in os.path.basename(path)
    with open(path, encoding='utf-8') as handle:
        assert handle.read() == original
    assert "type='spiceport'" in domains.inactive_xml(name)


def _run_module_on_a_read_only_mount(mount_point, module_args, check=False):
    """The module as a playbook task runs it, in a private mount namespace where ``mount_point``
    is a read-only tmpfs; nothing outside the namespace sees the mount."""
    workdir = tempfile.mkdtemp(prefix='sst-ro-')
    try:
        playbook = os.path.join(workdir, 'run.yml')
        result_file = os.path.join(workdir, 'result.json')
        with open(playbook, 'w', encoding='utf-8') as handle:
            handle.write(libvirt_env._RUN_PLAYBOOK.format(module=MODULE, become=''))
        command = libvirt_env._playbook_command(playbook, 'localhost,', check, False, {
            'module_args': module_args, 'result_file': result_file,
            'ansible_python_interpreter': libvirt_env.SYSTEM_PYTHON})
        proc = subprocess.run(
            ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
             'mount -t tmpfs -o ro,size=1m sst-ro "$0" && exec "$@"', mount_point] + command,
            capture_output=True, text=True, env=libvirt_env.ansible_env(), timeout=300, check=False)
        assert os.path.exists(result_file), proc.stdout + proc.stderr
        with open(result_file, encoding='utf-8') as handle:
            return json.load(handle)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_read_only_backup_dir_says_it_is_read_only(domains, tmp_path):
    """Item 16: as root, a read-only mount was called 'not writable by the user the task runs as;
    run the task as root (become: true)'."""
    domains.define('ro', domain_xml)
    name = domains.name('ro')
    mount_point = tmp_path / 'ro-mount'
    mount_point.mkdir()
    before = domains.snapshot()
    for backup_dir, check in ((mount_point, False), (mount_point, True), (mount_point / 'backups', False)):
        result = _run_module_on_a_read_only_mount(str(mount_point), {
            'uri': URI, 'name': [name], 'backup': True, 'backup_dir': str(backup_dir), **ENABLE}, check=check)
        msg = result['msg']
        assert result.get('failed') and not result.get('changed'), result
        assert msg.startswith('nothing was changed') and 'backup_dir %s on ' % backup_dir in msg, msg
        assert 'read-only file system' in msg and '%s is mounted read-only' % mount_point in msg, msg
        assert 'become' not in msg and 'remount it read-write' in msg, msg
    assert domains.snapshot() == before
    # Outside the namespace the directory never was read-only.
    assert os.listdir(str(mount_point)) == []
