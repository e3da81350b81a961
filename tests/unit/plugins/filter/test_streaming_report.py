# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The streaming_report filter over per-domain dicts made from real fixtures by libvirt_info."""

from __future__ import annotations

import os
import re

import lxml.html
import pytest
from ansible.errors import AnsibleFilterError
from markdown_it import MarkdownIt

from ansible_collections.spice.streaming.plugins.filter import streaming_report as report_filter
from ansible_collections.spice.streaming.plugins.filter.streaming_report import FilterModule
from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_info
from ansible_collections.spice.streaming.plugins.module_utils import settings
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import SelectedDomain
from tests.support.report_templates import render_template

streaming_report = FilterModule().filters()['streaming_report']
FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures', 'domains')


def load(fixture):
    with open(os.path.join(FIXTURES, fixture), encoding='utf-8') as handle:
        return dx.parse_domain(handle.read())


def info(fixture, live_fixture=None, persistent=True, request=None, agent='disconnected'):
    live = None
    if live_fixture:
        live = load(live_fixture)
        for channel in dx.stream_channels(live):
            channel.find('target').set('state', agent)
    selected = SelectedDomain('x', None, False, live is not None, persistent)
    state = 'running' if live is not None else 'shut off'
    return libvirt_info.describe(libvirt_info._blank(selected, state),
                                 load(fixture) if persistent else None, live, exact=False, request=request)


def cells(report, row):
    """A row's cells by column key."""
    return {column['key']: cell for column, cell in zip(report['columns'], row['cells'])}


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
    assert [group['kind'] for group in groups] == ['disconnected', 'not_compliant', 'restart', 'problem', 'skipped']
    groups = [group for group in groups if group['items']]
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
    report = streaming_report(FLEET)
    run = cells(report, report['hypervisors'][0]['rows'][0])
    assert report['hypervisors'][0]['rows'][0]['severity'] == 'disconnected'
    assert (run['agent']['text'], run['agent']['tone'], run['streaming_mode']['text']) == \
        ('disconnected', 'alert', 'filter')
    assert cells(report, report['hypervisors'][0]['rows'][2])['streaming_mode']['text'] == 'unset (off)'


def test_cards_take_a_tone_only_when_not_zero():
    cards = {card['key']: card for card in streaming_report(FLEET)['cards']}
    assert cards['agent_disconnected']['tone'] == 'alert' and cards['agent_disconnected']['value'] == 1
    assert cards['agent_connected']['tone'] == 'plain'
    quiet = {card['key']: card for card in streaming_report({'hv-a': host_result({})})['cards']}
    assert {card['tone'] for card in quiet.values()} == {'plain'}


def test_input_that_is_not_a_dict_is_refused():
    with pytest.raises(AnsibleFilterError, match='expects a dict'):
        streaming_report(['hv-a'])


# ------------------------------------------------------------------ issue 14: names, transient, missing

HOSTILE = {
    'img': 'x<img src=x onerror="document.title=1">',
    'fmt': '*desk* _01_ `code` |pipe| & [x](y) #3',
    'long': 'desk-' + 'a' * 195,
}


def render(template, content):
    """A report template as Ansible's template module renders it (trim_blocks, the collection's filter)."""
    return render_template(template, content)


def hostile_fleet():
    return {'hv <b>&*': dict(host_result({
        HOSTILE['img']: info('q35-duplicate-stream-channel.xml'),
        HOSTILE['fmt']: info('q35-spice-stream-channel-other-type.xml'),
        HOSTILE['long']: info('q35-spice-streaming-filter.xml'),
    }), missing_domains=['retired_*1*'])}


def test_a_transient_domain_has_no_definition_in_its_row():
    transient = info('q35-spice-streaming-all-no-channel.xml', 'q35-spice-streaming-all-no-channel.xml',
                     persistent=False)
    report = streaming_report({'hv': host_result({'t': transient})})
    (row,) = report['hypervisors'][0]['rows']
    row = cells(report, row)
    assert (row['state']['text'], row['state']['lines']) == ('running', ['transient'])
    assert (row['streaming_mode']['text'], row['streaming_mode']['lines']) == ('no definition', ['running all'])
    assert (row['agent_channel']['text'], row['agent_channel']['lines']) == ('no definition', ['running absent'])


