# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs spice.streaming.libvirt_domain: a null streaming option means "leave it"
(plugin_utils/leave_null.py), restarts run batch by batch with progress, and what a
person must see is printed even when ok results are hidden (plugin_utils/domain_task.py)."""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.module_utils.libvirt_streaming import StreamingRun
from ansible_collections.spice.streaming.plugins.plugin_utils.domain_task import DomainTaskAction


class ActionModule(DomainTaskAction):
    RUN_CLASS = StreamingRun
