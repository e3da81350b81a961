# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The streaming_report filter over per-domain dicts made from real fixtures by libvirt_info."""

from __future__ import annotations

import os
import re

import jinja2
import lxml.html
import pytest
from ansible.errors import AnsibleFilterError
from markdown_it import MarkdownIt

from ansible_collections.spice.streaming.plugins.filter.markdown_escape import markdown_escape
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


# ------------------------------------------------------------------ issue 14: names, transient, missing

TEMPLATES = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'playbooks', 'templates')
HOSTILE = {
    'img': 'x<img src=x onerror="document.title=1">',
    'fmt': '*desk* _01_ `code` |pipe| & [x](y) #3',
    'long': 'desk-' + 'a' * 195,
}


def render(template, content):
    """A report template as Ansible's template module renders it (trim_blocks, the collection's filter)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters['spice.streaming.markdown_escape'] = markdown_escape
    return env.get_template(template).render(streaming_report_content=content,
                                             streaming_report_generated='2026-12-04 10:00:00 UTC')


def hostile_fleet():
    return {'hv <b>&*': dict(host_result({
        HOSTILE['img']: info('q35-duplicate-stream-channel.xml'),
        HOSTILE['fmt']: info('q35-spice-stream-channel-other-type.xml'),
        HOSTILE['long']: info('q35-spice-streaming-filter.xml'),
    }), missing_domains=['retired_*1*'])}


def test_a_transient_domain_has_no_definition_in_its_row():
    transient = info('q35-spice-streaming-all-no-channel.xml', 'q35-spice-streaming-all-no-channel.xml',
                     persistent=False)
    (row,) = streaming_report({'hv': host_result({'t': transient})})['hypervisors'][0]['rows']
    assert row['streaming_mode'] == 'no definition (transient)'
    assert row['agent_channel'] == 'no definition'
    assert row['streaming_mode_live'] == 'all'


def test_a_missing_exact_name_is_a_problem_of_its_hypervisor_which_is_still_read():
    result = dict(host_result({'a': info('q35-spice-virtmanager.xml'), 'b': info('q35-vnc-only.xml')}),
                  missing_domains=['retired'])
    report = streaming_report({'hv-a': result})
    (hv,) = report['hypervisors']
    assert hv['status'] == 'ok' and report['fleet']['hypervisors_failed'] == 0
    assert [row['name'] for row in hv['rows']] == ['retired', 'b', 'a']
    missing = hv['rows'][0]
    assert (missing['state'], missing['severity']) == ('not found', 'problem')
    assert "hv (qemu:///system) has no domain of that name" in missing["notes"][0]
    assert "virsh -c qemu:///system list --all" in missing['notes'][0]
    problems = next(group for group in report['attention'] if group['kind'] == 'problem')['items']
    assert problems == [{'host': 'hv-a', 'domain': 'retired', 'state': 'not found', 'details': missing['notes']}]
    cards = {card['key']: card for card in report['cards']}
    assert cards['missing_domains']['value'] == 1 and cards['missing_domains']['tone'] == 'alert'
    assert report['fleet']['domains'] == 2


def test_markdown_report_shows_every_name_and_sentence_as_text():
    markdown = render('report.md.j2', streaming_report(hostile_fleet()))
    html = MarkdownIt('commonmark', {'html': True}).enable(['table', 'strikethrough']).render(markdown)
    page = lxml.html.fromstring('<div>%s</div>' % html)
    assert not page.xpath('//img | //script | //channel | //a | //em[. != "connected"] | //del'), markdown
    # Code spans only where the template writes them: the names of the collection's parts.
    assert {code.text for code in page.xpath('//code')} == {
        'spice.streaming.streaming_report', 'spice.streaming.libvirt_domain_info', 'org.spice-space.stream.0'}
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
    names = [row.get('data-domain') for row in page.xpath('//tbody/tr')]
    assert sorted(names) == sorted(list(HOSTILE.values()) + ['retired_*1*'])
    assert [cell.text_content() for cell in page.xpath("//td[@class='name']")] == names


@pytest.mark.parametrize('template', ['report.md.j2', 'report.html.j2'])
def test_counts_of_one_are_singular(template):
    text = render(template, streaming_report({'hv': host_result({'only': info('q35-spice-virtmanager.xml')})}))
    assert re.search(r'\b1 (domain|hypervisor|definition)s\b', text) is None, text
    assert re.search(r'\b1 hypervisor\b', text) and re.search(r'\b1 domain\b', text)
