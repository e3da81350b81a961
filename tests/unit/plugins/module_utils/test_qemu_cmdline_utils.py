# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the pure QEMU command-line transforms."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.spice.streaming.plugins.module_utils.qemu_cmdline import (
    EnvFileArgs,
    QemuCmdlineError,
    QemuOpts,
    apply_streaming,
    env_assignment_text,
    format_opts,
    parse_env_text,
    quote_word,
    scan_options,
    split_words,
)

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


# ---------------------------------------------------------------- key=value strings


class TestQemuOpts:
    def test_implied_first_key(self):
        opts = QemuOpts('spiceport,name=%s,id=c1' % STREAM, 'backend')
        assert opts.get('backend') == 'spiceport'
        assert opts.get('name') == STREAM
        assert opts.get('id') == 'c1'

    def test_explicit_implied_key(self):
        assert QemuOpts('driver=virtserialport,id=p', 'driver').get('driver') == 'virtserialport'

    def test_double_comma_is_a_literal_comma(self):
        opts = QemuOpts('password=a,,b,,,port=5930')
        assert opts.get('password') == 'a,b,'
        assert opts.get('port') == '5930'

    def test_implied_value_with_escaped_comma(self):
        assert QemuOpts('we,,ird,id=x', 'driver').get('driver') == 'we,ird'

    def test_flags(self):
        opts = QemuOpts('disable-ticketing,noagent-mouse')
        assert opts.get('disable-ticketing') == 'on'
        assert opts.get('agent-mouse') == 'off'

    def test_last_key_wins(self):
        assert QemuOpts('streaming-video=all,port=1,streaming-video=off').get('streaming-video') == 'off'

    def test_text_round_trips_untouched(self):
        for text in ('a=1,b=x,,y,c', 'a=1,', '', 'nofoo,bar=,baz=,,'):
            assert QemuOpts(text).text == text

    def test_set_keeps_other_items_as_written(self):
        opts = QemuOpts('password=se,,cret,disable-ticketing,port=5930,')
        opts.set('streaming-video', 'filter')
        assert opts.text == 'password=se,,cret,disable-ticketing,port=5930,streaming-video=filter,'

    def test_set_replaces_last_occurrence(self):
        opts = QemuOpts('streaming-video=all,x=1,streaming-video=off')
        opts.set('streaming-video', 'filter')
        assert opts.text == 'streaming-video=all,x=1,streaming-video=filter'

    def test_set_escapes_commas(self):
        opts = QemuOpts('port=1')
        opts.set('password', 'a,b')
        assert opts.text == 'port=1,password=a,,b'

    def test_set_implied_value_stays_bare(self):
        opts = QemuOpts('socket,id=c', 'backend')
        opts.set('backend', 'spiceport')
        assert opts.text == 'spiceport,id=c'

    def test_format_opts(self):
        assert format_opts([('driver', 'virtserialport'), ('name', 'a,b')], 'driver') == \
            'virtserialport,name=a,,b'


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


# ---------------------------------------------------------------- environment files


ENV_TEXT = (
    '# Managed by hand; comments stay.\n'
    'QEMU_BIN=/usr/bin/qemu-system-x86_64\n'
    '\n'
    'QEMU_ARGS="-machine q35 -m 2048 \\\n'
    '  -spice port=5930,disable-ticketing=on -name \'desk 01\'"\n'
    'OTHER=\'x\'\n'
)


