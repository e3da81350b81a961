# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``qemu_args`` filter: a QEMU argument list in a SPICE streaming state.

Documentation lives beside this file, in ``qemu_args.yml``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.spice.streaming.plugins.module_utils.qemu_command_line import apply_streaming
from ansible_collections.spice.streaming.plugins.module_utils.qemu_env_files import split_words
from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import QemuCmdlineError
from ansible_collections.spice.streaming.plugins.module_utils.settings import check_values

display = Display()


def _argument_list(value):
    """The filter's input as a list of strings: a list, a command-line string, or nothing."""
    if value is None:
        return []
    if isinstance(value, str):
        return split_words(value)
    if not isinstance(value, Sequence):
        raise QemuCmdlineError('expects a list of QEMU arguments (or a string of them), not %s'
                               % type(value).__name__)
    args = []
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise QemuCmdlineError('argument %d is %r, not a string' % (index + 1, item))
        args.append(str(item))
    return args


def qemu_args(value, streaming_mode=None, agent_channel=None, **settings):
    """Return ``value`` (QEMU arguments) brought to the asked streaming state.

    Every setting of ``module_utils/settings.py`` is a keyword (``image_compression='glz'``);
    the first two may also be given by position, as they always could.
    """
    try:
        # Only settings are keywords here (require_spice is the module's, not the filter's).
        problems = check_values(settings)
        if problems:
            raise QemuCmdlineError('; '.join(problems))
        outcome = apply_streaming(_argument_list(value), streaming_mode, agent_channel,
                                  require_spice=False, **settings)
    except QemuCmdlineError as err:
        raise AnsibleFilterError('spice.streaming.qemu_args: %s' % err) from err
    for warning in outcome.warnings:
        display.warning('spice.streaming.qemu_args: %s' % warning)
    return outcome.args


class FilterModule:
    """SPICE streaming filters for QEMU command lines."""

    def filters(self):
        return {'qemu_args': qemu_args}
