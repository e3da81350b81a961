# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the streaming modules: an explicit ``null`` means "leave it".

``streaming_mode: "{{ mode }}"`` with ``mode`` null reaches a module as ``None``,
which AnsibleModule refuses for an option with choices ("must be one of: off,
all, filter, got: None").  The collection documents ``null`` as "leave that part
as it is", the same as leaving the option out, so the action plugin of each
streaming module drops those ``None`` values before the module runs.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

# The options whose null means "leave it as it is" (every setting, aliases included);
# in libvirt_domain's overrides, null means "the task's value".
from ansible_collections.spice.streaming.plugins.module_utils.settings import LEAVE_WHEN_NULL


def _without_nulls(args):
    """``args`` without the null streaming options, also in nested options and lists of them.

    libvirt_domain's ``overrides`` and libvirt_domain_info's ``compare_with`` (and its
    ``overrides``) hold the same options one or two levels down.
    """
    return {key: _nested(value) for key, value in args.items()
            if not (key in LEAVE_WHEN_NULL and value is None)}


def _nested(value):
    if isinstance(value, dict):
        return _without_nulls(value)
    if isinstance(value, list):
        return [_without_nulls(item) if isinstance(item, dict) else item for item in value]
    return value


class LeaveNullActionBase(ActionBase):
    """Run the module of the same name without the streaming options that are null."""

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(self._execute_module(module_name=self._task.resolved_action,
                                           module_args=self._module_args(), task_vars=task_vars))
        return result

    def _module_args(self):
        """The task's arguments without the null streaming options."""
        module_args = _without_nulls(self._task.args)
        return module_args
