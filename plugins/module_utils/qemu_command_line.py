# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A QEMU command line and the edits that give it a SPICE streaming state.

Nothing here runs QEMU or talks to Ansible: functions take an argument list
(``['-machine', 'q35', '-spice', 'port=5900', ...]``) and return a new list and
what they changed, in words a user can read.  The ``qemu_cmdline`` module and
the ``qemu_args`` filter are thin layers over :func:`apply_streaming`.

Managed parts are found by identity, never appended blindly:

* the stream port: a ``virtserialport`` device named ``org.spice-space.stream.0``
  and the ``spiceport`` chardev it uses;
* the virtio-serial bus: a ``virtio-serial*`` device;
* the settings of SPICE (the streaming mode, the compressions): each the key of
  the ``-spice`` option(s) its record names (``streaming-video``,
  ``image-compression``, ...; ``settings.GRAPHICS_SETTINGS``).

Every other argument is returned unchanged, character for character; an edited
option keeps its other keys as they were written.

:class:`CommandLine` knows QEMU (options, devices, buses, ``-spice`` keys); the
last section, "the settings", is the one place that maps each streaming
setting onto its part of the command line.  Option values are parsed by
``qemu_options``; secrets are masked by ``qemu_secrets``; the systemd
environment file that holds a command line is ``qemu_env_files``.
"""

from __future__ import annotations

import json

from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import (
    NO_ARG_OPTIONS,
    OptionValue,
    OptItem,
    QemuCmdlineError,
    QemuOpts,
    format_opts,
    option_name,
)
from ansible_collections.spice.streaming.plugins.module_utils.qemu_secrets import mask_secrets
from ansible_collections.spice.streaming.plugins.module_utils import settings
from ansible_collections.spice.streaming.plugins.module_utils.settings import (
    GRAPHICS_SETTINGS,
    STREAM_PORT_NAME,
)

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

    # -------------------------------------------------------------- -spice keys

    def set_spice_key(self, key, value, unset):
        """Give ``key`` of the ``-spice`` option(s) this value; ``unset`` is what QEMU runs without it.

        QEMU merges every ``-spice`` option into one and the last ``key=`` it
        reads counts: that one is set (or the key is added to the last
        ``-spice``), earlier ones are removed.
        """
        occurrences = [(option, opts, index) for option, opts in self.spice
                       for index in opts.indexes(key)]
        if not occurrences:
            if self.spice:
                option, opts = self.spice[-1]
                opts.set(key, value)
                self._dirty_spice.add(option.index)
                where = option.where
            else:
                # QEMU merges every -spice option into one, so a -spice of its own
                # joins the -spice option of the command line this fragment goes into.
                self.add('-spice', '%s=%s' % (key, value))
                return
            self.actions.append('set %s=%s in %s (was not set, which QEMU runs as %s)'
                                % (key, value, where, unset))
            return
        last_option, last_opts, last_index = occurrences[-1]
        previous = last_opts.items[last_index].value
        if previous != value:
            last_opts.items[last_index] = OptItem(key, value, '%s=%s' % (key, value))
            self._dirty_spice.add(last_option.index)
            self.actions.append('set %s=%s in %s (was %s)' % (key, value, last_option.where, previous))
        earlier = occurrences[:-1]
        for option, opts, index in reversed(earlier):
            opts.remove(index)
            self._dirty_spice.add(option.index)
        if earlier:
            self.actions.append('removed %d earlier %s= key%s that the last one overrides'
                                % (len(earlier), key, '' if len(earlier) == 1 else 's'))

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


# ---------------------------------------------------------------- the settings

# The one place that maps the settings (settings.SETTINGS) onto the command line.
# CommandLine above knows QEMU, not the settings.
#
#   a graphics setting  -spice KEY=VALUE, KEY the record's qemu_key
#                       (streaming-video=, image-compression=, ...); not written,
#                       QEMU runs the record's runs_when_absent;
#                       CommandLine.set_spice_key.  Nothing changes in a running
#                       QEMU: a new command line takes effect when QEMU starts.
#   agent_channel       the stream port, a -chardev spiceport and a -device
#                       virtserialport on a virtio-serial bus,
#                       CommandLine.ensure_stream_port / remove_stream_port


def check_request(streaming_mode=None, agent_channel=None, **values):
    """Raise QemuCmdlineError for unknown settings and values outside the shared choices."""
    values.update(streaming_mode=streaming_mode, agent_channel=agent_channel)
    problems = settings.check_values(values)
    if problems:
        raise QemuCmdlineError('; '.join(problems))


def check_command_line(cmdline, values, require_spice):
    """Raise QemuCmdlineError when ``cmdline`` cannot carry the settings asked for (``{name: value}``)."""
    if settings.needs_spice(values) and require_spice and not cmdline.has_spice:
        raise QemuCmdlineError(
            'there is no -spice option to amend: %s need%s QEMU\'s SPICE server; add -spice (for '
            'example "-spice port=5930,disable-ticketing=on" or "-spice unix=on,addr=/run/qemu/NAME.sock") '
            'first' % (_asked_words(values), 's' if len(_asked(values)) == 1 else ''))
    if not cmdline.has_spice_app:
        return
    for item in GRAPHICS_SETTINGS:
        value = values.get(item.name)
        if item.spice_app_forces is not None and value not in (None, item.spice_app_forces):
            raise QemuCmdlineError(
                '-display spice-app sets %s=%s itself, after every -spice option (QEMU '
                'ui/spice-app.c), so %s %s cannot take effect; run the SPICE server with -spice and '
                '-display none instead' % (item.qemu_key, item.spice_app_forces, item.noun, value))


def _asked(values):
    return [settings.BY_NAME[name] for name, value in values.items()
            if settings.BY_NAME[name].needs_spice(value)]


def _asked_words(values):
    """What a request that needs SPICE asks for, in words: ``a streaming mode and a spiceport channel``."""
    words = ['a spiceport channel' if item is settings.AGENT_CHANNEL else 'the %s' % item.noun
             for item in _asked(values)]
    return ' and '.join(words)


def write_settings(cmdline, values):
    """Each setting asked for (not ``None``), written into ``cmdline``: the stream port first."""
    agent_channel = values.get(settings.AGENT_CHANNEL.name)
    if agent_channel == 'present':
        cmdline.ensure_stream_port()
    elif agent_channel == 'absent':
        cmdline.remove_stream_port()
    for item in GRAPHICS_SETTINGS:
        value = values.get(item.name)
        if value is None:
            continue
        if item.spice_app_forces is not None and cmdline.has_spice_app and not cmdline.spice:
            # -display spice-app without -spice runs this key's forced value itself;
            # check_command_line lets only that value get here, so there is nothing to write.
            continue
        cmdline.set_spice_key(item.qemu_key, value, item.runs_when_absent)


# ---------------------------------------------------------------- whole requests


class StreamingResult:
    """What :func:`apply_streaming` made of an argument list."""

    __slots__ = ('args', 'actions', 'warnings')

    def __init__(self, args, actions, warnings):
        self.args = args
        self.actions = actions
        self.warnings = warnings


def apply_streaming(args, streaming_mode=None, agent_channel=None, require_spice=True, **values):
    """Bring a QEMU argument list to the asked streaming state.

    Every setting of ``settings.SETTINGS`` may be given by name (the first two
    also by position); ``None`` leaves that part alone.  With ``require_spice``
    (the module), a request that needs SPICE fails on a command line without
    ``-spice``; without it (the filter, whose input may be a fragment),
    ``-spice KEY=VALUE`` is added as an option of its own, which QEMU merges
    with the ``-spice`` option given elsewhere.

    Returns a StreamingResult; raises QemuCmdlineError, having changed nothing,
    when the arguments cannot carry the request.
    """
    check_request(streaming_mode, agent_channel, **values)
    values = settings.values_from(dict(values, streaming_mode=streaming_mode, agent_channel=agent_channel))
    cmdline = CommandLine(args)
    check_command_line(cmdline, values, require_spice)
    if any(option.name == 'readconfig' for option in cmdline.options):
        cmdline.warnings.append('the arguments use -readconfig; devices and chardevs defined in '
                                'that file were not considered')
    write_settings(cmdline, values)
    return StreamingResult(cmdline.result(), cmdline.actions, cmdline.warnings)
