# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The streaming_report filter over per-domain dicts made from real fixtures by libvirt_info."""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.filter.streaming_report import FilterModule
from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_info
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_streaming import SelectedDomain

streaming_report = FilterModule().filters()['streaming_report']
FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures', 'domains')


def load(fixture):
    with open(os.path.join(FIXTURES, fixture), encoding='utf-8') as handle:
        return dx.parse_domain(handle.read())


def info(fixture, live_fixture=None, persistent=True):
    live = None
    if live_fixture:
        live = load(live_fixture)
        for channel in dx.stream_channels(live):
            channel.find('target').set('state', 'disconnected')
    selected = SelectedDomain('x', None, False, live is not None, persistent)
    state = 'running' if live is not None else 'shut off'
    return libvirt_info.describe(libvirt_info._blank(selected, state),
                                 load(fixture) if persistent else None, live, exact=False)


def host_result(domains):
    return {'changed': False, 'hypervisor': 'hv', 'uri': 'qemu:///system', 'domains': domains,
            'summary': libvirt_info.summarize(domains)}


FLEET = {
    'hv-a': host_result({
        'a-off': info('q35-spice-virtmanager.xml'),
        'a-vnc': info('q35-vnc-only.xml'),
        'a-run': info('q35-spice-streaming-filter.xml', 'q35-spice-streaming-filter.xml'),
    }),
    'hv-b': host_result({
        'b-pend': info('q35-spice-streaming-filter.xml', 'q35-spice-virtmanager.xml'),
        'b-dup': info('q35-duplicate-stream-channel.xml'),
    }),
    'hv-down': {'unreachable': True, 'msg': 'ssh: connect to host 127.0.0.1 port 1: Connection refused',
                'changed': False},
    'hv-fail': {'failed': True, 'msg': 'could not connect to libvirt', 'uri': 'qemu:///bad'},
    'hv-limited': {},
}


def test_fleet_counts_sum_the_read_hypervisors():
    fleet = streaming_report(FLEET)['fleet']
    assert (fleet['hypervisors'], fleet['hypervisors_read'], fleet['hypervisors_failed']) == (5, 2, 3)
    assert (fleet['domains'], fleet['running'], fleet['shut_off']) == (5, 2, 3)
    assert (fleet['agent_disconnected'], fleet['restart_required'], fleet['problems'], fleet['skipped']) == \
        (1, 1, 1, 1)
    assert fleet['streaming_modes'] == {'filter': 2, 'all': 0, 'off': 0, 'unset': 2}


def test_attention_is_ordered_most_urgent_first():
    groups = streaming_report(FLEET)['attention']
    assert [group['kind'] for group in groups] == ['disconnected', 'restart', 'problem', 'skipped']
    listed = [(group['kind'], item['host'], item['domain']) for group in groups for item in group['items']]
    assert listed == [('disconnected', 'hv-a', 'a-run'), ('restart', 'hv-b', 'b-pend'),
                      ('problem', 'hv-b', 'b-dup'), ('skipped', 'hv-a', 'a-vnc')]
    assert any('cold start' in detail for detail in groups[1]['items'][0]['details'])


def test_hypervisors_keep_inventory_order_with_their_status():
    hypervisors = streaming_report(FLEET)['hypervisors']
    assert [(hv['host'], hv['status']) for hv in hypervisors] == [
        ('hv-a', 'ok'), ('hv-b', 'ok'), ('hv-down', 'unreachable'), ('hv-fail', 'failed'),
        ('hv-limited', 'not run')]
    assert 'Connection refused' in hypervisors[2]['message']
    assert hypervisors[3]['uri'] == 'qemu:///bad'
    # Rows needing attention first, then by name.
    assert [row['name'] for row in hypervisors[0]['rows']] == ['a-run', 'a-vnc', 'a-off']
    run = hypervisors[0]['rows'][0]
    assert (run['severity'], run['agent_channel_state'], run['streaming_mode']) == ('disconnected', 'disconnected', 'filter')
    assert hypervisors[0]['rows'][2]['streaming_mode'] == 'unset (off)'


def test_cards_take_a_tone_only_when_not_zero():
    cards = {card['key']: card for card in streaming_report(FLEET)['cards']}
    assert cards['agent_disconnected']['tone'] == 'alert' and cards['agent_disconnected']['value'] == 1
    assert cards['agent_connected']['tone'] == 'plain'
    quiet = {card['key']: card for card in streaming_report({'hv-a': host_result({})})['cards']}
    assert {card['tone'] for card in quiet.values()} == {'plain'}


def test_input_that_is_not_a_dict_is_refused():
    with pytest.raises(AnsibleFilterError, match='expects a dict'):
        streaming_report(['hv-a'])
