# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt layer on libvirt's in-process test:///default driver (no daemon).

The real daemon and QEMU are exercised by tests/integration; here the cases
that need a precise interleaving (someone redefines a domain between the plan
and the define) or a broken environment (no bindings) are set up exactly.
"""

from __future__ import annotations

import os
import re
import socket

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_streaming as ls
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest
from ansible_collections.spice.streaming.plugins.module_utils.option_names import OptionNames

URI = 'test:///default'
ENABLE = StreamingRequest('filter', 'present')


def run(conn, names, request=ENABLE, exclude=(), **options):
    selected, unknown = lc.select_domains(conn, names, list(exclude))
    assert unknown == []
    streaming = ls.StreamingRun(conn, URI, request, **options)
    streaming.plan(selected)
    return streaming


def test_select_resolves_names_patterns_and_exclusions(conn):
    for name in ('u-vdi-1', 'u-vdi-2', 'u-vdi-gold', 'u-kiosk'):
        conn.define('q35-spice-virtmanager.xml', name)
    selected, unknown = lc.select_domains(conn, ['u-vdi-*', 'u-kiosk', 'u-nope', 'u-zz*'], ['*-gold'])
    assert [(s.name, s.exact) for s in selected] == [('u-kiosk', True), ('u-vdi-1', False), ('u-vdi-2', False)]
    assert unknown == ['u-nope']
    assert all(s.persistent and not s.active for s in selected)


def test_plan_then_apply_defines_only_what_differs(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-a')
    conn.define('q35-spice-streaming-filter.xml', 'u-b')
    streaming = run(conn, ['u-*'])
    streaming.apply()
    summary = streaming.summary()
    assert summary['changed_domains'] == ['u-a']
    assert summary['domains']['u-b']['actions'] == []
    assert dx.apply_request(dx.parse_domain(conn.lookupByName('u-a').XMLDesc(0)), ENABLE) == []
    again = run(conn, ['u-*'])
    again.apply()
    assert again.summary()['changed'] is False


def test_check_mode_predicts_and_defines_nothing(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-c')
    before = conn.lookupByName('u-c').XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    ro = lc.connect(URI, read_only=True)
    streaming = run(ro, ['u-c'], check_mode=True, diff=True)
    streaming.apply()
    assert streaming.summary()['changed_domains'] == ['u-c']
    assert len(streaming.diffs) == 1
    assert conn.lookupByName('u-c').XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before
    real = run(conn, ['u-c'])
    real.apply()
    assert real.summary()['domains']['u-c']['actions'] == streaming.summary()['domains']['u-c']['actions']


def test_a_change_made_by_someone_else_meanwhile_is_kept(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-race')
    streaming = run(conn, ['u-race'])
    # Between the plan and the define, an administrator edits the domain.
    dom = conn.lookupByName('u-race')
    theirs = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    theirs = theirs.replace('</devices>', "  <watchdog model='i6300esb' action='reset'/>\n  </devices>")
    theirs = theirs.replace('<vcpu', '<description>edited meanwhile</description>\n  <vcpu', 1)
    conn.defineXML(theirs)
    streaming.apply()
    result = streaming.summary()['domains']['u-race']
    assert result['changed'] and any('changed by someone else' in note for note in result['notes'])
    final = conn.lookupByName('u-race').XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert 'edited meanwhile' in final and "<watchdog model='i6300esb'" in final
    assert dx.apply_request(dx.parse_domain(final), ENABLE) == []


def test_someone_else_already_did_it_meanwhile_means_no_define(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-done')
    streaming = run(conn, ['u-done'])
    dom = conn.lookupByName('u-done')
    root = dx.parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    dx.apply_request(root, ENABLE)
    conn.defineXML(dx.to_string(root))
    streaming.apply()
    result = streaming.summary()['domains']['u-done']
    assert result['changed'] is False and result['actions'] == []


def test_their_change_that_makes_the_request_impossible_fails_that_domain_only(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-gone-spice')
    conn.define('q35-spice-virtmanager.xml', 'u-fine')
    streaming = run(conn, ['u-gone-spice', 'u-fine'])
    vnc = conn.fixture_xml('q35-vnc-only.xml', 'u-gone-spice')
    vnc = re.sub(r'<uuid>[^<]*</uuid>', '<uuid>%s</uuid>' % conn.lookupByName('u-gone-spice').UUIDString(), vnc)
    conn.defineXML(vnc)
    streaming.apply()
    assert 'no SPICE graphics' in streaming.failures['u-gone-spice']
    assert streaming.summary()['changed_domains'] == ['u-fine']
    assert "type='spiceport'" not in conn.lookupByName('u-gone-spice').XMLDesc(0)


def test_plan_problems_raise_before_any_define(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-ok')
    conn.define('q35-vnc-only.xml', 'u-vnc')
    conn.define('q35-spice-stream-channel-other-type.xml', 'u-clash')
    before = {n: conn.lookupByName(n).XMLDesc(0) for n in ('u-ok', 'u-vnc', 'u-clash')}
    selected, _unknown = lc.select_domains(conn, ['u-ok', 'u-vnc', 'u-clash'], [])
    streaming = ls.StreamingRun(conn, URI, ENABLE)
    with pytest.raises(lc.StreamingError) as raised:
        streaming.plan(selected)
    assert set(raised.value.details['failed_domains']) == {'u-vnc', 'u-clash'}
    assert "domain 'u-vnc' on" in raised.value.msg and URI in raised.value.msg
    assert 'nothing was changed' in raised.value.msg
    assert {n: conn.lookupByName(n).XMLDesc(0) for n in before} == before


def test_no_spice_selected_by_pattern_is_skipped_with_reason(conn):
    conn.define('q35-vnc-only.xml', 'u-pat-vnc')
    streaming = run(conn, ['u-pat-*'])
    streaming.apply()
    assert 'no SPICE graphics' in streaming.summary()['skipped_domains']['u-pat-vnc']


def test_transient_domain_selected_by_a_pattern_is_skipped(conn):
    dom = conn.createXML(conn.fixture_xml('q35-spice-virtmanager.xml', 'u-transient'), 0)
    try:
        streaming = run(conn, ['u-transient*'])
        streaming.apply()
        assert streaming.summary()['skipped_domains']['u-transient'] == lc.SKIP_TRANSIENT
        assert not streaming.warnings
        assert not dom.isPersistent()
    finally:
        dom.destroy()


def test_transient_domain_named_exactly_is_unfit_like_a_domain_without_spice(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-tr-fit')
    dom = conn.createXML(conn.fixture_xml('q35-spice-virtmanager.xml', 'u-tr-named'), 0)
    try:
        before = conn.lookupByName('u-tr-fit').XMLDesc(0)
        selection = lc.select(conn, ['u-tr-fit', 'u-tr-named'], [])
        with pytest.raises(lc.StreamingError) as raised:
            ls.StreamingRun(conn, URI, ENABLE).plan(selection.domains, selection.unknown)
        msg = raised.value.msg
        assert msg.startswith('nothing was changed: 1 domain cannot be brought to the asked state')
        assert "domain 'u-tr-named' on %s (%s) is transient" % (socket.gethostname(), URI) in msg
        assert "'virsh define'" in msg and 'leave it out of name' in msg
        assert list(raised.value.details['failed_domains']) == ['u-tr-named']
        assert conn.lookupByName('u-tr-fit').XMLDesc(0) == before

        skipping = ls.StreamingRun(conn, URI, ENABLE, skip_unfit=True)
        skipping.plan(selection.domains, selection.unknown)
        skipping.apply()
        summary = skipping.summary()
        assert summary['changed_domains'] == ['u-tr-fit']
        assert summary['skipped_domains']['u-tr-named'].startswith('unfit, left alone: is transient')
        assert len(skipping.warnings) == 1 and 'u-tr-named' in skipping.warnings[0]
        assert not dom.isPersistent()
    finally:
        dom.destroy()


def test_backup_writes_the_original_owner_only(conn, tmp_path):
    conn.define('q35-spice-password-listen.xml', 'u-bak')
    original = conn.lookupByName('u-bak').XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    streaming = run(conn, ['u-bak'], backup_dir=str(tmp_path / 'b'))
    streaming.apply()
    path = streaming.summary()['backup_files']['u-bak']
    with open(path, encoding='utf-8') as handle:
        assert handle.read() == original
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    assert [f for f in os.listdir(tmp_path / 'b') if f.startswith('.')] == []


def test_connect_failure_names_uri_and_what_to_check():
    with pytest.raises(lc.StreamingError) as raised:
        lc.connect('qemu+unix:///system?socket=/nonexistent/sock')
    assert '/nonexistent/sock' in raised.value.msg and 'libvirtd' in raised.value.msg
    assert 'virsh -c' in raised.value.msg


class FakeModule:
    class Failed(Exception):
        pass

    def fail_json(self, **kwargs):
        raise self.Failed(kwargs)


def test_missing_bindings_respawn_or_fail_with_the_package_name(monkeypatch):
    monkeypatch.setattr(lc, 'libvirt', None)
    monkeypatch.setattr(lc, 'LIBVIRT_IMPORT_ERROR', 'ImportError: No module named libvirt')
    respawned = []
    monkeypatch.setattr(lc, 'has_respawned', lambda: False)
    monkeypatch.setattr(lc, 'probe_interpreters_for_module', lambda paths, name: '/usr/bin/python3')
    monkeypatch.setattr(lc, 'respawn_module', respawned.append)
    with pytest.raises(FakeModule.Failed):
        lc.ensure_bindings(FakeModule())
    assert respawned == ['/usr/bin/python3']

    monkeypatch.setattr(lc, 'probe_interpreters_for_module', lambda paths, name: None)
    with pytest.raises(FakeModule.Failed) as raised:
        lc.ensure_bindings(FakeModule())
    message = raised.value.args[0]['msg']
    assert 'libvirt-python' in message and 'python3-libvirt' in message
    assert raised.value.args[0]['exception'].startswith('ImportError')


def test_missing_lxml_is_named(monkeypatch):
    monkeypatch.setattr(dx, 'etree', None)
    monkeypatch.setattr(dx, 'LXML_IMPORT_ERROR', 'ImportError: lxml')
    monkeypatch.setattr(lc, 'has_respawned', lambda: True)
    with pytest.raises(FakeModule.Failed) as raised:
        lc.ensure_bindings(FakeModule())
    assert 'lxml' in raised.value.args[0]['msg'] and 'python3-lxml' in raised.value.args[0]['msg']


# ---------------------------------------------------------------- selection: names that look like patterns


def test_an_entry_equal_to_a_name_selects_exactly_that_domain(conn):
    for name in ('u-desk[1]', 'u-desk1', 'u-desk*', 'u-desk2', 'u-desk?'):
        conn.define('q35-spice-virtmanager.xml', name)
    selection = lc.select(conn, ['u-desk[1]'], [])
    assert [(s.name, s.exact) for s in selection.domains] == [('u-desk[1]', True)]
    selection = lc.select(conn, ['u-desk*'], [])
    assert [s.name for s in selection.domains] == ['u-desk*']
    # Not a name: a pattern.  [[] matches a literal '['.
    selection = lc.select(conn, ['u-desk[[]*'], [])
    assert [(s.name, s.exact) for s in selection.domains] == [('u-desk[1]', False)]
    selection = lc.select(conn, ['u-desk[12]'], [])
    assert [s.name for s in selection.domains] == ['u-desk1', 'u-desk2']


def test_an_exclude_entry_equal_to_a_name_excludes_exactly_that_domain(conn):
    for name in ('u-ex[1]', 'u-ex1', 'u-ex2'):
        conn.define('q35-spice-virtmanager.xml', name)
    selection = lc.select(conn, ['u-ex*'], ['u-ex[1]'])
    assert [s.name for s in selection.domains] == ['u-ex1', 'u-ex2']
    selection = lc.select(conn, ['u-ex*'], ['u-ex[12]'])
    assert [s.name for s in selection.domains] == ['u-ex[1]']


def test_unmatched_patterns_and_empty_selections_are_told(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-vd1-a')
    selection = lc.select(conn, ['u-vdi-*'], [])
    assert selection.domains == [] and selection.unmatched == ['u-vdi-*'] and selection.unknown == []
    text = lc.selection_warning(selection, ['u-vdi-*'], [], 'hv01', URI)
    assert 'hv01' in text and "'u-vdi-*'" in text and 'list --all' in text
    selection = lc.select(conn, ['u-vd1-*'], ['u-vd1-a'])
    assert 'exclude' in lc.selection_warning(selection, ['u-vd1-*'], ['u-vd1-a'], 'hv01', URI)
    assert 'empty list' in lc.selection_warning(lc.select(conn, [], []), [], [], 'hv01', URI)
    selection = lc.select(conn, ['u-vd1-*', 'u-vdi-*'], [])
    assert "'u-vdi-*'" in lc.selection_warning(selection, ['u-vd1-*', 'u-vdi-*'], [], 'hv01', URI)
    assert lc.selection_warning(lc.select(conn, ['u-vd1-*'], []), ['u-vd1-*'], [], 'hv01', URI) is None


# ---------------------------------------------------------------- every problem at once, or skipped


def test_unknown_names_and_unfit_domains_are_reported_in_one_message(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-fit')
    conn.define('q35-vnc-only.xml', 'u-vnc-exact')
    selection = lc.select(conn, ['u-fit', 'u-vnc-exact', 'u-missing'], [])
    streaming = ls.StreamingRun(conn, URI, ENABLE)
    with pytest.raises(lc.StreamingError) as raised:
        streaming.plan(selection.domains, selection.unknown)
    assert raised.value.details['failed_domains'] == {
        'u-missing': 'no such domain',
        'u-vnc-exact': raised.value.details['failed_domains']['u-vnc-exact']}
    assert "no domain named 'u-missing'" in raised.value.msg and "'u-vnc-exact'" in raised.value.msg
    assert 'unfit_domains=skip' in raised.value.msg


def test_a_pattern_selected_domain_without_spice_is_skipped_whatever_else_is_wrong(conn):
    # VNC only, and a unix channel named like the stream port: two problems, still not ours.
    xml = conn.fixture_xml('q35-vnc-only.xml', 'u-pvnc-two').replace(
        '</devices>', "<channel type='unix'><source mode='bind'/>"
                      "<target type='virtio' name='org.spice-space.stream.0'/></channel></devices>")
    conn.defineXML(xml)
    try:
        streaming = run(conn, ['u-pvnc-*'])
        assert 'no SPICE graphics' in streaming.summary()['skipped_domains']['u-pvnc-two']
    finally:
        conn.lookupByName('u-pvnc-two').undefine()


def test_skip_unfit_converges_the_others_and_leaves_the_unfit_alone(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-sk-fit')
    conn.define('q35-vnc-only.xml', 'u-sk-vnc')
    conn.define('q35-spice-stream-channel-other-type.xml', 'u-sk-clash')
    unfit_before = {n: conn.lookupByName(n).XMLDesc(0) for n in ('u-sk-vnc', 'u-sk-clash')}
    selection = lc.select(conn, ['u-sk-fit', 'u-sk-vnc', 'u-sk-clash', 'u-sk-missing'], [])
    streaming = ls.StreamingRun(conn, URI, ENABLE, skip_unfit=True, diff=True, check_mode=True)
    streaming.plan(selection.domains, selection.unknown)
    assert [entry['before_header'].split(':')[0] for entry in streaming.diffs] == ['u-sk-fit']
    streaming = ls.StreamingRun(conn, URI, ENABLE, skip_unfit=True)
    streaming.plan(selection.domains, selection.unknown)
    streaming.apply()
    summary = streaming.summary()
    assert summary['changed_domains'] == ['u-sk-fit']
    assert set(summary['skipped_domains']) == {'u-sk-vnc', 'u-sk-clash', 'u-sk-missing'}
    assert 'no SPICE graphics' in summary['skipped_domains']['u-sk-vnc']
    assert "<channel type='unix'>" in summary['skipped_domains']['u-sk-clash']
    assert len(streaming.warnings) == 3 and all('unfit_domains=skip' in w for w in streaming.warnings)
    assert {n: conn.lookupByName(n).XMLDesc(0) for n in unfit_before} == unfit_before


# ---------------------------------------------------------------- backup_dir is checked before any define


@pytest.mark.parametrize('kind', ['file', 'dangling link', 'under a file'])
def test_an_unusable_backup_dir_fails_the_plan_and_names_the_option(conn, tmp_path, kind):
    conn.define('q35-spice-virtmanager.xml', 'u-bd')
    before = conn.lookupByName('u-bd').XMLDesc(0)
    if kind == 'file':
        (tmp_path / 'b').write_text('not a directory')
        path = tmp_path / 'b'
    elif kind == 'dangling link':
        os.symlink(str(tmp_path / 'gone'), str(tmp_path / 'b'))
        path = tmp_path / 'b'
    else:
        (tmp_path / 'f').write_text('')
        path = tmp_path / 'f' / 'backups'
    streaming = ls.StreamingRun(conn, URI, ENABLE, backup_dir=str(path))
    selection = lc.select(conn, ['u-bd'], [])
    with pytest.raises(lc.StreamingError) as raised:
        streaming.plan(selection.domains)
    assert 'backup_dir' in raised.value.msg and str(path) in raised.value.msg
    assert raised.value.msg.startswith('nothing was changed')
    assert conn.lookupByName('u-bd').XMLDesc(0) == before


def test_backup_dir_is_not_checked_when_nothing_changes(conn, tmp_path):
    conn.define('q35-spice-streaming-filter.xml', 'u-bd-noop')
    (tmp_path / 'b').write_text('not a directory')
    streaming = run(conn, ['u-bd-noop'], request=StreamingRequest('filter'), backup_dir=str(tmp_path / 'b'))
    streaming.apply()
    assert streaming.summary()['changed_domains'] == []


def test_check_mode_connection_error_names_the_read_only_command():
    with pytest.raises(lc.StreamingError) as raised:
        lc.connect('qemu+unix:///system?socket=/nonexistent/sock', read_only=True)
    assert "'virsh -r -c qemu+unix:///system?socket=/nonexistent/sock version'" in raised.value.msg


def test_a_read_only_connection_error_says_why_only_when_given():
    uri = 'qemu+unix:///system?socket=/nonexistent/sock'
    with pytest.raises(lc.StreamingError) as check_mode:
        lc.connect(uri, read_only=True, read_only_why='as check mode opens it')
    assert ' (read-only, as check mode opens it): ' in check_mode.value.msg
    with pytest.raises(lc.StreamingError) as bare:
        lc.connect(uri, read_only=True)
    assert ' (read-only): ' in bare.value.msg and 'check mode' not in bare.value.msg
    with pytest.raises(lc.StreamingError) as writable:
        lc.connect(uri, read_only_why='as check mode opens it')
    assert 'read-only' not in writable.value.msg and 'check mode' not in writable.value.msg


def test_a_lost_connection_stops_at_once_with_one_message(conn):
    for index in range(4):
        conn.define('q35-spice-virtmanager.xml', 'u-lost-%d' % index)
    streaming = run(conn, ['u-lost-*'])
    defined = []
    real_define = conn.defineXML

    def define_then_lose(xml):
        if len(defined) == 2:
            raise libvirt.libvirtError('client socket is closed')
        defined.append(xml)
        return real_define(xml)

    conn.defineXML = define_then_lose
    conn.isAlive = lambda: 0 if len(defined) == 2 else 1
    with pytest.raises(lc.StreamingError) as raised:
        streaming.apply()
    message = raised.value.msg
    assert message.count('client socket is closed') == 1
    assert '2 domains converged' in message and '1 left untouched' in message and 'again' in message
    assert raised.value.details['connection_lost'] is True
    assert raised.value.details['changed_domains'] == ['u-lost-0', 'u-lost-1']
    assert 'not touched' in ' '.join(raised.value.details['domains']['u-lost-3']['notes'])


# ---------------------------------------------------------------- overrides that change nothing


def _overrides(*entries):
    return [(names, StreamingRequest('off')) for names in entries]


SELECTED = ['desk-01', 'desk-02', 'kiosk-lobby', 'kiosk-hall']


def test_an_override_that_matches_no_selected_domain_is_told_with_a_close_name():
    warnings = ls.override_warnings(_overrides(['desk-1'], ['lab-*'], ['desk-02']), SELECTED, 'hv1', URI)
    assert len(warnings) == 2
    assert warnings[0].startswith("override #1 (name 'desk-1') matches none of the 4 selected domains "
                                  "on hv1 (%s), so it changes nothing. Did you mean 'desk-01'" % URI)
    assert "'virsh -c %s list --all'" % URI in warnings[0]
    assert warnings[1].startswith("override #2 (name 'lab-*') matches none of the 4 selected domains")
    assert 'Did you mean' not in warnings[1]


def test_an_override_shadowed_by_an_earlier_one_is_told_and_layering_is_not():
    warnings = ls.override_warnings(
        _overrides(['kiosk-*'], ['kiosk-lobby', 'desk-01'], ['desk-*'], ['*-01']), SELECTED, 'hv1', URI)
    # 'kiosk-lobby' is wholly taken by 'kiosk-*'; 'desk-01' of the same override is not
    # shadowed, and '*-01' matches only domains taken before: 'desk-01' (by #2) and none else.
    assert warnings == [
        "override #2 (name 'kiosk-lobby') changes nothing on hv1 (%s): every domain it matches "
        "('kiosk-lobby') is matched first by override #1 (name 'kiosk-*'), and the first override "
        "that matches a domain wins. Put the more specific override first, or remove this one." % URI,
        "override #4 (name '*-01') changes nothing on hv1 (%s): every domain it matches ('desk-01') "
        "is matched first by override #2 (name 'desk-01'), and the first override that matches a "
        "domain wins. Put the more specific override first, or remove this one." % URI,
    ]
    # The documented layering, specific first and broad after, is fine.
    assert ls.override_warnings(_overrides(['kiosk-lobby'], ['kiosk-*']), SELECTED, 'hv1', URI) == []
    # Nothing selected: the selection is warned about already, not every override.
    assert ls.override_warnings(_overrides(['desk-1']), [], 'hv1', URI) == []


def test_a_run_warns_about_its_dead_overrides_and_still_applies_the_live_ones(conn):
    conn.define('q35-spice-virtmanager.xml', 'u-ov-desk-01')
    conn.define('q35-spice-virtmanager.xml', 'u-ov-kiosk')
    selection = lc.select(conn, ['u-ov-*'], [])
    streaming = ls.StreamingRun(conn, URI, ENABLE, overrides=[
        (['u-ov-*'], StreamingRequest('all')), (['u-ov-kiosk'], StreamingRequest('off')),
        (['u-ov-desk-1'], StreamingRequest('off'))])
    streaming.plan(selection.domains, selection.unknown)
    streaming.apply()
    assert [w.split(' ', 3)[:3] for w in streaming.warnings] == [
        ['override', '#2', "(name"], ['override', '#3', "(name"]]
    assert "matched first by override #1 (name 'u-ov-*')" in streaming.warnings[0]
    assert "Did you mean 'u-ov-desk-01'?" in streaming.warnings[1]
    for name in ('u-ov-desk-01', 'u-ov-kiosk'):
        assert "<streaming mode='all'/>" in conn.lookupByName(name).XMLDesc(0)


# ---------------------------------------------------------------- what a person reads (issue 16)

ROLE_NAMES = OptionNames({'name': 'host_streaming_domains', 'exclude': 'host_streaming_exclude',
                          'unfit_domains': 'host_streaming_unfit_domains', 'backup_dir': 'host_streaming_backup_dir',
                          'live': 'host_streaming_live', 'overrides': 'host_streaming_overrides'})


def test_messages_name_what_the_caller_sets(conn, tmp_path):
    """Item 5: through the role, every piece of advice names a role variable."""
    conn.define('q35-spice-virtmanager.xml', 'u-nm-fit')
    conn.define('q35-vnc-only.xml', 'u-nm-vnc')
    selection = lc.select(conn, ['u-nm-fit', 'u-nm-vnc'], [])
    streaming = ls.StreamingRun(conn, URI, ENABLE, names=ROLE_NAMES, backup_dir=str(tmp_path / 'f' / 'x'))
    (tmp_path / 'f').write_text('a file')
    with pytest.raises(lc.StreamingError) as raised:
        streaming.plan(selection.domains, selection.unknown)
    msg = raised.value.msg
    assert ('leave them out with host_streaming_exclude, or set host_streaming_unfit_domains=skip to converge '
            'the others') in msg, msg
    assert 'host_streaming_backup_dir %s' % (tmp_path / 'f' / 'x') in msg and 'point host_streaming_backup_dir' in msg
    assert not re.search(r'(?<!host_streaming_)\b(exclude|unfit_domains|backup_dir)\b', msg), msg
    skip = ls.StreamingRun(conn, URI, ENABLE, names=ROLE_NAMES, skip_unfit=True)
    skip.plan(selection.domains, selection.unknown)
    assert skip.warnings[0].endswith('(host_streaming_unfit_domains=skip)'), skip.warnings
    empty = lc.select(conn, [], [])
    assert 'host_streaming_domains is an empty list' in lc.selection_warning(empty, [], [], 'hv01', URI, ROLE_NAMES)
    overrides = [(['u-nm-fti'], StreamingRequest('off', None))]
    warning = ls.override_warnings(overrides, ['u-nm-fit'], 'hv01', URI, ROLE_NAMES)[0]
    assert warning.startswith("host_streaming_overrides #1 (name 'u-nm-fti') matches none")
    assert 'host_streaming_domains and host_streaming_exclude select' in warning


def test_without_a_mapping_messages_name_the_modules_options(conn):
    overrides = [(['u-x'], StreamingRequest('off', None))]
    assert ls.override_warnings(overrides, ['u-y'], 'hv01', URI)[0].startswith("override #1 (name 'u-x')")


def test_check_mode_says_a_hot_unplug_may_wait_without_blaming_hot_plug(conn):
    """Item 13: the hot-unplug prediction spoke of libvirt 9.0 refusing spiceport hot-plug."""
    conn.define('q35-spice-streaming-filter.xml', 'u-unplug').create()
    disable = StreamingRequest('off', 'absent')
    streaming = run(conn, ['u-unplug'], request=disable, check_mode=True)
    streaming.apply()
    reasons = [entry['reason'] for entry in streaming.results['u-unplug']['restart_required']
               if entry['change'] == 'agent_channel']
    assert reasons and 'hot-unplug the stream channel from the running domain' in reasons[0], reasons
    assert 'hot-plug' not in reasons[0].replace('hot-unplug', ''), reasons
    conn.lookupByName('u-unplug').destroy()


def test_the_summary_counts_and_says_how_many_were_selected(conn):
    """Item 1: a run says how many domains were selected, and why none."""
    conn.define('q35-spice-virtmanager.xml', 'u-sum-a')
    conn.define('q35-vnc-only.xml', 'u-sum-vnc')
    streaming = run(conn, ['u-sum-*'])
    streaming.apply()
    summary = streaming.summary()['summary']
    assert summary['selected'] == 2 and summary['changed'] == 1 and summary['skipped'] == 1
    assert summary['message'] == '2 domains selected: 1 changed, 1 skipped'
    again = run(conn, ['u-sum-a'])
    again.apply()
    assert again.summary()['summary']['message'] == \
        '1 domain selected: nothing to do, every one is already in the asked state'
    selection = lc.select(conn, ['u-sum-typo-*'], [])
    nothing = ls.StreamingRun(conn, URI, ENABLE)
    nothing.selection = lc.selection_problem(selection, ['u-sum-typo-*'], [])
    nothing.plan(selection.domains)
    assert nothing.summary()['summary']['message'] == "0 domains selected: no domain matches 'u-sum-typo-*'"
