# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Speed benchmark of the fleet rollout: playbooks/enable_streaming.yml over many hypervisors.

Every "hypervisor" is an inventory host with a local connection to the local libvirtd,
selecting its own disjoint set of domains (``sst-benchfleet-hNN-dNNN``) through
``host_streaming_domains``.  Measured, each from the same starting state:

* the playbook converging H hosts x M domains, and the no-op rerun, with several
  ``--forks``; how both grow with H (M fixed) and with M (H fixed);
* the naive way: one ``libvirt_domain`` task per domain in a ``loop``, on a sample of K
  domains per host, extrapolated to M;
* the restart pass: R running domains restarted with ``restart: when_needed``,
  ``force_off`` and ``shutdown_timeout: 0`` for each batch size: the batch mechanics
  (ACPI request, destroy, start, confirm from the live XML), no guest shutdown wait.
  Their guest is a boot sector that halts the CPU (``cli; hlt``) on a shared read-only
  1 MiB image, with no video device: a diskless domain spins in SeaBIOS under TCG
  (about 2 % of a core each, so 100 of them saturate a 2-core machine), this one costs
  about 0.3 %.  It ignores the ACPI request just the same.

All hosts share this machine's cores and its one libvirtd, so the figures show the
controller's and the module's cost per host, not a real fleet's wall time (there each
hypervisor works on its own CPUs).  The per-host prerequisites step (facts, then the
package module) is off in the measured runs and measured once on its own.

It prints a table, the command and the machine load, never asserts, and removes every
``sst-benchfleet-*`` domain it made (also on Ctrl-C or an error) unless ``--keep``.
See bench/README.md, part "Fleet".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import libvirt
from lxml import etree

import bench_libvirt_domain as base

sys.path.insert(0, base.REPO_ROOT)
from tests.support.libvirt_env import SPICE_GRAPHICS, VIRTIO_SERIAL, domain_xml  # noqa: E402

