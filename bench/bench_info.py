# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Speed benchmark of spice.streaming.libvirt_domain_info against a plain libvirt-python read loop.

Defines N domains named ``sst-benchinfo-NNNN`` (the q35 shape of
bench_libvirt_domain.py) on a real libvirtd and starts a few of them paused, so
that the live-XML read is in the figures too.  Measured in one run, each the best
of ``--repeat``:

* the module reading all N in one Ansible task (whole command), and one task's
  start-up (the module on a pattern matching nothing);
* the module's code in this process (``libvirt_info.read_host``), without Ansible;
* the floor: a plain libvirt-python loop over a read-only connection that reads
  the inactive XML of every domain and the live XML of the running ones, and
  parses each with lxml;
* the peak RSS of the module process for N/10 and N domains.

It prints the figures and the ratios to the floor, never asserts them, and
removes its domains again (also on Ctrl-C or an error) unless ``--keep``.
Only domains named ``sst-benchinfo-*`` are created, started or removed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import libvirt
from lxml import etree

import bench_libvirt_domain as base

PREFIX = 'sst-benchinfo-'
MODULE = 'spice.streaming.libvirt_domain_info'


class InfoBench(base.Bench):
    """The set-up, Ansible plumbing and clean-up of the libvirt_domain benchmark, on its own domains."""

    def __init__(self, args):
        super().__init__(args)
        width = max(4, len(str(self.n - 1)))
        self.names = ['%s%0*d' % (PREFIX, width, index) for index in range(self.n)]
        self.running = self.names[:min(args.running, self.n)]

    def ours(self):
        return [dom for dom in self.conn.listAllDomains(0) if dom.name().startswith(PREFIX)]

    def remove_leftovers(self):
        for dom in self.ours():
            if dom.isActive():
                dom.destroy()
        super().remove_leftovers()

    def start_some(self):
        start = time.perf_counter()
        for name in self.running:
            self.conn.lookupByName(name).createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        base.log('started %d domains paused in %.2f s' % (len(self.running), time.perf_counter() - start))

    def cleanup(self):
        if self.conn is not None and not self.args.keep:
            for dom in self.ours():
                if dom.isActive():
                    dom.destroy()
        super().cleanup()

    # ---------------------------------------------------------- what is measured

    def info_task(self, pattern):
        return {'name': 'libvirt_domain_info', MODULE: {'uri': self.uri, 'name': [pattern]}}

    def in_process(self):
        """The module's own code, in this process: connect, select, read, summarize."""
        start = time.perf_counter()
        result = self.read_host(self.uri, [PREFIX + '*'])
        elapsed = time.perf_counter() - start
        self.last_result = result
        return elapsed

    def floor_read(self):
        """The plain loop: read-only connection, list, then the XML reads the module does, parsed."""
        start = time.perf_counter()
        conn = libvirt.openReadOnly(self.uri)
        active = {dom.name() for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
        for dom in conn.listAllDomains(0):
            name = dom.name()
            if not name.startswith(PREFIX):
                continue
            etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            if name in active:
                etree.fromstring(dom.XMLDesc(0))
        conn.close()
        return time.perf_counter() - start

    def module_direct(self, names):
        """Run the module file under the module Python; returns (seconds, peak RSS KiB, result)."""
        args_path = os.path.join(self.tmp, 'info-args.json')
        with open(args_path, 'w', encoding='utf-8') as handle:
            json.dump({'ANSIBLE_MODULE_ARGS': {'uri': self.uri, 'name': names}}, handle)
        env = dict(self.env)
        env['PYTHONPATH'] = os.pathsep.join([self.pythonpath_dir, env['ANSIBLE_COLLECTIONS_PATH']])
        start = time.perf_counter()
        proc = subprocess.Popen(
            [self.module_python, os.path.join(base.REPO_ROOT, 'plugins', 'modules', 'libvirt_domain_info.py'),
             args_path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=self.tmp)
        output = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        result = json.loads(output)
        if os.waitstatus_to_exitcode(status) != 0 or result.get('failed'):
            raise RuntimeError('the module run directly failed: %s' % output[-2000:])
        return elapsed, usage.ru_maxrss, result

    def measure(self):
        fig = self.figures
        runs = self.args.repeat + 2
        fig['startup_module'] = self.best('module task, pattern matching nothing', lambda: self.run_playbook(
            self.playbook('info-none.json', self.info_task(PREFIX + 'none-*')), expect_changed=0), runs=runs)
        book = self.playbook('info-all.json', self.info_task(PREFIX + '*'))
        fig['module'] = self.best('module task, all %d domains' % self.n,
                                  lambda: self.run_playbook(book, expect_changed=0))
        # Ansible's module_utils for the in-process run: the same directory the module run uses.
        for path in (self.pythonpath_dir, self.env['ANSIBLE_COLLECTIONS_PATH']):
            if path not in sys.path:
                sys.path.insert(0, path)
        # Imported outside the timed region: the module pays its imports in the start-up figure.
        from ansible_collections.spice.streaming.plugins.module_utils.libvirt_info import read_host  # pylint: disable=import-outside-toplevel
        self.read_host = read_host
        fig['in_process'] = self.best('module code in-process', self.in_process)
        summary = self.last_result['summary']
        fig['checked'] = (summary['domains'], summary['paused'])
        if fig['checked'] != (self.n, len(self.running)):
            base.log('WARNING: in-process read saw %d domains, %d paused' % fig['checked'])
        fig['floor_read'] = self.best('floor: plain read loop', self.floor_read)
        if not self.args.skip_memory:
            tenth = self.names[:max(1, self.n // 10)]
            _t, fig['rss_0'], _r = self.module_direct([PREFIX + 'none-*'])
            _t, fig['rss_tenth'], _r = self.module_direct(tenth)
            fig['rss_tenth_n'] = len(tenth)
            _t, fig['rss_full'], result = self.module_direct([PREFIX + '*'])
            if len(result['domains']) != self.n:
                base.log('WARNING: the module run directly read %d domains' % len(result['domains']))

    def report(self):
        fig = self.figures
        n = self.n
        startup = fig['startup_module']
        lines = [
            '',
            'spice.streaming libvirt_domain_info benchmark: N=%d domains (%d running, paused) on %s, best of %d'
            % (n, len(self.running), self.uri, self.args.repeat),
            'module Python %s; %d CPUs; load average %s' % (
                self.module_python, os.cpu_count(), ' '.join('%.2f' % x for x in os.getloadavg())),
            '',
            '%-62s %9s %10s' % ('method', 's for N', 'ms/domain'),
            '-' * 83,
        ]
        for label, seconds in (
                ('module: one task reading all N, whole command', fig['module']),
                ('  minus one task\'s start-up', fig['module'] - startup),
                ('one task\'s start-up: the module, pattern matching nothing', startup),
                ('module code in-process (libvirt_info.read_host, no Ansible)', fig['in_process']),
                ('floor: plain libvirt-python read loop (XMLDesc + parse)', fig['floor_read'])):
            lines.append('%-62s %9.3f %10.3f' % (label, seconds, seconds / n * 1000))
        lines.append('-' * 83)
        fig['ratio_in_process'] = fig['in_process'] / fig['floor_read']
        fig['ratio_module'] = (fig['module'] - startup) / fig['floor_read']
        lines.append('ratio to the floor, same run: module code in-process %.2fx; whole task minus '
                     'start-up %.2fx' % (fig['ratio_in_process'], fig['ratio_module']))
        if 'rss_full' in fig:
            span = n - fig['rss_tenth_n']
            growth = (fig['rss_full'] - fig['rss_tenth']) / 1024 / span * 1000 if span else 0.0
            lines += [
                '',
                'memory, peak RSS of the module process (run directly, %s):' % self.module_python,
                '  no domain selected    %8.1f MiB' % (fig['rss_0'] / 1024),
                '  N/10 = %-5d domains  %8.1f MiB' % (fig['rss_tenth_n'], fig['rss_tenth'] / 1024),
                '  N    = %-5d domains  %8.1f MiB' % (n, fig['rss_full'] / 1024),
                '  growth from N/10 to N: %.2f MiB per 1000 domains (the result dict it returns)' % growth,
            ]
            fig['rss_growth_mib_per_1000'] = growth
        print('\n'.join(lines), flush=True)

    def write_json(self):
        if not self.args.json:
            return
        data = {'domains': self.n, 'running': len(self.running), 'uri': self.uri,
                'repeat': self.args.repeat, 'cpus': os.cpu_count(), 'loadavg': os.getloadavg(),
                'figures': {key: value for key, value in self.figures.items()
                            if isinstance(value, (int, float))}}
        with open(self.args.json, 'w', encoding='utf-8') as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write('\n')
        base.log('figures written to %s' % self.args.json)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Speed benchmark of spice.streaming.libvirt_domain_info (see bench/README.md).')
    parser.add_argument('-n', '--domains', type=int, default=1000, help='domains to define (default 1000)')
    parser.add_argument('--running', type=int, default=10,
                        help='of which started paused, for the live-XML read (default 10)')
    parser.add_argument('--uri', default='qemu:///system')
    parser.add_argument('--repeat', type=int, default=3, help='best of R runs (default 3)')
    parser.add_argument('--python', default='/usr/bin/python3',
                        help='interpreter the module runs under (default /usr/bin/python3)')
    parser.add_argument('--json', metavar='FILE', help='also write the figures to FILE')
    parser.add_argument('--keep', action='store_true', help='leave the domains defined at the end')
    parser.add_argument('--skip-memory', action='store_true')
    args = parser.parse_args(argv)
    if args.domains < 1 or args.repeat < 1 or args.running < 0:
        parser.error('--domains and --repeat must be at least 1, --running at least 0')
    args.sample = 1     # the base class's sample of slow methods: none here
    args.connections = ''   # nor its parallel=P figures
    return args


def main(argv=None):
    bench = InfoBench(parse_args(argv))
    return base.run(bench, bench.prepare_ansible, bench.connect, bench.remove_leftovers,
                    bench.create, bench.start_some, bench.measure, bench.report, bench.write_json)


if __name__ == '__main__':
    sys.exit(main())
