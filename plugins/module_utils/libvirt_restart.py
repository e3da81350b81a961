# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cold restarts that make a changed definition take effect, in bounded batches.

A running domain only takes its persistent definition at its next cold start,
and libvirt cannot apply a streaming mode (nor, on 9.0, a spiceport channel) to
a running domain.  With ``restart: when_needed``, ``libvirt_domain`` hands the
run it just made to :class:`Restarts`, which restarts exactly the running
domains whose running state lacks what their definition says
(:func:`domain_state.live_gaps`): a graceful ACPI shutdown, a bounded wait, a
start, then a look at the live XML to confirm the change is in effect.

What it promises:

* only domains that were running when the task read them, and still run, are
  restarted; nothing that was shut off is started;
* a domain that does not stop in time is left running and reported (forced off
  only with ``force_off``);
* a domain that does not start with its new definition gets its previous
  definition back and is started with it, and libvirt's words are reported;
* a domain we shut down and could not bring back, or that the loss of the
  connection left shut off, is named as such, never silently left down;
* before each step that could lose a domain (the ACPI request, a forced power
  off, a start, a rollback) the domain is checked to still be the persistent
  domain the task planned on (the same UUID, still persistent): one that
  another client undefined meanwhile is left alone and reported, never
  destroyed, defined again or started;
* a shut-off domain with a saved state (``virsh managedsave``) is never
  started and its saved state never discarded: that state is the guest's
  running session.  It is reported as waiting, with the command that applies
  the change.

