# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proof that it streams, end to end: a real SPICE client receives video from a real desktop
set up by the collection's playbooks, both ways, and none once streaming is turned off.

One Debian 12 guest (TCG) for the whole module, three boots: its mode and channel are only
ever changed by ``playbooks/enable_streaming.yml`` and ``playbooks/disable_streaming.yml``
run with ``ansible-playbook`` against the local libvirtd, with
``host_streaming_restart: when_needed`` (the guest shuts down on ACPI, nothing is forced).
The witness is spice-gtk, the library remote-viewer is built on (tests/support/spice_client.py),
connected to 127.0.0.1; QEMU's own command line says which mode it runs with.

1. Host encoding, mode ``all`` (first boot): Xorg on QXL with a 320x240 window redrawn 30
   times a second; spice-server streams it on display channel 0.
2. Guest encoding (second boot, the playbook restarts the desktop to give it the stream
   channel and installs the agent package in the guest through ``stream_agent_package``):
   a real X session runs the agent from its autostart entry; a known picture (colour bars)
   drawn on that display arrives on display channel 1 at the frame rate the entry asks for.
3. The agent not running: display channel 1 exists, nothing arrives on it.
4. Host encoding, mode ``filter`` (same boot): a smooth 320x240 picture streams, a 64x64
   window does not.
5. ``disable_streaming.yml`` (third boot): QEMU runs with ``streaming-video=off`` and no
   stream port; the moving window does not stream and display channel 1 is gone.

Tests run in file order and each brings the desktop to the state it needs through the
playbooks (a no-op when the previous test left it there), so one can run alone with ``-k``.

The guest side runs as a user with only a hypervisor inventory would run it: nothing in the
inventory names the desktop; ``streaming_discover_guests`` finds it on the hypervisor, and its QEMU
guest agent reports its OS and address. That address is QEMU user networking's (10.0.2.15), which
nothing outside the guest reaches: ``streaming_discover_compose`` points Ansible at the forwarded
SSH port on 127.0.0.1 instead, as a user with port forwards does; the address is only shown.

The agent in the guest is the project's stand-in (tests/support/stand_in_agent, a TEST DOUBLE
of spice-streaming-agent: Debian ships no agent); it speaks the real stream-device protocol
to the real spice-server and captures the real X display. Everything else is real.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
import yaml

from tests.support import x11_colour_bars
from tests.support.collection_path import REPO_ROOT
from tests.support.e2e_desktop import has_stream_port, show_window, start_xorg, stop_windows, streaming_video
from tests.support.figures import write_past_capture
from tests.support.guest_vm import GUEST_AGENT_CHANNEL
from tests.support.libvirt_env import run_playbook
from tests.support.spice_client import frames, observe, primary, stream
from tests.support.stand_in_agent.build_deb import build_deb

ENABLE = os.path.join(REPO_ROOT, 'playbooks', 'enable_streaming.yml')
DISABLE = os.path.join(REPO_ROOT, 'playbooks', 'disable_streaming.yml')
BOOT_TIMEOUT = 900          # TCG on a loaded 2-core machine; every wait returns once it is up
PLAYBOOK_TIMEOUT = 1500     # a restart waits for the ACPI shutdown (300 s) and the guest side for the boot
SESSION = ':1'              # the user's X session (Xvfb + dex), where the agent runs
SESSION_SIZE = (320, 240)   # small, so a TCG guest captures and encodes it at the asked rate
USER_NET_ADDRESS = '10.0.2.15'   # what the guest agent reports: inside the guest only, never connected to
FRAMERATE = 5               # what the autostart entry asks the agent for
AGENT_EVENTS = '/tmp/spice-streaming-agent-test-double-1000.jsonl'   # the session user desk, uid 1000
AUTOSTART = '/etc/xdg/autostart/spice-streaming.desktop'
# How long a client watches for a stream that must not come; the positive cases get the
# same time to show theirs. They need 0.5-3 s here: spice-server starts a stream after 20
# redraws of one area less than 0.2 s apart, and the agent's first frame follows the
# client's connection at once.
HOST_WINDOW = 12
GUEST_WINDOW = 12
JPEG_TOLERANCE = 16         # per channel, inside a bar (seen here: at most 3)
FIGURES = {}


