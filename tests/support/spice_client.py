# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A headless SPICE client for tests: what a person with remote-viewer would receive.

It is spice-gtk, the library virt-viewer and remote-viewer are built on, reached through
GObject introspection (Debian packages python3-gi and gir1.2-spiceclientglib-2.0, for
Debian's ``/usr/bin/python3``; ``scripts/lib/setup.sh`` installs them). The client runs as
its own process so that a GLib main loop never runs inside pytest::

    SPICE_PASSWORD=secret /usr/bin/python3 tests/support/spice_client.py \\
        spice://127.0.0.1:5900 --seconds 10 --until frames:1:30 --sample 1:100,80

It connects, opens every channel the server announces, records for at most ``--seconds``
(stopping early once every ``--until`` condition holds, or at once when the main channel
fails or is closed) and prints one JSON document on stdout. While it runs, it writes one
``spice-client: {json}`` line per channel event on stderr, so a caller can wait for
"display 0 opened". The password comes from the environment (``SPICE_PASSWORD``), never the
command line, which ``ps`` shows to everyone. That half needs only the standard library and
``gi``, so the file can be copied and run on its own.

What it records:

- every channel (type, id) and its events: opened, closed, error-connect, error-auth, ...;
  errors with spice-gtk's message ("Authentication failed: wrong password?",
  "Could not connect to 127.0.0.1: Connection refused");
- per display channel: each ``display-primary-create`` (format, width, height, stride, time),
  ``display-primary-destroy``, the time of every ``display-invalidate`` (a frame rate is
  their rate), and pixels at the points asked for, read through the surface's ``imgdata``
  pointer (32-bit xRGB, bytes B, G, R, X) at every invalidate, so the value kept is the one
  at the last invalidate; optionally the whole surface as a PPM file at the end;
- spice-gtk's own debug lines about video streams, ``display-2:N: display_handle_stream_create``
  and ``display_handle_stream_destroy`` (captured in-process with a GLib log handler after
  ``SpiceClientGLib.util_set_debug(True)``), per display channel id;
