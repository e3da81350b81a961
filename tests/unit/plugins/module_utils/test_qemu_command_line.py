# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the QEMU command-line model and its edits (module_utils/qemu_command_line.py)."""

from __future__ import annotations

import pytest

from ansible_collections.spice.streaming.plugins.module_utils.qemu_command_line import apply_streaming, scan_options
from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import QemuCmdlineError

STREAM = 'org.spice-space.stream.0'
SPICE = 'port=5930,addr=127.0.0.1,disable-ticketing=on'
BASE = ['-machine', 'q35', '-m', '64', '-nodefaults', '-S', '-spice', SPICE]

ADDED_PORT = [
    '-device', 'virtio-serial-pci,id=virtio-serial0',
    '-chardev', 'spiceport,name=%s,id=charchannel1' % STREAM,
    '-device', 'virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel1,id=channel1,name=%s' % STREAM,
]


def streaming(args, streaming_mode=None, agent_channel=None, **kwargs):
    return apply_streaming(args, streaming_mode, agent_channel, **kwargs)


def assert_fixed_point(args, streaming_mode, agent_channel, **kwargs):
    """Applying a request to its own result changes nothing and says so."""
    again = streaming(args, streaming_mode, agent_channel, **kwargs)
    assert again.args == args
    assert again.actions == []


# ---------------------------------------------------------------- argument lists


class TestScanOptions:
    def test_no_argument_options_do_not_swallow_the_next(self):
        names = [(o.name, o.value) for o in scan_options(['-S', '-spice', 'port=1', '-nodefaults'])]
        assert names == [('S', None), ('spice', 'port=1'), ('nodefaults', None)]

    def test_values_that_look_like_options_are_values(self):
        options = scan_options(['-append', '-spice port=1', '-name', 'x'])
        assert [o.name for o in options] == ['append', 'name']

    def test_double_dash_spelling(self):
        assert [o.name for o in scan_options(['--spice', 'port=1'])] == ['spice']

    def test_positional_disk_image(self):
        assert [o.name for o in scan_options(['disk.img', '-spice', 'port=1'])] == ['spice']

    @pytest.mark.parametrize('token', ['-spice=port=1', '--spice=port=1', '-device=virtio-serial'])
    def test_equals_spelling_is_refused(self, token):
        with pytest.raises(QemuCmdlineError, match="QEMU does not accept"):
            scan_options(['-machine', 'q35', token])

    def test_spice_without_value_at_the_end(self):
        with pytest.raises(QemuCmdlineError, match=r'-spice at argument 3, the last one, has no value'):
            scan_options(['-m', '64', '-spice'])

    def test_spice_followed_by_an_option(self):
        with pytest.raises(QemuCmdlineError, match=r"-spice at argument 1 has no value: it is followed by '-device'"):
            scan_options(['-spice', '-device', 'virtio-serial-pci'])

    def test_non_string_argument(self):
        with pytest.raises(QemuCmdlineError, match='argument 2 is 64, not a string'):
            scan_options(['-m', 64])


# ---------------------------------------------------------------- streaming requests


