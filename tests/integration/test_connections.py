# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt connections, bounded in time and in number.

A libvirt that accepts connections and never answers: every task ends, and says where.

Two kinds of silence, both on 127.0.0.1 or a socket of the test's own:

* a listening TCP socket nobody reads (``qemu+tcp://127.0.0.1:PORT/system``): the kernel
  accepts the connection, libvirt sends its first call and, without a bound, waits forever;
* the real libvirtd behind :class:`StallingProxy`, which relays the module's calls until it
  has sent a given number of one kind, then relays nothing more, in either direction,
  keepalive pings included: a daemon that hangs in the middle of a run.

Each module run is given a generous wall-clock limit (``HANG``): a run that hangs fails the
test there instead of running for ever.
"""

from __future__ import annotations

import os
import re
import socket

import pytest
import yaml

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM_CHANNEL,
    VIRTIO_SERIAL,
    domain_xml,
    run_module,
    run_playbook,
)
from tests.support.session_libvirt import PROC_DOMAIN_DEFINE_XML, PROC_DOMAIN_GET_XML_DESC
from tests.support.stalling_proxy import StallingProxy

# Seconds the modules may wait for a silent libvirt in these tests (the default is 30).
TIMEOUT = 3
# Far above what a bounded run takes (start-up, TIMEOUT for each bound hit), far below forever.
HANG = 120
ENABLE = {'streaming_mode': 'filter', 'agent_channel': 'present'}
PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'streaming_report.yml')


@pytest.fixture
def silent_uri():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(16)
        yield 'qemu+tcp://127.0.0.1:%d/system' % listener.getsockname()[1]


def host():
    return socket.gethostname()


@pytest.mark.parametrize('module, check, read_only', [
    ('spice.streaming.libvirt_domain_info', False, ' (read-only, this module only reads)'),
    ('spice.streaming.libvirt_domain', False, ''),
    ('spice.streaming.libvirt_domain', True, ' (read-only, as check mode opens it)'),
])
def test_a_daemon_that_never_answers_fails_the_task_in_time(silent_uri, module, check, read_only):
    args = {'uri': silent_uri, 'name': ['*'], 'libvirt_timeout': TIMEOUT}
    if module.endswith('libvirt_domain'):
        args.update(ENABLE)
    run = run_module(module, args, check=check, timeout=HANG)
    assert run.failed and not run.changed, run
    msg = run.result['msg']
    assert msg.startswith('could not connect to libvirt at %s on %s%s: no answer within %d s '
                          '(libvirt_timeout)' % (silent_uri, host(), read_only, TIMEOUT)), msg
    assert 'raise libvirt_timeout' in msg and run.result['uri'] == silent_uri


def define_idle(domains, count):
    for index in range(count):
        domains.define('%02d' % index, lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)))
    return [domains.name('%02d' % index) for index in range(count)]


def test_info_on_a_daemon_that_hangs_mid_pass_stops_at_the_timeout(domains, tmp_path):
    names = define_idle(domains, 12)
    with StallingProxy(tmp_path / 'libvirt-sock', proc=PROC_DOMAIN_GET_XML_DESC, count=5) as proxy:
        run = run_module('spice.streaming.libvirt_domain_info',
                         {'uri': proxy.uri, 'name': [domains.prefix + '-*'], 'libvirt_timeout': TIMEOUT},
                         timeout=HANG)
        assert proxy.stalled.is_set()
    assert run.failed and not run.changed, run
    msg = run.result['msg']
    read = run.result['domains_read']
    assert read < len(names), run
    assert msg.startswith('lost the connection to libvirt at %s on %s after reading %d of %d selected domains'
                          % (proxy.uri, host(), read, len(names))), msg
    assert 'keepalive timeout' in msg, msg
    assert msg.count('lost the connection') == 1, msg


def test_a_converge_on_a_daemon_that_hangs_mid_pass_stops_at_the_timeout(domains, tmp_path):
    names = define_idle(domains, 10)
    before = domains.snapshot()
    with StallingProxy(tmp_path / 'libvirt-sock', proc=PROC_DOMAIN_DEFINE_XML, count=4) as proxy:
        run = run_module('spice.streaming.libvirt_domain',
                         dict(ENABLE, uri=proxy.uri, name=[domains.prefix + '-*'], parallel=2,
                              libvirt_timeout=TIMEOUT), timeout=HANG)
        assert proxy.stalled.is_set()
    assert run.failed and run.result.get('connection_lost') is True, run
    msg = run.result['msg']
    assert msg.startswith('lost the connection to libvirt at %s on %s while the domains were being changed ('
                          % (proxy.uri, host())), msg
    assert 'keepalive timeout' in msg and msg.count('lost the connection') == 1, msg
    done = run.result['changed_domains']
    assert 0 < len(done) < len(names), run
    # Every domain is untouched or converged; the held define never reached the daemon.
    after = domains.snapshot()
    converged = {name for name in names if STREAM_CHANNEL.split('\n', 1)[0] in after[name][0]
                 and "<streaming mode='filter'/>" in after[name][0]}
    assert set(done) <= converged
    assert all(after[name] == before[name] for name in set(names) - converged)


def test_the_report_is_written_when_one_hypervisor_hangs(domains, tmp_path, silent_uri):
    domains.define('ok', domain_xml)
    inventory = tmp_path / 'inventory.yml'
    local = {'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3'}
    inventory.write_text(yaml.safe_dump({'hypervisors': {'hosts': {
        'hv-ok': dict(local, host_streaming_domains=[domains.prefix + '-*']),
        'hv-hung': dict(local, host_streaming_uri=silent_uri, host_streaming_libvirt_timeout=TIMEOUT),
    }}}))
    report_dir = tmp_path / 'report'
    proc = run_playbook(PLAYBOOK, str(inventory), extra_vars={'streaming_report_dir': str(report_dir)},
                        timeout=HANG)
    # The report is written, then the hypervisor it could not read fails, and only that one.
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'hv-hung could not be read (failed), so the report' in proc.stdout, proc.stdout
    assert re.search(r'^hv-ok +: ok=\d+ +changed=\d+ +unreachable=0 +failed=0', proc.stdout, re.M), proc.stdout
    assert re.search(r'^hv-hung +: ok=\d+ +changed=\d+ +unreachable=0 +failed=1', proc.stdout, re.M), proc.stdout
    markdown = (report_dir / 'report.md').read_text()
    assert domains.name('ok') in markdown
    assert '### hv-hung (failed)' in markdown, markdown
    hung = markdown.split('### hv-hung (failed)', 1)[1]
    assert silent_uri in hung and 'no answer within %d s' % TIMEOUT in hung, hung
    assert (report_dir / 'index.html').exists()


# ------------------------------------------------------------------ how many connections


@pytest.mark.parametrize('module', ['spice.streaming.libvirt_domain', 'spice.streaming.libvirt_domain_info'])
def test_no_more_connections_than_domains_to_process(domains, tmp_path, module):
    names = define_idle(domains, 3)
    args = {'parallel': 10, 'libvirt_timeout': TIMEOUT}
    if module.endswith('libvirt_domain'):
        args.update(ENABLE)
    with StallingProxy(tmp_path / 'libvirt-sock') as proxy:
        one = run_module(module, dict(args, uri=proxy.uri, name=[names[0]]), timeout=HANG)
        assert not one.failed, one
        # One domain: the module's own connection and no other.
        assert proxy.connections == 1
        every = run_module(module, dict(args, uri=proxy.uri, name=[domains.prefix + '-*']), timeout=HANG)
        assert not every.failed, every
        # Three domains: three connections, not the ten asked for.
        assert proxy.connections == 1 + 3
    if module.endswith('libvirt_domain'):
        assert sorted(one.result['changed_domains'] + every.result['changed_domains']) == names


@pytest.mark.parametrize('module', ['spice.streaming.libvirt_domain', 'spice.streaming.libvirt_domain_info'])
def test_parallel_beyond_the_maximum_fails_before_connecting(domains, tmp_path, module):
    domains.define('cap', domain_xml)
    before = domains.snapshot()
    with StallingProxy(tmp_path / 'libvirt-sock') as proxy:
        run = run_module(module, dict(ENABLE if module.endswith('libvirt_domain') else {}, uri=proxy.uri,
                                      name=[domains.name('cap')], parallel=1000), timeout=HANG)
        assert proxy.connections == 0
    assert run.failed and not run.changed, run
    assert run.result['msg'].startswith('parallel must be between 1 (one connection, no threads) and 10, '
                                        'got 1000'), run.result['msg']
    assert domains.snapshot() == before
