#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: libvirt_domain_info
short_description: Read the SPICE video streaming state of libvirt domains
version_added: 0.2.0
description:
  - Reads, in one pass over read-only connections, what the selected libvirt domains of a
    hypervisor say about SPICE streaming; that is the streaming mode, the image, JPEG, zlib and
    playback compression and the C(org.spice-space.stream.0) channel of the persistent definition,
    the same in the running domain, whether a process in the guest holds that channel open, what waits for a cold start,
    and what would stop M(spice.streaming.libvirt_domain) on the domain.
  - Per domain it reads only the inactive XML of a persistent domain and the live XML of a running
    one, and keeps a small summary, never the XML. Nothing is changed, and no secret is read.
  - With O(guest_agent), it also asks the QEMU guest agents of the running SPICE domains what OS
    runs in them and which addresses they have, over a read-write connection (libvirt's rule).
  - Selects domains with the same options and the same rules as M(spice.streaming.libvirt_domain).
    O(name) defaults to every domain.
  - An exact name that matches no domain does not fail the task, unlike in
    M(spice.streaming.libvirt_domain), which must not change a partial selection; a report
    needs what exists. Every domain that exists is read, the missing names are returned in
    RV(missing_domains), and the task warns about each, naming the hypervisor and the URI.
    A C(failed_when) on RV(missing_domains) makes them an error (see EXAMPLES).
  - A domain that M(spice.streaming.libvirt_domain) would leave alone (transient, or without SPICE
    graphics while selected by a pattern) is still described, with RV(domains.skipped) and the reason.
author:
  - spice.streaming maintainers (@spice-streaming)
extends_documentation_fragment:
  - spice.streaming.attributes
  - spice.streaming.attributes.read_only
  - ansible.builtin.action_common_attributes
  - spice.streaming.streaming.libvirt
options:
  name:
    description:
      - Domains to read, by exact name or shell-style pattern (V(vdi-*), V(*)).
      - An entry equal to an existing domain's name means exactly that domain; otherwise an
        entry with C(*), C(?) or C([) is a pattern, and one without them an exact name that must
        exist, or the task fails.
      - Defaults to every domain of the hypervisor, which is what a report wants.
      - An exact name that matches no domain is listed in RV(missing_domains) with a warning;
        the task still reads the others.
    type: list
    elements: str
    required: false
    default: ['*']
    aliases: [ domains ]
  compare_with:
    description:
      - What M(spice.streaming.libvirt_domain) would be asked for, that is its settings
        (O(compare_with.streaming_mode), O(compare_with.image_compression),
        O(compare_with.jpeg_compression), O(compare_with.zlib_compression),
        O(compare_with.playback_compression), O(compare_with.agent_channel)) and
        O(compare_with.overrides), with the same meaning (V(null) leaves that part as it is; in an
        override, V(null) takes the value above).
      - Each domain then says what is asked of it (RV(domains.asked), the first override that
        matches it chosen) and how it stands against that (RV(domains.compliance), with the
        reasons), judged with the very functions M(spice.streaming.libvirt_domain) plans with; and
        RV(summary.compliance) counts them. Nothing is changed.
      - The C(report) entry point of the role C(spice.streaming.host_streaming) passes the role's
        variables here (C(host_streaming_mode), the compression variables,
        C(host_streaming_agent_channel), C(host_streaming_overrides)), so the playbook
        C(spice.streaming.streaming_report) compares with what C(spice.streaming.enable_streaming)
        asks with the same inventory.
      - When not given, RV(domains.asked) and RV(domains.compliance) are V(null).
    type: dict
    version_added: 0.2.0
    suboptions:
      streaming_mode:
        description: The SPICE streaming mode asked for; V(null) leaves it as it is.
        type: str
        choices: ['off', all, filter]
      image_compression:
        description: The SPICE image compression asked for; V(null) leaves it as it is.
        type: str
        choices: [auto_glz, auto_lz, quic, glz, lz, 'off']
      jpeg_compression:
        description: The SPICE JPEG compression asked for; V(null) leaves it as it is.
        type: str
        choices: [auto, never, always]
      zlib_compression:
        description: The SPICE zlib compression asked for; V(null) leaves it as it is.
        type: str
        choices: [auto, never, always]
      playback_compression:
        description: The SPICE playback compression asked for; V(null) leaves it as it is.
        type: str
        choices: ['on', 'off']
      agent_channel:
        description: Whether the stream channel is asked for; V(null) leaves it as it is.
        type: str
        choices: [present, absent]
      overrides:
        description:
          - Per-domain exceptions, as O(spice.streaming.libvirt_domain#module:overrides); the first
            whose O(compare_with.overrides[].name) matches a domain gives its settings.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Names or shell-style patterns, matched as in O(name).
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
  guest_agent:
    description:
      - Also ask the QEMU guest agent (channel C(org.qemu.guest_agent.0), C(qemu-guest-agent) in the
        guest) of every running domain with SPICE graphics for its OS and addresses, and read
        libvirt's DHCP leases and ARP table for its addresses, as the
        P(spice.streaming.desktops#inventory) inventory plugin does; the answer is in
        RV(domains.guest).
      - libvirt lets a client talk to a guest agent only over a read-write connection, so the module
        opens one (it still calls nothing that changes anything); when the hypervisor refuses it,
        the module reads read-only, without the agents, and warns.
      - C(enable_streaming.yml) sets it to find the desktops of the hypervisors (C(streaming_discover_guests)).
    type: bool
    default: false
    version_added: 0.2.0
  guest_agent_timeout:
    description:
      - Seconds one domain's guest agent gets to answer; a domain whose agent does not answer in
        time is described without it (RV(domains.guest.agent) says so). Only with O(guest_agent).
    type: float
    default: 5
    version_added: 0.2.0
attributes:
  check_mode:
    details:
      - The module never changes anything; check mode runs it exactly as a real run does.
notes:
  - RV(domains.agent_channel_state) is the host-side proof that C(spice-streaming-agent) runs in the
    guest; libvirt turns it to V(connected) while a process in the guest holds the port open.
  - If the connection to libvirt is lost during the pass, the task fails once, saying how many
    domains were read; running it again is safe.
seealso:
  - module: spice.streaming.libvirt_domain
'''

EXAMPLES = r'''
- name: Read the streaming state of every domain of the hypervisor
  spice.streaming.libvirt_domain_info:
  register: streaming_info

- name: Running desktops whose stream channel no agent holds open
  ansible.builtin.debug:
    msg: >-
      {{ streaming_info.domains | dict2items
         | selectattr('value.agent_channel_state', 'equalto', 'disconnected')
         | map(attribute='key') }}

- name: The VDI pool of a remote hypervisor, golden images left out
  spice.streaming.libvirt_domain_info:
    uri: qemu+ssh://root@hv01.example.org/system
    name: ['vdi-*']
    exclude: ['vdi-golden-*']
  register: vdi

- name: Desktops that wait for a cold start
  ansible.builtin.debug:
    var: vdi.restart_required

- name: How the desktops stand against what a rollout would ask (kiosks do not stream)
  spice.streaming.libvirt_domain_info:
    name: ['vdi-*', 'kiosk-*']
    compare_with:
      streaming_mode: filter
      agent_channel: present
      overrides:
        - name: ['kiosk-*']
          streaming_mode: 'off'
  register: fleet

- name: Desktops whose definition is not as asked
  ansible.builtin.debug:
    msg: >-
      {{ fleet.domains | dict2items | selectattr('value.compliance', 'equalto', 'not_compliant')
         | map(attribute='key') }}

- name: The running desktops' OS and addresses, from their QEMU guest agents
  spice.streaming.libvirt_domain_info:
    name: ['vdi-*']
    guest_agent: true
  register: desktops

- name: The desktops whose guest agent answered
  ansible.builtin.debug:
    msg: >-
      {{ desktops.domains | dict2items | selectattr('value.guest', 'defined')
         | selectattr('value.guest.agent', 'equalto', 'answered') | map(attribute='key') }}

- name: Three desktops named exactly; fail if one of them does not exist (after reading the others)
  spice.streaming.libvirt_domain_info:
    name: [desk-01, desk-02, desk-03]
  register: desks
  failed_when: desks.missing_domains | length > 0
'''

RETURN = r'''
hypervisor:
  description: The host name of the hypervisor, as libvirt reports it.
  returned: always
  type: str
  sample: hv01.example.org
uri:
  description: The libvirt connection URI that was read.
  returned: always
  type: str
  sample: qemu:///system
libvirt_version:
  description:
    - The version of libvirt on the hypervisor (its daemon, C(virConnectGetLibVersion)); V(null)
      when libvirt does not say.
  returned: always
  type: str
  sample: 9.0.0
  version_added: 0.2.0
qemu_version:
  description:
    - The version of QEMU on the hypervisor (C(virConnectGetVersion) of a QEMU driver
      connection); V(null) for another driver or when libvirt does not say.
  returned: always
  type: str
  sample: 7.2.0
  version_added: 0.2.0
asked:
  description:
    - O(compare_with) as used, each override with the values it takes from the task;
      V(null) without O(compare_with).
  returned: always
  type: dict
  sample: {streaming_mode: filter, agent_channel: present, overrides: [{name: ['kiosk-*'], streaming_mode: 'off', agent_channel: present}]}
  version_added: 0.2.0
domains:
  description: The streaming state of each selected domain, by name.
  returned: always
  type: dict
  contains:
    active:
      description: Whether the domain is running (or paused).
      type: bool
    persistent:
      description: Whether the domain has a persistent definition (false for a transient domain).
      type: bool
    state:
      description: V(running), V(paused) or V(shut off).
      type: str
    graphics:
      description: The types of its graphics devices, in document order (persistent definition; live XML for a transient domain).
      type: list
      elements: str
      sample: [spice]
    streaming_mode:
      description:
        - The SPICE streaming mode written in the persistent definition; V(null) when unset (QEMU
          then runs V(off)), without SPICE graphics, or for a transient domain.
      type: str
      sample: filter
    streaming_mode_live:
      description:
        - The mode the running domain streams with (V(off) when its live XML has no mode);
          V(null) when it is not running or has no SPICE graphics.
      type: str
      sample: 'off'
    image_compression:
      description:
        - The SPICE image compression written in the persistent definition; V(null) when unset (QEMU
          then runs V(auto_glz)), without SPICE graphics, or for a transient domain.
      type: str
      sample: glz
      version_added: 0.2.0
    image_compression_live:
      description:
        - The SPICE image compression the running domain runs with (V(auto_glz) when its live XML has
          none); V(null) when it is not running or has no SPICE graphics. libvirt cannot change it on
          a running domain, so a difference from RV(domains.image_compression) waits for a cold start (see
          RV(domains.restart_required)).
      type: str
      sample: auto_glz
      version_added: 0.2.0
    jpeg_compression:
      description:
        - The SPICE JPEG compression written in the persistent definition; V(null) when unset (QEMU
          then runs V(auto)), without SPICE graphics, or for a transient domain.
      type: str
      sample: never
      version_added: 0.2.0
    jpeg_compression_live:
      description:
        - The SPICE JPEG compression the running domain runs with (V(auto) when its live XML has
          none); V(null) when it is not running or has no SPICE graphics. libvirt cannot change it on
          a running domain, so a difference from RV(domains.jpeg_compression) waits for a cold start (see
          RV(domains.restart_required)).
      type: str
      sample: auto
      version_added: 0.2.0
    zlib_compression:
      description:
        - The SPICE zlib compression written in the persistent definition; V(null) when unset (QEMU
          then runs V(auto)), without SPICE graphics, or for a transient domain.
      type: str
      sample: never
      version_added: 0.2.0
    zlib_compression_live:
      description:
        - The SPICE zlib compression the running domain runs with (V(auto) when its live XML has
          none); V(null) when it is not running or has no SPICE graphics. libvirt cannot change it on
          a running domain, so a difference from RV(domains.zlib_compression) waits for a cold start (see
          RV(domains.restart_required)).
      type: str
      sample: auto
      version_added: 0.2.0
    playback_compression:
      description:
        - The SPICE playback compression written in the persistent definition; V(null) when unset (QEMU
          then runs V(on)), without SPICE graphics, or for a transient domain.
      type: str
      sample: 'off'
      version_added: 0.2.0
    playback_compression_live:
      description:
        - The SPICE playback compression the running domain runs with (V(on) when its live XML has
          none); V(null) when it is not running or has no SPICE graphics. libvirt cannot change it on
          a running domain, so a difference from RV(domains.playback_compression) waits for a cold start (see
          RV(domains.restart_required)).
      type: str
      sample: 'on'
      version_added: 0.2.0
    agent_channel:
      description: Whether the persistent definition has the C(org.spice-space.stream.0) spiceport channel.
      type: bool
    agent_channel_live:
      description: Whether the running domain has that channel (false when not running).
      type: bool
    agent_channel_state:
      description:
        - V(connected) while a process in the guest holds the stream port open, V(disconnected)
          otherwise, from the live XML; V(null) when the domain is not running or has no channel.
      type: str
      sample: disconnected
    has_managed_save:
      description:
        - Whether the domain is shut off with a saved state (C(virsh managedsave)). Starting it
          resumes that state with the configuration it was saved with, so a change of its definition
          waits (see RV(domains.restart_required)) until the saved state is discarded (C(virsh
          managedsave-remove), which loses the guest's running session) or until a cold start after
          it was resumed and shut down.
      type: bool
    restart_required:
      description:
        - What the running domain lacks, or still has, compared with its persistent definition; takes effect at
          the next cold start.
        - For a shut-off domain with a saved state (RV(domains.has_managed_save)), what the saved state lacks
          compared with the definition; the reason says how the change can take effect.
      type: list
      elements: dict
      contains:
        change:
          description:
            - The setting that differs, V(streaming_mode), V(image_compression), V(jpeg_compression),
              V(zlib_compression), V(playback_compression) or V(agent_channel).
          type: str
        reason:
          description: What differs and when it takes effect.
          type: str
    problems:
      description:
        - What would stop or trouble M(spice.streaming.libvirt_domain) on this domain, as sentences
          (a non-spiceport port named C(org.spice-space.stream.0), duplicated stream channels, a
          stream channel without a virtio-serial controller, no SPICE graphics or a transient
          domain when named exactly, a definition that cannot be read).
      type: list
      elements: str
    skipped:
      description: Whether M(spice.streaming.libvirt_domain) would leave the domain alone.
      type: bool
    reason:
      description: Why it would be left alone (transient, no SPICE graphics, disappeared while read); V(null) otherwise.
      type: str
    asked:
      description:
        - With O(compare_with), what is asked of this domain (each setting, C(streaming_mode) to
          C(agent_channel); V(null) in one means "leave it"), the first override that matches it chosen; V(null)
          otherwise.
      type: dict
      version_added: 0.2.0
    compliance:
      description:
        - With O(compare_with), how the domain stands against RV(domains.asked), as
          M(spice.streaming.libvirt_domain) would see it; V(null) otherwise.
        - V(compliant) when the definition and the running state (or the saved state a start
          would resume) are as asked; V(waiting) when the definition is as asked and the running
          domain or its saved state is not yet (a cold start, or a hot-plug, applies it);
          V(not_compliant) when M(spice.streaming.libvirt_domain) would change the definition or
          cannot bring the domain to the asked state; V(left_alone) for a domain it skips.
      type: str
      choices: [compliant, waiting, not_compliant, left_alone]
      version_added: 0.2.0
    compliance_reasons:
      description: Why the domain is V(waiting) or V(not_compliant), as sentences (the changes the module would make, what waits and for what).
      type: list
      elements: str
      version_added: 0.2.0
    guest:
      description:
        - What the QEMU guest agent, libvirt's DHCP leases and the ARP table say of a domain with
          SPICE graphics; only with O(guest_agent).
      returned: when O(guest_agent) is true, for domains with SPICE graphics
      type: dict
      version_added: 0.2.0
      contains:
        agent:
          description: V(answered), or why the guest agent was not asked or did not answer.
          type: str
          sample: "not asked: the desktop is shut off"
        os:
          description:
            - The C(os.*) keys of libvirt's C(guestInfo) without the prefix (C(id), C(name),
              C(pretty-name), C(version), C(version-id), C(kernel-release), C(machine)); V(null)
              when the agent did not answer.
          type: dict
          sample: {id: debian, name: Debian GNU/Linux, version-id: '12'}
        libosinfo_id:
          description: The libosinfo OS id of the definition's metadata, read when the agent did not answer.
          type: str
          sample: http://debian.org/debian/12
        addresses:
          description:
            - Addresses, guest agent's first (inside the guest), then DHCP leases, then ARP
              (seen from the hypervisor), each with C(address), C(prefix), C(family) (V(ipv4) or
              V(ipv6)), C(interface), C(hwaddr) and C(source) (V(agent), V(lease), V(arp)).
          type: list
          elements: dict
  sample:
    vdi-001:
      active: true
      persistent: true
      state: running
      graphics: [spice]
      streaming_mode: filter
      streaming_mode_live: 'off'
      image_compression: glz
      image_compression_live: auto_glz
      jpeg_compression: null
      jpeg_compression_live: auto
      zlib_compression: null
      zlib_compression_live: auto
      playback_compression: null
      playback_compression_live: 'on'
      agent_channel: true
      agent_channel_live: true
      agent_channel_state: disconnected
      has_managed_save: false
      restart_required:
        - change: streaming_mode
          reason: "the definition says streaming mode filter, the running domain streams with off; ..."
      problems: []
      skipped: false
      reason: null
      asked: {streaming_mode: filter, image_compression: null, jpeg_compression: null, zlib_compression: null,
              playback_compression: null, agent_channel: present}
      compliance: waiting
      compliance_reasons:
        - "the running domain streams with mode off; libvirt cannot change the SPICE streaming mode of a running domain, ..."
summary:
  description: Counts over the selected domains of this hypervisor.
  returned: always
  type: dict
  contains:
    domains:
      description: Selected domains.
      type: int
    running:
      description: Running (not paused) domains.
      type: int
    paused:
      description: Paused domains.
      type: int
    shut_off:
      description: Domains that are not running.
      type: int
    transient:
      description: Transient domains.
      type: int
    spice:
      description: Domains with SPICE graphics.
      type: int
    streaming_modes:
      description: Persistent SPICE definitions by streaming mode (V(unset) when the definition has none).
      type: dict
      sample: {'off': 0, all: 1, filter: 40, unset: 2}
    image_compression:
      description: Persistent SPICE definitions by image compression (V(unset) when the definition has none).
      type: dict
      sample: {auto_glz: 0, auto_lz: 0, quic: 3, glz: 40, lz: 0, 'off': 0, unset: 0}
      version_added: 0.2.0
    jpeg_compression:
      description: Persistent SPICE definitions by JPEG compression (V(unset) when the definition has none).
      type: dict
      sample: {auto: 0, never: 0, always: 0, unset: 43}
      version_added: 0.2.0
    zlib_compression:
      description: Persistent SPICE definitions by zlib compression (V(unset) when the definition has none).
      type: dict
      sample: {auto: 0, never: 0, always: 0, unset: 43}
      version_added: 0.2.0
    playback_compression:
      description: Persistent SPICE definitions by playback compression (V(unset) when the definition has none).
      type: dict
      sample: {'on': 0, 'off': 0, unset: 43}
      version_added: 0.2.0
    agent_channel:
      description: Persistent definitions with the stream channel.
      type: int
    agent_connected:
      description: Running domains whose stream channel a process in the guest holds open.
      type: int
    agent_disconnected:
      description: Running domains with the stream channel that nothing in the guest holds open.
      type: int
    restart_required:
      description: Running domains, and shut-off domains with a saved state, that wait for a cold start.
      type: int
    problems:
      description: Domains with at least one problem.
      type: int
    skipped:
      description: Domains M(spice.streaming.libvirt_domain) would leave alone.
      type: int
    compliance:
      description: Domains by RV(domains.compliance) (all zero without O(compare_with)).
      type: dict
      sample: {compliant: 38, waiting: 2, not_compliant: 1, left_alone: 1}
      version_added: 0.2.0
restart_required:
  description: Names of the running domains, and shut-off domains with a saved state, that wait for a cold start.
  returned: always
  type: list
  elements: str
  sample: [vdi-001]
skipped_domains:
  description: Domains M(spice.streaming.libvirt_domain) would leave alone, with the reason.
  returned: always
  type: dict
  sample: {kiosk-vnc: "no SPICE graphics: it cannot carry a spiceport channel or a streaming mode"}
missing_domains:
  description:
    - Exact names of O(name) that match no domain of the hypervisor, in the order given. Each
      also gets a warning. Patterns that match nothing are not listed.
  returned: always
  type: list
  elements: str
  sample: [desk-404]
domains_read:
  description: How many domains were read before the connection to libvirt was lost.
  returned: failure
  type: int
  sample: 412
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import (
    StreamingError,
    ensure_bindings,
    libvirt_argument_spec,
    option_problem,
)
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_desktops import read_host_with_guests
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_info import read_host
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_streaming import override_requests
from ansible_collections.spice.streaming.plugins.module_utils.settings import (
    overrides_argument_spec,
    streaming_argument_spec,
    values_from,
)


def argument_spec():
    spec = libvirt_argument_spec()
    # A report wants every domain: name is optional here.
    spec['name'] = dict(type='list', elements='str', default=['*'], aliases=['domains'])
    # libvirt_domain's own request options, to compare with.
    asked = streaming_argument_spec()
    asked['overrides'] = overrides_argument_spec()
    spec['compare_with'] = dict(type='dict', options=asked)
    spec['guest_agent'] = dict(type='bool', default=False)
    spec['guest_agent_timeout'] = dict(type='float', default=5.0)
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    ensure_bindings(module)
    params = module.params
    problem = option_problem(params)
    if problem:
        module.fail_json(msg=problem)
    request = overrides = None
    if params['compare_with'] is not None:
        asked = params['compare_with']
        request = StreamingRequest(**values_from(asked))
        overrides = override_requests(asked['overrides'], request)
    if params['guest_agent_timeout'] <= 0:
        module.fail_json(msg='guest_agent_timeout must be more than 0 seconds, got %s' % params['guest_agent_timeout'])
    try:
        if params['guest_agent']:
            result = read_host_with_guests(params['uri'], params['name'], params['exclude'], params['parallel'],
                                           timeout=params['libvirt_timeout'],
                                           agent_timeout=params['guest_agent_timeout'],
                                           request=request, overrides=overrides or ())
        else:
            result = read_host(params['uri'], params['name'], params['exclude'], params['parallel'],
                               timeout=params['libvirt_timeout'], request=request, overrides=overrides or ())
    except StreamingError as err:
        details = {'changed': False}
        details.update(err.details)
        module.fail_json(msg=err.msg, **details)
    for text in result.pop('warnings', []):
        module.warn(text)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
