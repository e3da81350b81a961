# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure transforms of QEMU command lines for SPICE streaming.

Nothing here runs QEMU or talks to Ansible: functions take an argument list
(``['-machine', 'q35', '-spice', 'port=5900', ...]``) and return a new list and
what they changed, in words a user can read.  The ``qemu_cmdline`` module and
the ``qemu_args`` filter are thin layers over :func:`apply_streaming`.

Managed parts are found by identity, never appended blindly:

* the stream port: a ``virtserialport`` device named ``org.spice-space.stream.0``
  and the ``spiceport`` chardev it uses;
* the virtio-serial bus: a ``virtio-serial*`` device;
* the streaming mode: the ``streaming-video`` key of the ``-spice`` option(s).

Every other argument is returned unchanged, character for character; an edited
option keeps its other keys as they were written.

:func:`mask_secrets` gives a copy of an argument list fit to show (passwords
and secret data masked); the real list is what QEMU needs and what is written.

The second half reads and writes the argument list held in a systemd
``EnvironmentFile`` line such as ``QEMU_ARGS="-machine q35 -spice ..."``, the
way systemd reads it for ``ExecStart=... $QEMU_ARGS``; :func:`resolve_env_file`,
the one function here that looks at the file system, finds the file a path
(or a symbolic link) names.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat

from ansible_collections.spice.streaming.plugins.module_utils.streaming import (
    AGENT_CHANNEL_STATES,
    STREAM_PORT_NAME,
    STREAMING_MODES,
)

# QEMU options that take no argument (qemu-options.hx, DEF(..., 0, ...)): the
# 7.2 set, checked against the binary, plus older ones still met in scripts.
# Every other option consumes the next argument as its value, as QEMU does.
NO_ARG_OPTIONS = frozenset((
    'S', 's', 'h', 'help', 'version', 'nodefaults', 'no-user-config', 'nodefconfig',
    'snapshot', 'nographic', 'daemonize', 'enable-kvm', 'no-kvm', 'no-acpi', 'no-hpet',
    'no-reboot', 'no-shutdown', 'no-fd-bootchk', 'full-screen', 'portrait', 'win2k-hack',
    'usb', 'mem-prealloc', 'only-migratable', 'enable-sync-profile', 'singlestep',
    'preconfig', 'async-teardown', 'audio-help', 'xen-attach', 'xen-domid-restrict',
    'no-quit', 'no-frame', 'alt-grab', 'ctrl-grab', 'sdl', 'curses', 'show-cursor',
    'semihosting', 'old-param', 'enable-fips', 'rtc-td-hack', 'no-kvm-irqchip',
    'no-kvm-pit', 'no-kvm-pit-reinjection', 'enable-hax', 'enable-nesting',
))

# The options this module reads or edits; their values never start with '-'.
MANAGED_OPTIONS = ('spice', 'device', 'chardev')

VIRTIO_SERIAL_DRIVERS = frozenset((
    'virtio-serial', 'virtio-serial-pci', 'virtio-serial-pci-transitional',
    'virtio-serial-pci-non-transitional', 'virtio-serial-device', 'virtio-serial-ccw',
))
SERIAL_PORT_DRIVERS = ('virtserialport', 'virtconsole')
NEW_CONTROLLER_DRIVER = 'virtio-serial-pci'
# virtio-serial's max_ports default; port numbers run from 0 to max_ports - 1
# and 0 is kept for a virtconsole.
DEFAULT_MAX_PORTS = 31
STREAMING_KEY = 'streaming-video'


class QemuCmdlineError(ValueError):
    """A command line or file this collection cannot bring to the asked state."""


# ---------------------------------------------------------------- key=value strings


def escape_value(value):
    """QEMU writes a literal comma in a value as two commas."""
    return value.replace(',', ',,')


class OptItem:
    """One ``key=value`` of an option string, with the text it was written as."""

    __slots__ = ('key', 'value', 'raw')

    def __init__(self, key, value, raw):
        self.key = key
        self.value = value
        self.raw = raw

    def __repr__(self):
        return 'OptItem(%r, %r, %r)' % (self.key, self.value, self.raw)


class QemuOpts:
    """A QEMU ``key=value,...`` string, parsed the way QEMU's QemuOpts parses it.

    ``implied_key`` names the key of a bare first value (``backend`` for
    ``-chardev spiceport,...``, ``driver`` for ``-device virtserialport,...``).
    A bare later word is a flag: ``foo`` is ``foo=on``, ``nofoo`` is ``foo=off``.
    When a key appears twice the last one counts, as in QEMU.

    Items keep the text they were written as, so formatting an edited string
    changes only the items that were edited.
    """

    def __init__(self, text, implied_key=None):
        self.implied_key = implied_key
        self.items = []
        self.trailing_comma = False
        self._parse(text)

    def _parse(self, text):
        pos, end = 0, len(text)
        while pos < end:
            stop = pos
            while stop < end and text[stop] not in '=,':
                stop += 1
            if stop < end and text[stop] == '=':
                key = text[pos:stop]
                value, after = _read_value(text, stop + 1)
            elif not self.items and self.implied_key:
                key = self.implied_key
                value, after = _read_value(text, pos)
            else:
                name, after = text[pos:stop], stop
                if name.startswith('no'):
                    key, value = name[2:], 'off'
                else:
                    key, value = name, 'on'
            self.items.append(OptItem(key, value, text[pos:after]))
            if after < end:  # a separating comma
                after += 1
                self.trailing_comma = after == end
            pos = after

    def get(self, key):
        """The value QEMU uses for ``key``: the last one written, or ``None``."""
        found = [item.value for item in self.items if item.key == key]
        return found[-1] if found else None

    def indexes(self, key):
        return [index for index, item in enumerate(self.items) if item.key == key]

    def set(self, key, value):
        """Give ``key`` this value in its last item, or add it at the end."""
        indexes = self.indexes(key)
        if indexes:
            index = indexes[-1]
            implied = index == 0 and key == self.implied_key and '=' not in self.items[0].raw
            raw = escape_value(value) if implied else '%s=%s' % (key, escape_value(value))
            self.items[index] = OptItem(key, value, raw)
        else:
            self.items.append(OptItem(key, value, '%s=%s' % (key, escape_value(value))))

    def remove(self, index):
        del self.items[index]

    @property
    def text(self):
        return ','.join(item.raw for item in self.items) + (',' if self.trailing_comma else '')


