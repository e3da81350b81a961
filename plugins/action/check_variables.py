# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Warn about variables of the collection that have no effect (plugin_utils/variables.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.spice.streaming.plugins.plugin_utils import variables


class ActionModule(ActionBase):
    """Runs on the controller only; see the documentation of spice.streaming.check_variables."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        result.update(changed=False)
        result.update(variables.check(task_vars, self._task.args.get('hosts')))
        return result
