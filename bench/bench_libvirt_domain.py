# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Speed benchmark of spice.streaming.libvirt_domain against a plain libvirt-python loop.

Creates N defined (never started) domains named ``sst-bench-NNNN`` on a real
libvirtd, measures in one run, each from the same starting state:

* the module converging all N in one Ansible task, and the same with nothing to do,
  each beside the start-up cost of one task;
* the floor: a plain libvirt-python loop doing the same edits, and a plain read loop;
* ``virt-xml`` per domain and a naive per-domain Ansible loop, on a sample,
  extrapolated to N;
* the peak RSS of the module process for N/10 and N domains;

prints a table and the two target checks, and removes the domains again
(also on Ctrl-C or an error) unless ``--keep``.  Targets are computed and
printed, never asserted: the exit status is 0 whenever the benchmark ran.

Only domains named ``sst-bench-*`` are ever created, changed or removed.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import libvirt
from lxml import etree

REPO_ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
PREFIX = 'sst-bench-'
STREAM = 'org.spice-space.stream.0'
MODULE = 'spice.streaming.libvirt_domain'
MODULE_ARGS = {'streaming_mode': 'filter', 'agent_channel': 'present'}
XML_INACTIVE_SECURE = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE

# What `virt-install --print-xml --machine q35 --virt-type qemu --osinfo debian11
# --disk none --network none --graphics spice --video qxl --channel spicevmc`
# writes (virtinst 4.1), minus the uuid (libvirt makes one per domain).
BASE_XML = '''<domain type="qemu">
  <name>{name}</name>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/11"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory>1048576</memory>
  <currentMemory>1048576</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch="x86_64" machine="q35">hvm</type>
    <boot dev="hd"/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <vmport state="off"/>
  </features>
  <clock offset="utc">
    <timer name="rtc" tickpolicy="catchup"/>
    <timer name="pit" tickpolicy="delay"/>
    <timer name="hpet" present="no"/>
  </clock>
  <pm>
    <suspend-to-mem enabled="no"/>
    <suspend-to-disk enabled="no"/>
  </pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type="usb" model="qemu-xhci" ports="15"/>
    <controller type="pci" model="pcie-root"/>
''' + '''    <controller type="pci" model="pcie-root-port"/>
''' * 14 + '''    <console type="pty"/>
    <channel type="spicevmc">
      <target type="virtio" name="com.redhat.spice.0"/>
    </channel>
    <input type="tablet" bus="usb"/>
    <graphics type="spice" port="-1" tlsPort="-1" autoport="yes">
      <image compression="off"/>
    </graphics>
    <sound model="ich9"/>
    <video>
      <model type="qxl"/>
    </video>
    <redirdev bus="usb" type="spicevmc"/>
    <redirdev bus="usb" type="spicevmc"/>
    <memballoon model="virtio"/>
    <rng model="virtio">
      <backend model="random">/dev/urandom</backend>
    </rng>
  </devices>
</domain>
'''


def log(message):
    print('--- %s' % message, file=sys.stderr, flush=True)


def _quiet_libvirt(_ctx, _err):
    pass


# ------------------------------------------------------------------ domains