def _read_value(text, pos):
    """Read a value up to the next single comma; ``,,`` is a literal comma."""
    out, end = [], len(text)
    while pos < end:
        char = text[pos]
        if char == ',':
            if pos + 1 < end and text[pos + 1] == ',':
                out.append(',')
                pos += 2
                continue
            break
        out.append(char)
        pos += 1
    return ''.join(out), pos


def format_opts(pairs, implied_key=None):
    """Write ``[(key, value), ...]`` as an option string; an implied first key goes bare."""
    parts = []
    for index, (key, value) in enumerate(pairs):
        if index == 0 and key == implied_key:
            parts.append(escape_value(value))
        else:
            parts.append('%s=%s' % (key, escape_value(value)))
    return ','.join(parts)


class OptionValue:
    """The value of a ``-device`` or ``-chardev`` option: QemuOpts or JSON.

    QEMU 7.2 accepts ``-device '{"driver": "virtserialport", ...}'``; the JSON
    form is edited as JSON and written back compactly.
    """

    def __init__(self, text, implied_key, where):
        self.original = text
        self.implied_key = implied_key
        self.where = where
        self.json = None
        self.opts = None
        self.modified = False
        if text.lstrip().startswith('{'):
            try:
                value = json.loads(text)
            except ValueError as err:
                raise QemuCmdlineError('%s is not valid JSON: %s' % (where, err)) from err
            if not isinstance(value, dict):
                raise QemuCmdlineError('%s is JSON but not an object' % where)
            self.json = value
        else:
            self.opts = QemuOpts(text, implied_key)

    def get(self, key):
        if self.opts is not None:
            return self.opts.get(key)
        value = self.json.get(key)
        if isinstance(value, bool):
            return 'on' if value else 'off'
        return None if value is None else str(value)

    def set(self, key, value):
        if self.get(key) == value:
            return
        self.modified = True
        if self.opts is not None:
            self.opts.set(key, value)
        else:
            self.json[key] = value

    @property
    def text(self):
        if not self.modified:
            return self.original
        if self.opts is not None:
            return self.opts.text
        return json.dumps(self.json, separators=(',', ':'))

    def describe(self):
        """Short text naming this option for messages: driver/backend and id."""
        head = self.get(self.implied_key) or '?'
        ident = self.get('id')
        return head if ident is None else '%s id=%s' % (head, ident)


# ---------------------------------------------------------------- argument lists


class Option:
    """One option of an argument list: where it is, how it is spelled, its value."""

    __slots__ = ('index', 'token', 'name', 'value')

    def __init__(self, index, token, name, value):
        self.index = index
        self.token = token
        self.name = name
        self.value = value

    @property
    def where(self):
        return '%s at argument %d' % (self.token, self.index + 1)


def option_name(token):
    """``'spice'`` for ``-spice`` and ``--spice`` (QEMU treats them alike); ``None`` otherwise."""
    if token.startswith('--') and len(token) > 2:
        return token[2:]
    if token.startswith('-') and len(token) > 1:
        return token[1:]
    return None


def scan_options(args):
    """Split an argument list into options, the way QEMU's own parser walks it.

    Raises QemuCmdlineError for what QEMU would misread in the options this
    collection manages: ``-spice=...`` (QEMU answers "invalid option"), a
    managed option without a value at the end, or followed by another option.
    """
    options = []
    index = 0
    while index < len(args):
        token = args[index]
        if not isinstance(token, str):
            raise QemuCmdlineError('argument %d is %r, not a string' % (index + 1, token))
        name = option_name(token)
        if name is None:  # a disk image given without an option
            index += 1
            continue
        if '=' in name and name.split('=', 1)[0] in MANAGED_OPTIONS:
            bare = token.split('=', 1)[0]
            raise QemuCmdlineError(
                "argument %d is %r: QEMU does not accept '%s=VALUE' (it answers 'invalid option'); "
                "write %r and the value as two arguments" % (index + 1, mask_secrets([token])[0][0], bare, bare))
        if name in NO_ARG_OPTIONS:
            options.append(Option(index, token, name, None))
            index += 1
            continue
        if index + 1 >= len(args):
            if name in MANAGED_OPTIONS:
                raise QemuCmdlineError('%s at argument %d, the last one, has no value'
                                       % (token, index + 1))
            options.append(Option(index, token, name, None))
            break
        value = args[index + 1]
        if not isinstance(value, str):
            raise QemuCmdlineError('argument %d is %r, not a string' % (index + 2, value))
        if name in MANAGED_OPTIONS and value.startswith('-'):
            raise QemuCmdlineError('%s at argument %d has no value: it is followed by %r'
                                   % (token, index + 1, value))
        options.append(Option(index, token, name, value))
        index += 2
    return options


