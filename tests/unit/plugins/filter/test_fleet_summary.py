# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet_summary filter: enable_streaming.yml's closing lines, at most 15 for any fleet."""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.filter.fleet_summary import MAX_LINES, FilterModule

fleet_summary = FilterModule().filters()['fleet_summary']


def host_result(changed=(), waiting=(), restarted=(), failed=None, skipped=None, msg=None):
    result = {'changed': bool(changed), 'changed_domains': list(changed),
              'report': {'waiting_for_cold_start': {name: ['why'] for name in waiting},
                         'restarted': {name: 'shut down (ACPI) and started' for name in restarted},
                         'skipped': dict(skipped or {}), 'failed': dict(failed or {})}}
    if msg:
        result.update(failed=True, msg=msg)
    return result


def state(name, running=True, windows=False):
    active = running
    return {'state': 'running' if running else 'shut off', 'active': active, 'persistent': True,
            'graphics': ['spice'], 'agent_channel': True, 'agent_channel_live': active,
            'agent_channel_state': 'disconnected' if active else None, 'restart_required': [],
            'problems': [], 'skipped': False, 'reason': None,
            'guest': {'agent': 'answered' if active else 'not asked', 'libosinfo_id': None, 'addresses': [],
                      'os': ({'id': 'mswindows'} if windows else {'id': 'debian'}) if active else None}}


def big_fleet(hypervisors=20, per=50):
    """Every line at its fullest: many hypervisors, desktops in every state."""
    hostvars = {}
    guests = []
    for number in range(hypervisors):
        hv = 'hv%02d' % number
        names = ['%s-vdi-%03d' % (hv, index) for index in range(per)]
        hostvars[hv] = {
            'host_streaming_result': host_result(changed=names[:40], waiting=names[40:45], restarted=names[45:47],
                                                 failed={names[47]: 'did not start'},
                                                 skipped={names[48]: 'no SPICE graphics'}),
            '__streaming_discovered': {'domains': dict(
                [(name, state(name)) for name in names[:30]]
                + [(name, state(name, running=False)) for name in names[30:48]]
                + [(name, state(name, windows=True)) for name in names[48:]])},
        }
        for index, name in enumerate(names[:30]):
            guests.append(name)
            variables = {'stream_agent_domain': name, 'stream_agent_hypervisor': hv}
            kind = index % 6
            if kind == 0:
                variables['streaming_agent_check'] = 'connected'
            elif kind == 1:
                variables.update(streaming_agent_check='no_session',
                                 streaming_agent_status='not connected: no graphical session runs yet')
            elif kind == 2:
                variables.update(streaming_agent_check='unread', streaming_agent_status='cannot check: gone')
            elif kind == 3:
                variables['streaming_guest_outcome'] = {'status': 'pending', 'reason': 'agent pending: ...',
                                                        'words': 'waits for a cold start'}
            elif kind == 4:
                variables['streaming_guest_outcome'] = {'status': 'unreachable',
                                                        'reason': 'ssh: connect to host %s: No route' % name}
            else:
                variables['streaming_guest_outcome'] = {'status': 'failed', 'reason': 'no stream port'}
            hostvars[name] = variables
    hypervisor_names = ['hv%02d' % number for number in range(hypervisors)]
    return hostvars, hypervisor_names, guests


def test_a_thousand_desktops_on_twenty_hypervisors_fit_in_fifteen_lines_with_every_line():
    hostvars, hypervisors, guests = big_fleet()
    # hv19 failed (libvirt refused) and hv18 did not answer: not live.
    hostvars['hv19']['host_streaming_result'] = host_result(msg='could not connect to libvirt at qemu:///system')
    hostvars['hv18'].pop('host_streaming_result')
    hostvars['hv18']['__streaming_discovered'] = {'unreachable': True, 'msg': 'ssh: no route to host'}
    live = [host for host in hypervisors + guests if host not in ('hv18', 'hv19')]
    lines = fleet_summary(hostvars, hypervisors, guests, live=live)
    text = '\n'.join(lines)
    assert len(lines) == MAX_LINES == 15, text
    labels = [line.split(':', 1)[0].strip() for line in lines[1:]]
    assert labels == ['hypervisors', 'domains changed', 'domains waiting for a cold start', 'domains restarted',
                      'domains failed', 'domains left alone', 'desktops', 'agent connected', 'agent not connected',
                      'agent not checked', 'agent pending', 'unreachable', 'failed', 'not for the agent'], text
    assert lines[1].startswith('hypervisors: 20 (18 done, 2 failed (')
    assert 'hv18 (unreachable: ssh: no route to host)' in lines[1]
    assert 'hv19 (could not connect to libvirt at qemu:///system)' in lines[1]
    assert lines[2].startswith('domains changed: 720 (hv00-vdi-000 on hv00, hv00-vdi-001 on hv00, '
                               'hv00-vdi-002 on hv00 and 717 more)')
    # Names that share a reason are grouped under it.
    assert 'desktop is shut off: hv00-vdi-030 on hv00' in text and 'Windows guest: ' in text
    assert lines[8].startswith('  agent connected: 100 (hv00-vdi-000, hv00-vdi-006, hv00-vdi-012 and 97 more)'), text
    assert lines[11].startswith('  agent pending: 442 (waits for a cold start: '), text
    assert all(len(line) < 400 for line in lines), text


