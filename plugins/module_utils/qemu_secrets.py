# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets of a QEMU command line, masked for display.

:func:`mask_secrets` gives a copy of an argument list fit to show (passwords
and secret data masked, each by :data:`secrets.MASK`) and the values it hid;
the real list is what QEMU needs and what is written.  ``qemu_cmdline`` masks
its results, diffs and messages with it, ``domain_xml`` the
``<qemu:commandline>`` of a libvirt definition; ``secrets`` then keeps the
values it found out of any other text.

Pure: nothing here runs QEMU or talks to Ansible.
"""

from __future__ import annotations

import json
import re

from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import (
    NO_ARG_OPTIONS,
    OptItem,
    QemuOpts,
    option_name,
)
from ansible_collections.spice.streaming.plugins.module_utils.secrets import MASK


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
