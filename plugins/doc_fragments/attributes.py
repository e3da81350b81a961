# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Attributes the collection's modules share, on top of ansible.builtin.action_common_attributes.

    A module lists after this fragment only what is its own; its own keys win over the
    fragment's (ansible-core merges each attribute key by key).
    """

    # What "idempotent" means for every module of the collection.
    DOCUMENTATION = r'''
attributes:
  idempotent:
    description: When run twice in a row with the same options, the second run reports no change.
    support: full
'''

    # A module that reads or prints and changes nothing.
    READ_ONLY = r'''
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    details:
      - C(changed) is always false.
  platform:
    support: full
    platforms: posix
'''

    # An action plugin with no module code: it runs on the controller only.
    CONTROLLER = r'''
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  connection:
    support: none
    details:
      - It runs on the controller and never connects to the host.
  delegation:
    support: none
'''
