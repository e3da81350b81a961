# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``streaming_report`` filter: the fleet report's content, ready for a template.

Documentation lives beside this file, in ``streaming_report.yml``.  Every column,
label, count and sentence of the report is made here; the HTML and Markdown
templates of ``playbooks/streaming_report.yml`` only lay out what this returns
(they iterate over ``columns`` and each row's ``cells``), so both show the same
thing in the same order.  The managed settings' columns come from the collection's
registry of settings (``module_utils/settings.py``); another column is one entry in
:data:`COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.module_utils import settings
from ansible_collections.spice.streaming.plugins.module_utils.domain_state import WOULD_CHANGE
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_info import disconnected


def _plural(number, noun, plural=None):
    return '%d %s' % (number, noun if number == 1 else (plural or noun + 's'))


# ------------------------------------------------------------------ what needs attention

# What needs a person's eye, most urgent first: kind, title, what it means.
ATTENTION = (
    ('disconnected', 'Stream channel not held by an agent',
     'Running domains whose definition and running state have the stream channel, but no process '
     'in the guest holds it open: spice-streaming-agent is not running there (it needs an X11 '
     'session), so no guest-encoded stream reaches the client.'),
    ('not_compliant', 'Not compliant',
     'Domains whose definition is not what the inventory asks (host_streaming_mode, '
     'host_streaming_agent_channel, host_streaming_overrides): enable_streaming.yml would change '
     'them, or cannot; the notes say what and why.'),
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
# Left alone is said, not a thing to act on: a row only needing that is not "needing attention".
_CALM = ('ok', 'skipped')


def _kinds(info):
    """The attention kinds of one domain, with the sentences that explain each."""
    kinds = []
    if disconnected(info):
        kinds.append(('disconnected', ['the guest holds no open stream port (state disconnected)']))
    if info.get('compliance') == 'not_compliant':
        reasons = list(info['compliance_reasons'])
        if info.get('problems'):
            # Why libvirt_domain cannot is among the problems already, in the words it fails with.
            reasons = [reason for reason in reasons if reason.startswith(WOULD_CHANGE)] or [
                'libvirt_domain cannot bring it to the asked state: see its problems']
        kinds.append(('not_compliant', reasons))
    if info.get('restart_required'):
        kinds.append(('restart', [gap['reason'] for gap in info['restart_required']]))
    elif info.get('compliance') == 'waiting':
        # What waits without a gap to the definition (a hot-plug libvirt_domain has not made yet).
        kinds.append(('restart', list(info['compliance_reasons'])))
    if info.get('problems'):
        kinds.append(('problem', list(info['problems'])))
    if info.get('skipped'):
        kinds.append(('skipped', [info.get('reason') or 'left alone']))
    return kinds


# ------------------------------------------------------------------ the per-domain table

# How libvirt_domain_info's compliance values read, and the tone of their cell.
COMPLIANCE = (
    ('compliant', 'compliant', 'good'),
    ('waiting', 'waiting', 'warn'),
    ('not_compliant', 'not compliant', 'alert'),
    ('left_alone', 'left alone', 'muted'),
)
_COMPLIANCE_LABEL = {key: (label, tone) for key, label, tone in COMPLIANCE}


def _cell(text, lines=(), tone=''):
    return {'text': text, 'lines': list(lines), 'tone': tone}


class Column:
    """One column of the per-domain table: its key, header, and the cell it makes of a domain.

    ``cell(info, row)`` gets the domain's libvirt_domain_info dict and the row being
    built (``name``, ``guests``) and returns ``{'text', 'lines', 'tone'}``; ``fit``
    is ``'wrap'`` for a column whose text may wrap anywhere (names), ``'nowrap'`` for
    short values.
    """

    def __init__(self, key, label, cell, fit='nowrap'):
        self.key, self.label, self.cell, self.fit = key, label, cell, fit

    def header(self):
        return {'key': self.key, 'label': self.label, 'fit': self.fit}


class Setting(Column):
    """A managed setting (a record of the registry): what the definition says, and below it
    where the running domain or the request differ (``running X``, ``asked Y``).

    libvirt_domain_info returns ``KEY`` (definition), ``KEY_live`` (running domain) and,
    with compare_with, ``asked[KEY]``.  A graphics setting shows an unset value as what
    QEMU runs then (``unset (off)``) and compares what QEMU runs, so that an unset mode and
    a running ``off`` are no difference; the stream channel is a bool in the definition and
    present / absent in a request.
    """

    def __init__(self, item):
        super().__init__(item.name, item.column, self._setting_cell)
        self.item = item

    def show(self, value):
        if self.item.kind != 'graphics':
            return value if isinstance(value, str) else ('present' if value else 'absent')
        return 'unset (%s)' % self.item.runs_when_absent if value is None else str(value)

    def effective(self, value):
        return self.item.effective(value) if self.item.kind == 'graphics' else value

    def shown_for(self, domains):
        """Whether the table has this column: always for a setting the role sets by default,
        for the others when a domain's definition sets it or something asks for it."""
        if self.item.role_default is not None:
            return True
        return any(info.get(self.key) is not None or (info.get('asked') or {}).get(self.key) is not None
                   for info in domains)

    def _setting_cell(self, info, _row):
        key = self.key
        defined = info.get(key) if info['persistent'] else None
        text = self.show(defined) if info['persistent'] else 'no definition'
        lines, tone = [], ''
        if info['active']:
            live = info.get(key + '_live')
            if not info['persistent'] or self.effective(live) != self.effective(defined):
                lines.append('running %s' % self.show(live))
                tone = 'warn'
        asked = (info.get('asked') or {}).get(key)
        if asked is not None and info['persistent'] and self.show(asked) != self.show(defined):
            lines.append('asked %s' % asked)
            tone = 'alert'
        return _cell(text, lines, tone)


def _name_cell(info, row):
    return _cell(row['name'], ['guest %s' % guest for guest in row['guests']])


def _state_cell(info, _row):
    lines = []
    if not info['persistent']:
        lines.append('transient')
    if info.get('has_managed_save'):
        lines.append('saved state')
    return _cell(info['state'], lines)


def _graphics_cell(info, _row):
    return _cell(', '.join(info['graphics']) or 'none')


def _agent_cell(info, _row):
    state = info['agent_channel_state']
    return _cell(state or '-', tone={'connected': 'good', 'disconnected': 'alert'}.get(state, ''))


def _compliance_cell(info, _row):
    if not info.get('compliance'):
        return _cell('-')
    label, tone = _COMPLIANCE_LABEL[info['compliance']]
    return _cell(label, tone=tone)


# The per-domain table, in order: a column per setting of the registry between the
# graphics and the agent (settings.SETTINGS order; a setting nobody sets or asks for is left
# out, see Setting.shown_for); both templates follow the list :func:`columns_for` gives.
COLUMNS = (
    Column('name', 'Domain', _name_cell, fit='wrap'),
    Column('state', 'State', _state_cell),
    Column('graphics', 'Graphics', _graphics_cell),
) + tuple(Setting(item) for item in settings.SETTINGS) + (
    Column('agent', 'Agent', _agent_cell),
    Column('compliance', 'Compliance', _compliance_cell),
)


def columns_for(results):
    """The columns of this report: every column but the settings no domain sets or is asked."""
    domains = [info for result in results.values() if isinstance(result, Mapping)
               for info in (result.get('domains') or {}).values() if isinstance(info, Mapping)]
    return [column for column in COLUMNS if not isinstance(column, Setting) or column.shown_for(domains)]


# The state shown for a name of the selection that matches no domain.
NOT_FOUND = 'not found'


def _row(name, info, guests, columns=COLUMNS):
    kinds = _kinds(info)
    row = {'name': name, 'guests': guests, 'state': info['state'],
           'severity': kinds[0][0] if kinds else 'ok',
           'notes': [sentence for _kind, sentences in kinds for sentence in sentences]}
    row['cells'] = [column.cell(info, row) for column in columns]
    return row


def missing_sentence(result):
    """Why a name of the selection is listed although no domain has it, and what to do."""
    return ("named exactly in the selection, but %s (%s) has no domain of that name: check the "
            "name with 'virsh -c %s list --all', or take it out of the selection"
            % (result['hypervisor'], result['uri'], result['uri']))


def _missing_row(name, sentence, columns=COLUMNS):
    cells = [_cell('-') for _column in columns]
    cells[0], cells[1] = _cell(name), _cell(NOT_FOUND, tone='alert')
    return {'name': name, 'guests': [], 'state': NOT_FOUND, 'severity': 'problem', 'notes': [sentence],
            'cells': cells}


# ------------------------------------------------------------------ hypervisors and the fleet

# The report's headings, by where they go.
HEADINGS = (
    ('index', 'Hypervisors'),
    ('attention', 'Needs attention'),
    ('hypervisors', 'Domains per hypervisor'),
    ('guests', 'Guests and their domains'),
    ('summary', 'Fleet summary'),
    ('toggle', 'Only what needs attention'),
)
# An attention group longer than this is folded and lists its domains without their notes
# (the notes are under each domain's row), so a fleet-wide finding does not double the page.
LONG_LIST = 50
# What the report's words mean, said once at its end.
LEGEND = (
    'Read with spice.streaming.libvirt_domain_info; nothing was changed on any hypervisor.',
    'A setting column shows what the definition says; under it, "running" is what the running domain '
    'has where that differs, and "asked" what the inventory asks where that differs.',
    'Compliance: compliant, the definition and the running state are as the inventory asks; waiting, '
    'the definition is, the running domain (or the saved state a start resumes) not yet: a cold '
    'start applies it, or a hot-plug by enable_streaming.yml; not compliant, enable_streaming.yml '
    'would change the definition, or cannot (the notes say why); left alone, a domain '
    'enable_streaming.yml does not manage.',
    'Agent: the state libvirt shows for the org.spice-space.stream.0 port of a running domain, '
    'connected while spice-streaming-agent in the guest holds it open.',
    'The time at the top is when the content of the report last changed: a run that finds the same '
    'state leaves both files as they are.',
)

# Counts summed over the hypervisors that could be read.
FLEET_COUNTS = ('domains', 'running', 'paused', 'shut_off', 'transient', 'spice', 'agent_channel',
                'agent_connected', 'agent_disconnected', 'restart_required', 'problems', 'skipped')
STREAMING_MODES = ('filter', 'all', 'off', 'unset')
# The summary at the top of the report: key (of the fleet counts), label, the tone it takes when not zero.
CARDS = (
    ('hypervisors_read', 'Hypervisors read', None),
    ('hypervisors_failed', 'Hypervisors not read', 'alert'),
    ('domains', 'Domains', None),
    ('running', 'Running', None),
    ('paused', 'Paused', None),
    ('shut_off', 'Shut off', None),
    ('compliant', 'Compliant', 'good'),
    ('waiting', 'Waiting', 'warn'),
    ('not_compliant', 'Not compliant', 'alert'),
    ('agent_channel', 'Stream channel defined', None),
    ('agent_connected', 'Agent connected', 'good'),
    ('agent_disconnected', 'Channel not held by an agent', 'alert'),
    ('restart_required', 'Waiting for a cold start', 'warn'),
    ('problems', 'With problems', 'alert'),
    ('missing_domains', 'Named but not found', 'alert'),
    ('skipped', 'Left alone', None),
)
# The index of hypervisors: key (of a hypervisor entry's ``counts``, or a field), header.
INDEX_COLUMNS = (
    ('host', 'Hypervisor'),
    ('status', 'Status'),
    ('libvirt_version', 'libvirt'),
    ('qemu_version', 'QEMU'),
    ('domains', 'Domains'),
    ('compliant', 'Compliant'),
    ('waiting', 'Waiting'),
    ('not_compliant', 'Not compliant'),
    ('attention', 'Needs attention'),
)
# The guests of the inventory mapped to their domains: key, header.
GUEST_COLUMNS = (
    ('guest', 'Guest'),
    ('hypervisor', 'Hypervisor'),
    ('domain', 'Domain'),
    ('agent', 'Agent, from its hypervisor'),
)


def _status(result):
    """``(status, message)`` of one hypervisor's registered result."""
    if not isinstance(result, Mapping) or not result:
        return 'not run', 'no result: the host did not run the read task (left out by --limit or stopped earlier)'
    if result.get('unreachable'):
        return 'unreachable', result.get('msg') or 'unreachable'
    if result.get('failed') or 'domains' not in result:
        return 'failed', result.get('msg') or 'the read task failed'
    return 'ok', None


def _noun(item):
    return item.label[len('the '):] if item.label.startswith('the ') else item.label


def _asked_sentence(asked):
    """What the inventory asks of a hypervisor's domains, in words."""
    if not asked:
        return 'Nothing was asked to compare with: the compliance column is empty.'

    def parts(request):
        # Each setting asked for; one the role sets by default is also said when left as it is.
        return ', '.join(
            '%s %s' % (_noun(item), request[item.name]) if request.get(item.name)
            else '%s left as it is' % _noun(item)
            for item in settings.SETTINGS if request.get(item.name) or item.role_default is not None)

    sentence = 'Asked: %s' % parts(asked)
    overrides = asked.get('overrides') or []
    if overrides:
        sentence += '; %s: %s' % (_plural(len(overrides), 'override'), '; '.join(
            '%s gets %s' % (', '.join(override['name']), parts(override)) for override in overrides))
    return sentence + '.'


def _facts_sentence(entry):
    summary = entry['summary']
    versions = ', '.join(part for part in (
        'libvirt %s' % entry['libvirt_version'] if entry['libvirt_version'] else '',
        'QEMU %s' % entry['qemu_version'] if entry['qemu_version'] else '') if part)
    return ('libvirt host %s, %s%s: %s, %d running, %d paused, %d shut off; stream channel in %s, '
            'agent connected in %d.' % (
                entry['hypervisor'], entry['uri'], ' (%s)' % versions if versions else '',
                _plural(summary['domains'], 'domain'), summary['running'], summary['paused'],
                summary['shut_off'], _plural(summary['agent_channel'], 'definition'), summary['agent_connected']))


def _guest_map(guests):
    """``{(hypervisor, domain): [(guest, agent status)]}`` and the list of every guest, in order."""
    if guests is None:
        return {}, []
    if not isinstance(guests, Mapping):
        raise AnsibleFilterError('spice.streaming.streaming_report: guests must be a dict of the host '
                                 'variables of the guests by inventory name, not %s' % type(guests).__name__)
    mapped, listed = {}, []
    for guest, variables in guests.items():
        variables = variables if isinstance(variables, Mapping) else {}
        domain = variables.get('stream_agent_domain') or guest
        hypervisor = variables.get('stream_agent_hypervisor')
        agent = variables.get('streaming_agent_status')
        mapped.setdefault((hypervisor, domain), []).append(guest)
        listed.append({'guest': guest, 'hypervisor': hypervisor, 'domain': domain, 'agent': agent})
    return mapped, listed


def streaming_report(results, guests=None):
    """Turn ``{inventory host: libvirt_domain_info result}`` into the report's content.

    ``guests`` (optional) maps each guest of the inventory to its host variables
    (``stream_agent_domain``, ``stream_agent_hypervisor``, ``streaming_agent_status``).
    """
    if not isinstance(results, Mapping):
        raise AnsibleFilterError('spice.streaming.streaming_report expects a dict of registered '
                                 'libvirt_domain_info results by host, not %s' % type(results).__name__)
    by_domain, guest_list = _guest_map(guests)
    columns = columns_for(results)
    agents = {item['guest']: item['agent'] for item in guest_list}
    fleet = dict.fromkeys(FLEET_COUNTS, 0)
    fleet['streaming_modes'] = dict.fromkeys(STREAMING_MODES, 0)
    fleet.update(hypervisors=len(results), hypervisors_read=0, hypervisors_failed=0, missing_domains=0,
                 compliant=0, waiting=0, not_compliant=0, left_alone=0, compared=0)
    attention = {kind: [] for kind, _title, _text in ATTENTION}
    hypervisors = []
    found = set()
    for number, (host, result) in enumerate(results.items(), 1):
        status, message = _status(result)
        entry = {'host': host, 'anchor': 'hv-%d' % number, 'status': status, 'message': message,
                 'headline': '', 'empty': None, 'compared': False,
                 'rows': [], 'summary': None, 'hypervisor': None, 'uri': None, 'libvirt_version': None,
                 'qemu_version': None, 'facts': None, 'asked': None, 'attention': 0,
                 'counts': dict.fromkeys(('domains', 'compliant', 'waiting', 'not_compliant'), 0)}
        hypervisors.append(entry)
        if status != 'ok':
            fleet['hypervisors_failed'] += 1
            if isinstance(result, Mapping):
                entry['uri'] = result.get('uri') or result.get('invocation', {}).get('module_args', {}).get('uri')
            entry['needs_attention'] = True
            continue
        fleet['hypervisors_read'] += 1
        summary = result['summary']
        entry.update(summary=summary, hypervisor=result['hypervisor'], uri=result['uri'],
                     libvirt_version=result.get('libvirt_version'), qemu_version=result.get('qemu_version'))
        entry['facts'] = _facts_sentence(entry)
        entry['asked'] = _asked_sentence(result.get('asked'))
        entry['compared'] = bool(result.get('asked'))
        fleet['compared'] += entry['compared']
        for key in FLEET_COUNTS:
            fleet[key] += summary[key]
        for mode in STREAMING_MODES:
            fleet['streaming_modes'][mode] += summary['streaming_modes'][mode]
        for key, count in (summary.get('compliance') or {}).items():
            fleet[key] += count
            if key in entry['counts']:
                entry['counts'][key] = count
        entry['counts']['domains'] = summary['domains']
        for name in sorted(result['domains']):
            info = result['domains'][name]
            names = by_domain.get((host, name), [])
            found.update((guest, host, name) for guest in names)
            row = _row(name, info, names, columns)
            row['notes'].extend('guest %s: %s' % (guest, agents[guest]) for guest in names if agents[guest])
            row['anchor'] = '%s-%d' % (entry['anchor'], len(entry['rows']) + 1)
            entry['rows'].append(row)
            for kind, sentences in _kinds(info):
                attention[kind].append({'host': host, 'domain': name, 'state': info['state'],
                                        'details': sentences, 'anchor': row['anchor']})
        # An exact name that matches no domain (libvirt_domain_info lists it, and reads the rest).
        missing = result.get('missing_domains') or []
        fleet['missing_domains'] += len(missing)
        for name in missing:
            sentence = missing_sentence(result)
            row = _missing_row(name, sentence, columns)
            row['anchor'] = '%s-%d' % (entry['anchor'], len(entry['rows']) + 1)
            entry['rows'].append(row)
            attention['problem'].append({'host': host, 'domain': name, 'state': NOT_FOUND,
                                         'details': [sentence], 'anchor': row['anchor']})
        entry['rows'].sort(key=lambda row: (_RANK.get(row['severity'], len(_RANK)), row['name']))
        for row in entry['rows']:
            row['attention'] = row['severity'] not in _CALM
        entry['attention'] = sum(row['attention'] for row in entry['rows'])
        entry['needs_attention'] = entry['attention'] > 0
        entry['headline'] = '%s, %d needing attention' % (_plural(summary['domains'], 'domain'), entry['attention'])
        entry['empty'] = None if entry['rows'] else 'No domain selected.'
    for item in guest_list:
        item['found'] = (item['guest'], item['hypervisor'], item['domain']) in found
    for entry in hypervisors:
        entry['index'] = [_index_cell(entry, key) for key, _label in INDEX_COLUMNS]
    groups = [{'kind': kind, 'title': title, 'text': text, 'items': attention[kind],
               'open': 0 < len(attention[kind]) <= LONG_LIST,
               'brief': len(attention[kind]) > LONG_LIST} for kind, title, text in ATTENTION]
    modes = [{'key': mode, 'label': mode + (' (runs off)' if mode == 'unset' else ''),
              'count': fleet['streaming_modes'][mode]} for mode in STREAMING_MODES]
    return {
        'title': 'SPICE streaming: fleet report',
        'headings': dict(HEADINGS),
        'modes': {'text': 'Streaming mode in the SPICE definitions:', 'items': modes},
        'generated': 'by spice.streaming.streaming_report from %s.' % _plural(fleet['hypervisors'], 'hypervisor'),
        'legend': list(LEGEND),
        'fleet': fleet,
        # The compliance counts only where something was compared: zeros would read as a finding.
        'cards': [{'key': key, 'label': label, 'value': fleet[key],
                   'tone': tone if fleet[key] and tone else 'plain'} for key, label, tone in CARDS
                  if fleet['compared'] or key not in _COMPLIANCE_LABEL],
        'notices': _notices(fleet, hypervisors, groups),
        'sentence': _closing_sentence(fleet),
        'attention': groups,
        'columns': [column.header() for column in columns],
        'index_columns': [{'key': key, 'label': label} for key, label in INDEX_COLUMNS],
        'hypervisors': hypervisors,
        'guest_columns': [{'key': key, 'label': label} for key, label in GUEST_COLUMNS],
        'guests': [dict(item, cells=[_guest_cell(item, key) for key, _label in GUEST_COLUMNS])
                   for item in guest_list],
    }


def _index_cell(entry, key):
    if key == 'host':
        return _cell(entry['host'])
    if key == 'status':
        return _cell(entry['status'], tone='good' if entry['status'] == 'ok' else 'alert')
    if entry['status'] != 'ok':
        return _cell('-')
    if key in ('libvirt_version', 'qemu_version'):
        return _cell(entry[key] or '-')
    if key == 'attention':
        return _cell(str(entry['attention']), tone='alert' if entry['attention'] else '')
    if key in _COMPLIANCE_LABEL and not entry['compared']:
        return _cell('-')
    value = entry['counts'][key]
    tone = {'not_compliant': 'alert', 'waiting': 'warn'}.get(key, '') if value else ''
    return _cell(str(value), tone=tone)


def _guest_cell(item, key):
    if key == 'agent':
        if not item['found']:
            return _cell('no such domain in this report', tone='alert')
        return _cell(item['agent'] or 'not checked in this run',
                     tone='good' if (item['agent'] or '').startswith('connected') else '')
    return _cell(item[key] or '-')


def _notices(fleet, hypervisors, groups):
    """The sentences under the summary: what could not be read, and whether anything needs attention."""
    notices = []
    unread = [entry for entry in hypervisors if entry['status'] != 'ok']
    if unread:
        notices.append({
            'kind': 'unread', 'tone': 'alert',
            'text': '%s could not be read; what %s is not in this report:' % (
                _plural(len(unread), 'hypervisor'), 'it holds' if len(unread) == 1 else 'they hold'),
            'items': ['%s: %s, %s' % (entry['host'], entry['status'], entry['message']) for entry in unread]})
    if not any(group['items'] for group in groups):
        if not fleet['hypervisors_read']:
            notices.append({'kind': 'calm', 'tone': 'alert', 'items': [],
                            'text': 'No hypervisor could be read: there is nothing to check.'})
        elif unread:
            notices.append({'kind': 'calm', 'tone': 'warn', 'items': [], 'text': (
                'Nothing needs attention on the %s that %s read; the %s that could not be read may '
                'hold anything.' % (_plural(fleet['hypervisors_read'], 'hypervisor'),
                                    'was' if fleet['hypervisors_read'] == 1 else 'were',
                                    _plural(len(unread), 'other')))})
        else:
            notices.append({'kind': 'calm', 'tone': 'good', 'items': [],
                            'text': 'Nothing needs attention on the hypervisors that were read.'})
    return notices


def _closing_sentence(fleet):
    """The run's closing line: what the report found, in one sentence."""
    read = _plural(fleet['hypervisors_read'], 'hypervisor')
    if fleet['hypervisors_read'] != fleet['hypervisors']:
        read += ' read, of %d' % fleet['hypervisors']
    compared = ''
    if fleet['compared']:
        compared = ' %d compliant, %d waiting, %d not compliant;' % (
            fleet['compliant'], fleet['waiting'], fleet['not_compliant'])
    return ('%s on %s;%s %d with a stream channel no agent holds, %d waiting for a cold start, '
            '%d with problems, %d named but not found, %d left alone.' % (
                _plural(fleet['domains'], 'domain'), read, compared, fleet['agent_disconnected'],
                fleet['restart_required'], fleet['problems'], fleet['missing_domains'], fleet['skipped']))


class FilterModule:
    """The fleet report of spice.streaming."""

    def filters(self):
        return {'streaming_report': streaming_report}
