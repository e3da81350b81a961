# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Size and speed of the fleet report for H hypervisors x M domains (default 20 x 500).

The hypervisors' libvirt_domain_info results are made as tests/support/synthetic_report.py
makes them: the module's own per-domain code (``libvirt_info.describe`` with a request to
compare with) over real libvirt definitions, without the libvirt reads, which bench_info.py
measures.  Measured, each the best of ``--repeat``:

* the ``streaming_report`` filter over the results, in this process;
* rendering ``report.html.j2`` and ``report.md.j2`` with Jinja2 as Ansible's template module
  does, in this process, and the size of both files;
* the report's writing task as the playbook runs it (``spice.streaming.fleet_report``: the filter,
  both templates, the comparison with the files on disk), in one ``ansible-playbook`` command over
  the same results: the run that writes both files, and the run that finds them unchanged
  (``changed=0``); and, for comparison, the same two templates rendered by Ansible's own
  ``template`` lookup (its templar), which the action avoids;
* headless Chromium opening ``index.html`` from the file: the time from navigation start
  until the whole page is parsed and laid out (``performance.now()`` in a script after the
  last element, which forces the layout), and the wall time of a ``--screenshot`` run.

It prints the figures, never asserts, and touches no libvirt domain.  See bench/README.md,
part "Fleet report".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
# pylint: disable=wrong-import-position
sys.path.insert(0, REPO_ROOT)
from tests.support.collection_path import collections_path  # noqa: E402

sys.path.insert(0, collections_path())
from ansible_collections.spice.streaming.plugins.filter.streaming_report import streaming_report  # noqa: E402
from tests.support import synthetic_report  # noqa: E402
from tests.support.report_templates import render_template  # noqa: E402

# A script put after the page's last element: the page is parsed by then, and asking for a box
# forces the layout, so performance.now() is the time to a page ready to read.
LAYOUT_PROBE = """<script>
void document.documentElement.getBoundingClientRect();
document.body.setAttribute('data-layout-ms', performance.now().toFixed(0));
</script>
"""
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--hide-scrollbars', '--window-size=1280,1000']
# Each "hypervisor" loads its result where the role's report entry point registers it; then the
# writing task of streaming_report.yml, as it is there.
PLAYBOOK = """---
- name: The fleet report's writing task over results read from files
  hosts: all
  connection: local
  gather_facts: false
  tasks:
    - name: Load this hypervisor's result
      ansible.builtin.include_vars:
        file: "results/{{ inventory_hostname }}.json"
        name: host_streaming_state

    - name: Write the report as streaming_report.yml does
      spice.streaming.fleet_report:
        hypervisors: "{{ ansible_play_hosts_all }}"
        result_variable: host_streaming_state
        dest: "{{ report_dir }}"
      run_once: true
"""
# The same content and templates through Ansible's own template lookup, for comparison.
TEMPLAR_PLAYBOOK = """---
- name: The report's templates rendered by Ansible's templar
  hosts: all
  connection: local
  gather_facts: false
  tasks:
    - name: Load this hypervisor's result
      ansible.builtin.include_vars:
        file: "results/{{ inventory_hostname }}.json"
        name: host_streaming_state

    - name: The content, as the filter makes it
      ansible.builtin.set_fact:
        streaming_report_generated: "2026-12-04 10:00:00 UTC"
        streaming_report_content: >-
          {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
                  | map(attribute='host_streaming_state'))) | spice.streaming.streaming_report }}
      run_once: true

    - name: Both templates through the template lookup
      ansible.builtin.set_fact:
        pages: "{{ [lookup('ansible.builtin.template', 'report.html.j2'), lookup('ansible.builtin.template', 'report.md.j2')] | map('length') }}"
      run_once: true
"""


def log(message):
    print(message, file=sys.stderr, flush=True)


