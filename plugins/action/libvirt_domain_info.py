# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs spice.streaming.libvirt_domain_info; a null in compare_with means "leave it" (see plugin_utils/leave_null.py)."""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.plugin_utils.leave_null import LeaveNullActionBase


class ActionModule(LeaveNullActionBase):
    pass
