# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An OpenSSH server of a test's own, so that a "hypervisor" is reached over real SSH.

It listens on 127.0.0.1 only, on a free port, with a throw-away host key and client key,
its own configuration, pid file and log, and lets root in by that key only.  The
system's sshd (if any) is never read, started or stopped.  Ansible gets a known_hosts
file with the throw-away host key and checks it, as it would in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SSHD = '/usr/sbin/sshd'
SSH_KEYGEN = '/usr/bin/ssh-keygen'
SFTP_SERVER = '/usr/lib/openssh/sftp-server'
# Compiled into Debian's sshd: the privilege separation directory tmpfiles.d makes at boot.
PRIVSEP_DIR = '/run/sshd'

_CONFIG = """# sshd of a spice.streaming test (tests/support/sshd.py); not the system's.
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
AllowUsers root
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The key files live in a test directory under /tmp, which is world-writable.
StrictModes no
# Ansible opens one connection per fork and host at once.
MaxStartups 64
MaxSessions 64
Subsystem sftp {sftp_server}
LogLevel VERBOSE
"""


class SshdError(RuntimeError):
    pass


def free_loopback_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class LoopbackSshd:
    """Start with :meth:`start` (or ``with``); :meth:`stop` ends it and every session it opened."""

    def __init__(self, workdir=None):
        missing = [path for path in (SSHD, SSH_KEYGEN) if not os.path.exists(path)]
        if missing:
            raise SshdError('%s missing: install openssh-server and openssh-client (scripts/test.sh '
                            'does it: SSH_PACKAGES in scripts/lib/setup.sh)' % ', '.join(missing))
        # Short: ssh's control sockets live in here and a socket path has 108 bytes at most.
        self.workdir = workdir or tempfile.mkdtemp(prefix='sst-ssh-')
        self._own_workdir = workdir is None
        self.host_key = os.path.join(self.workdir, 'host_ed25519')
        self.client_key = os.path.join(self.workdir, 'client_ed25519')
        self.authorized_keys = os.path.join(self.workdir, 'authorized_keys')
        self.known_hosts = os.path.join(self.workdir, 'known_hosts')
        self.config = os.path.join(self.workdir, 'sshd_config')
        self.pid_file = os.path.join(self.workdir, 'sshd.pid')
        self.log = os.path.join(self.workdir, 'sshd.log')
        self.control_dir = os.path.join(self.workdir, 'cp')
        self.port = None
        self.proc = None

    # ------------------------------------------------------------ life cycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *_exc):
        self.stop()

    def start(self, deadline_seconds=60):
        self._make_keys()
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        os.makedirs(self.control_dir, mode=0o700, exist_ok=True)
        last_error = None
        for _attempt in range(5):
            # Another process may take the port between our probe and sshd's bind: try another.
            self.port = free_loopback_port()
            self._write_config()
            try:
                self._launch(deadline_seconds)
                return self
            except SshdError as err:
                last_error = err
        raise last_error

    def _make_keys(self):
        for path, comment in ((self.host_key, 'sst-test-host'), (self.client_key, 'sst-test-client')):
            if not os.path.exists(path):
                subprocess.run([SSH_KEYGEN, '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path],
                               check=True, capture_output=True)
        shutil.copyfile(self.client_key + '.pub', self.authorized_keys)
        os.chmod(self.authorized_keys, 0o600)

    def _write_config(self):
        with open(self.config, 'w', encoding='utf-8') as handle:
            handle.write(_CONFIG.format(port=self.port, host_key=self.host_key, pid_file=self.pid_file,
                                        authorized_keys=self.authorized_keys, sftp_server=SFTP_SERVER))
        with open(self.host_key + '.pub', encoding='ascii') as handle:
            key_type, key = handle.read().split()[:2]
        with open(self.known_hosts, 'w', encoding='ascii') as handle:
            handle.write('[127.0.0.1]:%d %s %s\n' % (self.port, key_type, key))
        check = subprocess.run([SSHD, '-t', '-f', self.config], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise SshdError('sshd refuses its test configuration %s: %s' % (self.config, check.stderr.strip()))

    def _launch(self, deadline_seconds):
        with open(self.log, 'ab') as log:
            # -D: stay in the foreground, so this process owns it; -e: log to the file.
            self.proc = subprocess.Popen([SSHD, '-D', '-e', '-f', self.config], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SshdError('sshd on 127.0.0.1:%d exited with %s: %s'
                                % (self.port, self.proc.returncode, self.log_tail()))
            if self._banner():
                return
            time.sleep(0.1)
        self._terminate(self.proc.pid)
        self.proc.wait(timeout=10)
        raise SshdError('sshd on 127.0.0.1:%d sent no banner within %d s: %s'
                        % (self.port, deadline_seconds, self.log_tail()))

    def _banner(self):
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=2) as sock:
                return sock.recv(64).startswith(b'SSH-2.0-')
        except OSError:
            return False

    def log_tail(self, size=3000):
        try:
            with open(self.log, encoding='utf-8', errors='replace') as handle:
                return handle.read()[-size:]
        except OSError:
            return ''

    def stop(self):
        """End the listener and the sessions it forked (ssh control masters keep one open)."""
        if self.proc is not None and self.proc.poll() is None:
            sessions = _descendants(self.proc.pid)
            self._terminate(self.proc.pid)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            for pid in sessions:
                self._terminate(pid)
        self.proc = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @staticmethod
    def _terminate(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    # ------------------------------------------------------------ for Ansible

    def ansible_host_vars(self):
        """Inventory variables of a host reached through this sshd as root, host key checked."""
        return {
            'ansible_connection': 'ssh',
            'ansible_host': '127.0.0.1',
            'ansible_port': self.port,
            'ansible_user': 'root',
            'ansible_ssh_private_key_file': self.client_key,
            'ansible_host_key_checking': True,
            'ansible_ssh_common_args': '-o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null '
                                       '-o IdentitiesOnly=yes -o BatchMode=yes' % self.known_hosts,
            'ansible_control_path_dir': self.control_dir,
        }

    def accepted_logins(self):
        """How many times sshd let root in by the test key (its log says so)."""
        return self.log_tail(size=10 ** 7).count('Accepted publickey for root from 127.0.0.1')


def _descendants(pid):
    """Every process below ``pid``, children first found through /proc."""
    found = []
    queue = [pid]
    while queue:
        parent = queue.pop()
        for task in _listdir('/proc/%d/task' % parent):
            try:
                with open('/proc/%d/task/%s/children' % (parent, task), encoding='ascii') as handle:
                    children = [int(child) for child in handle.read().split()]
            except OSError:
                continue
            found.extend(children)
            queue.extend(children)
    return found


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
