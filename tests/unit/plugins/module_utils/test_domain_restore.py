# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure comparison behind a restore (domain_restore), on real libvirt definitions."""

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.spice.streaming.plugins.module_utils import domain_restore as dr
from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'domains')
ENABLE = StreamingRequest('filter', 'present')
DISABLE = StreamingRequest('off', 'absent')
SPICE_FIXTURES = sorted(name for name in os.listdir(FIXTURES) if name.endswith('.xml') and 'vnc-only' not in name
                        and 'other-type' not in name)


def load(fixture):
    with open(os.path.join(FIXTURES, fixture), encoding='utf-8') as handle:
        return dx.parse_domain(handle.read())


def rolled_out(root, *requests):
    root = copy.deepcopy(root)
    for request in requests:
        dx.apply_request(root, request)
    return root


def edit(root, change):
    root = copy.deepcopy(root)
    change(root)
    return root


@pytest.mark.parametrize('fixture', SPICE_FIXTURES)
def test_a_rollout_changes_only_managed_parts(fixture):
    backup = load(fixture)
    current = rolled_out(backup, ENABLE)
    assert dr.unmanaged_differences(backup, current) == []
    # A restore has something to do exactly where the rollout did something.
    assert (dr.managed_changes(current, backup) == []) == (dx.apply_request(copy.deepcopy(backup), ENABLE) == [])
    assert dr.managed_changes(backup, backup) == [] and dr.same_definition(backup, backup)


def test_what_a_restore_changes_in_the_managed_parts_in_words():
    backup = edit(load('q35-spice-no-virtio-serial.xml'), lambda root: dx.set_streaming_mode(root, 'all'))
    # Enable, then disable: the mode set by hand is off, the added controller stays.
    current = rolled_out(backup, ENABLE, DISABLE)
    assert dr.managed_changes(current, backup) == [
        'SPICE streaming mode back to all (is off)', "removes <controller type='virtio-serial'>"]
    enabled = rolled_out(backup, ENABLE)
    assert dr.managed_changes(enabled, backup) == [
        'SPICE streaming mode back to all (is filter)',
        "removes <channel type='spiceport'> org.spice-space.stream.0",
        "removes <controller type='virtio-serial'>"]
    assert dr.managed_changes(backup, enabled) == [
        'SPICE streaming mode back to filter (is all)',
        "puts back <channel type='spiceport'> org.spice-space.stream.0",
        "puts back <controller type='virtio-serial'>"]
    unset = load('q35-stream-channel-no-mode.xml')
    assert dr.managed_changes(rolled_out(unset, ENABLE), unset) == [
        'SPICE streaming mode back to not set (QEMU runs off) (is filter)']


def test_what_libvirt_does_on_a_redefine_is_no_difference():
    # libvirt moves the virtio-serial controller of this aarch64 definition on a redefine.
    backup = load('aarch64-virt-spice.xml')
    current = rolled_out(load('aarch64-virt-spice.redefined.xml'), ENABLE)
    assert dr.unmanaged_differences(backup, current) == []
    # ... and renumbers a virtio console next to a serial one.
    backup = load('q35-serial-and-virtio-console.xml')
    current = rolled_out(load('q35-serial-and-virtio-console.redefined.xml'), ENABLE)
    assert dr.unmanaged_differences(backup, current) == []


def test_the_pcie_root_port_libvirt_adds_for_the_new_controller_is_no_difference():
    backup = load('q35-spice-no-virtio-serial.xml')

    def root_port(root):
        port = dx.etree.SubElement(root.find('devices'), 'controller', type='pci', index='99', model='pcie-root-port')
        dx.etree.SubElement(port, 'model', name='pcie-root-port')

    def plugged(root):
        dx.apply_request(root, ENABLE)
        root_port(root)
        dx.virtio_serial_controllers(root)[0].append(
            dx.etree.fromstring("<address type='pci' domain='0x0000' bus='0x63' slot='0x00' function='0x0'/>"))

    assert dr.unmanaged_differences(backup, edit(backup, plugged)) == []
    # A root port someone adds next to an existing virtio-serial controller is theirs.
    backup = load('q35-spice-virtmanager.xml')
    assert dr.unmanaged_differences(backup, edit(backup, root_port)) == ['a <controller> added']


def test_what_someone_else_changed_is_named():
    backup = load('q35-foreign-metadata-qemu-commandline.xml')

    def theirs(root):
        dx.apply_request(root, ENABLE)
        root.find('memory').text = '1048576'
        root.find('devices').append(dx.etree.fromstring("<watchdog model='i6300esb' action='reset'/>"))
        root.find('devices/interface/mac').set('address', '52:54:00:aa:bb:cc')
        ns = {'my': 'http://example.org/ns/1'}
        root.find('metadata/my:tag/my:item', ns).text = 'kiosk'
        root.find('{%s}commandline' % dx.QEMU_NS).append(
            dx.etree.Element('{%s}arg' % dx.QEMU_NS, value='-no-hpet'))

    found = dr.unmanaged_differences(backup, edit(backup, theirs))
    assert found == ['<metadata> changed', '<memory> changed', '<qemu:commandline> changed',
                     'a <interface> changed', 'a <watchdog> added'], found


def test_a_removed_device_and_the_domain_type_are_named():
    backup = load('q35-spice-virtmanager.xml')

    def theirs(root):
        root.set('type', 'qemu')
        sound = root.find('devices/sound')
        sound.getparent().remove(sound)
        dx.etree.SubElement(root, 'description').text = 'edited'

    assert dr.unmanaged_differences(backup, edit(backup, theirs)) == [
        'the attributes of <domain>', '<description> added', 'a <sound> removed']


def test_layout_is_no_difference():
    backup = load('q35-spice-password-listen.xml')
    text = dx.to_string(backup).replace('\n    ', '\n\t').replace("'", '"')
    assert dr.unmanaged_differences(backup, dx.parse_domain(text)) == []


def test_check_mode_cannot_compare_passwords():
    backup = load('q35-spice-password-listen.xml')
    read_only = edit(backup, lambda root: root.find("devices/graphics[@type='spice']").attrib.pop('passwd'))
    assert dr.unmanaged_differences(backup, read_only, secure=False) == []
    assert dr.unmanaged_differences(backup, read_only) == ['a <graphics> changed']


def test_a_rename_is_found():
    backup = load('pc-spice.xml')
    current = edit(backup, lambda root: setattr(root.find('name'), 'text', 'pc-renamed'))
    assert dr.renamed(backup, current) == ('fixture-pc-spice', 'pc-renamed')
    assert dr.renamed(backup, backup) is None
    assert dr.unmanaged_differences(backup, current) == []
