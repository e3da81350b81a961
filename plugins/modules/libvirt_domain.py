#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: libvirt_domain
short_description: Bring libvirt domains to a SPICE video streaming state
version_added: 0.1.0
description:
  - Brings every selected libvirt domain on a hypervisor to the SPICE streaming state asked
    for, in one pass over one connection; that is the host-side streaming mode of its SPICE graphics,
    its image, JPEG, zlib and playback compression, and the C(org.spice-space.stream.0) spiceport
    channel that C(spice-streaming-agent) in the guest writes to.
  - Edits only the parts it manages, found by identity (the channel by type and target name, the
    controller by type, the C(<streaming>), C(<image>), C(<jpeg>), C(<zlib>) and C(<playback>)
    elements inside SPICE C(<graphics>), each asked for, written where libvirt itself puts it); every other
    element, attribute, namespace, metadata and C(qemu:commandline) stays exactly as it was.
    Duplicated stream channels, which C(virt-xml --add-device) run twice leaves and which stop
    a domain from starting, are reduced to one.
  - The persistent definition is read with its secrets, so passwords survive the redefine.
    What the module shows masks them as C(********) (diffs, messages, warnings), that is every
    value libvirt itself shows only with C(VIR_DOMAIN_XML_SECURE) (the C(passwd) of C(<graphics>), the
    C(<cookie>) values of a network disk or CD-ROM) and the secrets in C(<qemu:commandline>)
    arguments, found as M(spice.streaming.qemu_cmdline) finds them (C(-object secret,data=),
    C(password=) and the like). Backup files keep the real values.
  - Every domain is read and checked before anything is defined. Unknown names, a domain
    named exactly that has no SPICE graphics, or another port already named
    C(org.spice-space.stream.0) (a C(unix) or C(pty) channel, or a port added through
    C(<qemu:commandline>) or C(<qemu:override>)) fail the task with nothing changed, and one
    message names every domain concerned (see O(unfit_domains) to skip them instead).
    O(backup_dir) is checked in the same pass.
  - Each domain that needs a change is read again just before it is defined and the edit is
    redone on that definition, so a change someone else made in the meantime is kept.
  - Running domains get their persistent definition updated. With O(live), the channel is
    hot-plugged or unplugged where libvirt accepts it; what libvirt cannot apply live (any
    streaming mode or compression change, a channel where libvirt refuses the hot-plug or the domain has no
    virtio-serial controller) is returned per domain with the reason, and in RV(restart_required).
    No running domain is stopped or restarted unless O(restart=when_needed) asks for it.
  - Transient domains are never defined (that would make them persistent). Selected by a pattern,
    a transient domain, like a domain without SPICE graphics, is skipped with a reason; named
    exactly, either is unfit (see O(unfit_domains)).
  - Another client may change a domain while the task runs. Domains are followed by UUID, so a
    domain renamed meanwhile is changed and reported under its new name. A domain undefined
    meanwhile is skipped with the reason in RV(skipped_domains), never defined again (a running
    one, now transient, is left alone; see O(restart) for the checks before each restart step).
  - A shut-off domain with a saved state (C(virsh managedsave)) resumes that state, with the
    configuration it was saved with, when it is started; its changed definition waits, and it is
    listed in RV(restart_required) with the reason and the way to apply it (see O(restart)).
author:
  - spice.streaming maintainers (@spice-streaming)
extends_documentation_fragment:
  - spice.streaming.attributes
  - ansible.builtin.action_common_attributes
  - spice.streaming.streaming
  - spice.streaming.streaming.libvirt
  - spice.streaming.streaming.internal
