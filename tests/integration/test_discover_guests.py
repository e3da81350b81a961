# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/enable_streaming.yml with streaming_discover_guests: the desktops come from the hypervisors.

The hypervisors are the real local libvirtd (connection local), read with the real
libvirt_domain_info; the desktops are its real domains, running (not paused: the guest play acts
on running desktops), shut off, paused, one with Windows in its libosinfo metadata, one without
SPICE.  No guest OS boots: where the play connects to a found desktop,
``streaming_discover_compose`` points it at the controller itself (connection local, the way a
user points it at a port forward) or at a closed port on 127.0.0.1 (a desktop that does not
answer).  The guest side on a real guest, found the same way, is in
tests/integration/guest/test_e2e_streaming.py.

The fleet test stands twenty desktops on four simulated hypervisors, as test_fleet.py does:
four inventory hosts, each selecting its own domains on the one libvirtd.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import libvirt
import yaml

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM_CHANNEL,
    VIRTIO_SERIAL,
    VNC_GRAPHICS,
    ansible_bin,
    ansible_env,
    domain_xml,
)
from tests.support.sshd import free_loopback_port

PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'enable_streaming.yml')
STREAMING = (VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_GRAPHICS)
WINDOWS_METADATA = ("<metadata><libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>"
                    "<libosinfo:os id='http://microsoft.com/win/10'/></libosinfo:libosinfo></metadata>")
TITLE = 'spice.streaming summary of enable_streaming.yml'


class Run:
    """One ansible-playbook run: its output, recap and closing summary."""

    def __init__(self, proc):
        self.proc = proc
        self.stdout = proc.stdout
        self.text = ' '.join((proc.stdout + proc.stderr).split())
        self.recap = {}
        for host, counts in re.findall(r'^(\S+)\s+: (ok=.*)$', proc.stdout, re.M):
            self.recap[host] = {key: int(value) for key, value in (item.split('=') for item in counts.split())}

    def __repr__(self):
        return 'Run(rc=%d)\nSTDOUT:\n%s\nSTDERR:\n%s' % (self.proc.returncode, self.stdout[-15000:],
                                                         self.proc.stderr[-4000:])

    @property
    def summary(self):
        """The summary's lines: from its title to the first blank line or result line."""
        lines = self.stdout.splitlines()
        assert lines.count(TITLE) == 1, self
        start = lines.index(TITLE)
        end = start + 1
        while end < len(lines) and lines[end].strip() and not re.match(r'^(ok|changed|skipping): \[', lines[end]):
            end += 1
        return lines[start:end]

    def line(self, label):
        found = [line for line in self.summary if line.strip().startswith(label + ':')]
        assert len(found) == 1, (label, self.summary)
        return found[0]

    def contacted(self, host):
        return host in self.recap


def play(inventory, *options, quiet=False):
    env = ansible_env()
    if quiet:
        env['ANSIBLE_DISPLAY_OK_HOSTS'] = 'false'
    command = [ansible_bin('ansible-playbook'), '-i', inventory, PLAYBOOK] + list(options)
    return Run(subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False))


def local(**values):
    values.update({'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3'})
    return values


def define(domains, label, devices=STREAMING, how='running', head=''):
    dom = domains.define(label, lambda name: domain_xml(name, devices=devices, head=head))
    if how == 'running':
        dom.create()   # running, not paused
    elif how == 'paused':
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
    return domains.name(label)


def write(tmp_path, inventory, name='inventory.yml'):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def compose(answering, closed_port):
    """Desktops named in ``answering`` are the controller itself; the others a closed port."""
    return {
        'ansible_connection': "'local' if stream_agent_domain in %s else 'ssh'" % json.dumps(sorted(answering)),
        'ansible_host': "'127.0.0.1'",
        'ansible_port': str(closed_port),
        'ansible_user': "'nobody'",
        'ansible_python_interpreter': "'/usr/bin/python3'",
        'ansible_ssh_common_args': "'-o ConnectTimeout=5 -o BatchMode=yes'",
    }


