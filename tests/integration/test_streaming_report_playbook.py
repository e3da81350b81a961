# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/streaming_report.yml over an inventory of hypervisors, read in headless Chromium.

Two "hypervisors" are the local libvirtd seen through a local connection, each selecting
its own domains; a third is unreachable over SSH (a closed port on 127.0.0.1) and a fourth
has a libvirt URI that answers nothing. The page is rendered by Chromium, and what it
shows (the summary numbers, what is listed first) is read from the rendered DOM.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from xml.sax.saxutils import escape as xml_escape

import libvirt
import lxml.html
import pytest
import yaml
from lxml import etree
from markdown_it import MarkdownIt

from ansible_collections.spice.streaming.plugins.filter.markdown_escape import markdown_escape
from ansible_collections.spice.streaming.plugins.filter.streaming_report import streaming_report
from tests.support import synthetic_report
from tests.support.collection_path import REPO_ROOT
from tests.support.report_templates import render_template
from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM_CHANNEL,
    VIRTIO_SERIAL,
    VNC_GRAPHICS,
    _playbook_command,
    ansible_env,
    domain_xml,
    run_playbook,
)

PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'streaming_report.yml')
OUTPUT = os.path.join(REPO_ROOT, 'tests', 'output')
SPICE_FILTER = SPICE_GRAPHICS.replace("<listen type='none'/>",
                                      "<listen type='none'/>\n      <streaming mode='filter'/>")
UNIX_STREAM_PORT = """<channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='org.spice-space.stream.0'/>
    </channel>"""
# Chromium with no network chatter (the machine has no network but the package mirrors).
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--hide-scrollbars']


def chromium(tmp_path, *args):
    binary = shutil.which('chromium')
    if binary is None:
        pytest.fail('chromium is not installed; scripts/test.sh installs it (REPORT_PACKAGES in scripts/lib/setup.sh)',
                    pytrace=False)
    profile = tmp_path / 'chromium-profile'
    proc = subprocess.run([binary] + CHROMIUM_FLAGS + ['--user-data-dir=%s' % profile] + list(args),
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def closed_loopback_port():
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def local_hypervisor(pattern, **extra):
    host = {'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3',
            'host_streaming_domains': [pattern]}
    host.update(extra)
    return host


def pend_definition(conn, name):
    """A running domain's definition given the channel and mode all after its start."""
    dom = conn.lookupByName(name)
    root = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE).encode())
    root.find('devices').append(etree.fromstring(STREAM_CHANNEL))
    etree.SubElement(root.find("devices/graphics[@type='spice']"), 'streaming', mode='all')
    conn.defineXML(etree.tostring(root, encoding='unicode'))


def recap(stdout):
    """``{host: failed count}`` from the play recap."""
    return {match.group(1): int(match.group(2))
            for match in re.finditer(r'^(\S+)\s+: ok=\d+\s+changed=\d+\s+unreachable=\d+\s+failed=(\d+)', stdout, re.M)}


def summary_numbers(page):
    return {element.get('id')[len('summary-'):]: int(element.text_content())
            for element in page.xpath("//dd[starts-with(@id, 'summary-')]")}