class TestStreamPort:
    def test_adds_controller_chardev_and_port(self):
        result = streaming(BASE, agent_channel='present')
        assert result.args == BASE + ADDED_PORT
        assert result.actions == [
            'added -device virtio-serial-pci,id=virtio-serial0 (no virtio-serial device was there)',
            'added -chardev spiceport,name=%s,id=charchannel1' % STREAM,
            'added -device virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel1,'
            'id=channel1,name=%s' % STREAM,
        ]
        assert_fixed_point(result.args, None, 'present')

    def test_uses_existing_controller_with_other_id_and_free_port_number(self):
        args = BASE + [
            '-device', 'virtio-serial-pci,id=vser,addr=0x7',
            '-chardev', 'socket,id=charchannel1,path=/run/qga.sock,server=on,wait=off',
            '-device', 'virtserialport,bus=vser.0,nr=1,chardev=charchannel1,id=channel1,name=org.qemu.guest_agent.0',
            '-chardev', 'spicevmc,id=charchannel2,name=vdagent',
            '-device', 'virtserialport,bus=vser.0,chardev=charchannel2,id=channel2,name=com.redhat.spice.0',
            '-device', 'virtconsole,chardev=con0',
        ]
        result = streaming(args, agent_channel='present')
        # nr 1 is taken, the vdagent port is given 2 by QEMU, the console 0.
        assert result.args == args + [
            '-chardev', 'spiceport,name=%s,id=charchannel3' % STREAM,
            '-device', 'virtserialport,bus=vser.0,nr=3,chardev=charchannel3,id=channel3,name=%s' % STREAM,
        ]
        assert_fixed_point(result.args, None, 'present')

    def test_controller_without_id_lets_qemu_place_the_port(self):
        args = BASE + ['-device', 'virtio-serial-pci']
        result = streaming(args, agent_channel='present')
        assert result.args == args + [
            '-chardev', 'spiceport,name=%s,id=charchannel1' % STREAM,
            '-device', 'virtserialport,chardev=charchannel1,id=channel1,name=%s' % STREAM,
        ]

    def test_json_controller_gets_a_json_port(self):
        # QEMU creates JSON devices after every key=value one: a key=value port
        # would not find the bus of a JSON controller.
        args = BASE + ['-device', '{"driver":"virtio-serial-pci","id":"vsj"}',
                       '-device', '{"driver":"virtserialport","bus":"vsj.0","name":"a"}',
                       '-device', 'virtserialport,bus=vsj.0,name=b']
        result = streaming(args, agent_channel='present')
        # b is created first and gets 1, then a gets 2, then the new port 3.
        assert result.args[-1] == ('{"driver":"virtserialport","bus":"vsj.0","nr":3,"chardev":"charchannel1",'
                                   '"id":"channel1","name":"%s"}' % STREAM)
        assert_fixed_point(result.args, None, 'present')

    def test_key_value_port_is_created_before_json_ports(self):
        args = BASE + ['-device', 'virtio-serial-pci,id=vs',
                       '-device', '{"driver":"virtserialport","bus":"vs.0","name":"a"}']
        # The JSON port is created after the new one and takes a free number then.
        assert 'bus=vs.0,nr=1,' in streaming(args, agent_channel='present').args[-1]

    def test_id_less_json_controllers_get_a_json_port(self):
        args = BASE + ['-device', '{"driver":"virtio-serial-pci"}']
        assert streaming(args, agent_channel='present').args[-1] == \
            '{"driver":"virtserialport","chardev":"charchannel1","id":"channel1","name":"%s"}' % STREAM

    def test_full_bus_gets_a_second_controller(self):
        args = BASE + ['-device', 'virtio-serial-pci,id=vs,max_ports=2',
                       '-device', 'virtserialport,bus=vs.0,nr=1,name=a']
        result = streaming(args, agent_channel='present')
        assert result.args[len(args):len(args) + 2] == ['-device', 'virtio-serial-pci,id=virtio-serial0']
        assert 'bus=virtio-serial0.0,nr=1' in result.args[-1]
        assert 'every virtio-serial bus here is full' in result.actions[0]

    def test_ids_avoid_collisions(self):
        args = BASE + ['-chardev', 'pty,id=charchannel1', '-device', 'virtio-serial,id=virtio-serial0',
                       '-device', 'virtserialport,id=channel2,chardev=charchannel1,name=x']
        result = streaming(args, agent_channel='present')
        assert result.args[-3] == 'spiceport,name=%s,id=charchannel3' % STREAM
        assert result.args[-1].endswith(',id=channel3,name=%s' % STREAM)

    def test_existing_stream_port_is_kept(self):
        args = BASE + ADDED_PORT
        assert streaming(args, agent_channel='present').actions == []

    def test_existing_json_stream_port_is_kept(self):
        args = BASE + [
            '-device', '{"driver": "virtio-serial-pci", "id": "vs"}',
            '-chardev', 'spiceport,id=cs,name=%s' % STREAM,
            '-device', '{"driver": "virtserialport", "bus": "vs.0", "nr": 4, "chardev": "cs", "name": "%s"}' % STREAM,
        ]
        result = streaming(args, agent_channel='present')
        assert result.args == args
        assert result.actions == []

    def test_json_port_without_chardev_is_connected(self):
        args = BASE + [
            '-device', '{"driver":"virtio-serial-pci","id":"vs"}',
            '-device', '{"driver":"virtserialport","bus":"vs.0","nr":4,"name":"%s"}' % STREAM,
        ]
        result = streaming(args, agent_channel='present')
        assert result.args[:-2] == BASE + [
            '-device', '{"driver":"virtio-serial-pci","id":"vs"}',
            '-device', '{"driver":"virtserialport","bus":"vs.0","nr":4,"name":"%s","chardev":"charchannel1"}' % STREAM,
        ]
        assert result.args[-2:] == ['-chardev', 'spiceport,name=%s,id=charchannel1' % STREAM]
        assert_fixed_point(result.args, None, 'present')

    def test_port_without_chardev_reuses_an_orphan_stream_chardev(self):
        args = BASE + ['-device', 'virtio-serial-pci,id=vs',
                       '-chardev', 'spiceport,id=spare,name=%s' % STREAM,
                       '-device', 'virtserialport,bus=vs.0,name=%s' % STREAM]
        result = streaming(args, agent_channel='present')
        assert result.args == BASE + ['-device', 'virtio-serial-pci,id=vs',
                                      '-chardev', 'spiceport,id=spare,name=%s' % STREAM,
                                      '-device', 'virtserialport,bus=vs.0,name=%s,chardev=spare' % STREAM]

    def test_orphan_stream_chardev_is_used_for_a_new_port(self):
        args = BASE + ['-chardev', 'spiceport,id=spare,name=%s' % STREAM]
        result = streaming(args, agent_channel='present')
        assert result.args == args + [
            '-device', 'virtio-serial-pci,id=virtio-serial0',
            '-device', 'virtserialport,bus=virtio-serial0.0,nr=1,chardev=spare,id=channel1,name=%s' % STREAM]
        assert_fixed_point(result.args, None, 'present')

    def test_wrong_spiceport_name_is_corrected(self):
        args = BASE + ['-device', 'virtio-serial-pci,id=vs',
                       '-chardev', 'spiceport,id=cs,name=org.spice-space.stream.1,debug=1',
                       '-device', 'virtserialport,bus=vs.0,chardev=cs,name=%s' % STREAM]
        result = streaming(args, agent_channel='present')
        assert result.args[-3] == 'spiceport,id=cs,name=%s,debug=1' % STREAM
        assert 'was org.spice-space.stream.1' in result.actions[0]

    def test_duplicates_are_reduced_to_one(self):
        args = BASE + ADDED_PORT + [
            '-chardev', 'spiceport,name=%s,id=charchannel2' % STREAM,
            '-device', 'virtserialport,bus=virtio-serial0.0,nr=2,chardev=charchannel2,id=channel2,name=%s' % STREAM,
            '-chardev', 'spiceport,name=%s,id=charchannel3' % STREAM,
        ]
        result = streaming(args, agent_channel='present')
        assert result.args == BASE + ADDED_PORT
        assert len(result.actions) == 3
        assert 'a second port named %s stops QEMU from starting' % STREAM in result.actions[0]

    def test_duplicate_without_chardev_yields_to_the_one_with(self):
        args = BASE + ['-device', 'virtio-serial-pci,id=vs',
                       '-device', 'virtserialport,bus=vs.0,name=%s,id=bare' % STREAM,
                       '-chardev', 'spiceport,id=cs,name=%s' % STREAM,
                       '-device', 'virtserialport,bus=vs.0,chardev=cs,name=%s,id=good' % STREAM]
        result = streaming(args, agent_channel='present')
        assert 'id=bare' not in ' '.join(result.args)
        assert 'id=good' in result.args[-1]

    @pytest.mark.parametrize('extra, message', [
        (['-chardev', 'socket,id=s,path=/tmp/x,server=on,wait=off',
          '-device', 'virtserialport,chardev=s,name=%s' % STREAM], "uses chardev 's', a socket, not a spiceport"),
        (['-chardev', 'spiceport,id=s,name=%s' % STREAM,
          '-device', 'virtconsole,chardev=s,name=%s' % STREAM], 'is a virtconsole, not a virtserialport'),
        (['-device', 'virtserialport,chardev=nowhere,name=%s' % STREAM], "uses chardev 'nowhere', which no -chardev"),
    ])
    def test_ports_that_are_not_ours_fail(self, extra, message):
        args = BASE + ['-device', 'virtio-serial-pci,id=vs'] + extra
        with pytest.raises(QemuCmdlineError, match=message):
            streaming(args, 'filter', 'present')

    def test_absent_removes_port_and_chardev_keeps_controller(self):
        args = BASE + ADDED_PORT + ['-chardev', 'spiceport,id=loose,name=%s' % STREAM]
        result = streaming(args, agent_channel='absent')
        assert result.args == BASE + ADDED_PORT[:2]
        assert len(result.actions) == 3
        assert_fixed_point(result.args, None, 'absent')

    def test_absent_leaves_a_foreign_port_with_a_warning(self):
        args = BASE + ['-chardev', 'pty,id=p', '-device', 'virtserialport,chardev=p,name=%s' % STREAM]
        result = streaming(args, agent_channel='absent')
        assert result.args == args
        assert 'left -device virtserialport' in result.warnings[0]

    def test_absent_without_spice_is_fine(self):
        args = ['-machine', 'q35']
        assert streaming(args, agent_channel='absent').args == args