class _Entry:
    """A ``-device`` or ``-chardev`` option and its parsed value."""

    __slots__ = ('option', 'value', 'removed')

    def __init__(self, option, implied_key):
        self.option = option
        self.value = OptionValue(option.value, implied_key, option.where)
        self.removed = False

    def get(self, key):
        return self.value.get(key)

    def label(self):
        return '%s %s at argument %d' % (self.option.token, self.value.describe(), self.option.index + 1)


class CommandLine:
    """An argument list being brought to a streaming state.

    Edits are collected against the original positions and applied in one pass
    by :meth:`result`, so every untouched argument comes back as it was.
    """

    def __init__(self, args):
        self.args = list(args)
        self.options = scan_options(self.args)
        self.spice = [(option, QemuOpts(option.value)) for option in self.options
                      if option.name == 'spice']
        self.devices = [_Entry(option, 'driver') for option in self.options
                        if option.name == 'device']
        self.chardevs = [_Entry(option, 'backend') for option in self.options
                         if option.name == 'chardev']
        self.added = []
        self.actions = []
        self.warnings = []
        self._dirty_spice = set()

    # -------------------------------------------------------------- finding

    @property
    def has_spice(self):
        """Whether QEMU runs a SPICE server: a ``-spice`` option or ``-display spice-app``."""
        return bool(self.spice) or self.has_spice_app

    @property
    def has_spice_app(self):
        return any(option.name == 'display' and option.value is not None
                   and option.value.split(',', 1)[0] == 'spice-app' for option in self.options)

    def live_devices(self):
        return [entry for entry in self.devices if not entry.removed]

    def live_chardevs(self):
        return [entry for entry in self.chardevs if not entry.removed]

    def chardev_by_id(self, ident):
        matches = [entry for entry in self.live_chardevs() if entry.get('id') == ident]
        return matches[0] if matches else None

    def stream_ports(self):
        """Ports on a virtio-serial bus named ``org.spice-space.stream.0``, in order."""
        return [entry for entry in self.live_devices()
                if entry.get('driver') in SERIAL_PORT_DRIVERS and entry.get('name') == STREAM_PORT_NAME]

    def is_spiceport(self, chardev):
        return chardev is not None and chardev.get('backend') == 'spiceport'

    def port_problem(self, port):
        """Why this port named like the stream port is not ours to keep, or ``None``."""
        if port.get('driver') != 'virtserialport':
            return '%s is a %s, not a virtserialport' % (port.option.where, port.get('driver'))
        ident = port.get('chardev')
        if ident is None:
            return None
        chardev = self.chardev_by_id(ident)
        if chardev is None:
            return ('%s uses chardev %r, which no -chardev option here defines (it may come '
                    'from -readconfig); define it as spiceport or remove the port'
                    % (port.option.where, ident))
        if not self.is_spiceport(chardev):
            return ('%s uses chardev %r, a %s, not a spiceport'
                    % (port.option.where, ident, chardev.get('backend')))
        return None

    def chardev_references(self):
        """Ids of chardevs some other option uses (``chardev=ID`` or ``chardev:ID``)."""
        used = set()
        for option in self.options:
            if option.value is None or option.name == 'chardev':
                continue
            entry = next((e for e in self.devices if e.option is option), None)
            if entry is not None:
                if not entry.removed and entry.get('chardev'):
                    used.add(entry.get('chardev'))
                continue
            if option.value.startswith('chardev:'):
                used.add(option.value[len('chardev:'):])
                continue
            if not option.value.lstrip().startswith('{'):
                ident = QemuOpts(option.value).get('chardev')
                if ident:
                    used.add(ident)
        return used

    def orphan_stream_chardevs(self):
        """spiceport chardevs named like the stream port that nothing uses."""
        used = self.chardev_references()
        return [entry for entry in self.live_chardevs()
                if self.is_spiceport(entry) and entry.get('name') == STREAM_PORT_NAME
                and entry.get('id') not in used]

    def virtio_serial_controllers(self):
        return [entry for entry in self.live_devices() if entry.get('driver') in VIRTIO_SERIAL_DRIVERS]

    def all_ids(self, entries):
        return {entry.get('id') for entry in entries if entry.get('id') is not None}

    # -------------------------------------------------------------- editing

    def remove(self, entry, why):
        entry.removed = True
        self.actions.append('removed %s (%s)' % (entry.label(), why))

    def add(self, token, value, why=None):
        self.added.extend([token, value])
        self.actions.append('added %s %s%s' % (token, value, ' (%s)' % why if why else ''))

    def result(self):
        """The edited argument list."""
        removed = {entry.option.index for entry in self.devices + self.chardevs if entry.removed}
        replaced = {}
        for entry in self.devices + self.chardevs:
            if not entry.removed and entry.value.modified:
                replaced[entry.option.index + 1] = entry.value.text
        for option, opts in self.spice:
            if option.index in self._dirty_spice:
                replaced[option.index + 1] = opts.text
        out = []
        for index, arg in enumerate(self.args):
            if index in removed or index - 1 in removed:
                continue
            out.append(replaced.get(index, arg))
        return out + self.added

    # -------------------------------------------------------------- streaming mode

    def set_streaming_mode(self, mode):
        occurrences = [(option, opts, index) for option, opts in self.spice
                       for index in opts.indexes(STREAMING_KEY)]
        if not occurrences:
            if self.spice:
                option, opts = self.spice[-1]
                opts.set(STREAMING_KEY, mode)
                self._dirty_spice.add(option.index)
                where = option.where
            elif self.has_spice_app:
                return  # only off gets here, and spice-app runs off
            else:
                # QEMU merges every -spice option into one, so a -spice of its own
                # joins the -spice option of the command line this fragment goes into.
                self.add('-spice', '%s=%s' % (STREAMING_KEY, mode))
                return
            self.actions.append('set %s=%s in %s (was not set, which QEMU runs as off)'
                                % (STREAMING_KEY, mode, where))
            return
        last_option, last_opts, last_index = occurrences[-1]
        previous = last_opts.items[last_index].value
        if previous != mode:
            last_opts.items[last_index] = OptItem(STREAMING_KEY, mode, '%s=%s' % (STREAMING_KEY, mode))
            self._dirty_spice.add(last_option.index)
            self.actions.append('set %s=%s in %s (was %s)' % (STREAMING_KEY, mode, last_option.where, previous))
        earlier = occurrences[:-1]
        for option, opts, index in reversed(earlier):
            opts.remove(index)
            self._dirty_spice.add(option.index)
        if earlier:
            self.actions.append('removed %d earlier %s= key%s that the last one overrides'
                                % (len(earlier), STREAMING_KEY, '' if len(earlier) == 1 else 's'))

    # -------------------------------------------------------------- stream port

    def _new_ids(self):
        """The first ``charchannelN``/``channelN`` pair whose ids are both free."""
        chardev_ids = self.all_ids(self.chardevs)
        device_ids = self.all_ids(self.devices)
        number = 1
        while 'charchannel%d' % number in chardev_ids or 'channel%d' % number in device_ids:
            number += 1
        return 'charchannel%d' % number, 'channel%d' % number

    def _free_device_id(self, stem):
        used = self.all_ids(self.devices)
        number = 0
        while '%s%d' % (stem, number) in used:
            number += 1
        return '%s%d' % (stem, number)

    def _used_port_numbers(self, bus, as_json):
        """Port numbers QEMU gives away on ``bus`` before a new port is created.

        Ports without ``bus=`` may land on any virtio-serial bus, so they are
        counted as if on this one.  Every ``nr=`` written counts.  Ports without
        ``nr=`` get a number when created: a virtconsole the reserved 0 if free,
        any other port the lowest free number from 1.  QEMU creates every
        key=value ``-device`` in command-line order and only then the JSON ones,
        so a new key=value port comes after the key=value ports only, a new
        JSON port after all of them.
        """
        ports = [entry for entry in self.live_devices()
                 if entry.get('driver') in SERIAL_PORT_DRIVERS and entry.get('bus') in (None, bus)]
        used = set()
        for entry in ports:
            number = entry.get('nr')
            if number is not None:
                used.add(_parse_number(number, '%s has nr=%r' % (entry.option.where, number)))
        created_before = [entry for entry in ports if entry.value.json is None]
        if as_json:
            created_before += [entry for entry in ports if entry.value.json is not None]
        for entry in created_before:
            if entry.get('nr') is not None:
                continue
            if entry.get('driver') == 'virtconsole' and 0 not in used:
                used.add(0)
            else:
                used.add(_lowest_free(used))
        return used

    def _max_ports(self, controller):
        value = controller.get('max_ports')
        if value is None:
            return DEFAULT_MAX_PORTS
        return _parse_number(value, '%s has max_ports=%r' % (controller.option.where, value))

    def _place_new_port(self):
        """``(bus, nr, as_json)`` for a new port; bus and nr ``None`` let QEMU choose both.

        A port for a virtio-serial device written as JSON is written as JSON
        too: QEMU creates JSON devices after all the others, and a key=value
        port would look for the bus before the device that brings it exists.
        """
        controllers = self.virtio_serial_controllers()
        named = [entry for entry in controllers if entry.get('id')]
        if controllers and not named:
            # A virtio-serial device without id has a bus name QEMU makes up and
            # repeats between such devices; QEMU puts a port without bus= on the
            # first virtio-serial bus and gives it a free number itself.
            return None, None, all(entry.value.json is not None for entry in controllers)
        for controller in named:
            bus = controller.get('id') + '.0'
            as_json = controller.value.json is not None
            number = _lowest_free(self._used_port_numbers(bus, as_json))
            if number < self._max_ports(controller):
                return bus, number, as_json
        ident = self._free_device_id('virtio-serial')
        why = ('no virtio-serial device was there' if not controllers
               else 'every virtio-serial bus here is full')
        self.add('-device', format_opts([('driver', NEW_CONTROLLER_DRIVER), ('id', ident)], 'driver'), why)
        return ident + '.0', 1, False

    def _give_chardev(self, port, orphans):
        """Connect a stream port without backend to a spiceport chardev."""
        if orphans:
            chardev = orphans.pop(0)
            ident = chardev.get('id')
        else:
            ident, _unused = self._new_ids()
            self.add('-chardev', _stream_chardev_text(ident))
        port.value.set('chardev', ident)
        self.actions.append('connected %s to spiceport chardev %s' % (port.label(), ident))

    def _conform_chardev(self, chardev):
        if chardev.get('name') != STREAM_PORT_NAME:
            previous = chardev.get('name')
            chardev.value.set('name', STREAM_PORT_NAME)
            self.actions.append('set name=%s on %s (was %s; spice-server only streams from a port of '
                                'that name)' % (STREAM_PORT_NAME, chardev.label(),
                                                'not set' if previous is None else previous))

    def ensure_stream_port(self):
        """Exactly one spiceport stream port, on a virtio-serial bus."""
        ports = self.stream_ports()
        problems = [problem for problem in (self.port_problem(port) for port in ports) if problem]
        if problems:
            raise QemuCmdlineError(
                '%s; QEMU will not start with two ports named %s: remove or rename it first'
                % ('; '.join(problems), STREAM_PORT_NAME))
        with_backend = [port for port in ports if port.get('chardev')]
        keeper = (with_backend or ports or [None])[0]
        for port in ports:
            if port is keeper:
                continue
            chardev = self.chardev_by_id(port.get('chardev')) if port.get('chardev') else None
            self.remove(port, 'a second port named %s stops QEMU from starting' % STREAM_PORT_NAME)
            if chardev is not None and chardev.get('id') not in self.chardev_references():
                self.remove(chardev, 'served only the removed duplicate port')
        orphans = self.orphan_stream_chardevs()
        if keeper is not None:
            if keeper.get('chardev'):
                self._conform_chardev(self.chardev_by_id(keeper.get('chardev')))
            else:
                self._give_chardev(keeper, orphans)
        else:
            bus, number, as_json = self._place_new_port()
            if orphans:
                chardev_id = orphans.pop(0).get('id')
                _unused, device_id = self._new_ids()
            else:
                chardev_id, device_id = self._new_ids()
                self.add('-chardev', _stream_chardev_text(chardev_id))
            pairs = [('driver', 'virtserialport')]
            if bus is not None:
                pairs += [('bus', bus), ('nr', number)]
            pairs += [('chardev', chardev_id), ('id', device_id), ('name', STREAM_PORT_NAME)]
            if as_json:
                self.add('-device', json.dumps(dict(pairs), separators=(',', ':')))
            else:
                self.add('-device', format_opts([(key, str(value)) for key, value in pairs], 'driver'))
        for chardev in orphans:
            self.remove(chardev, 'a second spiceport named %s with no port' % STREAM_PORT_NAME)

    def remove_stream_port(self):
        """Remove the stream port and its spiceport chardev; the virtio-serial device stays."""
        for port in self.stream_ports():
            problem = self.port_problem(port)
            if problem:
                self.warnings.append('left %s alone: %s' % (port.label(), problem))
                continue
            chardev = self.chardev_by_id(port.get('chardev')) if port.get('chardev') else None
            self.remove(port, 'the stream port')
            if chardev is not None and chardev.get('id') not in self.chardev_references():
                self.remove(chardev, "the stream port's chardev")
        for chardev in self.orphan_stream_chardevs():
            self.remove(chardev, 'a spiceport named %s with no port' % STREAM_PORT_NAME)


