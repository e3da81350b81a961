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
        hostvars = task_vars['hostvars']
        play_hosts = list(task_vars.get('ansible_play_hosts_all') or [])
        batch = list(task_vars.get('ansible_play_batch') or play_hosts)
        hosts = self._task.args.get('hosts')
        if hosts is None:
            hosts = task_vars.get('groups', {}).get('all', play_hosts)
        result.update(changed=False, unknown_variables={}, warnings=[])
        if play_hosts and batch and batch[0] != play_hosts[0]:
            # A later batch of a play with serial: the first one checked everything.
            result['skipped_reason'] = 'checked in the first batch of the play'
            return result
        names_by_host = {host: [name for name in hostvars[host] if name.startswith(variables.PREFIXES)]
                         for host in hosts}
        known = variables.known_names()
        for name, where in variables.unknown_variables(names_by_host, known).items():
            result['unknown_variables'][name] = {'hosts': sorted(where), 'closest': variables.closest(name, known)}
        result['warnings'].extend(variables.unknown_variable_warnings(names_by_host, known))
        serial = {host: hostvars[host]['streaming_serial'] for host in play_hosts
                  if 'streaming_serial' in hostvars[host]}
        warning = variables.ignored_serial_warning(serial, len(batch), len(play_hosts))
        if warning:
            result['warnings'].append(warning)
        return result
