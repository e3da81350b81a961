# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure XML transforms, on definitions real libvirt wrote (fixtures/domains/)."""

from __future__ import annotations

import copy
import glob
import os
import re

import pytest
from lxml import etree

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import (
    DomainXMLError,
    StreamingRequest,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'domains')
ALL = sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, '*.xml')))
STREAM = 'org.spice-space.stream.0'
ENABLE = StreamingRequest('filter', 'present')


def load(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return dx.parse_domain(handle.read())


def has_spice(name):
    return bool(dx.spice_graphics(load(name)))


SPICE = [name for name in ALL if has_spice(name)]
NO_SPICE = [name for name in ALL if not has_spice(name)]
CONFLICT = 'q35-spice-stream-channel-other-type.xml'


def is_managed(element):
    return ((element.tag == 'channel' and element.get('type') == 'spiceport'
             and dx._target_name(element) == STREAM)
            or (element.tag == 'controller' and element.get('type') == 'virtio-serial'))


def unmanaged_parts(root):
    """Every element the module does not manage, serialized exactly (tails aside)."""
    parts = [etree.tostring(child, with_tail=False) for child in root if child.tag != 'devices']
    for child in dx.devices_of(root):
        if not isinstance(child.tag, str) or is_managed(child):
            continue
        if child.tag == 'graphics':
            child = copy.deepcopy(child)
            for streaming in child.findall('streaming'):
                child.remove(streaming)
            for grandchild in child:
                grandchild.tail = None
            child.text = None
        parts.append(etree.tostring(child, with_tail=False))
    parts.append(sorted(root.attrib.items()))
    parts.append(sorted(root.nsmap.items(), key=lambda item: item[0] or ''))
    return parts


def test_fixtures_cover_the_real_world_shapes():
    assert len(ALL) >= 15
    for wanted in ('q35-spice-virtmanager.xml', 'pc-spice.xml', 'aarch64-virt-spice.xml',
                   's390x-ccw-spice.xml', 'q35-several-virtio-serial.xml', 'q35-vnc-only.xml',
                   'q35-vnc-and-spice.xml', 'q35-foreign-metadata-qemu-commandline.xml',
                   'q35-duplicate-stream-channel.xml', CONFLICT):
        assert wanted in ALL
    assert NO_SPICE == ['q35-vnc-only.xml']


@pytest.mark.parametrize('name', [n for n in SPICE if n != CONFLICT])
def test_enable_brings_any_spice_domain_to_the_state_and_nothing_else_moves(name):
    root = load(name)
    before = unmanaged_parts(root)
    actions = dx.apply_request(root, ENABLE)

    assert len(dx.stream_channels(root)) == 1
    channel = dx.stream_channels(root)[0]
    assert channel.find('source').get('channel') == STREAM
    assert channel.find('target').get('type') == 'virtio'
    assert dx.virtio_serial_controllers(root)
    assert {dx.streaming_mode_of(g) for g in dx.spice_graphics(root)} == {'filter'}
    assert unmanaged_parts(root) == before
    # Idempotent on its own output, and on that output re-read from text.
    assert dx.apply_request(root, ENABLE) == []
    reread = dx.parse_domain(dx.to_string(root))
    assert dx.apply_request(reread, ENABLE) == []
    assert dx.managed_state(reread) == dx.managed_state(root)
    # Nothing is claimed that did not happen.
    assert bool(actions) == (dx.managed_state(load(name)) != dx.managed_state(root))
    # New elements sit on lines of their own, at the document's indentation.
    text = dx.to_string(root)
    assert not re.search(r'\n[ \t]*\n', text), 'blank line left'
    assert not re.search(r'><(channel|controller|streaming)\b', text), 'element glued to its neighbour'


@pytest.mark.parametrize('name', [n for n in SPICE if n != CONFLICT])
def test_absent_removes_only_the_stream_channel(name):
    root = load(name)
    original_controllers = len(dx.virtio_serial_controllers(root))
    other_channels = [etree.tostring(c, with_tail=False) for c in root.iterfind('devices/channel')
                      if not is_managed(c)]
    had = len(dx.stream_channels(root))
    actions = dx.apply_request(root, StreamingRequest(agent_channel='absent'))
    assert dx.stream_channels(root) == []
    assert bool(actions) == bool(had)
    assert len(dx.virtio_serial_controllers(root)) == original_controllers
    assert [etree.tostring(c, with_tail=False) for c in root.iterfind('devices/channel')] == other_channels
    assert dx.apply_request(root, StreamingRequest(agent_channel='absent')) == []


@pytest.mark.parametrize('name', NO_SPICE)
def test_domain_without_spice_is_refused_untouched(name):
    root = load(name)
    text = dx.to_string(root)
    for request in (StreamingRequest('all'), StreamingRequest(agent_channel='present')):
        with pytest.raises(DomainXMLError, match='no SPICE graphics'):
            dx.apply_request(root, request)
        assert dx.to_string(root) == text
    # Nothing asked that needs SPICE: nothing to do, no error.
    assert dx.apply_request(root, StreamingRequest(agent_channel='absent')) == []


def test_conflicting_port_of_the_stream_name_is_refused_untouched():
    root = load(CONFLICT)
    text = dx.to_string(root)
    with pytest.raises(DomainXMLError, match="<channel type='unix'>"):
        dx.apply_request(root, ENABLE)
    assert dx.to_string(root) == text
    # Only asking for the mode does not touch ports, so it is allowed.
    assert dx.apply_request(root, StreamingRequest('all'))


def test_duplicates_left_by_virt_xml_are_reduced_to_one():
    root = load('q35-duplicate-stream-channel.xml')
    assert len(dx.stream_channels(root)) == 2
    first_address = etree.tostring(dx.stream_channels(root)[0].find('address'))
    actions = dx.apply_request(root, StreamingRequest(agent_channel='present'))
    assert any('removed 1 duplicate stream channel' in action for action in actions)
    assert len(dx.stream_channels(root)) == 1
    assert etree.tostring(dx.stream_channels(root)[0].find('address')) == first_address


def test_no_controller_gets_one_at_index_zero_and_the_channel_no_address():
    root = load('q35-spice-no-virtio-serial.xml')
    assert dx.virtio_serial_controllers(root) == []
    actions = dx.apply_request(root, StreamingRequest(agent_channel='present'))
    assert actions[0] == "added <controller type='virtio-serial' index='0'>"
    assert [c.get('index') for c in dx.virtio_serial_controllers(root)] == ['0']
    assert dx.stream_channels(root)[0].find('address') is None


def test_several_controllers_get_no_new_one():
    root = load('q35-several-virtio-serial.xml')
    count = len(dx.virtio_serial_controllers(root))
    assert count >= 2
    actions = dx.apply_request(root, ENABLE)
    assert len(dx.virtio_serial_controllers(root)) == count
    assert not any('controller' in action for action in actions)


def test_s390x_ccw_addresses_are_left_for_libvirt_to_assign():
    root = load('s390x-ccw-spice.xml')
    ccw_before = [etree.tostring(a) for a in root.iter('address') if a.get('type') == 'ccw']
    assert ccw_before
    dx.apply_request(root, ENABLE)
    assert [etree.tostring(a) for a in root.iter('address') if a.get('type') == 'ccw'] == ccw_before
    assert dx.stream_channels(root)[0].find('address') is None


def test_already_streaming_domain_needs_nothing():
    root = load('q35-spice-streaming-filter.xml')
    assert dx.apply_request(root, ENABLE) == []


def test_mode_is_changed_in_place_and_reported_with_the_old_value():
    root = load('q35-spice-streaming-all-no-channel.xml')
    actions = dx.apply_request(root, StreamingRequest('off'))
    assert actions == ['set SPICE streaming mode to off (was all)']
    assert [g.findall('streaming') for g in dx.spice_graphics(root)][0][0].get('mode') == 'off'


def test_vnc_beside_spice_is_left_alone():
    root = load('q35-vnc-and-spice.xml')
    vnc = [etree.tostring(g) for g in root.iterfind("devices/graphics[@type='vnc']")]
    dx.apply_request(root, StreamingRequest('all'))
    assert [etree.tostring(g) for g in root.iterfind("devices/graphics[@type='vnc']")] == vnc


def test_namespaces_metadata_and_qemu_commandline_survive_serialisation():
    name = 'q35-foreign-metadata-qemu-commandline.xml'
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        original = handle.read()
    root = dx.parse_domain(original)
    dx.apply_request(root, ENABLE)
    text = dx.to_string(root)
    assert 'xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"' in text
    assert '<qemu:commandline>' in text
    start = original.index('<metadata>')
    end = original.index('</metadata>') + len('</metadata>')
    assert original[start:end].replace("'", '"') in text.replace("'", '"')


def test_new_elements_follow_the_document_indentation():
    root = load('q35-spice-virtmanager.xml')
    dx.apply_request(root, ENABLE)
    text = dx.to_string(root)
    assert ('\n    <channel type="spiceport">\n      <source channel="%s"/>\n'
            '      <target type="virtio" name="%s"/>\n    </channel>\n' % (STREAM, STREAM)) in text
    assert '\n      <streaming mode="filter"/>\n' in text


def test_remove_keeps_the_layout_tidy():
    root = load('q35-spice-streaming-filter.xml')
    dx.apply_request(root, StreamingRequest(agent_channel='absent'))
    assert '\n\n' not in dx.to_string(root)
    assert '    \n' not in dx.to_string(root)


def test_conform_fixes_a_stream_channel_with_wrong_source_and_live_state():
    root = load('q35-spice-no-virtio-serial.xml')
    devices = dx.devices_of(root)
    devices.append(etree.fromstring(
        "<channel type='spiceport'><source channel='other'/>"
        "<target type='virtio' name='%s' state='connected'/></channel>" % STREAM))
    actions = dx.apply_request(root, StreamingRequest(agent_channel='present'))
    assert 'set the stream channel source to %s' % STREAM in actions
    assert any('state' in action for action in actions)
    channel = dx.stream_channels(root)[0]
    assert channel.find('source').get('channel') == STREAM
    assert 'state' not in channel.find('target').attrib


def test_pending_live_changes():
    running = load('q35-spice-virtmanager.xml')   # controller, no stream channel, no mode
    hotplug, pending = dx.pending_live_changes(running, ENABLE)
    assert hotplug == 'attach'
    assert [p['change'] for p in pending] == ['streaming_mode']
    assert 'cold start' in pending[0]['reason'] and 'reboot is not enough' in pending[0]['reason']
    # An absent mode runs as off, so asking for off needs no restart.
    assert dx.pending_live_changes(running, StreamingRequest('off')) == (None, [])

    bare = load('q35-spice-no-virtio-serial.xml')
    hotplug, pending = dx.pending_live_changes(bare, StreamingRequest(agent_channel='present'))
    assert hotplug is None and 'no virtio-serial controller' in pending[0]['reason']

    streaming = load('q35-spice-streaming-filter.xml')
    assert dx.pending_live_changes(streaming, ENABLE) == (None, [])
    assert dx.pending_live_changes(streaming, StreamingRequest(agent_channel='absent'))[0] == 'detach'
    detach = dx.live_stream_channel_xml(streaming)
    assert detach.startswith("<channel type='spiceport'>") or detach.startswith('<channel type="spiceport">')
    assert '<address' in detach and not detach.endswith('\n')


def test_redact_secrets_masks_every_password():
    root = load('q35-spice-password-listen.xml')
    text = dx.to_string(root)
    assert 'passwd=' in text
    redacted = dx.redact_secrets(text)
    assert 'passwd="********"' in redacted
    secret = [g.get('passwd') for g in dx.spice_graphics(root)][0]
    assert secret not in redacted


@pytest.mark.parametrize('text,message', [
    ('<domain><devices>', 'not well-formed'),
    ('<network/>', '<network> at its root'),
])
def test_bad_documents_are_named(text, message):
    with pytest.raises(DomainXMLError, match=message):
        dx.parse_domain(text)


def test_request_flags():
    assert StreamingRequest().is_empty
    assert not StreamingRequest(agent_channel='absent').needs_spice
    assert StreamingRequest('off').needs_spice
    assert StreamingRequest(agent_channel='present').needs_spice


# ---------------------------------------------------------------- ports hidden in <qemu:commandline>

QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0'


def with_qemu_args(name, *values):
    """A fixture with a <qemu:commandline> passing ``values`` to QEMU, as libvirt stores it."""
    root = load(name)
    commandline = etree.SubElement(root, '{%s}commandline' % QEMU_NS, nsmap={'qemu': QEMU_NS})
    for value in values:
        etree.SubElement(commandline, '{%s}arg' % QEMU_NS, value=value)
    return dx.parse_domain(dx.to_string(root))


HIDDEN_PORTS = {
    'device key=value': ('-device', 'virtserialport,bus=virtio-serial0.0,nr=7,chardev=cs,id=cs0,'
                                    'name=org.spice-space.stream.0'),
    'device JSON': ('-device', '{"driver":"virtserialport","bus":"virtio-serial0.0",'
                               '"name":"org.spice-space.stream.0","chardev":"cs"}'),
    'double-dash device': ('--device', 'virtserialport,name=org.spice-space.stream.0'),
    'chardev spiceport': ('-chardev', 'spiceport,id=cs,name=org.spice-space.stream.0'),
}


@pytest.mark.parametrize('label', sorted(HIDDEN_PORTS))
def test_stream_port_added_through_qemu_commandline_is_a_conflict(label):
    root = with_qemu_args('q35-spice-virtmanager.xml', '-set', 'device.video0.xres=1920', *HIDDEN_PORTS[label])
    text = dx.to_string(root)
    assert dx.qemu_commandline_stream_ports(root), label
    with pytest.raises(DomainXMLError, match='qemu:commandline'):
        dx.apply_request(root, StreamingRequest(agent_channel='present'))
    assert dx.to_string(root) == text
    # Taking the port out cannot be done from here either: the task must say so.
    with pytest.raises(DomainXMLError, match='virsh edit'):
        dx.apply_request(root, StreamingRequest(agent_channel='absent'))
    # The mode alone does not touch ports.
    assert dx.apply_request(root, StreamingRequest('all'))


@pytest.mark.parametrize('args', [
    ('-device', 'virtserialport,name=org.spice-space.stream.1'),
    ('-device', 'virtserialport,name=org.spice-space.stream.0x'),
    ('-device', 'virtserialport,name=org.spice-space.stream.0,,x'),  # the name is "...0,x"
    ('-chardev', 'socket,id=x,path=/tmp/org.spice-space.stream.0'),
    ('-set', 'name=org.spice-space.stream.0'),
    ('-device', '{not json'),
    ('-device',),
])
def test_other_qemu_commandline_arguments_are_no_conflict(args):
    root = with_qemu_args('q35-spice-virtmanager.xml', *args)
    assert dx.qemu_commandline_stream_ports(root) == []
    assert dx.apply_request(root, ENABLE)


def test_qemu_override_renaming_a_device_to_the_stream_port_is_a_conflict():
    root = load('q35-spice-virtmanager.xml')
    override = etree.SubElement(root, '{%s}override' % QEMU_NS, nsmap={'qemu': QEMU_NS})
    device = etree.SubElement(override, '{%s}device' % QEMU_NS, alias='channel0')
    frontend = etree.SubElement(device, '{%s}frontend' % QEMU_NS)
    etree.SubElement(frontend, '{%s}property' % QEMU_NS, name='name', type='string', value=STREAM)
    assert dx.qemu_commandline_stream_ports(root) == ['<qemu:override> of device channel0']
    with pytest.raises(DomainXMLError, match='qemu:override'):
        dx.apply_request(root, ENABLE)


def test_the_real_qemu_commandline_fixture_has_no_stream_port():
    root = load('q35-foreign-metadata-qemu-commandline.xml')
    assert dx.qemu_commandline_args(root)[:2] == ['-set', 'device.video0.xres=1920']
    assert dx.qemu_commandline_stream_ports(root) == []


# ---------------------------------------------------------------- rollback without a backup


def test_restore_takes_out_exactly_what_enable_added_to_a_domain_without_a_controller():
    original = load('q35-spice-no-virtio-serial.xml')
    root = copy.deepcopy(original)
    dx.apply_request(root, ENABLE)
    actions = dx.restore_managed_parts(root, live_root=original)
    assert "removed <controller type='virtio-serial' index='0'>, which the running domain did not have" in actions
    assert dx.to_string(root) == dx.to_string(original)


def test_restore_keeps_a_controller_another_virtio_port_now_uses():
    original = load('q35-spice-no-virtio-serial.xml')
    root = copy.deepcopy(original)
    dx.apply_request(root, ENABLE)
    # Someone else added a virtio port to the definition meanwhile: it needs the controller.
    agent = etree.fromstring("<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>")
    dx.devices_of(root).append(agent)
    actions = dx.restore_managed_parts(root, live_root=original)
    assert not any('controller' in action for action in actions)
    assert [c.get('index') for c in dx.virtio_serial_controllers(root)] == ['0']
    assert dx.stream_channels(root) == []


def test_restore_keeps_a_controller_the_running_domain_had():
    original = load('q35-spice-virtmanager.xml')
    assert dx.virtio_serial_controllers(original)
    root = copy.deepcopy(original)
    dx.apply_request(root, ENABLE)
    dx.restore_managed_parts(root, live_root=original)
    assert dx.to_string(root) == dx.to_string(original)


@pytest.mark.parametrize('fixture', ['q35-spice-no-virtio-serial.xml', 'q35-spice-virtmanager.xml',
                                     'q35-spice-streaming-filter.xml', 'q35-spice-password-listen.xml'])
def test_the_managed_parts_of_a_running_domain_roll_back_as_the_whole_live_xml_does(fixture):
    """A restart that goes on in a later run of the module keeps only these (issue 16, item 4)."""
    live = load(fixture)
    kept = dx.managed_parts(live)
    assert 'passwd' not in kept and 'qemu:' not in kept and len(kept) < 600, kept
    by_whole, by_parts = copy.deepcopy(live), copy.deepcopy(live)
    for root in (by_whole, by_parts):
        dx.apply_request(root, StreamingRequest('all', 'present'))
    assert dx.restore_managed_parts(by_parts, dx.parse_domain(kept)) == \
        dx.restore_managed_parts(by_whole, live)
    assert dx.to_string(by_parts) == dx.to_string(by_whole)