def _parse_number(text, what):
    for base in (0, 10):
        try:
            return int(text, base)
        except ValueError:
            pass
    raise QemuCmdlineError('%s, which is not a number' % what)


def _lowest_free(used):
    number = 1
    while number in used:
        number += 1
    return number


def _stream_chardev_text(ident):
    return format_opts([('backend', 'spiceport'), ('name', STREAM_PORT_NAME), ('id', ident)], 'backend')


# ---------------------------------------------------------------- secrets, for display

# What is shown in place of a secret; the same placeholder Ansible uses for no_log.
MASK = '********'

# Keys of QEMU option strings whose value is itself a secret (the part after the
# last dot counts, so ``file.password=`` of ``-drive`` is one too):
# ``-spice password=`` and ``x509-key-password=``, ``-iscsi password=``, the
# curl block driver's ``cookie=``.  ``passphrase`` is no QEMU key today; a
# value under that name is a secret wherever it turns up.  Keys ending in
# ``-secret`` (``password-secret=``, ``key-secret=``), ``passwordid=`` and
# ``keyid=`` name a ``-object secret`` and stay; so does ``iv=``, the
# initialisation vector of an encrypted ``data=``, which is not secret.
SECRET_KEYS = frozenset(('password', 'x509-key-password', 'passphrase', 'cookie'))
# ``-vnc password=on`` (also ``-display vnc=...,password=on``) is a switch: the
# password itself is set over the monitor.
_SWITCH_PASSWORD_OPTIONS = frozenset(('vnc', 'display'))
_BOOLEAN_WORDS = frozenset(('on', 'off', 'yes', 'no', 'true', 'false'))
# Credentials written inside a value: ``scheme://user:password@host`` (curl,
# ``iscsi://user%password@host`` for iSCSI) and the Ceph key of an
# ``rbd:pool/image:key=...`` filename.
_URL_PASSWORD = re.compile(r'(\b[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:%]*[:%])([^@/\s]+)(?=@)')
_RBD_KEY = re.compile(r'(\brbd:[^\s]*?:key=)((?:\\.|[^:\\,\s])+)')