def test_one_desktop_each_way_names_it_with_its_reason():
    hostvars = {
        'hv1': {'host_streaming_result': host_result(changed=['a'], skipped={'vnc': 'no SPICE graphics'}),
                '__streaming_discovered': {'domains': {'a': state('a'), 'off': state('off', running=False)}}},
        'a': {'stream_agent_domain': 'a', 'stream_agent_hypervisor': 'hv1',
              'streaming_guest_outcome': {'status': 'unreachable', 'reason': 'Connection refused'}},
    }
    lines = fleet_summary(hostvars, ['hv1'], ['a'])
    assert lines == [
        'spice.streaming summary of enable_streaming.yml',
        # The empty categories in one line (a run that changes nothing says so in one line).
        'hypervisors: 1 (1 done); domains: none waiting for a cold start, restarted or failed',
        'domains changed: 1 (a)',
        'domains left alone: 1 (vnc (no SPICE graphics))',
        'desktops: 2 in this run, 1 of them for a later run or not for the agent',
        '  agent pending: 1 (off (desktop is shut off))',
        '  unreachable: 1 (a (Connection refused))',
    ]


def test_no_desktop_to_configure_is_one_line_that_says_why():
    plain = {'hv1': {'host_streaming_result': host_result()}, 'hv2': {'host_streaming_result': host_result()}}
    line = fleet_summary(plain, ['hv1', 'hv2'])[-1]
    assert line.startswith('desktops: no desktop to configure on hv1, hv2: group streaming_guests is empty and '
                           'streaming_discover_guests is not true'), line

    found = {'hv1': {'host_streaming_result': host_result(),
                     '__streaming_discovered': {'domains': {'a': state('a', running=False),
                                                            'b': state('b', running=False),
                                                            'w': state('w', windows=True)}}}}
    lines = fleet_summary(found, ['hv1'])
    assert lines[-3] == ('desktops: no desktop to configure on hv1: no desktop found can take the agent now '
                         '(desktop is shut off: 2, Windows guest: 1)'), lines
    assert lines[-2] == '  agent pending: 2 (a, b)' or lines[-2] == '  agent pending: 2 (desktop is shut off: a, b)'

    nothing = {'hv1': {'host_streaming_result': host_result(), '__streaming_discovered': {'domains': {}}}}
    assert 'no SPICE desktop among the domains they select' in fleet_summary(nothing, ['hv1'])[-1]

    unread = {'hv1': {'__streaming_discovered': {'unreachable': True, 'msg': 'no route'}}}
    assert fleet_summary(unread, ['hv1'], live=[])[-1] == \
        'desktops: no desktop to configure on hv1: their desktops could not be read (hv1)'

    limited = fleet_summary(plain, ['hv1'], outside=['vdi-1', 'vdi-2'])[-1]
    assert "2 desktops outside --limit (vdi-1, vdi-2): add group streaming_guests to it, as in --limit " \
           "'hv1,streaming_guests'" in limited, limited


def test_check_mode_and_tags_are_worded():
    hostvars = {'hv1': {'host_streaming_result': host_result(changed=['a'], restarted=['a'])}}
    lines = fleet_summary(hostvars, ['hv1'], check_mode=True, guest_side=False)
    assert lines[0].endswith('in check mode (what a real run would do)')
    assert 'domains that would change: 1 (a)' in lines and 'domains that would be restarted: 1 (a)' in lines
    assert lines[-1] == 'desktops: the guest side was not in this run (tags)'
    # The hypervisor side left out by tags: one line for the hypervisors, no zero domain lines.
    assert fleet_summary({'hv1': {}}, ['hv1'])[1:3] == [
        'hypervisors: 1 (1 with the hypervisor side not in this run)',
        'desktops: no desktop to configure on hv1: group streaming_guests is empty and streaming_discover_guests '
        'is not true: set it to find the desktops on the hypervisors, or list them in group streaming_guests']


def test_a_refused_plan_and_a_host_that_failed_without_a_word_are_failures():
    hostvars = {
        'hv1': {'host_streaming_result': host_result()},
        'refused': {'streaming_guest_plan': {'status': 'refused', 'message': 'runs Windows'}},
        'broken': {},
        'done': {'streaming_guest_outcome': {'status': 'configured'}},
    }
    lines = fleet_summary(hostvars, ['hv1'], ['refused', 'broken', 'done'], live=['hv1', 'refused', 'done'])
    assert '  failed: 2 (refused (runs Windows); broken (see its error above))' in lines, lines
    assert any(line.startswith('  agent not checked: 1 (done (not verified') for line in lines), lines


def test_a_run_that_changes_nothing_says_so_in_one_line_with_what_was_selected():
    idle = dict(host_result(), summary={'selected': 2, 'selection': '', 'message': 'nothing to do'})
    empty = dict(host_result(), summary={'selected': 0, 'selection': "no domain matches 'x-*'", 'message': 'none'})
    hostvars = {'hv1': {'host_streaming_result': idle}, 'hv2': {'host_streaming_result': idle},
                'hv3': {'host_streaming_result': empty}}
    lines = fleet_summary(hostvars, ['hv1', 'hv2', 'hv3'])
    assert lines[1] == ("hypervisors: 3 (3 done, nothing selected on hv3 (no domain matches 'x-*')); domains: 4 "
                        'selected, none changed, '
                        'waiting for a cold start, restarted, failed or left alone'), lines
    assert lines[2].startswith('desktops: no desktop to configure'), lines
    assert len(lines) == 3