- the images spice-gtk decoded with its GLZ decoder: it logs ``decode-glz.c:NNN decode_header:
  WxH, id N, ref N`` for each GLZ image (``"decoded": {"glz": count, "lines": [...]}``), on
  any display channel (the line does not say which). Only GLZ can be counted so: spice-gtk 0.42
  decodes QUIC, LZ and JPEG images in spice-common's canvas code, which logs nothing. An image
  compression of ``quic``, ``lz`` or ``off`` therefore shows as no GLZ image at all, ``glz`` and
  ``auto_glz`` (QEMU's default) as GLZ images, since every image of a SeaBIOS text screen is
  one spice-server compresses with GLZ when allowed (seen with spice-server 0.15.1).

How to read it. Display channel 0 is the desktop: spice-server's own encoder (host
encoding, ``streaming-video=all|filter``) shows as ``display_handle_stream_create`` on
channel 0. Display channel 1 belongs to the ``org.spice-space.stream.0`` device, and the
trap is that spice-server announces it as soon as the device exists, even with nothing in
the guest: only a primary surface on channel 1 (of the agent's FORMAT size), invalidates at
the frame rate and ``display_handle_stream_create`` on channel 1 show that a guest agent
streams.

Caveat, for tests and for administrators alike: SPICE serves one client. A second client
connection takes over the session: spice-server closes every channel of the client already
connected (seen here with spice-server 0.15.1: each channel of the first client gets
``closed``). Observing somebody's desktop with this client, or with remote-viewer,
disconnects that person.

From Python (pytest, any interpreter)::

    seen = observe(port, 10, until=[frames(1, 30)], samples={1: [(100, 80)]})
    assert seen.frames(1) >= 30, seen.summary()
    assert seen.sample(1, 100, 80) == ..., seen.summary()
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

CLIENT_PYTHON = '/usr/bin/python3'      # Debian's interpreter, the one python3-gi serves
PASSWORD_VARIABLE = 'SPICE_PASSWORD'
EVENT_PREFIX = 'spice-client: '
SCHEMA = 1

# spice-gtk formats its stream debug lines as "<file>:<line> display-2:<id>: <text>".
_STREAM_LINE = re.compile(r'\bdisplay-2:(\d+): (.*stream.*)$')
# spice-gtk's GLZ decoder logs "<file>:<line> decode_header: WxH, id N, ref N" for each image.
_GLZ_LINE = re.compile(r'decode-glz\.c:\d+ (decode_header: .*)$')
_KEEP_DECODER_LINES = 5
_SURFACE_FORMATS_32BIT = (32, 96)       # SPICE_SURFACE_FMT_32_xRGB, SPICE_SURFACE_FMT_32_ARGB
_KEEP_STREAM_LINES = 20
_KEEP_LOG_LINES = 40
_KEEP_INVALIDATES = 20000


# ---------------------------------------------------------------------------------------
# Stop conditions, shared by both halves: "primary:CH", "frames:CH:N", "stream:CH",
# "opened:TYPE:ID".

def primary(channel):
    """Condition: display ``channel`` has a primary surface."""
    return 'primary:%d' % channel


def frames(channel, count):
    """Condition: display ``channel`` had ``count`` invalidates since its last primary surface."""
    return 'frames:%d:%d' % (channel, count)


def stream(channel):
    """Condition: spice-gtk created a video stream on display ``channel``."""
    return 'stream:%d' % channel


def opened(kind, channel_id=0):
    """Condition: the channel ``kind`` ('main', 'display', 'inputs', ...) ``channel_id`` opened."""
    return 'opened:%s:%d' % (kind, channel_id)


def parse_condition(text):
    """(kind, display id or channel key, count) of a condition string."""
    parts = text.split(':')
    if len(parts) == 3 and parts[0] == 'opened' and parts[2].isdigit():
        return 'opened', '%s:%s' % (parts[1], parts[2]), 1
    kinds = {'primary': 2, 'stream': 2, 'frames': 3}
    if parts[0] not in kinds or len(parts) != kinds[parts[0]] or not all(p.isdigit() for p in parts[1:]):
        raise ValueError('unknown stop condition %r: use primary:CH, frames:CH:N, stream:CH or '
                         'opened:TYPE:ID' % text)
    return parts[0], int(parts[1]), int(parts[2]) if len(parts) == 3 else 1


# ---------------------------------------------------------------------------------------
# The client process (Debian's /usr/bin/python3 with gi).

class _Recorder:
    """Everything the client sees, in the JSON document's shape; times are seconds since start."""

    def __init__(self, uri, seconds, until, samples, dumps):
        self.start = time.monotonic()
        self.uri = uri
        self.seconds = seconds
        self.until = [parse_condition(text) for text in until]
        self.until_text = list(until)
        self.samples = samples          # {display id: [(x, y), ...]}
        self.dumps = dumps              # {display id: path}
        self.channels = {}              # "type:id" -> record
        self.displays = {}              # display id -> record
        self.surfaces = {}              # display id -> (imgdata, stride, width, height, format)
        self.errors = []
        self.warnings = []
        self.log_tail = collections.deque(maxlen=_KEEP_LOG_LINES)
        self.decoded = {'glz': 0, 'lines': []}
        self.stopped = None
        self.server_name = None
        self.spice_gtk = None
        self.client_errors = []
        self.ended = None
        # Set when the main channel closed or failed: the session is over, and the loop
        # runs on (bounded) until every other channel has said so too.
        self.main_ended = None

    def channels_settled(self):
        """Whether every channel that opened has reported its end (closed or an error)."""
        return all(record['opened'] is None or (record['events'] and record['events'][-1][1] != 'opened')
                   for record in self.channels.values())

    def now(self):
        return round(time.monotonic() - self.start, 4)

    def display(self, channel_id):
        if channel_id not in self.displays:
            self.displays[channel_id] = {
                'surfaces': [], 'invalidates': [], 'invalidate_count': 0,
                'samples': [{'x': x, 'y': y, 'rgb': None, 't': None, 'reads': 0}
                            for x, y in self.samples.get(channel_id, [])],
                'streams': {'created': [], 'destroyed': [], 'other': 0, 'lines': []},
                'dump': None,
            }
        return self.displays[channel_id]

    # -- conditions
    def conditions_met(self):
        if not self.until:
            return False
        for kind, channel_id, count in self.until:
            if kind == 'opened':
                channel = self.channels.get(channel_id)
                if channel is None or channel['opened'] is None:
                    return False
                continue
            record = self.displays.get(channel_id)
            if record is None:
                return False
            if kind == 'primary' and not (record['surfaces'] and record['surfaces'][-1]['destroyed'] is None):
                return False
            if kind == 'frames' and _frames_since_surface(record) < count:
                return False
            if kind == 'stream' and not record['streams']['created']:
                return False
        return True

    # -- pixels
    def read_samples(self, channel_id):
        surface = self.surfaces.get(channel_id)
        record = self.displays[channel_id]
        if surface is None or not record['samples']:
            return
        imgdata, stride, width, height, fmt = surface
        when = self.now()
        for sample in record['samples']:
            x, y = sample['x'], sample['y']
            if fmt not in _SURFACE_FORMATS_32BIT or not (0 <= x < width and 0 <= y < height):
                sample['rgb'] = None
            else:
                blue, green, red = ctypes.string_at(imgdata + y * stride + x * 4, 3)
                sample['rgb'] = [red, green, blue]
            sample['t'] = when
            sample['reads'] += 1

    def dump_surfaces(self):
        for channel_id, path in self.dumps.items():
            surface = self.surfaces.get(channel_id)
            if surface is None or surface[4] not in _SURFACE_FORMATS_32BIT:
                continue
            record = self.displays[channel_id]
            imgdata, stride, width, height, _fmt = surface
            raw = ctypes.string_at(imgdata, stride * height)
            rgb = bytearray(width * height * 3)
            for y in range(height):
                row = raw[y * stride:y * stride + width * 4]
                line = y * width * 3
                rgb[line:line + width * 3:3] = row[2::4]
                rgb[line + 1:line + width * 3:3] = row[1::4]
                rgb[line + 2:line + width * 3:3] = row[0::4]
            with open(path, 'wb') as handle:
                handle.write(b'P6\n%d %d\n255\n' % (width, height) + rgb)
            record['dump'] = path

    def document(self):
        return {
            'schema': SCHEMA,
            'uri': self.uri,
            'server_name': self.server_name,
            'spice_gtk': self.spice_gtk,
            'seconds': self.seconds,
            'elapsed': self.now() if self.ended is None else self.ended,
            'until': self.until_text,
            'stopped': self.stopped,
            'channels': sorted(self.channels.values(), key=lambda c: (c['type_id'], c['id'])),
            'displays': {str(k): v for k, v in sorted(self.displays.items())},
            'errors': self.errors,
            'warnings': self.warnings,
            'log_tail': list(self.log_tail),
            'decoded': self.decoded,
            'client_errors': self.client_errors,
        }


# How long the client waits, after the main channel ended, for the other channels to report
# their end; seen well under a second on an idle machine, a few seconds beside a booting guest.
CHANNELS_CLOSE_GRACE = 15.0


def _frames_since_surface(record):
    return record['surfaces'][-1]['invalidates'] if record['surfaces'] else 0


def _emit_event(payload):
    sys.stderr.write(EVENT_PREFIX + json.dumps(payload) + '\n')
    sys.stderr.flush()


def run_client(uri, seconds, password=None, until=(), samples=None, dumps=None):
    """Connect, record, return the JSON-ready document. Runs a GLib main loop: own process only."""
    try:
        import gi
        gi.require_version('SpiceClientGLib', '2.0')
        from gi.repository import GLib, GObject, SpiceClientGLib
    except (ImportError, ValueError) as err:
        raise SystemExit('spice-gtk for %s is missing (%s): install the Debian packages python3-gi and '
                         'gir1.2-spiceclientglib-2.0 (scripts/test.sh installs it: SPICE_CLIENT_PACKAGES in scripts/lib/setup.sh)'
                         % (sys.executable, err)) from err

    rec = _Recorder(uri, seconds, until, samples or {}, dumps or {})
    rec.spice_gtk = SpiceClientGLib.util_get_version_string()
    loop = GLib.MainLoop()

    def stop(reason):
        if rec.stopped is None:
            rec.stopped = reason
            rec.ended = rec.now()
            loop.quit()

    def guarded(callback):
        # PyGObject prints and swallows exceptions raised in callbacks: a broken client would
        # then report an empty desktop. Record them and stop, so the caller sees a client bug.
        def run_guarded(*args):
            try:
                return callback(*args)
            except Exception:  # pylint: disable=broad-except
                rec.client_errors.append(traceback.format_exc())
                stop('client error')
                return None
        return run_guarded

    @guarded
    def on_log(domain, level, message, _data=None):
        line = '%s %s' % (domain, message)
        rec.log_tail.append(line)
        if level & (GLib.LogLevelFlags.LEVEL_ERROR | GLib.LogLevelFlags.LEVEL_CRITICAL
                    | GLib.LogLevelFlags.LEVEL_WARNING):
            rec.warnings.append(line[:500])
        glz = _GLZ_LINE.search(message) if 'decode-glz' in message else None
        if glz:
            rec.decoded['glz'] += 1
            if len(rec.decoded['lines']) < _KEEP_DECODER_LINES:
                rec.decoded['lines'].append('%.3f %s' % (rec.now(), glz.group(1)))
            return
        match = _STREAM_LINE.search(message) if 'stream' in message else None
        if not match:
            return
        record = rec.display(int(match.group(1)))
        text = match.group(2)
        streams = record['streams']
        if text.startswith('display_handle_stream_create'):
            streams['created'].append(rec.now())
        elif text.startswith('display_handle_stream_destroy'):
            streams['destroyed'].append(rec.now())
        else:
            streams['other'] += 1
        if len(streams['lines']) < _KEEP_STREAM_LINES:
            streams['lines'].append('%.3f display-2:%s: %s' % (rec.now(), match.group(1), text))
        if rec.conditions_met():
            stop('conditions met')

    every_level = (GLib.LogLevelFlags.LEVEL_MASK | GLib.LogLevelFlags.FLAG_FATAL
                   | GLib.LogLevelFlags.FLAG_RECURSION)
    for domain in ('GSpice', 'Spice'):
        GLib.log_set_handler(domain, every_level, on_log, None)
    SpiceClientGLib.util_set_debug(True)

    # read-only: the client never sends a key or a mouse move to the guest it watches.
    session = SpiceClientGLib.Session(uri=uri, read_only=True)
    if password is not None:
        session.set_property('password', password)

    def channel_key(channel):
        kind = channel.get_property('channel-type')
        return '%s:%d' % (SpiceClientGLib.Channel.type_to_string(kind),
                          channel.get_property('channel-id'))

    def forget_surface(channel_id):
        # After destroy or a closed channel the imgdata memory is spice-gtk's to free.
        rec.surfaces.pop(channel_id, None)

    @guarded
    def on_channel_event(channel, event):
        key = channel_key(channel)
        record = rec.channels[key]
        nick = event.value_nick
        when = rec.now()
        record['events'].append([when, nick])
        if nick == 'opened' and record['opened'] is None:
            record['opened'] = when
            if rec.conditions_met():
                stop('conditions met')
        error = channel.get_error() if nick.startswith('error') else None
        if nick.startswith('error'):
            message = error.message if error is not None else nick
            record['error'] = message
            rec.errors.append({'t': when, 'channel': key, 'event': nick, 'message': message})
        if nick != 'opened' and record['type'] == 'display':
            forget_surface(record['id'])
        if record['type'] == 'main' and (nick == 'closed' or nick.startswith('error')):
            # The server ended the session. spice-gtk reports the other channels' ends as their
            # sockets close, which can come later than the main channel's: wait for them
            # (bounded), so a document never shows a channel still open on a closed session.
            rec.main_ended = 'main channel %s' % nick
            GLib.timeout_add(int(CHANNELS_CLOSE_GRACE * 1000), stop, rec.main_ended)
        if rec.main_ended is not None and rec.channels_settled():
            stop(rec.main_ended)
        _emit_event({'t': when, 'channel': key, 'event': nick,
                     'message': record['error'] if nick.startswith('error') else None})

    @guarded
    def on_primary_create(channel, fmt, width, height, stride, _shmid, imgdata):
        channel_id = channel.get_property('channel-id')
        record = rec.display(channel_id)
        record['surfaces'].append({'t': rec.now(), 'format': fmt, 'width': width, 'height': height,
                                   'stride': stride, 'destroyed': None, 'invalidates': 0})
        rec.surfaces[channel_id] = (imgdata, stride, width, height, fmt)
        rec.read_samples(channel_id)
        _emit_event({'t': rec.now(), 'channel': 'display:%d' % channel_id, 'event': 'primary-create',
                     'width': width, 'height': height})
        if rec.conditions_met():
            stop('conditions met')

    @guarded
    def on_primary_destroy(channel):
        channel_id = channel.get_property('channel-id')
        record = rec.display(channel_id)
        if record['surfaces'] and record['surfaces'][-1]['destroyed'] is None:
            record['surfaces'][-1]['destroyed'] = rec.now()
        forget_surface(channel_id)

    @guarded
    def on_invalidate(channel, _x, _y, _width, _height):
        channel_id = channel.get_property('channel-id')
        record = rec.display(channel_id)
        record['invalidate_count'] += 1
        if record['surfaces']:
            record['surfaces'][-1]['invalidates'] += 1
        if len(record['invalidates']) < _KEEP_INVALIDATES:
            record['invalidates'].append(rec.now())
        rec.read_samples(channel_id)
        if rec.conditions_met():
            stop('conditions met')

    @guarded
    def on_channel_new(_session, channel):
        kind = channel.get_property('channel-type')
        channel_id = channel.get_property('channel-id')
        key = channel_key(channel)
        rec.channels[key] = {'type': key.split(':')[0], 'type_id': kind, 'id': channel_id,
                             'opened': None, 'events': [], 'error': None}
        GObject.Object.connect(channel, 'channel-event', on_channel_event)
        if isinstance(channel, SpiceClientGLib.DisplayChannel):
            rec.display(channel_id)
            GObject.Object.connect(channel, 'display-primary-create', on_primary_create)
            GObject.Object.connect(channel, 'display-primary-destroy', on_primary_destroy)
            GObject.Object.connect(channel, 'display-invalidate', on_invalidate)
        channel.connect()   # SpiceChannel.connect(): opens the channel (not GObject's connect)

    GObject.Object.connect(session, 'channel-new', on_channel_new)
    GLib.timeout_add(int(seconds * 1000), stop, 'deadline')
    # Client.stop(): end now, still reporting what was seen.
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop, 'stopped by caller')
    if not session.connect():       # SpiceSession.connect(): starts the main channel
        rec.stopped = 'session did not start'
        rec.errors.append({'t': rec.now(), 'channel': None, 'event': 'error-connect',
                           'message': 'spice_session_connect() refused %s' % uri})
    else:
        loop.run()
    guarded(rec.dump_surfaces)()
    rec.surfaces.clear()
    # The server names its domain in a message after the main channel opened.
    rec.server_name = session.get_property('name')
    # A copy: our own disconnect below closes every channel, which is not what the server did.
    document = json.loads(json.dumps(rec.document()))
    session.disconnect()
    # Let the sockets close politely, so the next client meets a server with no client.
    context = GLib.MainContext.default()
    deadline = time.monotonic() + 1.0
    while context.pending() and time.monotonic() < deadline:
        context.iteration(False)
    return document


