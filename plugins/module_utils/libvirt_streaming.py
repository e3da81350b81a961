# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring many libvirt domains to one SPICE streaming state over one connection.

This is the thin layer between libvirt and the pure XML functions of
``domain_xml``: it selects domains, reads their definitions, defines what
changed, tries what libvirt can apply to running domains, and says what waits
for a cold start.  It knows nothing of AnsibleModule; the module maps its
options onto :class:`StreamingRun` and its result onto ``exit_json``.

A run has two passes so that bad input changes nothing:

1. *plan*: every selected domain is read and checked; any problem (unknown
   name, no SPICE where SPICE is needed, a conflicting port) stops the run
   before a single define.  Only a small summary per domain is kept, so memory
   stays flat in the number of domains.
2. *apply*: each domain that needs a change is read again just before it is
   defined and the edit is redone on what was read, so a change someone else
   made in between is built upon, never overwritten.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import os
import socket
import tempfile
import time
import traceback

try:
    import libvirt
except ImportError:
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
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import (
    DomainXMLError,
)

# Where distributions put the Python that their python3-libvirt package serves.
SYSTEM_PYTHONS = ('/usr/libexec/platform-python', '/usr/bin/python3', '/usr/bin/python')

# How long a hot-unplug may take to show in the live XML (libvirt itself waits 5 s).
DETACH_WAIT_SECONDS = 6.0


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


