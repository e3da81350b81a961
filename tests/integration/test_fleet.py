# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet rollout: playbooks/enable_streaming.yml over several hypervisors, one over SSH.

Four inventory hosts stand for four hypervisors.  Each selects its own disjoint set of
domains on the local libvirtd (``host_streaming_domains``); hv1 to hv3 use a local
connection, hv4 a real SSH connection to an sshd the test runs on 127.0.0.1 with
throw-away keys (tests/support/sshd.py).  The domains are shared by the tests of this
module and put back to their first definitions before each test, so every test starts
from the same fleet.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

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
from tests.support.sshd import LoopbackSshd

ENABLE = os.path.join(REPO_ROOT, 'playbooks', 'enable_streaming.yml')
DISABLE = os.path.join(REPO_ROOT, 'playbooks', 'disable_streaming.yml')
REPORT = os.path.join(REPO_ROOT, 'playbooks', 'streaming_report.yml')
PLAY_BANNER = 'PLAY [Make the hypervisors ready and bring their SPICE domains to the streaming state]'
HOSTS = ('hv1', 'hv2', 'hv3', 'hv4')
SSH_HOST = 'hv4'


def _spice(name):
    return domain_xml(name, devices=(VIRTIO_SERIAL, VDAGENT, SPICE_GRAPHICS))


def _vnc(name):
    return domain_xml(name, devices=(VNC_GRAPHICS,))


# host -> [(label, factory, started)]: shut-off desktops everywhere, a running diskless
# desktop on hv1 and on hv4 (the SSH one) for restarts, a kiosk on hv3 for overrides,
# and a VNC domain that every run must leave alone.
LAYOUT = {
    'hv1': [('desk', _spice, False), ('run', _spice, True), ('vnc', _vnc, False)],
    'hv2': [('desk-a', _spice, False), ('desk-b', _spice, False)],
    'hv3': [('desk', _spice, False), ('kiosk', _spice, False)],
    'hv4': [('desk', _spice, False), ('run', _spice, True)],
}
RUNNING = ('hv1-run', 'hv4-run')


class Fleet:
    """The four hypervisors' domains, the sshd, the inventories, and the playbook runner."""

    def __init__(self, domains, sshd, workdir):
        self.domains = domains
        self.sshd = sshd
        self.workdir = workdir
        self.original = {}
        for host, entries in LAYOUT.items():
            for label, factory, started in entries:
                dom = domains.define('%s-%s' % (host, label), factory)
                if started:
                    # Running, not paused: a guest that could hear the ACPI button (it has no OS
                    # to act on it, so the restart path with force_off is what runs).
                    dom.create()
                name = domains.name('%s-%s' % (host, label))
                self.original[name] = domains.inactive_xml(name)
        self.inventory = self.write_inventory('inventory.yml')

    def name(self, label):
        return self.domains.name(label)

    def pattern(self, host):
        return self.domains.name(host) + '-*'

    def names(self, host):
        return [self.name('%s-%s' % (host, label)) for label, _factory, _started in LAYOUT[host]]

    def host_vars(self, host):
        if host == SSH_HOST:
            values = dict(self.sshd.ansible_host_vars())
        else:
            # The prerequisites (facts, then the package module over apt's cache) cost about 6 s a
            # host and run; hv4, over SSH, installs them as a real hypervisor does, the others not.
            values = {'ansible_connection': 'local', 'host_streaming_install_prerequisites': False}
        values.update({
            'ansible_python_interpreter': '/usr/bin/python3',
            'host_streaming_domains': [self.pattern(host)],
            'host_streaming_backup_dir': os.path.join(self.workdir, 'backups-%s' % host),
        })
        if host == 'hv3':
            values['host_streaming_overrides'] = [{'name': ['*-kiosk'], 'mode': 'off'}]
        return values

    def write_inventory(self, filename, **changes):
        hosts = {host: self.host_vars(host) for host in HOSTS}
        for host, values in changes.items():
            hosts[host].update(values)
        path = os.path.join(self.workdir, filename)
        with open(path, 'w', encoding='utf-8') as handle:
            yaml.safe_dump({'hypervisors': {'hosts': hosts}}, handle)
        return path

    def reset(self):
        """Every domain back to its first definition; running ones back to their first live state."""
        conn = self.domains.conn
        for name, xml in self.original.items():
            dom = conn.lookupByName(name)
            if self.domains.inactive_xml(name) != xml:
                conn.defineXML(xml)
            if dom.isActive() and STREAM in dom.XMLDesc(0):
                dom.destroy()
                dom.create()

    def snapshot(self, host):
        state = self.domains.snapshot()
        return {name: value for name, value in state.items() if name in self.names(host)}

    def play(self, playbook, *options, inventory=None, extra_vars=None, check=False):
        command = [ansible_bin('ansible-playbook'), '-i', inventory or self.inventory, playbook]
        if check:
            command += ['--check', '--diff']
        if extra_vars:
            command += ['-e', json.dumps(extra_vars)]
        command += list(options)
        proc = subprocess.run(command, capture_output=True, text=True, env=ansible_env(), timeout=900,
                              check=False, cwd=self.workdir)
        return PlayRun(proc)

    # ------------------------------------------------------------ what libvirt holds

    def inactive(self, label):
        return self.domains.inactive_xml(self.name(label))

    def live(self, label):
        return self.domains.live_xml(self.name(label))


