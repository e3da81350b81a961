# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the SPICE desktops of hypervisors: the libvirt side of the desktops inventory.

Per hypervisor, :func:`read_desktops` runs ``libvirt_info.gather`` (the reader of
``libvirt_domain_info``: one pass over the domains, spread over a few connections)
and then, for the SPICE desktops only, asks what the definitions do not say: the
guest OS and addresses from the QEMU guest agent of running desktops (bounded in
time, so a guest that hangs costs seconds, not the run), libvirt's DHCP leases and
ARP table, and the libosinfo id of the definition's metadata.  :func:`read_many`
reads many hypervisors at once, a bounded number at a time, each with a deadline.

What becomes of the result (host names, variables, groups) is decided in
``desktops.py``, which has no libvirt in it.
"""

from __future__ import annotations

import queue
import threading
import time

from ansible_collections.spice.streaming.plugins.module_utils.desktops import (
    ADDRESS_SOURCES,
    is_desktop,
    libosinfo_id,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import (
    DEFAULT_PARALLEL,
    DEFAULT_TIMEOUT,
    SelectedDomain,
    StreamingError,
    close_connections,
    connect,
    error_words,
    hypervisor_name,
    libvirt,
    lost_connection,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_info import gather
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_pool import (
    ConnectionPool,
    first_error,
)

GUEST_AGENT_CHANNEL = 'org.qemu.guest_agent.0'
# libvirt itself gives a guest agent 5 s to answer its sync; a guest that answers that
# and then hangs would block the call for ever: no desktop waits longer than this.
DEFAULT_AGENT_TIMEOUT = 5.0


def as_pattern(name):
    """A shell pattern that matches exactly ``name`` and counts as a pattern for ``select``.

    A desktop inventory selects across hypervisors: a name found on one hypervisor only
    is no error on the others, and a non-SPICE domain is left out, not a failure.
    """
    if not name or any(char in name for char in '*?['):
        return name
    escaped = ''.join('[%s]' % char if char in '*?[' else char for char in name[:-1])
    return escaped + '[%s]' % name[-1]


class _Late:
    """What a bounded call returns when it did not finish in time."""


LATE = _Late()


def bounded(func, timeout):
    """``func()``'s value, its exception (returned, not raised), or :data:`LATE` after ``timeout`` s.

    The call runs in a daemon thread; one that never returns is left behind, its
    libvirt call still in flight on a connection that stays usable for the others.
    """
    box = []

    def run():
        try:
            box.append(func())
        except Exception as err:  # pylint: disable=broad-exception-caught
            box.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else LATE


def addresses_of(interfaces, source):
    """libvirt's ``interfaceAddresses`` answer as a flat list, in the order it gave them."""
    flat = []
    for name, interface in (interfaces or {}).items():
        for entry in interface.get('addrs') or []:
            flat.append({
                'source': source,
                'interface': name,
                'hwaddr': interface.get('hwaddr'),
                'address': entry.get('addr'),
                'prefix': entry.get('prefix'),
                'family': 'ipv6' if entry.get('type') == libvirt.VIR_IP_ADDR_TYPE_IPV6 else 'ipv4',
            })
    return flat


def _ask_agent(dom, with_addresses, answer):
    """Fill ``answer`` with the agent's OS facts and addresses; True when it has."""
    info = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_OS, 0)
    answer['os'] = {key[3:]: value for key, value in info.items() if key.startswith('os.')}
    answer['addresses'] = []
    if with_addresses:
        try:
            answer['addresses'] = addresses_of(
                dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0), 'agent')
        except libvirt.libvirtError:
            pass   # an agent too old for guest-network-get-interfaces still gave the OS
    return True