class Bench:
    def __init__(self, args):
        self.args = args
        self.uri = args.uri
        self.n = args.domains
        width = max(4, len(str(self.n - 1)))
        self.names = ['%s%0*d' % (PREFIX, width, index) for index in range(self.n)]
        self.sample = self.names[:min(args.sample, self.n)]
        self.connections = [int(value) for value in args.connections.split(',') if value.strip()]
        self.last_result_bytes = 0
        self.conn = None
        self.base = {}          # name -> inactive XML (with uuid) as libvirt stored it
        self.created = []
        self.tmp = tempfile.mkdtemp(prefix='sst-bench-')
        self.figures = {}
        self.env = None
        self.module_python = args.python

    # ---------------------------------------------------------- set-up / tear-down

    def connect(self):
        libvirt.registerErrorHandler(_quiet_libvirt, None)
        self.conn = libvirt.open(self.uri)

    def ours(self):
        return [dom for dom in self.conn.listAllDomains(0) if dom.name().startswith(PREFIX)]

    def remove_leftovers(self):
        leftovers = self.ours()
        if not leftovers:
            return
        active = [dom.name() for dom in leftovers if dom.isActive()]
        if active:
            raise SystemExit('sst-bench-* domains are running (%s): someone else uses them; '
                             'refusing to touch them' % ', '.join(active[:5]))
        log('removing %d sst-bench-* domains left by an earlier run' % len(leftovers))
        for dom in leftovers:
            dom.undefine()

    def create(self):
        start = time.perf_counter()
        for name in self.names:
            self.conn.defineXML(BASE_XML.format(name=name))
            self.created.append(name)
        for name in self.names:
            self.base[name] = self.conn.lookupByName(name).XMLDesc(XML_INACTIVE_SECURE)
        log('defined %d domains in %.2f s' % (self.n, time.perf_counter() - start))

    def reset(self, names=None):
        """Back to the base definition (outside every timed region)."""
        for name in names or self.names:
            self.conn.defineXML(self.base[name])

    def cleanup(self):
        if self.conn is None:
            return
        if self.args.keep:
            log('--keep: leaving %d sst-bench-* domains defined' % len(self.created))
            return
        removed = 0
        for dom in self.ours():
            if dom.isActive():
                log('not removing running domain %s' % dom.name())
                continue
            try:
                dom.undefine()
                removed += 1
            except libvirt.libvirtError as err:
                log('could not undefine %s: %s' % (dom.name(), err))
        log('removed %d sst-bench-* domains' % removed)

    def count_converged(self, names=None):
        """How many domains carry exactly one stream channel and mode filter (not timed)."""
        converged = 0
        for name in names or self.names:
            root = etree.fromstring(self.conn.lookupByName(name).XMLDesc(XML_INACTIVE_SECURE))
            channels = [c for c in root.iterfind("./devices/channel[@type='spiceport']")
                        if c.find('target') is not None and c.find('target').get('name') == STREAM]
            modes = [g.find('streaming').get('mode') if g.find('streaming') is not None else None
                     for g in root.iterfind("./devices/graphics[@type='spice']")]
            if len(channels) == 1 and modes == ['filter'] and \
                    root.find("./devices/controller[@type='virtio-serial']") is not None:
                converged += 1
        return converged

    def expect_converged(self, what, names=None):
        names = names or self.names
        got = self.count_converged(names)
        if got != len(names):
            log('WARNING: after %s only %d of %d domains are converged' % (what, got, len(names)))
        return got

    # ---------------------------------------------------------- Ansible

    def prepare_ansible(self):
        env = dict(os.environ)
        if not env.get('ANSIBLE_COLLECTIONS_PATH'):
            sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'support'))
            import collection_path  # pylint: disable=import-outside-toplevel
            env['ANSIBLE_COLLECTIONS_PATH'] = collection_path.collections_path()
        env.update({
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_RETRY_FILES_ENABLED': '0',
            'ANSIBLE_LOCAL_TEMP': os.path.join(self.tmp, 'ansible-local'),
            'ANSIBLE_REMOTE_TEMP': os.path.join(self.tmp, 'ansible-remote'),
            'ANSIBLE_DEPRECATION_WARNINGS': '0',
        })
        env.pop('ANSIBLE_CONFIG', None)
        self.env = env
        self.playbook_cmd = shutil.which('ansible-playbook', path=env.get('PATH'))
        if not self.playbook_cmd:
            raise SystemExit('ansible-playbook is not on PATH (run bench/run.sh, or put a venv '
                             'with ansible-core first on PATH)')
        with open(os.path.join(self.tmp, 'inventory'), 'w', encoding='utf-8') as handle:
            handle.write('localhost ansible_connection=local ansible_python_interpreter=%s\n'
                         % self.module_python)
        # The module run directly (memory figures) under the hypervisor's Python
        # needs the ansible package importable: a directory holding only a link to it.
        controller_python = self._shebang_python(self.playbook_cmd)
        ansible_dir = subprocess.run(
            [controller_python, '-c', 'import ansible, os; print(os.path.dirname(ansible.__file__))'],
            check=True, capture_output=True, text=True).stdout.strip()
        self.pythonpath_dir = os.path.join(self.tmp, 'pythonpath')
        os.makedirs(self.pythonpath_dir)
        os.symlink(ansible_dir, os.path.join(self.pythonpath_dir, 'ansible'))

    @staticmethod
    def _shebang_python(script):
        with open(script, 'rb') as handle:
            first = handle.readline().decode().strip()
        if first.startswith('#!'):
            parts = first[2:].split()
            if os.path.basename(parts[0]) == 'env' and len(parts) > 1:
                return shutil.which(parts[1]) or sys.executable
            return parts[0]
        return sys.executable

    def playbook(self, filename, task):
        path = os.path.join(self.tmp, filename)
        play = [{'name': 'bench', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}]
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(play, handle, indent=1)   # JSON is YAML
        return path

    def module_task(self, names, parallel=None):
        args = dict(MODULE_ARGS, uri=self.uri, name=names)
        if parallel is not None:
            args['parallel'] = parallel
        return {'name': 'libvirt_domain', MODULE: args}

    def run_playbook(self, path, expect_changed=None):
        """Wall time of the whole ansible-playbook command."""
        cmd = [self.playbook_cmd, '-i', os.path.join(self.tmp, 'inventory'), path]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=self.env, cwd=self.tmp, capture_output=True, text=True,
                              check=False)
        elapsed = time.perf_counter() - start
        recap = [line for line in proc.stdout.splitlines() if line.startswith('localhost')]
        if proc.returncode != 0 or not recap:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise RuntimeError('%s failed (rc %d)' % (os.path.basename(path), proc.returncode))
        if expect_changed is not None and ('changed=%d ' % expect_changed) not in recap[-1] + ' ':
            log('WARNING: %s: expected changed=%d, recap says: %s'
                % (os.path.basename(path), expect_changed, recap[-1]))
        return elapsed

    def run_module_direct(self, names, parallel=None):
        """Run the module file under the module Python; returns (seconds, peak RSS KiB, result).

        ``self.last_result_bytes`` keeps the size of the JSON result: what a hypervisor
        sends back to the controller.
        """
        args_path = os.path.join(self.tmp, 'args.json')
        module_args = dict(MODULE_ARGS, uri=self.uri, name=names)
        if parallel is not None:
            module_args['parallel'] = parallel
        with open(args_path, 'w', encoding='utf-8') as handle:
            json.dump({'ANSIBLE_MODULE_ARGS': module_args}, handle)
        env = dict(self.env)
        env['PYTHONPATH'] = os.pathsep.join([self.pythonpath_dir, env['ANSIBLE_COLLECTIONS_PATH']])
        out_path = os.path.join(self.tmp, 'module.out')
        with open(out_path, 'w+', encoding='utf-8') as out:
            start = time.perf_counter()
            proc = subprocess.Popen(
                [self.module_python, os.path.join(REPO_ROOT, 'plugins', 'modules', 'libvirt_domain.py'),
                 args_path], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.tmp)
            _pid, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            text = out.read()
        self.last_result_bytes = len(text.encode('utf-8'))
        try:
            result = json.loads(text)
        except ValueError:
            result = None
        if proc.returncode != 0 or result is None or result.get('failed'):
            sys.stderr.write(text[-4000:])
            raise RuntimeError('the module run directly failed (rc %d)' % proc.returncode)
        return elapsed, usage.ru_maxrss, result

    # ---------------------------------------------------------- the floor

    @staticmethod
    def floor_edit(root):
        """The module's edits, done plainly: controller if missing, channel, streaming."""
        devices = root.find('devices')
        if devices.find("controller[@type='virtio-serial']") is None:
            etree.SubElement(devices, 'controller', type='virtio-serial', index='0')
        channel = etree.SubElement(devices, 'channel', type='spiceport')
        etree.SubElement(channel, 'source', channel=STREAM)
        etree.SubElement(channel, 'target', type='virtio', name=STREAM)
        for graphics in devices.iterfind("graphics[@type='spice']"):
            streaming = graphics.find('streaming')
            if streaming is None:
                streaming = etree.SubElement(graphics, 'streaming')
            streaming.set('mode', 'filter')

    def _floor_domains(self, conn):
        return sorted((dom for dom in conn.listAllDomains(0) if dom.name().startswith(PREFIX)),
                      key=lambda dom: dom.name())

    def floor_converge(self):
        """Connect, list, then per domain: read, edit, define."""
        start = time.perf_counter()
        conn = libvirt.open(self.uri)
        for dom in self._floor_domains(conn):
            root = etree.fromstring(dom.XMLDesc(XML_INACTIVE_SECURE))
            self.floor_edit(root)
            conn.defineXML(etree.tostring(root, encoding='unicode'))
        conn.close()
        return time.perf_counter() - start

    def floor_read(self):
        """Connect, list, then per domain: read and parse."""
        start = time.perf_counter()
        conn = libvirt.open(self.uri)
        for dom in self._floor_domains(conn):
            etree.fromstring(dom.XMLDesc(XML_INACTIVE_SECURE))
        conn.close()
        return time.perf_counter() - start

    def _threaded(self, connections, per_domain):
        """``per_domain(conn, dom)`` over every domain, ``connections`` threads each owning one."""
        import threading  # pylint: disable=import-outside-toplevel
        start = time.perf_counter()
        conns = [libvirt.open(self.uri) for _c in range(connections)]
        names = [dom.name() for dom in self._floor_domains(conns[0])]
        chunks = [names[index::connections] for index in range(connections)]

        def work(conn, chunk):
            doms = {dom.name(): dom for dom in conn.listAllDomains(0)}
            for name in chunk:
                per_domain(conn, doms[name])

        threads = [threading.Thread(target=work, args=pair) for pair in zip(conns, chunks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for conn in conns:
            conn.close()
        return time.perf_counter() - start

    def floor_converge_threads(self, connections):
        """The floor converge loop spread over threads, each owning one connection."""
        def edit(conn, dom):
            root = etree.fromstring(dom.XMLDesc(XML_INACTIVE_SECURE))
            self.floor_edit(root)
            conn.defineXML(etree.tostring(root, encoding='unicode'))
        return self._threaded(connections, edit)

    def floor_read_threads(self, connections):
        return self._threaded(connections, lambda conn, dom: etree.fromstring(dom.XMLDesc(XML_INACTIVE_SECURE)))

    def floor_module_reads(self):
        """The floor with the module's read pattern: read all, then per domain read, define, read."""
        start = time.perf_counter()
        conn = libvirt.open(self.uri)
        doms = self._floor_domains(conn)
        for dom in doms:
            etree.fromstring(dom.XMLDesc(XML_INACTIVE_SECURE))
        for dom in doms:
            root = etree.fromstring(dom.XMLDesc(XML_INACTIVE_SECURE))
            self.floor_edit(root)
            new = conn.defineXML(etree.tostring(root, encoding='unicode'))
            etree.fromstring(new.XMLDesc(XML_INACTIVE_SECURE))
        conn.close()
        return time.perf_counter() - start

    # ---------------------------------------------------------- virt-xml

    def virt_xml_sample(self):
        virt_xml = shutil.which('virt-xml')
        if not virt_xml:
            log('virt-xml not found (Debian package virtinst): skipped')
            return None
        base = [virt_xml, '--connect', self.uri]
        start = time.perf_counter()
        for name in self.sample:
            for action in (
                    ['--add-device', '--channel',
                     'spiceport,source.channel=%s,target.type=virtio,target.name=%s' % (STREAM, STREAM)],
                    ['--edit', '--graphics', 'streaming.mode=filter']):
                proc = subprocess.run(base + [name] + action, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise RuntimeError('virt-xml %s failed: %s' % (name, proc.stderr.strip()))
        return time.perf_counter() - start

    # ---------------------------------------------------------- measurements

    def best(self, label, measure, before=None, runs=None):
        """Best of --repeat runs of ``measure`` (each after ``before``); logs every run."""
        times = []
        for _run in range(runs or self.args.repeat):
            if before:
                before()
            times.append(measure())
        log('%-44s %s s' % (label, ' '.join('%.2f' % t for t in times)))
        return min(times)

    def measure(self):
        fig = self.figures
        n, k = self.n, len(self.sample)
        none_pattern = [PREFIX + 'none-*']

        log('start-up of one task')
        # Cheap and the figure every target leans on: a few more runs than --repeat.
        runs = self.args.repeat + 2
        fig['startup_ping'] = self.best('ansible.builtin.ping task', lambda: self.run_playbook(
            self.playbook('ping.json', {'name': 'ping', 'ansible.builtin.ping': {}})), runs=runs)
        fig['startup_module'] = self.best('module task, pattern matching nothing', lambda: self.run_playbook(
            self.playbook('nomatch.json', self.module_task(none_pattern)), expect_changed=0), runs=runs)

        log('module converge and no-op, one task for all %d domains' % n)
        converge_book = self.playbook('converge.json', self.module_task([PREFIX + '*']))
        fig['module_converge'] = self.best(
            'module converge', lambda: self.run_playbook(converge_book, expect_changed=1),
            before=self.reset)
        fig['module_converge_ok'] = self.expect_converged('module converge')
        fig['module_noop'] = self.best(
            'module no-op', lambda: self.run_playbook(converge_book, expect_changed=0))

        log('floor: plain libvirt-python loops')
        fig['floor_converge'] = self.best('floor converge', self.floor_converge, before=self.reset)
        fig['floor_converge_ok'] = self.expect_converged('floor converge')
        fig['floor_read'] = self.best('floor read loop', self.floor_read)
        fig['floor_module_reads'] = self.best('floor with the module reads', self.floor_module_reads,
                                              before=self.reset)

        fig['parallel'] = {}
        for connections in self.connections:
            log('module with parallel=%d, and the floor loops over %d threads' % (connections, connections))
            book = self.playbook('converge-p%d.json' % connections,
                                 self.module_task([PREFIX + '*'], parallel=connections))
            entry = fig['parallel'][connections] = {}
            entry['module_converge'] = self.best(
                'module converge, parallel=%d' % connections,
                lambda book=book: self.run_playbook(book, expect_changed=1), before=self.reset)
            entry['converged'] = self.expect_converged('module converge, parallel=%d' % connections)
            entry['module_noop'] = self.best(
                'module no-op, parallel=%d' % connections,
                lambda book=book: self.run_playbook(book, expect_changed=0))
            entry['floor_converge'] = self.best(
                'floor converge, %d threads' % connections,
                lambda c=connections: self.floor_converge_threads(c), before=self.reset)
            entry['floor_read'] = self.best(
                'floor read loop, %d threads' % connections, lambda c=connections: self.floor_read_threads(c))

        if not self.args.skip_virt_xml:
            log('virt-xml on %d domains' % k)
            self.reset(self.sample)
            elapsed = self.virt_xml_sample()
            if elapsed is not None:
                fig['virt_xml_sample'] = elapsed
                fig['virt_xml'] = elapsed / k * n
                self.expect_converged('virt-xml', self.sample)

        if not self.args.skip_loop:
            log('naive Ansible loop on %d domains' % k)
            self.reset(self.sample)
            loop_book = self.playbook('loop.json', dict(self.module_task(['{{ item }}']),
                                                        loop=self.sample))
            elapsed = self.run_playbook(loop_book, expect_changed=1)
            self.expect_converged('naive loop', self.sample)
            fig['loop_sample'] = elapsed
            fig['loop_per_domain'] = max(elapsed - fig['startup_ping'], 0.0) / k
            fig['loop'] = fig['startup_ping'] + fig['loop_per_domain'] * n

        if not self.args.skip_memory:
            log('memory: the module run directly under %s' % self.module_python)
            tenth = self.names[:max(1, n // 10)]
            _t, fig['rss_0'], _r = self.run_module_direct(none_pattern)
            self.reset(tenth)
            fig['rss_tenth_time'], fig['rss_tenth'], result = self.run_module_direct(tenth)
            fig['rss_tenth_n'] = len(tenth)
            if len(result['changed_domains']) != len(tenth):
                log('WARNING: memory run on N/10 changed %d domains' % len(result['changed_domains']))
            self.reset()
            fig['rss_full_time'], fig['rss_full'], result = self.run_module_direct([PREFIX + '*'])
            if len(result['changed_domains']) != n:
                log('WARNING: memory run on N changed %d domains' % len(result['changed_domains']))
            fig['result_bytes_converge'] = self.last_result_bytes
            fig['rss_noop_time'], fig['rss_noop'], _r = self.run_module_direct([PREFIX + '*'])
            fig['result_bytes_noop'] = self.last_result_bytes

    # ---------------------------------------------------------- report

    def report(self):
        fig = self.figures
        n, k = self.n, len(self.sample)
        startup = fig['startup_module']
        lines = []
        add = lines.append
        add('')
        add('spice.streaming libvirt_domain benchmark: N=%d domains on %s, sample %d, best of %d'
            % (n, self.uri, k, self.args.repeat))
        add('module Python %s; %d CPUs; load average %s' % (
            self.module_python, os.cpu_count(), ' '.join('%.2f' % x for x in os.getloadavg())))
        add('')
        add('%-58s %10s  %-16s %9s' % ('method', 's for N', '', 'ms/domain'))
        add('-' * 98)

        def row(label, seconds, how='measured', per_domain=True):
            if seconds is None:
                return
            mark = '~' if how.startswith('extrap') else ' '
            add('%-58s %s%9.2f  %-16s %9s' % (
                label, mark, seconds, how,
                '%9.2f' % (seconds / n * 1000) if per_domain else ''))

        row('module converge: one task, whole command', fig['module_converge'])
        row('  minus one task\'s start-up', fig['module_converge'] - startup, 'computed')
        row('module no-op: one task, nothing to do', fig['module_noop'])
        row('  minus one task\'s start-up', fig['module_noop'] - startup, 'computed')
        row('one task\'s start-up: the module, pattern matching nothing', startup, per_domain=False)
        row('one task\'s start-up: ansible.builtin.ping', fig['startup_ping'], per_domain=False)
        row('floor: libvirt-python read, lxml edit, define', fig['floor_converge'])
        row('floor: libvirt-python read loop (XMLDesc + parse)', fig['floor_read'])
        row('floor with the module\'s reads (read all; read,define,read)',
            fig['floor_module_reads'], 'measured, info')
        if 'virt_xml' in fig:
            row('virt-xml per domain (add channel + edit graphics)', fig['virt_xml'],
                'extrapolated %d' % k)
        if 'loop' in fig:
            row('naive Ansible loop: one module call per domain', fig['loop'],
                'extrapolated %d' % k)
        add('-' * 98)
        add('~ extrapolated from %d domains: virt-xml as N x mean per domain; the loop as one '
            'start-up (ping) + N x (sample time - start-up) / %d' % (k, k))
        add('converged after the module: %d/%d, after the floor loop: %d/%d'
            % (fig['module_converge_ok'], n, fig['floor_converge_ok'], n))
        add('')
        verdicts = {}
        for key, label, measured, floor in (
                ('converge', 'converge', fig['module_converge'], fig['floor_converge']),
                ('noop', 'no-op   ', fig['module_noop'], fig['floor_read'])):
            limit = 2 * floor + startup
            ok = measured <= limit
            verdicts[key] = ok
            add('%s: %.2f s %s 2 x %.2f s + %.2f s start-up = %.2f s  -> %s' % (
                label, measured, '<=' if ok else '>', floor, startup, limit,
                'within target' if ok else '*** MISSED TARGET *** (%.2fx the allowance)'
                % (measured / limit)))
        if fig.get('parallel'):
            serial_edit, serial_read = fig['floor_converge'], fig['floor_read']
            add('')
            add('connections (parallel=P), module minus one start-up (%.2f s), against the serial floor '
                'loops (read+edit+define %.2f s, read %.2f s) of this run:' % (startup, serial_edit, serial_read))
            add('%3s %12s %8s %12s %8s %16s %14s' % (
                'P', 'converge s', 'x floor', 'no-op s', 'x read', 'floor P threads', 'read P threads'))
            for connections, entry in sorted(fig['parallel'].items()):
                converge = entry['module_converge'] - startup
                noop = entry['module_noop'] - startup
                entry['converge_ratio'] = converge / serial_edit
                entry['noop_ratio'] = noop / serial_read
                add('%3d %12.2f %8.2f %12.2f %8.2f %16.2f %14.2f' % (
                    connections, converge, entry['converge_ratio'], noop, entry['noop_ratio'],
                    entry['floor_converge'], entry['floor_read']))
            add('goals: converge at most 1.0x the serial edit loop, no-op at most 1.5x the serial read loop')
        if 'rss_full' in fig:
            add('')
            add('memory, peak RSS of the module process (run directly, %s):' % self.module_python)
            add('  no domain selected            %8.1f MiB' % (fig['rss_0'] / 1024))
            add('  N/10 = %-5d domains converge %8.1f MiB  (%.2f s)'
                % (fig['rss_tenth_n'], fig['rss_tenth'] / 1024, fig['rss_tenth_time']))
            add('  N    = %-5d domains converge %8.1f MiB  (%.2f s)'
                % (n, fig['rss_full'] / 1024, fig['rss_full_time']))
            add('  N    = %-5d domains no-op    %8.1f MiB  (%.2f s)'
                % (n, fig['rss_noop'] / 1024, fig['rss_noop_time']))
            span = n - fig['rss_tenth_n']
            growth = (fig['rss_full'] - fig['rss_tenth']) / 1024 / span * 1000 if span else 0.0
            add('  growth from N/10 to N: %.1f MiB, %.2f MiB per 1000 domains (%.1f KiB per domain)'
                % ((fig['rss_full'] - fig['rss_tenth']) / 1024, growth, growth * 1024 / 1000))
            fig['rss_growth_mib_per_1000'] = growth
            add('result sent to the controller: converge %d bytes (%.0f per domain), no-op %d bytes '
                '(%.0f per domain)' % (fig['result_bytes_converge'], fig['result_bytes_converge'] / n,
                                       fig['result_bytes_noop'], fig['result_bytes_noop'] / n))
        fig['verdicts'] = verdicts
        print('\n'.join(lines), flush=True)

    def write_json(self):
        if not self.args.json:
            return
        data = {
            'domains': self.n, 'sample': len(self.sample), 'uri': self.uri,
            'repeat': self.args.repeat, 'module_python': self.module_python,
            'cpus': os.cpu_count(), 'loadavg': os.getloadavg(),
            'seconds': {key: value for key, value in self.figures.items()
                        if isinstance(value, float)},
            'rss_kib': {key: value for key, value in self.figures.items()
                        if key.startswith('rss_') and isinstance(value, int)},
            'verdicts': self.figures.get('verdicts'),
            'parallel': {str(key): value for key, value in self.figures.get('parallel', {}).items()},
            'result_bytes': {key: value for key, value in self.figures.items()
                             if key.startswith('result_bytes_')},
        }
        with open(self.args.json, 'w', encoding='utf-8') as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write('\n')
        log('figures written to %s' % self.args.json)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Speed benchmark of spice.streaming.libvirt_domain (see bench/README.md).')
    parser.add_argument('-n', '--domains', type=int, default=1000,
                        help='number of sst-bench-NNNN domains (default 1000)')
    parser.add_argument('--sample', type=int, default=20,
                        help='domains for the extrapolated methods (default 20)')
    parser.add_argument('--uri', default='qemu:///system', help='libvirt URI (default qemu:///system)')
    parser.add_argument('--json', metavar='FILE', help='also write the figures to FILE')
    parser.add_argument('--connections', default='1,2,4,8',
                        help='comma-separated values of the module\'s parallel option to measure, each '
                             'beside plain loops over as many threads (default 1,2,4,8; "" for none)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='run each measured method R times, report the best (default 3)')
    parser.add_argument('--python', default='/usr/bin/python3',
                        help='interpreter the module runs under (default /usr/bin/python3)')
    parser.add_argument('--keep', action='store_true', help='leave the domains defined at the end')
    parser.add_argument('--skip-virt-xml', action='store_true')
    parser.add_argument('--skip-loop', action='store_true')
    parser.add_argument('--skip-memory', action='store_true')
    args = parser.parse_args(argv)
    if args.domains < 1 or args.sample < 1 or args.repeat < 1:
        parser.error('--domains, --sample and --repeat must be at least 1')
    return args


def _terminate(signum, _frame):
    raise KeyboardInterrupt('signal %d' % signum)


def run(bench, *steps):
    """Run ``steps`` (methods of ``bench``) in order; whatever happens, remove what the bench made.

    Every bench's main ends here.  Returns the exit status: 0, or 130 after Ctrl-C,
    SIGTERM or SIGHUP.  ``bench`` has ``cleanup()``, ``conn`` and ``tmp``.
    """
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        for step in steps:
            step()
    except KeyboardInterrupt:
        log('interrupted')
        return 130
    finally:
        # Ignore further Ctrl-C while the domains are removed.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            bench.cleanup()
        finally:
            if bench.conn is not None:
                bench.conn.close()
            shutil.rmtree(bench.tmp, ignore_errors=True)
    return 0


def main(argv=None):
    bench = Bench(parse_args(argv))
    return run(bench, bench.prepare_ansible, bench.connect, bench.remove_leftovers, bench.create,
               bench.measure, bench.report, bench.write_json)


if __name__ == '__main__':
    sys.exit(main())
