# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure transforms of libvirt domain XML for SPICE streaming.

Every function here works on an lxml tree and returns a list of what it changed,
in words a user can read.  None of them talks to libvirt or to Ansible: the
libvirt layer reads and defines, the module maps options to these calls.

Managed parts are found by identity, never appended blindly:

* the stream channel: ``<channel type='spiceport'>`` whose target name is
  ``org.spice-space.stream.0``;
* the virtio-serial controller: ``<controller type='virtio-serial'>``;
* the settings of SPICE ``<graphics>`` (``<streaming mode>``, ``<image
  compression>``, ...): one child element of each SPICE ``<graphics>`` per
  setting, as ``settings.GRAPHICS_SETTINGS`` describes it.

Everything else in a definition (other devices, attributes, namespaces,
metadata, ``qemu:commandline``, comments) is left exactly as it was.
"""

from __future__ import annotations

import traceback

try:
    from lxml import etree
except ImportError:
    etree = None
    LXML_IMPORT_ERROR = traceback.format_exc()
else:
    LXML_IMPORT_ERROR = None

from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import (
    OptionValue,
    QemuCmdlineError,
)
from ansible_collections.spice.streaming.plugins.module_utils.qemu_secrets import mask_secrets
from ansible_collections.spice.streaming.plugins.module_utils.secrets import MASK
from ansible_collections.spice.streaming.plugins.module_utils import settings
from ansible_collections.spice.streaming.plugins.module_utils.settings import (
    AGENT_CHANNEL,
    COLD_START,
    GRAPHICS_CHILD_ORDER,
    GRAPHICS_SETTINGS,
    STREAM_PORT_NAME,
    STREAMING_MODE,
)

_INDENT_STEP = '  '


class DomainXMLError(ValueError):
    """A definition this collection cannot bring to the asked state."""


class StreamingRequest:
    """The state asked for: a value per setting (``settings.SETTINGS``); ``None`` leaves that part alone.

    ``StreamingRequest('filter', 'present', image_compression='glz')``: the first two
    may be given by position, every setting by name; ``request.streaming_mode``
    reads one value, :attr:`values` all of them.
    """

    __slots__ = ('values',)

    def __init__(self, streaming_mode=None, agent_channel=None, **values):
        values.update(streaming_mode=streaming_mode, agent_channel=agent_channel)
        unknown = sorted(name for name in values if name not in settings.BY_NAME)
        if unknown:
            raise TypeError('StreamingRequest got unknown settings %s; the settings are %s'
                            % (', '.join(unknown), ', '.join(settings.NAMES)))
        self.values = settings.values_from(values)

    def __getattr__(self, name):
        if name != 'values' and name in settings.BY_NAME:
            return self.values[name]
        raise AttributeError(name)

    def __repr__(self):
        return 'StreamingRequest(%s)' % ', '.join(
            '%s=%r' % item for item in self.values.items() if item[1] is not None)

    def asked(self):
        """``[(setting, value)]`` of what is asked for, in the registry's order."""
        return [(item, self.values[item.name]) for item in settings.SETTINGS
                if self.values[item.name] is not None]

    def over(self, default):
        """This request where it says something, ``default`` where it says nothing (an override)."""
        return StreamingRequest(**{name: value if value is not None else default.values[name]
                                   for name, value in self.values.items()})

    @property
    def needs_spice(self):
        """Whether the request can only be met by a domain with SPICE graphics."""
        return settings.needs_spice(self.values)

    @property
    def is_empty(self):
        return not self.asked()


# ---------------------------------------------------------------- parsing


_PARSER = []


def _parser():
    # One parser for every document: building one costs more than parsing a domain.
    if not _PARSER:
        _PARSER.append(etree.XMLParser(remove_blank_text=False, resolve_entities=False,
                                       no_network=True, huge_tree=True))
    return _PARSER[0]


