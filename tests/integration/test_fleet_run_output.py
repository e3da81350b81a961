# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run says to a person (issue 16, items 1-7): a fleet that reads well.

Twenty inventory hosts stand for twenty hypervisors, as tests/integration/test_fleet.py
builds its fleet: each selects its own domains on the local libvirtd with a local
connection.  The output is counted in lines with Ansible's default output and with ok
hosts hidden (``ANSIBLE_DISPLAY_OK_HOSTS=false``); what waits for a cold start, what was
skipped, what was restarted and what failed must show in both.  Restarts print their
progress batch by batch while the task runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

import libvirt
import pytest
import yaml

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM,
    VDAGENT,
    VIRTIO_SERIAL,
    VNC_GRAPHICS,
    ansible_bin,
    ansible_env,
    domain_xml,
)

ENABLE = os.path.join(REPO_ROOT, 'playbooks', 'enable_streaming.yml')
HYPERVISORS = ['hv%02d' % index for index in range(1, 21)]
QUIET = {'ANSIBLE_DISPLAY_OK_HOSTS': 'false'}


def _spice(name):
    return domain_xml(name, devices=(VIRTIO_SERIAL, VDAGENT, SPICE_GRAPHICS))


def _vnc(name):
    return domain_xml(name, devices=(VNC_GRAPHICS,))


class Run:
    def __init__(self, proc):
        self.proc = proc
        self.stdout, self.stderr = proc.stdout, proc.stderr
        self.lines = (proc.stdout + proc.stderr).splitlines()
        self.text = ' '.join((proc.stdout + proc.stderr).split())

    def __repr__(self):
        return 'Run(rc=%d, %d lines)\nSTDOUT:\n%s\nSTDERR:\n%s' % (
            self.proc.returncode, len(self.lines), self.stdout[-15000:], self.stderr[-5000:])


def play(inventory, *options, env=None, extra_vars=None):
    command = [ansible_bin('ansible-playbook'), '-i', inventory, ENABLE, *options]
    if extra_vars:
        command += ['-e', json.dumps(extra_vars)]
    environment = ansible_env()
    environment.update(env or {})
    return Run(subprocess.run(command, capture_output=True, text=True, env=environment, timeout=900,
                              check=False, cwd=os.path.dirname(inventory)))


def write_inventory(path, hosts):
    with open(path, 'w', encoding='utf-8') as handle:
        yaml.safe_dump({'hypervisors': {'hosts': hosts}}, handle)
    return str(path)


def local_host(domains, label, workdir, **values):
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3',
            'host_streaming_install_prerequisites': False,
            'host_streaming_domains': [domains.name(label) + '-*'],
            'host_streaming_backup_dir': os.path.join(workdir, 'backups-%s' % label)}
    host.update(values)
    return host


@pytest.fixture(scope='module')
def fleet(module_domains, tmp_path_factory):
    """Two shut-off desktops per hypervisor; hv01 also a VNC domain (skipped), hv02 a running desktop."""
    workdir = str(tmp_path_factory.mktemp('output'))
    for host in HYPERVISORS:
        for label in ('desk-a', 'desk-b'):
            module_domains.define('%s-%s' % (host, label), _spice)
    module_domains.define('hv01-vnc', _vnc)
    module_domains.define('hv02-run', _spice).create()
    hosts = {host: local_host(module_domains, host, workdir) for host in HYPERVISORS}
    inventory = write_inventory(os.path.join(workdir, 'inventory.yml'), hosts)
    first = play(inventory)
    assert first.proc.returncode == 0, first
    return module_domains, inventory, first


def test_a_fleet_run_that_changes_nothing_prints_at_most_100_lines(fleet):
    domains, inventory, first = fleet
    # The first run changes every hypervisor: each says what it changed, in one line.
    assert re.search(r'^hv05: 2 changed: %s, %s \(' % (domains.name('hv05-desk-a'), domains.name('hv05-desk-b')),
                     first.stderr, re.M), first
    again = play(inventory)
    assert again.proc.returncode == 0, again
    assert 'changed=1' not in again.stdout, again
    # Was 251 lines (454 with waiting desktops): three skipped tasks and a report of about 12
    # lines per hypervisor. Now: a line per hypervisor where something needs attention, as it
    # happens, and the fleet summary (the play runs the role without its closing lines, which
    # would say the same); no task of its own for the variable check.
    assert len(again.lines) <= 100, again
    assert 'skipping: [hv' not in again.stdout, again
    assert 'hypervisors: 20 (20 done); domains: 42 selected, none changed, restarted or failed' in again.stdout, again
    assert ('domains waiting for a cold start: 1 (%s on hv02; host_streaming_restart=when_needed restarts them)'
            % domains.name('hv02-run')) in again.stdout, again
    assert 'domains left alone: 1 (%s on hv01 (no SPICE graphics' % domains.name('hv01-vnc') in again.stdout, again