def _parse_points(values):
    points = {}
    for value in values:
        match = re.match(r'^(\d+):(\d+),(\d+)$', value)
        if not match:
            raise argparse.ArgumentTypeError('--sample wants CH:X,Y, got %r' % value)
        points.setdefault(int(match.group(1)), []).append((int(match.group(2)), int(match.group(3))))
    return points


def _parse_dumps(values):
    dumps = {}
    for value in values:
        channel_id, _sep, path = value.partition(':')
        if not channel_id.isdigit() or not path:
            raise argparse.ArgumentTypeError('--dump wants CH:PATH, got %r' % value)
        dumps[int(channel_id)] = path
    return dumps


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Headless SPICE client (spice-gtk): connect, record for a bounded time, '
                    'print JSON. Password from $%s.' % PASSWORD_VARIABLE)
    parser.add_argument('uri', help='spice://HOST:PORT')
    parser.add_argument('--seconds', type=float, default=5.0, help='longest observation')
    parser.add_argument('--until', action='append', default=[],
                        help='stop early once all hold: primary:CH, frames:CH:N, stream:CH, '
                             'opened:TYPE:ID')
    parser.add_argument('--sample', action='append', default=[], metavar='CH:X,Y',
                        help='read this pixel of display CH at every invalidate')
    parser.add_argument('--dump', action='append', default=[], metavar='CH:PATH',
                        help='write the last surface of display CH as a PPM file')
    args = parser.parse_args(argv)
    for text in args.until:
        parse_condition(text)
    # Never outlive a caller that forgot us: the GLib deadline is the normal end.
    signal.alarm(int(args.seconds) + 30)
    document = run_client(args.uri, args.seconds, os.environ.get(PASSWORD_VARIABLE),
                          args.until, _parse_points(args.sample), _parse_dumps(args.dump))
    sys.stdout.write(json.dumps(document) + '\n')
    sys.stdout.flush()
    return 0


