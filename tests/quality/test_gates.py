# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's quality gates, as tests: ansible-doc, ansible-lint, ansible-test
sanity, antsibull-changelog, and a built tarball that installs and works."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import ansible_bin, ansible_env

BIN = os.path.dirname(sys.executable)


def _names(folder, suffix):
    return sorted(os.path.basename(path)[:-len(suffix)] for path in
                  glob.glob(os.path.join(REPO_ROOT, 'plugins', folder, '*' + suffix))
                  if not path.endswith('__init__.py'))


# Filters are documented in sidecar YAML files, one per filter.
PLUGINS = ([('module', name) for name in _names('modules', '.py')]
           + [('filter', name) for name in _names('filter', '.yml')]
           + [('inventory', name) for name in _names('inventory', '.py')]
           + [('role', name) for name in sorted(os.listdir(os.path.join(REPO_ROOT, 'roles')))])


def _run(command, cwd=REPO_ROOT, timeout=1800, env=None):
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env or ansible_env(), check=False)
    return proc, '$ %s\n%s\n%s' % (' '.join(command), proc.stdout[-20000:], proc.stderr[-8000:])


@pytest.mark.parametrize('kind,name', PLUGINS, ids=['%s:%s' % p for p in PLUGINS])
def test_ansible_doc_renders(kind, name):
    proc, log = _run([ansible_bin('ansible-doc'), '-t', kind, 'spice.streaming.' + name])
    assert proc.returncode == 0, log
    assert 'spice.streaming.' + name in proc.stdout and 'ERROR' not in proc.stderr, log


def test_every_plugin_is_documented():
    modules = {name for kind, name in PLUGINS if kind == 'module'}
    assert {'libvirt_domain', 'qemu_cmdline'} <= modules
    assert ('filter', 'qemu_args') in PLUGINS
    assert 'libvirt_domain_info' in modules and ('filter', 'streaming_report') in PLUGINS
    assert ('role', 'host_streaming') in PLUGINS
    assert ('inventory', 'desktops') in PLUGINS


def test_ansible_lint_production_profile(tmp_path):
    env = ansible_env()
    # ansible-lint installs the collection into its own cache; keep that out of ~/.ansible.
    env['ANSIBLE_HOME'] = str(tmp_path / 'ansible-home')
    proc, log = _run([os.path.join(BIN, 'ansible-lint'), '--profile', 'production', '--offline'],
                     env=env)
    assert proc.returncode == 0, log


def _collection_files():
    tracked = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                             cwd=REPO_ROOT, capture_output=True, check=True).stdout
    return [path for path in tracked.decode().split('\0')
            if path and os.path.exists(os.path.join(REPO_ROOT, path))]


def _stand_in_pip_bootstrap(home):
    """ansible-test's sanity venvs bootstrap pip with a script it downloads from a host
    this CI cannot reach; its documented alternative is a script in its cache
    (``~/.ansible/test/cache/get_pip_<version>.py``, under the HOME it runs with)."""
    import ansible_test
    source = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
    with open(source, encoding='utf-8') as handle:
        versions = set(re.findall(r"pip='([0-9.]+)'", handle.read()))
    assert versions, 'no pip version found in %s: ansible-test changed how it pins pip' % source
    for version in versions:
        cached = os.path.join(home, '.ansible', 'test', 'cache', 'get_pip_%s.py' % version.replace('.', '_'))
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        shutil.copy(os.path.join(REPO_ROOT, 'scripts', 'lib', 'ansible_test_get_pip.py'), cached)


def test_ansible_test_sanity(tmp_path):
    """ansible-test sanity on a copy of the collection, with a HOME of its own.

    ansible-test keeps its sanity venvs and its pip bootstrap script under
    ``~/.ansible/test`` and passes only PATH, HOME and a few variables to pip, which
    then reads the user's pip configuration (``~/.pip/pip.conf``,
    ``~/.config/pip/pip.conf``) and cache. All of that belongs to whoever used the
    machine before: another collection's venvs, an older bootstrap script, a pip
    configuration pointing at a private index. With a HOME made for this run the gate
    depends on none of it, and every run builds its venvs the way a fresh machine does.
    """
    home = tmp_path / 'home'
    root = tmp_path / 'ansible_collections' / 'spice' / 'streaming'
    for path in _collection_files():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO_ROOT, path), target)
    _stand_in_pip_bootstrap(str(home))
    env = ansible_env()
    env['HOME'] = str(home)
    proc, log = _run([os.path.join(BIN, 'ansible-test'), 'sanity', '--python',
                      '%d.%d' % sys.version_info[:2], '--requirements', '--color', 'no'],
                     cwd=str(root), timeout=2400, env=env)
    assert proc.returncode == 0, log
    assert 'ERROR' not in proc.stdout, log
    # The venvs were built under the HOME made for this run, not the user's.
    venvs = glob.glob(str(home / '.ansible' / 'test' / 'venv' / 'sanity.*'))
    assert venvs, 'ansible-test built no sanity venv under the HOME it was given:\n%s' % log


def test_changelog_lints():
    proc, log = _run([os.path.join(BIN, 'antsibull-changelog'), 'lint'])
    assert proc.returncode == 0, log


def test_built_tarball_installs_and_works(tmp_path):
    build, install = tmp_path / 'build', tmp_path / 'collections'
    # Only the installed copy is visible: not the checkout, not ~/.ansible.
    env = ansible_env()
    env['ANSIBLE_COLLECTIONS_PATH'] = str(install)
    env['ANSIBLE_HOME'] = str(tmp_path / 'ansible-home')
    proc, log = _run([ansible_bin('ansible-galaxy'), 'collection', 'build', '--output-path', str(build)], env=env)
    assert proc.returncode == 0, log
    tarballs = glob.glob(str(build / 'spice-streaming-*.tar.gz'))
    assert len(tarballs) == 1, log
    proc, log = _run([ansible_bin('ansible-galaxy'), 'collection', 'install', '-p', str(install), tarballs[0]],
                     env=env)
    assert proc.returncode == 0, log
    installed = install / 'ansible_collections' / 'spice' / 'streaming'
    assert (installed / 'plugins' / 'modules' / 'libvirt_domain.py').exists(), log
    for unwanted in ('.venv', 'tests/output', 'scripts', '.ci'):
        assert not (installed / unwanted).exists(), unwanted

    proc, log = _run([ansible_bin('ansible-doc'), 'spice.streaming.libvirt_domain'], env=env)
    assert proc.returncode == 0 and str(installed) in proc.stdout, log
    # The installed module runs; libvirt's in-process test driver needs no daemon.
    proc, log = _run([ansible_bin('ansible'), 'localhost', '-c', 'local', '--check',
                      '-e', 'ansible_python_interpreter=/usr/bin/python3',
                      '-m', 'spice.streaming.libvirt_domain',
                      '-a', '{"uri": "test:///default", "name": ["test"], "agent_channel": "absent"}'],
                     env=env)
    assert proc.returncode == 0 and 'SUCCESS' in proc.stdout, log
    proc, log = _run([ansible_bin('ansible'), 'localhost', '-c', 'local', '-m', 'ansible.builtin.debug',
                      '-a', "msg={{ [] | spice.streaming.qemu_args(streaming_mode='filter', "
                            "agent_channel='present') }}"], env=env)
    assert proc.returncode == 0 and 'org.spice-space.stream.0' in proc.stdout, log
