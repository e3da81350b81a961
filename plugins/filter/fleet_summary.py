# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``fleet_summary`` filter: the closing lines of ``enable_streaming.yml``.

At most :data:`MAX_LINES` lines whatever the number of hypervisors and desktops: counts,
and a few names per line with "and N more".  Built from what the plays left in the hosts'
variables (``host_streaming_result`` on the hypervisors, with the desktops found on them in
``__streaming_discovered``; ``streaming_guest_plan``, ``streaming_guest_outcome`` and
``streaming_agent_check`` on the desktops).  Pure Python over mappings: the unit tests feed
it plain dicts.

Documentation lives beside this file, in ``fleet_summary.yml``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.spice.streaming.plugins.module_utils.desktops import PENDING, found_in_play, lookup

MAX_LINES = 15
NAMES_SHOWN = 3
REASONS_GROUPED = 2
REASON_LENGTH = 130
DISCOVERED_VAR = '__streaming_discovered'
# verify_agent.yml's cases that say nothing of the agent, only that it could not be checked.
CANNOT_CHECK = ('no_hypervisor', 'unknown_hypervisor', 'unread')
# The desktop lines, in the order they are printed.
DESKTOP_LINES = (
    ('connected', 'agent connected'),
    ('not_connected', 'agent not connected'),
    ('not_checked', 'agent not checked'),
    ('pending', 'agent pending'),
    ('unreachable', 'unreachable'),
    ('failed', 'failed'),
    ('not_targeted', 'not for the agent'),
)
CONFIGURED = ('connected', 'not_connected', 'not_checked', 'unreachable', 'failed')


def _get(hostvars, host, name, default=None):
    value = lookup(hostvars, host, name)
    return default if value is None else value


def _short(reason):
    """One line of a reason, cut to :data:`REASON_LENGTH` characters."""
    text = ' '.join(str(reason or '').split())
    # ansible-core 2.19 starts its messages so; in a summary line it says nothing.
    for prefix in ('Task failed: ', 'Action failed: '):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text if len(text) <= REASON_LENGTH else text[:REASON_LENGTH - 3].rstrip() + '...'


def pending_reason(reason):
    """``agent pending: desktop is shut off (it gets ...)`` -> ``desktop is shut off``."""
    text = str(reason or '')
    if text.startswith('agent pending: '):
        text = text[len('agent pending: '):]
    return _short(text.split(' (', 1)[0])


def names(items, shown=NAMES_SHOWN):
    """``a, b, c and 7 more``."""
    items = list(items)
    if len(items) <= shown:
        return ', '.join(items)
    return '%s and %d more' % (', '.join(items[:shown]), len(items) - shown)


def detail(entries):
    """``[(name, reason)]`` in few words.

    Names that share a reason are grouped under it (``desktop is shut off: a, b, c and 9
    more``) when at most :data:`REASONS_GROUPED` reasons are shown that way; otherwise the
    first :data:`NAMES_SHOWN` names, each with its reason.
    """
    reasons = []
    for _name, reason in entries:
        if reason not in reasons:
            reasons.append(reason)
    if reasons == [None]:
        return names(name for name, _reason in entries)
    if len(reasons) <= REASONS_GROUPED and len(reasons) < len(entries):
        groups = []
        for reason in reasons:
            members = names(name for name, why in entries if why == reason)
            groups.append('%s: %s' % (reason, members) if reason else members)
        return '; '.join(groups)
    shown = ['%s (%s)' % (name, reason) if reason else name for name, reason in entries[:NAMES_SHOWN]]
    more = len(entries) - NAMES_SHOWN
    return '; '.join(shown) + ('; and %d more' % more if more > 0 else '')


def line(label, entries, hint=None, always=False):
    """``label: N (details; hint)``, or None when there is nothing to say."""
    if not entries and not always:
        return None
    inside = [detail(entries)] if entries else []
    if entries and hint:
        inside.append(hint)
    return '%s: %d%s' % (label, len(entries), ' (%s)' % '; '.join(inside) if inside else '')


def _label(domain, hypervisor, several):
    return '%s on %s' % (domain, hypervisor) if several else domain


