# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``closing_lines`` filter: the host_streaming role's closing report over its hypervisors.

Documentation lives beside this file, in ``closing_lines.yml``; the logic in
``plugin_utils/run_output.py``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.plugin_utils import run_output


def closing_lines(results):
    if not isinstance(results, dict):
        raise AnsibleFilterError('closing_lines expects a mapping of host to the result of '
                                 'spice.streaming.libvirt_domain (or libvirt_domain_restore), got %s'
                                 % type(results).__name__)
    lines = run_output.closing_lines(results)
    return lines[0] if len(lines) == 1 else lines


class FilterModule:
    """The closing report of the host_streaming role."""

    def filters(self):
        return {'closing_lines': closing_lines}