options:
  require_match:
    description:
      - Fail, changing nothing, when O(name) and O(exclude) select no domain at all on the
        hypervisor (a mistyped pattern, an empty O(name), an O(exclude) that leaves out
        everything), instead of warning.
      - With O(unfit_domains=skip), an exact name that matches no domain is reported and skipped
        rather than failing the task.
    type: bool
    default: false
    version_added: 0.1.0
  unfit_domains:
    description:
      - What to do with a selected domain that cannot be brought to the asked state (an exact
        name without SPICE graphics, a transient domain named exactly, another port named
        C(org.spice-space.stream.0), an unknown exact name, an unreadable definition).
      - V(fail) stops the task before anything is changed, naming every such domain in one
        message.
      - V(skip) leaves those domains alone, returns each with its reason in
        RV(skipped_domains), warns, and converges the others. Useful on a pool of many desktops
        where one odd domain should not hold up the rest.
    type: str
    choices: [fail, skip]
    default: fail
    version_added: 0.1.0
  overrides:
    description:
      - Per-domain exceptions applied in the same pass, for example a kiosk that must not
        stream. The first override whose O(overrides[].name) matches a domain gives that domain
        its O(overrides[].streaming_mode), O(overrides[].image_compression),
        O(overrides[].jpeg_compression), O(overrides[].zlib_compression),
        O(overrides[].playback_compression) and O(overrides[].agent_channel); what an override
        leaves out (or sets to V(null)) comes from the task's own option of the same name.
      - An override only changes the request for domains that O(name) and O(exclude) select.
      - Each O(overrides[].name) entry that changes nothing is a warning naming the entry and the
        hypervisor, and the task goes on. That is an entry that matches none of the selected
        domains (a mistyped exact name, with the closest selected name as a hint, or a pattern
        that matches nothing), or one whose every domain an earlier override already matches (it
        is shadowed; put the more specific override first). A broad pattern after specific
        entries, which takes the domains they leave, is not warned about.
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
    suboptions:
      name:
        description:
          - Names or shell-style patterns, matched as in O(name).
        type: list
        elements: str
        required: true
      streaming_mode:
        description: The streaming mode for these domains.
        type: str
        choices: ['off', all, filter]
        aliases: [mode]
      image_compression:
        description: The image compression for these domains.
        type: str
        choices: [auto_glz, auto_lz, quic, glz, lz, 'off']
      jpeg_compression:
        description: The JPEG compression for these domains.
        type: str
        choices: [auto, never, always]
      zlib_compression:
        description: The zlib compression for these domains.
        type: str
        choices: [auto, never, always]
      playback_compression:
        description: The playback compression for these domains.
        type: str
        choices: ['on', 'off']
      agent_channel:
        description: Whether these domains carry the stream channel.
        type: str
        choices: [present, absent]
  restart:
    description:
      - Whether to cold-restart running domains so that their definition takes effect.
      - V(never) restarts nothing; running domains report in RV(restart_required) what waits for
        their next cold start.
      - V(when_needed) restarts exactly the running domains whose running state lacks what their
        persistent definition says (the streaming mode, a compression, the stream channel), whether this task or
        an earlier one changed the definition. Each is shut down gracefully (ACPI), waited for up
        to O(shutdown_timeout) seconds, started again (paused again if it was paused), and the
        live XML is read to confirm the change is in effect. O(restart_batch) domains are
        restarted at a time.
      - While a batch runs, its progress is printed on the controller (which domains are being shut
        down, which are still waited for and for how long at most, what the batch came to), even
        with ok results hidden; the action plugin runs the batches as separate runs of the module
        for that (see O(restart_step)).
      - A domain that does not stop in time is left running and reported (see O(force_off)). A
        domain that fails to start with its new definition gets its previous definition back
        (the backup this task wrote, or else its definition with the streaming parts it ran
        with) and is started with it; the task then fails for that domain with libvirt's words.
        A domain that starts with neither is a failure that says it is shut off.
        Domains that were shut off are never started.
      - Right before each step that could lose a domain (the ACPI request, a forced power off,
        a start, a rollback), the domain is checked to still be the persistent domain that was
        planned on (the same UUID, still persistent). A domain another client undefined
        meanwhile is left alone (V(transient) while it still runs, V(vanished) once it is gone)
        and the rest of the batch goes on.
      - A shut-off domain with a saved state (C(virsh managedsave)) is never started and its
        saved state never discarded, since it holds the guest's running session. It is reported
        (V(saved)) with its change waiting in RV(restart_required); C(virsh managedsave-remove),
        then a start, applies the change.
    type: str
    choices: [never, when_needed]
    default: never
    version_added: 0.2.0
  restart_batch:
    description: How many domains of this hypervisor are restarted at once with O(restart=when_needed).
    type: int
    default: 5
    version_added: 0.2.0
  shutdown_timeout:
    description: Seconds to wait for a domain to shut down after the ACPI request.
    type: int
    default: 300
    version_added: 0.2.0
  force_off:
    description:
      - Power off (C(virsh destroy)) a domain that did not shut down within O(shutdown_timeout),
        then start it. Unsaved work in the guest is lost; off by default.
    type: bool
    default: false
    version_added: 0.2.0
  live:
    description:
      - Also apply to running domains what libvirt can apply live (hot-plug or hot-unplug of
        the stream channel). What cannot be applied live is reported in RV(restart_required),
        never forced.
      - With V(false), only persistent definitions are changed; running domains still report
        what waits for a cold start.
    type: bool
    default: true
  backup:
    description:
      - Keep the original persistent definition of every domain the module changes, in
        O(backup_dir). M(spice.streaming.libvirt_domain_restore) puts them back; C(virsh define FILE)
        restores one by hand.
      - A backup file is named C(<prefix>.<uuid>.<time>.xml), so any valid domain name fits. The
        prefix is the name with characters other than letters, digits, C(.), C(_), C(+) and C(-)
        replaced by C(_), cut to 64 characters; the time is UTC. The full name is in the file, the
        domain XML.
      - Backup files hold the definition with its secrets (for example SPICE passwords) and are
        readable by their owner only.
    type: bool
    default: false
  backup_dir:
    description:
      - Directory for backups on the hypervisor, created (mode 0700) if missing.
    type: path
    default: /var/lib/spice-streaming/backups
