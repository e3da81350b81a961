# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/enable_streaming.yml with the host_streaming role, as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess

import yaml

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    VDAGENT,
    VIRTIO_SERIAL,
    VNC_GRAPHICS,
    ansible_bin,
    ansible_env,
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
    assert recap(check)['changed'] == 1 and recap(check)['failed'] == 0, check.stdout
    assert domains.snapshot() == before

    first = run_playbook(PLAYBOOK, str(inventory))
    assert recap(first)['changed'] == 1 and recap(first)['failed'] == 0, first.stdout
    # The summary counts (enable_streaming.yml runs the role without its closing lines, which
    # would say the same); the lines the action plugin prints name what waits for a cold start
    # (the running domain's streaming mode) and what was skipped, and why.
    assert 'hypervisors: 1 (1 done); domains: 3 selected, none restarted or failed' in first.stdout, first.stdout
    for line in ('domains changed: 2 (', 'domains waiting for a cold start: 1 (%s;' % domains.name('live'),
                 'domains left alone: 1 ('):
        assert '\n' + line in first.stdout, (line, first.stdout)
    assert ': 3 domains selected:' not in first.stdout, first.stdout
    assert re.search(r'^localhost: 1 waits for a cold start: %s \(streaming mode(, stream channel)?\); set '
                     r'host_streaming_restart=when_needed to restart it$' % re.escape(domains.name('live')),
                     first.stderr, re.M), first.stderr
    assert 'localhost: 1 skipped: %s (no SPICE graphics' % domains.name('kiosk') in first.stderr, first.stderr
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


def _inventory(tmp_path, **host_vars):
    values = {'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3'}
    values.update(host_vars)
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {'localhost': values}}}))
    return str(inventory)


def test_null_from_the_command_line_leaves_that_part_alone(domains, tmp_path):
    """-e host_streaming_mode=null (a string), JSON null, and an empty value all mean: leave it."""
    domains.define('keep', lambda n: domain_xml(n).replace(
        "<listen type='none'/>", "<listen type='none'/>\n      <streaming mode='all'/>"))
    name = domains.name('keep')
    inventory = _inventory(tmp_path, host_streaming_domains=[name], host_streaming_backup=False)
    for extra in ('host_streaming_mode=null', '{"host_streaming_mode": null}', 'host_streaming_mode='):
        proc = subprocess.run([ansible_bin('ansible-playbook'), '-i', inventory, PLAYBOOK, '-e', extra],
                              capture_output=True, text=True, env=ansible_env(), timeout=600, check=False)
        assert recap(proc)['failed'] == 0, proc.stdout + proc.stderr
        xml = domains.inactive_xml(name)
        assert "<streaming mode='all'/>" in xml, (extra, xml)
        assert "<channel type='spiceport'>" in xml
    # And the channel the same way, with the mode asked for.
    proc = subprocess.run([ansible_bin('ansible-playbook'), '-i', inventory, PLAYBOOK, '-e',
                           '{"host_streaming_agent_channel": null, "host_streaming_mode": "off"}'],
                          capture_output=True, text=True, env=ansible_env(), timeout=600, check=False)
    assert recap(proc)['failed'] == 0, proc.stdout
    assert "<streaming mode='off'/>" in domains.inactive_xml(name)


def test_the_role_needs_the_domains_named(domains, tmp_path):
    domains.define('untouched', domain_xml)
    before = domains.snapshot()
    proc = run_playbook(PLAYBOOK, _inventory(tmp_path))
    assert recap(proc)['failed'] == 1, proc.stdout
    assert 'host_streaming_domains' in proc.stdout, proc.stdout
    assert domains.snapshot() == before


