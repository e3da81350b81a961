# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for tests on a real Debian 12 guest VM (see docs/test-guests.md).

- ``guest_image`` (session): the cached image, built on first use (about two minutes cold).
- ``guest_vms`` (function) and ``module_guest_vms`` (module): make ``GuestVM`` objects named
  ``sst-it-<pid>-g-<label>-<n>`` (so the parent conftest's leftover sweep knows them),
  defined but not started; every one is destroyed, undefined and its overlay removed after.
  One boot costs about 15 s under TCG: share a module-scoped VM where tests allow.

A failing test that made guests gets each guest's serial console tail in its report.
"""

from __future__ import annotations

import itertools
import os
import re

import pytest

from tests.support.guest_image import ensure_image
from tests.support.guest_vm import GuestVM, remove_stale

_counter = itertools.count()
_OURS = re.compile(r'^sst-it-(\d+)-')
_LIVE = []   # guests of the running tests, for failure reports


def _alive(pid):
    return os.path.exists('/proc/%d' % pid)


class GuestVMs:
    """Makes guest VMs for one test (or module) and removes every one afterwards."""

    def __init__(self, image, prefix):
        self.image = image
        self.prefix = prefix
        self.vms = []

    def new(self, label, **kwargs):
        vm = GuestVM('%s-%s-%d' % (self.prefix, label, next(_counter)), image=self.image, **kwargs)
        vm.define()
        self.vms.append(vm)
        _LIVE.append(vm)
        return vm

    def cleanup(self):
        for vm in self.vms:
            _LIVE.remove(vm)
            vm.cleanup()


@pytest.fixture(scope='session')
def guest_image(conn):
    remove_stale(conn, _OURS, _alive)
    return ensure_image()


def _prefix(node):
    label = re.sub(r'[^a-z0-9]+', '-', node.name.replace('test_', '', 1).lower())[:20].strip('-')
    return 'sst-it-%d-g-%s' % (os.getpid(), label)


@pytest.fixture
def guest_vms(guest_image, request):
    helper = GuestVMs(guest_image, _prefix(request.node))
    yield helper
    helper.cleanup()


@pytest.fixture(scope='module')
def module_guest_vms(guest_image, request):
    helper = GuestVMs(guest_image, _prefix(request.node))
    yield helper
    helper.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _LIVE:
        for vm in _LIVE:
            report.sections.append(('serial console of %s' % vm.name, vm.serial_tail(60)))
