# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The spice.streaming.desktops inventory plugin on the real libvirtd, through ansible-inventory.

Two hypervisors as test_fleet.py builds them: ``hvA`` over a local connection and ``hvB``
over real SSH (``qemu+ssh://root@127.0.0.1:PORT/system``, the loopback sshd of
tests/support/sshd.py, with its throw-away key and known_hosts given to ssh by a wrapper
named in the URI's ``command=``).  Both are the one libvirtd of this machine, so each
selects its own domains by pattern; the domain ``same`` is selected by both, which is what
a migration in flight or a copied template looks like to the inventory.  A third, ``hvC``,
points at a port where nothing listens.
"""

from __future__ import annotations

import json
import os
import subprocess

import libvirt
import pytest
import yaml
from lxml import etree

from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM_CHANNEL,
    VIRTIO_SERIAL,
    VNC_GRAPHICS,
    ansible_bin,
    ansible_env,
    domain_xml,
)
from tests.support.sshd import LoopbackSshd, free_loopback_port

STREAMING = (VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_GRAPHICS)
WINDOWS_METADATA = ("<metadata><libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>"
                    "<libosinfo:os id='http://microsoft.com/win/10'/></libosinfo:libosinfo></metadata>")

# label -> (devices, how it runs, head); 'cold' gets the channel in its definition once it runs.
LAYOUT = {
    'a-run': (STREAMING, 'running', ''),
    'a-off': (STREAMING, 'shut off', ''),
    'a-cold': ((VIRTIO_SERIAL, SPICE_GRAPHICS), 'running', ''),
    'a-vnc': ((VNC_GRAPHICS,), 'shut off', ''),
    'a-win': (STREAMING, 'running', WINDOWS_METADATA),
    'b-run': (STREAMING, 'running', ''),
    'b-paused': (STREAMING, 'paused', ''),
    'same': (STREAMING, 'shut off', ''),
}


class Fleet:
    def __init__(self, domains, sshd, workdir):
        self.domains = domains
        self.sshd = sshd
        self.workdir = workdir
        for label, (devices, how, head) in LAYOUT.items():
            dom = domains.define(label, lambda name, d=devices, h=head: domain_xml(name, devices=d, head=h))
            if how == 'running':
                dom.create()   # running, not paused: the guest play's streaming_guests are running ones
            elif how == 'paused':
                dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        cold = domains.conn.lookupByName(self.name('a-cold'))
        root = etree.fromstring(cold.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
        root.find('devices').append(etree.fromstring(STREAM_CHANNEL))
        domains.conn.defineXML(etree.tostring(root, encoding='unicode'))
        self.ssh_command = os.path.join(sshd.workdir, 'ssh-for-libvirt')
        with open(self.ssh_command, 'w', encoding='utf-8') as handle:
            handle.write('#!/bin/sh\n# ssh as an administrator sets it up for libvirt: the known host, the key.\n'
                         'exec ssh -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes '
                         '-o BatchMode=yes -i %s "$@"\n' % (sshd.known_hosts, sshd.client_key))
        os.chmod(self.ssh_command, 0o755)
        self.uri_a = 'qemu:///system'
        self.uri_b = 'qemu+ssh://root@127.0.0.1:%d/system?command=%s' % (sshd.port, self.ssh_command)
        self.uri_c = 'qemu+ssh://root@127.0.0.1:%d/system?command=%s' % (free_loopback_port(), self.ssh_command)

    def name(self, label):
        return self.domains.name(label)

    def selection(self, side):
        return [self.name(side + '-*'), self.name('same')]

    def hypervisors(self, unreadable=True):
        listed = [{'name': 'hvA', 'uri': self.uri_a, 'domains': self.selection('a')},
                  {'name': 'hvB', 'uri': self.uri_b, 'domains': self.selection('b')}]
        if unreadable:
            listed.append({'name': 'hvC', 'uri': self.uri_c, 'domains': self.selection('c')})
        return listed

    def source(self, folder, filename='fleet.spice_desktops.yml', **config):
        path = os.path.join(self.workdir, folder)
        os.makedirs(path, exist_ok=True)
        body = {'plugin': 'spice.streaming.desktops', 'guest_agent_timeout': 3, 'timeout': 60}
        body.update(config)
        with open(os.path.join(path, filename), 'w', encoding='utf-8') as handle:
            yaml.safe_dump(body, handle)
        return path


def _plain(value):
    return value['__ansible_unsafe'] if set(value) == {'__ansible_unsafe'} else value


class Run:
    def __init__(self, proc):
        self.proc = proc
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        # Values from hypervisors and guests are data, never templates: --list marks them so.
        self.data = json.loads(proc.stdout, object_hook=_plain) if proc.returncode == 0 and \
            proc.stdout.startswith('{') else None

    def __repr__(self):
        return 'Run(rc=%d)\nSTDOUT:\n%s\nSTDERR:\n%s' % (self.proc.returncode, self.stdout[-8000:], self.stderr[-6000:])

    @property
    def hostvars(self):
        return self.data['_meta']['hostvars']

    def group(self, name):
        return sorted(self.data.get(name, {}).get('hosts', []))


def inventory(path, *options, env=None):
    command = [ansible_bin('ansible-inventory'), '-i', path] + list(options or ['--list'])
    proc = subprocess.run(command, capture_output=True, text=True, env=env or ansible_env(), timeout=300, check=False)
    return Run(proc)


@pytest.fixture(scope='module')
def sshd():
    with LoopbackSshd() as server:
        yield server


@pytest.fixture(scope='module')
def fleet(module_domains, sshd, tmp_path_factory):
    return Fleet(module_domains, sshd, str(tmp_path_factory.mktemp('desktops')))


def test_list_and_graph_show_every_desktop_grouped_and_an_unreadable_hypervisor_warns(fleet):
    logins = fleet.sshd.accepted_logins()
    before = fleet.domains.snapshot()
    folder = fleet.source('explicit', hypervisors=fleet.hypervisors())
    run = inventory(folder)
    assert run.proc.returncode == 0, run
    n = fleet.name
    hosts = run.hostvars
    # One host per SPICE desktop; the VNC domain is none; 'same' once per hypervisor.
    assert set(hosts) == {n('a-run'), n('a-off'), n('a-cold'), n('a-win'), n('b-run'), n('b-paused'),
                          n('same'), n('same') + '~hvB'}, run
    assert hosts[n('b-run')]['stream_agent_domain'] == n('b-run')
    assert hosts[n('b-run')]['stream_agent_hypervisor'] == 'hvB'
    assert hosts[n('same')]['stream_agent_hypervisor'] == 'hvA'
    assert hosts[n('same') + '~hvB']['stream_agent_domain'] == n('same')
    assert hosts[n('same') + '~hvB']['stream_agent_hypervisor'] == 'hvB'
    assert fleet.sshd.accepted_logins() > logins, 'hvB is read over SSH: ' + fleet.sshd.log_tail()

    streaming = hosts[n('a-run')]['spice_streaming']
    assert streaming['state'] == 'running' and streaming['agent_channel_live'] is True
    assert streaming['agent_channel_state'] == 'disconnected' and streaming['restart_required'] == []
    cold = hosts[n('a-cold')]
    assert [gap['change'] for gap in cold['spice_streaming']['restart_required']] == ['agent_channel']
    assert 'next cold start' in cold['spice_desktop_reason'] and cold['spice_desktop_targeted'] is False
    # No guest agent in these domains: said so, no OS, no address, so no ansible_host.
    assert hosts[n('a-run')]['spice_desktop_guest_agent'].startswith('no answer: ')
    assert hosts[n('a-off')]['spice_desktop_guest_agent'] == 'not asked: the desktop is shut off'
    assert 'ansible_host' not in hosts[n('a-run')]
    win = hosts[n('a-win')]
    assert win['spice_desktop_os']['family'] == 'windows' and win['spice_desktop_os']['source'] == 'libosinfo'
    assert 'Windows' in win['spice_desktop_reason'] and win['spice_desktop_targeted'] is False

    assert run.group('streaming_guests') == sorted([n('a-run'), n('b-run')])
    assert run.group('streaming_agent_disconnected') == sorted(
        [n('a-run'), n('b-run'), n('a-win'), n('b-paused')])
    assert run.group('streaming_agent_connected') == []
    assert run.group('streaming_waiting_for_cold_start') == [n('a-cold')]
    assert run.group('streaming_shut_off') == sorted([n('a-off'), n('same'), n('same') + '~hvB'])
    assert run.group('streaming_paused') == [n('b-paused')]
    assert run.group('guest_os_windows') == [n('a-win')]
    assert n('a-win') not in run.group('streaming_guests')
    assert len(run.group('spice_desktops')) == 8
    assert hosts[n('b-paused')]['spice_desktop_reason'] == 'agent pending: desktop is paused'
    assert hosts[n('a-off')]['spice_desktop_reason'].startswith('agent pending: desktop is shut off')

    # The same name on both: the first listed keeps it (neither runs), a warning says so.
    warnings = ' '.join(run.stderr.split())
    assert "the domain '%s' is on 2 hypervisors (hvA, hvB)" % n('same') in warnings, run
    assert "'%s~hvB' the one on hvB" % n('same') in warnings, run
    # The unreadable hypervisor: a warning naming it and its URI; the others loaded.
    assert 'hypervisor hvC (%s) could not be read' % fleet.uri_c in warnings, run
    summary = hosts[n('a-run')]['spice_desktops_hypervisors']
    assert summary['hvA']['desktops'] == 5 and summary['hvB']['desktops'] == 3
    assert summary['hvC']['desktops'] == 0 and summary['hvC']['error']
    assert summary['hvB']['uri'] == fleet.uri_b

    graph = inventory(folder, '--graph')
    assert graph.proc.returncode == 0, graph
    assert '@streaming_guests:' in graph.stdout and '|--%s' % n('b-run') in graph.stdout, graph
    assert '|--%s~hvB' % n('same') in graph.stdout and n('a-vnc') not in graph.stdout, graph
    # Reading changed nothing.
    assert fleet.domains.snapshot() == before


def test_strict_makes_an_unreadable_hypervisor_an_error(fleet):
    folder = fleet.source('strict', hypervisors=fleet.hypervisors(), strict=True)
    run = inventory(folder)
    text = ' '.join((run.stdout + run.stderr).split())
    # ansible-inventory goes on without a source it could not parse; the error names hvC.
    assert run.data is None or fleet.name('a-run') not in run.hostvars, run
    assert 'hypervisor hvC (%s) could not be read' % fleet.uri_c in text, run
    assert 'strict is true' in text, run
    strict_env = ansible_env()
    strict_env['ANSIBLE_INVENTORY_UNPARSED_FAILED'] = 'True'
    assert inventory(folder, env=strict_env).proc.returncode != 0


def test_hypervisors_from_an_earlier_source_with_a_uri_template(fleet):
    folder = os.path.join(fleet.workdir, 'from-group')
    os.makedirs(os.path.join(folder, 'group_vars'), exist_ok=True)
    with open(os.path.join(folder, 'hosts.yml'), 'w', encoding='utf-8') as handle:
        yaml.safe_dump({'hypervisors': {'hosts': {
            # A local hypervisor says its URI; the SSH one has it made from its connection variables.
            'hvA': {'spice_desktops_uri': fleet.uri_a, 'host_streaming_domains': fleet.selection('a'),
                    'host_streaming_exclude': [fleet.name('a-win')]},
            'hvB': {'ansible_host': '127.0.0.1', 'ansible_port': fleet.sshd.port, 'ansible_user': 'root',
                    'host_streaming_domains': fleet.selection('b')},
        }}}, handle)
    with open(os.path.join(folder, 'group_vars', 'hypervisors.yml'), 'w', encoding='utf-8') as handle:
        yaml.safe_dump({'libvirt_ssh_command': fleet.ssh_command}, handle)
    template = ('qemu+ssh://{{ ansible_user }}@{{ ansible_host }}:{{ ansible_port }}/system'
                '?command={{ libvirt_ssh_command }}')
    fleet.source('from-group', filename='streaming.spice_desktops.yml', uri_template=template)
    run = inventory(folder)
    assert run.proc.returncode == 0, run
    n = fleet.name
    assert run.hostvars[n('b-run')]['stream_agent_hypervisor'] == 'hvB'
    assert run.hostvars[n('a-run')]['stream_agent_hypervisor'] == 'hvA'
    # host_streaming_exclude left the Windows desktop out on hvA.
    assert n('a-win') not in run.hostvars and n('a-off') in run.hostvars
    assert run.group('hypervisors') == ['hvA', 'hvB']
    summary = run.hostvars['hvA']['spice_desktops_hypervisors']
    assert summary['hvB']['uri'] == 'qemu+ssh://root@127.0.0.1:%d/system?command=%s' % (
        fleet.sshd.port, fleet.ssh_command)

    # A source that sorts before the one with the group: a clear error, not an empty inventory.
    # The one that sorts after it reads a hypervisor with a local connection at qemu:///system
    # (the default uri_template).
    early = fleet.source('from-group-early', filename='a.spice_desktops.yml')
    fleet.source('from-group-early', filename='z.spice_desktops.yml')
    with open(os.path.join(early, 'hosts.yml'), 'w', encoding='utf-8') as handle:
        yaml.safe_dump({'hypervisors': {'hosts': {'hvA': {
            'ansible_connection': 'local', 'host_streaming_domains': fleet.selection('a')}}}}, handle)
    run = inventory(early)
    text = ' '.join(run.stderr.split())
    assert "the inventory has no group 'hypervisors' yet" in text and 'alphabetical order' in text, run
    assert run.proc.returncode == 0 and run.hostvars[n('a-run')]['stream_agent_hypervisor'] == 'hvA', run
    assert run.hostvars[n('a-run')]['spice_desktops_hypervisors']['hvA']['uri'] == 'qemu:///system'


def test_compose_groups_and_keyed_groups(fleet):
    folder = fleet.source(
        'constructed', hypervisors=fleet.hypervisors(unreadable=False),
        compose={'ansible_host': "'127.0.0.1'", 'desk_label': "stream_agent_domain | upper"},
        groups={'needs_restart': 'spice_streaming.restart_required | length > 0'},
        keyed_groups=[{'key': 'stream_agent_hypervisor', 'prefix': 'hv'},
                      {'key': 'spice_desktop_os.family', 'prefix': 'family'}])
    run = inventory(folder)
    assert run.proc.returncode == 0, run
    n = fleet.name
    assert run.hostvars[n('a-run')]['ansible_host'] == '127.0.0.1'
    assert run.hostvars[n('a-run')]['desk_label'] == n('a-run').upper()
    assert run.group('needs_restart') == [n('a-cold')]
    assert run.group('hv_hvB') == sorted([n('b-run'), n('b-paused'), n('same') + '~hvB'])
    assert run.group('family_windows') == [n('a-win')]


def test_the_cache_answers_until_flushed(fleet):
    cache_dir = os.path.join(fleet.workdir, 'cache')
    folder = fleet.source('cached', hypervisors=fleet.hypervisors(unreadable=False), cache=True,
                          cache_plugin='ansible.builtin.jsonfile', cache_connection=cache_dir, cache_timeout=600)
    first = inventory(folder)
    assert first.proc.returncode == 0 and fleet.name('a-new') not in first.hostvars, first
    assert os.listdir(cache_dir), 'the read was cached'
    fleet.domains.define('a-new', lambda name: domain_xml(name, devices=STREAMING))
    cached = inventory(folder)
    assert cached.proc.returncode == 0 and cached.hostvars == first.hostvars, cached
    flushed = inventory(folder, '--list', '--flush-cache')
    assert flushed.proc.returncode == 0 and fleet.name('a-new') in flushed.hostvars, flushed
    # Another fleet in the same source file is never answered from the old one's cache.
    fleet.source('cached', hypervisors=fleet.hypervisors(unreadable=False)[:1], cache=True,
                 cache_plugin='ansible.builtin.jsonfile', cache_connection=cache_dir, cache_timeout=600)
    other = inventory(folder)
    assert other.proc.returncode == 0 and fleet.name('b-run') not in other.hostvars, other
    fleet.domains.conn.lookupByName(fleet.name('a-new')).undefine()
