# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the qemu_args filter: a thin layer over module_utils.qemu_command_line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.filter.qemu_args import FilterModule
from tests.support.libvirt_env import ansible_env

qemu_args = FilterModule().filters()['qemu_args']
STREAM = 'org.spice-space.stream.0'
FRAGMENT = [
    '-device', 'virtio-serial-pci,id=virtio-serial0',
    '-chardev', 'spiceport,name=%s,id=charchannel1' % STREAM,
    '-device', 'virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel1,id=channel1,name=%s' % STREAM,
]


def test_empty_input_gives_the_whole_set():
    assert qemu_args([], streaming_mode='filter', agent_channel='present') == \
        FRAGMENT + ['-spice', 'streaming-video=filter']


def test_none_input_is_an_empty_list():
    assert qemu_args(None, agent_channel='present') == FRAGMENT


def test_existing_spice_is_amended():
    args = ['-machine', 'q35', '-m', 2048, '-spice', 'port=5930,disable-ticketing=on']
    assert qemu_args(args, streaming_mode='all') == \
        ['-machine', 'q35', '-m', '2048', '-spice', 'port=5930,disable-ticketing=on,streaming-video=all']


def test_existing_controller_is_used():
    args = ['-device', 'virtio-serial-pci,id=vs', '-spice', 'port=1']
    assert qemu_args(args, agent_channel='present')[-1] == \
        'virtserialport,bus=vs.0,nr=1,chardev=charchannel1,id=channel1,name=%s' % STREAM


def test_string_input_is_split_like_systemd():
    assert qemu_args("-name 'desk 01' -spice port=1", streaming_mode='off') == \
        ['-name', 'desk 01', '-spice', 'port=1,streaming-video=off']


def test_round_trip_through_the_filter_is_stable():
    once = qemu_args(['-spice', 'port=1'], streaming_mode='filter', agent_channel='present')
    assert qemu_args(once, streaming_mode='filter', agent_channel='present') == once
    assert qemu_args(once, agent_channel='absent') == ['-spice', 'port=1,streaming-video=filter'] + FRAGMENT[:2]


def test_nothing_asked_returns_the_input():
    assert qemu_args(['-spice', 'port=1']) == ['-spice', 'port=1']


@pytest.mark.parametrize('value, kwargs, message', [
    (['-spice'], {'streaming_mode': 'all'}, '-spice at argument 1, the last one, has no value'),
    (['-spice=port=1'], {'streaming_mode': 'all'}, "QEMU does not accept '-spice=VALUE'"),
    ('-name "desk', {'streaming_mode': 'all'}, 'unbalanced double quote'),
    ([], {'streaming_mode': 'fast'}, "streaming_mode must be one of off, all, filter, not 'fast'"),
    ([], {'agent_channel': 'on'}, "agent_channel must be one of present, absent, not 'on'"),
    ({'spice': 'port=1'}, {}, None),
    (['-m', True], {}, 'argument 2 is True, not a string'),
    (['-device', '{"driver": '], {'agent_channel': 'present'}, '-device at argument 1 is not valid JSON'),
    (['-spice', 'port=1', '-chardev', 'pty,id=p', '-device', 'virtserialport,chardev=p,name=%s' % STREAM],
     {'agent_channel': 'present'}, "uses chardev 'p', a pty, not a spiceport"),
])
def test_bad_input_raises_a_filter_error(value, kwargs, message):
    with pytest.raises(AnsibleFilterError, match='^spice.streaming.qemu_args: ') as caught:
        qemu_args(value, **kwargs)
    if message:
        assert message in str(caught.value)


def test_secrets_stay_real_in_the_result():
    """The filter builds the command line QEMU runs: a masked password would lock users out."""
    args = ['-spice', 'port=5936,password=s3cr3t', '-object', 'secret,id=s0,data=d4t4']
    result = qemu_args(args, streaming_mode='filter')
    assert result == ['-spice', 'port=5936,password=s3cr3t,streaming-video=filter',
                      '-object', 'secret,id=s0,data=d4t4']


def test_an_error_shows_no_secret():
    with pytest.raises(AnsibleFilterError) as caught:
        qemu_args(['-spice=port=5936,password=s3cr3t'], streaming_mode='filter')
    assert 's3cr3t' not in str(caught.value)


def test_through_jinja_in_a_real_ansible_run(tmp_path):
    """The filter resolves by its FQCN and renders in a template (tests/conftest.py sets the path)."""
    expr = ("{{ ['-spice', 'port=5930'] | spice.streaming.qemu_args(streaming_mode='filter', "
            "agent_channel='present') | to_json }}")
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    out = subprocess.run([ansible, 'localhost', '-c', 'local', '-i', 'localhost,', '-m', 'ansible.builtin.debug',
                          '-a', 'msg="%s"' % expr.replace('"', '\\"'), '-e', 'ansible_python_interpreter=' + sys.executable],
                         capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
                         env=ansible_env(), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'streaming-video=filter' in out.stdout
    assert 'virtserialport,bus=virtio-serial0.0,nr=1' in out.stdout