def parse_domain(xml_text):
    """Parse a domain definition, keeping whitespace, comments and namespaces."""
    parser = _parser()
    if isinstance(xml_text, str):
        xml_text = xml_text.encode('utf-8')
    try:
        root = etree.fromstring(xml_text, parser)
    except etree.XMLSyntaxError as err:
        raise DomainXMLError('the definition is not well-formed XML: %s' % err) from err
    if root.tag != 'domain':
        raise DomainXMLError('the definition has <%s> at its root, not <domain>' % root.tag)
    return root


def to_string(root):
    return etree.tostring(root, encoding='unicode')


# ---------------------------------------------------------------- finding


def devices_of(root):
    devices = root.find('devices')
    if devices is None:
        raise DomainXMLError('the definition has no <devices> element')
    return devices


def spice_graphics(root):
    return root.findall("./devices/graphics[@type='spice']")


def _target_name(element):
    target = element.find('target')
    return None if target is None else target.get('name')


def stream_channels(root):
    """The ``spiceport`` channels named ``org.spice-space.stream.0``, in document order."""
    return [channel for channel in root.iterfind("./devices/channel[@type='spiceport']")
            if _target_name(channel) == STREAM_PORT_NAME]


def conflicting_stream_ports(root):
    """Other devices that claim the stream port's name.

    QEMU refuses to start a domain with two virtio-serial ports of one name, so a
    ``unix`` or ``pty`` channel named ``org.spice-space.stream.0``, or a port that
    ``<qemu:commandline>`` adds behind libvirt's back, cannot live beside ours; it
    is the user's device and only the user can decide what to do with it.
    """
    conflicts = []
    for tag in ('channel', 'console'):
        for element in root.iterfind('./devices/' + tag):
            if _target_name(element) == STREAM_PORT_NAME and not (
                    tag == 'channel' and element.get('type') == 'spiceport'):
                conflicts.append('<%s type=%r>' % (tag, element.get('type')))
    conflicts.extend(qemu_commandline_stream_ports(root))
    return conflicts


QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0'


def qemu_commandline_args(root):
    """The arguments ``<qemu:commandline>`` passes to QEMU, in order."""
    return [arg.get('value', '') for arg in root.iterfind('{%s}commandline/{%s}arg' % (QEMU_NS, QEMU_NS))]


def qemu_commandline_stream_ports(root):
    """What ``<qemu:commandline>`` or ``<qemu:override>`` adds under the stream port's name.

    libvirt passes these to QEMU untouched, so a ``virtserialport`` named
    ``org.spice-space.stream.0`` there (``key=value`` or JSON ``-device``), or a
    ``spiceport`` chardev of that name, clashes with the channel this collection
    manages, and QEMU refuses to start ("A port already exists by name ...").
    """
    found = []
    args = qemu_commandline_args(root)
    for index, arg in enumerate(args[:-1]):
        option = arg.lstrip('-')
        if not arg.startswith('-') or option not in ('device', 'chardev'):
            continue
        fields = _qemu_option_fields(args[index + 1], 'driver' if option == 'device' else 'backend')
        if fields is None or fields.get('name') != STREAM_PORT_NAME:
            continue
        kind = fields.get('driver') if option == 'device' else fields.get('backend')
        found.append('<qemu:commandline> -%s %s' % (option, kind or '?'))
    for prop in root.iterfind('{%s}override/{%s}device/{%s}frontend/{%s}property'
                              % (QEMU_NS, QEMU_NS, QEMU_NS, QEMU_NS)):
        if prop.get('name') == 'name' and prop.get('value') == STREAM_PORT_NAME:
            device = prop.getparent().getparent()
            found.append('<qemu:override> of device %s' % device.get('alias'))
    return found


def _qemu_option_fields(value, implied_key):
    """A ``-device``/``-chardev`` value (JSON or QEMU's ``key=value,...``), or ``None``.

    QEMU would refuse a value that does not parse, so it cannot hold a port.
    """
    try:
        return OptionValue(value, implied_key, '<qemu:commandline>')
    except QemuCmdlineError:
        return None