def test_a_missing_exact_name_is_a_problem_of_its_hypervisor_which_is_still_read():
    result = dict(host_result({'a': info('q35-spice-virtmanager.xml'), 'b': info('q35-vnc-only.xml')}),
                  missing_domains=['retired'])
    report = streaming_report({'hv-a': result})
    (hv,) = report['hypervisors']
    assert hv['status'] == 'ok' and report['fleet']['hypervisors_failed'] == 0
    assert [row['name'] for row in hv['rows']] == ['retired', 'b', 'a']
    missing = hv['rows'][0]
    assert (missing['state'], missing['severity']) == ('not found', 'problem')
    assert cells(report, missing)['state']['text'] == 'not found'
    assert "hv (qemu:///system) has no domain of that name" in missing["notes"][0]
    assert "virsh -c qemu:///system list --all" in missing['notes'][0]
    problems = next(group for group in report['attention'] if group['kind'] == 'problem')['items']
    assert problems == [{'host': 'hv-a', 'domain': 'retired', 'state': 'not found', 'details': missing['notes'],
                         'anchor': missing['anchor']}]
    cards = {card['key']: card for card in report['cards']}
    assert cards['missing_domains']['value'] == 1 and cards['missing_domains']['tone'] == 'alert'
    assert report['fleet']['domains'] == 2


def test_markdown_report_shows_every_name_and_sentence_as_text():
    markdown = render('report.md.j2', streaming_report(hostile_fleet()))
    html = MarkdownIt('commonmark', {'html': True}).enable(['table', 'strikethrough']).render(markdown)
    page = lxml.html.fromstring('<div>%s</div>' % html)
    assert not page.xpath('//img | //script | //channel | //a | //em[. != "connected"] | //del'), markdown
    # Nothing from a name or a sentence turns into code.
    assert not page.xpath('//code')
    assert not page.xpath('//@onerror'), markdown
    cells = [row.xpath('./td')[0].text_content() for row in page.xpath('//table[.//th[.="Domain"]]//tbody/tr')]
    assert sorted(cells) == sorted(list(HOSTILE.values()) + ['retired_*1*'])
    bold = [element.text_content() for element in page.xpath('//ol/li/strong')]
    assert HOSTILE['img'] in bold and HOSTILE['fmt'] in bold and 'retired_*1*' in bold
    assert "<channel type='unix'>" in page.text_content()
    assert page.xpath('//h3[.="hv <b>&* (ok)"]')


def test_html_report_shows_every_name_as_text():
    page = lxml.html.fromstring(render('report.html.j2', streaming_report(hostile_fleet())))
    assert not page.xpath('//img | //b | //channel'), 'markup from a name'
    names = [row.get('data-domain') for row in page.xpath("//tbody[contains(@class, 'domain')]")]
    assert sorted(names) == sorted(list(HOSTILE.values()) + ['retired_*1*'])
    assert [cell.text_content() for cell in page.xpath("//tbody[contains(@class, 'domain')]/tr[1]/td[1]")] == names


@pytest.mark.parametrize('template', ['report.md.j2', 'report.html.j2'])
def test_counts_of_one_are_singular(template):
    text = render(template, streaming_report({'hv': host_result({'only': info('q35-spice-virtmanager.xml')})}))
    assert re.search(r'\b1 (domain|hypervisor|definition)s\b', text) is None, text
    assert re.search(r'\b1 hypervisor\b', text) and re.search(r'\b1 domain\b', text)


# ------------------------------------------------------------------ issue 16: one place, compliance, guests

ENABLE = dx.StreamingRequest('filter', 'present')
ASKED = {'streaming_mode': 'filter', 'agent_channel': 'present', 'overrides': []}


def compared(domains, **extra):
    return dict(host_result(domains), **dict(dict(asked=ASKED, libvirt_version='9.0.0', qemu_version='7.2.0'),
                                             **extra))


def table_headers(page):
    return [[th.text_content() for th in table.xpath('.//thead//th')]
            for table in page.xpath("//table[.//th[.='Domain']]")]


