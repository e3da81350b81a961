# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a task did to each domain, recorded through one public API.

A :class:`DomainResults` holds the per-domain result dicts of a run (the ``domains``
of the modules' result, whose keys the modules' RETURN documents), the domains that
failed (``failed_domains``) and the warnings.  The engine
(``libvirt_streaming.StreamingRun``), the restarts (``libvirt_restart.Restarts``) and
the info reader (``libvirt_info.gather``) record through its methods, so none of them
writes another's dicts.  Reading is a plain mapping: ``results[name]['changed']``.

No libvirt here: plain data in, plain data out.
"""

from __future__ import annotations


def new_result(name, active=False):
    """The result of one selected domain before anything is done to it."""
    return {
        'name': name,
        'active': active,
        'changed': False,
        'actions': [],
        'live_actions': [],
        'restart_required': [],
        'skipped': False,
        'reason': None,
        'backup_file': None,
        'restart': None,
        'notes': [],
    }


def skip(result, reason):
    """Mark one result dict as left alone, for ``reason``."""
    result['skipped'] = True
    result['reason'] = reason


def left_alone(result, reason, undone=False):
    """A domain that vanished or turned transient under the task: skipped, nothing waits.

    ``undone``: nothing of the planned change was made (the apply pass had not defined it yet).
    """
    skip(result, reason)
    result['restart_required'] = []
    if undone:
        result['changed'] = False
        result['actions'] = []


class DomainResults:
    """The per-domain results, failures and warnings of one run.

    ``domains`` (``{name: result dict}``) may be given, as a later run of a module
    gets them back from an earlier one (a restart over several runs).
    """

    def __init__(self, domains=None, failures=None):
        self.domains = {} if domains is None else domains
        self.failures = {} if failures is None else failures
        self.warnings = []

    # ------------------------------------------------------------ reading

    def __getitem__(self, name):
        return self.domains[name]

    def __contains__(self, name):
        return name in self.domains

    def __iter__(self):
        return iter(self.domains)

    def __len__(self):
        return len(self.domains)

    def get(self, name, default=None):
        return self.domains.get(name, default)

    def items(self):
        return self.domains.items()

    def values(self):
        return self.domains.values()

    def as_dict(self):
        """``{name: result}``: the modules' ``domains``."""
        return self.domains

    def changed_names(self):
        """The names of the domains changed so far, sorted."""
        return sorted(name for name, result in self.domains.items() if result['changed'])

    # ------------------------------------------------------------ recording

    def add(self, name, result):
        """File ``result`` (a dict of :func:`new_result`, or the info reader's) under ``name``."""
        self.domains[name] = result
        return result

    def start(self, name, active=False):
        """A fresh :func:`new_result` for ``name``, filed and returned."""
        return self.add(name, new_result(name, active))

    def record(self, name, **fields):
        """Set ``fields`` of ``name``'s result (``changed=True``, ``restart={...}``...)."""
        self.domains[name].update(fields)

    def note(self, name, text):
        """Add a sentence to ``name``'s ``notes``."""
        self.domains[name]['notes'].append(text)

    def fail(self, name, message, note=None):
        """``name`` failed with ``message`` (``failed_domains``); ``note`` also goes into its notes."""
        self.failures[name] = message
        if note is not None:
            self.note(name, note)

    def warn(self, text):
        """A warning of the run (the module hands it to ``module.warn``)."""
        self.warnings.append(text)

    def skip(self, name, reason):
        """``name`` was left alone, for ``reason``."""
        skip(self.domains[name], reason)

    def left_alone(self, name, reason, undone=False):
        """:func:`left_alone` on ``name``'s result."""
        left_alone(self.domains[name], reason, undone)

    def rename(self, old, new):
        """File ``old``'s result (and failure) under ``new``: another client renamed the domain."""
        self.domains[new] = self.domains.pop(old)
        if old in self.failures:
            self.failures[new] = self.failures.pop(old)
