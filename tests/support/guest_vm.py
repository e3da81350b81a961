# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Debian 12 guest VM on the real libvirtd, reached over SSH on 127.0.0.1 only.

From pytest::

    from tests.support.guest_vm import GuestVM
    vm = GuestVM('sst-it-1234-agent', extra_devices=[STREAM_CHANNEL_XML])
    vm.define()                      # persistent definition, not started (edit it now if you like)
    vm.start(); vm.wait_ssh(300)     # boot (~15 s under TCG), then SSH banner and boot finished
    vm.ssh('systemctl is-system-running')      # CompletedProcess; check=True raises with the serial tail
    vm.copy_to('pkg.deb', '/tmp/pkg.deb')
    vm.channel_state()               # 'connected' / 'disconnected' / None (live XML)
    vm.shutdown(180)                 # ACPI power button, waits for shut off
    vm.cleanup()                     # destroy if running, undefine, remove the overlay

From a shell (for molecule create/destroy playbooks)::

    python -m tests.support.guest_vm up --name sst-mol-guest --state /tmp/guest.json [--stream-channel]
    python -m tests.support.guest_vm down --state /tmp/guest.json

``up`` builds or reuses the image, defines and boots the VM, waits for SSH and writes the
state file (JSON, which is also YAML): domain name, URI, SSH host/port/key, SPICE port,
serial log and the Ansible host variables.

Every VM is ``type='qemu'`` (TCG: KVM here cannot boot a Linux kernel), q35, 1 GiB, 2
vCPUs, a throw-away qcow2 overlay over the cached image, the kernel booted directly,
the serial console written to a file, SPICE on 127.0.0.1 (autoport, read back from the live
XML), QXL video, and QEMU user networking whose only way in is a host forward
``127.0.0.1:PORT -> guest:22``.  It never uses libvirt's NAT network.  By default the domain
has no stream channel: the collection's modules add it (or pass it in ``extra_devices``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from xml.sax.saxutils import escape, quoteattr

import libvirt
from lxml import etree

from tests.support.guest_image import GuestImage, ensure_image

URI = os.environ.get('SPICE_STREAMING_TEST_URI', 'qemu:///system')
STREAM_PORT = 'org.spice-space.stream.0'
# Outside the checkout and traversable by libvirt-qemu (a mkdtemp directory is 0700).
RUN_ROOT = os.environ.get('SPICE_STREAMING_VM_RUN_DIR', '/var/tmp/spice-streaming-test-vms')
SSH_OPTIONS = ('-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
               '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=20',
               '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=8')
QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0'

# qemu-guest-agent's port (the image runs qemu-guest-agent); libvirt picks the socket on the host side.
GUEST_AGENT_CHANNEL = """<channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>"""

STREAM_CHANNEL = """<channel type='spiceport'>
      <source channel='org.spice-space.stream.0'/>
      <target type='virtio' name='org.spice-space.stream.0'/>
    </channel>"""

_DOMAIN = """<domain type='qemu' xmlns:qemu='{qemu_ns}'>
  <name>{name}</name>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='unsafe'/>
      <source file={overlay}/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path={serial}/>
      <target port='0'/>
    </serial>
    <graphics type='spice' autoport='yes'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video><model type='qxl'/></video>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='none'/>
    {extra_devices}
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=sstnet0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=sstnet0,bus=pcie.0,addr=0x10'/>
  </qemu:commandline>
</domain>
"""


# Xvfb without -noreset would reset the display (root window and all) whenever its last
# client leaves; a test that draws with xsetroot needs it to stay.
_X_SESSION = """set -e
rm -f /tmp/sst-x{number}.log /tmp/sst-dex{number}.log
setsid Xvfb {display} -screen 0 {size}x24 -nolisten tcp -noreset </dev/null >/tmp/sst-x{number}.log 2>&1 &
echo $! > /tmp/sst-x{number}.pid
i=0
until xset -display {display} q >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt {limit} ] || ! kill -0 "$(cat /tmp/sst-x{number}.pid)" 2>/dev/null; then
        echo "Xvfb {display} does not answer" >&2; cat /tmp/sst-x{number}.log >&2; exit 1
    fi
    sleep 0.2
done
if [ -n "{autostart}" ]; then
    DISPLAY={display} setsid dex -a </dev/null >/tmp/sst-dex{number}.log 2>&1 &
fi
"""
_X_SESSION_END = """pid=$(cat /tmp/sst-x{number}.pid)
kill "$pid" 2>/dev/null || true
i=0
while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt {limit} ] && {{ echo "X server $pid still runs" >&2; exit 1; }}
    sleep 0.2
done
rm -f /tmp/sst-x{number}.pid
"""