def _figure(name, started):
    FIGURES.setdefault(name, []).append(round(time.monotonic() - started, 1))


class Desktop:
    """The guest and what the playbooks last made of it."""

    def __init__(self, vm, workdir):
        self.vm = vm
        self.workdir = workdir
        self.applied = None     # (playbook, host vars, guests) of the last run, to skip a repeat
        self.deb = None
        self.last_host_vars = {}

    # --- the playbooks -------------------------------------------------------------------
    def inventory(self, host_vars, guests):
        hypervisor = {
            'ansible_connection': 'local',
            'ansible_python_interpreter': '/usr/bin/python3',
            'host_streaming_domains': [self.vm.name],
            'host_streaming_restart': 'when_needed',
            'host_streaming_backup_dir': os.path.join(self.workdir, 'backups'),
        }
        hypervisor.update(host_vars)
        inventory = {'hypervisors': {'hosts': {'localhost': hypervisor}}}
        if guests:
            if self.deb is None:
                self.deb = build_deb(self.workdir, version='0.3-1')
            # The desktop is found on the hypervisor; what every desktop shares goes to the group,
            # where each one is reached (its forwarded port) to the hypervisor's compose.
            hypervisor['streaming_discover_guests'] = True
            hypervisor['streaming_discover_compose'] = {
                'ansible_host': "'127.0.0.1'",
                'ansible_port': '%s[stream_agent_domain]' % json.dumps({self.vm.name: self.vm.ssh_port}),
            }
            shared = self.vm.ansible_host_vars()
            shared = {key: value for key, value in shared.items() if key not in ('ansible_host', 'ansible_port')}
            shared.update({'stream_agent_package': self.deb, 'stream_agent_framerate': FRAMERATE})
            inventory['streaming_guests'] = {'vars': shared}
        path = os.path.join(self.workdir, 'inventory.yml')
        with open(path, 'w', encoding='utf-8') as handle:
            yaml.safe_dump(inventory, handle)
        return path

    def run(self, label, playbook, host_vars, guests=False):
        """Run ``playbook`` as an administrator would, then make sure the desktop is up.

        The guest side needs a running guest; a desktop that is shut off gets its new
        definition at its next start, which this does after the playbook (as its user would).
        Returns ansible-playbook's output, standard output then standard error (where the
        restart progress goes), or None when the same run was the last one.
        """
        key = (playbook, json.dumps(host_vars, sort_keys=True), guests)
        self.last_host_vars = host_vars
        if key == self.applied and self.vm.is_active():
            return None
        if guests and not self.vm.is_active():
            self.boot()
        started = time.monotonic()
        proc = run_playbook(playbook, self.inventory(host_vars, guests), timeout=PLAYBOOK_TIMEOUT)
        _figure(label, started)
        failed = [host for host, counts in recap(proc).items() if counts['failed'] or counts['unreachable']]
        assert proc.returncode == 0 and not failed, '%s failed on %s:\n%s\n%s\n%s' % (
            os.path.basename(playbook), failed, proc.stdout[-6000:], proc.stderr[-3000:], self.vm.serial_tail())
        self.applied = key
        self.boot()
        return proc.stdout + '\n' + proc.stderr

    def boot(self):
        """Start the desktop if it is shut off; wait until it is booted (SSH, systemd)."""
        started = time.monotonic()
        if not self.vm.is_active():
            self.vm.start()
        self.vm.wait_ssh(BOOT_TIMEOUT)
        _figure('boot (or wait for the restarted guest)', started)

    def found(self, stdout):
        """What the playbook said when it added the desktop it found: OS, reported address, where it connects."""
        match = re.search(r'^ok: \[localhost\] => \(item=%s \((.*)\)\)$' % re.escape(self.vm.name), stdout, re.M)
        assert match, stdout[-6000:]
        return match.group(1)

    def summary_line(self, stdout, label):
        found = [line for line in stdout.splitlines() if line.startswith('  %s: ' % label)]
        assert len(found) == 1, stdout[-6000:]
        return found[0]

    def restarted_by_acpi(self, output):
        """True when the run's restart progress says it shut this desktop down through ACPI, then
        started and checked it (force_off is false here: a guest that ignored ACPI would be left
        running, and said so)."""
        name = re.escape(self.vm.name)
        shut = re.search(r'restart batch \d+/\d+: shutting down [^\n]*\b%s\b[^\n]*\(ACPI;' % name, output)
        done = re.search(r'restart batch \d+/\d+ done in \d+ s: restarted and checked [^\n]*\b%s\b' % name, output)
        return bool(shut and done)

    # --- the guest's session -------------------------------------------------------------
    def session_running(self):
        return self.vm.ssh('xset -display %s q >/dev/null 2>&1' % SESSION, check=False).returncode == 0

    def agent_events(self, event=None):
        text = self.vm.ssh('cat %s 2>/dev/null || true' % AGENT_EVENTS).stdout
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [record for record in records if event in (None, record['event'])]

    def start_session(self):
        """The user's X session (Xvfb + dex: the autostart entries run), the bars drawn on it,
        and the agent holding the stream port (the host's live XML says ``connected``)."""
        started = time.monotonic()
        self.vm.ssh('rm -f %s' % AGENT_EVENTS)
        self.vm.start_x_session(SESSION, size='%dx%d' % SESSION_SIZE)
        size = x11_colour_bars.paint(self.vm, SESSION)
        assert size == SESSION_SIZE, size
        self.vm.wait_channel_state('connected', timeout=300)
        _figure('X session to agent connected', started)

    def end_session(self):
        if self.session_running():
            self.vm.end_x_session(SESSION)

    def moving_window(self, width, height):
        """Xorg on QXL (started once per boot) showing only a ``width`` x ``height`` window
        redrawn about 30 times a second: what host encoding may stream."""
        started = time.monotonic()
        start_xorg(self.vm)
        show_window(self.vm, width, height)
        _figure('Xorg on QXL and a %dx%d window' % (width, height), started)


