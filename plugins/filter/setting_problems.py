# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``setting_problems``: the host_streaming role's check of its setting variables, from the registry."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.module_utils import settings


def setting_problems(values):
    """Sentences for the values in ``{setting name: role variable's value}`` the setting does not take."""
    if not isinstance(values, dict):
        raise AnsibleFilterError('setting_problems takes a dict of setting names and values, got %s'
                                 % type(values).__name__)
    unknown = sorted(set(values) - set(settings.NAMES))
    if unknown:
        raise AnsibleFilterError('setting_problems: no setting named %s; the settings are %s'
                                 % (', '.join(unknown), ', '.join(settings.NAMES)))
    return settings.role_value_problems(values)


class FilterModule:
    def filters(self):
        return {'setting_problems': setting_problems}
