# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain lifecycle events of a real libvirtd, seen from a separate process.

A before/after comparison misses a domain that is defined and removed again
while a command runs; libvirt's lifecycle events do not.  libvirt's event loop
is process-wide state, so the watcher runs in a child process
(``python tests/support/libvirt_events.py URI PREFIX...``) that prints ``ready``
once subscribed and then one JSON line per event of a domain whose name starts
with one of the prefixes.  :class:`EventWatcher` drives it from a test.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time

EVENTS = ('DEFINED', 'UNDEFINED', 'STARTED', 'SUSPENDED', 'RESUMED', 'STOPPED', 'SHUTDOWN',
          'PMSUSPENDED', 'CRASHED')


class EventWatcher:
    """Lifecycle events of domains named ``prefix...`` on ``uri``, collected while the watcher runs."""

    def __init__(self, uri, prefixes, timeout=30):
        self.events = []
        self._lines = queue.Queue()
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), uri, *prefixes],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        line = self._next(timeout)
        if line != 'ready':
            self.stop()
            raise AssertionError('the libvirt event watcher did not start: %r %s' % (line, self.proc.stderr.read()))

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def _next(self, timeout):
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait_for(self, name, event, timeout=30):
        """Collect events until ``name`` reports ``event``; every event seen is kept in ``events``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self._next(max(0.0, deadline - time.monotonic()))
            if line is None:
                break
            self.events.append(json.loads(line))
            if self.events[-1] == {'name': name, 'event': event}:
                return
        raise AssertionError('no %s event for %s within %d s; seen: %s' % (event, name, timeout, self.events))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _watch(uri, prefixes):
    import libvirt  # pylint: disable=import-outside-toplevel

    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.openReadOnly(uri)

    def lifecycle(_conn, dom, event, _detail, _opaque):
        if dom.name().startswith(tuple(prefixes)):
            name = EVENTS[event] if event < len(EVENTS) else str(event)
            print(json.dumps({'name': dom.name(), 'event': name}), flush=True)

    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None)
    print('ready', flush=True)
    while True:
        libvirt.virEventRunDefaultImpl()


if __name__ == '__main__':
    _watch(sys.argv[1], sys.argv[2:])
