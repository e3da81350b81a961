# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt access, in one layer: every module of the collection reaches libvirt through here.

Issue 17 chose to extend this module (no new one) into that layer.  It holds:

* the one ``import libvirt`` of the collection and what happens when it is missing
  (:func:`ensure_bindings`); the other modules take ``libvirt`` from here;
* opening a connection (:func:`connect`, bounded as said below), whether one is
  still alive (:func:`is_alive`), closing a pool and its connection
  (:func:`close_connections`), and the one message for a lost connection
  (:func:`lost_connection`);
* which domains ``name`` and ``exclude`` select (:func:`select`), and the reasons
  a selected domain is left alone (``SKIP_*``), worded once for every module.

Every libvirt connection of the collection is opened here, and none can hang.

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

import fnmatch
import socket
import threading
import traceback

try:
    import libvirt
except ImportError:  # ensure_bindings reports it
    libvirt = None
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()
else:
    LIBVIRT_IMPORT_ERROR = None

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.respawn import (
    has_respawned,
    probe_interpreters_for_module,
    respawn_module,
)

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml
from ansible_collections.spice.streaming.plugins.module_utils.option_names import MODULE_NAMES

# Where distributions put the Python that their python3-libvirt package serves.
SYSTEM_PYTHONS = ('/usr/libexec/platform-python', '/usr/bin/python3', '/usr/bin/python')

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
            close_connections(None, conn)

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


def ensure_bindings(module):
    """Fail clearly, or re-run under a system Python, when libvirt or lxml is missing."""
    if libvirt is not None and domain_xml.etree is not None:
        return
    if not has_respawned():
        interpreter = probe_interpreters_for_module(SYSTEM_PYTHONS, 'libvirt')
        if interpreter:
            respawn_module(interpreter)  # does not return
    if libvirt is None:
        module.fail_json(msg=missing_required_lib(
            'libvirt-python',
            reason='to talk to libvirt (Debian/Ubuntu: apt install python3-libvirt; '
                   'Fedora/RHEL: dnf install python3-libvirt)'),
            exception=LIBVIRT_IMPORT_ERROR)
    module.fail_json(
        msg=missing_required_lib('lxml', reason='to edit domain XML (Debian/Ubuntu: apt install '
                                                'python3-lxml; Fedora/RHEL: dnf install python3-lxml)'),
        exception=domain_xml.LXML_IMPORT_ERROR)


# ---------------------------------------------------------------- a connection's life


def is_alive(conn):
    """Whether ``conn`` still reaches the daemon; never raises.

    The one check of the collection: a call that failed on a dead connection is
    reported as a lost connection, once, instead of as a failure of each domain.
    """
    try:
        return conn.isAlive() == 1
    except libvirt.libvirtError:
        return False


def is_gone(err):
    """Whether a libvirt error says the domain no longer exists."""
    return err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


def error_words(err):
    """What libvirt said, for a message (any exception's text otherwise)."""
    if libvirt is not None and isinstance(err, libvirt.libvirtError):
        return err.get_error_message() or str(err)
    return str(err)


def lost_connection(at_uri, on_host, err, when, state, /, **details):
    """The one error for a connection to libvirt lost during a task.

    ``at_uri``, ``on_host``: the connection and the hypervisor; ``when`` says what was being done (``'after reading 3 of 10 selected domains'``),
    ``state`` in what state that left things, in sentences (``'Nothing was changed.'``);
    ``details`` go into the module's result.  One wording for every module:
    "lost the connection to libvirt at URI on HOST WHEN (libvirt's words). STATE Run
    the task again once 'virsh -c URI version' answers."
    """
    return StreamingError(
        "lost the connection to libvirt at %s on %s %s (%s). %s Run the task again once "
        "'virsh -c %s version' answers." % (at_uri, on_host, when, error_words(err), state, at_uri),
        **details)


def close_connections(pool, conn):
    """Close the connections ``pool`` opened, then ``conn``; a lost connection has nothing to close."""
    if pool is not None:
        pool.close()
    try:
        conn.close()
    except libvirt.libvirtError:
        pass


def hypervisor_name(conn):
    """The hypervisor's host name as libvirt says it; this host's name when libvirt cannot."""
    try:
        return conn.getHostname()
    except libvirt.libvirtError:
        return socket.gethostname()


# ---------------------------------------------------------------- selection


def is_pattern(name):
    """Whether a ``name``/``exclude`` entry is a shell pattern (it holds ``*``, ``?`` or ``[``)."""
    return any(char in name for char in '*?[')


class SelectedDomain:
    __slots__ = ('name', 'dom', 'exact', 'active', 'persistent')

    def __init__(self, name, dom, exact, active, persistent):
        self.name = name
        self.dom = dom
        self.exact = exact
        self.active = active
        self.persistent = persistent


