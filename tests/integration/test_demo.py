# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``bash scripts/demo.sh --check`` on the real libvirtd: it defines and starts nothing.

The demo's domains have fixed names (spice-streaming-demo-*), so the real demo
is never run here: it would collide with an administrator's demo or another
run.  The check run is read-only, which is what this test proves, with the
demo domains absent (a fresh host).  libvirt's lifecycle events are watched
while the script runs, so a domain defined and removed again would show too.
"""

from __future__ import annotations

import os
import subprocess
import sys

import libvirt
import pytest

from tests.support.libvirt_env import URI, domain_xml
from tests.support.libvirt_events import EventWatcher

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_PREFIX = 'spice-streaming-demo-'
DEMO_DOMAINS = ['spice-streaming-demo-desk1', 'spice-streaming-demo-desk2', 'spice-streaming-demo-kiosk-vnc']


def demo_domains(conn):
    return sorted(dom.name() for dom in conn.listAllDomains(0) if dom.name().startswith(DEMO_PREFIX))


def remove_domains(conn, names):
    for name in names:
        dom = conn.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        if dom.isPersistent():
            dom.undefine()


def test_check_mode_on_a_fresh_host_defines_and_starts_nothing(conn, domains):
    existing = demo_domains(conn)
    if existing:
        pytest.skip('demo domains exist on %s (%s): they may be an administrator\'s, and this test '
                    'would have to remove them to see a fresh host' % (URI, ', '.join(existing)))
    # A domain of this test, defined and removed after the script, marks the end of its
    # events: libvirt delivers them in order, so every event of the script came before.
    sentinel = domains.name('sentinel')
    watcher = EventWatcher(URI, [DEMO_PREFIX, sentinel])
    try:
        env = dict(os.environ, LIBVIRT_URI=URI, ANSIBLE_NOCOLOR='1',
                   SPICE_STREAMING_VENV=os.path.dirname(os.path.dirname(sys.executable)))
        out = subprocess.run(['bash', os.path.join(REPO, 'scripts', 'demo.sh'), '--check'],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                             timeout=600, check=False)
        created = demo_domains(conn)
        domains.define('sentinel', domain_xml).undefine()
        watcher.wait_for(sentinel, 'UNDEFINED')
    finally:
        watcher.stop()
        remove_domains(conn, [name for name in demo_domains(conn) if name not in existing])

    output = out.stdout + out.stderr
    assert out.returncode == 0, output
    assert created == [], output
    assert [event for event in watcher.events if event['name'] != sentinel] == [], output
    for name in DEMO_DOMAINS:
        assert '%s does not exist; a real run would define it (check mode does not)' % name in output
    assert 'no demo domain exists yet, so there is nothing to check and nothing was changed' in output
    # Nothing to check: the playbook did not run, and the real run's closing line is not printed.
    assert 'ansible-playbook' not in output and 'run it again and nothing changes' not in output


def test_help_names_what_cleanup_removes():
    out = subprocess.run(['bash', os.path.join(REPO, 'scripts', 'demo.sh'), '--help'],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=True)
    assert 'remove EVERY domain named spice-streaming-demo-* on' in out.stdout
    assert out.stderr == ''


def test_event_watcher_sees_a_define_and_a_start(conn, domains):
    """The watcher the check-mode test relies on does report what that test must not see."""
    name = domains.name('seen')
    watcher = EventWatcher(URI, [name])
    try:
        dom = domains.define('seen', domain_xml)
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        dom.destroy()
        dom.undefine()
        watcher.wait_for(name, 'UNDEFINED')
    finally:
        watcher.stop()
    seen = [event['event'] for event in watcher.events]
    # Between them libvirt also reports the pause and the QEMU shutdown.
    assert seen[:2] == ['DEFINED', 'STARTED'] and seen[-2:] == ['STOPPED', 'UNDEFINED'], seen
