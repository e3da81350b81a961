# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names a message gives the options of a module: the caller's, where the caller renames them.

Messages tell the user what to set ("set force_off to power it off").  A user of the
``host_streaming`` role sets ``host_streaming_force_off``, never ``force_off``, so the
role hands the modules its variable names (the internal option ``option_names``) and
every message names what that user can set.  Without a mapping, messages name the
module's own options.
"""

from __future__ import annotations


class OptionNames:
    """``names('force_off')`` is the name under which the caller sets the option ``force_off``."""

    __slots__ = ('_names',)

    def __init__(self, names=None):
        self._names = dict(names or {})

    def __call__(self, option):
        return self._names.get(option, option)

    def setting(self, option, value):
        """``force_off=true`` in the caller's words: ``host_streaming_force_off=true``."""
        return '%s=%s' % (self(option), value)

    def entry(self, option, number, singular):
        """The ``number``-th entry of a list option: ``override #2``, or ``host_streaming_overrides #2``."""
        name = self(option)
        return '%s #%d' % (singular if name == option else name, number)

    def renamed(self):
        return bool(self._names)


MODULE_NAMES = OptionNames()


def option_names_problem(names, options):
    """Why a mapping given as ``option_names`` cannot be used, or None (``options``: the module's)."""
    unknown = sorted(set(names) - set(options))
    if unknown:
        return ('option_names maps options this module does not have: %s (it is set by the '
                "collection's roles; leave it out in a playbook)" % ', '.join(unknown))
    return None
