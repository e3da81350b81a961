# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One task over the selected domains of one hypervisor, as the changing modules run it.

``libvirt_domain`` and ``libvirt_domain_restore`` differ in what they do to a
domain (a :class:`libvirt_streaming.StreamingRun` or a subclass); everything
around it is the same and lives here once: the option checks, the bounded
connection and the pool, the selection and its warnings, the two passes, the
restarts, and the result or the one failure message.
"""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.module_utils.domain_results import DomainResults
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import (
    StreamingError,
    close_connections,
    connect,
    ensure_bindings,
    option_problem,
    select,
    selection_problem,
    selection_warning,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_pool import ConnectionPool
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_restart import (
    RESTART_CHOICES,
    RestartPolicy,
    Restarts,
    lost_during_batch,
    mark_possibly_down,
)
from ansible_collections.spice.streaming.plugins.module_utils.option_names import (
    OptionNames,
    option_names_problem,
)
from ansible_collections.spice.streaming.plugins.module_utils.secrets import (
    hide_from_result,
    mask_text,
)


def restart_argument_spec():
    """The options of a cold restart after the change (``restart`` and its bounds)."""
    return dict(
        restart=dict(type='str', default='never', choices=list(RESTART_CHOICES)),
        restart_batch=dict(type='int', default=5),
        shutdown_timeout=dict(type='int', default=300),
        force_off=dict(type='bool', default=False),
    )


def internal_argument_spec():
    """The internal options (doc fragment ``spice.streaming.streaming.internal``)."""
    return dict(
        option_names=dict(type='dict', default={}),
        restart_step=dict(type='dict'),
    )


def failure_message(failures, not_done, where):
    """The one message of a task that could not do everything: ``where(name)`` names each domain."""
    return '%d of the selected domains %s: %s' % (
        len(failures), not_done, '; '.join('%s: %s' % (where(name), reason)
                                           for name, reason in sorted(failures.items())))


def run_task(module, make_run, not_done, restart_candidates=None):
    """Run ``make_run(conn, pool, names)`` over the selection, then exit or fail the module.

    ``not_done`` completes "N of the selected domains ..." in the failure message
    (``'could not be restored'``); ``restart_candidates(run, domains)`` narrows the
    domains handed to the restarts (all selected ones by default).

    The internal option ``restart_step`` (set by the modules' action plugin) splits a
    run with restarts into several runs of the module, so that progress shows between
    them: ``{'phase': 'plan'}`` converges and returns the restarts to make (the key
    ``restart_plan``) instead of making them, and ``{'phase': 'batch', ...}`` goes on
    with one restart batch (:func:`_run_restart_step`).
    """
    params = module.params
    problem = option_names_problem(params['option_names'], module.argument_spec)
    if problem:
        module.fail_json(msg=problem)
    names = OptionNames(params['option_names'])
    try:
        policy = RestartPolicy(params['restart'], params['restart_batch'], params['shutdown_timeout'],
                               params['force_off'], names=names)
    except ValueError as err:
        module.fail_json(msg=str(err))
    problem = option_problem(params, names)
    if problem:
        module.fail_json(msg=problem)
    step = params['restart_step'] or {}
    if step.get('phase') == 'batch':
        _run_restart_step(module, make_run, step, policy, names)
        return
    plan_only = step.get('phase') == 'plan' and policy.enabled and not module.check_mode
    conn = connect(params['uri'], read_only=module.check_mode, timeout=params['libvirt_timeout'],
                   read_only_why='as check mode opens it', names=names)
    pool = ConnectionPool(conn, params['uri'], params['parallel'], read_only=module.check_mode,
                          timeout=params['libvirt_timeout'])
    queue = None
    try:
        run = make_run(conn, pool, names)
        selection = select(conn, params['name'], params['exclude'])
        run.selection = selection_problem(selection, params['name'], params['exclude'], names)
        warning = selection_warning(selection, params['name'], params['exclude'], run.host, params['uri'], names)
        if warning and params['require_match'] and not selection.domains:
            raise StreamingError('nothing was changed: %s (%s is set).' % (warning, names('require_match')),
                                 failed_domains={})
        if warning:
            module.warn(warning + ('' if selection.domains else '; set %s to make this an error.'
                                   % names('require_match')))
        try:
            run.plan(selection.domains, selection.unknown)
            run.apply()
            if policy.enabled:
                domains = selection.domains
                if restart_candidates is not None:
                    domains = restart_candidates(run, domains)
                restarts = Restarts(run, policy)
                candidates = restarts.candidates(domains)
                if module.check_mode:
                    restarts.predict(candidates)
                elif plan_only:
                    queue = [candidate.state() for candidate in candidates]
                else:
                    restarts.restart_in_batches(candidates)
        finally:
            # libvirt and QEMU errors may quote a secret of a definition (a whole
            # <qemu:commandline> argument): keep every one out of the result and messages.
            hide_from_result(module, run.secrets)
    finally:
        close_connections(pool, conn)
    if pool.note():
        run.results.warn(pool.note())
    for text in run.warnings:
        module.warn(mask_text(text, run.secrets))
    result = run.summary()
    if module._diff:
        result['diff'] = run.diffs
    if queue is not None:
        # For the action plugin, which makes the restarts and fails the task at the end if need be.
        result['restart_plan'] = {'host': run.host, 'candidates': queue, 'failed_domains': run.failures,
                                  'selection': run.selection}
        module.exit_json(**result)
    if run.failures:
        result['failed_domains'] = run.failures
        module.fail_json(msg=failure_message(run.failures, not_done, run.where), **result)
    module.exit_json(**result)


def _run_restart_step(module, make_run, step, policy, names):
    """Go on with one restart batch that the plan phase returned (:meth:`Restarts.step`).

    Returns the batch's domains (``domains``), the failures among them
    (``failed_domains``) and ``restart_step``: ``done``, the seconds ``waited`` and
    the ``candidates`` still waited for.  A lost connection fails the module with
    the one message that names every domain of the batch that may be down.
    """
    params = module.params
    results = DomainResults(step['results'])
    try:
        conn = connect(params['uri'], timeout=params['libvirt_timeout'], names=names)
    except StreamingError as err:
        down = sorted(state['name'] for state in step['candidates'] if state['live'] is not None or state['stopped'])
        if not down:
            raise
        mark_possibly_down(results, down)
        raise lost_during_batch(params['uri'], step['host'], err.msg, down,
                                domains=results.as_dict()) from None
    pool = ConnectionPool(conn, params['uri'], params['parallel'], timeout=params['libvirt_timeout'])
    try:
        run = make_run(conn, pool, names)
        run.results = results
        try:
            done, waited, states = Restarts(run, policy).step(step['candidates'], step['wait'], step['final'])
        finally:
            hide_from_result(module, run.secrets)
    finally:
        close_connections(pool, conn)
    for text in run.warnings:
        module.warn(mask_text(text, run.secrets))
    module.exit_json(changed=any(result['changed'] for result in results.values()), domains=results.as_dict(),
                     failed_domains=run.failures,
                     restart_step={'done': done, 'waited': waited, 'candidates': states})


def main(module_class, argument_spec, run_module):
    """The modules' ``main``: bindings first, and a StreamingError as the one failure message."""
    module = module_class(argument_spec=argument_spec, supports_check_mode=True)
    ensure_bindings(module)
    try:
        run_module(module)
    except StreamingError as err:
        details = {'changed': False}
        details.update(err.details)
        module.fail_json(msg=err.msg, **details)
