# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proof on a real Debian 12 guest under the real libvirtd: one boot for the whole module.

The domain is defined without a stream channel; ``spice.streaming.libvirt_domain`` adds it
before the first start.  In the guest: the stand-in agent installed from its ``.deb`` with
apt, the stream port made usable by its udev rule, a real X session (Xvfb + ``dex -a``)
running the autostart entry, and the host's live XML showing the channel ``connected``,
then ``disconnected`` when the session ends.  Then Xorg on QXL (what the host-encoding
tests need), a guest script named on the kernel command line, and a clean ACPI shutdown.
The guest also has the QEMU guest agent's channel: the desktops inventory plugin reads its
OS and address through it.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from tests.support.libvirt_env import URI, ansible_bin, ansible_env, run_module
from tests.support.stand_in_agent.build_deb import build_deb

PORT = '/dev/virtio-ports/org.spice-space.stream.0'
EVENTS = '/tmp/spice-streaming-agent-test-double-1000.jsonl'   # the session user desk, uid 1000
AUTOSTART = '/etc/xdg/autostart/spice-streaming.desktop'
BOOT_TIMEOUT = 600   # TCG on a loaded 2-core machine; the harness returns as soon as it is up
# qemu-guest-agent's port; libvirt picks the socket on the host side.
GUEST_AGENT_CHANNEL = """<channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>"""
# What QEMU user networking gives the guest: reachable from inside the guest only.
USER_NET_ADDRESS = '10.0.2.15'


@pytest.fixture(scope='module')
def guest(module_guest_vms):
    vm = module_guest_vms.new('agent', cmdline_extra=['e2e.run=selftest'], extra_devices=[GUEST_AGENT_CHANNEL])
    run = run_module('spice.streaming.libvirt_domain',
                     {'uri': URI, 'name': [vm.name], 'agent_channel': 'present'})
    assert not run.failed and run.changed, run
    vm.start()
    vm.wait_ssh(BOOT_TIMEOUT)
    return vm


def _events(vm):
    text = vm.ssh('cat %s 2>/dev/null || true' % EVENTS).stdout
    return [json.loads(line) for line in text.splitlines()]


def test_the_module_gave_the_guest_its_stream_port(guest):
    assert guest.channel_state() == 'disconnected'
    assert guest.spice_port and guest.spice_port > 0
    listing = guest.ssh('readlink -f %s' % PORT).stdout.strip()
    assert listing.startswith('/dev/vport'), listing


