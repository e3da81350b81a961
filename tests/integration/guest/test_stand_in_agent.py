# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stand-in agent on the host, against a real X server (Xvfb) and the protocol.

The port is a pseudo-terminal in raw mode and this test plays spice-server's side of the
stream-device protocol byte for byte (``spice/stream-device.h``); the guest tests then
show the same program on a real virtio port under a real spice-server.  Fast: no VM.
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
import subprocess
import time
import tty

import pytest
from PIL import Image

from tests.support.stand_in_agent import build_deb as deb_builder

AGENT = deb_builder.AGENT_SOURCE
SYSTEM_PYTHON = '/usr/bin/python3'   # the agent's own interpreter, as in the guest
HEADER = struct.Struct('<BBHI')
CAPABILITIES, FORMAT, DATA, START_STOP, NOTIFY_ERROR = 1, 2, 3, 4, 5
COLOUR = (200, 40, 120)


def _wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError('%s not within %d s' % (what, timeout))


@pytest.fixture
def xdisplay():
    """A real X server, painted a known colour (-noreset keeps it after xsetroot leaves)."""
    number = 90 + os.getpid() % 500
    display = ':%d' % number
    proc = subprocess.Popen(['Xvfb', display, '-screen', '0', '320x240x24', '-nolisten', 'tcp', '-noreset'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def answers():
        return subprocess.run(['xset', '-display', display, 'q'], capture_output=True, check=False).returncode == 0
    _wait_until(answers, 30, 'Xvfb %s answering' % display)
    subprocess.run(['xsetroot', '-display', display, '-solid', '#%02x%02x%02x' % COLOUR], check=True)
    yield display, proc
    proc.terminate()
    proc.wait(10)


class FakeServer:
    """spice-server's end of the port: a raw pseudo-terminal whose other end the agent opens."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.buffer = b''

    def send(self, msg_type, body=b'', version=1):
        os.write(self.master, HEADER.pack(version, 0, msg_type, len(body)) + body)

    def receive(self, timeout=20):
        """The next whole message (type, body, arrival time), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= HEADER.size:
                _version, _pad, msg_type, size = HEADER.unpack_from(self.buffer)
                if len(self.buffer) >= HEADER.size + size:
                    body = self.buffer[HEADER.size:HEADER.size + size]
                    self.buffer = self.buffer[HEADER.size + size:]
                    return msg_type, body, time.monotonic()
            readable, _w, _x = select.select([self.master], [], [], max(0, deadline - time.monotonic()))
            if not readable:
                return None
            self.buffer += os.read(self.master, 1 << 20)

    def close(self):
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


class AgentRun:
    def __init__(self, tmp_path, display, args, port):
        self.events_file = tmp_path / ('agent-events-%d.jsonl' % len(list(tmp_path.glob('agent-events-*'))))
        self.events_file.touch()
        env = dict(os.environ, SPICE_STREAMING_AGENT_TEST_DOUBLE_LOG=str(self.events_file))
        env.pop('DISPLAY', None)
        if display:
            env['DISPLAY'] = display
        command = [SYSTEM_PYTHON, AGENT] + (['-p', port] if port else []) + list(args)
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)

    def events(self, name=None):
        if not self.events_file.exists():
            return []
        records = [json.loads(line) for line in self.events_file.read_text().splitlines()]
        return [record for record in records if name in (None, record['event'])]

    def wait_event(self, name, timeout=30):
        _wait_until(lambda: self.events(name) or self.proc.poll() is not None, timeout, 'event %s' % name)
        assert self.events(name), 'agent exited %s without %s: %s %s' % (
            self.proc.returncode, name, self.events(), self.proc.communicate())
        return self.events(name)[-1]

    def wait_exit(self, timeout=30):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc.communicate()


@pytest.fixture
def run_agent(tmp_path):
    runs = []

    def start(display, *args, port=None):
        run = AgentRun(tmp_path, display, args, port)
        runs.append(run)
        return run
    yield start
    for run in runs:
        run.stop()


def test_answers_capabilities_and_streams_its_screen_as_paced_mjpeg(xdisplay, server, run_agent):
    display, _xvfb = xdisplay
    agent = run_agent(display, '-c', 'framerate=5', port=server.path)
    agent.wait_event('port-open')

    server.send(CAPABILITIES, b'\x00')
    assert server.receive()[:2] == (CAPABILITIES, b''), 'an empty CAPABILITIES answers the server'

    server.send(START_STOP, bytes([3, 2, 1, 3]))   # VP8, MJPEG, H264: the agent picks MJPEG
    msg_type, body, started = server.receive()
    assert msg_type == FORMAT
    assert struct.unpack('<IIB3x', body) == (320, 240, 1)

    arrivals = []
    for _frame in range(6):
        msg_type, body, arrived = server.receive()
        assert msg_type == DATA
        arrivals.append(arrived)
        frame = Image.open(io.BytesIO(body))
        assert frame.format == 'JPEG' and frame.size == (320, 240)
        pixel = frame.convert('RGB').getpixel((160, 120))
        assert all(abs(got - want) <= 8 for got, want in zip(pixel, COLOUR)), pixel
    # Paced from FORMAT at 5 frames/s: never faster (a slow machine may be slower).
    assert arrivals[-1] - started >= 5 * 0.2 * 0.9, [round(t - started, 2) for t in arrivals]

    server.send(START_STOP, b'\x00')
    agent.wait_event('stream-stop')
    server.buffer = b''
    while server.receive(timeout=0.3):   # frames already in flight
        pass
    assert server.receive(timeout=1.5) is None, 'no frame after START_STOP with no codec'
    assert agent.proc.poll() is None


def test_exits_when_its_x_display_goes_away(xdisplay, server, run_agent):
    display, xvfb = xdisplay
    agent = run_agent(display, port=server.path)
    agent.wait_event('port-open')
    xvfb.terminate()
    assert agent.wait_exit(30) == 1
    assert 'went away' in agent.events('exit')[-1]['reason']


def test_needs_an_x_display(server, run_agent):
    agent = run_agent(None, port=server.path)
    assert agent.wait_exit(30) == 1
    assert 'Unable to open display' in agent.events('exit')[-1]['reason']
    assert not agent.events('port-open')


def test_refuses_a_client_without_mjpeg(xdisplay, server, run_agent):
    agent = run_agent(xdisplay[0], port=server.path)
    agent.wait_event('port-open')
    server.send(START_STOP, bytes([1, 3]))   # H.264 only: no capture for it without a plugin
    assert agent.wait_exit(30) == 1
    assert agent.events('exit')[-1]['reason'] == 'cannot find a suitable capture system'


def test_rejects_a_bad_protocol_version(xdisplay, server, run_agent):
    agent = run_agent(xdisplay[0], port=server.path)
    agent.wait_event('port-open')
    server.send(CAPABILITIES, b'\x00', version=2)
    assert agent.wait_exit(30) == 1
    assert 'Bad protocol version' in agent.events('exit')[-1]['reason']


def test_missing_port_fails_like_the_real_agent(xdisplay, run_agent, tmp_path):
    agent = run_agent(xdisplay[0], port=str(tmp_path / 'no-such-port'))
    assert agent.wait_exit(30) == 1
    assert agent.events('exit')[-1]['reason'].startswith('Failed to open the streaming device')


def test_logs_both_codec_option_syntaxes_and_the_other_options(xdisplay, server, run_agent, tmp_path):
    frames_log = tmp_path / 'frames.log'
    old = run_agent(xdisplay[0], '-c', 'framerate=7', '-c', 'gst.codec=vp8', '-c', 'gst.encoder=vp8enc',
                    '-c', 'gst.prop=cpu-used=4', '-d', '--plugins-dir=%s' % tmp_path,
                    '-l', str(frames_log), port=server.path)
    start = old.wait_event('start')
    assert start['settings']['framerate'] == 7
    assert start['settings']['gst'] == {'syntax': '0.3', 'codec': 'vp8', 'encoder': 'vp8enc',
                                        'props': {'cpu-used': '4'}}
    assert start['debug'] is True and start['plugins_dir'] == str(tmp_path)
    assert start['display'] == xdisplay[0]
    old.wait_event('port-open')
    assert 'Args: -c' in frames_log.read_text()
    old.stop()

    later = run_agent(xdisplay[0], '-c', 'gst.h264=x264enc:tune=zerolatency,bitrate=2000',
                      '-c', 'gst.vp8=vp8enc', '-c', 'framerate=abc', port=server.path)
    start = later.wait_event('start')
    assert start['settings']['gst'] == {'syntax': 'later', 'codecs': {
        'h264': {'encoder': 'x264enc', 'props': {'tune': 'zerolatency', 'bitrate': '2000'}},
        'vp8': {'encoder': 'vp8enc', 'props': {}}}}
    assert start['settings']['framerate'] == 10, 'a bad framerate is logged and the default kept'
    assert later.events('option-error')[0]['name'] == 'framerate'


@pytest.mark.parametrize('args', [['--help'], ['-c', 'framerate']])
def test_usage_exits_1(args, run_agent):
    agent = run_agent(':0', *args)
    assert agent.wait_exit(30) == 1
    assert 'usage:' in agent.proc.communicate()[0]


def _deb_fields(deb):
    info = subprocess.run(['dpkg-deb', '-f', deb], capture_output=True, text=True, check=True).stdout
    files = subprocess.run(['dpkg-deb', '-c', deb], capture_output=True, text=True, check=True).stdout
    return info, {line.split()[-1].lstrip('.') for line in files.splitlines()}


def test_deb_ships_what_the_real_package_ships(tmp_path):
    deb = deb_builder.build_deb(str(tmp_path), version='0.4~git20200415-1')
    assert os.path.basename(deb) == 'spice-streaming-agent_0.4~git20200415-1_all.deb'
    info, files = _deb_fields(deb)
    assert 'Package: spice-streaming-agent\n' in info
    assert 'Version: 0.4~git20200415-1\n' in info
    assert 'TEST DOUBLE' in info
    assert 'Depends: python3, python3-pil, libx11-6\n' in info
    for path in (deb_builder.BINARY, deb_builder.UDEV_RULE_PATH, deb_builder.AUTOSTART_PATH,
                 deb_builder.GDM_AUTOSTART_PATH):
        assert path in files
    content = subprocess.run(['dpkg-deb', '--fsys-tarfile', deb], capture_output=True, check=True).stdout
    assert b'MODE="0666"' in content and b'Exec=/usr/bin/spice-streaming-agent\n' in content
    assert b'#!/usr/bin/python3\n# TEST DOUBLE of spice-streaming-agent' in content


def test_binary_only_variant(tmp_path):
    deb = deb_builder.build_deb(str(tmp_path), version='0.3-1', session_files=False)
    _info, files = _deb_fields(deb)
    assert deb_builder.BINARY in files
    assert not {deb_builder.UDEV_RULE_PATH, deb_builder.AUTOSTART_PATH,
                deb_builder.GDM_AUTOSTART_PATH} & files
