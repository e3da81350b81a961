# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""QEMU's option syntax: option names, ``key=value,...`` strings and JSON values.

Read the way QEMU reads them: :class:`QemuOpts` parses a ``key=value,...``
string as QEMU's QemuOpts does (``,,`` is a literal comma, a bare word is a
flag, the last of two equal keys counts) and keeps each item's text, so an
edited string changes only the items that were edited; :class:`OptionValue` is
the value of a ``-device`` or ``-chardev``, written as such a string or as
JSON.  :class:`QemuCmdlineError` is the one error of the collection's QEMU
command-line code (this parser, ``qemu_command_line``, ``qemu_env_files``).

Pure: nothing here runs QEMU, reads a file or talks to Ansible.
"""

from __future__ import annotations

import json

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


class QemuCmdlineError(ValueError):
    """A command line or file this collection cannot bring to the asked state."""


def option_name(token):
    """``'spice'`` for ``-spice`` and ``--spice`` (QEMU treats them alike); ``None`` otherwise."""
    if token.startswith('--') and len(token) > 2:
        return token[2:]
    if token.startswith('-') and len(token) > 1:
        return token[1:]
    return None


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