class Selection:
    """What ``name`` and ``exclude`` resolved to on one hypervisor.

    ``domains``: the selected domains sorted by name; ``unknown``: exact names that
    match no domain; ``unmatched``: patterns that match no domain.
    """

    __slots__ = ('domains', 'unknown', 'unmatched')

    def __init__(self, domains, unknown, unmatched):
        self.domains = domains
        self.unknown = unknown
        self.unmatched = unmatched


def _resolve(entry, by_name):
    """The names one ``name``/``exclude`` entry stands for, and whether it was exact.

    An entry equal to an existing domain's name means exactly that domain, even
    when it contains ``*``, ``?`` or ``[`` (libvirt allows them in names); only
    otherwise is such an entry a shell pattern.
    """
    if entry in by_name:
        return [entry], True
    if is_pattern(entry):
        return [name for name in by_name if fnmatch.fnmatchcase(name, entry)], False
    return [], True


def select(conn, names, exclude):
    """Resolve names and patterns with three list calls, whatever the number of domains."""
    by_name = {dom.name(): dom for dom in conn.listAllDomains(0)}
    active = {dom.name() for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
    transient = {dom.name() for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)}
    wanted = {}
    unknown = []
    unmatched = []
    for entry in names:
        matches, exact = _resolve(entry, by_name)
        if not matches:
            (unknown if exact else unmatched).append(entry)
        for match in matches:
            wanted[match] = wanted.get(match, False) or exact
    excluded = set()
    for entry in exclude:
        excluded.update(_resolve(entry, by_name)[0])
    domains = [SelectedDomain(name, by_name[name], wanted[name], name in active, name not in transient)
               for name in sorted(wanted) if name not in excluded]
    return Selection(domains, unknown, unmatched)


def select_domains(conn, names, exclude):
    """``(selected, unknown)``: see :func:`select`."""
    selection = select(conn, names, exclude)
    return selection.domains, selection.unknown


def selection_problem(selection, names, exclude, option_names=MODULE_NAMES):
    """Why nothing, or not everything asked, was selected, in a few words; None when all matched.

    Exact names that match no domain are not counted here: they are errors (or, with
    ``unfit_domains=skip``, skipped) in the plan pass.
    """
    if not selection.domains and not selection.unknown:
        if not names:
            return '%s is an empty list' % option_names('name')
        if selection.unmatched and len(selection.unmatched) == len(names):
            return 'no domain matches %s' % ', '.join("'%s'" % entry for entry in names)
        return '%s (%s) leaves out every domain that %s matched' % (
            option_names('exclude'), ', '.join("'%s'" % entry for entry in exclude),
            ', '.join("'%s'" % entry for entry in names))
    if selection.unmatched:
        return 'no domain matches %s' % ', '.join("'%s'" % entry for entry in selection.unmatched)
    return None


def selection_warning(selection, names, exclude, host, uri, option_names=MODULE_NAMES):
    """A sentence for a selection that matched nothing (or patterns that matched nothing), or None."""
    why = selection_problem(selection, names, exclude, option_names)
    if why is None:
        return None
    if not selection.domains and not selection.unknown:
        return ('no domain was selected on %s (%s): %s. Check the names with '
                "'virsh -c %s list --all'" % (host, uri, why, uri))
    return ('on %s (%s) %s; the other names selected %d domain%s'
            % (host, uri, why, len(selection.domains), '' if len(selection.domains) == 1 else 's'))


def where(name, host, uri):
    """How messages name a domain: ``domain 'vdi-001' on hv1 (qemu:///system)``."""
    return "domain '%s' on %s (%s)" % (name, host, uri)


# ---------------------------------------------------------------- why a domain is left alone

# What the plan pass records for an exact name that matches no domain.
NO_SUCH_DOMAIN = 'no such domain'
# Why a selected domain is left alone; libvirt_info reports them with the same words.
SKIP_TRANSIENT = ('transient domain: defining it would make it persistent; '
                  'define it yourself first if it should be managed')
SKIP_NO_SPICE = domain_xml.no_spice()
SKIP_VANISHED = 'the domain disappeared while the task ran'
# A transient domain named exactly: asked for by name, so unfit (as a domain named
# exactly without SPICE is), where one a pattern selects is a skip (SKIP_TRANSIENT).
UNFIT_TRANSIENT = ('is transient (it runs without a persistent definition): defining it would make '
                   'it persistent, so it cannot be managed. Define it yourself first if it should be '
                   "managed ('virsh dumpxml' it to a file, then 'virsh define' that file), or leave "
                   'it out of %s')
# A domain that was persistent when the task read it, and that another client undefined since.
SKIP_NOW_TRANSIENT = ('another client undefined it while the task ran, so it runs on as a transient '
                      'domain, which this collection leaves alone: defining it would make it '
                      'persistent again, and shutting it down or forcing it off would remove it '
                      'for good')


def unknown_name_sentence(name, host, uri):
    """The sentence for an exact name that matches no domain."""
    return ("no domain named '%s' on %s (%s); check the names with 'virsh -c %s list --all', "
            "or select with a pattern such as 'vdi-*'" % (name, host, uri, uri))