def _hypervisor_lines(hypervisors, hostvars, live, reads, check_mode):
    several = len(hypervisors) > 1
    done, failed, not_run, none_selected = [], [], [], []
    selected = None
    domains = {key: [] for key in ('changed', 'waiting', 'restarted', 'failed', 'skipped')}
    for host in hypervisors:
        result = _get(hostvars, host, 'host_streaming_result')
        if not isinstance(result, Mapping) or result.get('skipped'):
            if host in live:
                not_run.append((host, None))
            else:
                read = reads.get(host)
                failed.append((host, 'unreachable: %s' % _short(read.get('msg'))
                               if isinstance(read, Mapping) and read.get('unreachable')
                               else 'stopped before its domains were changed (see its error above)'))
            continue
        if result.get('failed'):
            failed.append((host, _short(result.get('msg'))))
        else:
            done.append((host, None))
        counts = result.get('summary')
        if isinstance(counts, Mapping) and isinstance(counts.get('selected'), int):
            selected = (selected or 0) + counts['selected']
            if not counts['selected']:
                none_selected.append((host, _short(counts.get('selection')) or None))
        report = result.get('report') or {}
        domains['changed'].extend((_label(name, host, several), None) for name in result.get('changed_domains') or ())
        domains['waiting'].extend((_label(name, host, several), None)
                                  for name in report.get('waiting_for_cold_start') or ())
        for key in ('restarted', 'would_restart'):
            domains['restarted'].extend((_label(name, host, several), None) for name in report.get(key) or ())
        failures = dict(report.get('failed') or {})
        failures.update(result.get('failed_domains') or {})
        domains['failed'].extend((_label(name, host, several), _short(reason))
                                 for name, reason in sorted(failures.items()))
        left_alone = report.get('skipped') or result.get('skipped_domains') or {}
        domains['skipped'].extend((_label(name, host, several), _short(reason))
                                  for name, reason in sorted(left_alone.items()))
    parts = ['%d done' % len(done)] if done else []
    if failed:
        parts.append('%d failed (%s)' % (len(failed), detail(failed)))
    if not_run:
        parts.append('%d with the hypervisor side not in this run' % len(not_run))
    if none_selected:
        parts.append('nothing selected on %s' % detail(none_selected))
    first = 'hypervisors: %d%s' % (len(hypervisors), ' (%s)' % ', '.join(parts) if parts else '')
    if not done and not any(domains.values()):
        return [first]
    # The categories that are empty are named on the first line; each other one gets a line
    # with its names, so a run that changes nothing says so in one line.
    categories = (
        ('changed', 'would change' if check_mode else 'changed', 'domains that would change' if check_mode
         else 'domains changed', None),
        ('waiting', 'waiting for a cold start', 'domains waiting for a cold start',
         None if domains['restarted'] else 'host_streaming_restart=when_needed restarts them'),
        ('restarted', 'would be restarted' if check_mode else 'restarted', 'domains that would be restarted'
         if check_mode else 'domains restarted', None),
        ('failed', 'failed', 'domains failed', None),
        ('skipped', 'left alone', 'domains left alone', None),
    )
    empty = [words for key, words, _label, _hint in categories if not domains[key]]
    counted = '; domains: %d selected' % selected if selected is not None else ''
    if empty:
        counted += ', none %s' % _either(empty) if selected is not None else '; domains: none %s' % _either(empty)
    lines = [first + counted]
    lines += [line(label, domains[key], hint=hint) for key, _words, label, hint in categories if domains[key]]
    return lines


def _either(words):
    """``a``, ``a or b``, ``a, b or c``."""
    return words[0] if len(words) == 1 else '%s or %s' % (', '.join(words[:-1]), words[-1])


def _desktop_entries(guests, live, hostvars):
    """Every desktop host of the run, sorted into the summary's lines."""
    entries = {key: [] for key, _label in DESKTOP_LINES}
    for host in guests:
        plan = _get(hostvars, host, 'streaming_guest_plan', {})
        outcome = _get(hostvars, host, 'streaming_guest_outcome', {})
        status = outcome.get('status') if isinstance(outcome, Mapping) else None
        check = _get(hostvars, host, 'streaming_agent_check')
        said = _get(hostvars, host, 'streaming_agent_status')
        if isinstance(plan, Mapping) and plan.get('status') == 'refused':
            entries['failed'].append((host, _short(plan.get('message'))))
        elif status in ('pending', 'not_targeted'):
            entries[status].append((host, outcome.get('words') or pending_reason(outcome.get('reason'))))
        elif status in ('unreachable', 'failed'):
            entries[status].append((host, _short(outcome.get('reason'))))
        elif host not in live:
            entries['failed'].append((host, 'see its error above'))
        elif check == 'connected':
            entries['connected'].append((host, None))
        elif check in CANNOT_CHECK:
            entries['not_checked'].append((host, _short(said)))
        elif check:
            entries['not_connected'].append((host, _short(str(said or '').replace('not connected: ', '', 1))))
        elif status == 'configured':
            entries['not_checked'].append((host, 'not verified (streaming_verify_agent is false, or tags)'))
        else:
            entries['not_checked'].append((host, 'the guest play did not reach it'))
    return entries