class GuestError(AssertionError):
    """A guest that did not do what the test needed; the message carries the serial tail."""


def free_port():
    """A TCP port free on 127.0.0.1 now (QEMU binds it at start; start() retries a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _quiet(_ctx, _err):
    pass


class GuestVM:
    """One guest domain, its overlay disk and serial log; see the module docstring."""

    def __init__(self, name, image=None, uri=URI, extra_devices=(), cmdline_extra=(),
                 memory_mib=1024, vcpus=2, run_root=RUN_ROOT):
        self.name = name
        self._image = image
        self.uri = uri
        self.extra_devices = list(extra_devices)
        self.cmdline_extra = list(cmdline_extra)
        self.memory_mib = memory_mib
        self.vcpus = vcpus
        self.run_dir = os.path.join(run_root, name)
        self.overlay = os.path.join(self.run_dir, 'overlay.qcow2')
        self.serial_log = os.path.join(self.run_dir, 'serial.log')
        self.ssh_port = None
        self._conn = None

    @property
    def image(self):
        """The guest image, built on first need (clean-up never needs it)."""
        if self._image is None:
            self._image = ensure_image()
        return self._image

    @property
    def private_key(self):
        return self.image.private_key

    # --- libvirt -------------------------------------------------------------------------
    @property
    def conn(self):
        if self._conn is None:
            libvirt.registerErrorHandler(_quiet, None)
            self._conn = libvirt.open(self.uri)
        return self._conn

    @property
    def dom(self):
        return self.conn.lookupByName(self.name)

    def domain_xml(self):
        """The definition this VM is created with (before libvirt fills in defaults)."""
        cmdline = ' '.join([self.image.cmdline] + self.cmdline_extra)
        return _DOMAIN.format(
            qemu_ns=QEMU_NS, name=escape(self.name), memory=self.memory_mib, vcpus=self.vcpus,
            kernel=escape(self.image.kernel), initrd=escape(self.image.initrd),
            cmdline=escape(cmdline), overlay=quoteattr(self.overlay),
            serial=quoteattr(self.serial_log), ssh_port=self.ssh_port,
            extra_devices='\n    '.join(self.extra_devices))

    def define(self):
        """Make the overlay and define the domain (not started); returns the libvirt domain."""
        os.makedirs(self.run_dir, exist_ok=True)
        for path in (os.path.dirname(self.run_dir), self.run_dir):
            os.chmod(path, 0o755)   # libvirt-qemu opens the overlay and serial log in here
        if not os.path.exists(self.overlay):
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b',
                            self.image.disk, self.overlay], check=True, capture_output=True)
        if self.ssh_port is None:
            self.ssh_port = free_port()
        return self.conn.defineXML(self.domain_xml())

    def _set_ssh_port(self, port):
        """Point the host forward of the persistent definition at another port."""
        xml = self.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        tree = etree.fromstring(xml.encode())
        for arg in tree.iterfind('{%s}commandline/{%s}arg' % (QEMU_NS, QEMU_NS)):
            value = arg.get('value')
            if value.startswith('user,id=sstnet0,'):
                arg.set('value', value.replace(':%d-:22' % self.ssh_port, ':%d-:22' % port))
        self.ssh_port = port
        self.conn.defineXML(etree.tostring(tree, encoding='unicode'))

    def start(self):
        """Start the defined domain; a host port taken meanwhile gets another one."""
        if not self._defined():
            self.define()
        if os.path.exists(self.serial_log):
            os.unlink(self.serial_log)   # the tail must be this boot's
        for attempt in range(3):
            try:
                self.dom.create()
                return
            except libvirt.libvirtError as err:
                if 'hostfwd' not in str(err) and 'host forwarding' not in str(err) or attempt == 2:
                    raise GuestError('domain %s did not start on %s: %s' % (self.name, self.uri, err))
                self._set_ssh_port(free_port())

    def _defined(self):
        try:
            self.dom
        except libvirt.libvirtError:
            return False
        return True

    def is_active(self):
        return self._defined() and bool(self.dom.isActive())

    def live_xml(self):
        return self.dom.XMLDesc(0)

    @property
    def spice_port(self):
        """SPICE port libvirt picked (autoport) for the running domain, on 127.0.0.1."""
        tree = etree.fromstring(self.live_xml().encode())
        port = tree.find("devices/graphics[@type='spice']").get('port')
        return int(port) if port and port != '-1' else None

    def channel_state(self, name=STREAM_PORT):
        """``connected``/``disconnected`` of a virtio channel in the live XML; None if absent."""
        tree = etree.fromstring(self.live_xml().encode())
        target = tree.find("devices/channel/target[@name='%s']" % name)
        return None if target is None else target.get('state')

    def wait_channel_state(self, state, timeout=120, name=STREAM_PORT):
        """Poll the live XML until the channel shows ``state``; raise with the serial tail."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.channel_state(name)
            if seen == state:
                return
            time.sleep(0.5)
        raise GuestError('channel %s of %s stayed %r, not %r, for %d s\n%s'
                         % (name, self.name, seen, state, timeout, self.serial_tail()))

    def wait_until(self, what, probe, done, timeout=120, interval=0.5):
        """Call ``probe()`` until ``done(value)`` holds and return that value; on timeout raise
        naming ``what``, the last value seen, and the serial tail.  For effects in the guest
        that come a moment after the state a test waited for (a line the agent logs)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = probe()
            if done(seen):
                return seen
            if time.monotonic() > deadline:
                raise GuestError('%s: %s not within %d s; last seen: %r\n%s'
                                 % (self.name, what, timeout, seen, self.serial_tail()))
            time.sleep(interval)

    # --- the guest -----------------------------------------------------------------------
    def serial_tail(self, lines=40):
        """The last lines of the serial console (kernel, systemd, e2e scripts), as text."""
        try:
            with open(self.serial_log, 'rb') as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 200 * lines))
                text = handle.read().decode('utf-8', 'replace')
        except OSError as err:
            return '(no serial log: %s)' % err
        return '--- serial console of %s (last %d lines) ---\n%s' % (
            self.name, lines, '\n'.join(text.splitlines()[-lines:]))

    def wait_serial(self, text, timeout=300):
        """Wait until the serial console has printed ``text`` (e.g. an e2e.run script's line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.serial_log, 'rb') as handle:
                    if text.encode() in handle.read():
                        return
            except OSError:
                pass
            if not self.is_active():
                break
            time.sleep(0.5)
        raise GuestError('%s: the serial console did not print %r within %d s\n%s'
                         % (self.name, text, timeout, self.serial_tail()))

    def _banner(self):
        try:
            with socket.create_connection(('127.0.0.1', self.ssh_port), timeout=5) as sock:
                return sock.recv(64).startswith(b'SSH-')
        except OSError:
            return False

    def wait_ssh(self, timeout=300, booted=True):
        """Wait for sshd's banner, a working login, and (``booted``) systemd's boot to finish.

        QEMU accepts on the forwarded port before the guest listens, so only the banner
        proves sshd.  ``booted`` also waits for ``systemctl is-system-running --wait``,
        so logind handles the power button when this returns (ACPI shutdown works).
        """
        deadline = time.monotonic() + timeout
        while not self._banner():
            if not self.is_active():
                raise GuestError('domain %s stopped while booting\n%s' % (self.name, self.serial_tail()))
            if time.monotonic() > deadline:
                raise GuestError('no SSH banner from %s on 127.0.0.1:%s after %d s\n%s'
                                 % (self.name, self.ssh_port, timeout, self.serial_tail()))
            time.sleep(1)
        while True:
            remaining = max(5, deadline - time.monotonic())
            proc = self.ssh('systemctl is-system-running --wait' if booted else 'true',
                            check=False, timeout=remaining)
            if proc.returncode == 0 or proc.stdout.strip() == 'degraded':
                if proc.stdout.strip() == 'degraded':
                    failed = self.ssh('systemctl --failed --no-legend', check=False).stdout
                    print('[guest-vm] %s booted degraded: %s' % (self.name, failed.strip()), file=sys.stderr)
                return
            if time.monotonic() > deadline:
                raise GuestError('%s: SSH up but not booted after %d s: %s %s\n%s'
                                 % (self.name, timeout, proc.stdout, proc.stderr, self.serial_tail()))
            time.sleep(1)

    def _ssh_base(self, user):
        return ['ssh', '-i', self.private_key, '-p', str(self.ssh_port)] + list(SSH_OPTIONS) \
            + ['%s@127.0.0.1' % user]

    def ssh(self, command, user='root', check=True, timeout=300, input=None):  # noqa: A002
        """Run a shell command in the guest; returns the CompletedProcess (text)."""
        proc = subprocess.run(self._ssh_base(user) + ['--', command], capture_output=True,
                              text=True, timeout=timeout, input=input, check=False,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise GuestError('in %s as %s: %r exited %d\nSTDOUT:\n%s\nSTDERR:\n%s\n%s'
                             % (self.name, user, command, proc.returncode, proc.stdout[-3000:],
                                proc.stderr[-3000:], self.serial_tail(20)))
        return proc

    def copy_to(self, local, remote, user='root'):
        """Copy a host file into the guest (scp over the same forward)."""
        command = ['scp', '-q', '-i', self.private_key, '-P', str(self.ssh_port)] + list(SSH_OPTIONS) \
            + [local, '%s@127.0.0.1:%s' % (user, remote)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise GuestError('copy of %s to %s:%s failed: %s' % (local, self.name, remote, proc.stderr))

    def start_x_session(self, display=':1', user=None, size='1024x768', autostart=True, timeout=180):
        """Start an X session as ``user`` (the image's session user by default) the way a
        desktop does: Xvfb on ``display``, wait until it answers, then ``dex -a`` runs the
        XDG autostart entries (``/etc/xdg/autostart``).  Runs detached from the SSH login.
        """
        number = display.lstrip(':')
        script = _X_SESSION.format(display=display, number=number, size=size,
                                   limit=int(timeout * 5), autostart='1' if autostart else '')
        self.ssh(script, user=user or self.image.session_user, timeout=timeout + 30)

    def end_x_session(self, display=':1', timeout=60):
        """End the session started by start_x_session: its X server goes away (SIGTERM)."""
        number = display.lstrip(':')
        self.ssh(_X_SESSION_END.format(number=number, limit=int(timeout * 5)), timeout=timeout + 30)

    def shutdown(self, timeout=180):
        """Press the ACPI power button (``virsh shutdown``) and wait for shut off."""
        self.dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        deadline = time.monotonic() + timeout
        while self.dom.isActive():
            if time.monotonic() > deadline:
                raise GuestError('%s did not shut down within %d s of the ACPI power button\n%s'
                                 % (self.name, timeout, self.serial_tail()))
            time.sleep(0.5)

    def destroy(self):
        """Pull the plug (the domain stays defined)."""
        if self.is_active():
            self.dom.destroy()

    def cleanup(self):
        """Destroy, undefine, and remove the overlay and serial log: nothing is left behind."""
        if self._defined():
            dom = self.dom
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ansible_host_vars(self, user='root'):
        """Inventory variables that reach this guest over SSH (as root by default)."""
        return {
            'ansible_host': '127.0.0.1',
            'ansible_port': self.ssh_port,
            'ansible_user': user,
            'ansible_ssh_private_key_file': self.private_key,
            'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
            'ansible_python_interpreter': '/usr/bin/python3',
        }

    def state(self):
        """What the CLI writes to its state file."""
        return {
            'name': self.name, 'uri': self.uri, 'ssh_host': '127.0.0.1', 'ssh_port': self.ssh_port,
            'private_key': self.private_key, 'spice_port': self.spice_port if self.is_active() else None,
            'serial_log': self.serial_log, 'run_dir': self.run_dir, 'image': self.image.path,
            'ansible_host_vars': self.ansible_host_vars(),
        }

    @classmethod
    def from_state(cls, state):
        image = GuestImage(state['image']) if os.path.exists(state.get('image') or '') else None
        vm = cls(state['name'], image=image, uri=state['uri'], run_root=os.path.dirname(state['run_dir']))
        vm.ssh_port = state['ssh_port']
        return vm

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def remove_stale(conn, pattern, alive):
    """Remove domains and run directories whose name matches ``pattern`` (a compiled regex
    whose group 1 is a pid) and whose pid is not ``alive(pid)``: leftovers of killed runs."""
    names = set()
    for dom in conn.listAllDomains(0):
        match = pattern.match(dom.name())
        if match and not alive(int(match.group(1))):
            names.add(dom.name())
    if os.path.isdir(RUN_ROOT):
        for name in os.listdir(RUN_ROOT):
            match = pattern.match(name)
            if match and not alive(int(match.group(1))):
                names.add(name)
    for name in names:
        GuestVM(name, uri=conn.getURI()).cleanup()
    return sorted(names)


def measure(name, uri=URI):
    """Boot one guest and time it: to the SSH banner, to a login, to boot finished, and the
    ACPI shutdown; with the guest's own systemd-analyze and the host's load."""
    figures = {'host_load_before': os.getloadavg()[0]}
    started = time.monotonic()
    image = ensure_image()
    figures['image_ready_seconds'] = round(time.monotonic() - started, 1)
    vm = GuestVM(name, image=image, uri=uri)
    try:
        vm.define()
        started = time.monotonic()
        vm.start()
        deadline = started + 900
        while not vm._banner() and time.monotonic() < deadline:
            time.sleep(0.2)
        figures['start_to_ssh_banner_seconds'] = round(time.monotonic() - started, 1)
        vm.wait_ssh(900, booted=False)
        figures['start_to_ssh_login_seconds'] = round(time.monotonic() - started, 1)
        vm.wait_ssh(900)
        figures['start_to_boot_finished_seconds'] = round(time.monotonic() - started, 1)
        figures['guest_systemd_analyze'] = vm.ssh('systemd-analyze', check=False).stdout.strip()
        figures['guest_slowest_units'] = vm.ssh('systemd-analyze blame | head -8', check=False).stdout.split('\n')
        started = time.monotonic()
        vm.shutdown(600)
        figures['acpi_shutdown_seconds'] = round(time.monotonic() - started, 1)
        figures['host_load_after'] = os.getloadavg()[0]
    finally:
        vm.cleanup()
    figures['image'] = image.manifest['figures']
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m tests.support.guest_vm', description=__doc__.split('\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='action', required=True)
    up = sub.add_parser('up', help='define and boot a guest, wait for SSH, write the state file')
    up.add_argument('--name', required=True, help='domain name (prefix it with something yours)')
    up.add_argument('--state', required=True, help='JSON state file to write')
    up.add_argument('--uri', default=URI)
    up.add_argument('--stream-channel', action='store_true',
                    help='define the domain with the org.spice-space.stream.0 channel')
    up.add_argument('--device-xml', action='append', default=[], help='file with extra <devices> XML')
    up.add_argument('--cmdline', action='append', default=[], help='extra kernel command-line word')
    up.add_argument('--timeout', type=int, default=900, help='seconds to wait for SSH and boot (TCG on a busy host is slow)')
    measure_cmd = sub.add_parser('measure', help='boot a throw-away guest and print boot and shutdown figures')
    measure_cmd.add_argument('--name', default='sst-measure-%d' % os.getpid())
    measure_cmd.add_argument('--uri', default=URI)
    down = sub.add_parser('down', help='destroy and undefine the guest, remove its overlay')
    down.add_argument('--state', help='state file written by up')
    down.add_argument('--name', help='domain name, when there is no state file')
    down.add_argument('--uri', default=URI)
    args = parser.parse_args(argv)

    if args.action == 'up':
        devices = [STREAM_CHANNEL] if args.stream_channel else []
        for path in args.device_xml:
            with open(path, encoding='utf-8') as handle:
                devices.append(handle.read())
        vm = GuestVM(args.name, uri=args.uri, extra_devices=devices, cmdline_extra=args.cmdline)
        try:
            vm.define()
            vm.start()
            vm.wait_ssh(args.timeout)
        except BaseException:
            vm.cleanup()
            raise
        with open(args.state, 'w', encoding='utf-8') as handle:
            json.dump(vm.state(), handle, indent=1)
        print(json.dumps(vm.state(), indent=1))
        return 0
    if args.action == 'measure':
        print(json.dumps(measure(args.name, args.uri), indent=1))
        return 0
    if args.state and os.path.exists(args.state):
        with open(args.state, encoding='utf-8') as handle:
            vm = GuestVM.from_state(json.load(handle))
    elif args.name:
        vm = GuestVM(args.name, uri=args.uri)
    else:
        parser.error('down needs --state (an existing file) or --name')
    vm.cleanup()
    if args.state and os.path.exists(args.state):
        os.unlink(args.state)
    return 0


if __name__ == '__main__':
    sys.exit(main())