def virtio_serial_controllers(root):
    return root.findall("./devices/controller[@type='virtio-serial']")


def setting_of(graphics, item):
    """The value of the graphics setting ``item`` written in a SPICE ``<graphics>``; ``None`` when unset."""
    element = graphics.find(item.element)
    return None if element is None else element.get(item.attribute)


def streaming_mode_of(graphics):
    """The mode written in a SPICE ``<graphics>``; ``None`` when there is no ``<streaming>``."""
    return setting_of(graphics, STREAMING_MODE)


def graphics_values(root, item):
    """The value of ``item`` in each SPICE ``<graphics>`` of ``root`` (``None`` where unset)."""
    return [setting_of(graphics, item) for graphics in spice_graphics(root)]


def effective_values(root, item):
    """What QEMU runs with for ``item``, per SPICE ``<graphics>`` (an unset value is QEMU's default)."""
    return [item.effective(value) for value in graphics_values(root, item)]


# ---------------------------------------------------------------- layout


def _indent_of(element):
    """The whitespace that precedes ``element`` on its line."""
    previous = element.getprevious()
    text = previous.tail if previous is not None else element.getparent().text
    if text and '\n' in text:
        return text[text.rindex('\n') + 1:]
    return ''


def _child_indent(parent):
    children = [child for child in parent if isinstance(child.tag, str)]
    if children:
        return _indent_of(children[0])
    return _indent_of(parent) + _INDENT_STEP if parent.getparent() is not None else _INDENT_STEP


def _insert(parent, new, before=None, after=None):
    """Insert ``new`` into ``parent`` keeping the document's indentation.

    ``after`` wins over ``before``; with neither, ``new`` becomes the last child.
    """
    indent = _child_indent(parent)
    _indent_subtree(new, indent)
    # lxml moves tail text along with inserted elements, so tails are set afterwards.
    if after is None and before is None:
        children = list(parent)
        after = children[-1] if children else None
        if after is None:
            parent.append(new)
            parent.text = '\n' + indent
            new.tail = '\n' + _indent_of(parent)
            return
    if after is not None:
        tail = after.tail
        after.addnext(new)
        after.tail = '\n' + indent
        new.tail = tail
    else:
        before.addprevious(new)
        new.tail = '\n' + indent


def _indent_subtree(element, indent):
    children = list(element)
    if not children:
        return
    element.text = '\n' + indent + _INDENT_STEP
    for index, child in enumerate(children):
        _indent_subtree(child, indent + _INDENT_STEP)
        child.tail = '\n' + indent + (_INDENT_STEP if index < len(children) - 1 else '')


def _remove(element):
    """Remove ``element`` and the whitespace that introduced it."""
    parent = element.getparent()
    previous = element.getprevious()
    if previous is not None:
        previous.tail = element.tail
    else:
        parent.text = element.tail
    parent.remove(element)


# ---------------------------------------------------------------- the managed parts


def new_stream_channel():
    channel = etree.Element('channel', type='spiceport')
    etree.SubElement(channel, 'source', channel=STREAM_PORT_NAME)
    etree.SubElement(channel, 'target', type='virtio', name=STREAM_PORT_NAME)
    return channel


def ensure_virtio_serial_controller(root):
    """Make sure the domain has a virtio-serial controller the stream port can sit on."""
    if virtio_serial_controllers(root):
        return []
    devices = devices_of(root)
    controller = etree.Element('controller', type='virtio-serial', index='0')
    controllers = devices.findall('controller')
    if controllers:
        _insert(devices, controller, after=controllers[-1])
    else:
        _insert(devices, controller)
    return ["added <controller type='virtio-serial' index='0'>"]