class PlayRun:
    def __init__(self, proc):
        self.proc = proc
        self.stdout = proc.stdout
        # What the collection's action plugins print as the run goes (progress, what waits).
        self.stderr = proc.stderr
        self.recap = {}
        for host, ok, changed, unreachable, failed in re.findall(
                r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', proc.stdout, re.M):
            self.recap[host] = {'ok': int(ok), 'changed': int(changed), 'unreachable': int(unreachable),
                                'failed': int(failed)}

    def __repr__(self):
        return 'PlayRun(rc=%d)\nSTDOUT:\n%s\nSTDERR:\n%s' % (
            self.proc.returncode, self.proc.stdout[-20000:], self.proc.stderr[-3000:])

    def changed(self, host):
        return self.recap[host]['changed']

    def failed(self, host):
        return self.recap[host]['failed'] + self.recap[host]['unreachable']


@pytest.fixture(scope='module')
def sshd():
    with LoopbackSshd() as server:
        yield server


@pytest.fixture(scope='module')
def fleet_state(module_domains, sshd, tmp_path_factory):
    return Fleet(module_domains, sshd, str(tmp_path_factory.mktemp('fleet')))


@pytest.fixture
def fleet(fleet_state):
    fleet_state.reset()
    return fleet_state


def converged(xml, mode='filter'):
    return xml.count("<channel type='spiceport'>") == 1 and "<streaming mode='%s'/>" % mode in xml


def disabled(xml):
    return "<channel type='spiceport'>" not in xml and "<streaming mode='off'/>" in xml


def test_limit_changes_only_that_hypervisor(fleet):
    before = {host: fleet.snapshot(host) for host in HOSTS}
    run = fleet.play(ENABLE, '--limit', 'hv2')
    assert run.proc.returncode == 0, run
    assert set(run.recap) == {'hv2'} and run.changed('hv2') == 1, run
    assert all(converged(fleet.inactive(label)) for label in ('hv2-desk-a', 'hv2-desk-b'))
    for host in ('hv1', 'hv3', 'hv4'):
        assert fleet.snapshot(host) == before[host], host


def test_a_failing_hypervisor_stops_the_later_batches(fleet):
    """streaming_max_fail_percentage: hv2 names a domain that does not exist, in the first batch."""
    missing = fleet.name('hv2-missing')
    inventory = fleet.write_inventory('inventory-failing.yml',
                                      hv2={'host_streaming_domains': [fleet.pattern('hv2'), missing]})
    before = {host: fleet.snapshot(host) for host in HOSTS}
    run = fleet.play(ENABLE, inventory=inventory,
                     extra_vars={'streaming_serial': 2, 'streaming_max_fail_percentage': 25})
    assert run.proc.returncode != 0, run
    # Batch 1 (hv1, hv2) ran: hv1 converged, hv2 failed before it changed anything.
    assert run.changed('hv1') == 1 and run.failed('hv1') == 0, run
    assert run.failed('hv2') == 1, run
    assert "no domain named '%s'" % missing in run.stdout and 'nothing was changed' in run.stdout, run
    assert fleet.snapshot('hv2') == before['hv2']
    assert converged(fleet.inactive('hv1-desk'))
    # Batch 2 (hv3, hv4) never began.
    assert 'hv3' not in run.recap and 'hv4' not in run.recap, run
    assert run.stdout.count(PLAY_BANNER) == 1, run
    for host in ('hv3', 'hv4'):
        assert fleet.snapshot(host) == before[host], host


def test_rollout_over_the_fleet(fleet):
    """Check, converge, idempotence, serial, tags, overrides, disable, enable with restarts, report."""
    logins = fleet.sshd.accepted_logins()
    before = {host: fleet.snapshot(host) for host in HOSTS}

    # Check mode: every hypervisor would change, and nothing does.
    check = fleet.play(ENABLE, check=True)
    assert check.proc.returncode == 0, check
    assert all(check.changed(host) == 1 for host in HOSTS), check
    assert re.search(r"^\+.*<streaming mode=.filter./>", check.stdout, re.M), check   # the diff
    assert {host: fleet.snapshot(host) for host in HOSTS} == before
    assert fleet.sshd.accepted_logins() > logins, 'hv4 is reached over SSH: ' + fleet.sshd.log_tail()

    # The real run: every hypervisor converges its own domains and nothing else.
    first = fleet.play(ENABLE)
    assert first.proc.returncode == 0, first
    assert all(first.changed(host) == 1 and first.failed(host) == 0 for host in HOSTS), first
    for host in HOSTS:
        for label in ('desk', 'desk-a', 'desk-b', 'run'):
            if fleet.name('%s-%s' % (host, label)) in fleet.original:
                assert converged(fleet.inactive('%s-%s' % (host, label))), (host, label)
    # The kiosk on hv3 gets its override: the channel, but mode off.
    assert converged(fleet.inactive('hv3-kiosk'), mode='off')
    assert fleet.inactive('hv1-vnc') == fleet.original[fleet.name('hv1-vnc')]
    # Running desktops were not restarted: their change waits for a cold start (the default).
    for label in RUNNING:
        assert fleet.domains.conn.lookupByName(fleet.name(label)).state()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert STREAM not in fleet.live(label)
        host = label.split('-', maxsplit=1)[0]
        assert re.search(r'^%s: 1 waits for a cold start: %s \(' % (host, re.escape(fleet.name(label))),
                         first.stderr, re.M), first

    # Again, in check mode and for real: nothing to do anywhere.
    again_check = fleet.play(ENABLE, check=True)
    assert again_check.proc.returncode == 0 and all(again_check.changed(h) == 0 for h in HOSTS), again_check
    # One hypervisor at a time (four batches, each its own play banner), host side only (tags).
    serial = fleet.play(ENABLE, '--tags', 'hypervisors', extra_vars={'streaming_serial': 1})
    assert serial.proc.returncode == 0 and all(serial.changed(h) == 0 for h in HOSTS), serial
    assert serial.stdout.count(PLAY_BANNER) == 4, serial
    # Each batch's play, up to the next play (the summary play runs on hv1 at the end).
    batches = [re.findall(r'^ok: \[(hv\d)\]', chunk.split('\nPLAY [', 1)[0], re.M)
               for chunk in serial.stdout.split(PLAY_BANNER)[1:]]
    assert [sorted(set(hosts)) for hosts in batches] == [[host] for host in HOSTS], serial

    # Disable: mode off and no channel everywhere (the kiosk included), the VNC domain alone.
    off = fleet.play(DISABLE)
    assert off.proc.returncode == 0 and all(off.changed(h) == 1 for h in HOSTS), off
    for name in fleet.original:
        if name != fleet.name('hv1-vnc'):
            assert disabled(fleet.domains.inactive_xml(name)), name
    assert fleet.inactive('hv1-vnc') == fleet.original[fleet.name('hv1-vnc')]

    # Enable again, and this time make it take effect on the running desktops of hv1 and hv4
    # (over SSH): they ignore ACPI (no OS), so they are forced off after 2 s and started.
    restart = {'host_streaming_restart': 'when_needed', 'host_streaming_force_off': True,
               'host_streaming_shutdown_timeout': 2, 'host_streaming_restart_batch': 5}
    disabled_state = {host: fleet.snapshot(host) for host in HOSTS}
    preview = fleet.play(ENABLE, extra_vars=restart, check=True)
    assert preview.proc.returncode == 0 and all(preview.changed(h) == 1 for h in HOSTS), preview
    would = re.findall(r'^hv\d: 1 would be restarted: (\S+) \(a real run', preview.stderr, re.M)
    assert sorted(would) == sorted(fleet.name(label) for label in RUNNING), preview
    assert {host: fleet.snapshot(host) for host in HOSTS} == disabled_state
    on = fleet.play(ENABLE, extra_vars=restart)
    assert on.proc.returncode == 0 and all(on.changed(h) == 1 for h in HOSTS), on
    for label in RUNNING:
        dom = fleet.domains.conn.lookupByName(fleet.name(label))
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING, label
        live = fleet.live(label)
        assert "name='%s'" % STREAM in live and "<streaming mode='filter'/>" in live, label
    # Each restart batch says what it does as it goes, on hv4 over SSH too (one run of the
    # module to converge, one per batch).
    for label in RUNNING:
        host = label.split('-', maxsplit=1)[0]
        assert re.search(r'^%s: restart batch 1/1: shutting down %s \(ACPI; each gets up to 2 s, then is forced '
                         r'off\)' % (host, re.escape(fleet.name(label))), on.stderr, re.M), on
        assert re.search(r'^%s: restart batch 1/1 done in \d+ s: restarted and checked %s$'
                         % (host, re.escape(fleet.name(label))), on.stderr, re.M), on
    assert converged(fleet.inactive('hv3-kiosk'), mode='off')
    settled = fleet.play(ENABLE, extra_vars=restart)
    assert settled.proc.returncode == 0 and all(settled.changed(h) == 0 for h in HOSTS), settled

    # The report over the same inventory shows the whole fleet, the restarted desktops first.
    report_dir = os.path.join(fleet.workdir, 'report')
    report = fleet.play(REPORT, extra_vars={'streaming_report_dir': report_dir})
    assert report.proc.returncode == 0, report
    total = sum(len(entries) for entries in LAYOUT.values())
    # Compared with what the same inventory asks: everything as asked but the domain left alone.
    assert '%d domains on 4 hypervisors; %d compliant, 0 waiting, 0 not compliant; 2 with a stream channel no ' \
           'agent holds, 0 waiting for a cold start, 0 with problems, 0 named but not found, 1 left alone.' \
           % (total, total - 1) in report.stdout, report
    with open(os.path.join(report_dir, 'report.md'), encoding='utf-8') as handle:
        markdown = handle.read()
    for host in HOSTS:
        assert '### %s (ok)' % host in markdown
    attention = markdown.split('## Needs attention', 1)[1].split('## Domains per hypervisor', 1)[0]
    first_group = attention.split('### ', 2)[1]
    assert first_group.startswith('Stream channel not held by an agent (2)'), attention
    assert fleet.name('hv1-run') in first_group and fleet.name('hv4-run') in first_group