def test_found_desktops_shut_off_not_contacted_unreachable_named_and_one_summary(domains, tmp_path):
    """Issue 15: with a plain hypervisor inventory, the running desktops are found and acted on;
    the shut-off one is never contacted and is listed as pending; the one that does not answer
    is named with the reason while the others go on; a hand-written guest beside them is left as
    it is.  The same run with ANSIBLE_DISPLAY_OK_HOSTS=false still shows the summary."""
    run_ = define(domains, 'run')
    dead = define(domains, 'dead')
    off = define(domains, 'off', how='shut off')
    paused = define(domains, 'paused', how='paused')
    win = define(domains, 'win', head=WINDOWS_METADATA)
    vnc = define(domains, 'vnc', devices=(VNC_GRAPHICS,), how='shut off')
    hand = define(domains, 'hand')
    package = tmp_path / 'spice-streaming-agent_0.3-1_amd64.deb'
    package.write_bytes(b'only its path is planned')
    closed = free_loopback_port()
    inventory = write(tmp_path, {
        'hypervisors': {'hosts': {'localhost': local(
            host_streaming_domains=[domains.prefix + '-*'], host_streaming_backup=False,
            host_streaming_install_prerequisites=False, streaming_discover_guests=True,
            streaming_discover_compose=compose([run_, hand], closed))}},
        # Hand-written: this host stands for domain 'hand', so discovery leaves that domain to it.
        'streaming_guests': {'hosts': {'hand-guest': local(stream_agent_domain=hand,
                                                           stream_agent_hypervisor='localhost')},
                             'vars': {'stream_agent_package': str(package)}},
    })
    before_off = domains.snapshot()[off]

    run = play(inventory)

    # The unreachable desktop ends as UNREACHABLE, after the summary (ansible-playbook: rc 4).
    assert run.proc.returncode == 4, run
    assert run.recap[dead]['unreachable'] == 1 and run.recap[dead]['failed'] == 0, run
    assert run.stdout.index(TITLE) < run.stdout.rindex('fatal: [%s]: UNREACHABLE!' % dead), run
    # Found and acted on: 'run' was planned, and fails in the guest play as a real desktop
    # without the stream port would (the controller has none), saying what the host side did.
    assert run.recap[run_]['failed'] == 1, run
    assert re.search(r'Guest %s \(domain %s, on hypervisor localhost\) has no /dev/virtio-ports/'
                     % (re.escape(run_), re.escape(run_)), run.text), run
    # Shut off, paused, Windows, not SPICE: never contacted (not hosts at all).
    for name in (off, paused, win, vnc):
        assert not run.contacted(name), (name, run)
    assert domains.snapshot()[off][0] != before_off[0]   # the host side did converge it
    # The hand-written guest went its usual way, and its domain got no second host.
    assert run.recap['hand-guest']['failed'] == 1 and not run.contacted(hand), run

    assert run.summary[0] == TITLE and len(run.summary) <= 15, run.summary
    assert run.line('hypervisors') == 'hypervisors: 1 (1 done); domains: 7 selected, none restarted or failed'
    assert run.line('domains left alone') == 'domains left alone: 1 (%s (no SPICE graphics: it cannot carry a ' \
                                             'spiceport channel or a streaming mode))' % vnc
    assert run.line('desktops').startswith('desktops: 6 in this run, 3 of them for a later run'), run.summary
    assert run.line('agent pending') == '  agent pending: 2 (%s (desktop is shut off); %s (desktop is paused))' % (
        off, paused) or run.line('agent pending') == '  agent pending: 2 (%s (desktop is paused); %s (desktop is ' \
                                                     'shut off))' % (paused, off), run.summary
    assert run.line('unreachable') == ('  unreachable: 1 (%s (Failed to connect to the host via ssh: ssh: connect to '
                                       'host 127.0.0.1 port %d: Connection refused))' % (dead, closed)), run.summary
    assert run.line('failed').startswith('  failed: 2 ('), run.summary
    assert run.line('not for the agent') == '  not for the agent: 1 (%s (Windows guest))' % win

    # Quiet output (ok results hidden): the summary still shows, whole.
    quiet = play(inventory, quiet=True)
    assert quiet.proc.returncode == 4, quiet
    assert 'ok: [' not in quiet.stdout, quiet
    assert quiet.line('unreachable') == run.line('unreachable') and quiet.line('agent pending') == \
        run.line('agent pending'), quiet

    # The verify play alone: the desktop that does not answer is named, the others are checked.
    verify = play(inventory, '--tags', 'verify')
    assert verify.proc.returncode == 4, verify
    assert verify.recap[dead]['unreachable'] == 1, verify
    assert re.search(r'ok: \[%s\] => \{ "msg": "not connected: ' % re.escape(run_), verify.text), verify
    assert verify.line('unreachable').startswith('  unreachable: 1 (%s (' % dead), verify.summary
    assert verify.line('agent not connected').startswith('  agent not connected: 2 ('), verify.summary