def test_report_over_two_hypervisors_and_two_unreadable_ones(domains, tmp_path):
    domains.define('a-run', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_FILTER)),
                   start=True)
    domains.define('a-off', domain_xml)
    domains.define('a-vnc', lambda n: domain_xml(n, devices=(VNC_GRAPHICS,)))
    domains.define('b-pend', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)), start=True)
    pend_definition(domains.conn, domains.name('b-pend'))
    domains.define('b-conf', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, UNIX_STREAM_PORT, SPICE_GRAPHICS)))
    domains.define('b-done', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_FILTER)))
    hv_a = local_hypervisor(domains.prefix + '-a-*')
    hv_b = local_hypervisor(domains.prefix + '-b-*')
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {
        'hv-a': hv_a,
        'hv-b': hv_b,
        'hv-down': {'ansible_host': '127.0.0.1', 'ansible_port': closed_loopback_port(),
                    'ansible_connection': 'ssh', 'ansible_user': 'nobody'},
        'hv-nolibvirt': local_hypervisor('*', host_streaming_uri='qemu+unix:///system?socket=%s'
                                         % (tmp_path / 'no-such-socket')),
    }}}))
    report_dir = tmp_path / 'report'
    before = domains.snapshot()

    # --check writes the report too (documented): it changes nothing on the hypervisors.
    proc = run_playbook(PLAYBOOK, str(inventory), check=True,
                        extra_vars={'streaming_report_dir': str(report_dir)})
    assert domains.snapshot() == before
    # The report is written, then the hypervisors that could not be read fail, and only they.
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert recap(proc.stdout) == {'hv-a': 0, 'hv-b': 0, 'hv-down': 1, 'hv-nolibvirt': 1}, proc.stdout
    assert 'fatal: [hv-down]: FAILED! => {"changed": false, "msg": "hv-down could not be read (unreachable)' \
        in proc.stdout, proc.stdout
    assert 'hv-nolibvirt could not be read (failed), so the report %s/index.html lists it' % report_dir \
        in proc.stdout, proc.stdout

    index = report_dir / 'index.html'
    os.makedirs(OUTPUT, exist_ok=True)
    screenshot = os.path.join(OUTPUT, 'streaming-report.png')
    if os.path.exists(screenshot):
        os.unlink(screenshot)
    chromium(tmp_path, '--window-size=1280,1600', '--screenshot=%s' % screenshot, index.as_uri())
    assert os.path.getsize(screenshot) > 10000
    page = lxml.html.fromstring(chromium(tmp_path, '--dump-dom', index.as_uri()))

    assert summary_numbers(page) == {
        'hypervisors_read': 2, 'hypervisors_failed': 2, 'domains': 6, 'running': 0, 'paused': 2,
        'shut_off': 4, 'agent_channel': 3, 'agent_connected': 0, 'agent_disconnected': 1,
        'restart_required': 1, 'problems': 1, 'missing_domains': 0, 'skipped': 1,
        # What enable_streaming.yml asks with this inventory (the role's defaults: filter, present).
        'compliant': 2, 'waiting': 0, 'not_compliant': 3}
    modes = {element.get('id'): int(element.text_content())
             for element in page.xpath("//strong[starts-with(@id, 'mode-')]")}
    assert modes == {'mode-filter': 2, 'mode-all': 1, 'mode-off': 0, 'mode-unset': 2}

    # Problems first, and first of all the running domain whose channel no agent holds.
    items = page.xpath("//section[@id='attention']//li[@data-kind]")
    listed = [(item.get('data-kind'), item.get('data-host'), item.get('data-domain')) for item in items]
    assert listed == [
        ('disconnected', 'hv-a', domains.name('a-run')),
        ('not_compliant', 'hv-a', domains.name('a-off')),
        ('not_compliant', 'hv-b', domains.name('b-conf')),
        ('not_compliant', 'hv-b', domains.name('b-pend')),
        ('restart', 'hv-b', domains.name('b-pend')),
        ('problem', 'hv-b', domains.name('b-conf')),
        ('skipped', 'hv-a', domains.name('a-vnc')),
    ]
    # Text from libvirt XML shows as text, escaped, not as markup.
    assert "<channel type='unix'>" in items[5].text_content()
    assert not page.xpath("//section[@id='attention']//channel")

    unread = page.get_element_by_id('unread').text_content()
    assert 'hv-down' in unread and 'unreachable' in unread
    assert 'hv-nolibvirt' in unread and 'no-such-socket' in unread

    # One table per hypervisor that was read, rows needing attention first.
    sections = {section.get('data-host'): section
                for section in page.xpath("//details[contains(@class, 'hypervisor')]")}
    assert {host: section.get('data-status') for host, section in sections.items()} == {
        'hv-a': 'ok', 'hv-b': 'ok', 'hv-down': 'unreachable', 'hv-nolibvirt': 'failed'}
    rows_a = [row.get('data-domain') for row in sections['hv-a'].xpath('.//tbody')]
    assert rows_a == [domains.name('a-run'), domains.name('a-off'), domains.name('a-vnc')]
    # The index links each hypervisor to its section, with its libvirt and QEMU versions.
    index_rows = page.xpath("//section[@id='index']//tbody/tr")
    assert [row.get('data-host') for row in index_rows] == ['hv-a', 'hv-b', 'hv-down', 'hv-nolibvirt']
    assert [row.xpath('string(td[1]/a/@href)') for row in index_rows] == \
        ['#' + sections[host].get('id') for host in ('hv-a', 'hv-b', 'hv-down', 'hv-nolibvirt')]
    packed = domains.conn.getLibVersion()
    libvirt_version = '%d.%d.%d' % (packed // 1000000, packed // 1000 % 1000, packed % 1000)
    assert index_rows[0].xpath('string(td[3])') == libvirt_version
    assert re.fullmatch(r'\d+\.\d+\.\d+', index_rows[0].xpath('string(td[4])'))
    # The red "could not be read" is not followed by a green "nothing needs attention".
    assert not page.xpath("//*[contains(@class, 'banner') and contains(@class, 'good')]")
    assert not sections['hv-down'].xpath('.//table')

    # report.md carries the same content.
    markdown = (report_dir / 'report.md').read_text()
    assert '| Domains | 6 |' in markdown and '| Channel not held by an agent | 1 |' in markdown
    attention = markdown.split('## Needs attention', 1)[1]
    assert attention.index(domains.name('a-run')) < attention.index(domains.name('b-pend'))
    assert '### hv-down (unreachable)' in markdown and '### hv-nolibvirt (failed)' in markdown


def test_report_of_a_fully_read_fleet_passes(domains, tmp_path):
    domains.define('a-off', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_FILTER)))
    domains.define('b-done', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_FILTER)))
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {
        'hv-a': local_hypervisor(domains.prefix + '-a-*'),
        'hv-b': local_hypervisor(domains.prefix + '-b-*'),
    }}}))
    report_dir = tmp_path / 'report'
    # The job's statistics, as AWX and AAP keep them (shown here by the default callback).
    proc = subprocess.run(_playbook_command(PLAYBOOK, str(inventory), False, False,
                                            {'streaming_report_dir': str(report_dir)}),
                          capture_output=True, text=True, timeout=600, check=False,
                          env=dict(ansible_env(), ANSIBLE_SHOW_CUSTOM_STATS='true'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stats = proc.stdout.split('CUSTOM STATS', 1)[1]
    assert '"sentence": "2 domains on 2 hypervisors; 2 compliant, 0 waiting, 0 not compliant;' in stats, stats
    assert '"path": "%s"' % report_dir in stats and '"published": null' in stats, stats
    page = lxml.html.fromstring(chromium(tmp_path, '--dump-dom', (report_dir / 'index.html').as_uri()))
    numbers = summary_numbers(page)
    assert (numbers['hypervisors_read'], numbers['hypervisors_failed'], numbers['domains']) == (2, 0, 2)
    assert not page.xpath("//*[@id='unread']")
    assert page.xpath("//section[@id='attention']//li[@data-kind]") == []
    assert page.get_element_by_id('calm').get('class') == 'banner good'
    assert 'Nothing needs attention' in page.get_element_by_id('calm').text_content()
    assert recap(proc.stdout) == {'hv-a': 0, 'hv-b': 0}


# ------------------------------------------------------------------ issue 14: hostile names, missing names

SPICE_ALL = SPICE_GRAPHICS.replace("<listen type='none'/>", "<listen type='none'/>\n      <streaming mode='all'/>")
# Measures the rendered page in Chromium: how far each table overflows its box, where each
# column header ends, how wide the whole document is.
MEASURE = """<script>
document.querySelectorAll('table').forEach(function (table) {
  table.setAttribute('data-overflow', table.scrollWidth - table.parentElement.clientWidth); });
document.querySelectorAll('th').forEach(function (th) {
  th.setAttribute('data-right', Math.ceil(th.getBoundingClientRect().right)); });
document.body.setAttribute('data-scroll-width', document.documentElement.scrollWidth);
</script>
"""


def row_cells(group):
    """The cells of a domain's row, and its notes (the row under it) last."""
    cells = [td.text_content().strip() for td in group.xpath('tr[1]/td')]
    return cells + [group.xpath("string(tr[@class='notes'])").strip()]


def markdown_page(markdown, path):
    """report.md as a CommonMark renderer with GFM tables and raw HTML turns it into a page."""
    html = MarkdownIt('commonmark', {'html': True}).enable(['table', 'strikethrough']).render(markdown)
    path.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>%s</body></html>' % html)
    return path.as_uri()


def test_hostile_long_transient_and_missing_names(domains, tmp_path):
    labels = {'xss': 'x<img src=x onerror="document.body.setAttribute(\'data-pwned\',\'1\')">',
              'fmt': '*desk* _01_ `code` |pipe| & [x](y)', 'long': 'long-' + 'n' * 150}
    xss, fmt, long_name = (domains.name(labels[key]) for key in ('xss', 'fmt', 'long'))
    assert len(long_name) >= 190
    domains.define(labels['xss'], lambda n: domain_xml(
        xml_escape(n), devices=(VIRTIO_SERIAL, UNIX_STREAM_PORT, SPICE_GRAPHICS)))
    domains.define(labels['fmt'], lambda n: domain_xml(xml_escape(n)))
    domains.define(labels['long'], domain_xml)
    domains.define('trans', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_ALL)),
                   transient=True)
    trans = domains.name('trans')
    retired = domains.name('retired')
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {'hv-a': local_hypervisor(
        xss, host_streaming_domains=[xss, fmt, long_name, trans, retired])}}}))
    report_dir = tmp_path / 'report'

    proc = run_playbook(PLAYBOOK, str(inventory), extra_vars={'streaming_report_dir': str(report_dir)})
    # Every hypervisor was read: the missing name is a problem in the report, not a failed host.
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '4 domains on 1 hypervisor;' in proc.stdout and '1 named but not found' in proc.stdout, proc.stdout

    index = report_dir / 'index.html'
    measured = tmp_path / 'measured.html'
    measured.write_text(index.read_text().replace('</body>', MEASURE + '</body>'))
    screenshot = os.path.join(OUTPUT, 'streaming-report-long-names.png')
    os.makedirs(OUTPUT, exist_ok=True)
    chromium(tmp_path, '--window-size=1280,2400', '--screenshot=%s' % screenshot, index.as_uri())
    page = lxml.html.fromstring(chromium(tmp_path, '--window-size=1280,1400', '--dump-dom', measured.as_uri()))

    # index.html: every name is text, nothing from a name runs.
    assert page.body.get('data-pwned') is None and not page.xpath('//img')
    (section,) = page.xpath("//details[@data-host='hv-a']")
    assert section.get('data-status') == 'ok'
    rows = {row.get('data-domain'): row for row in section.xpath('.//tbody')}
    assert set(rows) == {xss, fmt, long_name, trans, retired}
    assert rows[xss].xpath("string(tr[1]/td[1])") == xss
    # The long name wraps: no table is wider than its box, every column stays on the page.
    assert max(int(table.get('data-overflow')) for table in page.xpath('//table')) <= 0
    assert max(int(th.get('data-right')) for th in page.xpath('//th')) <= 1280
    assert int(page.body.get('data-scroll-width')) <= 1280
    # A transient domain has no definition; a missing name is a problem of the hypervisor.
    assert row_cells(rows[trans])[1:5] == ['pausedtransient', 'spice', 'no definitionrunning all',
                                           'no definitionrunning present']
    assert row_cells(rows[retired])[1] == 'not found' and 'has no domain of that name' in row_cells(rows[retired])[-1]
    problems = [(item.get('data-domain'), item.xpath("string(.//span[@class='where'])"))
                for item in page.xpath("//li[@data-kind='problem']")]
    assert (retired, 'on hv-a, not found') in problems and xss in dict(problems)

    # report.md, rendered: the same names as text, the problem sentence with its <channel ...>.
    markdown = (report_dir / 'report.md').read_text()
    rendered = lxml.html.fromstring(chromium(tmp_path, '--dump-dom', markdown_page(markdown, tmp_path / 'md.html')))
    assert rendered.body.get('data-pwned') is None and not rendered.xpath('//img | //channel | //em[. != "connected"]')
    names = [row.xpath('string(td[1])') for row in rendered.xpath('//table[.//th[.="Domain"]]/tbody/tr')]
    assert sorted(names) == sorted([xss, fmt, long_name, trans, retired])
    assert "<channel type='unix'>" in rendered.text_content()
    # Listed once in each group it is in: not compliant (libvirt_domain refuses it), and a problem.
    assert [strong.text_content() for strong in rendered.xpath('//ol/li/strong')].count(xss) == 2
    assert '| 1 domains' not in markdown and ' 1 hypervisors' not in markdown


