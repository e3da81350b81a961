# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every libvirt connection of the collection is opened here, and none can hang.

A libvirt client waits for the daemon's answer without any limit: a libvirtd that
accepts connections and never answers (hung, stopped, swamped, or a port that some
other program holds) would keep a task waiting forever.  ``libvirt_timeout`` bounds
both halves of a connection's life:

* opening: libvirt has no connect timeout, so the open runs in a helper thread and
  the task stops waiting for it after the timeout.  The thread is left to libvirt
  (a daemon thread; if the open ever completes, the connection is closed at once).
* every call after that: libvirt's keepalive (``virConnectSetKeepAlive``) pings the
  daemon while the connection is idle or a call waits, and closes the connection
  when the daemon has said nothing for about the timeout; the waiting call then fails
  as on a lost connection, which every caller already reports once, naming the URI
  and the host.  A daemon that is busy still answers pings (its event loop does, not
  its workers), so a long call on a live daemon is never cut.  Keepalive needs an
  event loop in the client: libvirt's default one, registered once per process and
  run by a daemon thread.

The options every libvirt module shares (which hypervisor, how long it may stay
silent, over how many connections, which domains) are one argument spec here,
documented once in the ``spice.streaming.streaming.libvirt`` doc fragment.
"""

from __future__ import annotations

import socket
import threading

try:
    import libvirt
except ImportError:  # libvirt_streaming.ensure_bindings reports it
    libvirt = None

from ansible_collections.spice.streaming.plugins.module_utils.option_names import MODULE_NAMES

# Seconds libvirt may stay silent: as virsh's own keepalive (5 s pings, 6 unanswered).
DEFAULT_TIMEOUT = 30
# The longest keepalive interval; a shorter timeout pings more often.
KEEPALIVE_INTERVAL = 5

# Four connections: measured on 1000 domains (bench/run.sh parallel), reads and defines
# gain little beyond four on a small hypervisor, and four stays far below the daemon's limits.
DEFAULT_PARALLEL = 4
# Each connection keeps one call in flight, served by one of libvirtd's workers
# (max_workers, default 20, shared by every client of the daemon).  Ten is half of
# them: the task never takes every worker, so virsh, virt-manager and a second task
# on the same hypervisor (a report while a rollout runs) are still answered, and
# the measurements show nothing gained beyond four anyway.
MAX_PARALLEL = 10


class StreamingError(Exception):
    """A run that must stop; ``msg`` says what happened and what to do."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class ConnectTimeout(Exception):
    """libvirt did not finish opening the connection within the timeout."""


def _quiet_libvirt(_ctx, _err):
    """libvirt prints every error on stderr by default; the module reports them itself."""


