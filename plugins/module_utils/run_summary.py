# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one run on one hypervisor came to, counted, and said in one sentence.

The ``summary`` of ``libvirt_domain`` and ``libvirt_domain_restore``: how many
domains were selected (and, when none or not all that was asked, why), and how many
of them fall in each section of the ``report``.  Its ``message`` is the closing
line a person reads, on a fleet one per hypervisor; pure functions over the report.
"""

from __future__ import annotations

# The report's sections that are counted, in the order the message says them.
COUNTED = ('changed', 'waiting_for_cold_start', 'restarted', 'would_restart', 'not_restarted',
           'failed', 'skipped')


def _domains(count):
    return '%d domain%s' % (count, '' if count == 1 else 's')


def _phrase(key, count, check_mode):
    one = count == 1
    return {
        'changed': '%d %s' % (count, 'would change' if check_mode else 'changed'),
        'waiting_for_cold_start': '%d wait%s for a cold start' % (count, 's' if one else ''),
        'restarted': '%d restarted' % count,
        'would_restart': '%d would be restarted' % count,
        'not_restarted': '%d not restarted' % count,
        'failed': '%d failed' % count,
        'skipped': '%d skipped' % count,
    }[key]


def summary(selected, report, selection=None, check_mode=False, idle='every one is already in the asked state'):
    """The counts of a run, and its closing sentence.

    ``selected``: how many domains the selection gave; ``report``: the module's
    report (its sections, by domain); ``selection``: why nothing, or not everything
    asked, was selected (a pattern that matched nothing), or None; ``idle``: what
    the message says when nothing needed doing.
    """
    counts = {key: len(report.get(key, {})) for key in COUNTED}
    result = dict(counts, selected=selected, selection=selection)
    result['message'] = message(selected, counts, selection, check_mode, idle)
    return result


def message(selected, counts, selection=None, check_mode=False, idle='every one is already in the asked state'):
    """``3 domains selected: 1 changed, 1 waits for a cold start``; the reason when none was selected."""
    if not selected:
        return '0 domains selected: %s' % (selection or 'nothing matched the selection')
    parts = [_phrase(key, counts[key], check_mode) for key in COUNTED if counts.get(key)]
    text = '%s selected: %s' % (_domains(selected), ', '.join(parts) if parts else 'nothing to do, ' + idle)
    if selection:
        text += '; %s' % selection
    return text


def needs_attention(summary_):
    """Whether a person should hear of this run beyond its changed/ok status."""
    return (not summary_['selected'] or bool(summary_['selection'])
            or any(summary_[key] for key in COUNTED if key != 'changed'))