def _conform_stream_channel(channel):
    """Fix the parts of an existing stream channel that identify it as ours."""
    actions = []
    source = channel.find('source')
    if source is None:
        source = etree.Element('source', channel=STREAM_PORT_NAME)
        _insert(channel, source, before=channel.find('target'))
        actions.append('added <source> to the stream channel')
    elif source.get('channel') != STREAM_PORT_NAME:
        source.set('channel', STREAM_PORT_NAME)
        actions.append('set the stream channel source to %s' % STREAM_PORT_NAME)
    target = channel.find('target')
    if target.get('type') != 'virtio':
        target.set('type', 'virtio')
        actions.append('set the stream channel target type to virtio')
    if 'state' in target.attrib:
        # Output-only attribute of live XML; it never belongs in a definition.
        del target.attrib['state']
        actions.append("dropped the live-only state attribute of the stream channel target")
    return actions


def ensure_stream_channel(root):
    """Exactly one spiceport stream channel, on a virtio-serial controller."""
    actions = ensure_virtio_serial_controller(root)
    channels = stream_channels(root)
    if not channels:
        devices = devices_of(root)
        channel = new_stream_channel()
        anchors = devices.findall('channel') or devices.findall('console') or devices.findall('serial')
        if anchors:
            _insert(devices, channel, after=anchors[-1])
        else:
            _insert(devices, channel, before=devices.find('input'))
        actions.append("added <channel type='spiceport'> %s" % STREAM_PORT_NAME)
        return actions
    actions.extend(_conform_stream_channel(channels[0]))
    duplicates = channels[1:]
    for channel in duplicates:
        _remove(channel)
    if duplicates:
        actions.append('removed %d duplicate stream channel%s (a domain with two ports of one '
                       'name does not start)' % (len(duplicates), '' if len(duplicates) == 1 else 's'))
    return actions


def remove_stream_channels(root):
    """Remove the stream channel; the controller stays, other ports may use it."""
    channels = stream_channels(root)
    for channel in channels:
        _remove(channel)
    if not channels:
        return []
    return ["removed <channel type='spiceport'> %s%s" % (
        STREAM_PORT_NAME, '' if len(channels) == 1 else ' (%d copies)' % len(channels))]


def set_setting(root, item, value):
    """Write the graphics setting ``item`` into every SPICE ``<graphics>``."""
    actions = []
    for graphics in spice_graphics(root):
        actions.extend(set_setting_of(graphics, item, value))
    return actions


def set_setting_of(graphics, item, value):
    """Write the graphics setting ``item`` into one SPICE ``<graphics>``, where libvirt would put it."""
    element = graphics.find(item.element)
    if element is None:
        element = etree.Element(item.element, **{item.attribute: value})
        later = GRAPHICS_CHILD_ORDER[GRAPHICS_CHILD_ORDER.index(item.element) + 1:]
        before = next((child for child in graphics if child.tag in later), None)
        _insert(graphics, element, before=before)
        return ['set %s to %s (was not set, which QEMU runs as %s)' % (item.words, value, item.runs_when_absent)]
    previous = element.get(item.attribute)
    if previous != value:
        element.set(item.attribute, value)
        return ['set %s to %s (was %s)' % (item.words, value, item.shown(previous))]
    return []


def remove_setting_of(graphics, item):
    """Take the element of ``item`` out of one SPICE ``<graphics>``: QEMU then runs its default."""
    element = graphics.find(item.element)
    if element is None:
        return []
    _remove(element)
    return ['removed <%s %s=%r> as the running domain had none'
            % (item.element, item.attribute, element.get(item.attribute))]


def set_streaming_mode(root, mode):
    """Write ``<streaming mode=...>`` into every SPICE ``<graphics>``."""
    return set_setting(root, STREAMING_MODE, mode)


def set_streaming_mode_of(graphics, mode):
    """Write ``<streaming mode=...>`` into one SPICE ``<graphics>``."""
    return set_setting_of(graphics, STREAMING_MODE, mode)


# ---------------------------------------------------------------- whole requests