def test_no_desktop_to_configure_is_one_clear_line(domains, tmp_path):
    """An empty guest selection says so, and why, in one line: not only ansible-core's
    'Could not match supplied host pattern'."""
    off = define(domains, 'off', how='shut off')
    define(domains, 'off2', how='shut off')
    hypervisor = local(host_streaming_domains=[domains.prefix + '-*'], host_streaming_backup=False,
                       host_streaming_install_prerequisites=False)
    plain = write(tmp_path, {'hypervisors': {'hosts': {'localhost': hypervisor}}}, 'plain.yml')

    run = play(plain)
    assert run.proc.returncode == 0, run
    assert run.line('desktops') == (
        'desktops: no desktop to configure on localhost: group streaming_guests is empty and '
        'streaming_discover_guests is not true: set it to find the desktops on the hypervisors, or list them in '
        'group streaming_guests'), run.summary

    found = write(tmp_path, {'hypervisors': {'hosts': {'localhost': dict(hypervisor, streaming_discover_guests=True)}}},
                  'found.yml')
    run = play(found, quiet=True)
    assert run.proc.returncode == 0, run
    assert run.line('desktops') == ('desktops: no desktop to configure on localhost: no desktop found can take the '
                                    'agent now (desktop is shut off: 2)'), run.summary
    assert run.line('agent pending').startswith('  agent pending: 2 (desktop is shut off: %s' % off), run.summary
    assert 'PLAY [Install and enable spice-streaming-agent in the desktops] ' in run.stdout
    assert 'skipping: no hosts matched' in run.stdout, run


def test_a_twenty_domain_fleet_sums_up_in_at_most_fifteen_lines(domains, tmp_path):
    """Issue 16, item 3: four simulated hypervisors, twenty domains (started paused, as a big
    fleet's desktops cost nothing here), a few running desktops that do not answer, a Windows one;
    with ok results hidden the summary is all there, under 15 lines, names cut to 'and N more'."""
    closed = free_loopback_port()
    hosts = {}
    for number in range(1, 5):
        hv = 'hv%d' % number
        for index in range(5):
            how = 'paused' if index < 3 else 'shut off'
            define(domains, '%s-d%d' % (hv, index), how=how)
        hosts[hv] = local(host_streaming_domains=[domains.name(hv + '-*')], host_streaming_backup=False,
                          host_streaming_install_prerequisites=False, streaming_discover_guests=True,
                          streaming_discover_compose=compose([], closed))
    # On hv1: two running desktops that do not answer, and a running Windows one (selected by hv1's pattern).
    define(domains, 'hv1-run-a')
    define(domains, 'hv1-run-b')
    define(domains, 'hv1-win', head=WINDOWS_METADATA)
    inventory = write(tmp_path, {'hypervisors': {'hosts': hosts}})

    run = play(inventory, quiet=True)
    assert run.proc.returncode == 4, run
    summary = run.summary
    # Every kind of outcome that happened has its line; those that did not share the first one.
    assert len(summary) <= 15, '\n'.join(summary)
    assert run.line('hypervisors') == 'hypervisors: 4 (4 done); domains: 23 selected, none restarted, failed or left alone'
    assert run.line('domains waiting for a cold start').startswith('domains waiting for a cold start: 15 ('), summary
    assert re.match(r'domains changed: 23 \(\S+ on hv1, \S+ on hv1, \S+ on hv1 and 20 more\)$',
                    run.line('domains changed')), summary
    assert run.line('agent pending').startswith('  agent pending: 20 (desktop is paused: '), summary
    assert 'and 9 more' in run.line('agent pending'), summary
    assert run.line('unreachable').startswith('  unreachable: 2 ('), summary
    assert run.line('not for the agent') == '  not for the agent: 1 (%s on hv1 (Windows guest))' % domains.name(
        'hv1-win'), summary
    # At most three names a group and two groups a line, whatever the number of desktops.
    assert all(line.count(domains.prefix) <= 6 for line in summary), summary
