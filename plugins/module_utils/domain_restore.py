# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare a domain's definition with a backup of it, for a restore: pure functions.

Plain functions over lxml trees parsed by ``domain_xml.parse_domain``; no libvirt,
no Ansible.  ``libvirt_restore`` decides with them, per domain, whether to put a
backup back:

* :func:`managed_changes`: what a restore changes in the parts this collection
  manages (the settings of SPICE graphics such as the streaming mode, the stream
  channel, the virtio-serial controller),
  in words; empty when the definition already is the backup there;
* :func:`unmanaged_differences`: what differs everywhere else, in words; empty
  when nobody changed the definition outside the managed parts since the backup.

Both compare what libvirt stored, so they tolerate what libvirt itself does to
a definition on a redefine, and nothing more:

* the virtio-serial controller a rollout added (there was none in the backup),
  and the PCIe root port libvirt may add to plug it in on q35 and ``virt``;
* the order of devices (libvirt moves controllers on a redefine: a definition
  is not a fixed point), compared as a multiset;
* the ``port`` of a virtio ``<console>`` target, which libvirt renumbers on the
  first redefine of a definition with a serial console;
* whitespace, attribute order and quoting.
"""

from __future__ import annotations

import collections
import copy

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml
from ansible_collections.spice.streaming.plugins.module_utils.settings import (
    GRAPHICS_SETTINGS,
    STREAM_PORT_NAME,
)

# What libvirt leaves out of a definition read without VIR_DOMAIN_XML_SECURE (a read-only
# connection, check mode): a backup written with secrets cannot be compared there.
_SECURE_ATTRIBUTES = ('passwd',)
_SECURE_ELEMENTS = ('cookies',)


def managed_changes(current_root, backup_root):
    """What putting ``backup_root`` back changes in the managed parts of ``current_root``, as sentences."""
    changes = []
    for item in GRAPHICS_SETTINGS:
        current = domain_xml.graphics_values(current_root, item)
        backup = domain_xml.graphics_values(backup_root, item)
        for index, (now, then) in enumerate(zip(current, backup)):
            if now != then:
                changes.append('%s back to %s (is %s)%s' % (
                    item.words, item.shown(then), item.shown(now), '' if len(backup) == 1 else
                    ' in SPICE graphics %d' % (index + 1)))
    now, then = _channels(current_root), _channels(backup_root)
    if now and not then:
        changes.append("removes <channel type='spiceport'> %s%s" % (
            STREAM_PORT_NAME, '' if len(now) == 1 else ' (%d copies)' % len(now)))
    elif then and not now:
        changes.append("puts back <channel type='spiceport'> %s" % STREAM_PORT_NAME)
    elif now != then:
        changes.append("puts back <channel type='spiceport'> %s as it was" % STREAM_PORT_NAME)
    now = len(domain_xml.virtio_serial_controllers(current_root))
    then = len(domain_xml.virtio_serial_controllers(backup_root))
    if now > then:
        changes.append("removes <controller type='virtio-serial'>%s" % (
            '' if now - then == 1 else ' (%d of them)' % (now - then)))
    elif then > now:
        changes.append("puts back <controller type='virtio-serial'>%s" % (
            '' if then - now == 1 else ' (%d of them)' % (then - now)))
    return changes


def _channels(root):
    return [domain_xml.etree.tostring(_canonical_copy(channel), encoding='unicode')
            for channel in domain_xml.stream_channels(root)]


# ---------------------------------------------------------------- everything else


def _canonical_copy(element):
    """``element`` without addresses libvirt assigns, for comparing managed devices."""
    element = copy.deepcopy(element)
    element.tail = None
    for address in element.findall('address'):
        element.remove(address)
    return _canonical(element)


def _canonical(element):
    """A copy with no whitespace, comment, or attribute-order differences."""
    clean = domain_xml.etree.Element(element.tag, nsmap=element.nsmap)
    for key in sorted(element.attrib):
        clean.set(key, element.get(key))
    text = (element.text or '').strip()
    clean.text = text or None
    for child in element:
        if isinstance(child.tag, str):
            clean.append(_canonical(child))
    return clean


def _key(element):
    return domain_xml.etree.tostring(element, encoding='unicode')


def _label(element):
    qname = domain_xml.etree.QName(element)
    prefix = element.prefix
    return '<%s%s>' % ('%s:' % prefix if prefix else '', qname.localname)


def _strip_managed(root):
    """A canonical copy of ``root`` without the parts this collection manages."""
    root = copy.deepcopy(root)
    for channel in domain_xml.stream_channels(root):
        channel.getparent().remove(channel)
    for graphics in domain_xml.spice_graphics(root):
        for item in GRAPHICS_SETTINGS:
            for element in graphics.findall(item.element):
                graphics.remove(element)
    for target in root.iterfind("./devices/console/target[@type='virtio']"):
        target.attrib.pop('port', None)
    return root


def _drop_added_controllers(current, backup):
    """Take out of ``current`` the virtio-serial controller a rollout added, and the PCIe
    root ports libvirt added beside it, when ``backup`` had no virtio-serial controller."""
    if domain_xml.virtio_serial_controllers(backup):
        return
    for controller in domain_xml.virtio_serial_controllers(current):
        controller.getparent().remove(controller)
    known = {controller.get('index') for controller in backup.iterfind("./devices/controller[@type='pci']")}
    for controller in current.findall("./devices/controller[@type='pci']"):
        if controller.get('index') not in known and controller.get('model') == 'pcie-root-port':
            controller.getparent().remove(controller)


def _drop_secure_only(root):
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute in _SECURE_ATTRIBUTES:
            element.attrib.pop(attribute, None)
        for secret in [child for child in element if child.tag in _SECURE_ELEMENTS]:
            element.remove(secret)


def unmanaged_differences(backup_root, current_root, secure=True):
    """What differs between a backup and the current definition outside the managed parts.

    Sentences, sorted; empty when they are the same there.  ``secure=False``:
    ``current_root`` was read without secrets (check mode), so passwords and
    cookies are left out of the comparison.
    """
    backup = _strip_managed(backup_root)
    current = _strip_managed(current_root)
    _drop_added_controllers(current, backup)
    if not secure:
        _drop_secure_only(backup)
        _drop_secure_only(current)
    backup, current = _canonical(backup), _canonical(current)
    found = []
    if backup.attrib != current.attrib:
        found.append('the attributes of <domain>')
    found.extend(_top_level_differences(backup, current))
    found.extend(_device_differences(backup.find('devices'), current.find('devices')))
    return found


def _top_level_differences(backup, current):
    def grouped(root):
        groups = collections.OrderedDict()
        for child in root:
            if child.tag not in ('devices', 'name'):
                groups.setdefault(_label(child), []).append(_key(child))
        return groups

    found = []
    before, after = grouped(backup), grouped(current)
    for label in list(before) + [label for label in after if label not in before]:
        if label not in after:
            found.append('%s removed' % label)
        elif label not in before:
            found.append('%s added' % label)
        elif before[label] != after[label]:
            found.append('%s changed' % label)
    return found


def _device_differences(backup, current):
    before = collections.Counter(_key(device) for device in ([] if backup is None else backup))
    after = collections.Counter(_key(device) for device in ([] if current is None else current))
    removed = collections.Counter(_tag_of(key) for key in (before - after).elements())
    added = collections.Counter(_tag_of(key) for key in (after - before).elements())
    found = []
    for tag in sorted(set(removed) | set(added)):
        changed = min(removed[tag], added[tag])
        if changed:
            found.append('%s changed' % _devices(changed, tag))
        if removed[tag] > changed:
            found.append('%s removed' % _devices(removed[tag] - changed, tag))
        if added[tag] > changed:
            found.append('%s added' % _devices(added[tag] - changed, tag))
    return found


def _tag_of(key):
    return _label(domain_xml.etree.fromstring(key))


def _devices(number, tag):
    return 'a %s' % tag if number == 1 else '%d %s' % (number, tag)


def renamed(backup_root, current_root):
    """``(backup name, current name)`` when the domain was renamed since the backup, else None."""
    before, after = backup_root.findtext('name'), current_root.findtext('name')
    return None if before == after else (before, after)


def same_definition(first_root, second_root, secure=True):
    """Whether two definitions of one domain are the same, managed parts included."""
    return (not managed_changes(first_root, second_root)
            and not unmanaged_differences(first_root, second_root, secure))
