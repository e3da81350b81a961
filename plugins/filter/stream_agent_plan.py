# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``stream_agent_plan`` filter: what the stream_agent role does on one guest.

Documentation lives beside this file, in ``stream_agent_plan.yml``; the decisions live in
``module_utils/agent_plan.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.module_utils import agent_plan


def stream_agent_plan(inputs, facts, platforms, package=None, so_far=agent_plan.NOTHING_CHANGED):
    """The stream_agent role's plan for a guest (``agent_plan.plan``)."""
    for name, value in (('inputs', inputs), ('facts', facts), ('platforms', platforms)):
        if not isinstance(value, Mapping):
            raise AnsibleFilterError('spice.streaming.stream_agent_plan: %s must be a dict, not %s'
                                     % (name, type(value).__name__))
    try:
        return agent_plan.plan(dict(inputs), dict(facts), {stem: dict(row or {}) for stem, row in platforms.items()},
                               package=None if package is None else list(package), so_far=so_far)
    except agent_plan.PlanError as err:
        raise AnsibleFilterError('spice.streaming.stream_agent_plan: %s' % err) from err


class FilterModule:
    """The stream_agent role's decisions."""

    def filters(self):
        return {'stream_agent_plan': stream_agent_plan}
