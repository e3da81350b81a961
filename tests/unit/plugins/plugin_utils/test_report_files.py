# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's files: a report that differs only in its time is not written again."""

from __future__ import annotations

import os
import stat

from ansible_collections.spice.streaming.plugins.filter.streaming_report import streaming_report
from ansible_collections.spice.streaming.plugins.plugin_utils import report_files

T1, T2 = '2026-12-04 10:00:00 UTC', '2026-12-04 10:05:00 UTC'


def content(domains=('vdi-01',)):
    info = {'active': False, 'persistent': True, 'state': 'shut off', 'graphics': ['spice'],
            'streaming_mode': 'filter', 'streaming_mode_live': None, 'agent_channel': True,
            'agent_channel_live': False, 'agent_channel_state': None, 'has_managed_save': False,
            'restart_required': [], 'problems': [], 'skipped': False, 'reason': None,
            'asked': None, 'compliance': None, 'compliance_reasons': []}
    domains = {name: dict(info) for name in domains}
    summary = {'domains': len(domains), 'running': 0, 'paused': 0, 'shut_off': len(domains), 'transient': 0,
               'spice': len(domains), 'streaming_modes': {'off': 0, 'all': 0, 'filter': len(domains), 'unset': 0},
               'agent_channel': len(domains), 'agent_connected': 0, 'agent_disconnected': 0,
               'restart_required': 0, 'problems': 0, 'skipped': 0}
    return streaming_report({'hv01': {'hypervisor': 'hv01', 'uri': 'qemu:///system', 'domains': domains,
                                      'summary': summary}})


def renderer(template, report):
    env = report_files.environment([report_files.DEFAULT_TEMPLATES])
    return lambda when: report_files.render(env, template, report, when)


def test_each_template_holds_its_time_on_the_time_line_only():
    for _name, template in report_files.FILES:
        text = renderer(template, content())(T1)
        assert report_files.time_of(text) == T1
        assert text.count(T1) == 1, template


def test_a_report_that_differs_only_in_its_time_is_left_as_it_is(tmp_path):
    for name, template in report_files.FILES:
        path = str(tmp_path / name)
        assert report_files.write_if_changed(path, renderer(template, content()), T1) is True
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        before = (open(path, encoding='utf-8').read(), os.stat(path).st_mtime_ns)
        assert report_files.write_if_changed(path, renderer(template, content()), T2) is False
        assert (open(path, encoding='utf-8').read(), os.stat(path).st_mtime_ns) == before
        assert report_files.time_of(before[0]) == T1
        # Another domain: written, with the new time.
        assert report_files.write_if_changed(path, renderer(template, content(('vdi-01', 'vdi-02'))), T2) is True
        text = open(path, encoding='utf-8').read()
        assert 'vdi-02' in text and report_files.time_of(text) == T2
        left = os.listdir(str(tmp_path))
        assert left.count(name) == 1 and not [entry for entry in left if entry.startswith('.')]


def test_check_mode_says_what_would_be_written_and_writes_nothing(tmp_path):
    path = str(tmp_path / 'index.html')
    assert report_files.write_if_changed(path, renderer('report.html.j2', content()), T1, check_mode=True) is True
    assert not os.path.exists(path)


def test_a_file_that_is_not_a_report_is_replaced(tmp_path):
    path = tmp_path / 'report.md'
    path.write_bytes(b'\xff\xfe not text')
    assert report_files.write_if_changed(str(path), renderer('report.md.j2', content()), T1) is True
    assert report_files.time_of(path.read_text()) == T1
    path.write_text('# something else\n')
    assert report_files.write_if_changed(str(path), renderer('report.md.j2', content()), T1) is True


def test_a_name_that_looks_like_a_template_is_shown_as_it_is():
    name = "{{ lookup('pipe', 'id') }}{% raw %}"
    for _name, template in report_files.FILES:
        text = renderer(template, content((name,)))(T1)
        assert "lookup('pipe', 'id')" in text.replace('&#39;', "'").replace('\\', '')
        assert 'uid=' not in text
