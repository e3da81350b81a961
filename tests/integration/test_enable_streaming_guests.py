# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/enable_streaming.yml with desktops: they are planned before their hypervisors act.

The hypervisor is the real local libvirtd (localhost, connection local); the desktops are
inventory hosts of group ``streaming_guests`` that the controller itself plays (connection
local, the controller's real facts: Debian 12), or that do not answer (SSH to a closed port
on 127.0.0.1, as a shut-off desktop).  No guest VM boots: what is proved here is the order of
the plays and what each tells the next, which needs no guest OS; the role's guest side is
tested on a real guest in tests/integration/guest/.
"""

from __future__ import annotations

import os
import re
import socket

import yaml

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import SPICE_GRAPHICS, VIRTIO_SERIAL, domain_xml, run_playbook

PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'enable_streaming.yml')
PORT = '/dev/virtio-ports/org.spice-space.stream.0'


def recap(proc):
    """{host: {ok, changed, unreachable, failed, ...}} from the PLAY RECAP."""
    counts = {}
    for line in proc.stdout.splitlines():
        match = re.match(r'^(\S+)\s+: (ok=.*)$', line)
        if match:
            counts[match.group(1)] = {key: int(value) for key, value in
                                      (item.split('=') for item in match.group(2).split())}
    assert counts, proc.stdout + proc.stderr
    return counts


def closed_port():
    """A port on 127.0.0.1 that nothing listens on: SSH to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _controller_is_debian_12():
    with open('/etc/os-release', encoding='utf-8') as handle:
        release = dict(line.rstrip('\n').split('=', 1) for line in handle if '=' in line)
    return release.get('ID') == 'debian' and release.get('VERSION_ID', '').strip('"') == '12'


def _local(**host_vars):
    values = {'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3'}
    values.update(host_vars)
    return values


def _unreachable(**host_vars):
    values = {'ansible_connection': 'ssh', 'ansible_host': '127.0.0.1', 'ansible_port': closed_port(),
              'ansible_user': 'nobody', 'ansible_ssh_common_args': '-o ConnectTimeout=5 -o BatchMode=yes'}
    values.update(host_vars)
    return values


def _write(tmp_path, inventory):
    path = tmp_path / 'inventory.yml'
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def _with_virtio_serial(name):
    return domain_xml(name, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS))


def test_a_desktop_whose_plan_refuses_is_neither_redefined_nor_restarted(domains, tmp_path):
    """Issue 14, item 25: vp8 on a Debian 12 desktop with host_streaming_restart when_needed.
    Before, the hypervisor play redefined and restarted the running desktop, then the guest play
    refused in its plan.  Now the plan comes first and the hypervisor leaves that domain out.
    Beside it: a desktop whose plan passes but whose guest side fails later (no stream port)
    is told what its hypervisor already did, and a desktop that does not answer keeps today's
    behaviour on the host side."""
    domains.define('desk', _with_virtio_serial, start=True)
    domains.define('good', domain_xml)
    domains.define('off', domain_xml)
    desk, good, off = domains.name('desk'), domains.name('good'), domains.name('off')
    package = tmp_path / 'spice-streaming-agent_0.3-1_amd64.deb'
    package.write_bytes(b'only its path is planned')
    guest_vars = {'stream_agent_hypervisor': 'localhost', 'stream_agent_package': str(package)}
    inventory = _write(tmp_path, {
        'hypervisors': {'hosts': {'localhost': _local(
            host_streaming_domains=[domains.prefix + '-*'], host_streaming_restart='when_needed',
            host_streaming_shutdown_timeout=5, host_streaming_backup=False)}},
        'streaming_guests': {'hosts': {
            'desk-guest': _local(stream_agent_domain=desk, stream_agent_codec='vp8', **guest_vars),
            'good-guest': _local(stream_agent_domain=good, **guest_vars),
            'off-guest': _unreachable(stream_agent_domain=off, **guest_vars),
        }},
    })
    before = domains.snapshot()
    qemu_before = domains.qemu_cmdline(desk)

    proc = run_playbook(PLAYBOOK, inventory, timeout=900)
    output = ' '.join((proc.stdout + proc.stderr).split())
    counts = recap(proc)
    assert proc.returncode != 0, output

    # The refused desktop: failed in the planning play, its domain untouched and still running
    # the same QEMU process.
    assert counts['desk-guest']['failed'] == 1, counts
    if _controller_is_debian_12():
        assert 'stream_agent_codec vp8 cannot work there' in output, output
    assert ('Nothing was changed. So domain %s is left out on hypervisor localhost: its definition is not'
            ' changed and it is not restarted. Fix this desktop\'s input' % desk) in output, output
    assert domains.snapshot()[desk] == before[desk]
    assert domains.qemu_cmdline(desk) == qemu_before
    assert domains.conn.lookupByName(desk).isActive()

    # The other desktops' domains were converged as before.
    assert "<channel type='spiceport'>" in domains.inactive_xml(good)
    assert "<channel type='spiceport'>" in domains.inactive_xml(off)

    # The desktop the plan let through fails in the guest play (the controller has no stream
    # port), saying what its hypervisor already did.
    assert counts['good-guest']['failed'] == 1, counts
    assert re.search(r'Guest good-guest \(domain %s, on hypervisor localhost\) has no %s: .* Nothing was changed\.'
                     r' On hypervisor localhost, the host side had already changed domain %s \(added'
                     % (re.escape(good), re.escape(PORT), re.escape(good)), output), output

    # The desktop that does not answer did not stop the planning play.
    assert 'off-guest (domain %s) does not answer, so it cannot be planned' % off in output, output
    assert counts['off-guest']['unreachable'] == 1 and counts['off-guest']['failed'] == 0, counts