def _is_secret_key(option, kind, key, value):
    """Whether ``key=value`` of option ``-<option>`` (of type ``kind``) holds a secret."""
    leaf = key.rsplit('.', 1)[-1]
    if leaf == 'data':
        return option == 'object' and kind == 'secret'
    if leaf not in SECRET_KEYS:
        return False
    if leaf == 'password' and option in _SWITCH_PASSWORD_OPTIONS and value.lower() in _BOOLEAN_WORDS:
        return False
    return True


def _mask_inline(text, secrets):
    """``text`` with passwords in URLs and Ceph keys in rbd filenames masked."""
    def hide(match):
        secrets.add(match.group(2))
        return match.group(1) + MASK
    return _RBD_KEY.sub(hide, _URL_PASSWORD.sub(hide, text))


def _mask_json(node, option, secrets):
    """Mask secrets inside a JSON option value in place; return whether anything was masked."""
    masked = False
    if isinstance(node, dict):
        kind = node.get('qom-type')
        keys = list(node)
    elif isinstance(node, list):
        kind, keys = None, range(len(node))
    else:
        return False
    for key in keys:
        value = node[key]
        if isinstance(value, str):
            if isinstance(key, str) and _is_secret_key(option, kind, key, value):
                secrets.add(value)
                node[key] = MASK
                masked = True
            else:
                node[key] = _mask_inline(value, secrets)
                masked = masked or node[key] != value
        else:
            masked = _mask_json(value, option, secrets) or masked
    return masked