# The one wording of a domain without SPICE graphics, as a reason or a problem; ``no_spice``
# fills in what it cannot carry.
NO_SPICE = 'no SPICE graphics: it cannot carry %s'
NO_SPICE_FIX = 'add <graphics type="spice"> first or leave the domain out'
# What streaming needs of SPICE, when no particular setting is asked.
SPICE_PARTS = 'a spiceport channel or a streaming mode'


def no_spice(what=SPICE_PARTS, fix=False):
    """``no SPICE graphics: it cannot carry WHAT`` (and what to do, with ``fix``)."""
    return NO_SPICE % what + ('; ' + NO_SPICE_FIX if fix else '')


def check_request(root, request):
    """Problems that stop ``request`` from being applied to this definition, as sentences."""
    problems = []
    if request.needs_spice and not spice_graphics(root):
        problems.append('has ' + no_spice(settings.changes_words(
            [item.name for item, value in request.asked() if item.needs_spice(value)]), fix=True))
    if request.agent_channel == 'present':
        conflicts = conflicting_stream_ports(root)
        if conflicts:
            problems.append('already has %s named %s; QEMU will not start a domain with two ports '
                            'of one name: remove or rename it first'
                            % (' and '.join(conflicts), STREAM_PORT_NAME))
    elif request.agent_channel == 'absent':
        hidden = qemu_commandline_stream_ports(root)
        if hidden:
            problems.append('adds the stream port %s through %s, which this collection does not '
                            'edit; remove it there (virsh edit) to take the port out'
                            % (STREAM_PORT_NAME, ' and '.join(hidden)))
    return problems


def apply_request(root, request, checked=False):
    """Bring ``root`` to ``request`` in place; return the actions taken.

    Raises DomainXMLError when the definition cannot carry the request
    (see check_request); nothing has been changed then.  ``checked`` says the
    caller has just run check_request on this tree and found no problem.
    """
    if not checked:
        problems = check_request(root, request)
        if problems:
            raise DomainXMLError('; '.join(problems))
    actions = []
    if request.agent_channel == 'present':
        actions.extend(ensure_stream_channel(root))
    elif request.agent_channel == 'absent':
        actions.extend(remove_stream_channels(root))
    for item, value in request.asked():
        if item.kind == 'graphics':
            actions.extend(set_setting(root, item, value))
    return actions


def managed_state(root):
    """The parts this collection manages, in a form that compares equal when they are equal.

    libvirt's output is not a fixed point (a first redefine may reorder
    controllers or renumber console ports), so "did the definition change" is
    answered by comparing this, never whole documents.
    """
    channels = []
    for channel in stream_channels(root):
        source = channel.find('source')
        channels.append((None if source is None else source.get('channel'),
                         channel.find('target').get('type')))
    state = {item.name: graphics_values(root, item) for item in GRAPHICS_SETTINGS}
    state.update({
        'stream_channels': channels,
        'virtio_serial_controllers': len(virtio_serial_controllers(root)),
    })
    return state


# ---------------------------------------------------------------- running domains


def pending_live_changes(live_root, request):
    """Compare a running domain's live XML with the request.

    Returns ``(hotplug, pending)``: ``hotplug`` is ``'attach'``, ``'detach'`` or
    ``None``, the channel change worth trying live; ``pending`` lists what can only
    take effect at the next cold start, as ``{'change', 'reason'}`` dicts.
    """
    hotplug = None
    pending = []
    for item, value in request.asked():
        if item.kind != 'graphics' or item.live:
            continue
        running = next((effective for effective in effective_values(live_root, item) if effective != value), None)
        if running is not None:
            pending.append({
                'change': item.name,
                'reason': 'the running domain %s %s; libvirt cannot change the %s of a running '
                          'domain, so %s takes effect at %s'
                          % (item.running, running, item.words, value, COLD_START),
            })
    has_channel = bool(stream_channels(live_root))
    if request.agent_channel == 'present' and not has_channel:
        if virtio_serial_controllers(live_root):
            hotplug = 'attach'
        else:
            pending.append({
                'change': AGENT_CHANNEL.name,
                'reason': 'the running domain has no virtio-serial controller and libvirt cannot '
                          'hot-plug one; the stream channel appears at the next cold start',
            })
    elif request.agent_channel == 'absent' and has_channel:
        hotplug = 'detach'
    return hotplug, pending


