# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Speed benchmark of the spice.streaming.desktops inventory plugin over a simulated fleet.

The hypervisors are simulated as in bench_fleet.py: H "hypervisors", each a connection to
the local libvirtd that selects its own M domains (``sst-benchinv-hNN-dNNNN``, the
virt-manager q35 SPICE definition of bench_libvirt_domain.py, shut off; ``--paused`` of each
hypervisor's domains started paused, so the per-desktop lease, ARP and libosinfo reads run
too).  Measured, each the best of ``--repeat``:

* every hypervisor read alone, one after another (the plugin's own reader,
  ``libvirt_desktops.read_desktops``, in this process): the sum is the serial fleet, the
  largest the slowest single hypervisor;
* the whole fleet read as the plugin reads it (``read_many``, ``parallel_hypervisors`` at
  once) in this process, and the ratio to the slowest single read: the goal is 1.5 at most;
* the whole ``ansible-inventory --list`` command over a plugin file for the fleet: with the
  plugin's default parallelism, with ``parallel_hypervisors: 1`` (one after another), and
  with the cache (the run that writes it, then the one answered from it); wall time and
  peak RSS of the command;
* the CPU seconds libvirtd and this process spent on the parallel read, since all the
  simulated hypervisors share this machine's cores and one daemon.

It prints a table and the command, never asserts, and removes every ``sst-benchinv-*``
domain it made (also on Ctrl-C or an error) unless ``--keep``.  See bench/README.md,
part "Desktops inventory".
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import libvirt

import bench_libvirt_domain as base

# pylint: disable=wrong-import-position
sys.path.insert(0, base.REPO_ROOT)
from tests.support.collection_path import collections_path  # noqa: E402

sys.path.insert(0, collections_path())
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_desktops  # noqa: E402

PREFIX = 'sst-benchinv-'


def plugin_default(option):
    """An option's default as the inventory plugin documents it (what a user gets)."""
    # pylint: disable=import-outside-toplevel
    import yaml
    from ansible_collections.spice.streaming.plugins.inventory import desktops
    return yaml.safe_load(desktops.DOCUMENTATION)['options'][option]['default']


DEFAULT_WORKERS = plugin_default('parallel_hypervisors')


def host_name(index):
    return 'hv%02d' % index


def domain_name(host, index):
    return '%sh%02d-d%04d' % (PREFIX, host, index)


def cpu_seconds(pid):
    """utime + stime of a process, from /proc (seconds)."""
    with open('/proc/%d/stat' % pid, encoding='ascii') as handle:
        fields = handle.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def libvirtd_pid():
    for path in ('/run/libvirtd.pid', '/var/run/libvirtd.pid'):
        try:
            with open(path, encoding='ascii') as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            continue
    return None


def uptime():
    return subprocess.run(['uptime'], capture_output=True, text=True, check=False).stdout.strip()


