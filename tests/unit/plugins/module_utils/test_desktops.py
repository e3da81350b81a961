# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure part of the desktops inventory: addresses, OS family, state groups, host names."""

from __future__ import annotations

import pytest
from lxml import etree

from ansible_collections.spice.streaming.plugins.module_utils import desktops as d


def addr(address, source='agent', interface='ens3', family=None):
    return {'address': address, 'source': source, 'interface': interface, 'hwaddr': '52:54:00:00:00:01',
            'prefix': 24, 'family': family or ('ipv6' if ':' in address else 'ipv4')}


def info(state='running', channel_live=True, channel=True, channel_state='disconnected', restart=(), graphics=('spice',)):
    active = state != 'shut off'
    return {
        'state': state, 'active': active, 'persistent': True, 'graphics': list(graphics),
        'streaming_mode': 'filter', 'streaming_mode_live': 'filter' if active else None,
        'agent_channel': channel, 'agent_channel_live': channel_live and active,
        'agent_channel_state': channel_state if channel_live and active else None,
        'restart_required': [{'change': change, 'reason': 'why'} for change in restart],
        'problems': [], 'skipped': False, 'reason': None,
    }


# ------------------------------------------------------------------ addresses

def test_loopback_link_local_and_unspecified_are_never_chosen():
    reported = [addr('127.0.0.1', interface='lo'), addr('::1', interface='lo'), addr('169.254.3.4'),
                addr('fe80::5054:ff:fe00:1%ens3'), addr('0.0.0.0'), addr('224.0.0.1')]
    assert d.choose_address(reported) is None
    assert d.choose_address(reported + [addr('2001:db8::5')]) == '2001:db8::5'


def test_the_first_source_with_a_usable_address_wins_over_family_preference():
    reported = [addr('2001:db8::5'), addr('198.51.100.7', source='lease', interface='vnet0')]
    # The agent gave only IPv6: that source wins, even with IPv4 preferred.
    assert d.choose_address(reported, family='ipv4_first') == '2001:db8::5'
    # IPv4 only: the lease's address.
    assert d.choose_address(reported, family='ipv4') == '198.51.100.7'


def test_family_preference_within_a_source_keeps_the_reported_order():
    reported = [addr('2001:db8::5'), addr('198.51.100.7'), addr('198.51.100.8')]
    assert d.choose_address(reported) == '198.51.100.7'
    assert d.choose_address(reported, family='ipv6_first') == '2001:db8::5'
    assert d.choose_address(reported, family='ipv6') == '2001:db8::5'
    assert d.choose_address([addr('198.51.100.7')], family='ipv6') is None


def test_networks_and_interfaces_filter():
    reported = [addr('10.0.2.15', interface='ens3'), addr('198.51.100.7', interface='ens4'),
                addr('2001:db8::9', interface='ens4')]
    assert d.choose_address(reported, networks=['198.51.100.0/24']) == '198.51.100.7'
    assert d.choose_address(reported, networks=['2001:db8::/32']) == '2001:db8::9'
    assert d.choose_address(reported, interfaces=['ens4']) == '198.51.100.7'
    assert d.choose_address(reported, interfaces=['enp*']) is None
    assert d.choose_address(reported, networks=['203.0.113.0/24']) is None


def test_bad_address_options_are_named():
    assert 'not a network' in d.check_address_options(networks=['10.0.0/33'])
    assert 'address_family' in d.check_address_options(family='ipv5')
    assert 'address_sources' in d.check_address_options(sources=['agent', 'dns'])
    assert d.check_address_options(networks=['10.0.0.0/8', 'fd00::/8']) is None


# ------------------------------------------------------------------ guest OS

def test_os_family_from_the_guest_agent():
    debian = {'id': 'debian', 'name': 'Debian GNU/Linux', 'pretty-name': 'Debian GNU/Linux 12 (bookworm)',
              'version-id': '12', 'kernel-release': '6.1.0-28-amd64', 'machine': 'x86_64'}
    facts = d.guest_os(debian)
    assert facts['family'] == 'linux' and facts['source'] == 'guest_agent'
    assert facts['pretty_name'] == 'Debian GNU/Linux 12 (bookworm)' and facts['version_id'] == '12'
    windows = {'id': 'mswindows', 'name': 'Microsoft Windows', 'pretty-name': 'Windows 10 Pro',
               'kernel-release': '19045', 'machine': 'x86_64'}
    assert d.guest_os(windows)['family'] == 'windows'
    assert d.guest_os({'id': 'freebsd', 'name': 'FreeBSD'})['family'] == 'other'


