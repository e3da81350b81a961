# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What SPICE streaming means, shared by every plugin of the collection.

The libvirt module, the QEMU command-line module and the ``qemu_args`` filter
all take the same two inputs; their names, choices and meaning live here once.
"""

from __future__ import annotations

# spice-server only treats a port as a stream device when its name is exactly
# this (spice server/reds.cpp).
STREAM_PORT_NAME = 'org.spice-space.stream.0'

# QEMU's -spice streaming-video= and libvirt's <streaming mode=...>.  When the
# option is absent QEMU passes "off", so "not set" means off.
STREAMING_MODES = ('off', 'all', 'filter')
DEFAULT_STREAMING_MODE = 'off'

AGENT_CHANNEL_STATES = ('present', 'absent')


def streaming_argument_spec():
    """Argument spec of the options every streaming plugin shares.

    Both options default to ``None``: an omitted option means "leave that part
    as it is".  An explicit ``null`` means the same; AnsibleModule would refuse it
    as no choice, so the modules' action plugins drop it before the module runs
    (``plugin_utils/leave_null.py``).
    """
    return dict(
        streaming_mode=dict(type='str', choices=list(STREAMING_MODES)),
        agent_channel=dict(type='str', choices=list(AGENT_CHANNEL_STATES)),
    )


def overrides_argument_spec():
    """Argument spec of ``overrides``: per-domain exceptions to the two options above.

    In an override, a null (or left out) option means "the task's value"
    (``libvirt_streaming.override_requests``).
    """
    return dict(type='list', elements='dict', default=[], options=dict(
        name=dict(type='list', elements='str', required=True),
        streaming_mode=dict(type='str', choices=list(STREAMING_MODES), aliases=['mode']),
        agent_channel=dict(type='str', choices=list(AGENT_CHANNEL_STATES))))


def effective_streaming_mode(mode):
    """The mode QEMU really runs with when ``mode`` is written (``None``: absent)."""
    return mode if mode else DEFAULT_STREAMING_MODE
