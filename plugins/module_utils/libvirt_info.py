# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the SPICE streaming state of many libvirt domains in one pass.

One read-only connection; per domain only the XML reads (the inactive
definition of a persistent domain, the live XML of a running one), so the
cost is libvirt's own ``XMLDesc`` and a parse.  Each domain leaves a small
dict behind, never its XML: memory stays flat and no secret can leak (a
read-only connection cannot ask for secrets anyway).
"""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml
from ansible_collections.spice.streaming.plugins.module_utils.domain_results import DomainResults
from ansible_collections.spice.streaming.plugins.module_utils.domain_state import (
    COMPLIANCE,
    compliance,
    domain_problems,
    live_gaps,
    saved_state_gaps,
    streaming_state,
)
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import DomainXMLError
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import (
    DEFAULT_TIMEOUT,
    SKIP_NO_SPICE,
    SKIP_TRANSIENT,
    SKIP_VANISHED,
    StreamingError,
    close_connections,
    connect,
    error_words,
    hypervisor_name,
    is_alive,
    is_gone,
    libvirt,
    lost_connection,
    select_domains,
    unknown_name_sentence,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_pool import (
    NOT_STARTED,
    ConnectionPool,
    first_error,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_streaming import request_for
from ansible_collections.spice.streaming.plugins.module_utils.settings import GRAPHICS_SETTINGS


TRANSIENT_NAMED_EXACTLY = (
    'transient (it runs without a persistent definition) and named exactly: libvirt_domain refuses '
    'it, since defining it would make it persistent; define it yourself first if it should be '
    'managed, or leave it out of name')


def _connection_lost(host, uri, read, total, err):
    return lost_connection(uri, host, err, 'after reading %d of %d selected domains' % (read, total),
                           'Nothing was changed: this module only reads.', uri=uri, domains_read=read)


def _blank(selected, state):
    info = {
        'active': selected.active,
        'persistent': selected.persistent,
        'state': state,
        'graphics': [],
    }
    # Each graphics setting as the definition writes it, and as the running domain runs it.
    for item in GRAPHICS_SETTINGS:
        info[item.name] = None
        info[item.name + '_live'] = None
    info.update({
        'agent_channel': False,
        'agent_channel_live': False,
        'agent_channel_state': None,
        'has_managed_save': False,
        'restart_required': [],
        'problems': [],
        'skipped': False,
        'reason': None,
        'asked': None,
        'compliance': None,
        'compliance_reasons': [],
    })
    return info


def describe(info, inactive_root, live_root, exact, saved_root=None, request=None):
    """Fill ``info`` (from :func:`_blank`) from the parsed XML; pure.

    ``inactive_root`` is ``None`` for a transient domain, ``live_root`` for one
    that is not running.  ``exact`` says the domain was named exactly: then,
    as in libvirt_domain, missing SPICE graphics (or a transient domain) is a
    problem, not a skip.
    ``saved_root`` is the XML of a shut-off domain's managed save image: starting
    the domain resumes it, so what it lacks waits like a running domain's gaps.
    ``request`` (a ``domain_xml.StreamingRequest``, the override for this domain
    already chosen) adds what is asked and how the domain stands against it
    (``domain_state.compliance``).
    """
    definition = inactive_root if inactive_root is not None else live_root
    defined = streaming_state(definition)
    info['graphics'] = defined['graphics']
    has_spice = 'spice' in defined['graphics']
    if inactive_root is not None:
        for item in GRAPHICS_SETTINGS:
            info[item.name] = defined[item.name]
        info['agent_channel'] = defined['agent_channel']
    if live_root is not None:
        live = defined if live_root is definition else streaming_state(live_root)
        if 'spice' in live['graphics']:
            for item in GRAPHICS_SETTINGS:
                info[item.name + '_live'] = item.effective(live[item.name])
        info['agent_channel_live'] = live['agent_channel']
        info['agent_channel_state'] = live['channel_state']
        if inactive_root is not None:
            info['restart_required'] = live_gaps(inactive_root, live_root)
    elif saved_root is not None and inactive_root is not None:
        info['restart_required'] = saved_state_gaps(inactive_root, saved_root)
    info['problems'] = domain_problems(definition, require_spice=exact) + info['problems']
    if inactive_root is None and exact:
        # Named exactly, libvirt_domain refuses it (unfit), as it does a non-SPICE one.
        info['problems'].append(TRANSIENT_NAMED_EXACTLY)
    elif inactive_root is None:
        info['skipped'], info['reason'] = True, SKIP_TRANSIENT
    elif not has_spice and not exact:
        info['skipped'], info['reason'] = True, SKIP_NO_SPICE
    if request is not None:
        ask(info, request)
        info['compliance'], info['compliance_reasons'] = compliance(
            inactive_root, live_root, request, exact, saved_root)
    return info


def ask(info, request):
    """Note in ``info`` what ``request`` asks of the domain."""
    info['asked'] = dict(request.values)


def _unjudged(info, request, reason):
    """A domain whose state could not be read: not as asked, for that reason."""
    if request is not None:
        ask(info, request)
        info['compliance'], info['compliance_reasons'] = 'not_compliant', [reason]


def _saved_root(dom, info):
    """The parsed XML of a domain's managed save image, or None; a problem when it cannot be read."""
    if not info['has_managed_save']:
        return None
    try:
        return domain_xml.parse_domain(dom.managedSaveGetXMLDesc(0))
    except DomainXMLError as err:
        info['problems'].append('has a saved state (virsh managedsave) whose configuration cannot be '
                                'read: %s' % err)
    except libvirt.libvirtError as err:
        if is_gone(err):
            raise
        if not dom.hasManagedSaveImage(0):
            info['has_managed_save'] = False   # discarded or resumed meanwhile
        else:
            info['problems'].append('has a saved state (virsh managedsave) whose configuration '
                                    'could not be read: %s' % error_words(err))
    return None


