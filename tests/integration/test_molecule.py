# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The molecule scenarios under extensions/molecule, run as they are run by hand."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.collection_path import REPO_ROOT
from tests.support.libvirt_env import ansible_env

EXTENSIONS = os.path.join(REPO_ROOT, 'extensions')
SCENARIOS = sorted(name for name in os.listdir(os.path.join(EXTENSIONS, 'molecule'))
                   if os.path.exists(os.path.join(EXTENSIONS, 'molecule', name, 'molecule.yml')))


def test_there_is_a_scenario_for_each_role():
    assert set(os.listdir(os.path.join(REPO_ROOT, 'roles'))) <= set(SCENARIOS)


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_molecule_scenario(scenario):
    env = ansible_env()
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'molecule'), 'test', '-s', scenario],
                          cwd=EXTENSIONS, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-15000:] + proc.stderr[-5000:]
    assert 'idempotence' in proc.stdout + proc.stderr
