# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A libvirt daemon that a test may kill: the ``qemu:///session`` daemon of a throw-away user.

The shared system libvirtd must never be killed, so fault tests create a user of their
own (``sst-fault-<pid>``), start that user's per-user libvirtd themselves (the one
``qemu:///session`` reaches, run in the foreground so its pid is known), and kill it
when they want the connection lost.  The daemon logs every RPC it dispatches and every
command it sends to QEMU's monitor, so a test can see how far a run has got without
asking the daemon (and so without changing the run it observes).

At the end every domain of that session is destroyed and undefined, the daemon and any
process left of that user are stopped (by pid), and the user and its home are removed.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import time

import libvirt

LIBVIRTD = '/usr/sbin/libvirtd'
# RPC procedure numbers of libvirt's remote protocol (src/remote/remote_protocol.x).
PROC_DOMAIN_DEFINE_XML = 11
PROC_DOMAIN_GET_XML_DESC = 14
_DISPATCH = re.compile(rb'virNetServerProgramDispatch:\d+ : prog=\d+ ver=\d+ type=0 status=0 serial=\d+ proc=(\d+)\n')
_POWERDOWN = b'QEMU_MONITOR_SEND_MSG: mon=0x'
_POWERDOWN_CMD = b'"execute":"system_powerdown"'


def _quiet(_ctx, _err):
    pass


class SessionLibvirt:
    """A user, its home, and its own libvirtd answering ``qemu:///session`` for that user."""

    URI = 'qemu:///session'

    def __init__(self, user):
        self.user = user
        self.home = None
        self.proc = None
        self.log = None
        self._log_offset = 0
        self._conn = None

    # ------------------------------------------------------------ user

    def create_user(self):
        try:
            pwd.getpwnam(self.user)
        except KeyError:
            subprocess.run(['useradd', '--create-home', '--shell', '/bin/sh', '--user-group', self.user],
                           check=True, capture_output=True)
        entry = pwd.getpwnam(self.user)
        self.uid, self.gid, self.home = entry.pw_uid, entry.pw_gid, entry.pw_dir
        self.log = os.path.join(self.home, 'libvirtd.log')
        return self

    @property
    def socket(self):
        return os.path.join(self.home, '.cache', 'libvirt', 'libvirt-sock')

    @property
    def root_uri(self):
        """The same session, for the test's own connection (root may use any unix socket)."""
        return 'qemu+unix:///session?socket=%s' % self.socket

    # ------------------------------------------------------------ the daemon

    def start(self, deadline_seconds=120):
        """Start the user's libvirtd in the foreground and wait until it answers."""
        if self.proc is not None and self.proc.poll() is None:
            return
        env = ['HOME=%s' % self.home, 'USER=%s' % self.user, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
               'LIBVIRT_LOG_OUTPUTS=1:file:%s' % self.log,
               # Each dispatched RPC (debug) and each QEMU monitor command (info), nothing else.
               'LIBVIRT_LOG_FILTERS=1:rpc.netserverprogram 2:qemu.qemu_monitor 4:*']
        # setpriv and env exec: the pid Popen knows is libvirtd's own.
        self.proc = subprocess.Popen(
            ['setpriv', '--reuid', str(self.uid), '--regid', str(self.gid), '--init-groups',
             'env', '-i'] + env + [LIBVIRTD], cwd=self.home,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + deadline_seconds
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('libvirtd of %s exited with %s; see %s'
                                   % (self.user, self.proc.returncode, self.log))
            if os.path.exists(self.socket) and self._answers():
                break
            if time.monotonic() > deadline:
                raise RuntimeError('libvirtd of %s does not answer after %d s' % (self.user, deadline_seconds))
            time.sleep(0.1)
        self.mark()

    def _answers(self):
        libvirt.registerErrorHandler(_quiet, None)
        try:
            conn = libvirt.open(self.root_uri)
        except libvirt.libvirtError:
            return False
        conn.close()
        return True

    def kill(self):
        """SIGKILL the daemon: every client connection is lost at once; QEMU processes live on."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None
        # Only now: closing a connection asks a (maybe stopped) daemon, a dead one answers at once.
        self.disconnect()

    def stop(self):
        self.disconnect()
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def conn(self):
        """The test's own connection to the session (a fresh one after each start)."""
        if self._conn is None:
            libvirt.registerErrorHandler(_quiet, None)
            self._conn = libvirt.open(self.root_uri)
        return self._conn

    def disconnect(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except libvirt.libvirtError:
                pass
            self._conn = None

    # ------------------------------------------------------------ what the daemon did

    def mark(self):
        """Count from here on."""
        self._log_offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0

    def _since_mark(self):
        with open(self.log, 'rb') as handle:
            handle.seek(self._log_offset)
            return handle.read()

    def rpc_count(self, proc_number):
        """How many calls of that RPC procedure the daemon dispatched since :meth:`mark`."""
        return sum(1 for number in _DISPATCH.findall(self._since_mark()) if int(number) == proc_number)

    def powerdowns(self):
        """How many ACPI shutdown requests the daemon sent to QEMU since :meth:`mark`."""
        return sum(1 for line in self._since_mark().splitlines()
                   if _POWERDOWN in line and _POWERDOWN_CMD in line)

    def kill_when(self, condition, still_running, deadline_seconds=300, slice_seconds=0.002):
        """Kill the daemon as soon as ``condition()`` holds, while ``still_running()``.

        The daemon is held stopped (SIGSTOP) and let run in short slices, with a look at
        its log between them, so the kill lands where asked even on a loaded machine where
        a free-running daemon would finish first.  Returns what ``condition()`` returned.
        """
        deadline = time.monotonic() + deadline_seconds
        self.pause()
        try:
            while True:
                seen = condition()
                if seen:
                    self.kill()
                    return seen
                if not still_running():
                    raise AssertionError('the run ended before the daemon could be killed mid-run')
                if time.monotonic() > deadline:
                    raise AssertionError('the run did not reach the point to kill the daemon within %d s'
                                         % deadline_seconds)
                self.resume()
                time.sleep(slice_seconds)
                self.pause()
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.resume()

    # ------------------------------------------------------------ clean-up

    def remove_domains(self):
        conn = self.conn()
        for dom in conn.listAllDomains(0):
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()

    def remove(self):
        """Domains, daemon, any process left of the user, then the user and its home."""
        if self.home is None:
            return
        try:
            self.start()
            self.remove_domains()
        finally:
            self.stop()
            self.stop_user_processes()
            subprocess.run(['userdel', '--remove', self.user], check=False, capture_output=True)

    def stop_user_processes(self):
        """QEMU outlives a killed daemon; an autostarted daemon may linger: end them by pid."""
        for _attempt in range(50):
            pids = [pid for pid in _pids_of(self.uid) if pid != os.getpid()]
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)


def remove_stale_users(prefix):
    """Users ``<prefix><pid>`` whose test run died (no such pid any more) are ours to remove."""
    pattern = re.compile(r'^%s(\d+)$' % re.escape(prefix))
    for entry in pwd.getpwall():
        match = pattern.match(entry.pw_name)
        if match and not os.path.exists('/proc/%s' % match.group(1)):
            stale = SessionLibvirt(entry.pw_name).create_user()
            stale.stop_user_processes()
            subprocess.run(['userdel', '--remove', stale.user], check=False, capture_output=True)


def _pids_of(uid):
    pids = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                if os.stat('/proc/%s' % entry).st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids
