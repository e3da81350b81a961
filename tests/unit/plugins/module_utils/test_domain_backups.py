# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup file names, writing, finding again and choosing (domain_backups), and their use by
the libvirt layer on libvirt's test:///default driver."""

from __future__ import annotations

import datetime
import os
import stat
from xml.sax.saxutils import escape

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import domain_backups as db
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_streaming as ls
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest

URI = 'test:///default'
ENABLE = StreamingRequest('filter', 'present')
UUID = 'f1c70000-0000-4000-8000-000000000001'
UTC = datetime.timezone.utc
# libvirt's QEMU driver takes names of up to 247 bytes (its own file is NAME.xml.new under
# /etc/libvirt/qemu) with any character but '/'; the file names must also survive a '/'.
NASTY = ("desk <img src=x onerror=alert(1)> & 'quoted' \"too\" *|? " + 'x' * 300)[:247]


def _xml(name, uuid=UUID):
    return "<domain type='kvm'>\n  <name>%s</name>\n  <uuid>%s</uuid>\n</domain>\n" % (escape(name), uuid)


@pytest.mark.parametrize('name', [NASTY, 'é' * 123, '..', '../../etc/passwd', 'vdi-001'],
                         ids=['247 characters of everything', '246 bytes of UTF-8', 'dots', 'slashes', 'plain'])
def test_any_valid_name_gives_a_short_safe_file_name(tmp_path, name):
    path = db.write_backup(str(tmp_path), name, _xml(name))
    base = os.path.basename(path)
    assert len(base.encode()) <= 129 and '/' not in base and not base.startswith('.')
    assert set(base) <= set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-')
    assert UUID in base and base.endswith('Z.xml')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, encoding='utf-8') as handle:
        assert db.name_of(handle.read()) == name
    assert os.listdir(str(tmp_path)) == [base]   # no temporary file left
    index = db.BackupIndex(str(tmp_path))
    assert [backup.path for backup in index.backups_of(UUID.upper())] == [path]


def test_the_prefix_is_readable():
    assert db.file_prefix('vdi-001') == 'vdi-001'
    assert db.file_prefix('desk <1> & co') == 'desk__1____co'
    assert db.file_prefix('.hidden') == 'hidden'
    assert db.file_prefix('..') == 'domain'
    assert len(db.file_prefix(NASTY)) == db.PREFIX_MAX


def test_the_index_finds_backups_by_uuid_oldest_first_and_keeps_restore_files_apart(tmp_path):
    times = [datetime.datetime(2026, 11, 24, 10, minute, tzinfo=UTC) for minute in (30, 10, 20)]
    paths = [db.write_backup(str(tmp_path), 'desk', _xml('desk'), when=when) for when in times]
    other = db.write_backup(str(tmp_path), 'desk', _xml('desk', 'f1c70000-0000-4000-8000-000000000002'))
    replaced = db.write_backup(str(tmp_path), 'desk', _xml('desk'), kind=db.BEFORE_RESTORE)
    (tmp_path / 'notes.txt').write_text('not a backup')
    (tmp_path / '.desk.abc.tmp').write_text('a write cut short')
    index = db.BackupIndex(str(tmp_path))
    assert [backup.path for backup in index.backups_of(UUID)] == [paths[1], paths[2], paths[0]]
    assert [backup.path for backup in index.before_restore[UUID]] == [replaced]
    assert [backup.path for backup in index.named('desk', exclude_uuids={UUID})] == [other]
    assert index.named('nobody') == []


def test_backups_of_0_1_0_are_found_by_reading_them(tmp_path):
    legacy = tmp_path / 'vdi_a.20261124T101500.000000.xml'
    legacy.write_text(_xml('vdi/a'))
    index = db.BackupIndex(str(tmp_path))
    (found,) = index.backups_of(UUID)
    assert found.path == str(legacy)
    assert found.when == datetime.datetime(2026, 11, 24, 10, 15).astimezone()


def test_choose_newest_oldest_or_the_state_at_a_time(tmp_path):
    times = [datetime.datetime(2026, 11, day, 10, 0, tzinfo=UTC) for day in (20, 22, 24)]
    for when in times:
        db.write_backup(str(tmp_path), 'desk', _xml('desk'), when=when)
    backups = db.BackupIndex(str(tmp_path)).backups_of(UUID)
    assert db.choose(backups, 'newest').when == times[2]
    assert db.choose(backups, 'oldest').when == times[0]
    # The definition the domain had at a time is in the first backup written after it.
    assert db.choose(backups, '2026-11-21').when == times[1]
    assert db.choose(backups, '20261122T100000Z').when == times[1]
    assert db.choose(backups, '2026-11-22T11:00:00+01:00').when == times[1]
    assert db.choose(backups, '2026-11-22T10:00:00.000001').when == times[2]
    assert db.choose(backups, '2026-11-25') is None
    assert db.choose([], 'newest') is None


@pytest.mark.parametrize('text', ['yesterday', '2026-13-01', '20261124T25', 'newest '])
def test_a_bad_choice_says_what_is_accepted(text):
    with pytest.raises(ValueError) as raised:
        db.check_choice(text)
    assert 'newest' in str(raised.value) or 'not a valid time' in str(raised.value)


# ---------------------------------------------------------------- backup_dir problems


def test_a_usable_backup_dir_has_no_problem(tmp_path):
    assert db.backup_dir_problem(str(tmp_path), 'hv1', probe=True) is None
    assert db.backup_dir_problem(str(tmp_path / 'a' / 'b'), 'hv1') is None
    assert os.listdir(str(tmp_path)) == []


def test_problems_name_the_directory_and_the_host(tmp_path):
    (tmp_path / 'file').write_text('')
    problem = db.backup_dir_problem(str(tmp_path / 'file'), 'hv1')
    assert problem.startswith('%s on hv1 exists and is not a directory' % (tmp_path / 'file'))
    problem = db.backup_dir_problem(str(tmp_path / 'file' / 'sub'), 'hv1')
    assert 'does not exist and cannot be created' in problem and 'is not a directory' in problem


# ---------------------------------------------------------------- the libvirt layer writes them


def test_a_domain_with_a_long_name_is_changed_with_its_backup(conn, tmp_path, request):
    """Item 15: a valid 240-character name used to fail with 'File name too long'."""
    name = NASTY[:240]
    dom = conn.defineXML(conn.fixture_xml('q35-spice-virtmanager.xml', escape(name)))
    request.addfinalizer(dom.undefine)
    original = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    selection = lc.select(conn, [name], [])
    streaming = ls.StreamingRun(conn, URI, ENABLE, backup_dir=str(tmp_path / 'b'))
    streaming.plan(selection.domains)
    streaming.apply()
    assert streaming.failures == {}
    summary = streaming.summary()
    assert summary['changed_domains'] == [name]
    path = summary['backup_files'][name]
    assert os.path.basename(path).startswith(db.file_prefix(name) + '.' + dom.UUIDString())
    with open(path, encoding='utf-8') as handle:
        assert handle.read() == original