It knows nothing of AnsibleModule: what happened is recorded through the run's
``results`` (``domain_results.DomainResults``), and a lost connection stops the run
through its public ``stop_if_connection_lost``.
"""

from __future__ import annotations

import time

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml
from ansible_collections.spice.streaming.plugins.module_utils.domain_state import live_gaps
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import (
    SKIP_NOW_TRANSIENT,
    SKIP_VANISHED,
    error_words,
    is_alive,
    is_gone,
    libvirt,
    lost_connection,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_pool import first_error
from ansible_collections.spice.streaming.plugins.module_utils.option_names import MODULE_NAMES
from ansible_collections.spice.streaming.plugins.module_utils.settings import changes_words

RESTART_CHOICES = ('never', 'when_needed')
POLL_SECONDS = 0.5

_GONE_BEFORE = 'another client removed it before its restart began; it was not restarted'
_GONE_AFTER_REQUEST = ('another client removed it after it had been sent the ACPI shutdown (undefined, '
                       'and then shut down or destroyed); there is nothing left to start')


class RestartPolicy:
    """How running domains are restarted: ``mode`` is ``never`` or ``when_needed``."""

    __slots__ = ('mode', 'batch', 'shutdown_timeout', 'force_off')

    def __init__(self, mode='never', batch=5, shutdown_timeout=300, force_off=False, names=MODULE_NAMES):
        if mode not in RESTART_CHOICES:
            raise ValueError('%s must be one of %s' % (names('restart'), ', '.join(RESTART_CHOICES)))
        if batch < 1:
            raise ValueError('%s must be at least 1, got %d' % (names('restart_batch'), batch))
        if shutdown_timeout < 0:
            raise ValueError('%s must not be negative, got %d' % (names('shutdown_timeout'), shutdown_timeout))
        self.mode = mode
        self.batch = batch
        self.shutdown_timeout = shutdown_timeout
        self.force_off = force_off

    @property
    def enabled(self):
        return self.mode == 'when_needed'


class _Candidate:
    """A running domain to restart, and what it ran with before."""

    __slots__ = ('name', 'dom', 'gaps', 'paused', 'live_root', 'stopped', 'forced')

    def __init__(self, name, dom, gaps):
        self.name = name
        self.dom = dom
        self.gaps = gaps
        self.paused = False
        # The live XML before the shutdown request: set once the domain was asked to stop.
        self.live_root = None
        self.stopped = False
        self.forced = False

    def state(self):
        """What a later run of the module needs to go on with this candidate, as plain data.

        Of the live XML only the managed parts are kept (a rollback reads nothing
        else), so no secret of the definition leaves the host.
        """
        return {
            'name': self.name, 'uuid': self.dom.UUIDString(), 'gaps': self.gaps, 'paused': self.paused,
            'stopped': self.stopped, 'forced': self.forced,
            'live': None if self.live_root is None else domain_xml.managed_parts(self.live_root),
        }

    @classmethod
    def resumed(cls, state, dom):
        candidate = cls(state['name'], dom, state['gaps'])
        candidate.paused = state['paused']
        candidate.stopped = state['stopped']
        candidate.forced = state['forced']
        if state['live'] is not None:
            candidate.live_root = domain_xml.parse_domain(state['live'])
        return candidate

    @property
    def asked(self):
        """Whether it was asked to stop (or forced off, paused): from then on it may be down."""
        return self.live_root is not None


def _state(dom):
    return dom.state()[0]


class Restarts:
    """Restart what needs it after a :class:`StreamingRun` has planned and applied."""

    def __init__(self, run, policy, clock=time.monotonic, sleep=time.sleep):
        self.run = run
        self.conn = run.conn
        self.policy = policy
        self._clock = clock
        self._sleep = sleep
        self._in_flight = []

    # ------------------------------------------------------------ which domains

    def candidates(self, selected_domains):
        """The running domains whose running state lacks what their definition says."""
        found = []
        for selected in selected_domains:
            result = self.run.results.get(selected.name)
            if result is None or result['skipped'] or selected.name in self.run.failures:
                continue
            if not selected.active:
                self._saved_state(selected, result)
                continue
            try:
                gaps = self._gaps(selected, result)
            except libvirt.libvirtError as err:
                if is_gone(err):
                    self._gone(selected.name, _GONE_BEFORE)
                    continue
                self.run.stop_if_connection_lost(err)
                raise
            if gaps:
                found.append(_Candidate(selected.name, selected.dom, gaps))
        return found

    def _saved_state(self, selected, result):
        """A shut-off domain with a saved state and a change that waits for it: say so, touch nothing."""
        if not result['restart_required'] or selected.dom.UUIDString() not in self.run.saved_state:
            return
        why = ("it has a saved state (virsh managedsave) that holds the guest's running session; "
               '%s never discards a saved state, and starting the domain would '
               'resume it with its old configuration, so it was not started. To apply the change, '
               "discard the saved state with 'virsh -c %s managedsave-remove %s' and start it (the "
               'session is lost), or start it, shut it down from the guest and start it again'
               % (self.run.names.setting('restart', 'when_needed'), self.run.uri, selected.name))
        self.run.results.record(selected.name, restart={'state': 'saved', 'reason': why})
        self.run.results.warn('%s was not restarted: %s' % (self.run.where(selected.name), why))

    def _gaps(self, selected, result):
        dom = selected.dom
        if not dom.isActive():
            return []
        if not dom.isPersistent():
            self._transient(selected.name)
            return []
        live_root = domain_xml.parse_domain(dom.XMLDesc(0))
        inactive_root = domain_xml.parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        gaps = live_gaps(inactive_root, live_root)
        if self.run.check_mode:
            # The definition is not written in check mode: what the real run would write
            # waits for a cold start too.
            known = {gap['change'] for gap in gaps}
            gaps.extend(entry for entry in result['restart_required'] if entry['change'] not in known)
        return gaps

    # ------------------------------------------------------------ restarting

    def restart(self, selected_domains):
        """Restart every candidate, ``policy.batch`` at a time; record what happened per domain."""
        candidates = self.candidates(selected_domains)
        if self.run.check_mode:
            self.predict(candidates)
            return
        self.restart_in_batches(candidates)

    def restart_in_batches(self, candidates):
        """Restart ``candidates`` in this run, ``policy.batch`` at a time."""
        for start in range(0, len(candidates), self.policy.batch):
            self._restart_batch(candidates[start:start + self.policy.batch])

    def predict(self, candidates):
        """Check mode: say what a real run does to each candidate."""
        for candidate in candidates:
            self._predict(candidate)

    # ------------------------------------------------------------ one batch over several runs

    def step(self, states, wait, final):
        """Go on with one batch that an earlier run of the module planned (or began).

        A restart batch can take minutes, and a module says nothing until it ends: the
        action plugin runs each batch as one or more runs of the module and shows
        progress between them.  ``states`` are the batch's candidates as
        :meth:`_Candidate.state` gave them; those not yet asked to stop are asked now.
        Then the step waits up to ``wait`` seconds for them to shut down.  When all
        have, or when ``final`` (the shutdown timeout ends with this wait), what still
        runs is forced off or left running and the stopped ones are started and
        checked: the batch is done.  Otherwise the step returns, and the next one
        goes on waiting.

        Returns ``(done, waited, states)``: ``states`` are the candidates still being
        waited for.  A lost connection raises, naming every domain of the batch that
        may be down, as a batch in one run does.
        """
        candidates = [candidate for candidate in (self._resume(state) for state in states) if candidate]
        self._in_flight = [candidate for candidate in candidates if candidate.asked]
        self._ask_batch([candidate for candidate in candidates if not candidate.asked])
        started = self._clock()
        all_stopped = self._wait_batch(wait)
        waited = self._clock() - started
        if not all_stopped and not final:
            return False, waited, [candidate.state() for candidate in self._in_flight]
        self._finish_batch()
        return True, waited, []

    def _resume(self, state):
        """The candidate of an earlier run, found again by its UUID; None (recorded) when it is gone."""
        try:
            dom = self.conn.lookupByUUIDString(state['uuid'])
            # The run that planned it kept its secrets out of the messages; so does this one
            # (QEMU quotes whole arguments of a definition when it refuses to start).
            self.run.keep_secrets_of(domain_xml.parse_domain(dom.XMLDesc(self.run.inactive_flags)))
        except libvirt.libvirtError as err:
            if not is_gone(err):
                self.run.stop_if_connection_lost(err)
                raise
            self._gone(state['name'], _GONE_AFTER_REQUEST if state['live'] is not None else _GONE_BEFORE)
            return None
        return _Candidate.resumed(state, dom)

    def _predict(self, candidate):
        """Check mode: what a real run does to this candidate, read the same way (read-only)."""
        try:
            ready = self._ready(candidate)
        except libvirt.libvirtError as err:
            if not is_gone(err):
                self.run.stop_if_connection_lost(err)
                raise
            self._gone(candidate.name, _GONE_BEFORE)
            return
        if not ready:
            return
        if candidate.paused:
            how = 'forces it off at once (it is paused, so it cannot act on the ACPI request)'
            again = 'starts it again paused'
        else:
            how = 'shuts it down (ACPI), waits up to %d s%s' % (
                self.policy.shutdown_timeout,
                ' and forces it off if it is still running' if self.policy.force_off else '')
            again = 'starts it again'
        self.run.results.record(candidate.name, changed=True, restart={
            'state': 'would_restart', 'reason': 'a real run %s, %s and confirms %s'
                                                % (how, again, _changes(candidate.gaps))})

    def _ready(self, candidate):
        """Whether to ask this candidate to shut down; records why not, otherwise.

        The same checks in check mode and in a real run, so check mode predicts
        what the real run does.
        """
        dom = candidate.dom
        if not dom.isPersistent():
            self._transient(candidate.name)
            return False
        state = _state(dom)
        if state in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_CRASHED):
            self.run.results.record(candidate.name, restart_required=[], restart={
                'state': 'not_running', 'reason': 'it was shut off meanwhile; it takes its definition at '
                                                  'its next start, so it was not started'})
            return False
        candidate.paused = state == libvirt.VIR_DOMAIN_PAUSED
        candidate.live_root = domain_xml.parse_domain(dom.XMLDesc(0))
        if candidate.paused and not self.policy.force_off:
            # A paused guest cannot act on the power button: waiting would only burn the timeout.
            self._left_running(candidate, 'it is paused, so it cannot shut down by itself; set '
                                          '%s to power it off and start it again paused'
                               % self.run.names('force_off'))
            return False
        return True

    def _restart_batch(self, batch):
        """Restart one batch in this run: ask each to stop, wait, then force off or start."""
        self._in_flight = []
        self._ask_batch(batch)
        self._wait_batch(self.policy.shutdown_timeout)
        self._finish_batch()

    def _ask_batch(self, batch):
        try:
            for candidate in batch:
                self._request_shutdown(candidate)
        except libvirt.libvirtError as err:
            self._stop_on_lost_connection(err)
            raise

    def _wait_batch(self, seconds):
        """Wait up to ``seconds`` for the domains asked to stop; whether every one has."""
        try:
            return self._wait_for_shutdown([c for c in self._in_flight if not c.stopped], seconds)
        except libvirt.libvirtError as err:
            self._stop_on_lost_connection(err)
            raise

    def _finish_batch(self):
        """Force off (or leave running) what still runs; start the stopped ones again."""
        try:
            self._after_timeout([c for c in self._in_flight if not c.stopped])
        except libvirt.libvirtError as err:
            self._stop_on_lost_connection(err)
            raise
        # Starting is the slow part (a QEMU process each): spread over the run's connections.
        stopped = [candidate for candidate in self._in_flight if candidate.stopped]
        outcomes = self.run.pool.map(self._start_again, stopped)
        for candidate, outcome in zip(stopped, outcomes):
            if outcome.started and outcome.error is None:
                self._in_flight.remove(candidate)
        error = first_error(outcomes)
        if error is not None:
            if isinstance(error, libvirt.libvirtError):
                self._stop_on_lost_connection(error)
            raise error
        self._in_flight = []

    def _request_shutdown(self, candidate):
        try:
            self._ask_to_stop(candidate)
        except libvirt.libvirtError as err:
            if not is_gone(err):
                raise
            if candidate in self._in_flight:
                self._in_flight.remove(candidate)
            self._gone(candidate.name, 'another client removed it as its restart began; there is '
                                       'nothing left to start')

    def _ask_to_stop(self, candidate):
        if not self._ready(candidate):
            return
        dom = candidate.dom
        # In flight before the request: the daemon may carry it out and then die before it
        # answers, and a lost connection must still name this domain as possibly down.
        self._in_flight.append(candidate)
        if candidate.paused:
            dom.destroy()
            candidate.stopped = candidate.forced = True
            return
        try:
            dom.shutdown()
        except libvirt.libvirtError as err:
            if not is_alive(self.conn) or is_gone(err):
                raise
            if not self.policy.force_off:
                self._in_flight.remove(candidate)
                self._left_running(candidate, 'libvirt refused the ACPI shutdown (%s)' % error_words(err))

    def _wait_for_shutdown(self, waiting, seconds):
        """Poll until every domain of ``waiting`` is shut off, or ``seconds`` have passed."""
        deadline = self._clock() + seconds
        waiting = list(waiting)
        while waiting:
            for candidate in list(waiting):
                try:
                    state = _state(candidate.dom)
                except libvirt.libvirtError as err:
                    if not is_gone(err):
                        raise
                    waiting.remove(candidate)
                    self._in_flight.remove(candidate)
                    self._gone(candidate.name, _GONE_AFTER_REQUEST)
                    continue
                if state == libvirt.VIR_DOMAIN_SHUTOFF:
                    candidate.stopped = True
                    waiting.remove(candidate)
            if not waiting or self._clock() >= deadline:
                break
            self._sleep(min(POLL_SECONDS, max(0.0, deadline - self._clock())))
        return not waiting

    def _after_timeout(self, waiting):
        """The domains still running when the shutdown timeout ends: forced off, or left running."""
        for candidate in waiting:
            if self.policy.force_off:
                if not self._still_ours(candidate, candidate.dom):
                    self._in_flight.remove(candidate)
                    continue
                try:
                    candidate.dom.destroy()
                except libvirt.libvirtError as err:
                    if not is_alive(self.conn):
                        raise
                    if is_gone(err):
                        self._in_flight.remove(candidate)
                        self._gone(candidate.name, 'another client removed it while it was waited '
                                                   'for; there is nothing left to start')
                        continue
                    if _state(candidate.dom) != libvirt.VIR_DOMAIN_SHUTOFF:
                        self._in_flight.remove(candidate)
                        self._left_running(candidate, 'it did not shut down within %d s and libvirt '
                                                      'refused to force it off (%s)'
                                           % (self.policy.shutdown_timeout, error_words(err)))
                        continue
                candidate.stopped = True
                candidate.forced = True
            else:
                self._in_flight.remove(candidate)
                self._left_running(candidate, 'it did not shut down within %d s of the ACPI request (a '
                                              'guest without ACPI support, a paused domain or a user '
                                              'keeping it busy); set %s to power it off instead'
                                   % (self.policy.shutdown_timeout, self.run.names('force_off')))

    def _still_ours(self, candidate, dom, gone_why='another client removed it while it was being '
                                                   'restarted; there is nothing left to start'):
        """Whether ``dom`` is still the persistent domain planned on; records why not, otherwise.

        Checked right before each step that could lose a domain: a domain undefined
        by another client is either gone or runs on as a transient domain, which a
        power off would remove for good and a define would make persistent again.
        """
        try:
            persistent = dom.isPersistent()
        except libvirt.libvirtError as err:
            if not is_gone(err):
                raise
            self._gone(candidate.name, gone_why)
            return False
        if not persistent:
            self._transient(candidate.name)
            return False
        return True

    def _gone(self, name, why):
        self._left_alone(name, 'vanished', '%s: %s' % (SKIP_VANISHED, why))

    def _transient(self, name):
        self._left_alone(name, 'transient',
                         '%s; it was not restarted and still runs with its old configuration' % SKIP_NOW_TRANSIENT)

    def _left_alone(self, name, state, reason):
        """Another client took the domain out of our hands: skipped, not restarted, said once."""
        self.run.results.left_alone(name, reason)
        self.run.results.record(name, restart={'state': state, 'reason': reason})
        self.run.results.warn('%s was not restarted: %s' % (self.run.where(name), reason))

    def _left_running(self, candidate, why):
        self.run.results.record(candidate.name, restart={
            'state': 'left_running', 'reason': why + '; it still runs with its old configuration'})
        self.run.results.warn('%s was not restarted: %s' % (self.run.where(candidate.name), why))

    def _start_flags(self, candidate):
        return libvirt.VIR_DOMAIN_START_PAUSED if candidate.paused else 0

    def _start_again(self, worker, candidate):
        """Start one stopped domain on one of the run's connections; roll it back if it fails.

        Only this domain's result is written (and its entry in the run's failures).
        """
        result = self.run.results[candidate.name]
        gone_why = ('another client undefined it after it was shut down for the restart, so it is '
                    'gone and was not started again%s' % (
                        '; its definition from before this task is in %s' % result['backup_file']
                        if result.get('backup_file') else ''))
        try:
            dom = worker.domain(candidate)
        except libvirt.libvirtError as err:
            if not is_gone(err):
                raise
            self._gone(candidate.name, gone_why)
            return
        if not self._still_ours(candidate, dom, gone_why):
            return
        if candidate.forced and candidate.paused:
            how = 'forced off (it was paused), then started'
        elif candidate.forced:
            how = 'forced off after %d s, then started' % self.policy.shutdown_timeout
        else:
            how = 'shut down (ACPI) and started'
        try:
            dom.createWithFlags(self._start_flags(candidate))
        except libvirt.libvirtError as err:
            if not is_alive(worker.conn):
                raise
            if is_gone(err):
                self._gone(candidate.name, gone_why)
                return
            self._roll_back(worker, dom, candidate, error_words(err))
            return
        self.run.results.record(candidate.name, changed=True, restart_required=[])
        still = live_gaps(domain_xml.parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)),
                          domain_xml.parse_domain(dom.XMLDesc(0)))
        if still:
            self.run.results.record(candidate.name, restart_required=still, restart={
                'state': 'restarted', 'reason': '%s, but the running domain still lacks %s' % (how, _changes(still))})
            return
        self.run.results.record(candidate.name, restart={
            'state': 'restarted', 'reason': '%s%s; %s now in effect' % (
                how, ' paused, as it was' if candidate.paused else '', _changes(candidate.gaps))})

    def _roll_back(self, worker, dom, candidate, start_error):
        """Give the domain its previous definition back and start it with that."""
        result = self.run.results[candidate.name]
        gone_why = ('it did not start with its new definition (%s), and another client undefined it '
                    'meanwhile, so it is gone: nothing was rolled back or started' % start_error)
        source = None
        try:
            if result.get('backup_file'):
                with open(result['backup_file'], encoding='utf-8') as handle:
                    previous = handle.read()
                source = 'from its backup %s' % result['backup_file']
            else:
                root = domain_xml.parse_domain(dom.XMLDesc(self.run.inactive_flags))
                domain_xml.restore_managed_parts(root, candidate.live_root)
                previous = domain_xml.to_string(root)
                source = 'with the streaming parts it ran with before'
            # Right before the define: a define of a domain undefined meanwhile would bring it back.
            if not self._still_ours(candidate, dom, gone_why):
                return
            dom = worker.conn.defineXML(previous)
            dom.createWithFlags(self._start_flags(candidate))
        except (libvirt.libvirtError, OSError, domain_xml.DomainXMLError) as err:
            if isinstance(err, libvirt.libvirtError) and not is_alive(worker.conn):
                raise
            if isinstance(err, libvirt.libvirtError) and is_gone(err):
                self._gone(candidate.name, gone_why)
                return
            why = ('it did not start with its new definition (%s), and bringing back its previous '
                   'definition%s failed too (%s): it is SHUT OFF now; start it by hand once fixed '
                   "('virsh -c %s start %s')" % (start_error, ' ' + source if source else '', error_words(err),
                                                 self.run.uri, candidate.name))
            # Left down is a failure, not a change that waits for a cold start.
            self.run.results.record(candidate.name, restart={'state': 'down', 'reason': why},
                                    restart_required=[])
            self.run.results.fail(candidate.name, why)
            return
        why = ('it did not start with its new definition (%s); its previous definition was restored %s '
               'and it runs again with its old configuration' % (start_error, source))
        self.run.results.record(candidate.name, restart={'state': 'rolled_back', 'reason': why},
                                restart_required=[], changed=True)
        self.run.results.fail(candidate.name, why)

    # ------------------------------------------------------------ a lost connection

    def _stop_on_lost_connection(self, err):
        if is_alive(self.conn):
            return
        down = sorted(c.name for c in self._in_flight if c.stopped or c.asked)
        if not down:
            self.run.stop_if_connection_lost(err)
            return
        mark_possibly_down(self.run.results, down)
        raise lost_during_batch(self.run.uri, self.run.host, err, down, **self.run.summary())


def mark_possibly_down(results, names):
    """Record that the connection was lost while these domains were being restarted.

    ``results``: the run's ``DomainResults``.
    """
    for name in names:
        results.record(name, restart={
            'state': 'unknown', 'reason': 'the connection to libvirt was lost while it was being '
                                          'restarted; it may be shut off: check it and start it '
                                          'if needed'})


def lost_during_batch(uri, host, err, down, **details):
    """The one error for a restart batch cut short: every domain that may be down, by name."""
    return lost_connection(
        uri, host, err, 'during a restart batch',
        "These domains were being restarted and MAY BE SHUT OFF now: %s. Check them with "
        "'virsh -c %s list --all' and start them once libvirt answers." % (', '.join(down), uri),
        connection_lost=True, possibly_down=down, **details)


def _changes(gaps):
    return changes_words(gap['change'] for gap in gaps)
