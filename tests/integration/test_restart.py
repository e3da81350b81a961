# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""restart=when_needed on the real libvirtd: changes that take effect, and every way it can go wrong.

The domains here have no operating system, so they ignore the ACPI power button: the
path where a guest does not shut down in time (left running, or forced off when
asked).  A real guest that shuts down cleanly is tested in tests/integration/guest/.
A start that fails is real too: the domain's emulator is a wrapper around QEMU that
refuses to start a command line carrying the stream channel, as a broken host would.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile

import libvirt
import pytest

from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM,
    URI,
    VIRTIO_SERIAL,
    domain_xml,
    run_module,
)

MODULE = 'spice.streaming.libvirt_domain'
ENABLE = {'streaming_mode': 'filter', 'agent_channel': 'present'}


def args(names, **extra):
    merged = {'uri': URI, 'name': names, 'restart': 'when_needed', 'shutdown_timeout': 3}
    merged.update(ENABLE)
    merged.update(extra)
    return merged


def live_has_stream(domains, name):
    live = domains.live_xml(name)
    return "name='%s'" % STREAM in live and "<streaming mode='filter'/>" in live


def running(domains, name):
    return domains.conn.lookupByName(name).state()[0] == libvirt.VIR_DOMAIN_RUNNING


def start_running(domains, label, **kwargs):
    """A diskless domain running (not paused) in its firmware: it ignores ACPI."""
    dom = domains.define(label, lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)), **kwargs)
    dom.create()
    return domains.name(label)


def test_check_mode_names_what_would_restart_and_touches_nothing(domains):
    name = start_running(domains, 'run')
    domains.define('off', domain_xml)
    before = domains.snapshot()
    check = run_module(MODULE, args([domains.prefix + '-*']), check=True)
    assert not check.failed, check
    assert check.domain(name)['restart']['state'] == 'would_restart', check
    assert domains.name('off') not in check.result['report'].get('would_restart', {})
    assert domains.snapshot() == before


def test_a_guest_that_ignores_acpi_is_left_running_then_forced_off_when_asked(domains):
    name = start_running(domains, 'deaf')
    paused = domains.name('paused')
    domains.define('paused', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)), start=True)
    off = domains.name('off')
    domains.define('off', domain_xml)

    first = run_module(MODULE, args([domains.prefix + '-*']))
    assert not first.failed, first
    for waiting in (name, paused):
        assert first.domain(waiting)['restart']['state'] == 'left_running', first
        assert waiting in first.result['restart_required']
        assert not live_has_stream(domains, waiting)
    assert 'did not shut down within 3 s' in first.domain(name)['restart']['reason']
    assert 'it is paused' in first.domain(paused)['restart']['reason']
    assert running(domains, name)
    assert any('force_off' in warning for warning in first.result['warnings'])
    assert first.result['restarted_domains'] == []
    assert not domains.conn.lookupByName(off).isActive()

    forced = run_module(MODULE, args([domains.prefix + '-*'], force_off=True))
    assert not forced.failed, forced
    assert sorted(forced.result['restarted_domains']) == sorted([name, paused]), forced
    assert 'forced off after 3 s' in forced.domain(name)['restart']['reason']
    assert live_has_stream(domains, name) and live_has_stream(domains, paused)
    assert running(domains, name)
    state = domains.conn.lookupByName(paused).state()[0]
    assert state == libvirt.VIR_DOMAIN_PAUSED, 'a paused domain comes back paused'
    assert forced.result['restart_required'] == []
    # Nothing that was shut off got started.
    assert not domains.conn.lookupByName(off).isActive()

    again = run_module(MODULE, args([domains.prefix + '-*'], force_off=True))
    assert not again.changed and again.result['restarted_domains'] == [], again


