# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The four SPICE compression settings through every layer that reads the registry.

image_compression, jpeg_compression, zlib_compression and playback_compression are records of
module_utils/settings.py and nothing else names them; these tests follow them through the XML
backend, the live gaps, the rollback, the info fields, the restore comparison, the restart
words, the QEMU command line and the qemu_args filter, on definitions real libvirt wrote
(fixtures/domains/; virt-manager writes <image compression='off'/> into each). Real QEMU and
libvirtd: tests/integration (test_libvirt_domain.py, test_spice_client.py, ...).
"""

from __future__ import annotations

import copy
import glob
import os

import libvirt
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.filter.qemu_args import FilterModule
from ansible_collections.spice.streaming.plugins.module_utils import domain_restore
from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_info
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc
from ansible_collections.spice.streaming.plugins.module_utils.domain_state import live_gaps, saved_state_gaps
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_restart import _changes
from ansible_collections.spice.streaming.plugins.module_utils.qemu_command_line import apply_streaming
from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import QemuCmdlineError
from ansible_collections.spice.streaming.plugins.module_utils.settings import GRAPHICS_CHILD_ORDER

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'domains')
ALL = sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, '*.xml')))
COMPRESSION = dict(image_compression='glz', jpeg_compression='never', zlib_compression='always',
                   playback_compression='off')
TUNED = StreamingRequest(**COMPRESSION)
ELEMENTS = {'image': 'glz', 'jpeg': 'never', 'zlib': 'always', 'playback': 'off'}
VIRT_MANAGER = 'q35-spice-virtmanager.xml'
qemu_args = FilterModule().filters()['qemu_args']


def load(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return dx.parse_domain(handle.read())


SPICE = [name for name in ALL if dx.spice_graphics(load(name))]


def children(graphics):
    return [child.tag for child in graphics if isinstance(child.tag, str)]


def compressions(graphics):
    return {tag: graphics.find(tag).get('compression') for tag in ELEMENTS if graphics.find(tag) is not None}


# ---------------------------------------------------------------- the XML backend


@pytest.mark.parametrize('name', SPICE)
def test_each_compression_is_written_where_libvirt_writes_it_and_only_there(name):
    root = load(name)
    untouched = copy.deepcopy(root)
    had = compressions(dx.spice_graphics(root)[0])
    actions = dx.apply_request(root, TUNED)
    for graphics in dx.spice_graphics(root):
        assert compressions(graphics) == ELEMENTS
        order = [tag for tag in children(graphics) if tag in GRAPHICS_CHILD_ORDER]
        assert order == sorted(order, key=GRAPHICS_CHILD_ORDER.index), children(graphics)
    assert all(action.startswith('set SPICE ') and 'compression to' in action for action in actions), actions
    if had.get('image') == 'off':     # what virt-manager writes
        assert 'set SPICE image compression to glz (was off)' in actions
    if 'playback' not in had:
        assert 'set SPICE playback compression to off (was not set, which QEMU runs as on)' in actions
    # The same request again changes nothing; nothing else of the definition moved.
    assert dx.apply_request(root, TUNED) == []
    for element in ELEMENTS:
        for graphics in dx.spice_graphics(root):
            graphics.remove(graphics.find(element))
        for graphics in dx.spice_graphics(untouched):
            found = graphics.find(element)
            if found is not None:
                graphics.remove(found)
    assert dx.to_string(root).split() == dx.to_string(untouched).split()


def test_libvirt_keeps_the_elements_in_the_order_they_were_written(conn):
    """libvirt's own formatter (the test driver shares it with the QEMU driver) reorders nothing."""
    root = load(VIRT_MANAGER)
    dx.apply_request(root, StreamingRequest('filter', **COMPRESSION))
    written = children(dx.spice_graphics(root)[0])
    root.find('name').text = 'u-cmp-order'
    root.remove(root.find('uuid'))
    dom = conn.defineXML(dx.to_string(root))
    try:
        stored = dx.parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    finally:
        dom.undefine()
    assert children(dx.spice_graphics(stored)[0]) == written
    assert dx.managed_state(stored) == dx.managed_state(root)