class TestStreamingMode:
    def test_sets_mode_inside_existing_spice(self):
        result = streaming(BASE, streaming_mode='filter')
        assert result.args == BASE[:-1] + [SPICE + ',streaming-video=filter']
        assert result.actions == ['set streaming-video=filter in -spice at argument 7 '
                                  '(was not set, which QEMU runs as off)']
        assert_fixed_point(result.args, 'filter', None)

    def test_changes_existing_mode_in_place(self):
        args = ['-spice', 'streaming-video=all,port=5930,password=a,,b']
        result = streaming(args, streaming_mode='off')
        assert result.args == ['-spice', 'streaming-video=off,port=5930,password=a,,b']
        assert result.actions == ['set streaming-video=off in -spice at argument 1 (was all)']

    def test_double_dash_spice(self):
        assert streaming(['--spice', 'port=1'], 'all').args == ['--spice', 'port=1,streaming-video=all']

    def test_keeps_one_key_across_merged_spice_options(self):
        args = ['-spice', 'streaming-video=all,port=1', '-S', '-spice', 'addr=::1,streaming-video=filter',
                '-spice', 'disable-ticketing=on']
        result = streaming(args, streaming_mode='filter')
        assert result.args == ['-spice', 'port=1', '-S', '-spice', 'addr=::1,streaming-video=filter',
                               '-spice', 'disable-ticketing=on']
        assert result.actions == ['removed 1 earlier streaming-video= key that the last one overrides']

    def test_flag_spelling_is_read_as_qemu_reads_it(self):
        # "nostreaming-video" is QEMU's short form of streaming-video=off.
        assert streaming(['-spice', 'port=1,nostreaming-video'], 'off').actions == []
        assert streaming(['-spice', 'port=1,nostreaming-video'], 'all').args == \
            ['-spice', 'port=1,streaming-video=all']

    def test_no_spice_fails_for_the_module(self):
        with pytest.raises(QemuCmdlineError, match='there is no -spice option to amend'):
            streaming(['-machine', 'q35'], streaming_mode='filter')
        with pytest.raises(QemuCmdlineError, match='there is no -spice option to amend'):
            streaming(['-machine', 'q35'], agent_channel='present')

    def test_no_spice_adds_its_own_for_the_filter(self):
        result = streaming([], 'all', 'present', require_spice=False)
        assert result.args == ADDED_PORT + ['-spice', 'streaming-video=all']
        assert_fixed_point(result.args, 'all', 'present', require_spice=False)

    def test_spice_app_cannot_stream(self):
        args = ['-display', 'spice-app']
        with pytest.raises(QemuCmdlineError, match='spice-app sets streaming-video=off itself'):
            streaming(args, streaming_mode='filter')
        assert streaming(args, streaming_mode='off').args == args
        assert streaming(args, agent_channel='present').args == args + ADDED_PORT

    @pytest.mark.parametrize('mode, channel', [('fast', None), (None, 'yes')])
    def test_unknown_values(self, mode, channel):
        with pytest.raises(QemuCmdlineError, match='must be one of'):
            streaming(BASE, mode, channel)

    def test_nothing_asked_changes_nothing(self):
        assert streaming(BASE + ['-spice', 'x=1']).args == BASE + ['-spice', 'x=1']

    def test_readconfig_warns(self):
        assert 'readconfig' in streaming(BASE + ['-readconfig', 'vm.cfg'], 'all').warnings[0]


@pytest.mark.parametrize('args', [
    BASE,
    BASE + ADDED_PORT,
    ['disk.img', '--spice', 'port=1,streaming-video=all', '-device', 'virtio-serial,id=v'],
    ['-spice', 'a=1', '-device', '{"driver":"virtio-serial-pci"}', '-display', 'none'],
])
@pytest.mark.parametrize('mode', [None, 'off', 'all', 'filter'])
@pytest.mark.parametrize('channel', [None, 'present', 'absent'])
def test_every_request_is_idempotent_and_keeps_other_arguments(args, mode, channel):
    result = streaming(args, mode, channel)
    assert_fixed_point(result.args, mode, channel)
    assert unmanaged(result.args) == unmanaged(args)
    if mode is None:
        assert [o.value for o in scan_options(result.args) if o.name == 'spice'] == \
            [o.value for o in scan_options(args) if o.name == 'spice']


def unmanaged(args):
    """Every option other than -spice, -device and -chardev, and every disk image."""
    options = scan_options(args)
    consumed = {o.index for o in options} | {o.index + 1 for o in options if o.value is not None}
    return ([(o.token, o.value) for o in options if o.name not in ('spice', 'device', 'chardev')]
            + [arg for index, arg in enumerate(args) if index not in consumed])