# ---------------------------------------------------------------------------------------
# The test side (any interpreter): start the client process, read what it saw.

class SpiceClientError(AssertionError):
    """The client itself failed (crashed, hung, printed no JSON): not an observation."""


class Observation:
    """What one client connection saw, with helpers for assertions; ``summary()`` for messages."""

    def __init__(self, data, stderr='', images=None):
        self.data = data
        self.stderr = stderr
        self.images = images or {}

    @property
    def stopped(self):
        return self.data['stopped']

    @property
    def errors(self):
        return self.data['errors']

    @property
    def server_name(self):
        return self.data['server_name']

    def opened(self):
        """{(type, id)} of every channel that opened, e.g. ('display', 1)."""
        return {(c['type'], c['id']) for c in self.data['channels'] if c['opened'] is not None}

    def channel(self, kind, channel_id=0):
        for record in self.data['channels']:
            if record['type'] == kind and record['id'] == channel_id:
                return record
        return None

    def error_events(self):
        return [error['event'] for error in self.errors]

    def display(self, channel_id):
        return self.data['displays'].get(str(channel_id))

    def surfaces(self, channel_id):
        record = self.display(channel_id)
        return record['surfaces'] if record else []

    def primary(self, channel_id):
        """The last primary surface of display ``channel_id`` (dict) or None."""
        surfaces = self.surfaces(channel_id)
        return surfaces[-1] if surfaces else None

    def invalidates(self, channel_id):
        record = self.display(channel_id)
        return record['invalidates'] if record else []

    def frames(self, channel_id):
        """Invalidates of display ``channel_id`` since its last primary surface was created."""
        record = self.display(channel_id)
        return _frames_since_surface(record) if record else 0

    def fps(self, channel_id, skip=0.0):
        """Invalidates per second since the last primary surface (after ``skip`` seconds more)."""
        surface = self.primary(channel_id)
        if surface is None:
            return 0.0
        times = [t for t in self.invalidates(channel_id) if t >= surface['t'] + skip]
        if len(times) < 2 or times[-1] == times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def streams_created(self, channel_id):
        record = self.display(channel_id)
        return record['streams']['created'] if record else []

    def streams_destroyed(self, channel_id):
        record = self.display(channel_id)
        return record['streams']['destroyed'] if record else []

    def glz_images(self):
        """How many images spice-gtk decoded with its GLZ decoder (any display channel)."""
        return self.data['decoded']['glz']

    def sample(self, channel_id, x, y):
        """(R, G, B) at x, y of display ``channel_id`` as read at the last invalidate, or None."""
        record = self.display(channel_id)
        for point in record['samples'] if record else []:
            if (point['x'], point['y']) == (x, y):
                return tuple(point['rgb']) if point['rgb'] is not None else None
        raise KeyError('(%d, %d) on display %d was not asked for: pass samples={%d: [(%d, %d)]}'
                       % (x, y, channel_id, channel_id, x, y))

    def image(self, channel_id):
        """The last surface of display ``channel_id`` (RGBImage), when ``dump`` asked for it."""
        return self.images.get(channel_id)

    def summary(self):
        data = self.data
        lines = ['%s (server %r), spice-gtk %s: %.1f s of %.1f s, stopped: %s'
                 % (data['uri'], data['server_name'], data['spice_gtk'], data['elapsed'],
                    data['seconds'], data['stopped'])]
        if data['until']:
            lines.append('until: %s' % ', '.join(data['until']))
        lines.append('channels opened: %s' % (' '.join(
            '%s:%d' % pair for pair in sorted(self.opened())) or 'none'))
        for key, record in data['displays'].items():
            surfaces = ', '.join('%dx%d fmt %d at %.2f s%s' % (
                s['width'], s['height'], s['format'], s['t'],
                '' if s['destroyed'] is None else ' (destroyed at %.2f s)' % s['destroyed'])
                for s in record['surfaces']) or 'no primary surface'
            samples = ' '.join('(%d,%d)=%s' % (s['x'], s['y'], tuple(s['rgb']) if s['rgb'] else None)
                               for s in record['samples'])
            lines.append('display %s: %s; %d invalidates (%.1f/s); streams created %d, destroyed %d%s'
                         % (key, surfaces, record['invalidate_count'], self.fps(int(key)),
                            len(record['streams']['created']), len(record['streams']['destroyed']),
                            '; samples ' + samples if samples else ''))
            lines.extend('  ' + line for line in record['streams']['lines'][:5])
        decoded = data.get('decoded') or {'glz': 0, 'lines': []}
        lines.append('GLZ images decoded: %d%s' % (decoded['glz'], ''.join('\n  ' + line for line in decoded['lines'])))
        for error in data['errors']:
            lines.append('error: %s %s at %.2f s: %s' % (error['channel'], error['event'], error['t'],
                                                         error['message']))
        lines.extend('warning: ' + warning for warning in data['warnings'][:10])
        if data['log_tail']:
            lines.append('spice-gtk log tail:')
            lines.extend('  ' + line[:300] for line in data['log_tail'][-12:])
        if self.stderr.strip():
            lines.append('client stderr tail:')
            lines.extend('  ' + line for line in self.stderr.strip().splitlines()[-10:])
        return '\n'.join(lines)

    __str__ = summary