def _mask_value(option, text, secrets):
    """The value of ``-<option>`` with its secrets masked; the text itself when it has none."""
    if text.lstrip().startswith('{'):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(',', ':')) if _mask_json(value, option, secrets) else text
    opts = QemuOpts(text)
    first = opts.items[0] if opts.items else None
    kind = first.raw if first is not None and '=' not in first.raw else opts.get('qom-type')
    changed = False
    for index, item in enumerate(opts.items):
        if '=' not in item.raw:
            raw = _mask_inline(item.raw, secrets)
        elif _is_secret_key(option, kind, item.key, item.value):
            secrets.update((item.value, item.raw[len(item.key) + 1:]))
            raw = '%s=%s' % (item.key, MASK)
        else:
            raw = '%s=%s' % (item.key, _mask_inline(item.raw[len(item.key) + 1:], secrets))
        if raw != item.raw:
            opts.items[index] = OptItem(item.key, None, raw)
            changed = True
    return opts.text if changed else text


def mask_secrets(args):
    """``(masked, secrets)``: a copy of an argument list fit to show, and the secrets it hid.

    Secrets are the values of keys that hold one (:data:`SECRET_KEYS`; ``data=``
    of ``-object secret``), passwords inside URLs and Ceph keys inside rbd
    filenames, in key=value and JSON option values alike.  Each is replaced by
    :data:`MASK`; every other character stays.  ``secrets`` holds each hidden
    value as read and as written (``a,b`` and ``a,,b``), so a caller can hide
    it wherever else it turns up.  Never raises: a list QEMU would refuse is
    masked as far as it can be read, for error messages.
    """
    masked, secrets = [], set()
    option = None  # the option whose value the next argument is, as QEMU reads it
    for arg in args:
        if not isinstance(arg, str):
            masked.append(arg)
            option = None
        elif option is not None:
            masked.append(_mask_value(option, arg, secrets))
            option = None
        elif option_name(arg) is None:  # a disk image given without an option, or a stray value
            masked.append(_mask_value(None, arg, secrets))
        elif '=' in arg:  # '-spice=VALUE', which QEMU refuses: still never shown
            token, value = arg.split('=', 1)
            masked.append('%s=%s' % (token, _mask_value(option_name(token), value, secrets)))
        else:
            masked.append(arg)
            if option_name(arg) not in NO_ARG_OPTIONS:
                option = option_name(arg)
    secrets.discard('')
    return masked, secrets


# ---------------------------------------------------------------- whole requests


class StreamingResult:
    """What :func:`apply_streaming` made of an argument list."""

    __slots__ = ('args', 'actions', 'warnings')

    def __init__(self, args, actions, warnings):
        self.args = args
        self.actions = actions
        self.warnings = warnings


def check_request(streaming_mode=None, agent_channel=None):
    """Raise QemuCmdlineError for values outside the shared choices."""
    if streaming_mode is not None and streaming_mode not in STREAMING_MODES:
        raise QemuCmdlineError('streaming_mode must be one of %s, not %r'
                               % (', '.join(STREAMING_MODES), streaming_mode))
    if agent_channel is not None and agent_channel not in AGENT_CHANNEL_STATES:
        raise QemuCmdlineError('agent_channel must be one of %s, not %r'
                               % (', '.join(AGENT_CHANNEL_STATES), agent_channel))


def apply_streaming(args, streaming_mode=None, agent_channel=None, require_spice=True):
    """Bring a QEMU argument list to the asked streaming state.

    ``None`` for ``streaming_mode`` or ``agent_channel`` leaves that part alone.
    With ``require_spice`` (the module), a request that needs SPICE fails on a
    command line without ``-spice``; without it (the filter, whose input may be
    a fragment), ``-spice streaming-video=MODE`` is added as an option of its
    own, which QEMU merges with the ``-spice`` option given elsewhere.

    Returns a StreamingResult; raises QemuCmdlineError, having changed nothing,
    when the arguments cannot carry the request.
    """
    check_request(streaming_mode, agent_channel)
    cmdline = CommandLine(args)
    needs_spice = streaming_mode is not None or agent_channel == 'present'
    if needs_spice and require_spice and not cmdline.has_spice:
        raise QemuCmdlineError(
            'there is no -spice option to amend: a streaming mode and a spiceport channel need '
            'QEMU\'s SPICE server; add -spice (for example "-spice port=5930,disable-ticketing=on" '
            'or "-spice unix=on,addr=/run/qemu/NAME.sock") first')
    if streaming_mode not in (None, 'off') and cmdline.has_spice_app:
        raise QemuCmdlineError(
            '-display spice-app sets streaming-video=off itself, after every -spice option '
            '(QEMU ui/spice-app.c), so streaming mode %s cannot take effect; run the SPICE '
            'server with -spice and -display none instead' % streaming_mode)
    if any(option.name == 'readconfig' for option in cmdline.options):
        cmdline.warnings.append('the arguments use -readconfig; devices and chardevs defined in '
                                'that file were not considered')
    if agent_channel == 'present':
        cmdline.ensure_stream_port()
    elif agent_channel == 'absent':
        cmdline.remove_stream_port()
    if streaming_mode is not None:
        cmdline.set_streaming_mode(streaming_mode)
    return StreamingResult(cmdline.result(), cmdline.actions, cmdline.warnings)


# ---------------------------------------------------------------- systemd environment files