def read_guest(dom, state, ask_agent=True, agent_timeout=DEFAULT_AGENT_TIMEOUT,
               sources=ADDRESS_SOURCES, enough=None, osinfo_id=None):
    """What one desktop's guest agent, libvirt's leases and ARP table say of it.

    Returns ``{'agent': sentence, 'os': dict or None, 'libosinfo_id': str or None,
    'addresses': [...]}``.  The agent is asked only on a running desktop (``ask_agent``
    False: not at all), within ``agent_timeout`` seconds; address sources are read in
    the order of ``sources`` until ``enough(addresses)`` says an address was found.
    ``osinfo_id`` (the definition's libosinfo id, ``desktops.libosinfo_id``) is kept
    when the agent gave no OS.
    """
    guest = {'agent': None, 'os': None, 'libosinfo_id': None, 'addresses': []}
    agent_addresses = []
    if state != 'running':
        guest['agent'] = 'not asked: the desktop is %s' % state
    elif not ask_agent:
        guest['agent'] = 'not asked: no read-write connection to this hypervisor (libvirt asks guest agents only on one)'
    else:
        # A late call may still fill its own dict after this returned: it is not read then.
        answer = {}
        outcome = bounded(lambda: _ask_agent(dom, 'agent' in sources, answer), agent_timeout)
        if outcome is LATE:
            guest['agent'] = 'no answer within %g s' % agent_timeout
        elif isinstance(outcome, Exception):
            guest['agent'] = 'no answer: %s' % error_words(outcome)
        else:
            guest['agent'] = 'answered'
            guest['os'] = answer['os']
            agent_addresses = answer['addresses']
    if state != 'shut off':
        flags = {'lease': libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                 'arp': libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP}
        for source in sources:
            if enough is not None and enough(guest['addresses']):
                break
            if source == 'agent':
                guest['addresses'].extend(agent_addresses)
                continue
            try:
                guest['addresses'].extend(addresses_of(dom.interfaceAddresses(flags[source], 0), source))
            except libvirt.libvirtError:
                pass   # no lease database, no ARP table (containers): that source has nothing
    if guest['os'] is None:
        guest['libosinfo_id'] = osinfo_id
    return guest


def _refused(err):
    """Whether libvirt refused the read-write connection for want of rights (not of reach)."""
    if not isinstance(err, libvirt.libvirtError):
        return False
    codes = {getattr(libvirt, name, None) for name in (
        'VIR_ERR_AUTH_FAILED', 'VIR_ERR_AUTH_CANCELLED', 'VIR_ERR_AUTH_UNAVAILABLE',
        'VIR_ERR_ACCESS_DENIED', 'VIR_ERR_OPERATION_DENIED')}
    # The read-write socket of a system daemon is often root:libvirt 0770, the read-only one 0777.
    return err.get_error_code() in codes or 'Permission denied' in (err.get_error_message() or '')


def _open(uri, guest_agent, timeout=DEFAULT_TIMEOUT, who='the inventory'):
    """A connection, read-write only when the guest agents are to be asked (libvirt's rule)."""
    why = '%s only reads' % who
    if not guest_agent:
        return connect(uri, read_only=True, timeout=timeout, read_only_why=why), True, None
    try:
        return connect(uri, timeout=timeout), False, None
    except StreamingError as err:
        if not _refused(err.__cause__):
            raise
        conn = connect(uri, read_only=True, timeout=timeout, read_only_why=why)
        return conn, True, (
            'the QEMU guest agents of %s were not asked (no guest OS, no agent address): libvirt '
            'allows them only on a read-write connection, which it refused (%s); allow %s user '
            'read-write access, or set guest_agent: false' % (uri, err.msg, who))


def read_guests(conn, pool, uri, desktops, read_only, agent_timeout=DEFAULT_AGENT_TIMEOUT,
                sources=ADDRESS_SOURCES, enough=None, osinfo_ids=None, host=None):
    """:func:`read_guest` for every desktop of ``desktops`` (name: libvirt_info's dict), over ``pool``.

    Returns ``{name: read_guest's dict}``; a desktop gone since it was read is left out.
    StreamingError when the connection to libvirt is lost.  ``host``: the hypervisor's
    name as the read of the domains gave it (asked of libvirt when not given).
    ``osinfo_ids``: name -> libosinfo id of the definitions (:class:`OsinfoIds`), or None.
    """
    host = host or hypervisor_name(conn)
    try:
        listed = {dom.name(): dom for dom in conn.listAllDomains(0)}
    except libvirt.libvirtError as err:
        raise lost_connection(uri, host, err, 'after reading the domains', 'Nothing was changed: the '
                              'desktops are only read.', uri=uri) from err
    items = [SelectedDomain(name, listed[name], False, info['active'], info['persistent'])
             for name, info in desktops.items() if name in listed]

    def one(worker, item):
        try:
            dom = worker.domain(item)
        except libvirt.libvirtError:
            return None   # gone since it was read
        return read_guest(dom, desktops[item.name]['state'], not read_only, agent_timeout,
                          sources, enough, (osinfo_ids or {}).get(item.name))

    outcomes = pool.map(one, items)
    error = first_error(outcomes)
    if error is not None:
        raise lost_connection(uri, host, error, "while asking the desktops' guest agents",
                              'Nothing was changed: the desktops are only read.', uri=uri) from error
    return {item.name: outcome.value for item, outcome in zip(items, outcomes) if outcome.value is not None}


class OsinfoIds(dict):
    """name -> libosinfo id, filled by ``libvirt_info.gather`` through ``on_definition``."""

    def __call__(self, name, root):
        self[name] = libosinfo_id(root)