class Client:
    """A running client process; ``finish()`` returns its Observation."""

    def __init__(self, uri, seconds, password=None, until=(), samples=None, dump=(), python=CLIENT_PYTHON):
        self.uri = uri
        self.seconds = seconds
        self._workdir = tempfile.mkdtemp(prefix='sst-spice-client-')
        self._dumps = {int(channel_id): os.path.join(self._workdir, 'display-%d.ppm' % int(channel_id))
                       for channel_id in dump}
        command = [python, os.path.abspath(__file__), uri, '--seconds', str(seconds)]
        for condition in until:
            parse_condition(condition)
            command += ['--until', condition]
        for channel_id, points in sorted((samples or {}).items()):
            for x, y in points:
                command += ['--sample', '%d:%d,%d' % (channel_id, x, y)]
        for channel_id, path in sorted(self._dumps.items()):
            command += ['--dump', '%d:%s' % (channel_id, path)]
        env = dict(os.environ)
        env.pop(PASSWORD_VARIABLE, None)
        if password is not None:
            env[PASSWORD_VARIABLE] = password
        self.events = []
        self._stderr = []
        self._stdout = []
        self._changed = threading.Condition()
        self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env, cwd=self._workdir)
        self._readers = [threading.Thread(target=self._read_stderr, daemon=True),
                         threading.Thread(target=self._read_stdout, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stderr(self):
        for raw in self._proc.stderr:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            with self._changed:
                if line.startswith(EVENT_PREFIX):
                    self.events.append(json.loads(line[len(EVENT_PREFIX):]))
                else:
                    self._stderr.append(line)
                self._changed.notify_all()

    def _read_stdout(self):
        self._stdout.append(self._proc.stdout.read())

    def wait_for(self, channel, event='opened', timeout=30.0):
        """Wait until the client reports ``event`` on ``channel`` ('display:0'); False on timeout.

        Returns early (False) when the client process ends without it.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if any(e['channel'] == channel and e['event'] == event for e in self.events):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._proc.poll() is not None:
                    return False
                self._changed.wait(min(remaining, 0.2))

    def stop(self):
        """End the observation now (SIGTERM, which the client handles) and read what it saw."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        return self.finish()

    def finish(self):
        """Wait for the client's own deadline (plus a margin), then read what it saw."""
        try:
            try:
                self._proc.wait(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
                raise SpiceClientError('the SPICE client for %s ran past its %s s deadline and was '
                                       'killed; stderr:\n%s' % (self.uri, self.seconds, self._stderr_text()))
            for reader in self._readers:
                reader.join(10)
            stdout = b''.join(self._stdout).decode('utf-8', 'replace')
            try:
                data = json.loads(stdout)
            except ValueError as err:
                raise SpiceClientError(
                    'the SPICE client for %s exited %d without a JSON document; stdout: %r\nstderr:\n%s'
                    % (self.uri, self._proc.returncode, stdout[:2000], self._stderr_text())) from err
            if data.get('client_errors'):
                raise SpiceClientError('the SPICE client for %s failed in its own code:\n%s\nstderr:\n%s'
                                       % (self.uri, '\n'.join(data['client_errors']), self._stderr_text()))
            images = {}
            if self._dumps:
                from tests.support.spice_screen import RGBImage
                for channel_id, path in self._dumps.items():
                    if os.path.exists(path):
                        with open(path, 'rb') as handle:
                            images[channel_id] = RGBImage.from_ppm(handle.read())
            return Observation(data, self._stderr_text(), images)
        finally:
            for path in self._dumps.values():
                if os.path.exists(path):
                    os.unlink(path)
            os.rmdir(self._workdir)

    def _stderr_text(self):
        with self._changed:
            return '\n'.join(self._stderr[-200:])


def spice_uri(port, host='127.0.0.1'):
    return 'spice://%s:%d' % (host, port)


def start(port, seconds, password=None, until=(), samples=None, dump=(), host='127.0.0.1'):
    """Start observing ``spice://host:port`` in the background; see ``Client``."""
    return Client(spice_uri(port, host), seconds, password, until, samples, dump)


def observe(port, seconds, password=None, until=(), samples=None, dump=(), host='127.0.0.1'):
    """Connect to ``spice://host:port``, record for at most ``seconds``, return an Observation.

    ``until``: conditions (``primary(ch)``, ``frames(ch, n)``, ``stream(ch)``,
    ``opened(type, id)``) that end the observation early once all hold. ``samples``: {display id: [(x, y), ...]} pixels to read.
    ``dump``: display ids whose last surface ``Observation.image(ch)`` returns.
    """
    return start(port, seconds, password, until, samples, dump, host).finish()


def free_local_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


if __name__ == '__main__':
    sys.exit(main())
