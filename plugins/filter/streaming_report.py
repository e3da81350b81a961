# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``streaming_report`` filter: the fleet report's content, ready for a template.

Documentation lives beside this file, in ``streaming_report.yml``.  The HTML
and Markdown templates of ``playbooks/streaming_report.yml`` only lay out what
this returns, so both show the same thing in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.module_utils.libvirt_info import disconnected

# What needs a person's eye, most urgent first.
ATTENTION = (
    ('disconnected', 'Stream channel not held by an agent',
     'Running domains whose definition and running state have the stream channel, but no process '
     'in the guest holds it open: spice-streaming-agent is not running there (it needs an X11 '
     'session), so no guest-encoded stream reaches the client.'),
    ('restart', 'Waiting for a cold start',
     'Running domains whose running state lacks what their definition says; it takes effect when '
     'the domain is shut down and started again (a guest reboot is not enough). Also shut-off '
     'domains with a saved state (virsh managedsave), which a start resumes as it was saved.'),
    ('problem', 'Problems',
     'What stops or troubles spice.streaming.libvirt_domain on these domains.'),
    ('skipped', 'Left alone',
     'Domains spice.streaming.libvirt_domain does not manage, and why.'),
)
_RANK = {kind: rank for rank, (kind, _title, _text) in enumerate(ATTENTION)}

# Counts summed over the hypervisors that could be read, in the order shown.
FLEET_COUNTS = ('domains', 'running', 'paused', 'shut_off', 'transient', 'spice', 'agent_channel',
                'agent_connected', 'agent_disconnected', 'restart_required', 'problems', 'skipped')
# The state shown for a name of the selection that matches no domain.
NOT_FOUND = 'not found'
STREAMING_MODES = ('filter', 'all', 'off', 'unset')
# The summary at the top of the report: key, label, and the tone it takes when not zero.
CARDS = (
    ('hypervisors_read', 'Hypervisors read', None),
    ('hypervisors_failed', 'Hypervisors not read', 'alert'),
    ('domains', 'Domains', None),
    ('running', 'Running', None),
    ('paused', 'Paused', None),
    ('shut_off', 'Shut off', None),
    ('agent_channel', 'Stream channel defined', None),
    ('agent_connected', 'Agent connected', 'good'),
    ('agent_disconnected', 'Channel not held by an agent', 'alert'),
    ('restart_required', 'Waiting for a cold start', 'warn'),
    ('problems', 'With problems', 'alert'),
    ('missing_domains', 'Named but not found', 'alert'),
    ('skipped', 'Left alone', None),
)


def _kinds(info):
    """The attention kinds of one domain, with the sentences that explain each."""
    kinds = []
    if disconnected(info):
        kinds.append(('disconnected', ['the guest holds no open stream port (state disconnected)']))
    if info.get('restart_required'):
        kinds.append(('restart', [gap['reason'] for gap in info['restart_required']]))
    if info.get('problems'):
        kinds.append(('problem', list(info['problems'])))
    if info.get('skipped'):
        kinds.append(('skipped', [info.get('reason') or 'left alone']))
    return kinds


def _defined_mode(info):
    if not info['persistent']:
        return 'no definition (transient)'
    return info['streaming_mode'] or ('unset (off)' if 'spice' in info['graphics'] else '-')


def _defined_channel(info):
    if not info['persistent']:
        return 'no definition'
    return 'yes' if info['agent_channel'] else 'no'


def _row(name, info):
    kinds = _kinds(info)
    return {
        'name': name,
        'state': info['state'],
        'graphics': ', '.join(info['graphics']) or 'none',
        'streaming_mode': _defined_mode(info),
        'streaming_mode_live': info['streaming_mode_live'] or '-',
        'agent_channel': _defined_channel(info),
        'agent_channel_live': ('yes' if info['agent_channel_live'] else 'no') if info['active'] else '-',
        'agent_channel_state': info['agent_channel_state'] or '-',
        'severity': kinds[0][0] if kinds else 'ok',
        'notes': [sentence for _kind, sentences in kinds for sentence in sentences],
    }


