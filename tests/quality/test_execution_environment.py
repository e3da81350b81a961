# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment of docs/awx.md: `ansible-builder create` on the collection's tarball.

No image is built (no container registry is reachable here). What the build would install is
read the way the build reads it: the generated context's galaxy step installs the collection
from the context, and the context's own introspect script (the one its builder stage runs) reads
the collection's meta/execution-environment.yml, as the builder stage does before it installs
what it found.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys

import yaml

from tests.quality.test_gates import _run
from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import ansible_bin, ansible_env

BIN = os.path.dirname(sys.executable)
DEFINITION = os.path.join(REPO_ROOT, 'docs', 'execution-environment')


def test_ansible_builder_context_installs_the_collection_and_what_it_needs(tmp_path):
    installed = tmp_path / 'installed'
    # Only what this test installs is visible: not the checkout, not ~/.ansible.
    env = ansible_env()
    env['ANSIBLE_HOME'] = str(tmp_path / 'ansible-home')
    env['ANSIBLE_COLLECTIONS_PATH'] = str(installed)
    ee = tmp_path / 'ee'
    shutil.copytree(DEFINITION, str(ee))
    # As docs/awx.md says: the tarball beside the definition.
    proc, log = _run([ansible_bin('ansible-galaxy'), 'collection', 'build', '--output-path', str(ee)], env=env)
    assert proc.returncode == 0, log
    (tarball,) = glob.glob(str(ee / 'spice-streaming-*.tar.gz'))
    requirements = yaml.safe_load((ee / 'requirements.yml').read_text())
    assert requirements['collections'] == [{'name': 'collections/' + os.path.basename(tarball), 'type': 'file'}], \
        'docs/execution-environment/requirements.yml names another version than galaxy.yml builds'

    proc, log = _run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', 'execution-environment.yml',
                      '--context', 'context', '--output-filename', 'Containerfile', '-v', '3'],
                     cwd=str(ee), env=env)
    assert proc.returncode == 0, log
    context = ee / 'context'
    containerfile = (context / 'Containerfile').read_text()
    # The image installs the collection from the context, then what its introspection finds.
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in containerfile
    assert 'introspect.py introspect --write-bindep=/tmp/src/bindep.txt --write-pip=/tmp/src/requirements.txt' \
        in containerfile
    assert 'RUN /output/scripts/assemble' in containerfile and 'install-from-bindep' in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    assert 'ansible-core>=2.19,<2.20' in containerfile
    assert (context / '_build' / 'collections' / os.path.basename(tarball)).is_file()

    # The galaxy stage, here: install from the context's requirements.yml, in the context's _build.
    proc, log = _run([ansible_bin('ansible-galaxy'), 'collection', 'install', '-r', 'requirements.yml',
                      '-p', str(installed)], cwd=str(context / '_build'), env=env)
    assert proc.returncode == 0 and 'was installed successfully' in proc.stdout, log
    assert (installed / 'ansible_collections' / 'spice' / 'streaming' / 'meta' / 'execution-environment.yml').is_file()
    # The builder stage's introspection, with the context's own script.
    proc, log = _run([sys.executable, str(context / '_build' / 'scripts' / 'introspect.py'), 'introspect',
                      '--write-pip', str(tmp_path / 'pip.txt'), '--write-bindep', str(tmp_path / 'bindep.txt'),
                      str(installed)], env=env)
    assert proc.returncode == 0, log
    pip = [line.split('#')[0].strip() for line in (tmp_path / 'pip.txt').read_text().splitlines()]
    assert {'libvirt-python', 'lxml'} <= set(pip), pip
    bindep = [line.split('#')[0].strip() for line in (tmp_path / 'bindep.txt').read_text().splitlines()]
    # Every line of the collection's bindep.txt, for an RPM image as ansible-builder expects.
    ours = [line.strip() for line in open(os.path.join(REPO_ROOT, 'bindep.txt'), encoding='utf-8')
            if line.strip() and not line.startswith('#')]
    assert bindep == ours, bindep
    for package in ('python3-libvirt [platform:rpm]', 'python3-lxml [platform:rpm]', 'libvirt-client [platform:rpm]',
                    'openssh-clients [platform:rpm]', 'libvirt-devel [platform:rpm compile]', 'gcc [compile]',
                    'pkg-config [compile]'):
        assert package in bindep, package
