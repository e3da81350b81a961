# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run says to a person (issue 16, items 1, 3 and 4): short, and nothing when nothing happened."""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.filter.closing_lines import closing_lines as closing_filter
from ansible_collections.spice.streaming.plugins.module_utils import run_summary
from ansible_collections.spice.streaming.plugins.plugin_utils import run_output as ro


def result(selected, report=None, selection=None, check_mode=False):
    report = report or {}
    return {'report': report, 'summary': run_summary.summary(selected, report, selection, check_mode)}


IDLE = result(2)
WAITING = result(3, {'changed': {'d1': ['added the channel']},
                     'waiting_for_cold_start': {'d1': ['streaming_mode: the running domain streams with mode off'],
                                                'd2': ['streaming_mode: ...', 'agent_channel: ...']},
                     'skipped': {'vnc': 'no SPICE graphics: it cannot carry a spiceport channel'}})


def test_nothing_to_say_when_nothing_happened():
    assert ro.attention_lines('hv01', IDLE) == []
    assert ro.attention_lines('hv01', dict(WAITING, failed=True)) == []


def test_what_waits_and_what_was_skipped_are_named_with_why():
    lines = ro.attention_lines('hv01', WAITING, 'host_streaming_restart')
    assert lines == [
        'hv01: 1 changed: d1 (added the channel)',
        'hv01: 2 wait for a cold start: d1 (streaming mode); d2 (streaming mode, stream channel); '
        'set host_streaming_restart=when_needed to restart them',
        'hv01: 1 skipped: vnc (no SPICE graphics: it cannot carry a spiceport channel)',
    ]


def test_nothing_selected_says_so_and_why():
    lines = ro.attention_lines('hv07', result(0, selection="no domain matches 'spice-streaming-dmeo-*'"))
    assert lines == ["hv07: 0 domains selected: no domain matches 'spice-streaming-dmeo-*'"]


def test_many_domains_are_counted_not_listed():
    waiting = {'desk-%03d' % index: ['agent_channel: x'] for index in range(40)}
    line = ro.attention_lines('hv01', result(40, {'waiting_for_cold_start': waiting}), restart_mode='when_needed')[0]
    assert line == ('hv01: 40 wait for a cold start: desk-000, desk-001, desk-002, desk-003, desk-004 and 35 more '
                    '(stream channel)')


def test_a_restart_batch_says_what_it_does_and_what_it_came_to():
    assert ro.batch_start('hv01', 1, 3, ['a', 'b'], 300, False) == (
        'hv01: restart batch 1/3: shutting down a, b (ACPI; each gets up to 300 s, then is left running), '
        'then starting and checking them')
    assert ro.batch_waiting('hv01', 1, 3, 30.4, 269.6, 1, ['b']) == (
        'hv01: restart batch 1/3: 1 shut down after 30 s; waiting for b (up to 269 s more)')
    done = ro.batch_done('hv01', 1, 3, 41.2, {
        'a': {'restart': {'state': 'restarted'}}, 'b': {'restart': {'state': 'left_running'}},
        'c': {'restart': {'state': 'rolled_back'}}})
    assert done == ('hv01: restart batch 1/3 done in 41 s: restarted and checked a; did not start with the new '
                    'definition, rolled back and running c; left running b')


def test_the_closing_report_of_an_idle_fleet_is_one_line():
    lines = ro.closing_lines({'hv%02d' % index: IDLE for index in range(1, 21)})
    assert lines == ['hv01, hv02, hv03, hv04, hv05, hv06, hv07, hv08, hv09, hv10 and 10 more (20 hypervisors): '
                     '2 domains selected on each: nothing to do, every one is already in the asked state']


def test_the_closing_report_gives_its_own_line_to_what_happened_and_to_nothing_selected():
    results = {'hv01': WAITING, 'hv02': IDLE, 'hv03': result(3), 'hv04': result(0, selection="no domain matches 'x-*'"),
               'hv05': dict(WAITING)}
    assert ro.closing_lines(results) == [
        'hv01, hv05 (2 hypervisors): 3 domains selected: 1 changed, 2 wait for a cold start, 1 skipped',
        "hv04: 0 domains selected: no domain matches 'x-*'",
        'hv02, hv03 (2 hypervisors): 5 domains selected (hv02 2, hv03 3): nothing to do, every one is already '
        'in the asked state',
    ]


def test_the_filter_gives_one_line_as_a_string():
    assert closing_filter({'localhost': IDLE}) == \
        'localhost: 2 domains selected: nothing to do, every one is already in the asked state'
    assert closing_filter({'a': result(0), 'b': IDLE}) == [
        'a: 0 domains selected: nothing matched the selection',
        'b: 2 domains selected: nothing to do, every one is already in the asked state']
