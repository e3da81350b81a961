# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desktop_hosts and desktop_now filters: what enable_streaming.yml gives add_host."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.filter.desktops import FilterModule

FILTERS = FilterModule().filters()
desktop_hosts = FILTERS['desktop_hosts']
desktop_now = FILTERS['desktop_now']


def info(state='running', channel_live=True, os_id='debian', addresses=()):
    active = state != 'shut off'
    return {
        'state': state, 'active': active, 'persistent': True, 'graphics': ['spice'],
        'streaming_mode': 'filter', 'streaming_mode_live': 'filter' if active else None,
        'agent_channel': True, 'agent_channel_live': channel_live and active,
        'agent_channel_state': 'disconnected' if channel_live and active else None,
        'restart_required': [], 'problems': [], 'skipped': False, 'reason': None,
        'guest': {'agent': 'answered' if active else 'not asked: the desktop is shut off',
                  'os': {'id': os_id} if active else None, 'libosinfo_id': None,
                  'addresses': [{'address': address, 'source': 'agent', 'interface': 'ens3', 'hwaddr': None,
                                 'prefix': 24, 'family': 'ipv4'} for address in addresses]},
    }


def reads():
    return {
        'hv1': {'domains': {'desk-a': info(addresses=['10.0.2.15']), 'desk-off': info(state='shut off'),
                            'hand': info()}},
        'hv2': {'domains': {'desk-b': info()}},
    }


HOSTVARS = {
    'hv1': {'streaming_discover_compose': {'ansible_host': "'127.0.0.1'",
                                           'ansible_port': "{'desk-a': 2201}[stream_agent_domain]"}},
    'hv2': {'ansible_host': '192.0.2.2'},
    'hand': {'stream_agent_hypervisor': 'hv1'},
}


def test_items_are_add_host_arguments_with_the_plugins_variables_and_each_hypervisors_compose():
    items = {item['name']: item for item in desktop_hosts(reads(), hostvars=HOSTVARS, existing=['hand'],
                                                          taken=['hv1', 'hv2', 'hand'])}
    # The shut-off desktop is not taken; 'hand' is the hand-written host's.
    assert set(items) == {'desk-a', 'desk-b'}
    desk_a = items['desk-a']
    assert 'streaming_guests' in desk_a['groups'] and 'guest_os_linux' in desk_a['groups']
    assert desk_a['stream_agent_domain'] == 'desk-a' and desk_a['stream_agent_hypervisor'] == 'hv1'
    assert desk_a['spice_streaming']['state'] == 'running' and desk_a['spice_desktop_targeted'] is True
    # hv1's compose replaces the guest's own address (QEMU user networking) with the forward.
    assert (desk_a['ansible_host'], desk_a['ansible_port']) == ('127.0.0.1', 2201)
    assert [entry['address'] for entry in desk_a['spice_desktop_addresses']] == ['10.0.2.15']
    # hv2 has no compose: no address found, so no ansible_host.
    assert 'ansible_host' not in items['desk-b']


def test_a_compose_given_to_the_filter_applies_to_every_hypervisor_and_sees_hostvars():
    items = desktop_hosts(reads(), hostvars=HOSTVARS, compose={
        'ansible_host': "hostvars[stream_agent_hypervisor].ansible_host | default('127.0.0.1')",
        'label': "inventory_hostname ~ '@' ~ ansible_host"})
    by_name = {item['name']: item for item in items}
    assert by_name['desk-b']['ansible_host'] == '192.0.2.2' and by_name['desk-b']['label'] == 'desk-b@192.0.2.2'
    assert by_name['hand']['ansible_host'] == '127.0.0.1'   # nothing says hand is taken here


@pytest.mark.parametrize('compose,words', [
    ({'ansible_port': 'no_such_variable + 1'}, 'could not work out ansible_port for desktop desk-a'),
    ({'groups': "['x']"}, "cannot set 'groups'"),
    (['ansible_host'], 'must be a dict'),
])
def test_a_bad_compose_is_an_error_naming_the_desktop_or_the_key(compose, words):
    with pytest.raises(AnsibleFilterError) as caught:
        desktop_hosts({'hv1': {'domains': {'desk-a': info()}}}, compose=compose)
    assert words in str(caught.value)


def test_results_that_are_not_reads_give_no_desktop():
    assert desktop_hosts({'hv1': {'skipped': True}, 'hv2': {'unreachable': True, 'msg': 'no route'},
                          'hv3': {'failed': True, 'msg': 'libvirt down'}}) == []
    assert desktop_hosts([['hv1', {'domains': {'d': info()}}]])[0]['name'] == 'd'
    with pytest.raises(AnsibleFilterError):
        desktop_hosts(42)


def test_desktop_now_reads_a_result_after_the_host_side():
    now = desktop_now({'domains': {'d': info(channel_live=False)}}, 'd', 'linux')
    assert now['known'] and now['status'] == 'pending' and now['words'] == 'waits for a cold start'
    assert desktop_now(None, 'd')['known'] is False
