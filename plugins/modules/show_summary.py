#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: show_summary
short_description: Print a summary on the controller, even when the output hides ok results
version_added: 0.2.0
description:
  - Prints O(msg) through Ansible's display on the controller, the way Ansible prints its
    warnings, instead of through the stdout callback's result line. So the lines show with
    C(ANSIBLE_DISPLAY_OK_HOSTS=false) (C(display_ok_hosts = false)), which big fleets use and
    which hides every ok result, C(ansible.builtin.debug)'s included.
  - The task itself is an ok result that changes nothing (no false C(changed) in the recap, no
    red); its RV(summary) holds the lines, for C(register).
  - C(enable_streaming.yml) ends with it, run once, to print its fleet summary
    (the P(spice.streaming.fleet_summary#filter) filter).
  - An action plugin that runs on the controller; it never connects to the host.
author:
  - spice.streaming maintainers (@spice-streaming)
extends_documentation_fragment:
  - spice.streaming.attributes
  - spice.streaming.attributes.read_only
  - spice.streaming.attributes.controller
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
options:
  msg:
    description: The lines to print, as a list of strings or a string with line breaks.
    type: raw
    required: true
attributes:
  check_mode:
    details:
      - It only prints; check mode prints the same.
notes:
  - The lines go to the controller's standard output between the results of the callback; a
    stdout callback that writes JSON (C(ansible.posix.json)) gets them mixed into its output, so
    such runs set C(streaming_summary=false) in C(enable_streaming.yml).
seealso:
  - module: ansible.builtin.debug
'''

EXAMPLES = r'''
- name: Sum up the fleet, whatever the output hides
  spice.streaming.show_summary:
    msg: "{{ hostvars | spice.streaming.fleet_summary(groups['hypervisors'], groups['streaming_guests'] | default([])) }}"
  run_once: true
'''

RETURN = r'''
summary:
  description: The lines printed.
  returned: always
  type: list
  elements: str
  sample: ["spice.streaming summary of enable_streaming.yml", "hypervisors: 2 (2 done)"]
'''
