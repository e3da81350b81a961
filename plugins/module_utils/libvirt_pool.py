# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Spread per-domain libvirt work over a few connections, one thread each.

libvirtd answers each client connection with its pool of worker threads, and
libvirt-python releases the GIL while a call waits on the daemon.  So N threads,
each owning one connection, keep N calls in flight where one connection keeps
one: reads and defines of a thousand domains finish sooner than any serial loop.

Each connection counts as one client of the daemon and has at most one call in
flight, so a pool of N needs N of the daemon's ``max_clients`` and N of its
``max_workers`` (libvirtd defaults: 5000 and 20); ``max_client_requests`` (5 per
client) is never the limit.  So ``parallel`` is capped (``MAX_PARALLEL``, half of
the default ``max_workers``), and the pool opens its connections when there is
work for them, never more than there are items to spread: one domain needs no
second connection.  When the daemon refuses a connection, the pool runs with the
ones it has and says so.  Every connection is opened by ``libvirt_connect``, so none
can hang.

The callers keep every guarantee of the serial code: each item runs on exactly
one connection, results come back in the items' order, and a lost connection
stops every worker before it takes another item.
"""

from __future__ import annotations

import functools
import threading

from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import (
    DEFAULT_TIMEOUT,
    MAX_PARALLEL,
    ConnectTimeout,
    error_words,
    libvirt,
    open_connection,
)

NOT_STARTED = object()


class Worker:
    """One connection and the domains as that connection sees them."""

    def __init__(self, conn, main=False):
        self.conn = conn
        self.main = main
        self._domains = None

    def domain(self, selected):
        """``selected.dom`` on the main connection; the same domain on this one otherwise.

        The same domain is the one with the same UUID (a local attribute of the
        domain object, no call): a domain renamed meanwhile is still found, and a
        new domain that took the name of one undefined meanwhile is never taken for it.
        """
        if self.main:
            return selected.dom
        uuid = selected.dom.UUIDString()
        if self._domains is None:
            # One list call per connection, instead of one lookup per domain.
            self._domains = {dom.UUIDString(): dom for dom in self.conn.listAllDomains(0)}
        dom = self._domains.get(uuid)
        if dom is None:
            # Defined after this connection listed; libvirt answers "no domain" if it is gone.
            dom = self.conn.lookupByUUIDString(uuid)
        return dom


class Outcome:
    """What one item came to: ``value``, or the exception it raised, or not started."""

    __slots__ = ('value', 'error')

    def __init__(self, value=NOT_STARTED, error=None):
        self.value = value
        self.error = error

    @property
    def started(self):
        return self.value is not NOT_STARTED or self.error is not None


class ConnectionPool:
    """Up to ``size`` connections to one URI: the caller's own, and the others opened here
    when :meth:`map` has work for them (at most ``MAX_PARALLEL`` in all)."""

    def __init__(self, conn, uri, size=1, read_only=False, opener=None, timeout=DEFAULT_TIMEOUT):
        self.uri = uri
        self.wanted = max(1, min(size, MAX_PARALLEL))
        self.workers = [Worker(conn, main=True)]
        self.asked = 1
        self.refused = None
        self._opener = opener or functools.partial(open_connection, read_only=read_only, timeout=timeout)

    @property
    def size(self):
        return len(self.workers)

    def _grow(self, count):
        """Have ``count`` connections (never more than ``size``), unless the daemon refused one."""
        count = min(count, self.wanted)
        self.asked = max(self.asked, count)
        while self.size < count and self.refused is None:
            try:
                self.workers.append(Worker(self._opener(self.uri)))
            except (libvirt.libvirtError, ConnectTimeout) as err:
                # The daemon's max_clients (or a policy) said no, or it did not answer in
                # time: run with what we have.
                self.refused = error_words(err)

    def note(self):
        """A sentence when the daemon gave fewer connections than asked, else None."""
        if self.size >= self.asked:
            return None
        return ('libvirt at %s accepted %d of the %d connections asked for (%s); the task ran with %d'
                % (self.uri, self.size, self.asked, self.refused, self.size))

    def map(self, func, items):
        """``func(worker, item)`` for every item; a list of :class:`Outcome` in the items' order.

        ``func`` deals with an item's own failures.  An exception it raises (a lost
        connection, a bug) stops every worker before its next item; the outcomes
        then say which items finished, which raised, and which nobody started, and
        :func:`first_error` gives the exception to act on.
        """
        items = list(items)
        outcomes = [Outcome() for _item in items]
        self._grow(len(items))
        if self.size == 1 or len(items) < 2:
            for index, item in enumerate(items):
                if not self._run_one(func, self.workers[0], item, outcomes[index]):
                    break
            return outcomes
        lock = threading.Lock()
        position = [0]
        stop = threading.Event()

        def work(worker):
            while not stop.is_set():
                with lock:
                    index = position[0]
                    if index >= len(items):
                        return
                    position[0] += 1
                if not self._run_one(func, worker, items[index], outcomes[index]):
                    stop.set()

        threads = [threading.Thread(target=work, args=(worker,), daemon=True)
                   for worker in self.workers[:len(items)]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return outcomes

    @staticmethod
    def _run_one(func, worker, item, outcome):
        """Run one item; False when it raised, which stops the run."""
        try:
            outcome.value = func(worker, item)
        except Exception as err:  # pylint: disable=broad-exception-caught
            outcome.error = err
            return False
        return True

    def close(self):
        """Close the connections this pool opened (never the caller's own)."""
        for worker in self.workers[1:]:
            try:
                worker.conn.close()
            except libvirt.libvirtError:
                pass


def first_error(outcomes):
    """The exception of the first item (in the items' order) that raised, or None."""
    return next((outcome.error for outcome in outcomes if outcome.error is not None), None)
