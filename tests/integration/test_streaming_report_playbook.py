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

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM_CHANNEL,
    VIRTIO_SERIAL,
    VNC_GRAPHICS,
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
    # The report is written, then the play fails, naming the hypervisors it could not read.
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert '2 of 4 hypervisors could not be read: hv-down, hv-nolibvirt' in proc.stdout, proc.stdout

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
        'restart_required': 1, 'problems': 1, 'missing_domains': 0, 'skipped': 1}
    modes = {element.get('id'): int(element.text_content())
             for element in page.xpath("//strong[starts-with(@id, 'mode-')]")}
    assert modes == {'mode-filter': 2, 'mode-all': 1, 'mode-off': 0, 'mode-unset': 2}

    # Problems first, and first of all the running domain whose channel no agent holds.
    items = page.xpath("//section[@id='attention']//li[@data-kind]")
    listed = [(item.get('data-kind'), item.get('data-host'), item.get('data-domain')) for item in items]
    assert listed == [
        ('disconnected', 'hv-a', domains.name('a-run')),
        ('restart', 'hv-b', domains.name('b-pend')),
        ('problem', 'hv-b', domains.name('b-conf')),
        ('skipped', 'hv-a', domains.name('a-vnc')),
    ]
    # Text from libvirt XML shows as text, escaped, not as markup.
    assert "<channel type='unix'>" in items[2].text_content()
    assert not page.xpath("//section[@id='attention']//channel")

    unread = page.get_element_by_id('unread').text_content()
    assert 'hv-down' in unread and 'unreachable' in unread
    assert 'hv-nolibvirt' in unread and 'no-such-socket' in unread

    # One table per hypervisor that was read, rows needing attention first.
    sections = {section.get('data-host'): section for section in page.xpath("//section[@data-host]")}
    assert {host: section.get('data-status') for host, section in sections.items()} == {
        'hv-a': 'ok', 'hv-b': 'ok', 'hv-down': 'unreachable', 'hv-nolibvirt': 'failed'}
    rows_a = [row.get('data-domain') for row in sections['hv-a'].xpath('.//tbody/tr')]
    assert rows_a == [domains.name('a-run'), domains.name('a-vnc'), domains.name('a-off')]
    assert not sections['hv-down'].xpath('.//table')

    # report.md carries the same content.
    markdown = (report_dir / 'report.md').read_text()
    assert '| Domains | 6 |' in markdown and '| Channel not held by an agent | 1 |' in markdown
    attention = markdown.split('## Needs attention', 1)[1]
    assert attention.index(domains.name('a-run')) < attention.index(domains.name('b-pend'))
    assert '### hv-down (unreachable)' in markdown and '### hv-nolibvirt (failed)' in markdown


def test_report_of_a_fully_read_fleet_passes(domains, tmp_path):
    domains.define('a-off', domain_xml)
    domains.define('b-done', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, STREAM_CHANNEL, SPICE_FILTER)))
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {
        'hv-a': local_hypervisor(domains.prefix + '-a-*'),
        'hv-b': local_hypervisor(domains.prefix + '-b-*'),
    }}}))
    report_dir = tmp_path / 'report'
    proc = run_playbook(PLAYBOOK, str(inventory), extra_vars={'streaming_report_dir': str(report_dir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = lxml.html.fromstring(chromium(tmp_path, '--dump-dom', (report_dir / 'index.html').as_uri()))
    numbers = summary_numbers(page)
    assert (numbers['hypervisors_read'], numbers['hypervisors_failed'], numbers['domains']) == (2, 0, 2)
    assert not page.xpath("//*[@id='unread']")
    assert page.xpath("//section[@id='attention']//li[@data-kind]") == []
    assert 'Nothing needs attention' in page.get_element_by_id('attention').text_content()


# ------------------------------------------------------------------ issue 14: hostile names, missing names

SPICE_ALL = SPICE_GRAPHICS.replace("<listen type='none'/>", "<listen type='none'/>\n      <streaming mode='all'/>")
# Measures the rendered page in Chromium: how far each table overflows its box, where each
# column header ends, how wide the whole document is.
MEASURE = """<script>
document.querySelectorAll('.table-wrap').forEach(function (wrap) {
  wrap.setAttribute('data-overflow', wrap.scrollWidth - wrap.clientWidth); });
document.querySelectorAll('th').forEach(function (th) {
  th.setAttribute('data-right', Math.ceil(th.getBoundingClientRect().right)); });
document.querySelectorAll('td.name').forEach(function (td) {
  td.setAttribute('data-width', Math.ceil(td.getBoundingClientRect().width)); });
document.body.setAttribute('data-scroll-width', document.documentElement.scrollWidth);
</script>
"""


def row_cells(row):
    return [td.text_content().strip() for td in row.xpath('td')]


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
    (section,) = page.xpath("//section[@data-host='hv-a']")
    assert section.get('data-status') == 'ok'
    rows = {row.get('data-domain'): row for row in section.xpath('.//tbody/tr')}
    assert set(rows) == {xss, fmt, long_name, trans, retired}
    assert rows[xss].xpath("string(td[@class='name'])") == xss
    # The long name wraps: no table is wider than its box, every column stays on the page.
    assert {wrap.get('data-overflow') for wrap in page.xpath("//div[@class='table-wrap']")} == {'0'}
    assert max(int(th.get('data-right')) for th in page.xpath('//th')) <= 1280
    assert int(page.body.get('data-scroll-width')) <= 1280
    # A transient domain has no definition; a missing name is a problem of the hypervisor.
    assert row_cells(rows[trans])[3:6] == ['no definition (transient)', 'all', 'no definition']
    assert row_cells(rows[retired])[1] == 'not found' and 'has no domain of that name' in row_cells(rows[retired])[8]
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
    assert [strong.text_content() for strong in rendered.xpath('//ol/li/strong')].count(xss) == 1
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
