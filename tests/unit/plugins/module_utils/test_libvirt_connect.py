# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connections that cannot hang: the bounds, and the words when a bound is hit.

The daemon that never answers is a listening socket on 127.0.0.1 that nobody reads:
the kernel accepts the connection, libvirt sends its first call and would wait forever.
tests/integration/test_hangs.py runs the modules and the report playbook against it and
against a real libvirtd that stops answering in the middle of a run.
"""

from __future__ import annotations

import socket
import threading
import time

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc


@pytest.fixture
def silent_uri():
    """A qemu+tcp URI whose "daemon" accepts connections and never reads them."""
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(16)
        yield 'qemu+tcp://127.0.0.1:%d/system' % listener.getsockname()[1]


@pytest.mark.parametrize('timeout', [1, 2, 3, 5, 7, 10, 30, 31, 60, 600])
def test_keepalive_gives_up_after_about_the_timeout(timeout):
    interval, count = lc.keepalive_settings(timeout)
    assert 1 <= interval <= lc.KEEPALIVE_INTERVAL and count >= 1
    # libvirt closes the connection after interval * (count + 1) silent seconds.
    given_up = interval * (count + 1)
    assert timeout - interval < given_up <= max(timeout, 2), (interval, count)


def test_the_default_is_virshs_own_keepalive():
    assert lc.keepalive_settings(lc.DEFAULT_TIMEOUT) == (5, 5)


def test_opening_a_silent_daemon_stops_waiting_after_the_timeout(silent_uri):
    started = time.monotonic()
    with pytest.raises(lc.ConnectTimeout):
        lc.open_connection(silent_uri, timeout=1)
    assert time.monotonic() - started < 10


def test_a_silent_daemon_is_a_clear_error_naming_uri_host_and_option(silent_uri):
    with pytest.raises(lc.StreamingError) as raised:
        lc.connect(silent_uri, read_only=True, timeout=1, read_only_why='this module only reads')
    msg = raised.value.msg
    assert msg.startswith('could not connect to libvirt at %s on %s (read-only, this module only reads): '
                          'no answer within 1 s (libvirt_timeout)' % (silent_uri, socket.gethostname())), msg
    assert "'virsh -r -c %s version'" % silent_uri in msg and 'raise libvirt_timeout' in msg
    assert raised.value.details == {'uri': silent_uri, 'timed_out': True}


def test_the_open_left_behind_does_not_hold_up_the_process(silent_uri):
    for _attempt in range(3):
        with pytest.raises(lc.ConnectTimeout):
            lc.open_connection(silent_uri, timeout=1)
    # The abandoned opens are daemon threads: they cannot keep the interpreter alive.
    assert all(thread.daemon for thread in threading.enumerate() if thread.name == 'libvirt-open')


def test_a_working_connection_opens_with_keepalive_where_the_driver_has_it():
    # test:/// has no daemon to ping; the connection works all the same.
    conn = lc.open_connection('test:///default', timeout=5)
    try:
        assert conn.getHostname()
    finally:
        conn.close()
    assert any(thread.name == 'libvirt-event-loop' for thread in threading.enumerate())


def test_a_refusal_is_libvirts_own_error():
    with pytest.raises(libvirt.libvirtError):
        lc.open_connection('qemu+unix:///system?socket=/nonexistent/sock', timeout=5)


@pytest.mark.parametrize('params, words', [
    ({'parallel': 0, 'libvirt_timeout': 30}, 'parallel must be between 1'),
    ({'parallel': lc.MAX_PARALLEL + 1, 'libvirt_timeout': 30}, 'and %d, got %d' % (lc.MAX_PARALLEL, lc.MAX_PARALLEL + 1)),
    ({'parallel': 1000, 'libvirt_timeout': 30}, "libvirtd's workers (max_workers, default 20)"),
    ({'parallel': 4, 'libvirt_timeout': 0}, 'libvirt_timeout must be at least 1 second, got 0'),
])
def test_option_problems_are_said_before_connecting(params, words):
    assert words in lc.option_problem(params)


def test_the_limits_themselves_are_fine():
    assert lc.option_problem({'parallel': 1, 'libvirt_timeout': 1}) is None
    assert lc.option_problem({'parallel': lc.MAX_PARALLEL, 'libvirt_timeout': 3600}) is None