def restore_managed_parts(root, live_root):
    """Put the managed parts of a definition back to what a running domain ran with.

    For a rollback when a domain does not start with its new definition and no
    backup of the previous one was written: the stream channel is there exactly
    when the running domain had it, and each SPICE ``<graphics>`` gets the
    element of each setting (``<streaming>``, ``<image>``, ...) the running one
    had (none when it had none).
    A virtio-serial controller the running domain did not have was added with
    the channel (by this collection, index 0): it goes too, unless another
    virtio-serial port of the definition needs it.  Everything else, including
    changes other people made, stays.  Returns the actions taken.
    """
    actions = []
    if stream_channels(live_root):
        actions.extend(ensure_stream_channel(root))
    else:
        actions.extend(remove_stream_channels(root))
        if not virtio_serial_controllers(live_root):
            actions.extend(_remove_added_controller(root))
    live_graphics = spice_graphics(live_root)
    for index, graphics in enumerate(spice_graphics(root)):
        for item in GRAPHICS_SETTINGS:
            value = setting_of(live_graphics[index], item) if index < len(live_graphics) else None
            if value is None:
                actions.extend(remove_setting_of(graphics, item))
            elif setting_of(graphics, item) != value:
                actions.extend(set_setting_of(graphics, item, value))
    return actions


def managed_parts(root):
    """A domain document that holds only the managed parts of ``root``, as text.

    What :func:`restore_managed_parts` reads of a running domain (its stream
    channels, virtio-serial controllers and every graphics setting of the registry), for a restart
    that goes on in a later run of the module: small, and without any secret of the
    definition.
    """
    kept = etree.Element('domain')
    devices = etree.SubElement(kept, 'devices')
    for controller in virtio_serial_controllers(root):
        etree.SubElement(devices, 'controller', type='virtio-serial', index=controller.get('index', '0'))
    for channel in stream_channels(root):
        target = channel.find('target')
        etree.SubElement(etree.SubElement(devices, 'channel', type='spiceport'), 'target',
                         type=target.get('type', 'virtio'), name=STREAM_PORT_NAME)
    for graphics in spice_graphics(root):
        kept_graphics = etree.SubElement(devices, 'graphics', type='spice')
        for item in GRAPHICS_SETTINGS:
            value = setting_of(graphics, item)
            if value is not None:
                etree.SubElement(kept_graphics, item.element, {item.attribute: value})
    return to_string(kept)


def _virtio_serial_ports(root):
    """Devices that sit on a virtio-serial controller (channels and consoles of target type virtio)."""
    devices = devices_of(root)
    return [device for device in devices
            if device.tag in ('channel', 'console')
            and (device.find("./target[@type='virtio']") is not None
                 or device.find("./address[@type='virtio-serial']") is not None)]


def _remove_added_controller(root):
    """Remove the ``index='0'`` virtio-serial controller ensure_virtio_serial_controller adds, if unused."""
    added = [controller for controller in virtio_serial_controllers(root)
             if controller.get('index', '0') == '0']
    if not added or _virtio_serial_ports(root):
        return []
    _remove(added[0])
    return ["removed <controller type='virtio-serial' index='0'>, which the running domain did not have"]


def live_stream_channel_xml(live_root):
    """The live stream channel as libvirt wants it for a detach (alias and address included)."""
    channels = stream_channels(live_root)
    if not channels:
        return None
    return etree.tostring(channels[0], encoding='unicode', with_tail=False)


