#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: end_unreachable
short_description: End a host as unreachable, with the reason found earlier, without connecting
version_added: 0.2.0
description:
  - Returns an unreachable result with O(msg), as a connection that fails would, without sending
    anything to the host. The host leaves the run as UNREACHABLE (C(ansible-playbook) exits 4),
    and the recap counts it so.
  - C(enable_streaming.yml) uses it last. A desktop that does not answer is first noted with
    C(ignore_unreachable) (ansible-core drops an unreachable host from the later plays, and ends the
    whole playbook when every host of a play is gone, so one powered-off desktop would cost the
    others their verify play and the fleet summary); the summary names it with the reason, and
    then this task ends it as unreachable, as it would have been.
  - An action plugin that runs on the controller.
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
    description: Why the host did not answer (the message of the connection that failed).
    type: str
    required: true
attributes:
  check_mode:
    details:
      - Check mode ends the host the same way.
seealso:
  - module: ansible.builtin.ping
'''

EXAMPLES = r'''
- name: Note whether the desktop answers, without leaving the play
  ansible.builtin.ping:
  ignore_unreachable: true
  register: answer

# ... the other hosts' tasks, a summary ...

- name: End it as unreachable, as the ping found it
  spice.streaming.end_unreachable:
    msg: "{{ answer.msg }}"
  when: answer is unreachable
'''

RETURN = r'''
msg:
  description: O(msg).
  returned: always
  type: str
  sample: "Failed to connect to the host via ssh: ssh: connect to host 192.0.2.7 port 22: Connection timed out"
unreachable:
  description: Always true.
  returned: always
  type: bool
'''
