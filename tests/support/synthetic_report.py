# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A large fleet's libvirt_domain_info results, made by the module's own code from real definitions.

The report's layout and speed are checked on hundreds of domains per hypervisor, more than a
test should start.  ``libvirt_info.describe`` (what libvirt_domain_info runs per domain) turns
the real libvirt definitions of tests/unit/plugins/module_utils/fixtures/domains/ (as
persistent definitions, live XML of running domains, saved states) into the per-domain dicts,
and ``libvirt_info.summarize`` into the counts: only the libvirt reads are left out.  The mix of
states is fixed by the domain's number, so the same call gives the same fleet.
"""

from __future__ import annotations

import copy
import os

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_info
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import SelectedDomain
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_streaming import (
    override_requests,
    request_for,
)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'unit', 'plugins', 'module_utils', 'fixtures', 'domains')
# What the rollout asks: enable_streaming.yml's defaults, kiosks without streaming.
ENABLE = dx.StreamingRequest('filter', 'present')
OVERRIDES = [{'name': ['*-kiosk-*'], 'streaming_mode': 'off', 'agent_channel': None}]


def _load(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return dx.parse_domain(handle.read())


def _live(root, state):
    live = copy.deepcopy(root)
    for channel in dx.stream_channels(live):
        channel.find('target').set('state', state)
    return live


def _shapes():
    """(label, persistent root or None, live root or None, saved root or None, active) by kind."""
    done = _load('q35-spice-streaming-filter.xml')
    plain = _load('q35-spice-virtmanager.xml')
    return [
        ('streaming', done, _live(done, 'connected'), None, True),
        ('streaming', done, _live(done, 'connected'), None, True),
        ('streaming', done, _live(done, 'connected'), None, True),
        ('streaming', done, None, None, False),
        ('agent-not-running', done, _live(done, 'disconnected'), None, True),
        ('not-enabled', plain, None, None, False),
        ('not-enabled-running', plain, _live(plain, 'disconnected'), None, True),
        ('waits-for-restart', done, plain, None, True),
        ('saved', done, None, plain, False),
        ('vnc', _load('q35-vnc-only.xml'), None, None, False),
        ('duplicate-channel', _load('q35-duplicate-stream-channel.xml'), None, None, False),
        ('unix-port', _load('q35-spice-stream-channel-other-type.xml'), None, None, False),
        ('transient', None, _live(done, 'connected'), None, True),
        ('aarch64', _load('aarch64-virt-spice.xml'), None, None, False),
        ('mode-all', _load('q35-spice-streaming-all-no-channel.xml'), None, None, False),
        ('kiosk', done, _live(done, 'disconnected'), None, True),
    ]


def domain_name(host_number, number, label):
    if label == 'kiosk':
        return 'hv%02d-kiosk-%04d' % (host_number, number)
    if number % 97 == 5:
        # Now and then a long name, the kind a provisioning tool makes.
        return 'vdi-hv%02d-%04d-%s-finance-department-floor-3-persistent-desktop-pool-b' % (host_number, number, label)
    return 'vdi-hv%02d-%04d' % (host_number, number)


def host_result(host_number, domains, shapes=None):
    """One hypervisor's libvirt_domain_info result with ``domains`` domains, compared with ENABLE."""
    shapes = shapes or _shapes()
    overrides = override_requests(OVERRIDES, ENABLE)
    infos = {}
    for number in range(domains):
        label, inactive, live, saved, active = shapes[(number * 7 + host_number) % len(shapes)]
        name = domain_name(host_number, number, label)
        selected = SelectedDomain(name, None, False, active, inactive is not None)
        state = ('paused' if number % 11 == 0 else 'running') if active else 'shut off'
        info = libvirt_info._blank(selected, state)   # pylint: disable=protected-access
        info['has_managed_save'] = saved is not None
        libvirt_info.describe(info, inactive, live, exact=False, saved_root=saved,
                              request=request_for(overrides, ENABLE, name))
        infos[name] = info
    return {
        'changed': False, 'hypervisor': 'hv%02d.example.org' % host_number, 'uri': 'qemu:///system',
        'libvirt_version': '9.0.0', 'qemu_version': '7.2.0',
        'asked': {'streaming_mode': 'filter', 'agent_channel': 'present',
                  'overrides': [{'name': ['*-kiosk-*'], 'streaming_mode': 'off', 'agent_channel': 'present'}]},
        'domains': infos, 'summary': libvirt_info.summarize(infos), 'missing_domains': [],
        'restart_required': sorted(name for name, info in infos.items() if info['restart_required']),
        'skipped_domains': {name: info['reason'] for name, info in infos.items() if info['skipped']},
    }


def fleet(hypervisors=20, domains=500):
    """``{inventory host: result}`` for ``hypervisors`` hosts of ``domains`` domains each."""
    shapes = _shapes()
    return {'hv%02d' % number: host_result(number, domains, shapes) for number in range(1, hypervisors + 1)}