def read_desktops(uri, names=('*',), exclude=(), parallel=DEFAULT_PARALLEL, guest_agent=True,
                  agent_timeout=DEFAULT_AGENT_TIMEOUT, sources=ADDRESS_SOURCES, enough=None, osinfo=True,
                  libvirt_timeout=DEFAULT_TIMEOUT):
    """The SPICE desktops of one hypervisor; StreamingError when it cannot be read.

    Returns ``{'hypervisor': libvirt's host name, 'uri', 'domains_read', 'desktops':
    {name: {'info': libvirt_info's dict, 'guest': read_guest's dict}}, 'notes': [...]}``,
    every value plain data (it goes into the inventory cache as it is).
    """
    conn, read_only, note = _open(uri, guest_agent, libvirt_timeout)
    notes = [note] if note else []
    pool = ConnectionPool(conn, uri, parallel, read_only=read_only, timeout=libvirt_timeout)
    try:
        osinfo_ids = OsinfoIds() if osinfo else None
        result = gather(conn, uri, [as_pattern(name) for name in names],
                        [as_pattern(name) for name in exclude], pool=pool, on_definition=osinfo_ids)
        if pool.note():
            notes.append(pool.note())
        desktops = {name: info for name, info in result['domains'].items() if is_desktop(info)}
        guests = read_guests(conn, pool, uri, desktops, read_only, agent_timeout, sources, enough, osinfo_ids,
                             host=result['hypervisor'])
        return {
            'hypervisor': result['hypervisor'],
            'uri': uri,
            'domains_read': len(result['domains']),
            'desktops': {name: {'info': info, 'guest': guests[name]}
                         for name, info in desktops.items() if name in guests},
            'notes': notes,
        }
    finally:
        close_connections(pool, conn)


def read_host_with_guests(uri, names=('*',), exclude=(), parallel=1, timeout=DEFAULT_TIMEOUT,
                          agent_timeout=DEFAULT_AGENT_TIMEOUT, request=None, overrides=()):
    """``libvirt_info.read_host``'s result, each SPICE desktop's dict with a ``guest`` key.

    What ``libvirt_domain_info`` returns with ``guest_agent``: the same selection rules
    and the same per-domain state, plus :func:`read_guest`'s answer (every address
    source read, so the caller chooses) for the domains with SPICE graphics.  The
    connection is read-write, as libvirt requires for the guest agent; when the
    hypervisor refuses that, it reads read-only and says so in ``warnings``.
    """
    conn, read_only, note = _open(uri, True, timeout, who='this module')
    pool = ConnectionPool(conn, uri, parallel, read_only=read_only, timeout=timeout)
    try:
        osinfo_ids = OsinfoIds()
        result = gather(conn, uri, list(names), list(exclude), pool=pool, request=request,
                        overrides=overrides, on_definition=osinfo_ids)
        result['warnings'].extend(text for text in (note, pool.note()) if text)
        desktops = {name: info for name, info in result['domains'].items() if is_desktop(info)}
        guests = read_guests(conn, pool, uri, desktops, read_only, agent_timeout, osinfo_ids=osinfo_ids,
                             host=result['hypervisor'])
        for name, guest in guests.items():
            result['domains'][name]['guest'] = guest
        return result
    finally:
        close_connections(pool, conn)


def read_many(items, read, workers, timeout):
    """``read(item)`` for every item, at most ``workers`` at once, each within ``timeout`` s.

    Returns one entry per item, in the items' order: ``(value, None, seconds)``, or
    ``(None, exception, seconds)``, or ``(None, LATE, timeout)`` for one that did not
    finish in time (its thread is left behind; the caller goes on with the others).
    """
    items = list(items)
    results = [None] * len(items)
    done = queue.Queue()
    running = {}
    position = 0

    def run(index):
        started = time.monotonic()
        try:
            done.put((index, read(items[index]), None, time.monotonic() - started))
        except Exception as err:  # pylint: disable=broad-exception-caught
            done.put((index, None, err, time.monotonic() - started))

    while position < len(items) or running:
        while position < len(items) and len(running) < max(1, workers):
            running[position] = time.monotonic() + timeout
            threading.Thread(target=run, args=(position,), daemon=True).start()
            position += 1
        wait = max(0.0, min(running.values()) - time.monotonic())
        try:
            index, value, error, seconds = done.get(timeout=wait)
        except queue.Empty:
            now = time.monotonic()
            for index in [index for index, deadline in running.items() if deadline <= now]:
                del running[index]
                results[index] = (None, LATE, timeout)
            continue
        if index in running:   # not already given up on
            del running[index]
            results[index] = (value, error, seconds)
    return results
