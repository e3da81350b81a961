#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module runs entirely on the controller, as the action plugin plugins/action/fleet_report.py.

from __future__ import annotations

DOCUMENTATION = r'''
---
module: fleet_report
short_description: Write the SPICE streaming fleet report on the controller
version_added: 0.2.0
description:
  - Turns the registered results of M(spice.streaming.libvirt_domain_info), one per hypervisor, into the
    fleet report with the filter P(spice.streaming.streaming_report#filter), and writes C(index.html)
    (one self-contained page, no script and no external resource, so it opens from a file or an AWX
    artifact) and C(report.md) (the same content as Markdown) into O(dest) on the controller. The
    playbook C(spice.streaming.streaming_report) runs it.
  - The templates are C(report.html.j2) and C(report.md.j2) of the playbook's (or role's)
    C(templates/) directory when it has them, else the collection's own (C(playbooks/templates/)).
    They are rendered by Jinja2 itself with the settings of M(ansible.builtin.template) (trim_blocks,
    the final newline kept, every value escaped by the template); the filters they may use are
    Jinja2's own and C(spice.streaming.markdown_escape). Rendering through Ansible's templar would
    take about fifteen times longer for a large fleet (see C(bench/README.md)).
  - A file whose content would be the same but for its time (the line C(Generated <time>)) is left
    as it is, so a report that found the same state reports no change.
author:
  - spice.streaming maintainers (@spice-streaming)
extends_documentation_fragment:
  - spice.streaming.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
options:
  hypervisors:
    description:
      - Inventory hosts of the hypervisors, in the order the report lists them (the play's hosts,
        C(ansible_play_hosts_all)).
      - Each one's M(spice.streaming.libvirt_domain_info) result is read from its host variable
        O(result_variable), as the filter P(spice.streaming.streaming_report#filter) takes them; a
        failed or unreachable result (with C(ignore_errors) or C(ignore_unreachable)) marks its
        hypervisor as not read, and a host without the variable as not run.
    type: list
    elements: str
    required: true
  result_variable:
    description:
      - The name of the variable each hypervisor registered its M(spice.streaming.libvirt_domain_info)
        result in; the C(report) entry point of the role C(spice.streaming.host_streaming) registers
        C(host_streaming_state).
      - Read from the host variables rather than passed as an argument, since Ansible copies a task's
        arguments several times, which for thousands of domains costs more than the whole report.
    type: str
    default: host_streaming_state
  guests:
    description:
      - Inventory names of the guests (the desktops) to map to their domains, with their host
        variables C(stream_agent_domain) (default the inventory name), C(stream_agent_hypervisor)
        and, where the guest side ran in the same run, C(streaming_agent_status).
    type: list
    elements: str
    default: []
  dest:
    description:
      - The directory on the controller to write C(index.html) and C(report.md) into; created (mode
        0755) when missing. A relative path is relative to the directory C(ansible-playbook) runs in.
    type: path
    required: true
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details:
      - Says which files would be written and writes nothing. The playbook
        C(spice.streaming.streaming_report) runs it with C(check_mode=false), so that a check run
        writes the report too.
  diff_mode:
    support: none
  idempotent:
    description: When run twice in a row over the same state, the second run reports no change.
    details:
      - A second run over the same state changes nothing, whatever the time.
  platform:
    support: full
    platforms: posix
notes:
  - Runs on the controller only; with C(delegate_to) or on any host it writes on the controller.
seealso:
  - module: spice.streaming.libvirt_domain_info
'''

EXAMPLES = r'''
- name: Read every domain
  spice.streaming.libvirt_domain_info:
    compare_with:
      streaming_mode: filter
      agent_channel: present
  register: info
  ignore_errors: true
  ignore_unreachable: true

- name: Write the report on the controller
  spice.streaming.fleet_report:
    hypervisors: "{{ ansible_play_hosts_all }}"
    result_variable: info
    guests: "{{ groups['streaming_guests'] | default([]) }}"
    dest: ./streaming-report
  run_once: true
  check_mode: false
  register: report

- name: Say what it found
  ansible.builtin.debug:
    msg: "{{ report.path }}/index.html: {{ report.sentence }}"
  run_once: true
'''

RETURN = r'''
path:
  description: The report directory, an absolute path.
  returned: always
  type: str
  sample: /home/ops/streaming-report
files:
  description: Per file written (C(index.html), C(report.md)), its C(path) and whether it C(changed).
  returned: always
  type: dict
  sample: {index.html: {path: /home/ops/streaming-report/index.html, changed: false}}
generated:
  description: The time this run would write into the report (a file left as it is keeps its own).
  returned: always
  type: str
  sample: '2026-12-04 10:00:00 UTC'
sentence:
  description: What the report found, in one sentence.
  returned: always
  type: str
  sample: 1000 domains on 20 hypervisors; 980 compliant, 12 waiting, 8 not compliant; ...
fleet:
  description: The counts over the fleet (RV(spice.streaming.streaming_report#filter:_value.fleet)).
  returned: always
  type: dict
hypervisors:
  description:
    - Per inventory host, in the order given, C(host), C(status) (V(ok), V(failed), V(unreachable),
      V(not run)), C(message) (why it could not be read) and C(uri).
  returned: always
  type: list
  elements: dict
'''
