# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore's libvirt layer (libvirt_restore) on libvirt's in-process test:///default driver.

The real daemon and QEMU are exercised by tests/integration/test_restore.py; here the
interleavings (someone edits a domain between the passes) are set up exactly.
"""

from __future__ import annotations

import datetime
import os
import time

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import domain_backups as db
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_restore as lr
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_streaming as ls
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest

URI = 'test:///default'
ENABLE = StreamingRequest('filter', 'present')
DISABLE = StreamingRequest('off', 'absent')
SECURE = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE


def rollout(conn, names, backup_dir, request=ENABLE):
    selection = lc.select(conn, names, [])
    streaming = ls.StreamingRun(conn, URI, request, backup_dir=backup_dir)
    streaming.plan(selection.domains, selection.unknown)
    streaming.apply()
    assert streaming.failures == {}
    return streaming.summary()


def restore(conn, names, backup_dir, exclude=(), **options):
    selection = lc.select(conn, names, list(exclude))
    run = lr.RestoreRun(conn, URI, backup_dir, **options)
    run.plan(selection.domains, selection.unknown)
    run.apply()
    return run


def xml(conn, name):
    return conn.lookupByName(name).XMLDesc(SECURE)


def test_enable_then_restore_gives_the_original_back_and_a_second_restore_changes_nothing(conn, tmp_path):
    conn.define('q35-spice-password-listen.xml', 'r-a')
    conn.define('q35-spice-streaming-filter.xml', 'r-b')   # already streaming: no backup
    original = xml(conn, 'r-a')
    backups = str(tmp_path / 'b')
    rollout(conn, ['r-*'], backups)
    assert xml(conn, 'r-a') != original

    run = restore(conn, ['r-*'], backups)
    summary = run.summary()
    assert summary['changed_domains'] == ['r-a']
    assert xml(conn, 'r-a') == original
    assert 'no backup of it' in summary['skipped_domains']['r-b']
    result = summary['domains']['r-a']
    assert result['actions'][0].startswith('restores its definition from its backup %s (written ' % result['restored_from'])
    assert "removes <channel type='spiceport'> org.spice-space.stream.0" in result['actions']
    # What it replaced is kept, and is never picked by a later restore.
    assert result['backup_file'].endswith('.before-restore.xml')
    assert 'type=\'spiceport\'' in open(result['backup_file'], encoding='utf-8').read()
    assert summary['report']['changed']['r-a'] == result['actions']

    again = restore(conn, ['r-*'], backups).summary()
    assert again['changed'] is False and again['changed_domains'] == [] and again['backup_files'] == {}
    assert xml(conn, 'r-a') == original


def test_check_mode_predicts_with_a_masked_diff_and_changes_nothing(conn, tmp_path):
    conn.define('q35-spice-password-listen.xml', 'r-c')
    backups = str(tmp_path / 'b')
    rollout(conn, ['r-c'], backups)
    before, files = xml(conn, 'r-c'), sorted(os.listdir(backups))
    run = restore(lc.connect(URI, read_only=True), ['r-c'], backups, check_mode=True, diff=True)
    summary = run.summary()
    assert summary['changed_domains'] == ['r-c'] and summary['backup_files'] == {}
    assert xml(conn, 'r-c') == before and sorted(os.listdir(backups)) == files
    (diff,) = run.diffs
    assert "type='spiceport'" in diff['before'] or 'type="spiceport"' in diff['before']
    assert 'spiceport' not in diff['after']
    assert 's3cret' not in diff['before'] + diff['after'] and '********' in diff['after']
    real = restore(conn, ['r-c'], backups).summary()
    assert real['domains']['r-c']['actions'] == summary['domains']['r-c']['actions']


def test_oldest_is_before_the_first_rollout_newest_before_the_last(conn, tmp_path):
    conn.define('q35-spice-streaming-all-no-channel.xml', 'r-hand')
    original = xml(conn, 'r-hand')
    backups = str(tmp_path / 'b')
    rollout(conn, ['r-hand'], backups, ENABLE)
    enabled = xml(conn, 'r-hand')
    rollout(conn, ['r-hand'], backups, DISABLE)
    assert "<streaming mode='off'/>" in xml(conn, 'r-hand')
    first, second = db.BackupIndex(backups).backups_of(conn.lookupByName('r-hand').UUIDString())

    newest = restore(conn, ['r-hand'], backups).summary()
    assert newest['restored_from'] == {'r-hand': second.path}
    assert xml(conn, 'r-hand') == enabled
    oldest = restore(conn, ['r-hand'], backups, choice='oldest').summary()
    assert oldest['restored_from'] == {'r-hand': first.path}
    assert xml(conn, 'r-hand') == original and "<streaming mode='all'/>" in original
    # A time between the two rollouts: the definition it had then, the enabled one.
    between = second.when - datetime.timedelta(microseconds=1)
    restore(conn, ['r-hand'], backups, choice=between.strftime('%Y-%m-%dT%H:%M:%S.%fZ'))
    assert xml(conn, 'r-hand') == enabled
    # A time after every backup: nothing changed it since, it is left alone.
    later = restore(conn, ['r-hand'], backups, choice='2999-01-01').summary()
    assert later['changed'] is False and 'no backup written at or after' in later['skipped_domains']['r-hand']


def _edit_memory(conn, name):
    text = xml(conn, name)
    start = text.index('<memory')
    end = text.index('</memory>') + len('</memory>')
    conn.defineXML(text[:start] + "<memory unit='KiB'>1048576</memory>" + text[end:])


def test_a_domain_edited_by_someone_else_since_the_backup_is_refused_unless_forced(conn, tmp_path):
    conn.define('q35-spice-virtmanager.xml', 'r-edited')
    conn.define('q35-spice-virtmanager.xml', 'r-fine')
    original = xml(conn, 'r-edited')
    backups = str(tmp_path / 'b')
    rollout(conn, ['r-edited', 'r-fine'], backups)
    _edit_memory(conn, 'r-edited')
    before = {name: xml(conn, name) for name in ('r-edited', 'r-fine')}
    with pytest.raises(lc.StreamingError) as raised:
        restore(conn, ['r-*'], backups)
    msg = raised.value.msg
    assert msg.startswith('nothing was changed') and "domain 'r-edited' on" in msg and URI in msg
    assert 'outside the parts this collection manages (<memory> changed)' in msg and 'force' in msg
    assert '1 domain cannot be restored' in msg and 'unfit_domains=skip to restore the others' in msg
    assert list(raised.value.details['failed_domains']) == ['r-edited']
    assert {name: xml(conn, name) for name in before} == before

    skipped = restore(conn, ['r-*'], backups, skip_unfit=True).summary()
    assert skipped['changed_domains'] == ['r-fine'] and 'r-edited' in skipped['skipped_domains']
    forced = restore(conn, ['r-edited'], backups, force=True).summary()
    assert forced['changed_domains'] == ['r-edited'] and xml(conn, 'r-edited') == original
    assert any('as force asks: <memory> changed' in action for action in forced['domains']['r-edited']['actions'])


def test_streaming_parts_as_in_the_backup_and_other_edits_are_left_alone(conn, tmp_path):
    conn.define('q35-spice-virtmanager.xml', 'r-undone')
    backups = str(tmp_path / 'b')
    rollout(conn, ['r-undone'], backups)
    # Someone put the streaming parts back by hand, and changed the memory.
    (backup,) = db.BackupIndex(backups).backups_of(conn.lookupByName('r-undone').UUIDString())
    conn.defineXML(backup.read())
    _edit_memory(conn, 'r-undone')
    edited = xml(conn, 'r-undone')
    summary = restore(conn, ['r-undone'], backups).summary()
    assert summary['changed'] is False and xml(conn, 'r-undone') == edited
    assert summary['domains']['r-undone']['differences'] == ['<memory> changed']
    assert summary['report']['differ_outside_streaming_parts'] == {'r-undone': ['<memory> changed']}


def test_an_edit_between_plan_and_define_is_not_overwritten(conn, tmp_path):
    conn.define('q35-spice-virtmanager.xml', 'r-race')
    backups = str(tmp_path / 'b')
    rollout(conn, ['r-race'], backups)
    selection = lc.select(conn, ['r-race'], [])
    run = lr.RestoreRun(conn, URI, backups)
    run.plan(selection.domains)
    _edit_memory(conn, 'r-race')
    edited = xml(conn, 'r-race')
    run.apply()
    assert 'changed by someone else while the task ran' in run.failures['r-race']
    assert '<memory> changed' in run.failures['r-race']
    assert xml(conn, 'r-race') == edited and run.summary()['changed'] is False


def test_unknown_names_transient_domains_and_names_without_backups(conn, tmp_path):
    conn.define('q35-spice-virtmanager.xml', 'r-gone')
    conn.define('q35-spice-virtmanager.xml', 'r-never')
    backups = str(tmp_path / 'b')
    rollout(conn, ['r-gone'], backups)
    conn.lookupByName('r-gone').undefine()
    transient = conn.createXML(conn.fixture_xml('q35-spice-virtmanager.xml', 'r-transient'), 0)
    try:
        with pytest.raises(lc.StreamingError) as raised:
            restore(conn, ['r-gone', 'r-never', 'r-transient'], backups)
        msg = raised.value.msg
        assert "no domain named 'r-gone'" in msg and 'virsh -c %s define %s' % (URI, backups) in msg
        assert "domain 'r-never' on" in msg and 'no backup of it' in msg
        # Named exactly, a transient domain is unfit, as in libvirt_domain; by a pattern, a skip.
        assert "domain 'r-transient' on" in msg and 'is transient' in msg
        assert set(raised.value.details['failed_domains']) == {'r-gone', 'r-never', 'r-transient'}
        summary = restore(conn, ['r-*'], backups).summary()
        assert 'transient' in summary['skipped_domains']['r-transient']
        assert not transient.isPersistent()
    finally:
        transient.destroy()


def test_a_backup_dir_that_is_missing_or_a_bad_choice_stop_before_anything(conn, tmp_path):
    conn.define('q35-spice-virtmanager.xml', 'r-nodir')
    with pytest.raises(lc.StreamingError) as raised:
        restore(conn, ['r-nodir'], str(tmp_path / 'nowhere'))
    assert 'backup_dir %s on' % (tmp_path / 'nowhere') in raised.value.msg and 'does not exist' in raised.value.msg
    with pytest.raises(ValueError):
        lr.RestoreRun(conn, URI, str(tmp_path), choice='latest')


def test_a_renamed_domain_keeps_its_backups_but_is_not_renamed_back(conn, tmp_path):
    conn.define('q35-spice-virtmanager.xml', 'r-old')
    backups = str(tmp_path / 'b')
    rollout(conn, ['r-old'], backups)
    conn.lookupByName('r-old').rename('r-new', 0)
    time.sleep(0.01)
    with pytest.raises(lc.StreamingError) as raised:
        restore(conn, ['r-new'], backups, force=True)
    assert "was renamed from 'r-old'" in raised.value.msg and 'domrename' in raised.value.msg
    conn.lookupByName('r-new').undefine()
