# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spice.streaming.fleet_report: write the fleet report on the controller (docs: plugins/modules/fleet_report.py)."""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.spice.streaming.plugins.filter.streaming_report import streaming_report
from ansible_collections.spice.streaming.plugins.plugin_utils import report_files

# The host variables of a guest that map it to its domain, and what its agent was found doing.
GUEST_VARIABLES = ('stream_agent_domain', 'stream_agent_hypervisor', 'streaming_agent_status')


class ActionModule(ActionBase):
    """Compute the report's content, render index.html and report.md, write what changed."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    ARGUMENT_SPEC = dict(
        hypervisors=dict(type='list', elements='str', required=True),
        result_variable=dict(type='str', default='host_streaming_state'),
        guests=dict(type='list', elements='str', default=[]),
        dest=dict(type='path', required=True),
    )

    @staticmethod
    def _results(names, variable, hostvars):
        """Each hypervisor's registered result, read from its host variables as it was stored.

        Read here rather than passed as an argument: Ansible copies a task's arguments several
        times (validation, the result sent back from its worker), which for thousands of domains
        costs more than the whole report. A registered result is data, never a template, so it is
        read without the templar (``raw_get``), which would wrap and walk every value of it.
        """
        results = {}
        for name in names:
            variables = hostvars.raw_get(name) if name in hostvars else {}
            result = variables.get(variable) if isinstance(variables, Mapping) else None
            results[name] = result if isinstance(result, Mapping) else {}
        return results

    @staticmethod
    def _guests(names, hostvars):
        """The few host variables of each guest the report needs, templated as Ansible would."""
        guests = {}
        for name in names:
            variables = hostvars[name] if name in hostvars else {}
            guests[name] = {key: variables.get(key) for key in GUEST_VARIABLES}
        return guests

    def _template_dirs(self):
        """The playbook's (or role's) templates/ holding report.html.j2 first, then the collection's."""
        directories = []
        for _name, template in report_files.FILES:
            try:
                found = os.path.dirname(self._find_needle('templates', template))
            except AnsibleError:
                continue
            if found not in directories:
                directories.append(found)
        directories.append(report_files.DEFAULT_TEMPLATES)
        return directories

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        check_mode = self._play_context.check_mode
        hostvars = task_vars.get('hostvars', {})
        try:
            content = streaming_report(self._results(args['hypervisors'], args['result_variable'], hostvars),
                                       guests=self._guests(args['guests'], hostvars))
        except AnsibleError as err:
            raise AnsibleActionFail(str(err)) from err
        dest = os.path.realpath(args['dest'])
        changed = False
        if not os.path.isdir(dest):
            if os.path.exists(dest):
                raise AnsibleActionFail('the report directory %s is a file, not a directory: remove it or set '
                                        'streaming_report_dir to another path' % dest)
            changed = True
            if not check_mode:
                os.makedirs(dest, mode=0o755)
        generated = datetime.datetime.now(datetime.timezone.utc).strftime(report_files.TIME_FORMAT)
        env = report_files.environment(self._template_dirs())
        files = {}
        for name, template in report_files.FILES:
            path = os.path.join(dest, name)

            def render_at(when, template=template):
                return report_files.render(env, template, content, when)

            try:
                written = report_files.write_if_changed(path, render_at, generated, check_mode=check_mode)
            except OSError as err:
                raise AnsibleActionFail('could not write the report file %s: %s' % (path, err)) from err
            files[name] = {'path': path, 'changed': written}
            changed = changed or written
        result.update(
            changed=changed, path=dest, files=files, generated=generated,
            sentence=content['sentence'], fleet=content['fleet'],
            hypervisors=[{'host': entry['host'], 'status': entry['status'], 'message': entry['message'],
                          'uri': entry['uri']} for entry in content['hypervisors']],
        )
        return result