def markdown_tables(markdown):
    html = MarkdownIt('commonmark', {'html': True}).enable(['table']).render(markdown)
    return lxml.html.fromstring('<div>%s</div>' % html)


def test_both_templates_lay_out_the_filters_columns_and_a_setting_column_comes_from_the_registry(monkeypatch):
    results = {'hv': compared({'desk': info('q35-spice-streaming-filter.xml', request=ENABLE)})}
    # Nobody sets or asks for a compression: the table has the settings the role sets. (The
    # fixture says <image compression='off'/>, which its own column shows below.)
    for domain in results['hv']['domains'].values():
        domain['image_compression'] = None
    plain = ['Domain', 'State', 'Graphics', 'Streaming mode', 'Stream channel', 'Agent', 'Compliance']
    report = streaming_report(results)
    assert [column['label'] for column in report['columns']] == plain
    html = lxml.html.fromstring(render('report.html.j2', report))
    markdown = markdown_tables(render('report.md.j2', report))
    assert table_headers(html) == [plain] and table_headers(markdown) == [plain]

    # A definition with an image compression, asked for another: its column, labelled by the
    # registry's record, in the registry's order.
    for domain in results['hv']['domains'].values():
        domain['image_compression'], domain['image_compression_live'] = 'quic', None
        domain['asked']['image_compression'] = 'auto_glz'
    report = streaming_report(results)
    wider = plain[:4] + [settings.IMAGE_COMPRESSION.column] + plain[4:]
    html = lxml.html.fromstring(render('report.html.j2', report))
    markdown = markdown_tables(render('report.md.j2', report))
    assert table_headers(html) == [wider] and table_headers(markdown) == [wider]
    (row,) = html.xpath("//tbody[@data-domain='desk']/tr[1]")
    assert row.xpath('string(td[5])') == 'quicasked auto_glz'
    (row,) = markdown.xpath("//table[.//th[.='Domain']]/tbody/tr")
    assert row.xpath('string(td[5])') == 'quic (asked auto_glz)'

    # Another column is one entry of COLUMNS; both templates follow.
    monkeypatch.setattr(report_filter, 'COLUMNS', report_filter.COLUMNS + (
        report_filter.Column('uuid', 'Persistent', lambda info, _row: report_filter._cell(str(info['persistent']))),))
    report = streaming_report(results)
    html = lxml.html.fromstring(render('report.html.j2', report))
    markdown = markdown_tables(render('report.md.j2', report))
    assert table_headers(html) == [wider + ['Persistent']] and table_headers(markdown) == [wider + ['Persistent']]


def test_a_setting_cell_says_where_running_and_asked_differ_from_the_definition():
    pending = info('q35-spice-streaming-filter.xml', 'q35-spice-virtmanager.xml', request=ENABLE)
    todo = info('q35-spice-virtmanager.xml', request=ENABLE)
    done = info('q35-spice-streaming-filter.xml', 'q35-spice-streaming-filter.xml', request=ENABLE, agent='connected')
    report = streaming_report({'hv': compared({'pending': pending, 'todo': todo, 'done': done})})
    rows = {row['name']: cells(report, row) for row in report['hypervisors'][0]['rows']}
    assert rows['pending']['streaming_mode'] == {'text': 'filter', 'lines': ['running off'], 'tone': 'warn'}
    assert rows['pending']['agent_channel'] == {'text': 'present', 'lines': ['running absent'], 'tone': 'warn'}
    assert rows['todo']['streaming_mode'] == {'text': 'unset (off)', 'lines': ['asked filter'], 'tone': 'alert'}
    assert rows['todo']['agent_channel'] == {'text': 'absent', 'lines': ['asked present'], 'tone': 'alert'}
    assert rows['done']['streaming_mode'] == {'text': 'filter', 'lines': [], 'tone': ''}
    assert rows['done']['agent'] == {'text': 'connected', 'lines': [], 'tone': 'good'}
    assert [rows[name]['compliance']['text'] for name in ('pending', 'todo', 'done')] == \
        ['waiting', 'not compliant', 'compliant']