def test_os_family_from_libosinfo_metadata_when_no_agent_answered():
    assert d.guest_os(None, 'http://microsoft.com/win/11')['family'] == 'windows'
    assert d.guest_os(None, 'http://debian.org/debian/12')['family'] == 'linux'
    assert d.guest_os(None, 'http://libosinfo.org/linux/2022')['family'] == 'linux'
    assert d.guest_os(None, 'http://freebsd.org/freebsd/14.0')['family'] == 'other'
    facts = d.guest_os(None, None)
    assert facts['family'] == 'unknown' and facts['source'] is None


def _domain(metadata):
    return etree.fromstring('<domain type="kvm"><name>vdi</name>%s<devices/></domain>' % metadata)


def test_libosinfo_id_is_read_from_the_domain_xml():
    windows = _domain('<metadata><libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">'
                      '<libosinfo:os id="http://microsoft.com/win/10"/></libosinfo:libosinfo></metadata>')
    assert d.libosinfo_id(windows) == 'http://microsoft.com/win/10'
    # Another application's metadata, or an <os> outside the libosinfo namespace, says nothing.
    assert d.libosinfo_id(_domain('<metadata><app:os xmlns:app="https://example.org/app" id="x"/></metadata>')) is None
    assert d.libosinfo_id(_domain('<metadata><libosinfo><os id="x"/></libosinfo></metadata>')) is None
    assert d.libosinfo_id(_domain('')) is None and d.libosinfo_id(None) is None


# ------------------------------------------------------------------ state and groups

@pytest.mark.parametrize('state_info,family,groups,targeted,words', [
    (info(channel_state='connected'), 'linux',
     {'streaming_guests', 'streaming_agent_connected', 'guest_os_linux'}, True, 'an agent holds it'),
    (info(), 'unknown', {'streaming_guests', 'streaming_agent_disconnected', 'guest_os_unknown'}, True,
     'no agent holds it'),
    (info(state='shut off'), 'linux', {'streaming_shut_off', 'guest_os_linux'}, False,
     'agent pending: desktop is shut off'),
    (info(state='paused'), 'linux', {'streaming_paused', 'streaming_agent_disconnected', 'guest_os_linux'}, False,
     'paused'),
    (info(channel_live=False, restart=('agent_channel',)), 'linux',
     {'streaming_waiting_for_cold_start', 'guest_os_linux'}, False, 'next cold start'),
    (info(channel_live=False, channel=False), 'linux', {'guest_os_linux'}, False, 'enable_streaming.yml'),
    (info(), 'windows', {'streaming_agent_disconnected', 'guest_os_windows'}, False, 'Windows'),
])
def test_groups_and_whether_the_guest_play_targets_it(state_info, family, groups, targeted, words):
    got, is_targeted, reason = d.desktop_status(state_info, family)
    assert set(got) == groups | {'spice_desktops'}
    assert is_targeted is targeted and ('streaming_guests' in got) is targeted
    assert words in reason
    assert set(got) <= set(d.GROUPS)


def test_desktop_vars_carry_what_the_guest_play_needs():
    guest = {'agent': 'answered', 'os': {'id': 'debian', 'name': 'Debian GNU/Linux'}, 'libosinfo_id': None,
             'addresses': [addr('127.0.0.1', interface='lo'), addr('fe80::1'), addr('10.0.2.15')]}
    host_vars, groups = d.desktop_vars('vdi-001', 'hv01', info(), guest)
    assert host_vars['stream_agent_domain'] == 'vdi-001' and host_vars['stream_agent_hypervisor'] == 'hv01'
    assert host_vars['ansible_host'] == '10.0.2.15'
    assert [entry['address'] for entry in host_vars['spice_desktop_addresses']] == ['10.0.2.15']
    assert host_vars['spice_streaming']['agent_channel_state'] == 'disconnected'
    assert host_vars['spice_desktop_os']['family'] == 'linux' and host_vars['spice_desktop_targeted'] is True
    assert 'streaming_guests' in groups
    # No guest read (a playbook with only libvirt_domain_info's result): no ansible_host, OS unknown.
    host_vars, groups = d.desktop_vars('vdi-002', 'hv01', info(state='shut off'))
    assert 'ansible_host' not in host_vars and host_vars['spice_desktop_os']['family'] == 'unknown'
    assert host_vars['spice_desktop_guest_agent'] == 'not asked'
    assert 'streaming_shut_off' in groups and 'streaming_guests' not in groups


