# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ``libvirt_domain`` and ``libvirt_domain_restore``: restarts a person can follow.

A module prints nothing until it ends, and a restart batch waits up to
``shutdown_timeout`` seconds for its domains to shut down: one run of the module
with restarts used to be silent for minutes, and a slow guest looked like a hung run.
So with ``restart=when_needed`` (outside check mode) the action plugin runs the module
several times, through its internal option ``restart_step``:

1. once to converge and plan the restarts (``phase: plan``): every check, the
   definitions and the live changes are made as in a single run, and the module
   returns the running domains to restart instead of restarting them;
2. then, per batch of ``restart_batch`` domains, once or more (``phase: batch``): the
   first run asks the batch to shut down and waits up to :data:`PROGRESS_SECONDS`;
   while domains of the batch still run and the shutdown timeout has not passed,
   the next run waits again; the last one forces off (or leaves running) what still
   runs and starts and checks the others (``libvirt_restart.Restarts.step``).

Between the runs it prints which domains are being shut down, which it still waits
for and for how long at most, and what each batch came to, so a person watching
sees the work move on.  The runs' results are merged into the one result a single
run gives (``summarize`` of the module's run class), failures included.

Every restart guarantee stays with the module: each run re-checks each domain (the
same UUID, still persistent) before each step that could lose it, and a connection
lost in any run names every domain of its batch that may be down.

After the task, it prints what a person must see even when ok results are hidden
(``ANSIBLE_DISPLAY_OK_HOSTS=false``): what waits for a cold start, what a restart
left alone, what was skipped, a selection that matched nothing
(``run_output.attention_lines``).  The lines go to standard error, as Ansible's
warnings do, so that a machine-readable standard output stays as it is.
"""

from __future__ import annotations

import time

from ansible import constants as C
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import where
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_task import failure_message
from ansible_collections.spice.streaming.plugins.plugin_utils import run_output, variables
from ansible_collections.spice.streaming.plugins.plugin_utils.leave_null import LeaveNullActionBase

display = Display()

# How long one run of the module waits for a batch to shut down before the plugin says
# where it stands: a slow guest shows as a line every half minute, a hung run as none.
PROGRESS_SECONDS = 30

# What the module returns only for the plugin.
_INTERNAL = ('restart_plan', 'restart_step')


def _say(text, color=None):
    display.display(text, color=color, stderr=True)


class DomainTaskAction(LeaveNullActionBase):
    """Runs the module of the same name; restarts batch by batch with progress, see the module docstring."""

    # The module_utils run class whose ``summarize`` gives the module's result (and NOT_DONE its message).
    RUN_CLASS = None

    def run(self, tmp=None, task_vars=None):
        result = super(LeaveNullActionBase, self).run(tmp, task_vars)  # pylint: disable=bad-super-call
        args = self._module_args()
        self._host = (task_vars or {}).get('inventory_hostname', 'localhost')
        self._names = args.get('option_names') or {}
        if self._names:
            # Through the role (it names its variables): warn about a variable of the collection
            # that has no effect before anything runs. Every host finds the same; Ansible shows a
            # warning once.
            for warning in variables.check(task_vars or {})['warnings']:
                display.warning(warning)
        plan = self._restart_plan(args)
        if plan is None:
            result.update(self._execute_module(module_name=self._task.resolved_action, module_args=args,
                                               task_vars=task_vars))
        else:
            result.update(self._run_in_steps(args, plan, task_vars))
        self._say_what_matters(args, result)
        return result

    # ------------------------------------------------------------ which runs

    def _restart_plan(self, args):
        """The restart bounds when the restarts run batch by batch; None for a single run."""
        if self._play_context.check_mode or args.get('restart') != 'when_needed' or args.get('restart_step'):
            return None
        try:
            return {'batch': int(args.get('restart_batch', 5)),
                    'timeout': int(args.get('shutdown_timeout', 300)),
                    'force_off': boolean(args.get('force_off', False), strict=True)}
        except (TypeError, ValueError):
            return None  # the module says what is wrong with them

    def _run_in_steps(self, args, bounds, task_vars):
        first = self._run_module(dict(args, restart_step={'phase': 'plan'}), task_vars)
        plan = first.pop('restart_plan', None)
        if first.get('failed') or plan is None:
            return first
        host, uri = plan['host'], args.get('uri', 'qemu:///system')
        results = first['domains']
        failures = dict(plan['failed_domains'])
        warnings = list(first.get('warnings') or [])
        lost = None
        if bounds['batch'] >= 1:
            candidates = plan['candidates']
            batches = [candidates[start:start + bounds['batch']]
                       for start in range(0, len(candidates), bounds['batch'])]
            for number, batch in enumerate(batches, 1):
                lost = self._run_batch(args, task_vars, bounds, host, batch, (number, len(batches)),
                                       results, failures, warnings)
                if lost:
                    break
        merged = dict(first)
        merged.update(self.RUN_CLASS.summarize(results, failures, selection=plan['selection']))
        merged['warnings'] = warnings
        if lost:
            merged.update({key: lost[key] for key in ('msg', 'connection_lost', 'possibly_down', 'unreachable')
                           if key in lost})
            merged.update(failed=True, failed_domains=failures)
        elif failures:
            merged.update(failed=True, failed_domains=failures,
                          msg=failure_message(failures, self.RUN_CLASS.NOT_DONE, lambda name: where(name, host, uri)))
        return merged

    def _run_batch(self, args, task_vars, bounds, host, batch, position, results, failures, warnings):
        """Run one batch to its end; the failed run's result when the connection was lost, else None."""
        names = [state['name'] for state in batch]
        _say(run_output.batch_start(self._host, position[0], position[1], names, bounds['timeout'],
                                    bounds['force_off']))
        started = time.monotonic()
        states, waited = batch, 0.0
        while True:
            remaining = max(0.0, bounds['timeout'] - waited)
            wait = min(PROGRESS_SECONDS, remaining)
            step = {'phase': 'batch', 'host': host, 'candidates': states, 'wait': wait,
                    'final': wait >= remaining,
                    'results': {state['name']: results[state['name']] for state in states}}
            out = self._run_module(dict(args, restart_step=step), task_vars)
            results.update(out.get('domains') or {})
            failures.update(out.get('failed_domains') or {})
            warnings.extend(out.get('warnings') or [])
            if out.get('failed') or out.get('unreachable'):
                if 'domains' not in out:
                    # Not the module's own failure (that returns the batch's domains): the host
                    # went away, or the module could not run. Name the batch, which may be down.
                    out = dict(out, msg='%s This happened during restart batch %d/%d of %s (%s), whose '
                                        'domains may be shut off now: check them.' % (
                                            out.get('msg', ''), position[0], position[1], self._host,
                                            ', '.join(names)))
                return out
            progress = out['restart_step']
            waited += progress['waited']
            if progress['done']:
                _say(run_output.batch_done(self._host, position[0], position[1], time.monotonic() - started,
                                           {name: results[name] for name in names}))
                return None
            # Those asked to stop: the ones shut off wait to be started, the others are waited for.
            states = progress['candidates']
            waiting = [state['name'] for state in states if not state['stopped']]
            _say(run_output.batch_waiting(self._host, position[0], position[1], waited,
                                          max(0.0, bounds['timeout'] - waited), len(states) - len(waiting),
                                          waiting))

    def _run_module(self, args, task_vars):
        return self._execute_module(module_name=self._task.resolved_action, module_args=args, task_vars=task_vars)

    # ------------------------------------------------------------ after the task

    def _say_what_matters(self, args, result):
        for key in _INTERNAL:
            result.pop(key, None)
        invocation = (result.get('invocation') or {}).get('module_args')
        if isinstance(invocation, dict):
            invocation.pop('restart_step', None)
        for line in run_output.attention_lines(self._host, result, self._names.get('restart', 'restart'),
                                               args.get('restart', 'never'), self._play_context.check_mode):
            _say(line, color=C.COLOR_WARN)
