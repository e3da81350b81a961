#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: libvirt_domain_restore
short_description: Put back libvirt domain definitions from the backups libvirt_domain wrote
version_added: 0.2.0
description:
  - Puts back, on one hypervisor, the persistent definitions that M(spice.streaming.libvirt_domain)
    saved in O(backup_dir) before it changed them (O(spice.streaming.libvirt_domain#module:backup),
    on by default in the C(host_streaming) role), for every selected domain, in one pass.
  - The way back after a rollout went wrong. C(disable_streaming.yml) is not that way back; it
    turns streaming off (mode V(off), stream channel removed) whatever the domains had before.
  - Backups are found by the domain's UUID, so a domain renamed since keeps them. Of several
    backups of one domain, O(backup) picks one. The backup's whole definition is defined again,
    exactly as it was saved (with its secrets).
  - Every selected domain is compared with its backup before anything is defined. A domain whose
    parts this collection manages (the streaming mode, the stream channel, the virtio-serial
    controller) already are as in the backup is left alone. A domain that someone changed since
    the backup in other parts (memory, disks, metadata, ...) is refused, because a restore would
    undo their change; the message names what differs. O(force) restores it anyway. What libvirt
    itself changes on a redefine (the order of devices, addresses and the PCIe root port of the
    added controller, virtio console numbering) is not a difference.
  - Refusals, unknown names and an unusable O(backup_dir) stop the task before anything is
    defined, naming every domain concerned (see O(unfit_domains) to skip them instead).
  - The definition each domain has before the restore is kept in O(backup_dir) as
    C(<prefix>.<uuid>.<time>.before-restore.xml); C(virsh define) of that file undoes the
    restore. A later restore never picks these files.
  - Running domains get their persistent definition back; their running state changes at their
    next cold start, which RV(restart_required) reports. No running domain is stopped or restarted
    unless O(restart=when_needed) asks for it.
  - Transient domains are left alone (defining one would make it persistent). A domain selected
    by a pattern that has no backup is skipped with a reason.
author:
  - spice.streaming maintainers (@spice-streaming)
extends_documentation_fragment:
  - spice.streaming.attributes
  - ansible.builtin.action_common_attributes
  - spice.streaming.streaming.libvirt
  - spice.streaming.streaming.internal
options:
  backup_dir:
    description:
      - The directory on the hypervisor that holds the backups, as given to
        M(spice.streaming.libvirt_domain) (the role's C(host_streaming_backup_dir)).
      - Backup files are named C(<prefix>.<uuid>.<time>.xml); the prefix is the domain name with
        every character other than letters, digits, C(.), C(_), C(+) and C(-) replaced by C(_),
        cut to 64 characters; the time is UTC (C(20261124T101500.000000Z)). Backups of version
        0.1.0 (C(<name>.<local time>.xml)) are found too.
    type: path
    default: /var/lib/spice-streaming/backups
  backup:
    description:
      - Which backup of each domain to put back.
      - V(newest), the last one written, holds the definition from before the latest change
        (undoes the latest rollout).
      - V(oldest), the first one, holds the definition from before the first rollout.
      - A time, V(20261124T101500Z), V(2026-11-24T10:15:00+01:00) or V(2026-11-24) (UTC unless an
        offset is given), picks for each domain the first backup written at or after it, which holds
        the definition the domain had at that time. Give the time just before the rollout to undo.
        A domain without a backup since then was not changed by a rollout since, and is left alone.
    type: str
    default: newest
  force:
    description:
      - Restore a domain even when it was changed since the backup outside the parts this
        collection manages; the backup's whole definition replaces that change.
      - A domain renamed since the backup is refused even so (libvirt does not rename through a
        define).
    type: bool
    default: false
  require_match:
    description:
      - Fail, changing nothing, when O(name) and O(exclude) select no domain at all, instead of
        warning.
    type: bool
    default: false
  unfit_domains:
    description:
      - What to do with a selected domain that cannot be restored (refused as changed since the
        backup, an exact name without a backup or unknown, an unreadable backup).
      - V(fail) stops the task before anything is defined, naming every such domain. V(skip)
        leaves them alone with their reason in RV(skipped_domains), warns, and restores the others.
    type: str
    choices: [fail, skip]
    default: fail
  restart:
    description:
      - V(never) restarts nothing; running domains report in RV(restart_required) what waits for
        their next cold start.
      - V(when_needed) cold-restarts the running domains whose streaming parts differ from their
        restored definition, as O(spice.streaming.libvirt_domain#module:restart=when_needed) does
        (ACPI shutdown, a bounded wait, start, confirm; a domain that does not start gets the
        definition it had before the restore back). Other parts restored with O(force) take
        effect at the next cold start, which the domain's notes say.
    type: str
    choices: [never, when_needed]
    default: never
  restart_batch:
    description: How many domains are restarted at once with O(restart=when_needed).
    type: int
    default: 5
  shutdown_timeout:
    description: Seconds to wait for a domain to shut down after the ACPI request.
    type: int
    default: 300
  force_off:
    description: Power off a domain that did not shut down within O(shutdown_timeout), then start it.
    type: bool
    default: false
  parallel:
    description:
      - How many libvirt connections the per-domain work is spread over, one thread each; see
        O(spice.streaming.libvirt_domain#module:parallel).
    type: int
    default: 4
attributes:
  check_mode:
    support: full
    details:
      - Check mode opens a read-only connection, defines nothing and writes nothing; it reports
        which domains a real run restores, from which file, and what changes.
      - A read-only connection cannot read secrets, so check mode cannot tell whether a password
        was changed since the backup; the real run compares them too.
  diff_mode:
    support: full
    details:
      - Returns each restored domain's persistent definition before and after, with passwords and
        other secrets masked.
  idempotent:
    details:
      - A domain whose definition already is its backup (compared after libvirt's own
        normalisation) is not defined again; C(changed) is true only when the stored definition
        really changed.
  platform:
    support: full
    platforms: posix
notes:
  - Only the definition comes back. A running domain keeps running as it is until its next cold
    start (shut down, then start; a guest reboot is not enough), unless O(restart=when_needed).
  - The collection's C(docs/libvirt-domain.md), section "Restoring from a backup", explains how
    backups are named, chosen and compared.
seealso:
  - module: spice.streaming.libvirt_domain
'''

EXAMPLES = r'''
- name: Undo the latest rollout on the VDI pool, preview first
  spice.streaming.libvirt_domain_restore:
    name: ['vdi-*']
  check_mode: true
  diff: true

- name: Put every desktop back as it was before the first rollout
  spice.streaming.libvirt_domain_restore:
    name: ['*']
    backup: oldest

- name: The definitions of one desktop as they were on 24 November at 10:00 (UTC), and restart it
  spice.streaming.libvirt_domain_restore:
    name: [desk-042]
    backup: '2026-11-24T10:00:00Z'
    restart: when_needed

- name: Restore a desktop someone edited since, replacing their edit
  spice.streaming.libvirt_domain_restore:
    name: [desk-007]
    force: true
'''

RETURN = r'''
domains:
  description: What was done to each selected domain, by name.
  returned: always
  type: dict
  contains:
    changed:
      description: Whether its persistent definition changed (or, in check mode, would change).
      type: bool
    actions:
      description: What the restore changes, in words (in check mode, what a real run changes).
      type: list
      elements: str
      sample: ["restores its definition from /var/lib/spice-streaming/backups/vdi-001.5f0c...Z.xml (written 20261124T101500.000000Z)",
               "SPICE streaming mode back to all (is off)"]
    restored_from:
      description: The backup file the domain was compared with and, when it changed, restored from.
      type: str
    backup_file:
      description: Where the definition the restore replaced was kept (C(...before-restore.xml)).
      type: str
    differences:
      description: What differs from the backup outside the parts this collection manages.
      type: list
      elements: str
      sample: ['<memory> changed', 'a <disk> added']
    restart_required:
      description: What waits for the next cold start of the running domain, and why.
      type: list
      elements: dict
    restart:
      description: What O(restart=when_needed) did; see RV(spice.streaming.libvirt_domain#module:domains.restart).
      type: dict
    skipped:
      description: Whether the domain was left alone.
      type: bool
    reason:
      description: Why it was left alone (transient, no backup).
      type: str
    notes:
      description: Things worth knowing.
      type: list
      elements: str
changed_domains:
  description: Names of the domains whose definition was restored.
  returned: always
  type: list
  elements: str
restored_from:
  description: The backup file each restored domain got its definition from.
  returned: always
  type: dict
  sample: {vdi-001: /var/lib/spice-streaming/backups/vdi-001.5f0c8a52-3d0e-4c7e-9a43-0d1f8a0b7c11.20261124T101500.000000Z.xml}
backup_files:
  description: Where the definition each restored domain had before was kept.
  returned: always
  type: dict
restart_required:
  description: Names of running domains with a change that waits for a cold start.
  returned: always
  type: list
  elements: str
restarted_domains:
  description: Names of the running domains that O(restart=when_needed) restarted.
  returned: always
  type: list
  elements: str
summary:
  description:
    - How many domains were selected, how many fall in each section of RV(report), and the
      closing sentence a person reads (the host_streaming role's closing report is made of them).
  returned: always
  type: dict
  version_added: 0.2.0
  contains:
    selected:
      description: How many domains the selection gave (those skipped included).
      type: int
    selection:
      description:
        - Why nothing, or not everything asked, was selected (a pattern that matched nothing, an
          empty O(name), an O(exclude) that left out everything); V(null) when all matched.
      type: str
    changed:
      description: How many domains changed (in check mode, would change).
      type: int
    waiting_for_cold_start:
      description: How many running domains wait for a cold start.
      type: int
    restarted:
      description: How many domains were restarted.
      type: int
    would_restart:
      description: How many domains a real run would restart (check mode).
      type: int
    not_restarted:
      description: How many domains a restart left alone (left running, saved state, shut off or removed meanwhile).
      type: int
    failed:
      description: How many domains failed.
      type: int
    skipped:
      description: How many domains were left alone, with a reason.
      type: int
    message:
      description: The run in one sentence.
      type: str
      sample: "3 domains selected: 1 changed, 1 waits for a cold start, 1 skipped"
skipped_domains:
  description: Domains left alone, with the reason.
  returned: always
  type: dict
  sample: {vdi-009: "no backup of it (UUID ...) in backup_dir ...: no rollout with backups changed it"}
report:
  description:
    - What happened, per domain, for a person to read; a section with nothing to say is left out.
    - C(changed), C(waiting_for_cold_start), C(restarted), C(would_restart), C(not_restarted),
      C(failed), C(skipped), C(replaced_definitions_kept_in) and C(differ_outside_streaming_parts).
  returned: always
  type: dict
failed_domains:
  description: Domains that could not be restored, with the reason.
  returned: failure
  type: dict
  sample: {desk-007: "was changed since its backup ... outside the parts this collection manages (<memory> changed) ..."}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.spice.streaming.plugins.module_utils import libvirt_task
from ansible_collections.spice.streaming.plugins.module_utils.domain_backups import check_choice
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import libvirt_argument_spec
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_restore import RestoreRun


def argument_spec():
    spec = libvirt_argument_spec()
    spec.update(libvirt_task.restart_argument_spec())
    spec.update(libvirt_task.internal_argument_spec())
    spec.update(
        backup_dir=dict(type='path', default='/var/lib/spice-streaming/backups'),
        backup=dict(type='str', default='newest'),
        force=dict(type='bool', default=False),
        require_match=dict(type='bool', default=False),
        unfit_domains=dict(type='str', default='fail', choices=['fail', 'skip']),
    )
    return spec


def run_module(module):
    params = module.params
    try:
        check_choice(params['backup'])
    except ValueError as err:
        module.fail_json(msg='%s: %s' % (params['option_names'].get('backup', 'backup'), err))

    def make_run(conn, pool, names):
        return RestoreRun(conn, params['uri'], params['backup_dir'], params['backup'], params['force'],
                          check_mode=module.check_mode, diff=module._diff,
                          skip_unfit=params['unfit_domains'] == 'skip', pool=pool, names=names)

    libvirt_task.run_task(module, make_run, RestoreRun.NOT_DONE,
                          restart_candidates=lambda run, domains: run.restart_candidates(domains))


def main():
    libvirt_task.main(AnsibleModule, argument_spec(), run_module)


if __name__ == '__main__':
    main()