def test_only_the_settings_asked_for_are_written():
    root = load(VIRT_MANAGER)
    assert dx.apply_request(root, StreamingRequest(jpeg_compression='auto')) == [
        'set SPICE JPEG compression to auto (was not set, which QEMU runs as auto)']
    assert compressions(dx.spice_graphics(root)[0]) == {'image': 'off', 'jpeg': 'auto'}


def test_a_domain_without_spice_cannot_carry_a_compression():
    root = load('q35-vnc-only.xml')
    problems = dx.check_request(root, StreamingRequest(image_compression='quic', agent_channel='absent'))
    assert problems == ['has no SPICE graphics: it cannot carry the image compression; add '
                        '<graphics type="spice"> first or leave the domain out']


def test_managed_state_sees_a_compression_change():
    root = load(VIRT_MANAGER)
    before = dx.managed_state(root)
    dx.apply_request(root, StreamingRequest(zlib_compression='never'))
    assert dx.managed_state(root) != before


def test_a_running_domain_waits_for_a_cold_start_for_any_compression():
    live = load(VIRT_MANAGER)       # runs image off, the rest as QEMU's defaults
    hotplug, pending = dx.pending_live_changes(live, TUNED)
    assert hotplug is None
    assert [entry['change'] for entry in pending] == list(COMPRESSION)
    assert pending[0]['reason'].startswith(
        'the running domain runs with image compression off; libvirt cannot change the SPICE image '
        'compression of a running domain, so glz takes effect at the next cold start')
    # QEMU's defaults are no change: absent runs auto_glz / auto / auto / on.
    defaults = StreamingRequest(jpeg_compression='auto', zlib_compression='auto', playback_compression='on')
    assert dx.pending_live_changes(live, defaults) == (None, [])


def test_live_gaps_and_saved_state_gaps_compare_what_qemu_runs():
    defined = load(VIRT_MANAGER)
    dx.apply_request(defined, StreamingRequest(image_compression='quic', playback_compression='on'))
    live = load(VIRT_MANAGER)
    gaps = live_gaps(defined, live)
    assert [gap['change'] for gap in gaps] == ['image_compression']
    assert gaps[0]['reason'] == (
        'the definition says image compression quic, the running domain runs with image compression '
        'off; libvirt applies the image compression at the next cold start (shut down, then start: '
        'a guest reboot is not enough)')
    saved = saved_state_gaps(defined, live)
    assert 'was saved with image compression off' in saved[0]['reason']
    assert live_gaps(live, copy.deepcopy(live)) == []


def test_a_rollback_gives_back_the_compression_the_domain_ran_with():
    live = load(VIRT_MANAGER)
    root = load(VIRT_MANAGER)
    dx.apply_request(root, TUNED)
    actions = dx.restore_managed_parts(root, live)
    assert compressions(dx.spice_graphics(root)[0]) == {'image': 'off'}
    assert "set SPICE image compression to off (was glz)" in actions
    assert "removed <jpeg compression='never'> as the running domain had none" in actions


# ---------------------------------------------------------------- info, restore, restart words


def test_info_reports_each_compression_defined_and_running():
    selected = lc.SelectedDomain('x', None, False, True, True)
    info = libvirt_info._blank(selected, 'running')
    defined = load(VIRT_MANAGER)
    dx.apply_request(defined, StreamingRequest(image_compression='glz'))
    libvirt_info.describe(info, defined, load(VIRT_MANAGER), exact=False)
    assert (info['image_compression'], info['image_compression_live']) == ('glz', 'off')
    assert (info['jpeg_compression'], info['jpeg_compression_live']) == (None, 'auto')
    assert (info['zlib_compression'], info['zlib_compression_live']) == (None, 'auto')
    assert (info['playback_compression'], info['playback_compression_live']) == (None, 'on')
    assert [gap['change'] for gap in info['restart_required']] == ['image_compression']
    summary = libvirt_info.summarize({'x': info})
    assert summary['image_compression'] == {'auto_glz': 0, 'auto_lz': 0, 'quic': 0, 'glz': 1, 'lz': 0,
                                            'off': 0, 'unset': 0}
    assert summary['playback_compression'] == {'on': 0, 'off': 0, 'unset': 1}