class TestEnvFile:
    def test_reads_like_systemd(self):
        found = {item.key: item.value for item in parse_env_text(ENV_TEXT)}
        assert found == {
            'QEMU_BIN': '/usr/bin/qemu-system-x86_64',
            'QEMU_ARGS': "-machine q35 -m 2048   -spice port=5930,disable-ticketing=on -name 'desk 01'",
            'OTHER': 'x',
        }

    def test_arguments(self):
        assert EnvFileArgs(ENV_TEXT, 'QEMU_ARGS').args == [
            '-machine', 'q35', '-m', '2048', '-spice', 'port=5930,disable-ticketing=on', '-name', 'desk 01']

    def test_rewrite_keeps_everything_else(self):
        envfile = EnvFileArgs(ENV_TEXT, 'QEMU_ARGS')
        new_text = envfile.with_args(envfile.args + ['-S'])
        head, _sep, tail = ENV_TEXT.partition('QEMU_ARGS=')
        assert new_text.startswith(head)
        assert new_text.endswith('\nOTHER=\'x\'\n')
        assert EnvFileArgs(new_text, 'QEMU_ARGS').args == envfile.args + ['-S']
        assert 'QEMU_ARGS="-machine q35 -m 2048 -spice port=5930,disable-ticketing=on -name \'desk 01\' -S"\n' \
            in new_text

    @pytest.mark.parametrize('text, value', [
        ('QEMU_ARGS=-m 64   \n', '-m 64'),
        ('  QEMU_ARGS = "a b" \n', 'a b'),
        ("QEMU_ARGS='a \"b\" \\c'", 'a "b" \\c'),
        ('QEMU_ARGS="a \\"q\\" \\$x \\n"\n', 'a "q" $x \\n'),
        ('QEMU_ARGS=a\\\nb\n', 'ab'),
        ('QEMU_ARGS="a"\'b\'\n', 'ab'),
        ('QEMU_ARGS=\n', ''),
        ('QEMU_ARGS="x"\r\nB=1\r\n', 'x'),
        ('QEMU_ARGS=first\n; QEMU_ARGS=comment\nQEMU_ARGS=second\n', 'second'),
    ])
    def test_values(self, text, value):
        assert [a.value for a in parse_env_text(text) if a.key == 'QEMU_ARGS'][-1] == value

    def test_last_assignment_is_edited(self):
        text = 'QEMU_ARGS="-m 1"\nQEMU_ARGS="-m 2"\n'
        envfile = EnvFileArgs(text, 'QEMU_ARGS')
        assert envfile.overridden == 1
        assert envfile.with_args(['-m', '3']) == 'QEMU_ARGS="-m 1"\nQEMU_ARGS="-m 3"\n'

    def test_missing_variable(self):
        with pytest.raises(QemuCmdlineError, match='there is no QEMU_ARGS= line'):
            EnvFileArgs('# QEMU_ARGS="-m 1"\nOTHER=1\n', 'QEMU_ARGS')

    def test_invalid_variable_name(self):
        with pytest.raises(QemuCmdlineError, match='not a valid environment variable name'):
            EnvFileArgs('A=1\n', 'QEMU-ARGS')

    def test_unterminated_quote(self):
        with pytest.raises(QemuCmdlineError, match=r'QEMU_ARGS \(line 2\) opens a quote at line 2'):
            EnvFileArgs('A=1\nQEMU_ARGS="-m 64\nB=2\n', 'QEMU_ARGS')

    def test_text_after_closing_quote(self):
        with pytest.raises(QemuCmdlineError, match='text after its closing quote'):
            EnvFileArgs('QEMU_ARGS="-m 64" # memory\n', 'QEMU_ARGS')

    def test_unbalanced_inner_quote(self):
        with pytest.raises(QemuCmdlineError, match='QEMU_ARGS at line 1: the arguments have an unbalanced single quote'):
            EnvFileArgs('QEMU_ARGS="-name \'desk"\n', 'QEMU_ARGS')


class TestWords:
    @pytest.mark.parametrize('value, words', [
        ('  a  b\tc\n', ['a', 'b', 'c']),
        ('"a b"c \'d e\'', ['a bc', 'd e']),
        ('a\\ b \\"', ['a b', '"']),
        ("'in\\'single'", ["in'single"]),  # systemd: a backslash escapes inside single quotes too
        ("'' x", ['', 'x']),
    ])
    def test_split_like_systemd(self, value, words):
        assert split_words(value) == words

    @pytest.mark.parametrize('value, message', [
        ('a "b', 'unbalanced double quote'),
        ("a 'b", 'unbalanced single quote'),
        ('a \\', 'lone backslash'),
    ])
    def test_split_errors(self, value, message):
        with pytest.raises(QemuCmdlineError, match=message):
            split_words(value)

    def test_quote_word_leaves_plain_words_alone(self):
        assert quote_word('virtserialport,bus=vs.0,nr=1,name=%s' % STREAM) == \
            'virtserialport,bus=vs.0,nr=1,name=%s' % STREAM
        assert quote_word('{"driver":"x"}') == '\'{"driver":"x"}\''

    ODD = ['-device', '{"driver":"virtio-rng-pci","x":"$HOME `id`"}', "it's", 'a\\b', '', 'sp ace',
           'tab\there', 'glob*?[x]', '~user', 'new\nline', "q'\"\\$`", '-spice', 'password=a,,b', '#hash', ';']

    def test_round_trip(self):
        text = 'A=1\n' + env_assignment_text('QEMU_ARGS', self.ODD) + '\n'
        assert EnvFileArgs(text, 'QEMU_ARGS').args == self.ODD

    @pytest.mark.skipif(shutil.which('sh') is None, reason='needs a POSIX shell')
    def test_a_posix_shell_reads_the_same_arguments(self, tmp_path):
        env = tmp_path / 'vm.env'
        env.write_text('A=1\n' + env_assignment_text('QEMU_ARGS', self.ODD) + '\n')
        out = subprocess.run(['sh', '-c', '. "$1"; eval "set -- $QEMU_ARGS"; printf "%s\\0" "$@"', 'sh', str(env)],
                             capture_output=True, text=True, check=True, timeout=10)
        assert out.stdout.split('\0')[:-1] == self.ODD