def test_compliance_is_counted_per_hypervisor_and_over_the_fleet():
    report = streaming_report({
        'hv-a': compared({'todo': info('q35-spice-virtmanager.xml', request=ENABLE),
                          'done': info('q35-spice-streaming-filter.xml', request=ENABLE)}),
        'hv-b': compared({'pend': info('q35-spice-streaming-filter.xml', 'q35-spice-virtmanager.xml', request=ENABLE),
                          'vnc': info('q35-vnc-only.xml', request=ENABLE)}),
    })
    fleet = report['fleet']
    assert (fleet['compliant'], fleet['waiting'], fleet['not_compliant'], fleet['left_alone']) == (1, 1, 1, 1)
    cards = {card['key']: (card['value'], card['tone']) for card in report['cards']}
    assert (cards['compliant'], cards['waiting'], cards['not_compliant']) == ((1, 'good'), (1, 'warn'), (1, 'alert'))
    index = [{column['key']: cell['text'] for column, cell in zip(report['index_columns'], hv['index'])}
             for hv in report['hypervisors']]
    assert index[0] == {'host': 'hv-a', 'status': 'ok', 'libvirt_version': '9.0.0', 'qemu_version': '7.2.0',
                        'domains': '2', 'compliant': '1', 'waiting': '0', 'not_compliant': '1', 'attention': '1'}
    assert (index[1]['waiting'], index[1]['attention']) == ('1', '1')
    # What is asked, said per hypervisor; and the run's closing line.
    assert report['hypervisors'][0]['asked'] == 'Asked: streaming mode filter, stream channel present.'
    assert 'libvirt 9.0.0, QEMU 7.2.0' in report['hypervisors'][0]['facts']
    assert report['sentence'].startswith('4 domains on 2 hypervisors; 1 compliant, 1 waiting, 1 not compliant;')
    # Not compliant: the notes say what enable_streaming.yml would change.
    todo = next(row for row in report['hypervisors'][0]['rows'] if row['name'] == 'todo')
    assert todo['severity'] == 'not_compliant' and 'libvirt_domain would change it' in todo['notes'][0]


def test_without_anything_compared_no_compliance_is_claimed():
    report = streaming_report(FLEET)
    assert not {'compliant', 'waiting', 'not_compliant'} & {card['key'] for card in report['cards']}
    hv = report['hypervisors'][0]
    assert hv['asked'].startswith('Nothing was asked to compare with')
    assert {cell['text'] for cell in hv['index'][5:8]} == {'-'}


def test_an_override_is_said_with_what_it_asks():
    result = compared({}, asked={'streaming_mode': 'filter', 'agent_channel': None, 'overrides': [
        {'name': ['kiosk-*', 'lobby'], 'streaming_mode': 'off', 'agent_channel': None}]})
    assert streaming_report({'hv': result})['hypervisors'][0]['asked'] == (
        'Asked: streaming mode filter, stream channel left as it is; 1 override: kiosk-*, lobby gets '
        'streaming mode off, stream channel left as it is.')


def notices(report):
    return [(notice['kind'], notice['tone']) for notice in report['notices']]


def test_nothing_needs_attention_is_not_green_while_a_hypervisor_could_not_be_read():
    calm = {'done': info('q35-spice-streaming-filter.xml', request=ENABLE)}
    unreachable = {'unreachable': True, 'msg': 'ssh: connect to host hv99 port 22: No route to host'}
    report = streaming_report({'hv01': compared(calm), 'hv99': unreachable})
    assert notices(report) == [('unread', 'alert'), ('calm', 'warn')]
    assert report['notices'][1]['text'] == ('Nothing needs attention on the 1 hypervisor that was read; the 1 '
                                            'other that could not be read may hold anything.')
    for template in ('report.html.j2', 'report.md.j2'):
        text = render(template, report)
        assert 'Nothing needs attention on the hypervisors that were read' not in text
    page = lxml.html.fromstring(render('report.html.j2', report))
    assert [banner.get('class') for banner in page.xpath("//*[contains(@class, 'banner')]")] == \
        ['banner alert', 'banner warn']
    assert notices(streaming_report({'hv01': compared(calm)})) == [('calm', 'good')]
    assert notices(streaming_report({'hv99': unreachable})) == [('unread', 'alert'), ('calm', 'alert')]


