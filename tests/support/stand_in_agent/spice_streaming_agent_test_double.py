# TEST DOUBLE of spice-streaming-agent: NOT the real agent. Debian ships no agent, so the
# spice.streaming test suite installs this stand-in as /usr/bin/spice-streaming-agent
# (build_deb.py puts the #!/usr/bin/python3 line in front, as a Debian package would).
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for spice-streaming-agent, for tests only.

It behaves like the real agent (upstream ``src/spice-streaming-agent.cpp``, read, not
copied) where the host can see it:

- the same options: ``-p PORT``, ``-c key=value`` (repeatable), ``-l FILE``, ``-d``,
  ``--plugins-dir=DIR``, ``--log-binary``, ``--log-categories=LIST``, ``-h``/``--help``
  (prints usage, exits 1); ``-c`` takes ``framerate=N``, ``mjpeg.quality=N`` and both codec
  syntaxes, release 0.3's ``gst.codec=``/``gst.encoder=``/``gst.prop=PROP=VALUE`` and the
  later ``gst.<codec>=<encoder>:prop=val,...``;
- it needs ``DISPLAY`` (fails like the real one without it) and exits when its X display
  goes away, so the end of a session closes the port;
- it opens ``/dev/virtio-ports/org.spice-space.stream.0`` read-write and non-blocking; when
  another process holds it (EBUSY) it logs "Failed to open the streaming device" and exits
  1, as the real one does;
- it speaks the stream-device protocol (``spice/stream-device.h``): answers the server's
  CAPABILITIES with an empty CAPABILITIES; on START_STOP with MJPEG among the codecs it
  sends FORMAT (its X screen size, MJPEG) and then DATA messages, each one whole JPEG frame
  captured from its X display (X11 capture, like the real agent's built-in MJPEG path),
  paced at ``framerate`` (default 10) from the moment FORMAT is sent; START_STOP with no
  codec stops the stream.  It has no GStreamer plugin: ``gst.*`` options are recorded and
  logged, and the stream is MJPEG, as with the real agent without its plugin.

What it received and did goes to syslog (ident ``spice-streaming-agent``) and, as JSON
lines a test reads, to ``$SPICE_STREAMING_AGENT_TEST_DOUBLE_LOG`` or else
``/tmp/spice-streaming-agent-test-double-<uid>.jsonl``.
"""

import ctypes
import errno
import getopt
import io
import json
import os
import select
import signal
import socket
import struct
import sys
import syslog
import time

DEFAULT_PORT = '/dev/virtio-ports/org.spice-space.stream.0'
DEFAULT_PLUGINS_DIR = '/usr/lib/spice-streaming-agent/plugins'
PROTOCOL_VERSION = 1
# StreamMsgType in spice/stream-device.h
CAPABILITIES, FORMAT, DATA, START_STOP, NOTIFY_ERROR = 1, 2, 3, 4, 5
HEADER = struct.Struct('<BBHI')      # protocol_version, padding, type, size
FORMAT_BODY = struct.Struct('<IIB3x')  # width, height, codec, padding
CODEC_MJPEG = 1                      # SPICE_VIDEO_CODEC_TYPE_MJPEG
GST_CODECS = ('h264', 'vp8', 'vp9', 'mjpeg', 'h265')
MAX_INBOUND = 4 * 1024               # the real agent refuses bigger server messages


class AgentError(Exception):
    """Ends the agent with EXIT_FAILURE after logging, as the real agent's catch-all does."""


def usage(progname):
    print('usage: %s <options>' % progname)
    print('options are:')
    print('\t-p portname  -- virtio-serial port to use')
    print('\t-l file -- log frames to file')
    print('\t--log-binary -- log binary frames (following -l)')
    print('\t--log-categories -- log categories, separated by \':\' (currently: frames)')
    print('\t--plugins-dir=path -- change plugins directory')
    print('\t-d -- enable debug logs')
    print('\t-c variable=value -- change settings')
    print('\t\tframerate = 1-100 (check 10,20,30,40,50,60)')
    print('')
    print('\t-h or --help     -- print this help message')
    print('(this is a TEST DOUBLE of spice-streaming-agent, not the real agent)')
    sys.exit(1)


class EventLog:
    """JSON lines for tests, and syslog for people, of everything the agent did."""

    def __init__(self):
        self.path = os.environ.get('SPICE_STREAMING_AGENT_TEST_DOUBLE_LOG') or \
            '/tmp/spice-streaming-agent-test-double-%d.jsonl' % os.getuid()

    def __call__(self, event, priority=syslog.LOG_INFO, message=None, **fields):
        record = {'time': round(time.time(), 3), 'pid': os.getpid(), 'event': event}
        record.update(fields)
        try:
            with open(self.path, 'a', encoding='utf-8') as handle:
                handle.write(json.dumps(record, sort_keys=True) + '\n')
        except OSError:
            pass
        syslog.syslog(priority, message or '%s %s' % (event, json.dumps(fields, sort_keys=True)))


def parse_settings(pairs, log):
    """The ``-c`` settings as the real agent's plugins read them (errors are logged, not fatal)."""
    settings = {'framerate': 10, 'mjpeg.quality': 80, 'gst': None}
    for name, value in pairs:
        if name in ('framerate', 'mjpeg.quality'):
            try:
                settings[name] = int(value)
            except ValueError:
                log('option-error', syslog.LOG_ERR,
                    "Error parsing plugin option: Invalid value '%s' for option '%s'." % (value, name),
                    name=name, value=value)
        elif name in ('gst.codec', 'gst.encoder', 'gst.prop'):
            gst = settings['gst'] or {'syntax': '0.3', 'props': {}}
            if gst['syntax'] != '0.3':
                log('option-error', syslog.LOG_ERR, 'mixed gst option syntaxes: %s' % name,
                    name=name, value=value)
            if name == 'gst.codec':
                if value not in GST_CODECS:
                    log('option-error', syslog.LOG_ERR,
                        "Invalid value '%s' for option 'gst.codec'." % value, name=name, value=value)
                gst['codec'] = value
            elif name == 'gst.encoder':
                gst['encoder'] = value
            else:
                prop, sep, prop_value = value.partition('=')
                if not prop or not sep or not prop_value:
                    log('option-error', syslog.LOG_ERR,
                        "Invalid value '%s' for option 'gst.prop'." % value, name=name, value=value)
                else:
                    gst['props'][prop] = prop_value
            settings['gst'] = gst
        elif name.startswith('gst.') and name[4:] in GST_CODECS:
            # later syntax: gst.<codec>=<encoder>[:prop=val,...]
            encoder, _sep, props = value.partition(':')
            entry = {'encoder': encoder, 'props': {}}
            for item in filter(None, props.split(',')):
                prop, _eq, prop_value = item.partition('=')
                entry['props'][prop] = prop_value
            gst = settings['gst'] or {'syntax': 'later', 'codecs': {}}
            gst.setdefault('codecs', {})[name[4:]] = entry
            settings['gst'] = gst
        else:
            settings.setdefault('unknown', {})[name] = value
    return settings


class X11Display:
    """The agent's own connection to its X display: size, and noticing that it went away."""

    def __init__(self, name):
        self.name = name
        self.xlib = ctypes.CDLL('libX11.so.6')
        self.xlib.XOpenDisplay.restype = ctypes.c_void_p
        self.xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        for func in ('XConnectionNumber', 'XDefaultScreen'):
            getattr(self.xlib, func).argtypes = [ctypes.c_void_p]
        for func in ('XDisplayWidth', 'XDisplayHeight'):
            getattr(self.xlib, func).argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.dpy = self.xlib.XOpenDisplay(name.encode() if name else None)
        if not self.dpy:
            raise AgentError('Unable to open display %r' % name)
        self.fd = self.xlib.XConnectionNumber(self.dpy)
        self.sock = socket.socket(fileno=os.dup(self.fd))

    def size(self):
        screen = self.xlib.XDefaultScreen(self.dpy)
        return self.xlib.XDisplayWidth(self.dpy, screen), self.xlib.XDisplayHeight(self.dpy, screen)

    def gone(self):
        """Called when the connection is readable: we asked for nothing, so EOF means gone."""
        try:
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b''
        except BlockingIOError:
            return False
        except OSError:
            return True


class Agent:
    def __init__(self, port_path, settings, display, log, frame_log):
        self.port_path = port_path
        self.settings = settings
        self.display = display
        self.log = log
        self.frame_log = frame_log
        self.fd = None
        self.inbound = b''
        self.streaming = False
        self.codecs = []
        self.frames = 0
        self.stream_started = None
        self.next_frame = None
        self.size = None
        self.quit = False

    def open_port(self):
        try:
            self.fd = os.open(self.port_path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as err:
            raise AgentError('Failed to open the streaming device "%s": %d - %s'
                             % (self.port_path, err.errno, os.strerror(err.errno)))
        self.log('port-open', port=self.port_path)

    def write_all(self, data):
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EINTR):
                    select.select([], [self.fd], [], 1.0)
                    continue
                raise AgentError('Writing message to device failed: %d - %s'
                                 % (err.errno, os.strerror(err.errno)))
            view = view[written:]

    def send(self, msg_type, body=b''):
        self.write_all(HEADER.pack(PROTOCOL_VERSION, 0, msg_type, len(body)) + body)

    def read_messages(self):
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError as err:
            raise AgentError('Reading message from device failed: %d - %s' % (err.errno, os.strerror(err.errno)))
        if not chunk:
            raise AgentError('Reading message from device failed: read() returned 0, device is closed.')
        self.inbound += chunk
        while len(self.inbound) >= HEADER.size:
            version, _pad, msg_type, size = HEADER.unpack_from(self.inbound)
            if version != PROTOCOL_VERSION:
                raise AgentError('Bad protocol version: %d, expected: %d' % (version, PROTOCOL_VERSION))
            if size > MAX_INBOUND:
                raise AgentError('Inbound message too big, exceeding the 4kB limit.')
            if len(self.inbound) < HEADER.size + size:
                return
            body = self.inbound[HEADER.size:HEADER.size + size]
            self.inbound = self.inbound[HEADER.size + size:]
            self.handle(msg_type, body)

    def handle(self, msg_type, body):
        if msg_type == CAPABILITIES:
            self.log('capabilities', caps=body.hex())
            self.send(CAPABILITIES)
        elif msg_type == START_STOP:
            if not body or body[0] > len(body) - 1:
                raise AgentError('Malformed StartStop message')
            self.codecs = list(body[1:1 + body[0]])
            start = bool(self.codecs)
            self.log('start-stop', message='GOT START_STOP message -- request to %s streaming'
                     % ('START' if start else 'STOP'), codecs=self.codecs)
            if start and CODEC_MJPEG not in self.codecs:
                raise AgentError('cannot find a suitable capture system')
            if start and not self.streaming:
                self.stream_started = None   # a new stream begins with FORMAT
            if not start and self.streaming:
                self.log('stream-stop', frames=self.frames)
            self.streaming = start
        elif msg_type == NOTIFY_ERROR:
            code = struct.unpack_from('<I', body)[0] if len(body) >= 4 else None
            text = body[4:].split(b'\0')[0].decode('utf-8', 'replace')
            self.log('notify-error', syslog.LOG_ERR, 'Received NotifyError message from the server: %s - %s'
                     % (code, text), code=code, text=text)
        else:
            raise AgentError('UNKNOWN msg of type %d' % msg_type)

    def capture(self):
        from PIL import ImageGrab   # imported late: an agent that never streams never needs it
        image = ImageGrab.grab(xdisplay=self.display.name).convert('RGB')
        out = io.BytesIO()
        image.save(out, 'JPEG', quality=self.settings['mjpeg.quality'])
        return image.size, out.getvalue()

    def send_frame(self):
        size, jpeg = self.capture()
        now = time.monotonic()
        if self.stream_started is None or size != self.size:
            self.size = size
            self.send(FORMAT, FORMAT_BODY.pack(size[0], size[1], CODEC_MJPEG))
            self.stream_started = now
            self.next_frame = now
            self.log('format', width=size[0], height=size[1], codec=CODEC_MJPEG)
            self.frame_log('Started new stream wXh %dX%d codec=%d' % (size[0], size[1], CODEC_MJPEG))
        self.send(DATA, jpeg)
        self.frames += 1
        self.frame_log('Frame of %d bytes' % len(jpeg))
        if self.frames == 1 or self.frames % 50 == 0:
            self.log('frames', priority=syslog.LOG_DEBUG, frames=self.frames, bytes=len(jpeg))
        interval = 1.0 / max(1, self.settings['framerate'])
        # Frames late by more than one interval are skipped, never sent in a burst: the
        # client drops a burst of old frames as "rendering too late".
        self.next_frame = max(self.next_frame + interval, time.monotonic())

    def run(self):
        self.open_port()
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        poller.register(self.display.fd, select.POLLIN)
        while not self.quit:
            timeout = -1
            if self.streaming and self.stream_started is not None:
                timeout = max(0, int((self.next_frame - time.monotonic()) * 1000))
            elif self.streaming:
                timeout = 0
            try:
                events = dict(poller.poll(timeout))
            except InterruptedError:
                continue
            if self.display.fd in events and self.display.gone():
                raise AgentError('X display %s went away' % self.display.name)
            port_events = events.get(self.fd, 0)
            if port_events & select.POLLIN:
                self.read_messages()
            elif port_events & select.POLLHUP:
                # The host side of the port is closed: like the real agent, wait for it
                # (poll reports POLLHUP at once, so without this pause the loop would spin).
                time.sleep(1)
            if self.streaming and (self.stream_started is None or time.monotonic() >= self.next_frame):
                self.send_frame()


def main(argv):
    progname = argv[0]
    syslog.openlog('spice-streaming-agent',
                   syslog.LOG_PID | (syslog.LOG_PERROR if sys.stderr.isatty() else 0), syslog.LOG_USER)
    syslog.setlogmask(syslog.LOG_UPTO(syslog.LOG_NOTICE))
    log = EventLog()
    try:
        opts, _rest = getopt.gnu_getopt(argv[1:], 'hp:c:l:d',
                                        ['plugins-dir=', 'log-binary', 'log-categories=', 'help'])
    except getopt.GetoptError as err:
        print('%s: %s' % (progname, err), file=sys.stderr)
        usage(progname)
    port = DEFAULT_PORT
    plugins_dir = DEFAULT_PLUGINS_DIR
    pairs = []
    log_file = None
    debug = False
    log_binary = False
    log_categories = []
    for opt, value in opts:
        if opt in ('-h', '--help'):
            usage(progname)
        elif opt == '-p':
            port = value
        elif opt == '-c':
            name, sep, val = value.partition('=')
            if not sep:
                syslog.syslog(syslog.LOG_ERR, "Invalid '-c' argument value: %s" % value)
                usage(progname)
            pairs.append((name, val))
        elif opt == '-l':
            log_file = value
        elif opt == '-d':
            debug = True
            syslog.setlogmask(syslog.LOG_UPTO(syslog.LOG_DEBUG))
        elif opt == '--plugins-dir':
            plugins_dir = value
        elif opt == '--log-binary':
            log_binary = True
        elif opt == '--log-categories':
            log_categories = [cat for cat in value.split(':') if cat]

    settings = parse_settings(pairs, log)
    plugins = sorted(name for name in os.listdir(plugins_dir) if name.endswith('.so')) \
        if os.path.isdir(plugins_dir) else []
    log('start', syslog.LOG_NOTICE, 'test double of spice-streaming-agent started: %s' % ' '.join(argv),
        argv=argv, port=port, settings=settings, options=[list(pair) for pair in pairs],
        debug=debug, log_file=log_file, log_binary=log_binary, log_categories=log_categories,
        plugins_dir=plugins_dir, plugins_found=plugins, display=os.environ.get('DISPLAY'),
        user=os.getuid(), xdg_runtime_dir=os.environ.get('XDG_RUNTIME_DIR'))

    frame_log_handle = open(log_file, 'a', encoding='utf-8') if log_file else None  # noqa: SIM115

    def frame_log(line):
        if frame_log_handle:
            frame_log_handle.write('%.6f: %s\n' % (time.time(), line))
            frame_log_handle.flush()

    for arg in argv:
        frame_log('Args: %s' % arg)

    agent = None

    def on_signal(signum, _frame):
        syslog.syslog(syslog.LOG_INFO, 'Got signal %d, exiting' % signum)
        if agent is not None:
            agent.quit = True
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        display = X11Display(os.environ.get('DISPLAY'))
        agent = Agent(port, settings, display, log, frame_log)
        agent.run()
    except AgentError as err:
        log('exit', syslog.LOG_ERR, str(err), reason=str(err), status=1,
            frames=agent.frames if agent else 0)
        return 1
    except SystemExit:
        log('exit', reason='signal', status=0, frames=agent.frames if agent else 0)
        return 0
    log('exit', reason='quit', status=0, frames=agent.frames)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
