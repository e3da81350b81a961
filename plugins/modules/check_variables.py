#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: check_variables
short_description: Warn about variables of spice.streaming that have no effect
version_added: 0.2.0
description:
  - Warns about every variable whose name starts with one of the collection's prefixes
    (C(host_streaming_*), C(stream_agent_*), C(streaming_*)) and that the collection does not
    know, a misspelled name most of the time, with the closest valid name ("did you mean
    host_streaming_mode?"). Such a variable has no effect; the role applies its default instead.
  - The names the collection knows are read from the collection itself, never from a list kept
    by hand, that is the options of its roles' argument specs, and every name with one of the prefixes
    that its playbooks, roles and inventory plugin use (what they read, and what they register
    or set for later plays, such as C(host_streaming_result)).
  - Warns when C(streaming_serial) is set yet the play runs more hosts at once than it asks.
    It is the value of the play keyword C(serial) in the collection's playbooks, which Ansible
    reads before any inventory variable, so in group_vars or host_vars it has no effect; give
    it with C(-e).
  - The host_streaming role needs no task of its own for it; the actions of its module tasks
    (M(spice.streaming.libvirt_domain), M(spice.streaming.libvirt_domain_restore)) make the same
    check before they run, when the role calls them; every host finds the same and Ansible shows
    each warning once. In a play with C(serial), only the first batch checks, for every host.
  - Runs on the controller and changes nothing.
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
  hosts:
    description:
      - The hosts whose variables are checked (inventory, group and host variables, extra
        variables, and facts set by earlier plays).
      - Default every host of the inventory.
    type: list
    elements: str
attributes:
  delegation:
    details: It reads the variables of the hosts given in O(hosts), wherever it runs.
  platform:
    platforms: all
notes:
  - With C(ANSIBLE_DISPLAY_OK_HOSTS=false), Ansible hides the warnings of a task that reports
    C(ok), as it hides the task.
  - README.md (section Variables) says which prefix belongs to which role or playbook.
'''

EXAMPLES = r'''
- name: Warn about misspelled variables of spice.streaming, once for the play
  spice.streaming.check_variables:
  run_once: true
'''

RETURN = r'''
unknown_variables:
  description: Each unknown variable, with the hosts it is set for and the closest known name (or null).
  returned: always
  type: dict
  sample: {host_streaming_mod: {hosts: [hv01, hv02], closest: host_streaming_mode}}
'''
