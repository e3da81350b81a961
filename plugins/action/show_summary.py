# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spice.streaming.show_summary: print lines on the controller's display, whatever the stdout
callback hides (see plugins/modules/show_summary.py for why)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()


class ActionModule(ActionBase):
    """Print ``msg`` through Ansible's display and return it, changing nothing."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('msg',))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        msg = self._task.args.get('msg')
        if msg is None:
            raise AnsibleActionFail('show_summary needs msg: the lines to print (a list of strings, or a string)')
        lines = [str(item) for item in msg] if isinstance(msg, (list, tuple)) else str(msg).splitlines()
        # Printed by the controller's display, not by the stdout callback: it shows with
        # ANSIBLE_DISPLAY_OK_HOSTS=false too (an ok result would be hidden there).
        display.display('\n'.join(lines))
        result.update({'changed': False, 'summary': lines})
        return result