def best(label, action, repeat):
    """Run ``action`` ``repeat`` times; the shortest time and the last value."""
    times, value = [], None
    for _run in range(repeat):
        start = time.perf_counter()
        value = action()
        times.append(time.perf_counter() - start)
    log('%-52s best %.2f s of %s' % (label, min(times), ', '.join('%.2f' % t for t in times)))
    return min(times), value


def chromium_binary():
    binary = shutil.which('chromium') or shutil.which('chromium-browser')
    if binary is None:
        raise SystemExit('chromium is not installed (scripts/lib/setup.sh REPORT_PACKAGES installs it)')
    return binary


def chromium(workdir, *args):
    command = [chromium_binary()] + CHROMIUM_FLAGS + ['--user-data-dir=%s' % os.path.join(workdir, 'profile')]
    proc = subprocess.run(command + list(args), capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError('chromium failed: %s' % proc.stderr[-2000:])
    return proc.stdout


def playbook_run(workdir, ansible_playbook, playbook='report.yml'):
    """One ansible-playbook run of the report's tasks; returns how many tasks changed."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([ansible_playbook, '-i', os.path.join(workdir, 'inventory'), os.path.join(workdir, playbook),
                           '-e', 'report_dir=%s' % os.path.join(workdir, 'report')],
                          capture_output=True, text=True, env=env, cwd=workdir, timeout=3600, check=False)
    if proc.returncode != 0:
        raise RuntimeError('the report playbook failed:\n%s' % (proc.stdout[-4000:] + proc.stderr[-2000:]))
    return int(re.search(r'changed=(\d+)', proc.stdout).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--hypervisors', type=int, default=20)
    parser.add_argument('--domains', type=int, default=500, help='domains per hypervisor')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--ansible-playbook', default=shutil.which('ansible-playbook'))
    parser.add_argument('--json', help='also write the figures to this file')
    parser.add_argument('--keep', help='copy index.html and report.md into this directory')
    args = parser.parse_args()
    hosts, per_host = args.hypervisors, args.domains
    log('fleet report: %d hypervisors x %d domains (%d domains)' % (hosts, per_host, hosts * per_host))
    fig = {'hypervisors': hosts, 'domains_per_hypervisor': per_host}

    results = synthetic_report.fleet(hosts, per_host)
    fig['filter_s'], content = best('streaming_report filter', lambda: streaming_report(results), args.repeat)
    fig['html_render_s'], html = best('index.html rendered (Jinja2)',
                                      lambda: render_template('report.html.j2', content), args.repeat)
    fig['md_render_s'], markdown = best('report.md rendered (Jinja2)',
                                        lambda: render_template('report.md.j2', content), args.repeat)
    fig['html_bytes'], fig['md_bytes'] = len(html.encode('utf-8')), len(markdown.encode('utf-8'))
    fig['results_json_bytes'] = len(json.dumps(results))

    workdir = tempfile.mkdtemp(prefix='sst-bench-report-')
    try:
        with open(os.path.join(workdir, 'index.html'), 'w', encoding='utf-8') as handle:
            handle.write(html)
        with open(os.path.join(workdir, 'measured.html'), 'w', encoding='utf-8') as handle:
            handle.write(html.replace('</body>', LAYOUT_PROBE + '</body>'))
        index_uri = 'file://' + os.path.join(workdir, 'index.html')
        measured_uri = 'file://' + os.path.join(workdir, 'measured.html')
        layouts = []

        def layout():
            dom = chromium(workdir, '--dump-dom', measured_uri)
            layouts.append(int(re.search(r'data-layout-ms="(\d+)"', dom).group(1)))

        best('chromium --dump-dom (process)', layout, args.repeat)
        fig['chromium_layout_ms'] = min(layouts)
        log('%-52s best %d ms of %s' % ('chromium: parsed and laid out', min(layouts),
                                        ', '.join(str(ms) for ms in layouts)))
        fig['chromium_screenshot_s'] = best(
            'chromium --screenshot (whole process)',
            lambda: chromium(workdir, '--screenshot=%s' % os.path.join(workdir, 'shot.png'), index_uri), args.repeat)[0]
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            shutil.copy(os.path.join(workdir, 'index.html'), args.keep)

        if args.ansible_playbook:
            os.makedirs(os.path.join(workdir, 'results'))
            for host, result in results.items():
                with open(os.path.join(workdir, 'results', host + '.json'), 'w', encoding='utf-8') as handle:
                    json.dump(result, handle)
            with open(os.path.join(workdir, 'inventory'), 'w', encoding='utf-8') as handle:
                handle.write(''.join('%s\n' % host for host in results))
            os.symlink(os.path.join(REPO_ROOT, 'playbooks', 'templates'), os.path.join(workdir, 'templates'))
            with open(os.path.join(workdir, 'report.yml'), 'w', encoding='utf-8') as handle:
                handle.write(PLAYBOOK)
            with open(os.path.join(workdir, 'templar.yml'), 'w', encoding='utf-8') as handle:
                handle.write(TEMPLAR_PLAYBOOK)
            with open(os.path.join(workdir, 'load.yml'), 'w', encoding='utf-8') as handle:
                handle.write(PLAYBOOK.split('\n    - name: Write the report', maxsplit=1)[0] + '\n')
            fig['playbook_load_s'] = best('playbook: loading the results only (baseline)',
                                          lambda: playbook_run(workdir, args.ansible_playbook, 'load.yml'),
                                          args.repeat)[0]
            writes = []

            def write():
                shutil.rmtree(os.path.join(workdir, 'report'), ignore_errors=True)
                writes.append(playbook_run(workdir, args.ansible_playbook))

            fig['playbook_write_s'] = best('playbook: filter + write both files', write, args.repeat)[0]
            again = []
            fig['playbook_unchanged_s'] = best('playbook: the same again (nothing written)',
                                               lambda: again.append(playbook_run(workdir, args.ansible_playbook)),
                                               args.repeat)[0]
            fig['playbook_changed'] = (writes[-1], again[-1])
            fig['templar_s'] = best('for comparison: both templates through Ansible\'s templar',
                                    lambda: playbook_run(workdir, args.ansible_playbook, 'templar.yml'), 1)[0]
            if args.keep:
                shutil.copy(os.path.join(workdir, 'report', 'report.md'), args.keep)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows = [
        ('domains', '%d (%d x %d)' % (hosts * per_host, hosts, per_host)),
        ('index.html', '%.1f MB (%.0f bytes per domain)' % (fig['html_bytes'] / 1e6, fig['html_bytes'] / (hosts * per_host))),
        ('report.md', '%.1f MB (%.0f bytes per domain)' % (fig['md_bytes'] / 1e6, fig['md_bytes'] / (hosts * per_host))),
        ('streaming_report filter', '%.2f s' % fig['filter_s']),
        ('render index.html / report.md (Jinja2)', '%.2f s / %.2f s' % (fig['html_render_s'], fig['md_render_s'])),
        ('Chromium: parsed and laid out', '%d ms' % fig['chromium_layout_ms']),
        ('Chromium: --screenshot, whole process', '%.2f s' % fig['chromium_screenshot_s']),
    ]
    if 'playbook_write_s' in fig:
        rows += [
            ('playbook: loading the results only (baseline)', '%.2f s' % fig['playbook_load_s']),
            ('playbook: fleet_report writes (changed=%d)' % fig['playbook_changed'][0], '%.2f s' % fig['playbook_write_s']),
            ('playbook: fleet_report, same state (changed=%d)' % fig['playbook_changed'][1],
             '%.2f s' % fig['playbook_unchanged_s']),
            ('for comparison: filter + templates via Ansible\'s templar', '%.2f s' % fig['templar_s']),
        ]
    print('\n%-48s %s' % ('fleet report', 'figure'))
    for label, value in rows:
        print('%-48s %s' % (label, value))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as handle:
            json.dump(fig, handle, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