PREFIX = 'sst-benchfleet-'
RESTART_PREFIX = PREFIX + 'r'
ENABLE = os.path.join(base.REPO_ROOT, 'playbooks', 'enable_streaming.yml')
# A boot sector that halts the CPU with interrupts off: QEMU's vCPU thread then sleeps.
HALT_SECTOR = b'\xfa\xf4\xeb\xfd' + bytes(506) + b'\x55\xaa'
RECAP = re.compile(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


def host_name(index):
    return 'hv%02d' % index


def domain_name(host, index):
    return '%sh%02d-d%03d' % (PREFIX, host, index)


def host_patterns(host, count):
    """Shell patterns selecting the first ``count`` domains of a host, as an admin writes them."""
    stem = '%sh%02d-d' % (PREFIX, host)
    tens, rest = divmod(count, 10)
    patterns = [stem + '%d??' % hundred for hundred in range(tens // 10)]
    if tens % 10:
        patterns.append(stem + '%d[0-%d]?' % (tens // 10, tens % 10 - 1))
    patterns.extend(domain_name(host, index) for index in range(count - rest, count))
    return patterns


def uptime():
    return subprocess.run(['uptime'], capture_output=True, text=True, check=False).stdout.strip()


class FleetBench(base.Bench):
    """Domains, inventories and playbook runs of the fleet benchmark."""

    def __init__(self, args):
        super().__init__(args)
        self.hosts_max = max(args.host_steps + [args.hosts])
        self.per_host_max = max(args.per_host_steps + [args.per_host])
        self.names = [] if args.skip_rollout else [
            domain_name(host, index) for host in range(1, self.hosts_max + 1) for index in range(self.per_host_max)]
        self.restart_names = ['%s%03d' % (RESTART_PREFIX, index) for index in range(args.restart_domains)]
        self.rows = []
        self.notes = {}
        self.dirty = set()     # domains a converging run changed: reset before the next one
        self.boot_dir = None

    # ---------------------------------------------------------- domains

    def ours(self):
        return [dom for dom in self.conn.listAllDomains(0) if dom.name().startswith(PREFIX)]

    def remove_leftovers(self):
        for dom in self.ours():
            if dom.isActive():
                dom.destroy()
        super().remove_leftovers()

    def cleanup(self):
        if self.conn is not None and not self.args.keep:
            for dom in self.ours():
                try:
                    if dom.isActive():
                        dom.destroy()
                except libvirt.libvirtError as err:
                    base.log('could not destroy %s: %s' % (dom.name(), err))
        super().cleanup()
        if self.boot_dir and not self.args.keep:
            shutil.rmtree(self.boot_dir, ignore_errors=True)

    def selected(self, hosts, per_host):
        return [domain_name(host, index) for host in range(1, hosts + 1) for index in range(per_host)]

    def reset_dirty(self):
        """Converged domains back to their base definition (outside the timed region)."""
        if self.dirty:
            self.reset(sorted(self.dirty))
            self.dirty = set()

    # ---------------------------------------------------------- inventories and runs

    def inventory(self, hosts, per_host, extra=None, name=None):
        entries = {}
        for host in range(1, hosts + 1):
            values = {
                'ansible_connection': 'local',
                'ansible_python_interpreter': self.module_python,
                'host_streaming_uri': self.uri,
                'host_streaming_domains': host_patterns(host, per_host),
                'host_streaming_install_prerequisites': False,
                'host_streaming_backup_dir': os.path.join(self.tmp, 'backups', host_name(host)),
            }
            values.update(extra(host) if extra else {})
            entries[host_name(host)] = values
        path = os.path.join(self.tmp, name or 'fleet-%dx%d.json' % (hosts, per_host))
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump({'hypervisors': {'hosts': entries}}, handle, indent=1)   # JSON is YAML
        return path

    def play(self, inventory, playbook, forks, extra_vars=None, expect_changed=None):
        """Wall time of the whole ansible-playbook command; every host must succeed."""
        cmd = [self.playbook_cmd, '-i', inventory, playbook, '--forks', str(forks)]
        if extra_vars:
            cmd += ['-e', json.dumps(extra_vars)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=self.env, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            proc.stdout, proc.stderr = proc.communicate()
        except BaseException:
            # Ctrl-C or SIGTERM: the run must not go on changing domains while they are removed.
            proc.terminate()
            proc.wait()
            raise
        elapsed = time.perf_counter() - start
        recap = {host: [int(value) for value in values] for host, *values in RECAP.findall(proc.stdout)}
        if proc.returncode != 0 or not recap or any(values[2] or values[3] for values in recap.values()):
            sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-3000:])
            raise RuntimeError('%s failed (rc %d)' % (os.path.basename(playbook), proc.returncode))
        if expect_changed is not None:
            changed = sum(1 for values in recap.values() if values[1])
            if changed != expect_changed:
                base.log('WARNING: %s: expected %d hosts changed, recap says %d'
                         % (os.path.basename(playbook), expect_changed, changed))
        return elapsed

    # ---------------------------------------------------------- the measurements

    def rollout(self, hosts, per_host, forks):
        """Converge (from the base definitions) then the no-op rerun; records a table row."""
        inventory = self.inventory(hosts, per_host)
        names = self.selected(hosts, per_host)

        def from_base():
            self.reset_dirty()
            self.dirty.update(names)

        label = '%d hosts x %d domains, forks %d' % (hosts, per_host, forks)
        first = self.best('converge ' + label, lambda: self.play(inventory, ENABLE, forks, expect_changed=hosts),
                          before=from_base)
        ok = self.count_converged(names)
        if ok != len(names):
            base.log('WARNING: after converging %s only %d of %d domains are converged' % (label, ok, len(names)))
        noop = self.best('no-op    ' + label, lambda: self.play(inventory, ENABLE, forks, expect_changed=0))
        self.rows.append({'hosts': hosts, 'per_host': per_host, 'forks': forks, 'converge': first,
                          'noop': noop, 'domains': len(names), 'converged': ok})

    def naive_loop(self, hosts, per_host, sample, forks):
        """One libvirt_domain task per domain in a loop, K domains per host, extrapolated to M."""
        module_args = dict(base.MODULE_ARGS, uri=self.uri, name=['{{ item }}'], backup=True,
                           backup_dir='{{ host_streaming_backup_dir }}')
        book = os.path.join(self.tmp, 'naive-loop.json')
        with open(book, 'w', encoding='utf-8') as handle:
            json.dump([{'name': 'One task per domain', 'hosts': 'hypervisors', 'gather_facts': False,
                        'tasks': [{'name': 'libvirt_domain, once per domain', base.MODULE: module_args,
                                   'loop': '{{ bench_fleet_loop }}'}]}], handle, indent=1)
        empty = self.inventory(hosts, per_host, extra=lambda host: {'bench_fleet_loop': []}, name='naive-0.json')
        sampled = self.inventory(hosts, per_host, name='naive-k.json', extra=lambda host: {
            'bench_fleet_loop': [domain_name(host, index) for index in range(sample)]})
        self.reset_dirty()
        fixed = self.best('naive loop, no item (the play\'s fixed cost)', lambda: self.play(empty, book, forks))
        names = [domain_name(host, index) for host in range(1, hosts + 1) for index in range(sample)]

        def from_base():
            self.reset(names)
            self.dirty.update(names)

        timed = self.best('naive loop, %d per host' % sample,
                          lambda: self.play(sampled, book, forks, expect_changed=hosts), before=from_base)
        per_item = max(timed - fixed, 0.0) / sample
        self.notes['naive'] = {'hosts': hosts, 'per_host': per_host, 'sample': sample, 'forks': forks,
                               'fixed': fixed, 'sample_time': timed,
                               'extrapolated': fixed + per_item * per_host}

    def prerequisites_cost(self):
        """One host, nothing to converge: the role with and without its prerequisites step."""
        self.reset_dirty()
        inventory_off = self.inventory(1, 1, name='prereq-off.json')
        inventory_on = self.inventory(1, 1, name='prereq-on.json',
                                      extra=lambda host: {'host_streaming_install_prerequisites': True})
        self.dirty.update(self.selected(1, 1))
        self.play(inventory_off, ENABLE, 1)
        off = self.best('one host, no-op, prerequisites off', lambda: self.play(inventory_off, ENABLE, 1))
        on = self.best('one host, no-op, prerequisites on', lambda: self.play(inventory_on, ENABLE, 1))
        self.notes['prerequisites'] = {'off': off, 'on': on}

    # ---------------------------------------------------------- restarts

    def halting_disk(self):
        """The shared read-only boot image; in a directory QEMU (user libvirt-qemu) may enter."""
        self.boot_dir = tempfile.mkdtemp(prefix=PREFIX, dir='/var/tmp')
        os.chmod(self.boot_dir, 0o755)
        image = os.path.join(self.boot_dir, 'halt.img')
        with open(image, 'wb') as handle:
            handle.write(HALT_SECTOR + bytes(1024 * 1024 - len(HALT_SECTOR)))
        os.chmod(image, 0o644)
        return ("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                "<target dev='vda' bus='virtio'/><readonly/></disk>" % image)

    def start_restart_domains(self):
        disk = self.halting_disk()
        start = time.perf_counter()
        for name in self.restart_names:
            xml = domain_xml(name, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS, disk)).replace(
                "<model type='qxl'/>", "<model type='none'/>")
            # Running, not paused: the module sends the ACPI request before it forces it off.
            self.conn.defineXML(xml).create()
        base.log('started %d halted domains in %.1f s' % (len(self.restart_names), time.perf_counter() - start))

    def restarts(self, batches):
        """Per batch size: flip the definitions (untimed), then time the restart pass."""
        inventory = os.path.join(self.tmp, 'restart.json')
        with open(inventory, 'w', encoding='utf-8') as handle:
            json.dump({'hypervisors': {'hosts': {'hv-restart': {
                'ansible_connection': 'local', 'ansible_python_interpreter': self.module_python,
                'host_streaming_uri': self.uri, 'host_streaming_domains': [RESTART_PREFIX + '*'],
                'host_streaming_install_prerequisites': False,
                'host_streaming_backup_dir': os.path.join(self.tmp, 'backups', 'hv-restart')}}}}, handle)
        self.start_restart_domains()
        results = []
        # Each measurement starts with every running domain behind its definition: the mode
        # alternates, so the next batch size has all of them to restart again.
        modes = ['filter', 'all']
        for position, batch in enumerate(batches):
            mode = modes[position % 2]
            define = {'host_streaming_mode': mode, 'host_streaming_restart': 'never'}
            converge = self.play(inventory, ENABLE, 1, extra_vars=define, expect_changed=1)
            restart = {'host_streaming_mode': mode, 'host_streaming_restart': 'when_needed',
                       'host_streaming_force_off': True, 'host_streaming_shutdown_timeout': 0,
                       'host_streaming_restart_batch': batch}
            elapsed = self.play(inventory, ENABLE, 1, extra_vars=restart, expect_changed=1)
            confirmed = self.count_live(mode)
            base.log('restart batch %-3d %.1f s (definitions before it: %.1f s), %d/%d running with mode %s'
                     % (batch, elapsed, converge, confirmed, len(self.restart_names), mode))
            results.append({'batch': batch, 'seconds': elapsed, 'define_pass': converge,
                            'confirmed': confirmed})
        self.notes['restarts'] = results

    def count_live(self, mode):
        count = 0
        for name in self.restart_names:
            dom = self.conn.lookupByName(name)
            if dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
                continue
            root = etree.fromstring(dom.XMLDesc(0))
            if root.find("./devices/graphics[@type='spice']/streaming[@mode='%s']" % mode) is not None and \
                    root.find("./devices/channel[@type='spiceport']/target[@name='%s']" % base.STREAM) is not None:
                count += 1
        return count

    # ---------------------------------------------------------- the run

    def measure(self):
        args = self.args
        self.notes['uptime_before'] = uptime()
        if not args.skip_rollout:
            self.measure_rollouts()
        self.notes['uptime_rollout'] = uptime()
        if args.restart_domains and args.batches:
            self.restarts(args.batches)
        self.notes['uptime_after'] = uptime()

    def measure_rollouts(self):
        args = self.args
        for forks in args.forks:
            self.rollout(args.hosts, args.per_host, forks)
        top_forks = max(args.forks)
        for hosts in args.host_steps:
            if hosts != args.hosts:
                self.rollout(hosts, args.per_host, top_forks)
        for per_host in args.per_host_steps:
            if per_host != args.per_host:
                self.rollout(args.hosts, per_host, top_forks)
        if not args.skip_loop:
            self.naive_loop(args.hosts, args.per_host, args.sample, top_forks)
        self.prerequisites_cost()

    def report(self):
        args = self.args
        lines = [
            '',
            'spice.streaming fleet benchmark: playbooks/enable_streaming.yml, hosts with a local connection to '
            '%s, best of %d' % (self.uri, args.repeat),
            'command: %s' % args.command,
            '%d CPUs; module Python %s' % (os.cpu_count(), self.module_python),
            'uptime before:          %s' % self.notes['uptime_before'],
            'uptime after rollouts:  %s' % self.notes['uptime_rollout'],
            'uptime at the end:      %s' % self.notes['uptime_after'],
        ]
        if self.rows:
            lines += self.rollout_lines()
        if self.notes.get('restarts'):
            lines += self.restart_lines()
        print('\n'.join(lines), flush=True)

    def rollout_lines(self):
        lines = [
            '',
            'each host selects its own domains (q35, the virt-install shape) with shell patterns',
            '%-34s %11s %9s %13s %9s' % ('hosts x domains per host, forks', 'converge s', 'no-op s',
                                         'converge ms/d', 'no-op ms/d'),
            '-' * 81,
        ]
        for row in self.rows:
            lines.append('%-34s %11.2f %9.2f %13.1f %10.1f%s' % (
                '%d x %d, forks %d' % (row['hosts'], row['per_host'], row['forks']), row['converge'], row['noop'],
                row['converge'] / row['domains'] * 1000, row['noop'] / row['domains'] * 1000,
                '' if row['converged'] == row['domains'] else '  (only %d converged)' % row['converged']))
        naive = self.notes.get('naive')
        if naive:
            label = 'naive loop %d x %d, forks %d' % (naive['hosts'], naive['per_host'], naive['forks'])
            lines.append('%-34s %11s' % (label, '~%.2f' % naive['extrapolated']))
        lines.append('-' * 81)
        if naive:
            lines.append('~ naive loop: one libvirt_domain task per domain (loop), measured with %d domains per host '
                         '(%.2f s) and with none (%.2f s, the play\'s fixed cost), extrapolated to %d per host'
                         % (naive['sample'], naive['sample_time'], naive['fixed'], naive['per_host']))
        prereq = self.notes.get('prerequisites')
        if prereq:
            lines.append('prerequisites step (facts + package module), off in the rows above: one host, no-op, '
                         '%.2f s with it, %.2f s without: +%.2f s per hypervisor, on its own CPU in a real fleet'
                         % (prereq['on'], prereq['off'], prereq['on'] - prereq['off']))
        lines.append('all hosts share this machine\'s %d CPUs and one libvirtd: a real fleet runs each '
                     'hypervisor\'s module on its own host' % os.cpu_count())
        return lines

    def restart_lines(self):
        restarts = self.notes['restarts']
        count = len(self.restart_names)
        lines = [
            '',
            'restarts: %d running domains (TCG, a boot sector that halts, no video), restart when_needed, '
            'force_off, shutdown_timeout 0:' % count,
            'the batch mechanics only (ACPI request, destroy, start, confirm from the live XML), no guest shutdown',
            '%-10s %12s %14s %22s' % ('batch', 'restart s', 's per domain', 'running with the change'),
            '-' * 62,
        ]
        for entry in restarts:
            lines.append('%-10d %12.2f %14.3f %16d/%d' % (
                entry['batch'], entry['seconds'], entry['seconds'] / count, entry['confirmed'], count))
        lines.append('-' * 62)
        lines.append('each restart run is the whole ansible-playbook command: a no-op plan pass over the %d '
                     'definitions, then the restarts; the definitions were written by an untimed run before it '
                     '(%.1f-%.1f s)' % (count, min(e['define_pass'] for e in restarts),
                                        max(e['define_pass'] for e in restarts)))
        return lines

    def write_json(self):
        if not self.args.json:
            return
        data = {'command': self.args.command, 'uri': self.uri, 'cpus': os.cpu_count(), 'repeat': self.args.repeat,
                'rollouts': self.rows, 'notes': self.notes}
        with open(self.args.json, 'w', encoding='utf-8') as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write('\n')
        base.log('figures written to %s' % self.args.json)


def _ints(text):
    return [int(part) for part in text.split(',') if part.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Speed benchmark of playbooks/enable_streaming.yml over many hypervisors (bench/README.md).')
    parser.add_argument('--hosts', type=int, default=20, help='hypervisor hosts of the main figure (default 20)')
    parser.add_argument('--per-host', type=int, default=50, help='domains per host of the main figure (default 50)')
    parser.add_argument('--forks', type=_ints, default=[5, 20], help='forks of the main figure (default 5,20)')
    parser.add_argument('--host-steps', type=_ints, default=[5, 10, 20],
                        help='hosts for the growth with hosts, per-host fixed (default 5,10,20)')
    parser.add_argument('--per-host-steps', type=_ints, default=[10, 50, 100],
                        help='domains per host for the growth with domains, hosts fixed (default 10,50,100)')
    parser.add_argument('--sample', type=int, default=5, help='domains per host for the naive loop (default 5)')
    parser.add_argument('--restart-domains', type=int, default=100,
                        help='running diskless domains for the restart figures; 0 skips them (default 100)')
    parser.add_argument('--batches', type=_ints, default=[1, 5, 20], help='restart batch sizes (default 1,5,20)')
    parser.add_argument('--repeat', type=int, default=1, help='best of R runs for each rollout figure (default 1)')
    parser.add_argument('--uri', default='qemu:///system')
    parser.add_argument('--python', default='/usr/bin/python3',
                        help='interpreter the module runs under (default /usr/bin/python3)')
    parser.add_argument('--json', metavar='FILE', help='also write the figures to FILE')
    parser.add_argument('--keep', action='store_true', help='leave the domains at the end')
    parser.add_argument('--skip-loop', action='store_true', help='leave out the naive loop')
    parser.add_argument('--skip-rollout', action='store_true', help='only the restart figures')
    args = parser.parse_args(argv)
    if min([args.hosts, args.per_host, args.sample, args.repeat] + args.forks + args.host_steps
           + args.per_host_steps + args.batches) < 1 or args.restart_domains < 0:
        parser.error('every count must be at least 1 (--restart-domains 0 skips the restarts)')
    if max(args.host_steps + [args.hosts]) > 99 or max(args.per_host_steps + [args.per_host]) > 1000:
        parser.error('at most 99 hosts and 1000 domains per host')
    if args.sample > args.per_host:
        parser.error('--sample must not exceed --per-host')
    # The rollout domains; with --skip-rollout none is defined (the base class wants one name).
    args.domains = 1 if args.skip_rollout else \
        max(args.host_steps + [args.hosts]) * max(args.per_host_steps + [args.per_host])
    args.connections = ''   # the base class's parallel=P figures: not measured here
    args.command = 'bench/run.sh fleet ' + ' '.join(shlex.quote(arg) for arg in (
        sys.argv[1:] if argv is None else argv))
    return args


def main(argv=None):
    bench = FleetBench(parse_args(argv))
    return base.run(bench, bench.prepare_ansible, bench.connect, bench.remove_leftovers,
                    bench.create, bench.measure, bench.report, bench.write_json)


if __name__ == '__main__':
    sys.exit(main())