_ENV_WHITESPACE = ' \t\n\r'
_ENV_NEWLINE = '\n\r'
_ENV_COMMENTS = '#;'
_SHELL_NEED_ESCAPE = '"\\`$'
_VARIABLE_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
# Words made only of these need no quoting for systemd or a POSIX shell.
_SAFE_WORD = re.compile(r'^[A-Za-z0-9_@%+=:,./-]+$')


class EnvAssignment:
    """One ``KEY=VALUE`` of an environment file: its value and where its text is."""

    __slots__ = ('key', 'value', 'start', 'end', 'line', 'text_after_quote')

    def __init__(self, key, value, start, end, line, text_after_quote):
        self.key = key
        self.value = value
        self.start = start
        self.end = end
        self.line = line
        self.text_after_quote = text_after_quote


def parse_env_text(text):
    """The assignments of a systemd ``EnvironmentFile``, as systemd reads them.

    A transcription of systemd's ``parse_env_file_internal()`` (src/basic/env-file.c)
    that also records where each assignment's text starts and ends, so the
    assignment can be replaced with everything around it kept byte for byte.
    Raises QemuCmdlineError on a quote that is never closed (systemd would
    swallow the rest of the file into that value).
    """
    assignments = []
    state = 'PRE_KEY'
    key, value = [], []
    start = 0
    key_line = 1
    current_line = 1
    value_trailing_ws = None
    after_quote = gap_after_quote = text_after_quote = False
    quote_line = 0

    def push(end):
        raw_value = ''.join(value)
        if state == 'VALUE' and value_trailing_ws is not None:
            raw_value = raw_value[:value_trailing_ws]
        assignments.append(EnvAssignment(''.join(key).rstrip(_ENV_WHITESPACE), raw_value,
                                         start, end, key_line, text_after_quote))

    for pos, char in enumerate(text):
        if state == 'PRE_KEY':
            if char in _ENV_COMMENTS:
                state = 'COMMENT'
            elif char not in _ENV_WHITESPACE:
                state, key, value, start, key_line = 'KEY', [char], [], pos, current_line
                after_quote = gap_after_quote = text_after_quote = False
        elif state == 'KEY':
            if char in _ENV_NEWLINE:
                state = 'PRE_KEY'
            elif char == '=':
                state, value_trailing_ws = 'PRE_VALUE', None
            else:
                key.append(char)
        elif state == 'PRE_VALUE':
            if char in _ENV_NEWLINE:
                push(pos)
                state = 'PRE_KEY'
            elif char in _ENV_WHITESPACE:
                gap_after_quote = after_quote
            else:
                # systemd glues "a" b into ab; a shell would run b: refuse that.
                text_after_quote = text_after_quote or gap_after_quote
                if char == "'":
                    state, quote_line = 'SINGLE_QUOTE_VALUE', current_line
                elif char == '"':
                    state, quote_line = 'DOUBLE_QUOTE_VALUE', current_line
                elif char == '\\':
                    state = 'VALUE_ESCAPE'
                else:
                    state = 'VALUE'
                    value.append(char)
        elif state == 'VALUE':
            if char in _ENV_NEWLINE:
                push(pos)
                state = 'PRE_KEY'
            elif char == '\\':
                state, value_trailing_ws = 'VALUE_ESCAPE', None
            else:
                if char not in _ENV_WHITESPACE:
                    value_trailing_ws = None
                elif value_trailing_ws is None:
                    value_trailing_ws = len(value)
                value.append(char)
        elif state == 'VALUE_ESCAPE':
            state = 'VALUE'
            if char not in _ENV_NEWLINE:
                value.append(char)
        elif state == 'SINGLE_QUOTE_VALUE':
            if char == "'":
                state, after_quote = 'PRE_VALUE', True
            else:
                value.append(char)
        elif state == 'DOUBLE_QUOTE_VALUE':
            if char == '"':
                state, after_quote = 'PRE_VALUE', True
            elif char == '\\':
                state = 'DOUBLE_QUOTE_VALUE_ESCAPE'
            else:
                value.append(char)
        elif state == 'DOUBLE_QUOTE_VALUE_ESCAPE':
            state = 'DOUBLE_QUOTE_VALUE'
            if char in _SHELL_NEED_ESCAPE:
                value.append(char)
            elif char != '\n':
                value.extend(('\\', char))
        elif state == 'COMMENT':
            if char == '\\':
                state = 'COMMENT_ESCAPE'
            elif char in _ENV_NEWLINE:
                state = 'PRE_KEY'
        elif state == 'COMMENT_ESCAPE':
            state = 'COMMENT'
        if char == '\n':
            current_line += 1
    if state in ('SINGLE_QUOTE_VALUE', 'DOUBLE_QUOTE_VALUE', 'DOUBLE_QUOTE_VALUE_ESCAPE'):
        raise QemuCmdlineError('the value of %s (line %d) opens a quote at line %d that is never '
                               'closed' % (''.join(key).strip(), key_line, quote_line))
    if state in ('PRE_VALUE', 'VALUE', 'VALUE_ESCAPE'):
        push(len(text))
    return assignments


def split_words(value):
    """Split a variable's value into arguments as systemd does for ``$VAR`` in ``ExecStart=``.

    systemd's ``replace_env_argv()`` splits with ``EXTRACT_RELAX|EXTRACT_UNQUOTE``:
    whitespace separates, single and double quotes group and are removed, and a
    backslash (quoted or not) is dropped and the next character kept.  systemd
    quietly accepts an unbalanced quote or a trailing backslash; here they are
    errors, because what they mean is a guess.
    """
    words = []
    word = None
    quote = None
    pos, end = 0, len(value)
    while pos < end:
        char = value[pos]
        if char == '\\':
            if pos + 1 >= end:
                raise QemuCmdlineError('the arguments end with a lone backslash')
            word = (word or '') + value[pos + 1]
            pos += 2
            continue
        if quote:
            if char == quote:
                quote = None
            else:
                word += char
        elif char in "'\"":
            quote = char
            word = word or ''
        elif char in _ENV_WHITESPACE:
            if word is not None:
                words.append(word)
                word = None
        else:
            word = (word or '') + char
        pos += 1
    if quote:
        raise QemuCmdlineError('the arguments have an unbalanced %s quote' % (
            'single' if quote == "'" else 'double'))
    if word is not None:
        words.append(word)
    return words


