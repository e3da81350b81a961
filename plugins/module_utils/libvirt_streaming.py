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

import difflib
import fnmatch
import hashlib
import time

from ansible_collections.spice.streaming.plugins.module_utils import domain_backups, domain_xml, run_summary, settings
from ansible_collections.spice.streaming.plugins.module_utils.domain_results import (
    DomainResults,
    left_alone,
    new_result,
    skip,
)
from ansible_collections.spice.streaming.plugins.module_utils.domain_state import saved_state_gaps
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import (
    DomainXMLError,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import (
    NO_SUCH_DOMAIN,
    SKIP_NO_SPICE,
    SKIP_NOW_TRANSIENT,
    SKIP_TRANSIENT,
    SKIP_VANISHED,
    UNFIT_TRANSIENT,
    StreamingError,
    hypervisor_name,
    is_alive,
    is_gone,
    is_pattern,
    libvirt,
    lost_connection,
    unknown_name_sentence,
    where,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_pool import (
    NOT_STARTED,
    ConnectionPool,
    Outcome,
    first_error,
)
from ansible_collections.spice.streaming.plugins.module_utils.option_names import MODULE_NAMES

# How long a hot-unplug may take to show in the live XML (libvirt itself waits 5 s).
DETACH_WAIT_SECONDS = 6.0


def override_matches(entry, name):
    """Whether one override ``name`` entry (an exact name, or a shell pattern) stands for ``name``."""
    return entry == name or (is_pattern(entry) and fnmatch.fnmatchcase(name, entry))


def override_requests(overrides, default):
    """``[(names, StreamingRequest)]`` from the ``overrides`` option; pure.

    Each override's request takes what the override sets and, for what it leaves
    out (or sets to null), the task's value from ``default``.
    """
    return [(override['name'], domain_xml.StreamingRequest(**settings.values_from(override)).over(default))
            for override in overrides]


def request_for(overrides, default, name):
    """The request for one domain: the first override naming it, else ``default``; pure."""
    return next((request for entries, request in overrides
                 if any(override_matches(entry, name) for entry in entries)), default)


def _override_label(number, entry, names=MODULE_NAMES):
    return "%s (name '%s')" % (names.entry('overrides', number, 'override'), entry)


def _some_names(names, limit=5):
    shown = ', '.join("'%s'" % name for name in names[:limit])
    return shown + (' and %d more' % (len(names) - limit) if len(names) > limit else '')


def override_warnings(overrides, selected_names, host, uri, names=MODULE_NAMES):
    """Sentences for each override entry that changes nothing on this hypervisor; pure.

    ``overrides`` is ``[(entries, request)]`` as :class:`StreamingRun` takes it, the
    first override that matches a domain wins.  An entry changes nothing when it
    matches none of the selected domains (a mistyped exact name, a pattern that
    matches nothing), or when every domain it matches is already matched by an
    earlier override (it is shadowed).  An entry only partly shadowed (a broad
    pattern after a specific one, the documented way to layer them) is fine.
    """
    if not selected_names:
        return []   # the selection itself is warned about (or fails) already
    warnings = []
    claimed = {}    # domain -> (number, entry) of the earlier override that wins it
    for number, (entries, _request) in enumerate(overrides, 1):
        won = {}
        for entry in entries:
            label = _override_label(number, entry, names)
            matched = [name for name in selected_names if override_matches(entry, name)]
            if not matched:
                hint = ''
                if not is_pattern(entry):
                    # The closest name only: names of one fleet share long prefixes.
                    close = difflib.get_close_matches(entry, selected_names, n=1, cutoff=0.8)
                    if close:
                        hint = " Did you mean '%s'?" % close[0]
                warnings.append(
                    "%s matches none of the %d selected domains on %s (%s), so it changes nothing.%s "
                    "Check the names with 'virsh -c %s list --all', and that %s and %s select "
                    'the domain.' % (label, len(selected_names), host, uri, hint, uri, names('name'),
                                     names('exclude')))
                continue
            if all(name in claimed for name in matched):
                winners = sorted({claimed[name] for name in matched})
                warnings.append(
                    '%s changes nothing on %s (%s): every domain it matches (%s) is matched first by '
                    '%s, and the first override that matches a domain wins. Put the more specific '
                    'override first, or remove this one.'
                    % (label, host, uri, _some_names(matched),
                       ' and '.join(_override_label(*winner, names=names) for winner in winners)))
            for name in matched:
                won.setdefault(name, (number, entry))
        for name, winner in won.items():
            claimed.setdefault(name, winner)
    return warnings


def digest(text):
    """A short fingerprint of a definition's text: tells whether it changed since it was read."""
    return hashlib.sha1(text.encode('utf-8')).hexdigest()


class StreamingRun:
    """One pass over many domains of one connection.

    ``request`` is a :class:`domain_xml.StreamingRequest`.  ``results`` maps each
    selected domain's name to what was done to it.  With ``skip_unfit``, a domain
    that cannot be brought to the asked state is left alone with its reason
    instead of stopping the whole run.
    """

    # How the plan pass's error speaks of the domains it refuses, and of what happens to the others.
    UNFIT = 'cannot be brought to the asked state'
    VERB = 'converge'
    # What the closing line says when nothing needed doing.
    IDLE = 'every one is already in the asked state'
    # "N of the selected domains <NOT_DONE>: ..." when the task fails for some.
    NOT_DONE = 'could not be brought to the asked state'

    def __init__(self, conn, uri, request, check_mode=False, live=True,
                 backup_dir=None, diff=False, skip_unfit=False, overrides=(), pool=None,
                 names=MODULE_NAMES):
        self.conn = conn
        # What the caller calls each option, for the messages (option_names.OptionNames).
        self.names = names
        # The connections the per-domain work is spread over; one (``conn``) by default.
        self.pool = pool or ConnectionPool(conn, uri)
        self.uri = uri
        self.request = request
        # [(names or patterns, StreamingRequest)]: the first that matches a domain wins.
        self.overrides = list(overrides)
        self._requests = {}
        self.check_mode = check_mode
        self.live = live
        self.backup_dir = backup_dir
        self.diff = diff
        self.skip_unfit = skip_unfit
        self.host = hypervisor_name(conn)
        # The secure flag keeps passwords in what is read, so a redefine never drops
        # them; a read-only connection (check mode) may not ask for it and needs not.
        self.inactive_flags = libvirt.VIR_DOMAIN_XML_INACTIVE
        if not check_mode:
            self.inactive_flags |= libvirt.VIR_DOMAIN_XML_SECURE
        # What was done to each domain, the failures and the warnings (DomainResults).
        self.results = DomainResults()
        self.diffs = []
        # Secret values of the definitions read (domain_xml.definition_secrets), for the
        # module to keep out of its messages: QEMU quotes whole arguments in its errors.
        self.secrets = set()
        self._plans = []
        self._hotplugs = []
        # Why the selection left out what was asked (run_summary.selection_problem), or None.
        self.selection = None
        # UUIDs of the selected domains that had a managed save image when the plan read them.
        self.saved_state = set()

    # ------------------------------------------------------------ helpers

    @property
    def failures(self):
        """``{name: why}`` of the domains that failed; recorded with ``results.fail``."""
        return self.results.failures

    @property
    def warnings(self):
        """The run's warnings; recorded with ``results.warn``."""
        return self.results.warnings

    def where(self, name):
        return where(name, self.host, self.uri)

    def keep_secrets_of(self, root):
        """Keep the secret values of a parsed definition out of the module's messages and result."""
        self.secrets.update(domain_xml.definition_secrets(root))

    def request_for(self, name):
        """The request for one domain: the first override naming it, else the task's."""
        if not self.overrides:
            return self.request
        if name not in self._requests:
            self._requests[name] = request_for(self.overrides, self.request, name)
        return self._requests[name]

    def _diff_entry(self, name, before, after):
        return {
            'before_header': '%s: persistent definition before' % name,
            'after_header': '%s: persistent definition after' % name,
            'before': domain_xml.redact_secrets(before),
            'after': domain_xml.redact_secrets(after),
        }

    # ------------------------------------------------------------ pass 1: plan

    def plan(self, selected_domains, unknown=()):
        """Read and check every domain; raise StreamingError, changing nothing, on bad input.

        Every problem is collected first, so one message names every domain concerned
        (and every exact name in ``unknown`` that matches no domain).
        """
        problems = {name: NO_SUCH_DOMAIN for name in unknown}
        for text in override_warnings(self.overrides, [selected.name for selected in selected_domains],
                                      self.host, self.uri, self.names):
            self.results.warn(text)
        self.saved_state = self._saved_state(selected_domains)
        outcomes = self.pool.map(self._plan_one, selected_domains)
        # Merged in the selection's order, whatever order the workers finished in.
        for selected, outcome in zip(selected_domains, outcomes):
            if outcome.value is NOT_STARTED:
                continue
            result, problem, plan, hotplug, diff = outcome.value
            self.results.add(selected.name, result)
            self._follow_rename(selected)
            if problem:
                problems[selected.name] = problem
            if plan:
                self._plans.append((selected, plan))
            if hotplug:
                self._hotplugs.append((selected, hotplug))
            if diff:
                self.diffs.append(diff)
        error = first_error(outcomes)
        if error is not None:
            raise self._lost_while_reading(error, outcomes)
        if problems and self.skip_unfit:
            self._skip_unfit(problems)
            problems = {}
        backup_problem = self._check_backup_dir() if self.backup_dir and self._plans else None
        if not problems and not backup_problem:
            return
        sentences = []
        if problems:
            sentences.append('%d domain%s %s: %s. Fix them, leave them out with %s, or set '
                             '%s to %s the others'
                             % (len(problems), '' if len(problems) == 1 else 's', self.UNFIT,
                                '; '.join(self._problem_line(name, text)
                                          for name, text in sorted(problems.items())),
                                self.names('exclude'), self.names.setting('unfit_domains', 'skip'), self.VERB))
        if backup_problem:
            sentences.append('%s %s' % (self.names('backup_dir'), backup_problem))
        raise StreamingError('nothing was changed: %s.' % '. '.join(sentences), failed_domains=problems)

    def _saved_state(self, selected_domains):
        """The UUIDs of the domains with a managed save image: one list call, only if one is shut off."""
        if all(selected.active for selected in selected_domains):
            return set()
        try:
            return {dom.UUIDString() for dom in
                    self.conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE)}
        except libvirt.libvirtError as err:
            if not is_alive(self.conn):
                raise self._lost_while_reading(err, [Outcome() for _dom in selected_domains]) from err
            raise StreamingError('nothing was changed: could not list the domains with a saved state '
                                 'on %s (%s): %s' % (self.host, self.uri, err.get_error_message() or err),
                                 failed_domains={}) from err

    def _follow_rename(self, selected):
        """File a domain renamed by another client under its current name (the result says it)."""
        result = self.results.get(selected.name)
        if result is None or result['name'] == selected.name or result['name'] in self.results:
            return
        self.results.rename(selected.name, result['name'])
        selected.name = result['name']

    def _noticed_rename(self, selected, root, result):
        """Note a name that differs from the one selected; :meth:`_follow_rename` files it."""
        name = root.findtext('name')
        if name and name != selected.name and result['name'] != name:
            result['name'] = name
            result['notes'].append("another client renamed it from '%s' to '%s' while the task ran; "
                                   'it was found by its UUID and is reported under its new name'
                                   % (selected.name, name))

    def _problem_line(self, name, text):
        if text == NO_SUCH_DOMAIN:
            return unknown_name_sentence(name, self.host, self.uri)
        return '%s %s' % (self.where(name), text)

    def _skip_unfit(self, problems):
        """Leave every unfit domain alone, with its reason, and forget its planned changes."""
        for name, problem in sorted(problems.items()):
            if name not in self.results:  # an exact name that matches no domain
                self.results.start(name)
            self.results.record(name, changed=False, actions=[], restart_required=[])
            self.results.skip(name, 'unfit, left alone: %s' % problem)
            self.results.warn('%s; it was left alone (%s)' % (
                self._problem_line(name, problem), self.names.setting('unfit_domains', 'skip')))
        self._plans = [plan for plan in self._plans if plan[0].name not in problems]
        self._hotplugs = [plug for plug in self._hotplugs if plug[0].name not in problems]
        if self.diff:
            headers = {'%s: persistent definition before' % name for name in problems}
            self.diffs = [entry for entry in self.diffs if entry['before_header'] not in headers]

    def _check_backup_dir(self):
        """Why ``backup_dir`` cannot take backups, or None; checked before anything is defined.

        A real run also writes and removes a file there, which finds what no
        permission bit shows (a read-only mount, a full disk, a security policy).
        """
        return domain_backups.backup_dir_problem(self.backup_dir, self.host, probe=not self.check_mode,
                                                 option=self.names('backup_dir'))

    def _plan_one(self, worker, selected):
        """Plan one domain on one connection, touching only its own result.

        Returns ``(result, problem, planned digest, hotplug, diff entry)``; raises
        only when the connection is lost (the run stops) or on a bug.
        """
        result = new_result(selected.name, selected.active)
        if not selected.persistent:
            if selected.exact:
                return result, UNFIT_TRANSIENT % self.names('name'), None, None, None
            skip(result, SKIP_TRANSIENT)
            return result, None, None, None, None
        try:
            return (result,) + self._plan_domain(worker.domain(selected), selected, result)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                skip(result, SKIP_VANISHED)
                return result, None, None, None, None
            if not is_alive(worker.conn):
                raise
            return result, 'could not be read: %s' % err.get_error_message(), None, None, None

    def _plan_domain(self, dom, selected, result):
        """Plan one domain: ``(problem, planned digest, hotplug, diff entry)``."""
        original = dom.XMLDesc(self.inactive_flags)
        try:
            root = domain_xml.parse_domain(original)
        except DomainXMLError as err:
            return 'has a definition this module cannot read: %s' % err, None, None, None
        self._noticed_rename(selected, root, result)
        self.keep_secrets_of(root)
        request = self.request_for(selected.name)
        problems = domain_xml.check_request(root, request)
        if problems:
            if not selected.exact and not domain_xml.spice_graphics(root):
                # Selected by a pattern: a desktop without SPICE is simply not ours to manage.
                skip(result, SKIP_NO_SPICE)
                return None, None, None, None
            return '; '.join(problems), None, None, None
        actions = domain_xml.apply_request(root, request, checked=True)
        result['actions'] = actions
        planned = diff = hotplug = None
        if actions:
            result['changed'] = True
            planned = digest(original)
            if self.check_mode and self.diff:
                diff = self._diff_entry(result['name'], original, domain_xml.to_string(root))
        if selected.active and not request.is_empty:
            hotplug = self._plan_live(dom, request, result)
        elif self.saved_state and not request.is_empty and selected.dom.UUIDString() in self.saved_state:
            self._plan_saved(dom, root, result)
        return None, planned, hotplug, diff

    def _plan_saved(self, dom, root, result):
        """What a shut-off domain's saved state lacks: starting it resumes that state as it was."""
        try:
            saved_root = domain_xml.parse_domain(dom.managedSaveGetXMLDesc(0))
        except libvirt.libvirtError as err:
            if is_gone(err) or not is_alive(self.conn):
                raise
            if dom.hasManagedSaveImage(0):
                result['notes'].append(
                    'it has a saved state (virsh managedsave) whose configuration could not be read '
                    '(%s); starting it resumes that state, so the change may wait until the saved '
                    'state is discarded (virsh managedsave-remove)' % err.get_error_message())
            return
        except DomainXMLError as err:
            result['notes'].append('it has a saved state (virsh managedsave) whose configuration '
                                   'cannot be read (%s); starting it resumes that state' % err)
            return
        result['restart_required'].extend(saved_state_gaps(root, saved_root))

    def _plan_live(self, dom, request, result):
        """What waits for a cold start; the channel change worth trying live, if any."""
        live_root = domain_xml.parse_domain(dom.XMLDesc(0))
        hotplug, pending = domain_xml.pending_live_changes(live_root, request)
        result['restart_required'].extend(pending)
        if hotplug and not self.live:
            self._channel_waits(result, '%s is false, so the stream channel is not %s the running '
                                        'domain; the change takes effect at the next cold start'
                                % (self.names('live'),
                                   'hot-plugged into' if hotplug == 'attach' else 'hot-unplugged from'))
            return None
        return hotplug

    def _lost_while_reading(self, error, outcomes):
        """The one error for a plan pass cut short; nothing has been changed yet."""
        if not isinstance(error, libvirt.libvirtError):
            return error
        read = sum(1 for outcome in outcomes if outcome.value is not NOT_STARTED)
        return lost_connection(self.uri, self.host, error,
                               'after reading %d of %d selected domains' % (read, len(outcomes)),
                               'Nothing was changed.',
                               connection_lost=True, changed=False, domains={}, changed_domains=[])

    # ------------------------------------------------------------ pass 2: apply

    def apply(self):
        """Define what changed, then try the live changes; never raises for one domain.

        Raises StreamingError only when the connection to libvirt is lost: every
        domain is then either untouched or fully converged, and the message says
        which were done and that running the task again finishes the job.
        """
        if self.check_mode:
            for selected, hotplug in self._hotplugs:
                self._predict_hotplug(self.results[selected.name], hotplug)
            return
        outcomes = self.pool.map(self._apply_one, self._plans)
        for (selected, _planned), outcome in zip(self._plans, outcomes):
            if outcome.value is NOT_STARTED:
                continue
            self._follow_rename(selected)
            failure, diff = outcome.value
            if failure:
                self._fail_domain(selected.name, failure)
            if diff:
                self.diffs.append(diff)
        error = first_error(outcomes)
        if error is not None:
            if isinstance(error, libvirt.libvirtError):
                self.stop_if_connection_lost(
                    error, in_flight=[plan[0].name for plan, outcome in zip(self._plans, outcomes)
                                      if outcome.error is not None],
                    untouched=[plan[0].name for plan, outcome in zip(self._plans, outcomes)
                               if not outcome.started], force=True)
            raise error
        for position, (selected, _planned) in enumerate(self._hotplugs):
            result = self.results[selected.name]
            if selected.name not in self.failures and not result['skipped']:
                try:
                    self._hotplug(selected.dom, result)
                except libvirt.libvirtError as err:
                    if is_gone(err):
                        self.results.left_alone(selected.name, SKIP_VANISHED)
                        continue
                    self.stop_if_connection_lost(err, in_flight=[selected.name], untouched=[
                        plug[0].name for plug in self._hotplugs[position + 1:]])
                    raise

    def _fail_domain(self, name, message):
        self.results.record(name, changed=False)
        self.results.fail(name, message, note='not changed: %s' % message)

    def stop_if_connection_lost(self, err, in_flight=(), untouched=(), force=False):
        """Turn a lost connection into one StreamingError; return when the connection is fine.

        Public: the restarts (``libvirt_restart``) stop the same way on a lost connection.

        Without this every remaining domain would fail on its own with "client
        socket is closed", in a message as long as the fleet.  ``force``: the
        caller knows the connection it used is gone.
        """
        if not force and is_alive(self.conn):
            return
        for name in untouched:
            if name not in self.results:
                continue
            self.results.record(name, changed=False, actions=[])
            self.results.note(name, 'not touched: the connection to libvirt was lost before this domain')
        for name in in_flight:
            self.results.record(name, changed=False)
            self.results.note(name, 'the connection to libvirt was lost while this domain was being '
                                    'changed; running the task again shows whether the change landed')
        done = self.results.changed_names()
        raise lost_connection(
            self.uri, self.host, err, 'while the domains were being changed',
            '%d domain%s converged before that (changed_domains names them)%s, %d left untouched. '
            'Every domain is either untouched or fully converged.'
            % (len(done), '' if len(done) == 1 else 's',
               ', %s in progress' % ', '.join("'%s'" % name for name in in_flight) if in_flight else '',
               len(untouched)),
            connection_lost=True, **self.summary())

    def _apply_one(self, worker, plan):
        """Define one domain on one connection: ``(failure or None, diff entry or None)``."""
        selected, planned_digest = plan
        result = self.results[selected.name]
        try:
            return None, self._define(worker, selected, planned_digest, result)
        except libvirt.libvirtError as err:
            if is_gone(err):
                # Undefined (or destroyed, if transient) by someone else after the plan read it:
                # the same skip as in the plan pass, and never a define that would bring it back.
                left_alone(result, SKIP_VANISHED, undone=True)
                return None, None
            if not is_alive(worker.conn):
                raise
            return err.get_error_message(), None
        except (DomainXMLError, OSError) as err:
            return str(err), None

    def _define(self, worker, selected, planned_digest, result):
        """Redo the edit on the definition as it is now, define it, and confirm; the diff entry."""
        dom = worker.domain(selected)
        if not dom.isPersistent():
            # Undefined while running: a define would make it persistent again behind their back.
            left_alone(result, SKIP_NOW_TRANSIENT, undone=True)
            return None
        current = dom.XMLDesc(self.inactive_flags)
        if digest(current) != planned_digest:
            result['notes'].append('the definition was changed by someone else after it was read; '
                                   'the edit was redone on their definition')
        root = domain_xml.parse_domain(current)
        self._noticed_rename(selected, root, result)
        self.keep_secrets_of(root)
        before_state = domain_xml.managed_state(root)
        request = self.request_for(selected.name)
        actions = domain_xml.apply_request(root, request)
        result['actions'] = actions
        if not actions:
            result['changed'] = False
            return None
        if self.backup_dir:
            try:
                result['backup_file'] = self._backup(selected.name, current)
            except OSError as err:
                raise OSError('could not write its backup into %s %s (%s), so it was not '
                              'changed' % (self.names('backup_dir'), self.backup_dir, err.strerror or err)) from err
        new_dom = worker.conn.defineXML(domain_xml.to_string(root))
        after = new_dom.XMLDesc(self.inactive_flags)
        after_root = domain_xml.parse_domain(after)
        result['changed'] = domain_xml.managed_state(after_root) != before_state
        leftover = domain_xml.apply_request(after_root, request)
        if leftover:
            raise DomainXMLError('libvirt did not keep the change (%s); its definition is as '
                                 'libvirt stored it, see the diff' % '; '.join(leftover))
        if self.diff and result['changed']:
            return self._diff_entry(result['name'], current, after)
        return None

    def _backup(self, name, xml_text):
        """Keep the original definition; restore it with ``virsh define FILE`` or libvirt_domain_restore.

        The file name holds a short safe form of the name, the UUID and the time
        (``domain_backups``), so any valid domain name fits.
        """
        return domain_backups.write_backup(self.backup_dir, name, xml_text)

    # ------------------------------------------------------------ running domains

    @staticmethod
    def _channel_waits(result, reason):
        result['restart_required'].append({'change': 'agent_channel', 'reason': reason})

    def _predict_hotplug(self, result, hotplug):
        if hotplug == 'attach':
            self._channel_waits(result, 'check mode: a real run tries to hot-plug the stream channel into '
                                        'the running domain; if libvirt refuses (libvirt 9.0 refuses '
                                        'spiceport hot-plug), the change waits for the next cold start')
        else:
            self._channel_waits(result, 'check mode: a real run tries to hot-unplug the stream channel '
                                        'from the running domain; if libvirt refuses, or the guest still '
                                        'holds the port, the change waits for the next cold start')

    def _hotplug(self, dom, result):
        """Try the channel change on the running domain; re-read first, it may have moved on."""
        if not dom.isPersistent():
            left_alone(result, SKIP_NOW_TRANSIENT)
            return
        live_root = domain_xml.parse_domain(dom.XMLDesc(0))
        hotplug, _pending = domain_xml.pending_live_changes(live_root, self.request_for(dom.name()))
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
        return self.summarize(self.results.as_dict(), self.failures, check_mode=self.check_mode, selection=self.selection)

    def report(self):
        return self.report_of(self.results.as_dict(), self.failures)

    @classmethod
    def summarize(cls, results, failures, check_mode=False, selection=None):
        """The module's result over the per-domain ``results`` (all but ``diff`` and ``warnings``).

        A class method over plain data: the action plugin sums up a restart that ran
        over several runs of the module the same way.
        """
        restarts = {name: result['restart'] for name, result in results.items() if result['restart']}
        report = cls.report_of(results, failures)
        return {
            'changed': any(result['changed'] for result in results.values()),
            'domains': results,
            'changed_domains': sorted(name for name, result in results.items() if result['changed']),
            'restart_required': sorted(name for name, result in results.items()
                                       if result['restart_required']),
            'restarted_domains': sorted(name for name, restart in restarts.items()
                                        if restart['state'] == 'restarted'),
            'skipped_domains': {name: result['reason'] for name, result in results.items() if result['skipped']},
            'backup_files': {name: result['backup_file'] for name, result in results.items()
                             if result['backup_file']},
            'report': report,
            'summary': run_summary.summary(len(results), report, selection, check_mode, cls.IDLE),
        }

    @classmethod
    def report_of(cls, results, failures):
        """What a person reads after the run: per domain, in sentences, only what happened.

        Keys with nothing to say are left out, so an idle run reports ``{}``.
        """
        sections = {
            'changed': {}, 'waiting_for_cold_start': {}, 'restarted': {}, 'would_restart': {},
            'not_restarted': {}, 'failed': {}, 'skipped': {}, 'backups': {},
        }
        for name, result in sorted(results.items()):
            if result['changed'] and (result['actions'] or result['live_actions']):
                sections['changed'][name] = result['actions'] + result['live_actions']
            if result['restart_required']:
                sections['waiting_for_cold_start'][name] = [
                    '%s: %s' % (entry['change'], entry['reason']) for entry in result['restart_required']]
            restart = result['restart']
            if restart and not result['skipped']:
                # A domain left down is a failure, never a domain that merely was not restarted.
                key = {'restarted': 'restarted', 'would_restart': 'would_restart',
                       'down': 'failed'}.get(restart['state'], 'not_restarted')
                sections[key][name] = restart['reason']
            if name in failures and name not in sections['not_restarted']:
                sections['failed'][name] = failures[name]
            if result['skipped']:
                sections['skipped'][name] = result['reason']
            if result['backup_file']:
                sections['backups'][name] = result['backup_file']
        return {key: value for key, value in sections.items() if value}