def new_stream_channel_xml():
    return etree.tostring(new_stream_channel(), encoding='unicode')


# ---------------------------------------------------------------- secrets, for display

# What libvirt itself writes only for a reader that asks with VIR_DOMAIN_XML_SECURE
# (``virsh dumpxml --security-info``), which a read-write connection does and a
# real run of libvirt_domain must (a redefine without them would drop them):
#
# * the ``passwd`` attribute of ``<graphics>`` (VNC, SPICE, RDP), written by
#   libvirt's virDomainGraphicsAuthDefFormatAttr only with the secure flag (see
#   CVE-2014-7823); ``passwdValidTo`` and ``connected`` are always written and
#   are no secret;
# * ``<cookies><cookie name=...>VALUE</cookie></cookies>`` of a network disk's
#   ``<source>`` (HTTP/HTTPS/FTP CD-ROMs and disks, and their backing stores),
#   written only with the secure flag since libvirt 6.3 (CVE-2020-14301); the
#   cookie's name is no secret and stays.
#
# Checked against libvirt 9.0: ``virsh dumpxml --inactive`` and ``--inactive
# --security-info`` of a domain holding every kind of value in the domain XML
# format differ in exactly these.  Everything else that authenticates a domain's
# devices is a reference, not a value, and libvirt shows it to every reader:
# ``<auth username=...><secret type='iscsi'|'ceph' usage=... uuid=.../></auth>``
# of iSCSI/RBD disks and iSCSI host devices, ``<encryption><secret uuid=.../>``
# of LUKS disks and vTPMs; the secrets themselves live in libvirt's secret
# driver (virsh secret-get-value), never in the domain XML.
#
# libvirt hides nothing inside ``<qemu:commandline>``: its ``<qemu:arg>``
# values are masked here the way spice.streaming.qemu_cmdline masks a QEMU
# command line (qemu_secrets.mask_secrets: ``-object secret,data=``,
# ``password=``, passwords inside URLs, Ceph keys inside rbd filenames, in
# key=value and JSON values alike).  Free-form values (``<qemu:env>``, kernel
# command lines, SMBIOS strings) are not searched, as in qemu_secrets.


def _secure_values(root):
    """``[(element, attribute or None for its text, value)]`` for every secret libvirt hides."""
    found = []
    # libvirt writes passwd on <graphics> only; any element that has one is masked.
    for element in root.iterfind('.//*[@passwd]'):
        found.append((element, 'passwd', element.get('passwd')))
    for cookie in root.iterfind('.//cookies/cookie'):
        found.append((cookie, None, cookie.text or ''))
    return found


def _commandline_args(root):
    return list(root.iterfind('{%s}commandline/{%s}arg' % (QEMU_NS, QEMU_NS)))


def definition_secrets(root):
    """The secret values a definition holds (see above), to keep them out of every message.

    Each value is given as it is written in the definition; empty values are left out.
    """
    secrets = {value for _element, _attribute, value in _secure_values(root)}
    args = _commandline_args(root)
    if args:
        secrets.update(mask_secrets([arg.get('value', '') for arg in args])[1])
    secrets.discard('')
    return secrets


def redact_secrets(xml_text):
    """A definition fit to show in a diff: every secret value (see above) replaced by ``********``.

    Only the values change: elements, attributes, cookie names, comments and
    whitespace stay, so a diff of two redacted definitions shows exactly what
    changed, and a secret that changed shows as unchanged.  The definition
    itself (what is defined, and a backup file) keeps the real values.
    """
    root = parse_domain(xml_text)
    for element, attribute, value in _secure_values(root):
        if not value:
            continue
        if attribute is None:
            element.text = MASK
        else:
            element.set(attribute, MASK)
    args = _commandline_args(root)
    if args:
        masked, _secrets = mask_secrets([arg.get('value', '') for arg in args])
        for arg, value in zip(args, masked):
            if value != arg.get('value', ''):
                arg.set('value', value)
    return to_string(root)