def test_a_restore_puts_the_compression_back_and_sees_no_foreign_change():
    backup = load(VIRT_MANAGER)
    current = load(VIRT_MANAGER)
    dx.apply_request(current, StreamingRequest(image_compression='glz', jpeg_compression='never'))
    assert domain_restore.managed_changes(current, backup) == [
        'SPICE image compression back to off (is glz)',
        'SPICE JPEG compression back to not set (QEMU runs auto) (is never)']
    assert domain_restore.unmanaged_differences(backup, current) == []


def test_restart_reasons_name_each_compression():
    gaps = [{'change': 'image_compression'}, {'change': 'streaming_mode'}, {'change': 'image_compression'}]
    assert _changes(gaps) == 'the image compression and the streaming mode'


# ---------------------------------------------------------------- the QEMU command line


SPICE_OPTION = ['-machine', 'q35', '-spice', 'port=5930,disable-ticketing=on']


def test_each_compression_is_a_spice_key_and_idempotent():
    outcome = apply_streaming(SPICE_OPTION, **COMPRESSION)
    assert outcome.args == ['-machine', 'q35', '-spice', 'port=5930,disable-ticketing=on,image-compression=glz,'
                            'jpeg-wan-compression=never,zlib-glz-wan-compression=always,playback-compression=off']
    assert outcome.actions[0] == ('set image-compression=glz in -spice at argument 3 (was not set, which QEMU '
                                  'runs as auto_glz)')
    again = apply_streaming(outcome.args, **COMPRESSION)
    assert again.args == outcome.args and again.actions == []
    changed = apply_streaming(outcome.args, image_compression='quic')
    assert changed.actions == ['set image-compression=quic in -spice at argument 3 (was glz)']


def test_compression_needs_spice_and_spice_app_forces_image_compression_off():
    with pytest.raises(QemuCmdlineError, match='there is no -spice option to amend: the image compression needs'):
        apply_streaming(['-machine', 'q35'], image_compression='glz')
    with pytest.raises(QemuCmdlineError, match='spice-app sets image-compression=off itself'):
        apply_streaming(['-display', 'spice-app'], image_compression='glz')
    # Its own value is no conflict, and what spice-app does not force is written.
    assert apply_streaming(['-display', 'spice-app'], image_compression='off').args == ['-display', 'spice-app']
    assert apply_streaming(['-display', 'spice-app'], jpeg_compression='never').args == [
        '-display', 'spice-app', '-spice', 'jpeg-wan-compression=never']


def test_the_filter_takes_each_compression_by_name():
    assert qemu_args([], image_compression='quic', playback_compression='off') == [
        '-spice', 'image-compression=quic', '-spice', 'playback-compression=off']
    assert qemu_args(['-spice', 'port=5930'], 'filter', zlib_compression='never') == [
        '-spice', 'port=5930,streaming-video=filter,zlib-glz-wan-compression=never']
    with pytest.raises(AnsibleFilterError, match="image_compression must be one of auto_glz, auto_lz, quic, "
                                                 "glz, lz, off, not 'fast'"):
        qemu_args([], image_compression='fast')
    with pytest.raises(AnsibleFilterError, match="there is no setting named 'image'"):
        qemu_args([], image='glz')
    with pytest.raises(AnsibleFilterError, match="there is no setting named 'require_spice'"):
        qemu_args([], require_spice=True)
