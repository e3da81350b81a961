# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A libvirtd that stops answering in the middle of a run, without touching the real one.

It also counts the connections a module opens.

:class:`StallingProxy` listens on a unix socket of its own and relays every client
connection to the system libvirtd's socket, so a module pointed at
``qemu+unix:///system?socket=<proxy>`` talks to the real daemon and real QEMU.  It reads
the client side message by message (libvirt's RPC framing: a 4-byte length, then the
program, version and procedure numbers) and, once the client has sent a given number of
calls of one procedure, stalls: from then on nothing is relayed in either direction on
any connection, keepalive pings included, and the connections stay open.  To the client
that is a daemon that hangs: nothing is refused, nothing is closed, nothing answers.

The call that triggers the stall is held, never delivered, so the daemon never acts on it.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import threading

SYSTEM_SOCKET = '/var/run/libvirt/libvirt-sock'
REMOTE_PROGRAM = 0x20008086
CALL = 0


class StallingProxy:
    """Relay to libvirtd until ``count`` calls of procedure ``proc`` were sent, then hang."""

    def __init__(self, path, proc=None, count=0, target=SYSTEM_SOCKET):
        """``proc=None``: relay everything, never stall."""
        self.path = str(path)
        self.target = target
        self.proc = proc
        self.count = count
        self.seen = 0
        # Client connections accepted so far: how many connections a module opened.
        self.connections = 0
        self.stalled = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listener = None
        self._threads = []
        self._sockets = []

    @property
    def uri(self):
        return 'qemu+unix:///system?socket=%s' % self.path

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self._spawn(self._accept)
        return self

    def stall(self):
        self.stalled.set()

    def close(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for sock in self._sockets + [self._listener]:
            try:
                sock.close()
            except OSError:
                pass
        if os.path.exists(self.path):
            os.unlink(self.path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc):
        self.close()

    # ------------------------------------------------------------ relaying

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _address = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            daemon.connect(self.target)
            self._sockets += [client, daemon]
            self._spawn(self._relay, client, daemon)

    def _calls(self, buffer):
        """Split the complete messages off the front of ``buffer``."""
        messages = []
        while len(buffer) >= 4:
            length = struct.unpack('>I', bytes(buffer[:4]))[0]
            if len(buffer) < length:
                break
            message = bytes(buffer[:length])
            del buffer[:length]
            messages.append(message)
        return messages

    def _triggers(self, message):
        if self.proc is None or len(message) < 28:
            return False
        program, _version, proc, kind = struct.unpack('>IIII', message[4:20])
        if program != REMOTE_PROGRAM or kind != CALL or proc != self.proc:
            return False
        with self._lock:
            self.seen += 1
            return self.seen >= self.count

    def _relay(self, client, daemon):
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ)
        selector.register(daemon, selectors.EVENT_READ)
        pending = bytearray()
        while not self._stop.is_set():
            if self.stalled.is_set():
                # Hang: read nothing more, answer nothing, close nothing.
                self._stop.wait(0.2)
                continue
            for key, _events in selector.select(0.2):
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b''
                if not data:
                    return
                if key.fileobj is daemon:
                    if not self.stalled.is_set():
                        client.sendall(data)
                    continue
                pending += data
                for message in self._calls(pending):
                    if self.stalled.is_set() or self._triggers(message):
                        self.stalled.set()
                        break
                    daemon.sendall(message)