def keepalive_settings(timeout):
    """``(interval, count)`` for virConnectSetKeepAlive so that a silent daemon is given up
    after about ``timeout`` seconds: libvirt closes the connection after
    ``interval * (count + 1)`` seconds without a word from the daemon."""
    interval = max(1, min(KEEPALIVE_INTERVAL, timeout // 2))
    count = max(1, timeout // interval - 1)
    return interval, count


_EVENT_LOOP = {'started': False}
_EVENT_LOOP_LOCK = threading.Lock()


def _run_event_loop():
    while True:
        libvirt.virEventRunDefaultImpl()


def ensure_event_loop():
    """Register libvirt's default event loop once per process and run it in a daemon thread."""
    with _EVENT_LOOP_LOCK:
        if _EVENT_LOOP['started']:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run_event_loop, name='libvirt-event-loop', daemon=True).start()
        _EVENT_LOOP['started'] = True


def _set_keepalive(conn, timeout):
    try:
        conn.setKeepAlive(*keepalive_settings(timeout))
    except libvirt.libvirtError as err:
        # Drivers without a daemon (test:///) have nothing to ping.
        if err.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
            raise


def open_connection(uri, read_only=False, timeout=DEFAULT_TIMEOUT):
    """Open ``uri`` with keepalive; libvirtError as libvirt raises it, ConnectTimeout when silent."""
    libvirt.registerErrorHandler(_quiet_libvirt, None)
    ensure_event_loop()
    opened = []     # the connection, once open
    errors = []     # or libvirt's error
    abandoned = []  # set when the caller stopped waiting
    lock = threading.Lock()

    def opening():
        conn = None
        try:
            conn = libvirt.openReadOnly(uri) if read_only else libvirt.open(uri)
            _set_keepalive(conn, timeout)
        except libvirt.libvirtError as err:
            errors.append(err)
        if conn is None:
            return
        with lock:
            keep = not errors and not abandoned
            if keep:
                opened.append(conn)
        if not keep:
            # Keepalive refused, or nobody waits for this connection any more.
            _close_quietly(conn)

    thread = threading.Thread(target=opening, name='libvirt-open', daemon=True)
    thread.start()
    thread.join(timeout)
    with lock:
        if thread.is_alive():
            abandoned.append(True)
            raise ConnectTimeout('no answer within %d s' % timeout)
    if errors:
        raise errors[0]
    return opened[0]


def _close_quietly(conn):
    try:
        conn.close()
    except libvirt.libvirtError:
        pass


def connect(uri, read_only=False, timeout=DEFAULT_TIMEOUT, read_only_why=None, names=MODULE_NAMES):
    """Open ``uri`` as :func:`open_connection` does; a StreamingError that names the URI,
    the host and what to check when that fails.

    ``read_only_why`` says, in the message, why the connection was read-only
    (``'as check mode opens it'``); it is only said when ``read_only`` is true.
    ``names`` (:class:`option_names.OptionNames`): what the caller calls ``libvirt_timeout``.
    """
    how = ''
    if read_only:
        how = ' (read-only%s)' % (', %s' % read_only_why if read_only_why else '')
    virsh = "'virsh %s-c %s version'" % ('-r ' if read_only else '', uri)
    try:
        return open_connection(uri, read_only=read_only, timeout=timeout)
    except ConnectTimeout as err:
        raise StreamingError(
            'could not connect to libvirt at %s on %s%s: %s (%s). Something accepts '
            'the connection but does not answer: libvirtd (or virtqemud) there may be hung or '
            'overloaded, or the URI points at another service. %s should answer at once; restart '
            'the daemon if it does not, or raise %s for a slow link.'
            % (uri, socket.gethostname(), how, err, names('libvirt_timeout'), virsh, names('libvirt_timeout')),
            uri=uri, timed_out=True) from None
    except libvirt.libvirtError as err:
        raise StreamingError(
            'could not connect to libvirt at %s on %s%s: %s. Check that libvirtd (or virtqemud) '
            'runs there, that the URI is right, and that the user the task runs as may use it '
            '(root, or a member of the libvirt group, or allowed by polkit); '
            '%s shows the same error.' % (uri, socket.gethostname(), how,
                                          err.get_error_message() or err, virsh),
            uri=uri) from err


def libvirt_argument_spec():
    """The options of the ``spice.streaming.streaming.libvirt`` doc fragment."""
    return dict(
        uri=dict(type='str', default='qemu:///system'),
        name=dict(type='list', elements='str', required=True, aliases=['domains']),
        exclude=dict(type='list', elements='str', default=[]),
        parallel=dict(type='int', default=DEFAULT_PARALLEL),
        libvirt_timeout=dict(type='int', default=DEFAULT_TIMEOUT),
    )


def option_problem(params, names=MODULE_NAMES):
    """Why ``parallel`` or ``libvirt_timeout`` cannot be used, or None; checked before connecting."""
    if not 1 <= params['parallel'] <= MAX_PARALLEL:
        return ('%s must be between 1 (one connection, no threads) and %d, got %d: each '
                "connection holds one of libvirtd's workers (max_workers, default 20), and more than "
                '%d would keep other clients of the daemon waiting' % (
                    names('parallel'), MAX_PARALLEL, params['parallel'], MAX_PARALLEL))
    if params['libvirt_timeout'] < 1:
        return '%s must be at least 1 second, got %d' % (names('libvirt_timeout'), params['libvirt_timeout'])
    return None