def test_with_ok_hosts_hidden_what_waits_and_what_was_skipped_still_shows(fleet):
    domains, inventory, _first = fleet
    quiet = play(inventory, env=QUIET)
    assert quiet.proc.returncode == 0, quiet
    # Before, a desktop waiting for a cold start printed nothing here.
    assert re.search(r'^hv02: 1 waits for a cold start: %s \(streaming mode, stream channel\); set '
                     r'host_streaming_restart=when_needed to restart it$' % re.escape(domains.name('hv02-run')),
                     quiet.stderr, re.M), quiet
    assert re.search(r'^hv01: 1 skipped: %s \(no SPICE graphics' % re.escape(domains.name('hv01-vnc')),
                     quiet.stderr, re.M), quiet
    assert len(quiet.lines) <= 60, quiet


def test_nothing_selected_ends_with_how_many_and_why(fleet, tmp_path):
    """Item 1: a mistyped pattern ended green with 'every selected domain is already in the asked state'."""
    domains, _inventory, _first = fleet
    typo = domains.name('hv01') + '-dsek-*'
    inventory = write_inventory(tmp_path / 'typo.yml', {
        'hv01': local_host(domains, 'hv01', str(tmp_path), host_streaming_domains=[typo])})
    for env in (None, QUIET):
        run = play(inventory, env=env)
        assert run.proc.returncode == 0, run
        assert 'already in the asked state' not in run.text, run
        assert "hv01: 0 domains selected: no domain matches '%s'" % typo in run.text, run


def test_a_misspelled_variable_and_an_ignored_serial_are_warned_about(fleet, tmp_path):
    """Items 2 and 7: host_streaming_mod was ignored without a word, and streaming_serial in group_vars."""
    domains, _inventory, _first = fleet
    hosts = {host: local_host(domains, host, str(tmp_path)) for host in ('hv03', 'hv04')}
    hosts['hv03']['host_streaming_mod'] = 'all'
    path = tmp_path / 'inventory.yml'
    with open(path, 'w', encoding='utf-8') as handle:
        yaml.safe_dump({'hypervisors': {'hosts': hosts, 'vars': {'streaming_serial': 1}}}, handle)
    run = play(str(path))
    assert run.proc.returncode == 0, run
    assert ('[WARNING]: host_streaming_mod is set (for hv03) but spice.streaming has no variable of that name, so '
            'it has no effect: did you mean host_streaming_mode?') in run.text, run
    assert ('streaming_serial is 1 (for all 2 hosts), yet this play runs 2 hosts at once: it has no effect '
            'here.') in run.text, run
    # Given with -e, it takes effect, and nothing is said.
    serial = play(str(path), extra_vars={'streaming_serial': 1})
    assert serial.proc.returncode == 0 and 'streaming_serial is' not in serial.text, serial
    assert serial.stdout.count('PLAY [Make the hypervisors ready') == 2, serial


def test_a_bad_mode_is_one_short_message(fleet, tmp_path):
    """Item 6: 'must be one of: off, all, filter, null, , got: ALL' and the whole spec, per host."""
    domains, _inventory, _first = fleet
    before = domains.snapshot()
    inventory = write_inventory(tmp_path / 'bad.yml', {
        'hv05': local_host(domains, 'hv05', str(tmp_path), host_streaming_mode='ALL'),
        'hv06': local_host(domains, 'hv06', str(tmp_path), host_streaming_mode=False)})
    run = play(inventory)
    assert run.proc.returncode != 0, run
    fatal = [line for line in run.stdout.splitlines() if line.startswith('fatal: ')]
    assert len(fatal) == 2, run
    assert ("fatal: [hv05]: FAILED! => {\"changed\": false, \"msg\": \"host_streaming_mode is 'ALL': it must be "
            "one of off, all, filter, or null to leave the streaming mode as it is (did you mean 'all'?). Nothing was "
            "changed on hv05.\"}") in fatal, run
    assert "YAML reads a bare off as false: write 'off', quoted" in fatal[1] or \
        "YAML reads a bare off as false: write 'off', quoted" in fatal[0], run
    assert all(len(line) < 400 for line in fatal) and 'argument_spec_data' not in run.stdout, run
    assert domains.snapshot() == before