def test_guests_are_mapped_to_their_domains_with_what_their_agent_said():
    report = streaming_report(
        {'hv01': compared({'vdi-01': info('q35-spice-streaming-filter.xml', 'q35-spice-streaming-filter.xml',
                                          request=ENABLE, agent='connected'),
                           'vdi-02': info('q35-spice-streaming-filter.xml', request=ENABLE)})},
        guests={
            'desk-01.example.org': {'stream_agent_domain': 'vdi-01', 'stream_agent_hypervisor': 'hv01',
                                    'streaming_agent_status': 'connected: the agent in desk-01.example.org holds '
                                                              'the stream port of domain vdi-01 on hv01'},
            'vdi-02': {'stream_agent_hypervisor': 'hv01'},
            'desk-09': {'stream_agent_domain': 'vdi-09', 'stream_agent_hypervisor': 'hv01'},
        })
    rows = {row['name']: row for row in report['hypervisors'][0]['rows']}
    assert rows['vdi-01']['guests'] == ['desk-01.example.org']
    assert cells(report, rows['vdi-01'])['name']['lines'] == ['guest desk-01.example.org']
    assert rows['vdi-01']['notes'] == ['guest desk-01.example.org: connected: the agent in desk-01.example.org '
                                       'holds the stream port of domain vdi-01 on hv01']
    # The inventory name is the domain name when stream_agent_domain is not set.
    assert rows['vdi-02']['guests'] == ['vdi-02'] and rows['vdi-02']['notes'] == []
    listed = {guest['guest']: [cell['text'] for cell in guest['cells']] for guest in report['guests']}
    assert listed == {
        'desk-01.example.org': ['desk-01.example.org', 'hv01', 'vdi-01', 'connected: the agent in '
                                'desk-01.example.org holds the stream port of domain vdi-01 on hv01'],
        'vdi-02': ['vdi-02', 'hv01', 'vdi-02', 'not checked in this run'],
        'desk-09': ['desk-09', 'hv01', 'vdi-09', 'no such domain in this report']}
    page = lxml.html.fromstring(render('report.html.j2', report))
    assert [row.get('data-guest') for row in page.xpath("//section[@id='guests']//tbody/tr")] == list(listed)
    assert '| desk-09 | hv01 | vdi-09 | no such domain in this report |' in render('report.md.j2', report)
    with pytest.raises(AnsibleFilterError, match='guests must be a dict'):
        streaming_report({}, guests=['desk-01'])


def test_a_long_attention_list_is_folded_and_brief():
    domains = {'todo-%03d' % number: info('q35-spice-virtmanager.xml', request=ENABLE)
               for number in range(report_filter.LONG_LIST + 1)}
    report = streaming_report({'hv': compared(domains)})
    group = next(group for group in report['attention'] if group['kind'] == 'not_compliant')
    assert (len(group['items']), group['open'], group['brief']) == (report_filter.LONG_LIST + 1, False, True)
    page = lxml.html.fromstring(render('report.html.j2', report))
    (folded,) = page.xpath("//details[@id='attention-not_compliant']")
    assert folded.get('open') is None and not folded.xpath('.//li/ul')
    # The notes are under each row instead.
    assert len(page.xpath("//tbody[contains(@class, 'domain')]/tr[@class='notes']")) == report_filter.LONG_LIST + 1


def test_a_domain_libvirt_domain_refuses_points_to_its_problems_once():
    report = streaming_report({'hv': compared({
        'conf': info('q35-spice-stream-channel-other-type.xml', request=ENABLE),
        'dup': info('q35-duplicate-stream-channel.xml', request=ENABLE)})})
    rows = {row['name']: row for row in report['hypervisors'][0]['rows']}
    groups = {group['kind']: {item['domain']: item['details'] for item in group['items']}
              for group in report['attention']}
    assert groups['not_compliant']['conf'] == ['libvirt_domain cannot bring it to the asked state: see its problems']
    assert "already named org.spice-space.stream.0" in groups['problem']['conf'][0]
    # Duplicates are a problem libvirt_domain repairs: what it would change is said.
    assert groups['not_compliant']['dup'][0].startswith('the definition is not as asked; libvirt_domain would '
                                                        'change it: removed 1 duplicate stream channel')
    assert len(rows['conf']['notes']) == 2
