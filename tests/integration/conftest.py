# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration fixtures: the real libvirtd on this machine, real QEMU domains.

Every domain a test makes is named ``sst-it-<pid>-...``, started paused when it must
run (QEMU is fully up, its command line and live XML are real, yet it burns no
CPU), and destroyed and undefined afterwards.
"""

from __future__ import annotations

import itertools
import os
import re
import time

import libvirt  # a missing binding fails the suite; it never skips it
import pytest

from tests.support.libvirt_env import URI, qemu_command_line

_counter = itertools.count()


def _quiet(_ctx, _err):
    pass


@pytest.fixture(scope='session')
def conn():
    libvirt.registerErrorHandler(_quiet, None)
    try:
        connection = libvirt.open(URI)
    except libvirt.libvirtError as err:
        pytest.fail('the integration tests need a running libvirtd at %s (scripts/test.sh starts '
                    'one): %s' % (URI, err), pytrace=False)
    _remove_leftovers(connection)
    yield connection
    connection.close()


_OURS = re.compile(r'^sst-it-(\d+)-')


def _remove_leftovers(connection):
    """A run that was killed leaves its sst-it-<pid>-* domains behind; they are ours to remove.

    Domains of a test run that is still alive (another pytest on this machine) are not.
    """
    for dom in connection.listAllDomains(0):
        match = _OURS.match(dom.name())
        if match and not os.path.exists('/proc/%s' % match.group(1)):
            _remove(dom)


def _remove(dom):
    persistent = dom.isPersistent()   # a transient domain is gone once destroyed
    if dom.isActive():
        dom.destroy()
    if persistent:
        # A domain saved with 'virsh managedsave' keeps an image that plain undefine refuses.
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)


class Domains:
    """Makes domains for one test and removes them afterwards."""

    def __init__(self, conn, prefix):
        self.conn = conn
        self.prefix = prefix
        self.names = []

    def name(self, label):
        return '%s-%s' % (self.prefix, label)

    def define(self, label, xml_factory, start=False, transient=False):
        name = self.name(label)
        xml = xml_factory(name)
        self.names.append(name)
        if transient:
            dom = self.conn.createXML(xml, libvirt.VIR_DOMAIN_START_PAUSED)
        else:
            dom = self.conn.defineXML(xml)
            if start:
                dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
        return dom

    def inactive_xml(self, name):
        return self.conn.lookupByName(name).XMLDesc(
            libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)

    def live_xml(self, name):
        return self.conn.lookupByName(name).XMLDesc(0)

    def snapshot(self):
        """Inactive and live XML of every domain of this test, to prove nothing changed."""
        state = {}
        for name in self.names:
            dom = self.conn.lookupByName(name)
            state[name] = (dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE),
                           dom.XMLDesc(0) if dom.isActive() else None, dom.isPersistent())
        return state

    def cold_restart(self, name):
        """Shut down and start again (paused), as an administrator's maintenance window would."""
        dom = self.conn.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)

    def qemu_cmdline(self, name):
        """QEMU's own command line, read from /proc: what QEMU really got."""
        return qemu_command_line(name)

    def cleanup(self):
        for name in self.names:
            try:
                dom = self.conn.lookupByName(name)
            except libvirt.libvirtError:
                continue
            _remove(dom)
        # libvirt releases a destroyed domain's name a moment after destroy returns.
        time.sleep(0.05)


@pytest.fixture
def domains(conn, request):
    label = re.sub(r'[^a-z0-9]+', '-', request.node.name.replace('test_', '', 1).lower())[:24].strip('-')
    helper = Domains(conn, 'sst-it-%d-%s-%d' % (os.getpid(), label, next(_counter)))
    yield helper
    helper.cleanup()


@pytest.fixture(scope='module')
def module_domains(conn, request):
    """Domains shared by the tests of one module, for scenarios that are costly to set up."""
    label = re.sub(r'[^a-z0-9]+', '-', request.module.__name__.rsplit('.', 1)[-1].replace('test_', '', 1).lower())
    helper = Domains(conn, 'sst-it-%d-%s-%d' % (os.getpid(), label[:24].strip('-'), next(_counter)))
    yield helper
    helper.cleanup()