def test_report_of_one_domain_speaks_in_the_singular(domains, tmp_path):
    domains.define('one', domain_xml)
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {
        'hv-a': local_hypervisor(domains.name('one'))}}}))
    report_dir = tmp_path / 'report'
    proc = run_playbook(PLAYBOOK, str(inventory), extra_vars={'streaming_report_dir': str(report_dir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '1 domain on 1 hypervisor;' in proc.stdout, proc.stdout
    for text in (proc.stdout, (report_dir / 'report.md').read_text(), (report_dir / 'index.html').read_text()):
        assert re.search(r'\b1 (domain|hypervisor|definition)s\b', ' '.join(text.split())) is None, text


# ------------------------------------------------------------------ issue 16: a thousand desktops

# Measures the rendered page in Chromium, at the end of the body (the whole document parsed):
# the time to parse and lay it out, the widest overflow of any header or cell, the document's
# width, and, with the "only what needs attention" box ticked, which domains still show.
LAYOUT_PROBE = """<script>
(function () {
  var body = document.body, doc = document.documentElement;
  void doc.getBoundingClientRect();
  body.setAttribute('data-layout-ms', Math.round(performance.now()));
  var worst = {th: ['', 0], td: ['', 0]};
  document.querySelectorAll('th, td').forEach(function (cell) {
    if (cell.closest('tr.notes')) { return; }
    var kind = cell.tagName.toLowerCase(), over = cell.scrollWidth - cell.clientWidth;
    if (over > worst[kind][1]) { worst[kind] = [cell.textContent.slice(0, 80), over]; }
  });
  body.setAttribute('data-th-overflow', worst.th[1] + ' ' + worst.th[0]);
  body.setAttribute('data-td-overflow', worst.td[1] + ' ' + worst.td[0]);
  var narrow = 0;
  document.querySelectorAll('table').forEach(function (table) {
    var heads = table.querySelectorAll('thead th');
    table.querySelectorAll('tbody tr:not(.notes)').forEach(function (row) {
      row.querySelectorAll('td').forEach(function (td, index) {
        if (heads[index] && td.getBoundingClientRect().width + 0.5 < heads[index].getBoundingClientRect().width) { narrow += 1; }
      });
    });
  });
  body.setAttribute('data-narrower-than-header', narrow);
  body.setAttribute('data-scroll-width', doc.scrollWidth);
  body.setAttribute('data-tables', document.querySelectorAll('table').length);
  var box = document.getElementById('only-attention');
  box.checked = true;
  var shown = [], hidden = 0;
  document.querySelectorAll('tbody.domain').forEach(function (group) {
    if (group.offsetParent === null) { hidden += 1; } else { shown.push(group.id); }
  });
  body.setAttribute('data-attention-shown', shown.join(' '));
  body.setAttribute('data-attention-hidden', hidden);
  body.setAttribute('data-attention-scroll-width', doc.scrollWidth);
  box.checked = false;
})();
</script>
"""
BIG_HYPERVISORS, BIG_DOMAINS = 20, 500


def big_fleet_report(extra_settings=False):
    """The report's content for 20 hypervisors x 500 domains, made by the filter (pure) from
    libvirt_domain_info results that the module's own code derives from real definitions."""
    results = synthetic_report.fleet(BIG_HYPERVISORS, BIG_DOMAINS)
    if not extra_settings:
        return streaming_report(results)
    # The four compression settings of the registry, set in the definitions and asked for: each
    # gets its column (libvirt_domain_info's KEY / KEY_live / asked[KEY]).
    values = {'image_compression': ('auto_glz', 'quic'), 'jpeg_compression': ('auto', 'never'),
              'zlib_compression': ('auto', 'always'), 'playback_compression': ('on', 'off')}
    for result in results.values():
        for number, info in enumerate(result['domains'].values()):
            for key, (usual, other) in values.items():
                info[key] = usual if number % 3 else other
                info[key + '_live'] = usual if info['active'] else None
                if info['asked'] is not None:
                    info['asked'][key] = usual
    content = streaming_report(results)
    assert [column['key'] for column in content['columns']][3:9] == [
        'streaming_mode', 'image_compression', 'jpeg_compression', 'zlib_compression', 'playback_compression',
        'agent_channel']
    return content


def render_report(content, directory):
    """index.html and report.md as Ansible's template module renders them (the unit tests' renderer)."""
    directory.mkdir(parents=True, exist_ok=True)
    for template, name in (('report.html.j2', 'index.html'), ('report.md.j2', 'report.md')):
        (directory / name).write_text(render_template(template, content))
    return directory / 'index.html'


@pytest.mark.parametrize('extra_settings', [False, True], ids=['columns-now', 'four-more-settings'])
def test_a_thousand_desktops_read_at_1280_px(tmp_path, extra_settings):
    content = big_fleet_report(extra_settings)
    index = render_report(content, tmp_path / 'report')
    html = index.read_text()
    # One page that needs nothing else: no script, no style sheet, image or font from elsewhere.
    page = lxml.html.fromstring(html)
    assert not page.xpath('//script | //link | //img | //iframe | //object | //*[@src]')
    assert all(href.startswith('#') for href in page.xpath('//a/@href'))
    assert 'url(' not in html and '@import' not in html
    # Every link of the index and of the attention lists leads to a section or a row of the page.
    ids = set(page.xpath('//@id'))
    assert {href[1:] for href in page.xpath('//a/@href')} <= ids
    sections = page.xpath("//details[contains(@class, 'hypervisor')]")
    assert len(sections) == BIG_HYPERVISORS
    assert [link.get('href') for link in page.xpath("//section[@id='index']//a")] == \
        ['#' + section.get('id') for section in sections]
    assert len(page.xpath("//tbody[contains(@class, 'domain')]")) == BIG_HYPERVISORS * BIG_DOMAINS

    measured = tmp_path / 'measured.html'
    measured.write_text(html.replace('</body>', LAYOUT_PROBE + '</body>'))
    dom = lxml.html.fromstring(chromium(tmp_path, '--window-size=1280,1000', '--dump-dom', measured.as_uri()))
    body = dom.body
    # Readable at 1280 px: nothing scrolls sideways, no header or cell overflows its box, no cell
    # is narrower than its header (a header reading "Agen", a state reading "disco").
    assert int(body.get('data-scroll-width')) <= 1280, body.get('data-scroll-width')
    assert body.get('data-th-overflow').startswith('0 '), body.get('data-th-overflow')
    assert body.get('data-td-overflow').startswith('0 '), body.get('data-td-overflow')
    assert body.get('data-narrower-than-header') == '0'
    # The "only what needs attention" view: exactly the rows the filter says need attention.
    wanted = [row['anchor'] for hv in content['hypervisors'] for row in hv['rows'] if row['attention']]
    shown = body.get('data-attention-shown').split()
    assert shown == wanted and 0 < len(shown) < BIG_HYPERVISORS * BIG_DOMAINS
    assert int(body.get('data-attention-hidden')) == BIG_HYPERVISORS * BIG_DOMAINS - len(shown)
    assert int(body.get('data-attention-scroll-width')) <= 1280

    os.makedirs(OUTPUT, exist_ok=True)
    suffix = '-more-settings' if extra_settings else ''
    chromium(tmp_path, '--window-size=1280,2400',
             '--screenshot=%s' % os.path.join(OUTPUT, 'streaming-report-20x500%s.png' % suffix), index.as_uri())
    attention_only = tmp_path / 'attention.html'
    attention_only.write_text(html.replace('class="toggle-input">', 'class="toggle-input" checked>', 1))
    chromium(tmp_path, '--window-size=1280,2400',
             '--screenshot=%s' % os.path.join(OUTPUT, 'streaming-report-20x500-attention%s.png' % suffix),
             attention_only.as_uri())


def recap_changed(stdout):
    return {match.group(1): int(match.group(2))
            for match in re.finditer(r'^(\S+)\s+: ok=\d+\s+changed=(\d+)', stdout, re.M)}


def generated_line(text):
    (line,) = [line for line in text.splitlines() if 'Generated 20' in line]
    return line


def test_a_report_whose_content_did_not_change_is_not_a_change(domains, tmp_path):
    domains.define('a-off', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_FILTER)))
    inventory = tmp_path / 'inventory.yml'
    published = tmp_path / 'kept' / 'report'
    # The host that keeps the report (in AWX, where the controller's directory goes with the job).
    inventory.write_text(yaml.safe_dump({
        'hypervisors': {'hosts': {'hv-a': local_hypervisor(domains.prefix + '-a-*')}},
        'keepers': {'hosts': {'keeper': {'ansible_connection': 'local',
                                         'ansible_python_interpreter': '/usr/bin/python3'}}}}))
    report_dir = tmp_path / 'report'
    extra = {'streaming_report_dir': str(report_dir), 'streaming_report_publish_host': 'keeper',
             'streaming_report_publish_dir': str(published)}
    first = run_playbook(PLAYBOOK, str(inventory), extra_vars=extra)
    # The report written, the directory made on the keeper and both files copied there.
    assert first.returncode == 0 and recap_changed(first.stdout) == {'hv-a': 3}, first.stdout
    files = {name: (report_dir / name).read_text() for name in ('index.html', 'report.md')}
    assert {name: (published / name).read_text() for name in files} == files
    assert 'copied to keeper:%s' % published in first.stdout, first.stdout
    stamps = {name: (report_dir / name).stat().st_mtime_ns for name in files}

    # The same state a second later: only the time would differ, so nothing is written.
    second = run_playbook(PLAYBOOK, str(inventory), extra_vars=extra)
    assert second.returncode == 0 and recap_changed(second.stdout) == {'hv-a': 0}, second.stdout
    assert {name: (report_dir / name).read_text() for name in files} == files
    assert {name: (report_dir / name).stat().st_mtime_ns for name in files} == stamps
    # Check mode, the same.
    check = run_playbook(PLAYBOOK, str(inventory), check=True, extra_vars=extra)
    assert check.returncode == 0 and recap_changed(check.stdout) == {'hv-a': 0}, check.stdout

    # Another domain: both files change, with a new time, here and on the keeper.
    domains.define('a-new', domain_xml)
    third = run_playbook(PLAYBOOK, str(inventory), extra_vars=extra)
    assert third.returncode == 0 and recap_changed(third.stdout) == {'hv-a': 2}, third.stdout
    for name, text in files.items():
        now = (report_dir / name).read_text()
        assert domains.name('a-new') in now and domains.name('a-new') not in text
        assert generated_line(now) != generated_line(text)
        assert (published / name).read_text() == now


def test_the_report_compares_with_what_the_inventory_asks_and_maps_the_guests(domains, tmp_path):
    domains.define('a-desk', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_FILTER)),
                   start=True)
    domains.define('a-kiosk', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_FILTER)))
    domains.define('a-todo', domain_xml)
    desk, kiosk, todo = (domains.name(name) for name in ('a-desk', 'a-kiosk', 'a-todo'))
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({
        'hypervisors': {'hosts': {'hv-a': local_hypervisor(
            domains.prefix + '-a-*', host_streaming_mode='all',
            host_streaming_overrides=[{'name': [kiosk], 'mode': 'off'}])}},
        'streaming_guests': {'hosts': {
            'desk-guest': {'stream_agent_domain': desk, 'stream_agent_hypervisor': 'hv-a'},
            'gone-guest': {'stream_agent_domain': domains.name('a-gone'), 'stream_agent_hypervisor': 'hv-a'}}},
    }))
    # The guest side's verdict, as enable_streaming.yml's last play leaves it, in the same run.
    site = tmp_path / 'site.yml'
    site.write_text(yaml.safe_dump([
        {'name': 'Stand in for the verify play of enable_streaming.yml', 'hosts': 'desk-guest',
         'gather_facts': False, 'tasks': [{'name': 'Note what the hypervisor saw', 'ansible.builtin.set_fact': {
             'streaming_agent_status': 'not connected: no graphical session runs yet'}}]},
        {'ansible.builtin.import_playbook': PLAYBOOK},
    ], sort_keys=False))
    report_dir = tmp_path / 'report'
    proc = run_playbook(str(site), str(inventory), extra_vars={'streaming_report_dir': str(report_dir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '3 domains on 1 hypervisor; 0 compliant, 0 waiting, 3 not compliant;' in proc.stdout, proc.stdout

    page = lxml.html.fromstring(chromium(tmp_path, '--dump-dom', (report_dir / 'index.html').as_uri()))
    (section,) = page.xpath("//details[@data-host='hv-a']")
    assert ('Asked: streaming mode all, stream channel present; 1 override: %s gets streaming mode off, '
            'stream channel present.' % kiosk) in section.text_content()
    headers = [th.text_content() for th in section.xpath('.//thead//th')]
    rows = {group.get('data-domain'): dict(zip(headers, row_cells(group))) for group in section.xpath('.//tbody')}
    assert rows[desk]['Streaming mode'] == 'filterasked all'
    assert rows[kiosk]['Streaming mode'] == 'filterasked off'
    assert (rows[todo]['Streaming mode'], rows[todo]['Stream channel']) == ('unset (off)asked all', 'absentasked present')
    assert {name: row['Compliance'] for name, row in rows.items()} == dict.fromkeys((desk, kiosk, todo), 'not compliant')
    # The guest is named under its domain, with what its hypervisor saw.
    assert rows[desk]['Domain'] == desk + 'guest desk-guest'
    notes = section.xpath("string(.//tbody[@data-domain='%s']/tr[@class='notes'])" % desk)
    assert 'guest desk-guest: not connected: no graphical session runs yet' in notes
    guests = {row.get('data-guest'): [td.text_content() for td in row.xpath('td')]
              for row in page.xpath("//section[@id='guests']//tbody/tr")}
    assert guests == {'desk-guest': ['desk-guest', 'hv-a', desk, 'not connected: no graphical session runs yet'],
                      'gone-guest': ['gone-guest', 'hv-a', domains.name('a-gone'), 'no such domain in this report']}
    markdown = (report_dir / 'report.md').read_text()
    assert '| desk-guest | hv-a | %s | not connected: no graphical session runs yet |' % markdown_escape(desk) in markdown