def _desktops_inventory(folder, guest, compose=None):
    config = {'plugin': 'spice.streaming.desktops', 'hypervisors': [{'name': 'local', 'uri': URI}],
              'domains': [guest.name], 'guest_agent_timeout': 10}
    if compose:
        config['compose'] = compose
    folder.mkdir(exist_ok=True)
    with open(folder / 'guest.spice_desktops.yml', 'w', encoding='utf-8') as handle:
        yaml.safe_dump(config, handle)
    proc = subprocess.run([ansible_bin('ansible-inventory'), '-i', str(folder), '--list'], capture_output=True,
                          text=True, env=ansible_env(), timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    # Values read from hypervisors and guests are marked as data, never templates.
    data = json.loads(proc.stdout, object_hook=lambda value: value['__ansible_unsafe']
                      if set(value) == {'__ansible_unsafe'} else value)
    return data, data['_meta']['hostvars'].get(guest.name)


def test_desktops_inventory_reads_the_guest_agent_and_reaches_the_guest_through_compose(guest, tmp_path):
    """The real qemu-guest-agent reports the OS and the user-network address; the test never
    connects to that address: it shows it, then reaches the guest by compose on 127.0.0.1."""
    deadline = time.monotonic() + 120
    while True:   # the agent answers some seconds after boot
        data, host = _desktops_inventory(tmp_path / 'plain', guest)
        if host['spice_desktop_guest_agent'] == 'answered' or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert host['spice_desktop_guest_agent'] == 'answered', host
    assert host['spice_desktop_os']['family'] == 'linux' and host['spice_desktop_os']['source'] == 'guest_agent'
    assert host['spice_desktop_os']['id'] == 'debian' and host['spice_desktop_os']['version_id'] == '12', host
    assert host['spice_desktop_os']['kernel_release'], host
    agent = [entry for entry in host['spice_desktop_addresses'] if entry['source'] == 'agent']
    assert USER_NET_ADDRESS in [entry['address'] for entry in agent], host
    assert all(entry['interface'] != 'lo' for entry in host['spice_desktop_addresses'])
    assert host['ansible_host'] == USER_NET_ADDRESS      # shown, never connected to
    assert guest.name in data['streaming_guests']['hosts'] and guest.name in data['guest_os_linux']['hosts']

    compose = {'ansible_host': '"127.0.0.1"', 'ansible_port': str(guest.ssh_port), 'ansible_user': '"root"',
               'ansible_ssh_private_key_file': json.dumps(guest.private_key),
               'ansible_ssh_common_args': '"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"',
               'ansible_python_interpreter': '"/usr/bin/python3"'}
    _data, host = _desktops_inventory(tmp_path / 'forwarded', guest, compose)
    assert host['ansible_host'] == '127.0.0.1' and host['ansible_port'] == guest.ssh_port, host
    ping = subprocess.run([ansible_bin('ansible'), '-i', str(tmp_path / 'forwarded'), 'streaming_guests',
                           '-m', 'ansible.builtin.ping'], capture_output=True, text=True, env=ansible_env(),
                          timeout=300, check=False)
    assert ping.returncode == 0 and '%s | SUCCESS' % guest.name in ping.stdout, ping.stdout + ping.stderr


def test_kernel_command_line_runs_a_guest_script(guest):
    guest.wait_serial('sst-e2e: end selftest rc=0', timeout=120)
    with open(guest.serial_log, encoding='utf-8', errors='replace') as handle:
        assert 'sst-e2e selftest: root on ' in handle.read(), guest.serial_tail()


def test_stand_in_agent_connects_from_a_real_x_session(guest, tmp_path):
    deb = build_deb(str(tmp_path), version='0.3-1')
    guest.copy_to(deb, '/tmp/spice-streaming-agent.deb')
    guest.ssh('apt-get install -y -q /tmp/spice-streaming-agent.deb')
    # The port existed before the rule: it gets the rule's mode only when udev sees it again.
    guest.ssh('udevadm control --reload && udevadm trigger --action=add --subsystem-match=virtio-ports'
              ' && udevadm settle')
    assert guest.ssh('stat -L -c %%a %s' % PORT).stdout.strip() == '666'
    # Options on the autostart entry's Exec line, as the stream_agent role writes them.
    guest.ssh("sed -i 's|^Exec=.*|Exec=/usr/bin/spice-streaming-agent -c framerate=7 -c gst.codec=mjpeg|' "
              + AUTOSTART)
    guest.ssh('rm -f %s' % EVENTS)

    guest.start_x_session(display=':1')
    guest.wait_channel_state('connected', timeout=180)

    start = [event for event in _events(guest) if event['event'] == 'start']
    assert len(start) == 1, start
    assert start[0]['argv'][1:] == ['-c', 'framerate=7', '-c', 'gst.codec=mjpeg']
    assert start[0]['settings']['framerate'] == 7
    assert start[0]['settings']['gst'] == {'syntax': '0.3', 'codec': 'mjpeg', 'props': {}}
    assert start[0]['display'] == ':1' and start[0]['user'] == 1000
    # spice-server sends CAPABILITIES when the port opens; the agent logs it once it has read it.
    guest.wait_until('the agent logging the CAPABILITIES spice-server sent when the port opened',
                     lambda: _events(guest), lambda seen: any(event['event'] == 'capabilities' for event in seen),
                     timeout=120)

    # Only one process can hold the port: a second agent fails like the real one.
    second = guest.ssh('DISPLAY=:1 /usr/bin/spice-streaming-agent', user='desk', check=False)
    assert second.returncode == 1
    refused = [event for event in _events(guest) if event['event'] == 'exit']
    assert 'Device or resource busy' in refused[-1]['reason'], refused
    assert guest.channel_state() == 'connected'

    guest.end_x_session(display=':1')
    guest.wait_channel_state('disconnected', timeout=120)
    exits = [event for event in _events(guest) if event['event'] == 'exit']
    assert exits[-1]['pid'] == start[0]['pid'] and 'went away' in exits[-1]['reason'], exits
    journal = guest.ssh('journalctl -b -t spice-streaming-agent --no-pager').stdout
    assert 'test double of spice-streaming-agent started' in journal


def test_xorg_runs_on_the_qxl_device(guest):
    guest.ssh('setsid Xorg :0 -nolisten tcp -noreset vt7 </dev/null >/tmp/xorg.out 2>&1 &'
              ' i=0; until xset -display :0 q >/dev/null 2>&1; do i=$((i+1));'
              ' [ $i -gt 600 ] && exit 1; sleep 0.2; done', timeout=200)
    try:
        log = guest.ssh('cat /var/log/Xorg.0.log').stdout
        assert 'qxl(0): ' in log and 'Loading /usr/lib/xorg/modules/drivers/qxl_drv.so' in log
        assert 'dimensions:' in guest.ssh('DISPLAY=:0 xdpyinfo').stdout
    finally:
        guest.ssh('pkill -x Xorg; true')


def test_acpi_shutdown_is_clean(guest):
    journal = guest.ssh('journalctl -b -u systemd-logind --no-pager').stdout
    assert 'Watching system buttons' in journal and '(Power Button)' in journal, journal
    guest.shutdown(timeout=300)   # the ACPI power button, as `virsh shutdown` presses it
    assert not guest.is_active()
    assert 'reboot: Power down' in guest.serial_tail(20)