def test_restarts_come_in_batches_and_only_where_the_definition_is_ahead(domains):
    names = [start_running(domains, 'b%d' % index) for index in range(3)]
    # Already what its definition says: no restart.
    settled = domains.name('settled')
    domains.define('settled', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)).replace(
        "<listen type='none'/>", "<listen type='none'/>\n      <streaming mode='filter'/>").replace(
        '</devices>', "<channel type='spiceport'><source channel='%s'/><target type='virtio' name='%s'/>"
                      '</channel></devices>' % (STREAM, STREAM)))
    domains.conn.lookupByName(settled).create()
    pid_before = domains.qemu_cmdline(settled)
    run = run_module(MODULE, args([domains.prefix + '-*'], force_off=True, shutdown_timeout=1,
                                  restart_batch=2))
    assert not run.failed, run
    assert sorted(run.result['restarted_domains']) == sorted(names)
    assert run.domain(settled)['restart'] is None
    assert domains.qemu_cmdline(settled) == pid_before
    for name in names:
        assert live_has_stream(domains, name)


def test_a_definition_changed_by_an_earlier_run_is_made_effective_later(domains):
    name = start_running(domains, 'later')
    first = run_module(MODULE, args([name], restart='never'))
    assert first.changed and first.result['restart_required'] == [name], first
    second = run_module(MODULE, args([name], force_off=True))
    assert second.changed and second.result['restarted_domains'] == [name], second
    assert second.domain(name)['actions'] == []
    assert live_has_stream(domains, name)


@pytest.fixture
def emulator():
    """Makes QEMU wrappers: real QEMU, except that they refuse some command lines, as a broken host would."""
    folder = tempfile.mkdtemp(prefix='sst-emulator-', dir='/var/tmp')
    os.chmod(folder, 0o755)

    def make(refused, label, when=''):
        """A wrapper that refuses a command line with an argument containing ``refused``.

        ``when``: a file; the wrapper refuses everything once it exists (and only then).
        """
        path = os.path.join(folder, 'qemu-refuses-%s' % re.sub(r'[^a-z0-9]+', '-', label))
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write('#!/bin/sh\n'
                         '# Test double of a broken host: real QEMU, except with %s.\n'
                         '%s'
                         'for arg in "$@"; do\n'
                         '  case "$arg" in *%s*) echo "refusing %s (test wrapper)" >&2; sleep 1; exit 1;; esac\n'
                         'done\n'
                         'exec /usr/bin/qemu-system-x86_64 "$@"\n' % (
                             label,
                             'if [ -e %s ]; then echo "refusing to start (test wrapper)" >&2; sleep 1; exit 1; fi\n'
                             % when if when else '',
                             refused, label))
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP
                 | stat.S_IROTH)
        return path

    make.folder = folder
    yield make
    shutil.rmtree(folder)


@pytest.fixture
def refusing_emulator(emulator):
    """A QEMU wrapper that refuses any command line carrying the stream port."""
    return emulator(STREAM, 'the stream channel')


def _with_emulator(emulator, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)):
    return lambda n: domain_xml(n, devices=devices).replace('/usr/bin/qemu-system-x86_64', emulator)


@pytest.mark.parametrize('backup', [True, False], ids=['from the backup', 'from the live state'])
def test_a_domain_that_fails_to_start_gets_its_previous_definition_back_and_runs(
        domains, refusing_emulator, tmp_path, backup):
    dom = domains.define('broken', _with_emulator(refusing_emulator))
    dom.create()
    name = domains.name('broken')
    original = domains.inactive_xml(name)
    run = run_module(MODULE, args([name], force_off=True, backup=backup,
                                  backup_dir=str(tmp_path / 'backups')))
    assert run.failed, run
    restart = run.domain(name)['restart']
    assert restart['state'] == 'rolled_back', run
    # libvirt's words: the wrapper's line from QEMU's log, or the monitor it never saw.
    assert 'did not start with its new definition (' in restart['reason'], restart
    assert 'refusing the stream channel' in restart['reason'] or 'monitor' in restart['reason'], restart
    assert name in run.result['failed_domains'] and 'did not start' in run.result['msg']
    # It runs again, with what it had: no stream channel, no mode.
    assert running(domains, name)
    assert STREAM not in domains.live_xml(name)
    restored = domains.inactive_xml(name)
    assert STREAM not in restored and '<streaming' not in restored
    if backup:
        assert restored == original