def recap(proc):
    """{host: {ok, changed, unreachable, failed}} from the PLAY RECAP."""
    counts = {}
    for match in re.finditer(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)',
                             proc.stdout, re.MULTILINE):
        counts[match.group(1)] = dict(zip(('ok', 'changed', 'unreachable', 'failed'),
                                          (int(value) for value in match.groups()[1:])))
    assert counts, proc.stdout + proc.stderr
    return counts


@pytest.fixture(scope='module')
def desktop(module_guest_vms, tmp_path_factory, request):
    workdir = tmp_path_factory.mktemp('e2e')
    os.chmod(workdir, 0o755)
    started = time.monotonic()
    FIGURES['load average at the start'] = [round(load, 1) for load in os.getloadavg()]
    desk = Desktop(module_guest_vms.new('desk', extra_devices=[GUEST_AGENT_CHANNEL]), str(workdir))
    yield desk
    _figure('module', started)
    FIGURES['load average at the end'] = [round(load, 1) for load in os.getloadavg()]
    write_past_capture(request.config, 'e2e figures, seconds', FIGURES)


# The observations ---------------------------------------------------------------------------

def _observe_host_stream(desk, expected):
    """Watch display channel 0 with the moving window up; the stream must (not) come."""
    port = desk.vm.spice_port
    started = time.monotonic()
    if expected:
        seen = observe(port, HOST_WINDOW, until=[stream(0)])
        assert seen.stopped == 'conditions met' and seen.streams_created(0), seen.summary()
    else:
        # The whole window: what must not arrive needs the full time to not arrive.
        seen = observe(port, HOST_WINDOW)
        assert seen.stopped == 'deadline' and seen.streams_created(0) == [], seen.summary()
        # Not for want of motion: the window was redrawn all along.
        assert seen.frames(0) >= 20, seen.summary()
    assert seen.errors == [] and seen.server_name == desk.vm.name, seen.summary()
    _figure('client on display 0, stream %s' % ('expected' if expected else 'not expected'), started)
    return seen