def test_role_messages_name_the_role_variables(fleet, tmp_path):
    """Item 5: 'set unfit_domains=skip' through the role is 'set host_streaming_unfit_domains=skip'."""
    domains, _inventory, _first = fleet
    inventory = write_inventory(tmp_path / 'unfit.yml', {
        'hv01': local_host(domains, 'hv01', str(tmp_path),
                           host_streaming_domains=[domains.name('hv01-vnc'), domains.name('hv01-desk-a')])})
    run = play(inventory)
    assert run.proc.returncode != 0, run
    assert ('Fix them, leave them out with host_streaming_exclude, or set host_streaming_unfit_domains=skip to '
            'converge the others') in run.text, run
    assert not re.search(r'(?<!host_streaming_)\b(exclude|unfit_domains)\b', run.text.split('fatal: [hv01]')[1]), run


def _read_lines(stream, into):
    for line in stream:
        into.append((time.monotonic(), line.rstrip('\n')))


def test_restarts_show_progress_per_batch_as_it_happens(domains, tmp_path):
    """Item 4: a restart batch was silent for minutes, then reported all at once.

    Two running desktops that ignore the ACPI request (no OS) fill the first batch; a
    paused one is the second. With a 34 s shutdown timeout the first batch says, after
    30 s, which desktops it still waits for and for how long at most; then each batch says
    what it came to, each line printed when it happens, with ok hosts hidden.
    """
    for label in ('a-slow', 'b-slow', 'c-paused'):
        domains.define(label, _spice, start=(label == 'c-paused'))
    for label in ('a-slow', 'b-slow'):
        domains.conn.lookupByName(domains.name(label)).create()
    names = [domains.name(label) for label in ('a-slow', 'b-slow', 'c-paused')]
    inventory = write_inventory(tmp_path / 'restart.yml', {'hv01': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3',
        'host_streaming_install_prerequisites': False, 'host_streaming_domains': [domains.prefix + '-*'],
        'host_streaming_backup_dir': str(tmp_path / 'backups'), 'host_streaming_restart': 'when_needed',
        'host_streaming_force_off': True, 'host_streaming_shutdown_timeout': 34,
        'host_streaming_restart_batch': 2}})
    environment = ansible_env()
    environment.update(QUIET)
    started = time.monotonic()
    proc = subprocess.Popen([ansible_bin('ansible-playbook'), '-i', inventory, ENABLE], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment)
    lines = []
    reader = threading.Thread(target=_read_lines, args=(proc.stderr, lines))
    reader.start()
    stdout = proc.stdout.read()
    proc.wait(timeout=600)
    reader.join()
    ended = time.monotonic()
    said = {text: when - started for when, text in lines}
    output = '\n'.join(text for _when, text in lines)
    assert proc.returncode == 0, stdout + output

    start_1 = 'hv01: restart batch 1/2: shutting down %s, %s (ACPI; each gets up to 34 s, then is forced off), ' \
              'then starting and checking them' % (names[0], names[1])
    waiting = [text for text in said if text.startswith('hv01: restart batch 1/2: 0 shut down after 3')]
    done_1 = [text for text in said if text.startswith('hv01: restart batch 1/2 done in ')]
    start_2 = 'hv01: restart batch 2/2: shutting down %s (ACPI; each gets up to 34 s, then is forced off), ' \
              'then starting and checking them' % names[2]
    done_2 = [text for text in said if text.startswith('hv01: restart batch 2/2 done in ')]
    assert start_1 in said and start_2 in said and waiting and done_1 and done_2, output
    assert waiting[0].endswith('waiting for %s, %s (up to 4 s more)' % (names[0], names[1])) or \
        re.search(r'waiting for %s, %s \(up to [0-4] s more\)$' % (re.escape(names[0]), re.escape(names[1])),
                  waiting[0]), output
    assert done_1[0].endswith('restarted and checked %s, %s' % (names[0], names[1])), output
    assert done_2[0].endswith('restarted and checked %s' % names[2]), output
    # In order, and each when it happened: the waiting line half a minute after the batch
    # began, the first batch's end long before the run ended.
    order = [said[start_1], said[waiting[0]], said[done_1[0]], said[start_2], said[done_2[0]]]
    assert order == sorted(order), lines
    assert 25 <= said[waiting[0]] - said[start_1] <= 60, lines
    assert said[done_1[0]] >= said[start_1] + 34, lines
    assert ended - started - said[waiting[0]] >= 5, lines
    for name in names[:2]:
        live = domains.live_xml(name)
        assert "name='%s'" % STREAM in live and "<streaming mode='filter'/>" in live
    assert domains.conn.lookupByName(names[2]).state()[0] == libvirt.VIR_DOMAIN_PAUSED
