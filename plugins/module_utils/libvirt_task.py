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

from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import (
    option_problem,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_pool import ConnectionPool
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_restart import (
    RESTART_CHOICES,
    RestartPolicy,
    Restarts,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_streaming import (
    StreamingError,
    connect,
    ensure_bindings,
    select,
    selection_warning,
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


def run_task(module, make_run, not_done, restart_candidates=None):
    """Run ``make_run(conn, pool)`` over the selection, then exit or fail the module.

    ``not_done`` completes "N of the selected domains ..." in the failure message
    (``'could not be restored'``); ``restart_candidates(run, domains)`` narrows the
    domains handed to the restarts (all selected ones by default).
    """
    params = module.params
    try:
        policy = RestartPolicy(params['restart'], params['restart_batch'], params['shutdown_timeout'],
                               params['force_off'])
    except ValueError as err:
        module.fail_json(msg=str(err))
    problem = option_problem(params)
    if problem:
        module.fail_json(msg=problem)
    conn = connect(params['uri'], read_only=module.check_mode, timeout=params['libvirt_timeout'],
                   read_only_why='as check mode opens it')
    pool = ConnectionPool(conn, params['uri'], params['parallel'], read_only=module.check_mode,
                          timeout=params['libvirt_timeout'])
    try:
        run = make_run(conn, pool)
        selection = select(conn, params['name'], params['exclude'])
        warning = selection_warning(selection, params['name'], params['exclude'], run.host, params['uri'])
        if warning and params['require_match'] and not selection.domains:
            raise StreamingError('nothing was changed: %s (require_match is set).' % warning,
                                 failed_domains={})
        if warning:
            module.warn(warning + ('' if selection.domains else '; set require_match to make this an error.'))
        try:
            run.plan(selection.domains, selection.unknown)
            run.apply()
            if policy.enabled:
                domains = selection.domains
                if restart_candidates is not None:
                    domains = restart_candidates(run, domains)
                Restarts(run, policy).restart(domains)
        finally:
            # libvirt and QEMU errors may quote a secret of a definition (a whole
            # <qemu:commandline> argument): keep every one out of the result and messages.
            hide_from_result(module, run.secrets)
    finally:
        pool.close()
        conn.close()
    if pool.note():
        run.warnings.append(pool.note())
    for text in run.warnings:
        module.warn(mask_text(text, run.secrets))
    result = run.summary()
    if module._diff:
        result['diff'] = run.diffs
    if run.failures:
        result['failed_domains'] = run.failures
        module.fail_json(
            msg='%d of the selected domains %s: %s' % (
                len(run.failures), not_done, '; '.join('%s: %s' % (run.where(name), reason)
                                                       for name, reason in sorted(run.failures.items()))),
            **result)
    module.exit_json(**result)


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