def test_host_encoding_all_streams_a_moving_window(desktop):
    desktop.run('enable_streaming.yml, mode all (shut off: no restart)', ENABLE,
                {'host_streaming_mode': 'all', 'host_streaming_agent_channel': None})
    assert streaming_video(desktop.vm.name) == 'all'
    desktop.moving_window(320, 240)

    seen = _observe_host_stream(desktop, expected=True)
    if not has_stream_port(desktop.vm.name):
        # No stream device, no second display channel: nothing for a guest agent.
        assert seen.channel('display', 1) is None, seen.summary()
    stop_windows(desktop.vm)


def _enable_with_agent(desk):
    """The whole enable_streaming.yml, both sides: host mode filter and the stream channel
    (the running desktop is restarted to get them), the agent package in the guest."""
    return desk.run('enable_streaming.yml, both sides (restart, agent package)', ENABLE,
                    {'host_streaming_mode': 'filter', 'host_streaming_agent_channel': 'present'}, guests=True)


def test_guest_encoding_streams_the_agent_picture(desktop):
    was_running_without_channel = desktop.vm.is_active() and not has_stream_port(desktop.vm.name)
    stdout = _enable_with_agent(desktop)
    if was_running_without_channel:
        assert desktop.restarted_by_acpi(stdout), stdout
    assert has_stream_port(desktop.vm.name) and streaming_video(desktop.vm.name) == 'filter'
    entry = desktop.vm.ssh('grep ^Exec= %s' % AUTOSTART).stdout
    assert 'framerate=%d' % FRAMERATE in entry, entry

    if was_running_without_channel:
        # Found on the hypervisor, not in the inventory: its guest agent said what it runs and where it
        # is, and Ansible went to the forwarded port, never to that address.
        found = desktop.found(stdout)
        assert found.startswith('Debian GNU/Linux 12'), found
        assert 'reports %s' % USER_NET_ADDRESS in found, found
        assert found.endswith('connect to 127.0.0.1:%d' % desktop.vm.ssh_port), found

    # The playbook's summary, after the hypervisor was asked: a fresh boot, nobody logged in yet.
    name = desktop.vm.name
    assert desktop.summary_line(stdout, 'agent not connected').startswith(
        '  agent not connected: 1 (%s (no graphical session runs yet' % name), stdout

    desktop.end_session()
    desktop.start_session()
    agent = desktop.agent_events('start')
    assert len(agent) == 1 and agent[0]['settings']['framerate'] == FRAMERATE, agent
    assert agent[0]['display'] == SESSION, agent
    # With the session up, the same check (the playbook's verify play alone) says connected.
    started = time.monotonic()
    verify = run_playbook(ENABLE, desktop.inventory(desktop.last_host_vars, True), tags='verify',
                          timeout=PLAYBOOK_TIMEOUT)
    _figure('enable_streaming.yml --tags verify', started)
    assert verify.returncode == 0, verify.stdout[-6000:] + verify.stderr[-3000:]
    assert re.search(r'"msg": "connected: the agent in %s holds the stream port of domain %s on localhost"'
                     % (re.escape(name), re.escape(name)), verify.stdout), verify.stdout
    assert desktop.summary_line(verify.stdout, 'agent connected') == '  agent connected: 1 (%s)' % name

    width, height = SESSION_SIZE
    points = x11_colour_bars.inner_points(width, height)
    wanted = FRAMERATE * 6
    seen = observe(desktop.vm.spice_port, 90, until=[primary(1), frames(1, wanted)],
                   samples={1: points}, dump=[1])

    assert seen.stopped == 'conditions met', seen.summary()
    surface = seen.primary(1)
    assert (surface['width'], surface['height']) == SESSION_SIZE, seen.summary()
    assert seen.streams_created(1), seen.summary()
    fps = seen.fps(1, skip=1.0)
    assert FRAMERATE * 0.5 <= fps <= FRAMERATE * 1.3, 'frame rate %.2f/s for %d asked\n%s' % (
        fps, FRAMERATE, seen.summary())
    wrong = [(x, y, seen.sample(1, x, y), x11_colour_bars.expected_rgb(x, width)) for x, y in points
             if not _close(seen.sample(1, x, y), x11_colour_bars.expected_rgb(x, width))]
    assert wrong == [], 'pixels (x, y, seen, drawn): %s\n%s' % (wrong, seen.summary())
    # The whole picture, not only the sampled points: every pixel away from a bar's edge.
    picture = seen.image(1)
    assert picture is not None and picture.size == SESSION_SIZE, seen.summary()
    off = [(x, y) for x, y in _bar_interiors(width, height)
           if not _close(picture.pixel(x, y), x11_colour_bars.expected_rgb(x, width))]
    assert off == [], '%d pixels differ from the bars, first %s\n%s' % (len(off), off[:10], seen.summary())
    FIGURES['guest encoding: frames per second at %d asked' % FRAMERATE] = round(fps, 2)


