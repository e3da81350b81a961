# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put back the definitions that ``libvirt_domain`` backed up, over one libvirt connection.

A :class:`RestoreRun` is a :class:`libvirt_streaming.StreamingRun` whose request
is "the definition in a backup": it keeps the two passes, the parallel
connections, the results, the report, the lost-connection handling, and hands
itself to ``libvirt_restart.Restarts`` just as a streaming run does.  Only what
is planned and defined per domain differs:

1. *plan*: each selected domain's backups are found by its UUID
   (``domain_backups``), one is chosen (the newest, the oldest, or the one that
   holds the definition of a given time), and the definition is compared with
   it (``domain_restore``).  A domain whose managed parts already are as in the
   backup is left alone; a domain someone changed since the backup outside the
   managed parts is refused, unless ``force``; every refusal stops the run
   before the first define, as for a streaming run.
2. *apply*: each domain is read again; its current definition is kept in
   ``backup_dir`` as ``...before-restore.xml`` (a later restore never picks it),
   then the backup's text is defined, whole and unchanged, and read back.
"""

from __future__ import annotations

import os

from ansible_collections.spice.streaming.plugins.module_utils import (
    domain_backups,
    domain_restore,
    domain_xml,
)
from ansible_collections.spice.streaming.plugins.module_utils.domain_state import live_gaps
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import (
    DomainXMLError,
    StreamingRequest,
)
from ansible_collections.spice.streaming.plugins.module_utils.domain_results import skip
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import (
    NO_SUCH_DOMAIN,
    StreamingError,
    unknown_name_sentence,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_streaming import (
    StreamingRun,
    digest,
)
from ansible_collections.spice.streaming.plugins.module_utils.option_names import MODULE_NAMES


class _Decision:
    """What a restore does to one domain: ``problem`` (refused), or ``restore`` with ``actions``."""

    __slots__ = ('problem', 'restore', 'actions', 'differences', 'note')

    def __init__(self, problem=None, restore=False, actions=(), differences=(), note=None):
        self.problem = problem
        self.restore = restore
        self.actions = list(actions)
        self.differences = list(differences)
        self.note = note


class RestoreRun(StreamingRun):
    """Restore the backed-up definitions of many domains of one connection.

    ``choice``: ``newest``, ``oldest`` or a time (``domain_backups.choose``);
    ``force``: restore a domain even when it was changed since the backup outside
    the managed parts.
    """

    UNFIT = 'cannot be restored'
    VERB = 'restore'
    IDLE = 'every one already has the definition its backup holds'
    NOT_DONE = 'could not be restored'

    def __init__(self, conn, uri, backup_dir, choice=domain_backups.NEWEST, force=False,
                 check_mode=False, diff=False, skip_unfit=False, pool=None, names=MODULE_NAMES):
        domain_backups.check_choice(choice)
        super().__init__(conn, uri, StreamingRequest(), check_mode=check_mode, live=False,
                         backup_dir=backup_dir, diff=diff, skip_unfit=skip_unfit, pool=pool, names=names)
        self.choice = choice
        self.force = force
        self.index = None
        # Exact names that match no domain, and the backups of a domain once called so.
        self._unknown_backups = {}

    # ------------------------------------------------------------ pass 1: plan

    def plan(self, selected_domains, unknown=()):
        self._check_backups_readable()
        self.index = domain_backups.BackupIndex(self.backup_dir)
        self._unknown_backups = {name: self.index.named(name) for name in unknown}
        super().plan(selected_domains, unknown)

    def _check_backups_readable(self):
        path, where = self.backup_dir, '%s on %s' % (self.backup_dir, self.host)
        if not os.path.isdir(path):
            raise StreamingError(
                'nothing was changed: %s %s %s, so there is no backup to restore from; point '
                '%s at the directory the rollout wrote its backups to (%sdefault '
                '/var/lib/spice-streaming/backups).'
                % (self.names('backup_dir'), where, 'is not a directory' if os.path.exists(path) else 'does not exist',
                   self.names('backup_dir'),
                   '' if self.names.renamed() else "the host_streaming role's host_streaming_backup_dir, "),
                failed_domains={})
        if not os.access(path, os.R_OK | os.X_OK):
            raise StreamingError(
                'nothing was changed: %s %s cannot be read by the user the task runs as (uid '
                '%d); backups are readable by their owner only: run the task as root (become: true).'
                % (self.names('backup_dir'), where, os.geteuid()), failed_domains={})

    def _problem_line(self, name, text):
        if text == NO_SUCH_DOMAIN and self._unknown_backups.get(name):
            backup = self._unknown_backups[name][0]
            unknown = unknown_name_sentence(name, self.host, self.uri)
            return ('%s; %s holds a backup of a domain of that name (UUID %s) that no longer '
                    "exists, which a restore does not define again: 'virsh -c %s define %s' brings it "
                    'back if it should come back' % (unknown, self.names('backup_dir'), backup.uuid,
                                                     self.uri, backup.path))
        return super()._problem_line(name, text)

    def _plan_domain(self, dom, selected, result):
        """Compare one domain with its chosen backup: ``(problem, plan, hotplug, diff entry)``."""
        result.update(restored_from=None, differences=[])
        current_text = dom.XMLDesc(self.inactive_flags)
        try:
            current = domain_xml.parse_domain(current_text)
            self.keep_secrets_of(current)
        except DomainXMLError as err:
            return 'has a definition this module cannot read: %s' % err, None, None, None
        uuid = dom.UUIDString().lower()
        backups = self.index.backups_of(uuid)
        chosen = domain_backups.choose(backups, self.choice)
        if chosen is None:
            reason = self._no_backup(selected.name, uuid, backups)
            if selected.exact and self.choice in (domain_backups.NEWEST, domain_backups.OLDEST):
                return (reason + '; leave it out, or point %s at its backups' % self.names('backup_dir'),
                        None, None, None)
            skip(result, reason)
            return None, None, None, None
        try:
            backup_text = chosen.read()
            backup = domain_xml.parse_domain(backup_text)
            self.keep_secrets_of(backup)
        except (OSError, UnicodeDecodeError, DomainXMLError) as err:
            return 'has a backup %s that cannot be read: %s' % (chosen.path, err), None, None, None
        if domain_backups.uuid_of(backup_text) != uuid:
            return ('has a backup file %s that holds another domain (UUID %s); move that file out of '
                    '%s' % (chosen.path, domain_backups.uuid_of(backup_text), self.names('backup_dir'))), None, None, None
        result['restored_from'] = chosen.path
        decision = self._decide(current, backup, chosen)
        result['differences'] = decision.differences
        if decision.note:
            result['notes'].append(decision.note)
        if decision.problem:
            return decision.problem, None, None, None
        live_root = domain_xml.parse_domain(dom.XMLDesc(0)) if selected.active else None
        if not decision.restore:
            self._waits(result, current, live_root)
            return None, None, None, None
        result['actions'] = decision.actions
        result['changed'] = True
        self._waits(result, backup, live_root)
        diff = self._diff_entry(selected.name, current_text, backup_text) if self.check_mode and self.diff else None
        return None, (digest(current_text), chosen), None, diff

    def _no_backup(self, name, uuid, backups):
        if backups:
            return ('no backup written at or after %s (its latest is from %s): no rollout changed it '
                    'since, so it already has the definition it had then' % (self.choice, backups[-1].written))
        reason = 'no backup of it (UUID %s) in %s %s: no rollout with backups changed it' % (
            uuid, self.names('backup_dir'), self.backup_dir)
        others = self.index.named(name, exclude_uuids={uuid})
        if others:
            reason += (' (the backups of an earlier domain of this name, UUID %s, are not used: this '
                       'domain was defined anew since)' % others[0].uuid)
        return reason

    def _decide(self, current, backup, chosen):
        """What to do with one domain whose current definition is ``current``; pure but for words."""
        where = 'its backup %s (written %s)' % (chosen.path, chosen.written)
        renamed = domain_restore.renamed(backup, current)
        if renamed:
            return _Decision(problem=(
                "was renamed from '%s' after %s; libvirt does not rename a domain through a define: "
                "rename it back first (virsh -c %s domrename '%s' '%s')"
                % (renamed[0], where, self.uri, renamed[1], renamed[0])))
        managed = domain_restore.managed_changes(current, backup)
        differences = domain_restore.unmanaged_differences(backup, current, secure=not self.check_mode)
        if differences and not self.force:
            if managed:
                return _Decision(differences=differences, problem=(
                    'was changed since %s outside the parts this collection manages (%s); a restore '
                    'would undo that: restore it by hand, or set %s to put the whole backup back'
                    % (where, ', '.join(differences), self.names('force'))))
            return _Decision(differences=differences, note=(
                'its streaming parts already are as in %s; it differs from it elsewhere (%s), which '
                'was left as it is: %s puts the whole backup back'
                % (where, ', '.join(differences), self.names('force'))))
        if not managed and not differences:
            return _Decision()
        actions = ['restores its definition from %s' % where] + managed
        if differences:
            actions.append('also puts back what changed since the backup outside the streaming parts, '
                           'as %s asks: %s' % (self.names('force'), ', '.join(differences)))
        return _Decision(restore=True, actions=actions, differences=differences)

    def _waits(self, result, definition, live_root):
        """What a running domain lacks of ``definition`` until its next cold start."""
        result['restart_required'] = [] if live_root is None else live_gaps(definition, live_root)

    # ------------------------------------------------------------ pass 2: apply

    def _define(self, worker, selected, planned_digest, result):
        """Read the domain again, keep what it is, define the backup, confirm; the diff entry.

        ``planned_digest``: what the plan pass kept, here the digest of the definition it
        read and the chosen backup.
        """
        planned_digest, chosen = planned_digest
        dom = worker.domain(selected)
        current_text = dom.XMLDesc(self.inactive_flags)
        current = domain_xml.parse_domain(current_text)
        backup_text = chosen.read()
        backup = domain_xml.parse_domain(backup_text)
        if digest(current_text) != planned_digest:
            decision = self._decide(current, backup, chosen)
            if decision.problem:
                raise DomainXMLError('it was changed by someone else while the task ran, and now it %s'
                                     % decision.problem)
            result['notes'].append('the definition was changed by someone else after it was read; the '
                                   'comparison with the backup was made again on their definition')
            result['actions'] = decision.actions
            result['differences'] = decision.differences
            if not decision.restore:
                result['changed'] = False
                return None
        try:
            result['backup_file'] = domain_backups.write_backup(
                self.backup_dir, selected.name, current_text, kind=domain_backups.BEFORE_RESTORE)
        except OSError as err:
            raise OSError('could not keep its current definition in %s %s on %s (%s), so it was '
                          'not restored' % (self.names('backup_dir'), self.backup_dir, self.host,
                                            err.strerror or err)) from err
        new_dom = worker.conn.defineXML(backup_text)
        after_text = new_dom.XMLDesc(self.inactive_flags)
        after = domain_xml.parse_domain(after_text)
        result['changed'] = not domain_restore.same_definition(current, after)
        leftover = domain_restore.managed_changes(after, backup)
        if leftover:
            raise DomainXMLError('libvirt did not keep the restored definition (%s); its definition is '
                                 'as libvirt stored it, see the diff' % '; '.join(leftover))
        if selected.active and new_dom.isActive():
            self._waits(result, after, domain_xml.parse_domain(new_dom.XMLDesc(0)))
        if self.diff and result['changed']:
            return self._diff_entry(selected.name, current_text, after_text)
        return None

    # ------------------------------------------------------------ restarts

    def restart_candidates(self, selected_domains):
        """The selected domains to hand to ``libvirt_restart.Restarts``.

        A real run hands them all: the restarts compare each running domain with the
        definition the restore left.  Check mode defined nothing, so the stored
        definition is still the rolled-out one; only the domains that lack something of
        the definition a real run puts back (``restart_required``) may restart.
        """
        if not self.check_mode:
            return selected_domains
        return [selected for selected in selected_domains
                if self.results.get(selected.name, {}).get('restart_required')]

    # ------------------------------------------------------------ result

    @classmethod
    def summarize(cls, results, failures, check_mode=False, selection=None):
        result = super().summarize(results, failures, check_mode, selection)
        for entry in results.values():
            entry.setdefault('restored_from', None)
            entry.setdefault('differences', [])
        result['restored_from'] = {name: entry['restored_from'] for name, entry in results.items()
                                   if entry['changed'] and entry['restored_from']}
        return result

    @classmethod
    def report_of(cls, results, failures):
        sections = super().report_of(results, failures)
        if 'backups' in sections:
            sections['replaced_definitions_kept_in'] = sections.pop('backups')
        refused = {name: entry['differences'] for name, entry in sorted(results.items())
                   if entry.get('differences') and not entry['changed']}
        if refused:
            sections['differ_outside_streaming_parts'] = refused
        return sections