def test_overrides_take_the_modules_streaming_mode_key_and_its_mode_alias(domains, tmp_path):
    """The module documents overrides[].streaming_mode (alias mode): the role takes both."""
    for label in ('desk', 'kiosk', 'lobby'):
        domains.define(label, domain_xml)
    inventory = _inventory(tmp_path, host_streaming_domains=[domains.prefix + '-*'], host_streaming_backup=False,
                           host_streaming_overrides=[
                               {'name': [domains.name('kiosk')], 'streaming_mode': 'off'},
                               {'name': [domains.name('lobby')], 'mode': 'all'},
                               # A typo and an entry the first one shadows: warned about.
                               {'name': [domains.prefix + '-kiosk1'], 'mode': 'all'},
                               {'name': [domains.prefix + '-k*'], 'mode': 'all'}])
    proc = run_playbook(PLAYBOOK, inventory)
    assert recap(proc)['failed'] == 0, proc.stdout + proc.stderr
    modes = {label: domains.inactive_xml(domains.name(label)) for label in ('desk', 'kiosk', 'lobby')}
    assert "<streaming mode='filter'/>" in modes['desk']
    assert "<streaming mode='off'/>" in modes['kiosk']
    assert "<streaming mode='all'/>" in modes['lobby']
    output = ' '.join((proc.stdout + proc.stderr).split())
    # Through the role, the warnings name the role's variable (issue 16, item 5).
    assert ("host_streaming_overrides #3 (name '%s-kiosk1') matches none of the 3 selected domains"
            % domains.prefix) in output, output
    assert "Did you mean '%s'?" % domains.name('kiosk') in output
    assert "that host_streaming_domains and host_streaming_exclude select the domain" in output, output
    assert "host_streaming_overrides #4 (name '%s-k*') changes nothing" % domains.prefix in output
    assert 'matched first by host_streaming_overrides #1' in output, output

    # Both keys in one entry: refused by the role's validation, nothing changed.
    before = domains.snapshot()
    both = _inventory(tmp_path, host_streaming_domains=[domains.prefix + '-*'], host_streaming_backup=False,
                      host_streaming_overrides=[{'name': [domains.name('kiosk')], 'streaming_mode': 'all',
                                                 'mode': 'off'}])
    proc = run_playbook(PLAYBOOK, both)
    assert recap(proc)['failed'] == 1, proc.stdout
    assert 'mutually exclusive: streaming_mode|mode' in proc.stdout, proc.stdout
    assert domains.snapshot() == before


DISABLE = os.path.join(REPO_ROOT, 'playbooks', 'disable_streaming.yml')


def compression_of(xml):
    graphics = re.search(r"<graphics type='spice'.*?</graphics>", xml, re.S).group(0)
    return dict(re.findall(r"<(image|jpeg|zlib|playback) compression='(\w+)'/>", graphics))


def test_compression_from_the_inventory_and_disable_leaves_it(domains, tmp_path):
    """host_streaming_*_compression (null: leave it) with overrides; disable_streaming.yml keeps them."""
    for label in ('desk', 'kiosk'):
        domains.define(label, domain_xml)
    desk, kiosk = domains.name('desk'), domains.name('kiosk')
    settings = dict(host_streaming_domains=[domains.prefix + '-*'], host_streaming_backup=False,
                    host_streaming_image_compression='auto_lz', host_streaming_jpeg_compression='never',
                    host_streaming_overrides=[{'name': [kiosk], 'image_compression': 'quic'}])
    inventory = _inventory(tmp_path, **settings)
    first = run_playbook(PLAYBOOK, inventory)
    assert recap(first)['failed'] == 0 and recap(first)['changed'] == 1, first.stdout + first.stderr
    # zlib and playback are null by default: nothing written for them.
    assert compression_of(domains.inactive_xml(desk)) == {'image': 'auto_lz', 'jpeg': 'never'}
    assert compression_of(domains.inactive_xml(kiosk)) == {'image': 'quic', 'jpeg': 'never'}
    again = run_playbook(PLAYBOOK, inventory)
    assert recap(again)['changed'] == 0, again.stdout

    # disable_streaming.yml: streaming off, compression left as it is, even when the inventory
    # now says something else for it (that is for enable_streaming.yml).
    elsewhere = {**settings, 'host_streaming_image_compression': 'glz'}
    disabled = run_playbook(DISABLE, _inventory(tmp_path, **elsewhere))
    assert recap(disabled)['failed'] == 0 and recap(disabled)['changed'] == 1, disabled.stdout + disabled.stderr
    for name, image in ((desk, 'auto_lz'), (kiosk, 'quic')):
        xml = domains.inactive_xml(name)
        assert "<streaming mode='off'/>" in xml and "<channel type='spiceport'>" not in xml
        assert compression_of(xml) == {'image': image, 'jpeg': 'never'}

    # A value outside the choices is refused by the role, naming the variable; nothing changes.
    before = domains.snapshot()
    bad = run_playbook(PLAYBOOK, _inventory(tmp_path, **dict(settings, host_streaming_zlib_compression='fast')))
    assert recap(bad)['failed'] == 1, bad.stdout
    assert 'host_streaming_zlib_compression' in bad.stdout and 'fast' in bad.stdout, bad.stdout
    assert domains.snapshot() == before