def _why_none(guests, reads, entries):
    """Why no desktop was configured, in one clause."""
    read = {host: value for host, value in reads.items() if isinstance(value, Mapping)}
    asked = [host for host, value in read.items() if not value.get('skipped')]
    if not guests and not asked:
        return ('group streaming_guests is empty and streaming_discover_guests is not true: set it to find '
                'the desktops on the hypervisors, or list them in group streaming_guests')
    unread = [host for host in asked if read[host].get('failed') or read[host].get('unreachable')]
    if not guests and unread and len(unread) == len(asked):
        return 'their desktops could not be read (%s)' % names(unread)
    left = entries['pending'] + entries['not_targeted']
    if not guests and not left:
        return 'no SPICE desktop among the domains they select (host_streaming_domains, host_streaming_exclude)'
    counts = {}
    for _name, reason in left:
        counts[reason] = counts.get(reason, 0) + 1
    return 'no desktop found can take the agent now (%s)' % ', '.join(
        '%s: %d' % (reason, count) for reason, count in sorted(counts.items(), key=lambda item: -item[1])[:3])


def fleet_summary(hostvars, hypervisors, guests=(), live=None, check_mode=False, guest_side=True, outside=()):
    """The closing summary of enable_streaming.yml, as a list of at most MAX_LINES lines.

    ``hostvars``: the play's ``hostvars`` (or any mapping of host to its variables);
    ``hypervisors`` and ``guests``: the hosts of groups ``hypervisors`` and
    ``streaming_guests`` in this run; ``live``: the hosts that have not failed or become
    unreachable (``ansible_play_hosts``; default: all); ``guest_side``: whether the guest
    plays were in this run (not left out by tags); ``outside``: hosts of
    ``streaming_guests`` that ``--limit`` left out (desktops found on the hypervisors are new
    hosts, which a limit naming only hypervisors does not take in).
    """
    hypervisors = [str(host) for host in hypervisors or ()]
    guests = [str(host) for host in guests or () if str(host) not in hypervisors]
    outside = [str(host) for host in outside or () if str(host) not in hypervisors]
    live = set(hypervisors + guests) if live is None else {str(host) for host in live}
    reads = {host: _get(hostvars, host, DISCOVERED_VAR) for host in hypervisors}
    lines = ['spice.streaming summary of enable_streaming.yml%s'
             % (' in check mode (what a real run would do)' if check_mode else '')]
    lines += _hypervisor_lines(hypervisors, hostvars, live, reads, check_mode)

    entries = (_desktop_entries(guests, live, hostvars) if guest_side
               else {key: [] for key, _label in DESKTOP_LINES})
    several = len(hypervisors) > 1
    usable = {host: read for host, read in reads.items() if isinstance(read, Mapping)}
    for desktop in found_in_play(usable, hostvars=hostvars, existing=guests + outside)['left']:
        entries['pending' if desktop['status'] == PENDING else 'not_targeted'].append(
            (_label(desktop['domain'], desktop['hypervisor'], several), desktop['words']))
    configured = sum(len(entries[key]) for key in CONFIGURED)
    later = len(entries['pending']) + len(entries['not_targeted'])
    if not guest_side:
        lines.append('desktops: the guest side was not in this run (tags)%s'
                     % (', %d found' % later if later else ''))
    elif not configured:
        why = ('%d desktop%s outside --limit (%s): add group streaming_guests to it, as in --limit '
               "'%s,streaming_guests'" % (len(outside), '' if len(outside) == 1 else 's', names(outside),
                                          ','.join(hypervisors[:2]) or 'hv01')
               if outside else _why_none(guests, reads, entries))
        lines.append('desktops: no desktop to configure on %s: %s' % (names(hypervisors) or 'no hypervisor', why))
    else:
        lines.append('desktops: %d in this run, %d of them for a later run or not for the agent%s'
                     % (configured + later, later, '; %d outside --limit' % len(outside) if outside else ''))
    for key, label in DESKTOP_LINES:
        text = line('  ' + label, entries[key])
        if text:
            lines.append(text)
    return lines[:MAX_LINES]


class FilterModule:
    """The closing summary of spice.streaming's rollout."""

    def filters(self):
        return {'fleet_summary': fleet_summary}