class InventoryBench:
    def __init__(self, args):
        self.args = args
        self.conn = None
        self.tmp = tempfile.mkdtemp(prefix=PREFIX)
        self.hosts = list(range(1, args.hypervisors + 1))
        self.names = [domain_name(host, index) for host in self.hosts for index in range(args.per_hypervisor)]
        self.figures = {'hypervisors': args.hypervisors, 'per_hypervisor': args.per_hypervisor,
                        'paused_per_hypervisor': args.paused, 'repeat': args.repeat, 'rtt_ms': args.rtt_ms}
        self.proxy = None

    # ------------------------------------------------------------------ the network

    def start_network(self):
        """With ``--rtt-ms``, put each simulated hypervisor behind latency_proxy.py (a process)."""
        if not self.args.rtt_ms:
            return
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'latency_proxy.py')
        paths = [self.socket_of(host) for host in self.hosts]
        self.proxy = subprocess.Popen([sys.executable, script, '--rtt-ms', str(self.args.rtt_ms)] + paths,
                                      stdout=subprocess.PIPE, text=True)
        if self.proxy.stdout.readline().strip() != 'ready':
            raise RuntimeError('latency_proxy.py did not start')
        base.log('each hypervisor behind %.1f ms of round trip (latency_proxy.py, pid %d)'
                 % (self.args.rtt_ms, self.proxy.pid))

    def stop_network(self):
        if self.proxy is not None:
            self.proxy.terminate()
            self.proxy.wait(timeout=30)
            self.proxy.stdout.close()
            self.proxy = None

    def socket_of(self, host):
        return os.path.join(self.tmp, '%s.sock' % host_name(host))

    def uri_of(self, host):
        """The URI a hypervisor is read at: the daemon itself, or its socket behind the proxy."""
        if not self.args.rtt_ms:
            return self.args.uri
        return 'qemu+unix:///system?socket=%s' % self.socket_of(host)

    # ------------------------------------------------------------------ domains

    def connect(self):
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        self.conn = libvirt.open(self.args.uri)
        self.start_network()

    def ours(self):
        return [dom for dom in self.conn.listAllDomains(0) if dom.name().startswith(PREFIX)]

    def remove(self, doms):
        for dom in doms:
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            except libvirt.libvirtError as err:
                base.log('could not remove %s: %s' % (dom.name(), err))

    def create(self):
        leftovers = self.ours()
        if leftovers:
            base.log('removing %d %s* domains left by an earlier run' % (len(leftovers), PREFIX))
            self.remove(leftovers)
        start = time.perf_counter()
        for name in self.names:
            self.conn.defineXML(base.BASE_XML.format(name=name))
        base.log('defined %d domains in %.1f s' % (len(self.names), time.perf_counter() - start))
        start = time.perf_counter()
        for host in self.hosts:
            for index in range(self.args.paused):
                self.conn.lookupByName(domain_name(host, index)).createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        if self.args.paused:
            base.log('started %d domains paused in %.1f s'
                     % (self.args.paused * len(self.hosts), time.perf_counter() - start))

    def cleanup(self):
        self.stop_network()
        if self.conn is None or self.args.keep:
            return
        doms = self.ours()
        self.remove(doms)
        base.log('removed %d %s* domains' % (len(doms), PREFIX))

    # ------------------------------------------------------------------ measuring

    def serial_best(self, label, parallel=None):
        """``serial`` R times; each hypervisor's best read (other work on the shared daemon stalls
        a read now and then): (sum of the bests, slowest best, bests)."""
        runs = [self.serial(parallel) for _run in range(self.args.repeat)]
        bests = [min(run[2][index] for run in runs) for index in range(len(self.hosts))]
        base.log('%-58s sum %.2f, slowest %.2f' % (label, sum(bests), max(bests)))
        return sum(bests), max(bests), bests

    def best(self, label, measure):
        values = []
        for _run in range(self.args.repeat):
            values.append(measure())
        best = min(values, key=lambda value: value[0] if isinstance(value, tuple) else value)
        base.log('%-58s %s' % (label, best))
        return best

    def selection(self, host):
        return ['%sh%02d-*' % (PREFIX, host)]

    def read_one(self, host, parallel=None):
        result = libvirt_desktops.read_desktops(self.uri_of(host), self.selection(host),
                                                parallel=parallel or self.args.parallel)
        if len(result['desktops']) != self.args.per_hypervisor:
            base.log('WARNING: %s read %d desktops, not %d'
                     % (host_name(host), len(result['desktops']), self.args.per_hypervisor))
        return result

    def serial(self, parallel=None):
        """Each hypervisor alone, one after another: (sum, slowest, per-hypervisor seconds)."""
        times = []
        for host in self.hosts:
            start = time.perf_counter()
            self.read_one(host, parallel)
            times.append(time.perf_counter() - start)
        return sum(times), max(times), times

    def parallel(self, workers, parallel=None):
        """The whole fleet as the plugin reads it: (wall, libvirtd CPU s, this process CPU s, proxy CPU s)."""
        daemon = libvirtd_pid()
        daemon_before = cpu_seconds(daemon) if daemon else 0.0
        proxy_before = cpu_seconds(self.proxy.pid) if self.proxy else 0.0
        own_before = time.process_time()
        start = time.perf_counter()
        outcomes = libvirt_desktops.read_many(self.hosts, lambda host: self.read_one(host, parallel), workers,
                                              timeout=600)
        wall = time.perf_counter() - start
        failed = [host_name(host) for host, (_v, error, _s) in zip(self.hosts, outcomes) if error is not None]
        if failed:
            base.log('WARNING: not read: %s' % ', '.join(failed))
        daemon_cpu = (cpu_seconds(daemon) - daemon_before) if daemon else None
        proxy_cpu = (cpu_seconds(self.proxy.pid) - proxy_before) if self.proxy else 0.0
        return wall, daemon_cpu, time.process_time() - own_before, proxy_cpu

    def plugin_file(self, name, **options):
        config = {'plugin': 'spice.streaming.desktops',
                  'hypervisors': [{'name': host_name(host), 'uri': self.uri_of(host), 'domains': self.selection(host)}
                                  for host in self.hosts],
                  'parallel': self.args.parallel}
        config.update(options)
        folder = os.path.join(self.tmp, name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, 'fleet.spice_desktops.yml'), 'w', encoding='utf-8') as handle:
            json.dump(config, handle, indent=1)   # JSON is YAML
        return folder

    def command(self, folder, *extra, expect=None, graph=False):
        """(wall seconds, peak RSS MiB, hosts listed) of one ansible-inventory --list (or --graph)."""
        env = dict(os.environ)
        env['ANSIBLE_COLLECTIONS_PATH'] = collections_path()
        env['ANSIBLE_INVENTORY_UNPARSED_FAILED'] = 'True'
        cmd = [self.args.ansible_inventory, '-i', folder, '--graph' if graph else '--list',
               '--output', os.path.join(self.tmp, 'out.json')] + list(extra)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        stderr = proc.stderr.read().decode(errors='replace')
        proc.stdout.close()
        proc.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError('ansible-inventory failed: %s' % stderr[-3000:])
        with open(os.path.join(self.tmp, 'out.json'), encoding='utf-8') as handle:
            if graph:
                hosts = len({line.strip() for line in handle if PREFIX in line})
            else:
                hosts = len(json.load(handle)['_meta']['hostvars'])
        if hosts != (len(self.names) if expect is None else expect):
            base.log('WARNING: ansible-inventory listed %d hosts, not %d' % (hosts, len(self.names)))
        return wall, usage.ru_maxrss / 1024.0, hosts

    def list_all(self):
        """(wall, CPU of this process) of one listAllDomains over the shared daemon's domains."""
        conn = libvirt.openReadOnly(self.args.uri)
        try:
            cpu = time.process_time()
            start = time.perf_counter()
            count = len(conn.listAllDomains(0))
            return time.perf_counter() - start, time.process_time() - cpu, count
        finally:
            conn.close()

    def measure(self):
        base.log('load before: %s' % uptime())
        self.figures['list_all'] = self.best('one listAllDomains of every domain of the daemon', self.list_all)
        total, slowest, times = self.serial_best('serial: each hypervisor alone, one after another')
        self.figures['serial'] = {'sum': total, 'slowest': slowest, 'per_hypervisor': times}
        for workers in sorted(set([min(DEFAULT_WORKERS, len(self.hosts)), 8, len(self.hosts)] + self.args.workers)):
            wall, daemon_cpu, own_cpu, proxy_cpu = self.best('parallel: read_many, %d at once' % workers,
                                                             lambda w=workers: self.parallel(w))
            self.figures.setdefault('parallel', []).append(
                {'workers': workers, 'wall': wall, 'libvirtd_cpu': daemon_cpu, 'own_cpu': own_cpu,
                 'proxy_cpu': proxy_cpu,
                 'ratio_to_slowest': wall / slowest, 'ratio_to_serial': wall / total})
        for parallel in self.args.compare_parallel:
            total_p, slowest_p, _times = self.serial_best('serial, %d connection(s) per hypervisor' % parallel,
                                                          parallel)
            wall, daemon_cpu, own_cpu, _proxy = self.best('parallel: 8 at once, %d connection(s) per hypervisor'
                                                          % parallel, lambda p=parallel: self.parallel(8, p))
            self.figures.setdefault('compare_parallel', []).append(
                {'parallel': parallel, 'sum': total_p, 'slowest': slowest_p, 'wall': wall,
                 'libvirtd_cpu': daemon_cpu, 'own_cpu': own_cpu})
        base.log('load between: %s' % uptime())
        if self.args.skip_commands:
            base.log('load after: %s' % uptime())
            return
        default = self.plugin_file('default')
        self.figures['command_parallel'] = self.best('ansible-inventory --list (parallel_hypervisors %d)'
                                                     % DEFAULT_WORKERS, lambda: self.command(default))
        self.figures['command_graph'] = self.best('ansible-inventory --graph (parallel_hypervisors %d)'
                                                  % DEFAULT_WORKERS, lambda: self.command(default, graph=True))
        one = self.plugin_file('serial', parallel_hypervisors=1)
        self.figures['command_serial'] = self.best('ansible-inventory --list (parallel_hypervisors 1)',
                                                   lambda: self.command(one))
        cache_dir = os.path.join(self.tmp, 'cache')
        cached = self.plugin_file('cached', cache=True, cache_plugin='ansible.builtin.jsonfile',
                                  cache_connection=cache_dir, cache_timeout=3600)
        self.figures['command_cache_write'] = self.best('ansible-inventory --list --flush-cache (writes cache)',
                                                        lambda: self.command(cached, '--flush-cache'))
        self.figures['command_cache_read'] = self.best('ansible-inventory --list (answered from the cache)',
                                                       lambda: self.command(cached))
        self.figures['command_cache_graph'] = self.best('ansible-inventory --graph (answered from the cache)',
                                                        lambda: self.command(cached, graph=True))
        self.figures['cache_bytes'] = sum(os.path.getsize(os.path.join(cache_dir, name))
                                          for name in os.listdir(cache_dir))
        empty = self.plugin_file('empty', hypervisors=[{'name': 'none', 'uri': self.args.uri,
                                                        'domains': [PREFIX + 'none-*']}])
        self.figures['command_startup'] = self.best('ansible-inventory --list (one hypervisor, no desktop)',
                                                    lambda: (self.command(empty, expect=0)[0], 0, 0))
        base.log('load after: %s' % uptime())

    # ------------------------------------------------------------------ report

    def report(self):
        fig = self.figures
        domains = len(self.names)
        print()
        print('spice.streaming.desktops over %d hypervisors x %d domains (%d paused per hypervisor), '
              'best of %d' % (len(self.hosts), self.args.per_hypervisor, self.args.paused, self.args.repeat))
        network = ('%.1f ms round trip per hypervisor (latency_proxy.py)' % self.args.rtt_ms if self.args.rtt_ms
                   else 'none (every hypervisor is the local daemon, no latency)')
        print('network: %s' % network)
        print('command: %s' % ' '.join(shlex.quote(arg) for arg in sys.argv))
        print()
        print('%-62s %9s %9s' % ('', 'seconds', 'ms/desk'))
        serial = fig['serial']
        print('%-62s %9.2f %9.3f' % ('one after another (sum of the single reads)', serial['sum'],
                                     1000 * serial['sum'] / domains))
        print('%-62s %9.2f' % ('slowest single hypervisor (%d desktops), best of each' % self.args.per_hypervisor,
                               serial['slowest']))
        for row in fig['parallel']:
            print('%-62s %9.2f %9.3f   %.2fx slowest, %.2fx serial; CPU: libvirtd %s s, plugin %.1f s%s'
                  % ('whole fleet in parallel, %d hypervisors at once' % row['workers'], row['wall'],
                     1000 * row['wall'] / domains, row['ratio_to_slowest'], row['ratio_to_serial'],
                     '%.1f' % row['libvirtd_cpu'] if row['libvirtd_cpu'] is not None else '?', row['own_cpu'],
                     ', proxy %.1f s' % row['proxy_cpu'] if self.args.rtt_ms else ''))
        for row in fig.get('compare_parallel', []):
            print('%-62s %9.2f   slowest single %.2f, one after another %.2f: %.2fx slowest'
                  % ('fleet, 8 at once, parallel %d per hypervisor' % row['parallel'], row['wall'], row['slowest'],
                     row['sum'], row['wall'] / row['slowest']))
        if 'command_parallel' in fig:
            self.report_commands()
        wall, cpu, count = fig['list_all']
        print('%-62s %9.2f   (CPU here %.2f s, %d domains)'
              % ('one listAllDomains of the shared daemon', wall, cpu, count))
        print()
        for row in fig['parallel']:
            verdict = 'within goal' if row['ratio_to_slowest'] <= 1.5 else '*** MISSED GOAL ***'
            print('goal: whole fleet <= 1.5 x slowest single hypervisor, %d at once%s: %.2f / %.2f = %.2fx -> %s'
                  % (row['workers'], ' (default)' if row['workers'] == self.default_workers() else '',
                     row['wall'], serial['slowest'], row['ratio_to_slowest'], verdict))
        default = next(row for row in fig['parallel'] if row['workers'] == self.default_workers())
        if default['libvirtd_cpu'] is not None:
            busy = (default['libvirtd_cpu'] + default['own_cpu']) / default['wall']
            print('      all %d simulated hypervisors share this machine\'s %d cores and one libvirtd: the '
                  'parallel read kept %.1f cores busy (libvirtd %.1f s + plugin %.1f s of CPU in %.2f s)'
                  % (len(self.hosts), os.cpu_count(), busy, default['libvirtd_cpu'], default['own_cpu'],
                     default['wall']))

    def default_workers(self):
        """How many hypervisors the plugin's default reads at once here."""
        return min(DEFAULT_WORKERS, len(self.hosts))

    def report_commands(self):
        fig = self.figures
        print()
        print('%-62s %9s %9s' % ('ansible-inventory --list (whole command)', 'seconds', 'peak MiB'))
        for key, label in (('command_parallel', 'plugin, parallel_hypervisors %d (default)' % DEFAULT_WORKERS),
                           ('command_graph', '--graph instead of --list (no per-host variables printed)'),
                           ('command_serial', 'plugin, parallel_hypervisors 1 (one after another)'),
                           ('command_cache_write', 'plugin with cache, --flush-cache (reads, writes cache)'),
                           ('command_cache_read', 'plugin with cache, answered from the cache'),
                           ('command_cache_graph', '--graph, answered from the cache')):
            wall, rss, _hosts = fig[key]
            print('%-62s %9.2f %9.0f' % (label, wall, rss))
        print('%-62s %9.2f' % ('start-up: one hypervisor, no desktop', fig['command_startup'][0]))
        print('%-62s %9.1f' % ('cache entry size (MiB)', fig['cache_bytes'] / 1048576.0))

    def write_json(self):
        if self.args.json:
            with open(self.args.json, 'w', encoding='utf-8') as handle:
                json.dump(self.figures, handle, indent=1)