def test_only_spice_domains_are_desktops():
    assert d.is_desktop(info())
    assert not d.is_desktop(info(graphics=('vnc',)))
    assert not d.is_desktop(info(graphics=()))


# ------------------------------------------------------------------ host names

def test_a_name_on_one_hypervisor_is_the_host_name():
    names, warnings = d.host_names([('hv1', 'a', True), ('hv2', 'b', False)])
    assert names == {('hv1', 'a'): 'a', ('hv2', 'b'): 'b'} and warnings == []


def test_the_same_name_twice_goes_to_the_running_one_then_to_the_first_listed():
    names, warnings = d.host_names([('hv1', 'desk', False), ('hv2', 'desk', True)])
    assert names == {('hv1', 'desk'): 'desk~hv1', ('hv2', 'desk'): 'desk'}
    assert len(warnings) == 1 and "'desk'" in warnings[0] and 'hv1' in warnings[0] and 'hv2' in warnings[0]
    assert 'the one that runs' in warnings[0] and "'desk~hv1' the one on hv1" in warnings[0]

    names, warnings = d.host_names([('hv1', 'desk', False), ('hv2', 'desk', False), ('hv3', 'desk', False)])
    assert names == {('hv1', 'desk'): 'desk', ('hv2', 'desk'): 'desk~hv2', ('hv3', 'desk'): 'desk~hv3'}
    assert 'the first hypervisor listed' in warnings[0]

    # Running on both (a live migration's two ends): the first listed, again.
    names, _warnings = d.host_names([('hv1', 'desk', True), ('hv2', 'desk', True)])
    assert names[('hv1', 'desk')] == 'desk' and names[('hv2', 'desk')] == 'desk~hv2'


def test_a_name_an_earlier_source_holds_is_never_overwritten():
    names, warnings = d.host_names([('hv1', 'hv2', True), ('hv1', 'desk', True)], taken={'hv2', 'localhost'})
    assert names == {('hv1', 'hv2'): 'hv2~hv1', ('hv1', 'desk'): 'desk'}
    assert len(warnings) == 1 and 'already exists' in warnings[0]


def test_qualified_names_never_use_an_at_sign():
    # ssh would read 'desk@hv2' as the user desk on the host hv2.
    assert '@' not in d.qualified_name('desk', 'hv2')


# ------------------------------------------------------------------ desktops a playbook finds

def with_guest(state_info, os_id='debian', addresses=()):
    state_info = dict(state_info)
    state_info['guest'] = {'agent': 'answered', 'os': {'id': os_id, 'name': os_id}, 'libosinfo_id': None,
                           'addresses': list(addresses)}
    return state_info


def read(**domains):
    return {'changed': False, 'hypervisor': 'hv', 'domains': domains}


def test_before_the_host_side_a_running_desktop_without_its_channel_is_taken():
    groups, targeted, reason = d.desktop_status(info(channel_live=False, channel=False), 'linux',
                                                before_host_side=True)
    assert targeted and 'streaming_guests' in groups and 'gives it one' in reason
    # Not when the host side leaves it alone (transient), and never as the inventory reads it.
    transient = dict(info(channel_live=False, channel=False), skipped=True, reason='transient')
    assert d.desktop_status(transient, 'linux', before_host_side=True)[1] is False
    assert 'leaves it alone: transient' in d.desktop_status(transient, 'linux')[2]
    assert d.desktop_status(info(channel_live=False, channel=False), 'linux')[1] is False