def test_check_mode_leaves_out_the_refused_desktop_too(domains, tmp_path):
    """The same plan in check mode: the hypervisor's closing line counts only the other domain."""
    domains.define('desk', domain_xml)
    domains.define('good', domain_xml)
    desk = domains.name('desk')
    inventory = _write(tmp_path, {
        'hypervisors': {'hosts': {'localhost': _local(host_streaming_domains=[domains.prefix + '-*'],
                                                      host_streaming_backup=False)}},
        # No package for a Debian 12 desktop: its plan refuses whatever the codec.
        'streaming_guests': {'hosts': {'desk-guest': _local(stream_agent_domain=desk,
                                                            stream_agent_hypervisor='localhost')}},
    })
    before = domains.snapshot()
    proc = run_playbook(PLAYBOOK, inventory, check=True, tags='hypervisors')
    output = ' '.join((proc.stdout + proc.stderr).split())
    assert recap(proc)['desk-guest']['failed'] == 1, output
    assert ('So domain %s is left out on hypervisor localhost: its definition is not changed' % desk) in output, output
    # The hypervisor did not select it: of the two domains, only the other one would change.
    assert 'hypervisors: 1 (1 done); domains: 1 selected, none waiting for a cold start, would be restarted, ' \
        'failed or left alone' in output, output
    assert 'domains that would change: 1 (' in output, output
    assert domains.snapshot() == before


def test_verify_says_cannot_check_for_an_unknown_or_silent_hypervisor(domains, tmp_path):
    """Issue 14, item 23: a typo in stream_agent_hypervisor made the verify play SSH into a host
    that does not exist, and the desktop vanished from the sum-up."""
    domains.define('known', domain_xml)
    known = domains.name('known')
    inventory = _write(tmp_path, {
        # The role's argument check runs with every tag: the hypervisors get their one required input.
        'hypervisors': {'hosts': {'localhost': _local(), 'hv-silent': _unreachable()},
                        'vars': {'host_streaming_domains': [known]}},
        'streaming_guests': {'hosts': {
            'typo-guest': _local(stream_agent_domain=known, stream_agent_hypervisor='lcoalhost'),
            'silent-guest': _local(stream_agent_domain=known, stream_agent_hypervisor='hv-silent'),
            'known-guest': _local(stream_agent_domain=known, stream_agent_hypervisor='localhost'),
        }},
    })
    proc = run_playbook(PLAYBOOK, inventory, tags='verify')
    output = ' '.join((proc.stdout + proc.stderr).split())
    counts = recap(proc)
    assert proc.returncode == 0, output
    assert all(counts[host]['unreachable'] == 0 and counts[host]['failed'] == 0
               for host in ('typo-guest', 'silent-guest', 'known-guest')), counts
    assert "ok: [typo-guest] => { \"msg\": \"cannot check domain %s: stream_agent_hypervisor 'lcoalhost' is not a" \
           " host of this inventory\" }" % known in output, output
    assert re.search(r'ok: \[silent-guest\] => \{ "msg": "cannot check domain %s on hv-silent: [^"]*Failed to connect'
                     % re.escape(known), output), output
    assert 'ok: [known-guest] => { "msg": "not connected: the running domain %s on localhost has no stream channel' \
        % known in output, output
    # The fleet summary counts them (the verify play's own sum-up per desktop is gone: one summary).
    assert re.search(r' agent not checked: 2 \((typo|silent)-guest \(cannot check domain %s[^;]*; (silent|typo)-guest'
                     % re.escape(known), output), output
    assert ' agent not connected: 1 (known-guest (the running domain %s on localhost has no stream channel' % known \
        in output, output


def test_a_desktop_that_does_not_answer_ends_nothing_for_the_others(domains, tmp_path):
    """Issue 15: a powered-off desktop in a hand-written streaming_guests ended the run as UNREACHABLE
    before the verify play, and when every other desktop failed too, nothing came after the guest
    play.  Now it is named with the reason in the summary, the verify play and the summary run, and it
    still ends as unreachable (the recap and the exit code say so, as before)."""
    domains.define('off', domain_xml)
    domains.define('desk', domain_xml)
    off, desk = domains.name('off'), domains.name('desk')
    inventory = _write(tmp_path, {
        'hypervisors': {'hosts': {'localhost': _local(host_streaming_domains=[domains.prefix + '-*'],
                                                      host_streaming_backup=False,
                                                      host_streaming_install_prerequisites=False)}},
        'streaming_guests': {'hosts': {
            'off-guest': _unreachable(stream_agent_domain=off, stream_agent_hypervisor='localhost'),
            # No package for a Debian 12 desktop (nor for any other the role refuses): it fails.
            'desk-guest': _local(stream_agent_domain=desk, stream_agent_hypervisor='localhost'),
        }},
    })
    proc = run_playbook(PLAYBOOK, inventory)
    output = ' '.join((proc.stdout + proc.stderr).split())
    counts = recap(proc)
    assert proc.returncode != 0, output
    assert counts['off-guest']['unreachable'] == 1 and counts['off-guest']['failed'] == 0, counts
    assert counts['desk-guest']['failed'] == 1, counts
    # Every desktop failed in the guest play, and the plays after it still ran.
    assert "PLAY [Check from the hypervisors that each desktop's agent holds its stream port]" in proc.stdout
    assert re.search(r' unreachable: 1 \(off-guest \(Failed to connect to the host via ssh: ssh: connect to host '
                     r'127\.0\.0\.1 port \d+: Connection refused\)\)', output), output
    assert ' failed: 1 (desk-guest (' in output, output
    # It ends as unreachable after the summary, with the reason.
    assert proc.stdout.index('spice.streaming summary of enable_streaming.yml') < \
        proc.stdout.rindex('fatal: [off-guest]: UNREACHABLE!'), output