def _ints(text):
    return [int(value) for value in text.split(',') if value.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Speed benchmark of the spice.streaming.desktops inventory '
                                                 'plugin (see bench/README.md).')
    parser.add_argument('--hypervisors', type=int, default=20, help='simulated hypervisors (default 20)')
    parser.add_argument('--per-hypervisor', type=int, default=500, help='domains per hypervisor (default 500)')
    parser.add_argument('--paused', type=int, default=1,
                        help='domains per hypervisor started paused (default 1)')
    parser.add_argument('--parallel', type=int, default=1, help="the plugin's parallel option (default 1)")
    parser.add_argument('--compare-parallel', type=_ints, default=[4],
                        help='other per-hypervisor connection counts to measure in process (default 4)')
    parser.add_argument('--workers', type=_ints, default=[],
                        help='more parallel_hypervisors values to measure in process (8 and H always)')
    parser.add_argument('--repeat', type=int, default=3, help='best of R runs (default 3)')
    parser.add_argument('--uri', default='qemu:///system')
    parser.add_argument('--rtt-ms', type=float, default=0.0,
                        help='put each hypervisor behind this round-trip time (latency_proxy.py; default 0: '
                             'no network); needs --uri qemu:///system')
    parser.add_argument('--skip-commands', action='store_true',
                        help='measure the reads only, not the ansible-inventory commands')
    parser.add_argument('--ansible-inventory', default=shutil.which('ansible-inventory') or 'ansible-inventory')
    parser.add_argument('--json', metavar='FILE', help='also write the figures to FILE')
    parser.add_argument('--keep', action='store_true', help='leave the domains defined at the end')
    args = parser.parse_args(argv)
    if min(args.hypervisors, args.per_hypervisor, args.repeat, args.parallel) < 1 or args.paused < 0:
        parser.error('--hypervisors, --per-hypervisor, --repeat and --parallel must be at least 1')
    args.paused = min(args.paused, args.per_hypervisor)
    if args.rtt_ms < 0 or (args.rtt_ms and args.uri != 'qemu:///system'):
        parser.error('--rtt-ms must be at least 0, and works with --uri qemu:///system only')
    return args


def main(argv=None):
    bench = InventoryBench(parse_args(argv))
    return base.run(bench, bench.connect, bench.create, bench.measure, bench.report,
                    bench.write_json)


if __name__ == '__main__':
    sys.exit(main())
