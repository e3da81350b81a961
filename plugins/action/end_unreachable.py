# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spice.streaming.end_unreachable: end the host as unreachable, without connecting to it
(see plugins/modules/end_unreachable.py for why)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    """Return an unreachable result with ``msg``; nothing is sent to the host."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('msg',))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        msg = self._task.args.get('msg')
        if not msg:
            raise AnsibleActionFail('end_unreachable needs msg: why the host did not answer')
        result.update({'changed': False, 'unreachable': True, 'msg': str(msg)})
        return result