class _Unreadable(Exception):
    """A domain whose XML cannot be parsed: a problem of that domain, not of the run."""


def _parse(xml_text):
    try:
        return domain_xml.parse_domain(xml_text)
    except DomainXMLError as err:
        raise _Unreadable('has a definition this module cannot read: %s' % err) from err


def summarize(domains):
    """Counts for one hypervisor over the per-domain dicts of :func:`gather`."""
    summary = {
        'domains': len(domains), 'running': 0, 'paused': 0, 'shut_off': 0, 'transient': 0,
        'spice': 0, 'agent_channel': 0, 'agent_connected': 0, 'agent_disconnected': 0,
        'restart_required': 0, 'problems': 0, 'skipped': 0,
        'compliance': dict.fromkeys(COMPLIANCE, 0),
    }
    # Persistent SPICE definitions by the value each writes ('unset' when it writes none).
    for item in GRAPHICS_SETTINGS:
        summary[item.summary_key] = dict.fromkeys(item.choices + ('unset',), 0)
    for info in domains.values():
        summary[info['state'].replace(' ', '_')] += 1
        summary['transient'] += not info['persistent']
        if 'spice' in info['graphics']:
            summary['spice'] += 1
            if info['persistent']:
                for item in GRAPHICS_SETTINGS:
                    counts, value = summary[item.summary_key], info[item.name] or 'unset'
                    counts[value] = counts.get(value, 0) + 1
        summary['agent_channel'] += info['agent_channel']
        summary['agent_connected'] += info['agent_channel_state'] == 'connected'
        summary['agent_disconnected'] += disconnected(info)
        summary['restart_required'] += bool(info['restart_required'])
        summary['problems'] += bool(info['problems'])
        summary['skipped'] += info['skipped']
        if info['compliance']:
            summary['compliance'][info['compliance']] += 1
    return summary


def disconnected(info):
    """A running domain whose stream channel no process in the guest holds open."""
    return bool(info['active'] and info['agent_channel_live']
                and info['agent_channel_state'] == 'disconnected')


