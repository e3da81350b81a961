# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DomainResults: the one way the engine, the restarts and the info reader record per-domain results."""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.module_utils.domain_results import DomainResults, new_result
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_streaming import StreamingRun


def test_a_result_holds_every_key_the_modules_return():
    assert set(new_result('vdi-001')) == {
        'name', 'active', 'changed', 'actions', 'live_actions', 'restart_required', 'skipped', 'reason',
        'backup_file', 'restart', 'notes'}


def test_recording_fills_the_results_failures_and_warnings():
    results = DomainResults()
    results.start('a', active=True)
    results.add('b', new_result('b'))
    results.record('a', changed=True, restart={'state': 'restarted', 'reason': 'r'})
    results.note('a', 'a note')
    results.fail('b', 'it broke', note='not changed: it broke')
    results.warn('a warning')
    assert results['a']['changed'] and results['a']['restart']['state'] == 'restarted'
    assert results['a']['notes'] == ['a note'] and results['b']['notes'] == ['not changed: it broke']
    assert results.failures == {'b': 'it broke'} and results.warnings == ['a warning']
    assert results.changed_names() == ['a'] and 'a' in results and len(results) == 2
    assert results.as_dict() == {'a': results['a'], 'b': results['b']}


def test_left_alone_clears_what_waits_and_undone_clears_the_change():
    results = DomainResults({'a': dict(new_result('a'), changed=True, actions=['x'],
                                       restart_required=[{'change': 'mode', 'reason': 'r'}])})
    results.left_alone('a', 'gone')
    assert results['a']['skipped'] and results['a']['reason'] == 'gone' and results['a']['restart_required'] == []
    assert results['a']['changed'] and results['a']['actions'] == ['x']
    results.left_alone('a', 'gone', undone=True)
    assert not results['a']['changed'] and results['a']['actions'] == []


def test_a_rename_moves_the_result_and_its_failure():
    results = DomainResults()
    results.start('old')
    results.fail('old', 'why')
    results.rename('old', 'new')
    assert list(results) == ['new'] and results.failures == {'new': 'why'}


def test_the_run_summary_reads_the_recorded_results():
    results = DomainResults()
    results.start('a')
    results.record('a', changed=True, actions=['set the streaming mode to filter'])
    results.start('b')
    results.skip('b', 'no SPICE graphics')
    summary = StreamingRun.summarize(results.as_dict(), results.failures)
    assert summary['changed_domains'] == ['a'] and summary['skipped_domains'] == {'b': 'no SPICE graphics'}