def missing_sentence(result):
    """Why a name of the selection is listed although no domain has it, and what to do."""
    return ("named exactly in the selection, but %s (%s) has no domain of that name: check the "
            "name with 'virsh -c %s list --all', or take it out of the selection"
            % (result['hypervisor'], result['uri'], result['uri']))


def _missing_row(name, sentence):
    return {
        'name': name, 'state': NOT_FOUND, 'graphics': '-', 'streaming_mode': '-',
        'streaming_mode_live': '-', 'agent_channel': '-', 'agent_channel_live': '-',
        'agent_channel_state': '-', 'severity': 'problem', 'notes': [sentence],
    }


def _status(result):
    """``(status, message)`` of one hypervisor's registered result."""
    if not isinstance(result, Mapping) or not result:
        return 'not run', 'no result: the host did not run the read task (left out by --limit or stopped earlier)'
    if result.get('unreachable'):
        return 'unreachable', result.get('msg') or 'unreachable'
    if result.get('failed') or 'domains' not in result:
        return 'failed', result.get('msg') or 'the read task failed'
    return 'ok', None


def streaming_report(results):
    """Turn ``{inventory host: libvirt_domain_info result}`` into the report's content."""
    if not isinstance(results, Mapping):
        raise AnsibleFilterError('spice.streaming.streaming_report expects a dict of registered '
                                 'libvirt_domain_info results by host, not %s' % type(results).__name__)
    fleet = dict.fromkeys(FLEET_COUNTS, 0)
    fleet['streaming_modes'] = dict.fromkeys(STREAMING_MODES, 0)
    fleet.update(hypervisors=len(results), hypervisors_read=0, hypervisors_failed=0, missing_domains=0)
    attention = {kind: [] for kind, _title, _text in ATTENTION}
    hypervisors = []
    for host, result in results.items():
        status, message = _status(result)
        entry = {'host': host, 'status': status, 'message': message, 'rows': [], 'summary': None,
                 'hypervisor': None, 'uri': None}
        hypervisors.append(entry)
        if status != 'ok':
            fleet['hypervisors_failed'] += 1
            if isinstance(result, Mapping):
                entry['uri'] = result.get('uri') or result.get('invocation', {}).get('module_args', {}).get('uri')
            continue
        fleet['hypervisors_read'] += 1
        entry.update(summary=result['summary'], hypervisor=result['hypervisor'], uri=result['uri'])
        for key in FLEET_COUNTS:
            fleet[key] += result['summary'][key]
        for mode in STREAMING_MODES:
            fleet['streaming_modes'][mode] += result['summary']['streaming_modes'][mode]
        for name in sorted(result['domains']):
            info = result['domains'][name]
            entry['rows'].append(_row(name, info))
            for kind, sentences in _kinds(info):
                attention[kind].append({'host': host, 'domain': name, 'state': info['state'],
                                        'details': sentences})
        # An exact name that matches no domain (libvirt_domain_info lists it, and reads the rest).
        missing = result.get('missing_domains') or []
        fleet['missing_domains'] += len(missing)
        for name in missing:
            sentence = missing_sentence(result)
            entry['rows'].append(_missing_row(name, sentence))
            attention['problem'].append({'host': host, 'domain': name, 'state': NOT_FOUND,
                                         'details': [sentence]})
        entry['rows'].sort(key=lambda row: (_RANK.get(row['severity'], len(_RANK)), row['name']))
    return {
        'fleet': fleet,
        'cards': [{'key': key, 'label': label, 'value': fleet[key],
                   'tone': tone if fleet[key] and tone else 'plain'} for key, label, tone in CARDS],
        'attention': [{'kind': kind, 'title': title, 'text': text, 'items': attention[kind]}
                      for kind, title, text in ATTENTION],
        'hypervisors': hypervisors,
    }


class FilterModule:
    """The fleet report of spice.streaming."""

    def filters(self):
        return {'streaming_report': streaming_report}
