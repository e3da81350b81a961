# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A network between the controller and each simulated hypervisor: libvirtd's socket, relayed late.

bench_inventory.py simulates a fleet with one local libvirtd, where a read is never held up
by a network; on a real fleet every libvirt call waits a round trip, and that wait is what
reading hypervisors in parallel hides.  This process listens on one unix socket per
simulated hypervisor and relays each connection to the system libvirtd's socket, holding
every chunk of bytes, in both directions, for half the round-trip time before passing it
on (a client that points at ``qemu+unix:///system?socket=<path>`` talks to the real
daemon, one round trip slower per call).  Chunks that arrive together leave together, as
on a link with latency and ample bandwidth.  One thread, one ``selectors`` loop: it runs in a
process of its own so that its CPU time is not the measured reader's (the bench reads
this process's CPU seconds from /proc and prints them).

    python latency_proxy.py --rtt-ms 2 /tmp/hv01.sock /tmp/hv02.sock ...

prints ``ready`` on standard output when every socket listens; ends on SIGTERM.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import selectors
import signal
import socket
import sys
import time

SYSTEM_SOCKET = '/var/run/libvirt/libvirt-sock'


class LatencyProxy:
    def __init__(self, paths, rtt_seconds, target=SYSTEM_SOCKET):
        self.paths = paths
        self.delay = rtt_seconds / 2.0
        self.target = target
        self.selector = selectors.DefaultSelector()
        self.pending = []            # heap of (due, order, destination socket, bytes)
        self.order = itertools.count()
        self.peer = {}               # socket -> the socket its bytes go to
        self.running = True

    def listen(self):
        for path in self.paths:
            if os.path.exists(path):
                os.unlink(path)
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(path)
            server.listen(64)
            server.setblocking(False)
            self.selector.register(server, selectors.EVENT_READ, 'accept')

    def _accept(self, server):
        client, _addr = server.accept()
        daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        daemon.connect(self.target)
        for sock in (client, daemon):
            sock.setblocking(True)
            self.selector.register(sock, selectors.EVENT_READ, 'relay')
        self.peer[client], self.peer[daemon] = daemon, client

    def _close(self, sock):
        for one in (sock, self.peer.get(sock)):
            if one is None or one not in self.peer:
                continue
            self.selector.unregister(one)
            del self.peer[one]
            one.close()

    def _read(self, sock):
        try:
            data = sock.recv(1 << 20)
        except OSError:
            data = b''
        if not data:
            self._close(sock)
            return
        heapq.heappush(self.pending, (time.monotonic() + self.delay, next(self.order), self.peer[sock], data))

    def _send_due(self):
        now = time.monotonic()
        while self.pending and self.pending[0][0] <= now:
            _due, _order, destination, data = heapq.heappop(self.pending)
            if destination in self.peer:
                try:
                    destination.sendall(data)
                except OSError:
                    self._close(destination)

    def serve(self):
        while self.running:
            timeout = max(0.0, self.pending[0][0] - time.monotonic()) if self.pending else 1.0
            for key, _mask in self.selector.select(timeout):
                if key.data == 'accept':
                    self._accept(key.fileobj)
                else:
                    self._read(key.fileobj)
            self._send_due()

    def stop(self, *_args):
        self.running = False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--rtt-ms', type=float, required=True, help='round-trip time to simulate (ms)')
    parser.add_argument('--target', default=SYSTEM_SOCKET, help="libvirtd's socket (default the system one)")
    parser.add_argument('paths', nargs='+', help='the unix sockets to listen on, one per hypervisor')
    args = parser.parse_args(argv)
    proxy = LatencyProxy(args.paths, args.rtt_ms / 1000.0, args.target)
    signal.signal(signal.SIGTERM, proxy.stop)
    signal.signal(signal.SIGINT, proxy.stop)
    proxy.listen()
    print('ready', flush=True)
    try:
        proxy.serve()
    finally:
        for path in args.paths:
            if os.path.exists(path):
                os.unlink(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