def test_found_desktops_takes_running_ones_and_leaves_the_others_with_the_reason():
    reads = [
        ('hv1', read(run=with_guest(info(), addresses=[addr('10.0.2.15')]),
                     cold=with_guest(info(channel_live=False, channel=False)),
                     off=info(state='shut off'), paused=info(state='paused'),
                     win=with_guest(info(), os_id='mswindows'),
                     vnc=info(graphics=('vnc',)), hand=info())),
        ('hv2', {'failed': True, 'msg': 'libvirt is down'}),
        ('hv3', {'skipped': True}),
        ('hv4', read(run=info(state='running'))),
    ]
    result = d.found_desktops(reads, taken={'hv1', 'hv4', 'hand'}, covered={('hv1', 'hand')})
    hosts = {host['name']: host for host in result['hosts']}
    # 'run' is on hv1 and hv4 and runs on both: the first listed keeps the name, with a warning.
    assert set(hosts) == {'run', 'cold', 'run~hv4'}
    assert hosts['run']['vars']['ansible_host'] == '10.0.2.15'
    assert hosts['run']['vars']['stream_agent_hypervisor'] == 'hv1'
    assert hosts['run~hv4']['vars']['stream_agent_domain'] == 'run'
    assert 'ansible_host' not in hosts['run~hv4']['vars']
    assert 'streaming_guests' in hosts['cold']['groups'] and hosts['cold']['vars']['spice_desktop_targeted']
    assert len(result['warnings']) == 1 and "'run' is on 2 hypervisors" in result['warnings'][0]
    left = {entry['domain']: entry for entry in result['left']}
    assert set(left) == {'off', 'paused', 'win'}   # vnc is no desktop; hand is the hand-written host's
    assert (left['off']['status'], left['off']['words']) == ('pending', 'desktop is shut off')
    assert (left['paused']['status'], left['paused']['words']) == ('pending', 'desktop is paused')
    assert (left['win']['status'], left['win']['words']) == ('not_targeted', 'Windows guest')
    assert left['off']['reason'].startswith('agent pending: desktop is shut off')


def test_a_found_name_another_host_holds_is_qualified():
    result = d.found_desktops([('hv1', read(hv2=info()))], taken={'hv2'})
    assert [host['name'] for host in result['hosts']] == ['hv2~hv1']


@pytest.mark.parametrize('now,status,words', [
    (info(), 'targeted', 'running with the stream channel'),
    (info(channel_state='connected'), 'targeted', 'agent connected'),
    (info(channel_live=False, restart=('agent_channel',)), 'pending', 'waits for a cold start'),
    (info(state='shut off'), 'pending', 'desktop is shut off'),
    (info(channel_live=False, channel=False), 'not_targeted', 'no stream channel'),
])
def test_desktop_now_after_the_host_side(now, status, words):
    got = d.desktop_now(read(desk=now), 'desk', 'linux')
    assert got['known'] and got['status'] == status and got['words'] == words
    assert got['targeted'] is (status == 'targeted')


def test_desktop_now_without_a_read_knows_nothing_and_a_vanished_domain_is_said():
    for result in (None, {'skipped': True}, {'failed': True}, {'unreachable': True, 'msg': 'x'}):
        assert d.desktop_now(result, 'desk')['known'] is False
    gone = d.desktop_now(read(other=info()), 'desk')
    assert gone['known'] and not gone['targeted'] and 'not on its hypervisor any more' in gone['reason']


def test_covered_pairs_read_the_hosts_mapping():
    hostvars = {'hand': {'stream_agent_hypervisor': 'hv1'},
                'mapped': {'stream_agent_hypervisor': 'hv2', 'stream_agent_domain': 'vdi-7'},
                'loose': {}}
    assert d.covered_pairs(['hand', 'mapped', 'loose', 'missing'], hostvars) == {('hv1', 'hand'), ('hv2', 'vdi-7')}


def test_desktop_now_in_check_mode_waits_on_the_preview():
    now = d.desktop_now(read(desk=info(channel_live=False, channel=False)), 'desk', 'linux', check_mode=True)
    assert now['status'] == 'pending' and now['words'] == 'stream channel to come (check mode)'
    # What check mode cannot change is said as in a real run.
    assert d.desktop_now(read(desk=info(state='shut off')), 'desk', 'linux', check_mode=True)['words'] == \
        'desktop is shut off'
    assert d.desktop_now(read(desk=info()), 'desk', 'windows', check_mode=True)['words'] == 'Windows guest'