class StreamingError(Exception):
    """A run that must stop; ``msg`` says what happened and what to do."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def _quiet_libvirt(_ctx, _err):
    """libvirt prints every error on stderr by default; the module reports them itself."""


def connect(uri, read_only=False):
    """Open ``uri``; a read-only connection where nothing will be written (check mode)."""
    libvirt.registerErrorHandler(_quiet_libvirt, None)
    try:
        return libvirt.openReadOnly(uri) if read_only else libvirt.open(uri)
    except libvirt.libvirtError as err:
        raise StreamingError(
            'could not connect to libvirt at %s on %s: %s. Check that libvirtd (or virtqemud) '
            'runs there, that the URI is right, and that the user the task runs as may use it '
            '(root, or a member of the libvirt group, or allowed by polkit); '
            "'virsh -c %s version' shows the same error." % (
                uri, socket.gethostname(), err.get_error_message() or err, uri),
            uri=uri) from err


def hypervisor_name(conn):
    try:
        return conn.getHostname()
    except libvirt.libvirtError:
        return socket.gethostname()


def _is_pattern(name):
    return any(char in name for char in '*?[')


class SelectedDomain:
    __slots__ = ('name', 'dom', 'exact', 'active', 'persistent')

    def __init__(self, name, dom, exact, active, persistent):
        self.name = name
        self.dom = dom
        self.exact = exact
        self.active = active
        self.persistent = persistent


def select_domains(conn, names, exclude):
    """Resolve names and patterns with three list calls, whatever the number of domains.

    Returns ``(selected, unknown)``: the matching domains sorted by name, and the
    exact names that match no domain.
    """
    by_name = {dom.name(): dom for dom in conn.listAllDomains(0)}
    active = {dom.name() for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
    transient = {dom.name() for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)}
    wanted = {}
    unknown = []
    for name in names:
        if _is_pattern(name):
            for match in fnmatch.filter(by_name, name):
                wanted.setdefault(match, False)
        elif name in by_name:
            wanted[name] = True
        else:
            unknown.append(name)
    selected = []
    for name in sorted(wanted):
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in exclude):
            continue
        selected.append(SelectedDomain(name, by_name[name], wanted[name],
                                       name in active, name not in transient))
    return selected, unknown


def _digest(text):
    return hashlib.sha1(text.encode('utf-8')).hexdigest()


def _new_result(selected):
    return {
        'name': selected.name,
        'active': selected.active,
        'changed': False,
        'actions': [],
        'live_actions': [],
        'restart_required': [],
        'skipped': False,
        'reason': None,
        'backup_file': None,
        'notes': [],
    }


class StreamingRun:
    """One pass over many domains of one connection.

    ``request`` is a :class:`domain_xml.StreamingRequest`.  ``results`` maps each
    selected domain's name to what was done to it.
    """

    def __init__(self, conn, uri, request, check_mode=False, live=True,
                 backup_dir=None, diff=False):
        self.conn = conn
        self.uri = uri
        self.request = request
        self.check_mode = check_mode
        self.live = live
        self.backup_dir = backup_dir
        self.diff = diff
        self.host = hypervisor_name(conn)
        # The secure flag keeps passwords in what is read, so a redefine never drops
        # them; a read-only connection (check mode) may not ask for it and needs not.
        self.inactive_flags = libvirt.VIR_DOMAIN_XML_INACTIVE
        if not check_mode:
            self.inactive_flags |= libvirt.VIR_DOMAIN_XML_SECURE
        self.results = {}
        self.diffs = []
        self.failures = {}
        self._plans = []
        self._hotplugs = []

    # ------------------------------------------------------------ helpers

    def where(self, name):
        return "domain '%s' on %s (%s)" % (name, self.host, self.uri)

    def _read_inactive(self, dom):
        return dom.XMLDesc(self.inactive_flags)

    def _diff_entry(self, name, before, after):
        return {
            'before_header': '%s: persistent definition before' % name,
            'after_header': '%s: persistent definition after' % name,
            'before': domain_xml.redact_secrets(before),
            'after': domain_xml.redact_secrets(after),
        }

    # ------------------------------------------------------------ pass 1: plan

    def plan(self, selected_domains):
        """Read and check every domain; raise StreamingError, changing nothing, on bad input."""
        problems = {}
        for selected in selected_domains:
            result = _new_result(selected)
            self.results[selected.name] = result
            if not selected.persistent:
                result['skipped'] = True
                result['reason'] = ('transient domain: defining it would make it persistent; '
                                    'define it yourself first if it should be managed')
                continue
            try:
                problem = self._plan_domain(selected, result)
            except libvirt.libvirtError as err:
                if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    result['skipped'] = True
                    result['reason'] = 'the domain disappeared while the task ran'
                    continue
                problem = 'could not be read: %s' % err.get_error_message()
            if problem:
                problems[selected.name] = problem
        if problems:
            lines = ['%s %s' % (self.where(name), text) for name, text in sorted(problems.items())]
            raise StreamingError(
                'nothing was changed: %d domain%s cannot be brought to the asked state: %s'
                % (len(problems), '' if len(problems) == 1 else 's', '; '.join(lines)),
                failed_domains=problems)

    def _plan_domain(self, selected, result):
        """Plan one domain.  Returns a problem sentence, or None."""
        original = self._read_inactive(selected.dom)
        try:
            root = domain_xml.parse_domain(original)
        except DomainXMLError as err:
            return 'has a definition this module cannot read: %s' % err
        problems = domain_xml.check_request(root, self.request)
        if problems:
            if not selected.exact and not domain_xml.spice_graphics(root) and len(problems) == 1:
                # Selected by a pattern: a desktop without SPICE is simply not ours to manage.
                result['skipped'] = True
                result['reason'] = 'no SPICE graphics: it cannot carry a spiceport channel or a streaming mode'
                return None
            return '; '.join(problems)
        actions = domain_xml.apply_request(root, self.request, checked=True)
        result['actions'] = actions
        if actions:
            result['changed'] = True
            self._plans.append((selected, _digest(original)))
            if self.check_mode and self.diff:
                self.diffs.append(self._diff_entry(selected.name, original, domain_xml.to_string(root)))
        if selected.active and self.live and not self.request.is_empty:
            self._plan_live(selected, result)
        return None

    def _plan_live(self, selected, result):
        live_root = domain_xml.parse_domain(selected.dom.XMLDesc(0))
        hotplug, pending = domain_xml.pending_live_changes(live_root, self.request)
        result['restart_required'].extend(pending)
        if hotplug:
            self._hotplugs.append((selected, hotplug))

    # ------------------------------------------------------------ pass 2: apply

    def apply(self):
        """Define what changed, then try the live changes; never raises for one domain."""
        if self.check_mode:
            for selected, hotplug in self._hotplugs:
                self._predict_hotplug(self.results[selected.name], hotplug)
            return
        for selected, planned_digest in self._plans:
            result = self.results[selected.name]
            try:
                self._define(selected, planned_digest, result)
            except (libvirt.libvirtError, DomainXMLError, OSError) as err:
                message = err.get_error_message() if isinstance(err, libvirt.libvirtError) else str(err)
                result['changed'] = False
                self.failures[selected.name] = message
                result['notes'].append('not changed: %s' % message)
        for selected, _planned in self._hotplugs:
            if selected.name not in self.failures:
                self._hotplug(selected.dom, self.results[selected.name])

    def _define(self, selected, planned_digest, result):
        current = self._read_inactive(selected.dom)
        if _digest(current) != planned_digest:
            result['notes'].append('the definition was changed by someone else after it was read; '
                                   'the edit was redone on their definition')
        root = domain_xml.parse_domain(current)
        before_state = domain_xml.managed_state(root)
        actions = domain_xml.apply_request(root, self.request)
        result['actions'] = actions
        if not actions:
            result['changed'] = False
            return
        if self.backup_dir:
            result['backup_file'] = self._backup(selected.name, current)
        new_dom = self.conn.defineXML(domain_xml.to_string(root))
        after = new_dom.XMLDesc(self.inactive_flags)
        after_root = domain_xml.parse_domain(after)
        result['changed'] = domain_xml.managed_state(after_root) != before_state
        leftover = domain_xml.apply_request(after_root, self.request)
        if leftover:
            raise DomainXMLError('libvirt did not keep the change (%s); its definition is as '
                                 'libvirt stored it, see the diff' % '; '.join(leftover))
        if self.diff and result['changed']:
            self.diffs.append(self._diff_entry(selected.name, current, after))

    def _backup(self, name, xml_text):
        """Keep the original definition; restore it with ``virsh define FILE``."""
        os.makedirs(self.backup_dir, mode=0o700, exist_ok=True)
        stamp = datetime.datetime.now().strftime('%Y%m%dT%H%M%S.%f')
        path = os.path.join(self.backup_dir, '%s.%s.xml' % (name.replace('/', '_'), stamp))
        # Written with the secure flag, the definition may hold passwords: owner only.
        fd, tmp = tempfile.mkstemp(dir=self.backup_dir, prefix='.%s.' % name.replace('/', '_'))
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                handle.write(xml_text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    # ------------------------------------------------------------ running domains

    @staticmethod
    def _channel_waits(result, reason):
        result['restart_required'].append({'change': 'agent_channel', 'reason': reason})

    def _predict_hotplug(self, result, hotplug):
        verb = 'hot-plug' if hotplug == 'attach' else 'hot-unplug'
        self._channel_waits(result, 'check mode: a real run tries to %s the stream channel on the '
                                    'running domain; if libvirt refuses (libvirt 9.0 refuses '
                                    'spiceport hot-plug), the change waits for the next cold start'
                            % verb)

    def _hotplug(self, dom, result):
        """Try the channel change on the running domain; re-read first, it may have moved on."""
        live_root = domain_xml.parse_domain(dom.XMLDesc(0))
        hotplug, _pending = domain_xml.pending_live_changes(live_root, self.request)
        try:
            if hotplug == 'attach':
                dom.attachDeviceFlags(domain_xml.new_stream_channel_xml(), libvirt.VIR_DOMAIN_AFFECT_LIVE)
            elif hotplug == 'detach':
                dom.detachDeviceFlags(domain_xml.live_stream_channel_xml(live_root),
                                      libvirt.VIR_DOMAIN_AFFECT_LIVE)
            else:
                return
        except libvirt.libvirtError as err:
            verb = 'hot-plug' if hotplug == 'attach' else 'hot-unplug'
            self._channel_waits(result, 'libvirt refused to %s the stream channel on the running '
                                        'domain (%s); the change takes effect at the next cold start'
                                % (verb, err.get_error_message()))
            return
        if self._live_channel_settled(dom, want_present=(hotplug == 'attach')):
            result['live_actions'].append(
                'hot-plugged the stream channel into the running domain' if hotplug == 'attach'
                else 'hot-unplugged the stream channel from the running domain')
            result['changed'] = True
        else:
            self._channel_waits(result, 'libvirt accepted the hot-unplug but the running domain '
                                        'still has the stream channel after %.0f s (the guest may '
                                        'hold the port open); it goes at the next cold start'
                                % DETACH_WAIT_SECONDS)

    def _live_channel_settled(self, dom, want_present):
        deadline = time.monotonic() + DETACH_WAIT_SECONDS
        while True:
            present = bool(domain_xml.stream_channels(domain_xml.parse_domain(dom.XMLDesc(0))))
            if present == want_present or time.monotonic() >= deadline:
                return present == want_present
            time.sleep(0.2)

    # ------------------------------------------------------------ result

    def summary(self):
        results = self.results
        return {
            'changed': any(result['changed'] for result in results.values()),
            'domains': results,
            'changed_domains': sorted(name for name, result in results.items() if result['changed']),
            'restart_required': sorted(name for name, result in results.items()
                                       if result['restart_required']),
            'skipped_domains': {name: result['reason'] for name, result in results.items() if result['skipped']},
            'backup_files': {name: result['backup_file'] for name, result in results.items()
                             if result['backup_file']},
        }
