# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run of the changing modules says to a person on the controller, as lines of text.

Pure functions over the modules' results (``summary``, ``report``, ``domains``), used
by the action plugin of ``libvirt_domain`` and ``libvirt_domain_restore``
(``plugin_utils/domain_task.py``), which prints the lines as the run goes, and by the
``closing_lines`` filter, the host_streaming role's closing report.

The lines are short on purpose: a fleet of hypervisors prints one line for those
where nothing happened, and one line per kind of thing worth knowing elsewhere, with
at most a few domain names each (the task's ``report`` has them all).
"""

from __future__ import annotations

# Domain names shown in one line before "and N more".
SHOWN = 5


def some(names, limit=SHOWN):
    """``a, b, c and 4 more``."""
    names = list(names)
    if len(names) <= limit:
        return ', '.join(names)
    return '%s and %d more' % (', '.join(names[:limit]), len(names) - limit)


def _with_reasons(section, limit=SHOWN):
    """Names with their reason, the reason said once for the names that share it."""
    by_reason = {}
    for name, reason in sorted(section.items()):
        if isinstance(reason, list):
            reason = '; '.join(reason)
        by_reason.setdefault(reason, []).append(name)
    parts = ['%s (%s)' % (some(names, limit), reason) for reason, names in by_reason.items()]
    if len(parts) > 3:
        return '%s; and %d other reasons (see the report)' % ('; '.join(parts[:3]), len(parts) - 3)
    return '; '.join(parts)


_CHANGE_WORDS = {'streaming_mode': 'streaming mode', 'agent_channel': 'stream channel'}


def _changes(entries):
    """``streaming mode, stream channel`` from the report's ``'change: reason'`` entries."""
    changes = []
    for entry in entries:
        change = entry.split(':', 1)[0]
        change = _CHANGE_WORDS.get(change, change)
        if change not in changes:
            changes.append(change)
    return ', '.join(changes)


def attention_lines(host, result, restart_option='restart', restart_mode='never', check_mode=False):
    """What a person must see of one host's run even when ok results are hidden.

    Nothing when nothing happened, and nothing for a failure (its message shows with
    the failed task).  Otherwise one line per kind of thing, a few domain names each
    with what was done or why: the selection when it matched nothing (or not all that
    was asked), what changed, what waits for a cold start, what check mode would
    restart, what a restart left alone, what was skipped.
    """
    summary = result.get('summary')
    report = result.get('report') or {}
    if not summary or result.get('failed'):
        return []
    lines = []
    if not summary['selected'] or summary['selection']:
        lines.append('%s: %s' % (host, summary['message']))
    changed = report.get('changed') or {}
    if changed:
        lines.append('%s: %d %s: %s' % (host, len(changed), 'would change' if check_mode else 'changed',
                                        _with_reasons(changed)))
    waiting = report.get('waiting_for_cold_start') or {}
    if waiting:
        by_change = {}
        for name, entries in sorted(waiting.items()):
            by_change.setdefault(_changes(entries), []).append(name)
        how = '' if restart_mode == 'when_needed' else '; set %s=when_needed to restart %s' % (
            restart_option, 'it' if len(waiting) == 1 else 'them')
        lines.append('%s: %d wait%s for a cold start: %s%s' % (
            host, len(waiting), 's' if len(waiting) == 1 else '',
            '; '.join('%s (%s)' % (some(names), changes) for changes, names in by_change.items()), how))
    for key, label in (('would_restart', 'would be restarted'), ('not_restarted', 'not restarted'),
                       ('skipped', 'skipped')):
        section = report.get(key) or {}
        if section:
            lines.append('%s: %d %s: %s' % (host, len(section), label, _with_reasons(section)))
    return lines


def batch_start(host, number, count, names, shutdown_timeout, force_off):
    return ('%s: restart batch %d/%d: shutting down %s (ACPI; each gets up to %d s, then is %s), '
            'then starting and checking them' % (
                host, number, count, some(names, limit=len(names)), shutdown_timeout,
                'forced off' if force_off else 'left running'))


def batch_waiting(host, number, count, waited, remaining, stopped, waiting):
    return ('%s: restart batch %d/%d: %d shut down after %d s; waiting for %s (up to %d s more)'
            % (host, number, count, stopped, waited, some(waiting), remaining))


# How the end of a batch names what happened to each domain, by restart state.
_DONE = (
    ('restarted', 'restarted and checked'),
    ('rolled_back', 'did not start with the new definition, rolled back and running'),
    ('down', 'DOWN (did not start, rollback failed)'),
    ('left_running', 'left running'),
    ('not_running', 'shut off meanwhile, not started'),
    ('vanished', 'removed by another client'),
    ('transient', 'undefined by another client, left alone'),
    ('unknown', 'unknown (connection lost)'),
)


def batch_done(host, number, count, elapsed, domains):
    """The end of a batch: what happened to each of its ``domains`` (per-domain results)."""
    by_state = {}
    for name, result in sorted(domains.items()):
        state = (result.get('restart') or {}).get('state')
        by_state.setdefault(state, []).append(name)
    parts = ['%s %s' % (label, some(by_state[state], limit=len(by_state[state])))
             for state, label in _DONE if state in by_state]
    return '%s: restart batch %d/%d done in %d s: %s' % (
        host, number, count, elapsed, '; '.join(parts) or 'nothing to restart')


def _hosts(hosts):
    return hosts[0] if len(hosts) == 1 else '%s (%d hypervisors)' % (some(hosts, limit=10), len(hosts))


def closing_lines(results):
    """The closing report over several hosts: ``{host: module result}`` to lines.

    The hosts where nothing needed doing share one line, which says how many
    domains were selected on each; the others share a line with the hosts whose
    run came to the same (``3 domains selected: 3 changed``), and a host where
    nothing was selected says why.
    """
    busy = {}
    idle = {}
    for host, result in results.items():
        summary = result.get('summary') if isinstance(result, dict) else None
        if not summary:
            busy.setdefault('no result: the task did not run there', []).append(host)
            continue
        counted = any(value for key, value in summary.items() if key not in ('selected', 'selection', 'message'))
        if not summary['selected'] or summary['selection'] or counted:
            busy.setdefault(summary['message'], []).append(host)
        else:
            idle[host] = summary
    lines = ['%s: %s' % (_hosts(hosts), message) for message, hosts in busy.items()]
    if len(idle) == 1:
        host, summary = next(iter(idle.items()))
        lines.append('%s: %s' % (host, summary['message']))
    elif idle:
        counts = sorted({summary['selected'] for summary in idle.values()})
        message = next(iter(idle.values()))['message'].split(': ', 1)[1]
        if len(counts) == 1:
            lines.append('%s: %d domain%s selected on each: %s' % (
                _hosts(list(idle)), counts[0], '' if counts[0] == 1 else 's', message))
        else:
            lines.append('%s: %d domains selected (%s): %s' % (
                _hosts(list(idle)), sum(summary['selected'] for summary in idle.values()),
                some(['%s %d' % (host, summary['selected']) for host, summary in idle.items()], limit=10),
                message))
    return lines