def _version(number):
    """libvirt's packed version number (major * 1,000,000 + minor * 1,000 + micro) as text."""
    return '%d.%d.%d' % (number // 1000000, number // 1000 % 1000, number % 1000)


def versions(conn):
    """``(libvirt_version, qemu_version)`` of the hypervisor; ``None`` for what it does not say.

    The libvirt version is the daemon's (``virConnectGetLibVersion``); the QEMU version
    is the hypervisor version of a QEMU driver connection (``virConnectGetVersion``).
    """
    try:
        libvirt_version = _version(conn.getLibVersion())
    except libvirt.libvirtError:
        libvirt_version = None
    try:
        qemu_version = _version(conn.getVersion()) if conn.getType() == 'QEMU' else None
    except libvirt.libvirtError:
        qemu_version = None
    return libvirt_version, qemu_version


def gather(conn, uri, names, exclude, pool=None, request=None, overrides=(), on_definition=None):
    """The streaming state of the selected domains; raises StreamingError for the whole run.

    An exact name that matches no domain does not stop the read: it is listed in
    ``missing_domains``, with a sentence for each in ``warnings``, and every domain
    that exists is read.  ``pool`` spreads the reads over several connections
    (libvirt_pool); one by default.  With ``request`` (a ``StreamingRequest``) and
    ``overrides`` (``[(names, StreamingRequest)]``, as ``libvirt_domain`` takes them),
    each domain also says what is asked of it and how it stands against that.
    ``on_definition(name, root)``, when given, is called (from a worker thread) with
    the parsed XML each domain runs with, or is defined with when it is not running:
    a caller that needs more of the XML reads it there, with no further call to libvirt.
    """
    host = hypervisor_name(conn)
    try:
        selected, unknown = select_domains(conn, names, exclude)
        paused = {dom.name() for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_PAUSED)}
        saved = {dom.UUIDString() for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE)}
    except libvirt.libvirtError as err:
        if not is_alive(conn):
            raise _connection_lost(host, uri, 0, 0, err) from err
        raise StreamingError('could not list the domains of %s (%s): %s' % (host, uri, error_words(err)),
                             uri=uri) from err

    def read_one(worker, item):
        state = ('paused' if item.name in paused else 'running') if item.active else 'shut off'
        info = _blank(item, state)
        info['has_managed_save'] = bool(saved) and not item.active and item.dom.UUIDString() in saved
        asked = None if request is None else request_for(overrides, request, item.name)
        try:
            # On another connection of the pool the domain is looked up again: it may be gone.
            dom = worker.domain(item)
            inactive = _parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) if item.persistent else None
            live = _parse(dom.XMLDesc(0)) if item.active else None
            describe(info, inactive, live, item.exact, _saved_root(dom, info), request=asked)
            if on_definition is not None:
                on_definition(item.name, live if live is not None else inactive)
        except _Unreadable as err:
            info['problems'] = [str(err)]
            _unjudged(info, asked, 'libvirt_domain refuses it: it %s' % err)
        except libvirt.libvirtError as err:
            if is_gone(err):
                info['skipped'], info['reason'] = True, SKIP_VANISHED
                if asked is not None:
                    ask(info, asked)
                    info['compliance'] = 'left_alone'
            elif not is_alive(worker.conn):
                raise
            else:
                info['problems'] = ['could not be read: %s' % error_words(err)]
                _unjudged(info, asked, 'it could not be read: %s' % error_words(err))
        return info

    outcomes = (pool or ConnectionPool(conn, uri)).map(read_one, selected)
    error = first_error(outcomes)
    if error is not None:
        if isinstance(error, libvirt.libvirtError):
            read = sum(1 for outcome in outcomes if outcome.value is not NOT_STARTED)
            raise _connection_lost(host, uri, read, len(selected), error) from error
        raise error
    # In the selection's (name) order, whatever order the connections finished in.
    results = DomainResults()
    for item, outcome in zip(selected, outcomes):
        results.add(item.name, outcome.value)
    for name in unknown:
        results.warn(unknown_name_sentence(name, host, uri))
    domains = results.as_dict()
    libvirt_version, qemu_version = versions(conn)
    return {
        'hypervisor': host,
        'uri': uri,
        'libvirt_version': libvirt_version,
        'qemu_version': qemu_version,
        'asked': None if request is None else dict(
            request.values,
            overrides=[dict(asked.values, name=list(entries)) for entries, asked in overrides]),
        'domains': domains,
        'summary': summarize(domains),
        'restart_required': sorted(name for name, info in domains.items() if info['restart_required']),
        'skipped_domains': {name: info['reason'] for name, info in domains.items() if info['skipped']},
        'missing_domains': list(unknown),
        'warnings': results.warnings,
    }


def read_host(uri, names=('*',), exclude=(), parallel=1, timeout=DEFAULT_TIMEOUT, request=None, overrides=()):
    """Connect read-only to ``uri``, :func:`gather`, and close; StreamingError on failure."""
    conn = connect(uri, read_only=True, timeout=timeout, read_only_why='this module only reads')
    pool = ConnectionPool(conn, uri, parallel, read_only=True, timeout=timeout)
    try:
        result = gather(conn, uri, list(names), list(exclude), pool=pool, request=request, overrides=overrides)
        if pool.note():
            result['warnings'].append(pool.note())
        return result
    finally:
        close_connections(pool, conn)