def quote_word(word):
    """Quote one argument so that systemd's split and a POSIX shell both give it back."""
    if _SAFE_WORD.match(word):
        return word
    if "'" not in word and '\\' not in word:
        # Single quotes keep everything literal for the shell; systemd would
        # treat a backslash inside them as an escape, hence the test above.
        return "'%s'" % word
    return '"%s"' % re.sub(r'([\\"$`])', r'\\\1', word)


def join_words(args):
    """The value text of an argument list: the inverse of :func:`split_words`."""
    return ' '.join(quote_word(arg) for arg in args)


def env_assignment_text(variable, args):
    """``VARIABLE="..."`` holding ``args``, read alike by systemd and a POSIX shell."""
    inner = join_words(args)
    return '%s="%s"' % (variable, re.sub(r'([\\"$`])', r'\\\1', inner))


class EnvFileArgs:
    """The argument list held in one variable of an environment file's text."""

    def __init__(self, text, variable):
        if not _VARIABLE_NAME.match(variable):
            raise QemuCmdlineError('%r is not a valid environment variable name' % variable)
        self.text = text
        self.variable = variable
        matches = [item for item in parse_env_text(text) if item.key == variable]
        if not matches:
            raise QemuCmdlineError(
                'there is no %s= line; the file must hold the QEMU arguments in one line such as '
                '%s="-machine q35 -spice port=5930,disable-ticketing=on" (or set the variable '
                'option to the name the file uses)' % (variable, variable))
        # systemd lets a later assignment override an earlier one.
        self.assignment = matches[-1]
        self.overridden = len(matches) - 1
        if self.assignment.text_after_quote:
            raise QemuCmdlineError(
                '%s at line %d has text after its closing quote; systemd would glue it to the '
                'value (a shell would not): move comments to a line of their own'
                % (variable, self.assignment.line))
        try:
            self.args = split_words(self.assignment.value)
        except QemuCmdlineError as err:
            raise QemuCmdlineError('%s at line %d: %s' % (variable, self.assignment.line, err)) from None

    def with_args(self, args):
        """The file's text with this variable holding ``args``; everything else as it was."""
        return (self.text[:self.assignment.start] + env_assignment_text(self.variable, args)
                + self.text[self.assignment.end:])

    def masked_text(self, masked_args, secrets):
        """The file's text fit to show: this variable holds ``masked_args`` (see :func:`mask_secrets`).

        The assignment keeps its own layout when masking each secret where it is
        written gives exactly ``masked_args``; otherwise (a secret written with
        escapes, or one that also occurs as another word) the assignment is shown
        as the module writes it.
        """
        if masked_args == self.args:
            return self.text
        start, end = self.assignment.start, self.assignment.end
        region = self.text[start:end]
        for secret in sorted(secrets, key=len, reverse=True):
            region = region.replace(secret, MASK)
        candidate = self.text[:start] + region + self.text[end:]
        try:
            if EnvFileArgs(candidate, self.variable).args == masked_args:
                return candidate
        except QemuCmdlineError:
            pass
        return self.with_args(masked_args)


def resolve_env_file(path, variable):
    """The regular file that ``path`` names, symbolic links followed: the file to read and replace.

    Like ``ansible.builtin.lineinfile``, a link is followed and the file it
    points to is edited, so the link stays a link.  Raises QemuCmdlineError,
    naming ``path``, when there is no such file, the link dangles or loops, or
    the file is not a regular file.
    """
    try:
        info = os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise QemuCmdlineError(
                '%s is a symbolic link that never reaches a file (%s); point it at the file that '
                'holds %s=, or give that file as path' % (path, _link_chain(path), variable)) from None
        if err.errno == errno.ENOENT and os.path.islink(path):
            raise QemuCmdlineError(
                '%s is a symbolic link to %s, which does not exist; create that file with a line '
                '%s="<QEMU arguments>", or point the link at the file that holds them'
                % (path, os.path.realpath(path), variable)) from None
        if err.errno == errno.ENOENT:
            raise QemuCmdlineError(
                '%s does not exist; create it first (for example with ansible.builtin.template) with a '
                'line %s="<QEMU arguments>"' % (path, variable)) from None
        raise QemuCmdlineError('cannot read %s: %s' % (path, err.strerror)) from None
    real = os.path.realpath(path)
    if not stat.S_ISREG(info.st_mode):
        through = '' if real == os.path.abspath(path) else ' (it leads to %s)' % real
        raise QemuCmdlineError('%s is not a regular file%s' % (path, through))
    return real


def _link_chain(path, hops=8):
    """``a -> b -> a``: the links followed from ``path`` until one repeats, for a message."""
    chain = [path]
    current = os.path.abspath(path)
    seen = {current}
    for _unused in range(hops):
        try:
            target = os.readlink(current)
        except OSError:
            break
        current = os.path.normpath(os.path.join(os.path.dirname(current), target))
        chain.append(target)
        if current in seen:
            return ' -> '.join(chain)
        seen.add(current)
    return ' -> '.join(chain) + ' -> ...'