def _close(rgb, wanted):
    return rgb is not None and all(abs(got - want) <= JPEG_TOLERANCE for got, want in zip(rgb, wanted))


def _bar_interiors(width, height, margin=8):
    for left, right in x11_colour_bars.bar_edges(width):
        for x in range(left + margin, right - margin):
            for y in range(margin, height - margin):
                yield x, y


def test_no_stream_on_display_1_while_the_agent_does_not_run(desktop):
    _enable_with_agent(desktop)
    if desktop.vm.channel_state() != 'connected':
        desktop.end_session()
        desktop.start_session()
    agent = desktop.agent_events('start')[-1]
    desktop.vm.ssh('kill %d' % agent['pid'])
    desktop.vm.wait_channel_state('disconnected', timeout=120)
    # The session and its picture stay: only the agent is missing.
    assert desktop.session_running()

    seen = observe(desktop.vm.spice_port, GUEST_WINDOW)

    assert seen.stopped == 'deadline' and seen.errors == [], seen.summary()
    # The trap: the channel is there, since the stream device is; nothing comes through it.
    assert ('display', 1) in seen.opened(), seen.summary()
    assert seen.primary(1) is None and seen.invalidates(1) == [], seen.summary()
    assert seen.streams_created(1) == [], seen.summary()
    desktop.end_session()


def test_host_encoding_filter_streams_a_smooth_picture_not_a_small_window(desktop):
    _enable_with_agent(desktop)
    desktop.end_session()
    assert streaming_video(desktop.vm.name) == 'filter'

    desktop.moving_window(64, 64)
    _observe_host_stream(desktop, expected=False)
    desktop.moving_window(320, 240)
    _observe_host_stream(desktop, expected=True)
    stop_windows(desktop.vm)


def test_disable_streaming_turns_both_ways_off(desktop):
    was = desktop.vm.is_active() and (has_stream_port(desktop.vm.name)
                                      or streaming_video(desktop.vm.name) != 'off')
    stdout = desktop.run('disable_streaming.yml (restart)', DISABLE, {})
    if was:
        assert desktop.restarted_by_acpi(stdout), stdout
    assert streaming_video(desktop.vm.name) == 'off'
    assert not has_stream_port(desktop.vm.name) and desktop.vm.channel_state() is None
    desktop.moving_window(320, 240)

    seen = _observe_host_stream(desktop, expected=False)
    assert seen.channel('display', 1) is None and seen.display(1) is None, seen.summary()
    stop_windows(desktop.vm)