def test_a_domain_shut_off_meanwhile_is_not_started(domains):
    name = start_running(domains, 'gone')
    run = run_module(MODULE, args([name], restart='never'))
    assert run.result['restart_required'] == [name]
    domains.conn.lookupByName(name).destroy()
    again = run_module(MODULE, args([name], force_off=True))
    assert not again.failed and again.domain(name)['restart'] is None, again
    assert not domains.conn.lookupByName(name).isActive()


def test_a_rollback_without_backup_takes_out_the_controller_it_added_and_nothing_else(domains, emulator):
    """A host that cannot start the domain with a virtio-serial controller: the rollback removes it."""
    path = emulator('virtio-serial', 'the virtio-serial controller')
    domains.define('noctl', _with_emulator(path, devices=(SPICE_GRAPHICS,))).create()
    name = domains.name('noctl')
    original = domains.inactive_xml(name)
    run = run_module(MODULE, args([name], force_off=True))
    assert run.failed, run
    restart = run.domain(name)['restart']
    assert restart['state'] == 'rolled_back', run
    assert 'refusing the virtio-serial controller' in restart['reason'] or 'monitor' in restart['reason'], restart
    assert running(domains, name)
    assert "<controller type='virtio-serial'" not in domains.live_xml(name)
    assert domains.inactive_xml(name) == original, 'exactly what the task added was taken out'
    assert name not in run.result['restart_required']


def test_a_domain_left_down_by_a_failed_rollback_is_a_failure_not_a_wait(domains, emulator):
    marker = os.path.join(emulator.folder, 'broken')
    path = emulator(STREAM, 'everything', when=marker)
    domains.define('down', _with_emulator(path)).create()
    name = domains.name('down')
    with open(marker, 'w', encoding='utf-8'):
        pass    # from now on this host starts nothing
    run = run_module(MODULE, args([name], force_off=True))
    assert run.failed, run
    restart = run.domain(name)['restart']
    assert restart['state'] == 'down', run
    assert 'it is SHUT OFF now' in restart['reason'] and 'virsh -c %s start %s' % (URI, name) in restart['reason']
    assert '  ' not in restart['reason'], restart['reason']
    assert name in run.result['failed_domains'] and 'SHUT OFF' in run.result['msg']
    # A failure, never a domain waiting for a cold start.
    assert name not in run.result['restart_required'], run.result['restart_required']
    assert run.domain(name)['restart_required'] == []
    assert name not in run.result['report'].get('waiting_for_cold_start', {})
    assert 'SHUT OFF' in run.result['report']['failed'][name]
    assert not domains.conn.lookupByName(name).isActive()


def test_check_mode_predicts_that_a_paused_domain_is_left_running(domains):
    domains.define('paused', lambda n: domain_xml(n, devices=(VIRTIO_SERIAL, SPICE_GRAPHICS)), start=True)
    name = domains.name('paused')
    check = run_module(MODULE, args([name]), check=True)
    real = run_module(MODULE, args([name]))
    assert not check.failed and not real.failed, (check, real)
    assert real.domain(name)['restart']['state'] == 'left_running', real
    assert check.domain(name)['restart'] == real.domain(name)['restart'], (check, real)
    assert check.result['report'].get('would_restart', {}) == {}
    assert check.result['restart_required'] == real.result['restart_required'] == [name]
    assert check.result['warnings'] == real.result['warnings']
    assert domains.conn.lookupByName(name).state()[0] == libvirt.VIR_DOMAIN_PAUSED

    forced = run_module(MODULE, args([name], force_off=True), check=True)
    assert forced.domain(name)['restart']['state'] == 'would_restart', forced
    assert 'forces it off at once (it is paused' in forced.domain(name)['restart']['reason']
