# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the mask_url filter: what the stream_agent role prints of stream_agent_package."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.filter.mask_url import FilterModule
from tests.support.libvirt_env import ansible_bin, ansible_env

mask_url = FilterModule().filters()['mask_url']


@pytest.mark.parametrize('url,shown', [
    ('https://user:s3cret@files.example.org/pool/agent_0.3-1_amd64.deb',
     'https://user:********@files.example.org/pool/agent_0.3-1_amd64.deb'),
    ('https://glpat-TOKEN@gitlab.example.org/agent.deb', 'https://********@gitlab.example.org/agent.deb'),
    ('https://gitlab.example.org/api/v4/projects/7/packages/generic/agent/0.3/agent.deb?private_token=glpat-x',
     'https://gitlab.example.org/api/v4/projects/7/packages/generic/agent/0.3/agent.deb?private_token=********'),
    ('https://bucket.s3.amazonaws.com/agent.rpm?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ab12&flag',
     'https://bucket.s3.amazonaws.com/agent.rpm?X-Amz-Credential=********&X-Amz-Signature=********&********'),
    ('ftp://u:p@ss@mirror.example.org:2121/agent.deb;type=i#frag',
     'ftp://u:********@mirror.example.org:2121/agent.deb;type=i#********'),
    ('http://127.0.0.1:8080/agent.deb', 'http://127.0.0.1:8080/agent.deb'),
    ('http://mirror.example.org', 'http://mirror.example.org'),
    ('http://mirror.example.org?', 'http://mirror.example.org?'),
])
def test_credentials_are_masked_and_the_rest_stays(url, shown):
    assert mask_url(url) == shown
    assert mask_url(shown) == shown


@pytest.mark.parametrize('path', ['files/agent.deb', '/srv/agent?.deb', 'user:pass@host.deb', ''])
def test_a_path_is_not_a_url(path):
    assert mask_url(path) == path


def test_none_stays_none_and_other_types_are_refused():
    assert mask_url(None) is None
    with pytest.raises(AnsibleFilterError, match='expects a string, not int'):
        mask_url(3)


def test_the_filter_runs_under_ansible(tmp_path):
    proc = subprocess.run(
        [ansible_bin('ansible'), 'localhost', '-c', 'local', '-i', 'localhost,', '-m', 'ansible.builtin.debug',
         '-a', "msg={{ 'https://a:b@h/p.deb?private_token=t' | spice.streaming.mask_url }}",
         '-e', 'ansible_python_interpreter=' + sys.executable],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path), env=ansible_env(), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"https://a:********@h/p.deb?private_token=********"' in proc.stdout, proc.stdout