attributes:
  check_mode:
    support: full
    details:
      - Check mode opens a read-only connection and never defines; it reports exactly which
        domains and parts a real run changes.
      - Whether libvirt accepts a hot-plug on a running domain is only known by trying; check mode
        lists such a domain in RV(restart_required) with a reason that says a real run tries it.
  diff_mode:
    support: full
    details:
      - Returns the persistent definition of each changed domain before and after, with every
        secret masked (see the description). In check mode the after side is the edited definition before libvirt adds
        addresses to new devices.
  idempotent:
    details:
      - C(changed) is true only when the managed parts of a persistent definition really change
        after libvirt's own normalisation, or a hot-plug or hot-unplug succeeded.
  platform:
    support: full
    platforms: posix
notes:
  - Streaming mode and compression changes of a running domain take effect at the next cold start
    (shut down, then start); a guest reboot is not enough. libvirt's C(update-device) would claim
    success and change nothing (neither the live XML nor QEMU's SPICE server), so the module does
    not call it.
  - libvirt 9.0 refuses to hot-plug spiceport channels and nobody can hot-plug a virtio-serial
    controller; newer libvirt releases may accept the channel hot-plug.
  - A missing virtio-serial controller is written explicitly (index 0); libvirt would add one by
    itself, the explicit element makes the intent visible.
  - O(streaming_mode=off) writes C(<streaming mode="off"/>) even though QEMU also runs an absent
    mode as off; a running domain without the element is not reported as waiting for a restart.
seealso:
  - name: libvirt domain XML, graphics devices
    description: The C(<streaming>) element of SPICE graphics.
    link: https://libvirt.org/formatdomain.html#graphical-framebuffers
  - name: spice-streaming-agent
    description: The guest agent that writes to the C(org.spice-space.stream.0) port.
    link: https://gitlab.freedesktop.org/spice/spice-streaming-agent
'''

EXAMPLES = r'''
- name: Stream every SPICE desktop of the hypervisor with the guest agent and host filter mode
  spice.streaming.libvirt_domain:
    name: ['*']
    streaming_mode: filter
    agent_channel: present
    backup: true
  register: streaming

- name: Show what waits for a cold start
  ansible.builtin.debug:
    msg: "{{ streaming.restart_required }}"

- name: Host encoding only, on the VDI pool, leaving the golden images alone
  spice.streaming.libvirt_domain:
    uri: qemu:///system
    name: ['vdi-*']
    exclude: ['vdi-golden-*']
    streaming_mode: all

- name: Stream the pool, keep the kiosks off, and restart what needs it, five at a time
  spice.streaming.libvirt_domain:
    name: ['vdi-*', 'kiosk-*']
    streaming_mode: filter
    agent_channel: present
    overrides:
      - name: ['kiosk-*']
        streaming_mode: 'off'
    restart: when_needed
    restart_batch: 5
    shutdown_timeout: 300
    backup: true

- name: Tune SPICE compression with streaming, as VDI guides recommend for slow links
  spice.streaming.libvirt_domain:
    name: ['vdi-*']
    streaming_mode: filter
    image_compression: auto_lz
    jpeg_compression: auto
    zlib_compression: auto
    backup: true

- name: Take the stream channel out of one desktop, persistent definition only
  spice.streaming.libvirt_domain:
    name: [desk-042]
    agent_channel: absent
    live: false

- name: Preview on a remote hypervisor, with diffs, nothing changed
  spice.streaming.libvirt_domain:
    uri: qemu+ssh://root@hv01.example.org/system
    name: ['*']
    streaming_mode: filter
    agent_channel: present
  check_mode: true
  diff: true
'''

RETURN = r'''
domains:
  description: What was done to each selected domain, by name.
  returned: always
  type: dict
  contains:
    name:
      description: The domain name.
      type: str
      sample: vdi-001
    active:
      description: Whether the domain was running (or paused) when the task ran.
      type: bool
    changed:
      description: Whether its persistent definition or running state changed.
      type: bool
    actions:
      description: Changes to the persistent definition (in check mode, the changes a real run makes).
      type: list
      elements: str
      sample: ["added <channel type='spiceport'> org.spice-space.stream.0", "set SPICE streaming mode to filter (was off)"]
    live_actions:
      description: Changes applied to the running domain.
      type: list
      elements: str
      sample: ["hot-plugged the stream channel into the running domain"]
    restart_required:
      description:
        - What waits for the next cold start of the running domain, and why.
        - For a shut-off domain with a saved state (C(virsh managedsave)), what the saved state lacks
          compared with the definition, since starting the domain resumes it as it was saved.
      type: list
      elements: dict
      contains:
        change:
          description:
            - The setting that waits, V(streaming_mode), V(image_compression), V(jpeg_compression),
              V(zlib_compression), V(playback_compression) or V(agent_channel).
          type: str
        reason:
          description: Why it could not be applied live.
          type: str
    skipped:
      description: Whether the domain was left alone.
      type: bool
    reason:
      description:
        - Why it was left alone (transient, no SPICE graphics, undefined or turned transient by another
          client while the task ran).
      type: str
    backup_file:
      description: Where its original definition was saved, when O(backup) was set and it changed.
      type: str
    restart:
      description:
        - What O(restart=when_needed) did to the running domain; V(null) when it was not restarted.
      type: dict
      version_added: 0.2.0
      contains:
        state:
          description:
            - V(restarted), V(would_restart) (check mode), V(left_running) (it did not stop in time,
              or it is paused and O(force_off) is not set; check mode says the same),
              V(rolled_back) (it did not start with its new definition and runs its previous one),
              V(down) (it started with neither and is shut off; the task fails for it), V(not_running)
              (it was shut off meanwhile, so it was not started), V(unknown) (the connection was lost
              during its restart), V(transient) (another client undefined it while it still ran; it
              was left alone), V(vanished) (another client removed it during the restart),
              V(saved) (shut off with a saved state, which is never discarded; the change waits).
          type: str
        reason:
          description: What happened, in words, with libvirt's own where it refused something.
          type: str
    notes:
      description: Things worth knowing, for example that someone else changed the definition meanwhile.
      type: list
      elements: str
  sample:
    vdi-001:
      name: vdi-001
      active: true
      changed: true
      actions: ["added <channel type='spiceport'> org.spice-space.stream.0"]
      live_actions: []
      restart_required:
        - change: agent_channel
          reason: "libvirt refused to hot-plug the stream channel on the running domain (...)"
      skipped: false
      reason: null
      backup_file: /var/lib/spice-streaming/backups/vdi-001.5f0c8a52-3d0e-4c7e-9a43-0d1f8a0b7c11.20261124T101500.000000Z.xml
      notes: []
changed_domains:
  description: Names of the domains that changed.
  returned: always
  type: list
  elements: str
  sample: [vdi-001, vdi-002]
restart_required:
  description:
    - Names of running domains, and of shut-off domains with a saved state, with a change that waits for a
      cold start.
  returned: always
  type: list
  elements: str
  sample: [vdi-001]
restarted_domains:
  description: Names of the running domains that O(restart=when_needed) restarted.
  returned: always
  type: list
  elements: str
  sample: [vdi-001]
  version_added: 0.2.0
report:
  description:
    - What happened, per domain, for a person to read; a section with nothing to say is left out.
    - C(changed) (the actions), C(waiting_for_cold_start), C(restarted), C(would_restart),
      C(not_restarted), C(failed), C(skipped) (with the reasons) and C(backups).
  returned: always
  type: dict
  sample:
    changed: {vdi-001: ["added <channel type='spiceport'> org.spice-space.stream.0"]}
    restarted: {vdi-001: "shut down (ACPI) and started; the stream channel now in effect"}
  version_added: 0.2.0
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
  description:
    - Domains left alone, with the reason (transient, no SPICE graphics when selected by a pattern,
      undefined or turned transient by another client while the task ran, and with
      O(unfit_domains=skip) every unfit domain).
  returned: always
  type: dict
  sample: {kiosk-vnc: "no SPICE graphics: it cannot carry a spiceport channel or a streaming mode"}
backup_files:
  description: Backup file of each changed domain, when O(backup) was set.
  returned: always
  type: dict
  sample: {vdi-001: /var/lib/spice-streaming/backups/vdi-001.5f0c8a52-3d0e-4c7e-9a43-0d1f8a0b7c11.20261124T101500.000000Z.xml}
failed_domains:
  description: Domains that could not be brought to the asked state, with the reason.
  returned: failure
  type: dict
  sample: {kiosk-vnc: "has no SPICE graphics: it cannot carry the streaming mode; add <graphics type=\"spice\"> first or leave the domain out"}
possibly_down:
  description:
    - Domains that were being restarted when the connection to libvirt was lost, and may be shut off.
  returned: failure
  type: list
  elements: str
  version_added: 0.2.0
connection_lost:
  description:
    - Present and true when the connection to libvirt was lost during the run. Every domain is then
      either untouched or fully converged; RV(changed_domains) names the ones done, and running the
      task again finishes the job.
  returned: failure
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.spice.streaming.plugins.module_utils import libvirt_task
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import libvirt_argument_spec
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_streaming import (
    StreamingRun,
    override_requests,
)
from ansible_collections.spice.streaming.plugins.module_utils.settings import (
    overrides_argument_spec,
    streaming_argument_spec,
    values_from,
)


def argument_spec():
    spec = libvirt_argument_spec()
    spec.update(libvirt_task.restart_argument_spec())
    spec.update(libvirt_task.internal_argument_spec())
    spec.update(
        require_match=dict(type='bool', default=False),
        unfit_domains=dict(type='str', default='fail', choices=['fail', 'skip']),
        overrides=overrides_argument_spec(),
        live=dict(type='bool', default=True),
        backup=dict(type='bool', default=False),
        backup_dir=dict(type='path', default='/var/lib/spice-streaming/backups'),
    )
    spec.update(streaming_argument_spec())
    return spec


def run_module(module):
    params = module.params
    request = StreamingRequest(**values_from(params))

    def make_run(conn, pool, names):
        return StreamingRun(
            conn, params['uri'], request,
            check_mode=module.check_mode, live=params['live'],
            backup_dir=params['backup_dir'] if params['backup'] else None,
            diff=module._diff, skip_unfit=params['unfit_domains'] == 'skip',
            overrides=override_requests(params['overrides'], request), pool=pool, names=names)

    libvirt_task.run_task(module, make_run, StreamingRun.NOT_DONE)


def main():
    libvirt_task.main(AnsibleModule, argument_spec(), run_module)


if __name__ == '__main__':
    main()
