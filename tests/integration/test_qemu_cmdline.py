# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spice.streaming.qemu_cmdline for real: Ansible runs the module, real QEMU runs the result.

Each scenario writes a systemd-style environment file, runs the module through
ansible-playbook or ansible (check mode, real run, check-mode rerun, real rerun),
reads the resulting arguments back with /bin/sh (not with the collection's own
parser) and starts /usr/bin/qemu-system-x86_64 with them, paused (-S), without
disk, on unix sockets only. QEMU is then asked over QMP what it built.

The streaming mode is not visible over QMP (query-spice does not report it), so
it is proven three ways: spice-server's own debug log (G_MESSAGES_DEBUG=Spice)
prints "display_channel_set_stream_video: sv MODE" once a QXL device attaches;
/proc/PID/cmdline carries the -spice option; and QEMU refuses a bogus value
with its own error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.libvirt_env import ansible_env

QEMU = '/usr/bin/qemu-system-x86_64'
STREAM = 'org.spice-space.stream.0'
HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOK = os.path.join(HERE, 'qemu_cmdline', 'converge.yml')
SECRETS_PLAYBOOK = os.path.join(HERE, 'qemu_cmdline', 'secrets.yml')
BIN = os.path.dirname(sys.executable)


@pytest.fixture(autouse=True)
def qemu_installed():
    """A missing QEMU fails the suite, like a missing libvirtd does; it never skips it."""
    if not os.access(QEMU, os.X_OK):
        pytest.fail('these tests need %s (Debian: qemu-system-x86)' % QEMU, pytrace=False)


# ---------------------------------------------------------------- running Ansible


def run_module(module_args, check=False, diff=False, cwd=None):
    """Run spice.streaming.qemu_cmdline ad hoc on localhost; return (rc, result dict)."""
    cmd = [os.path.join(BIN, 'ansible'), 'localhost', '-c', 'local', '-i', 'localhost,',
           '-e', 'ansible_python_interpreter=%s' % sys.executable,
           '-m', 'spice.streaming.qemu_cmdline', '-a', json.dumps(module_args)]
    if check:
        cmd.append('--check')
    if diff:
        cmd.append('--diff')
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd, env=ansible_env(), check=False)
    match = re.search(r'^localhost \| (\w+)!? => ', out.stdout, re.M)
    assert match, out.stdout + out.stderr
    return out.returncode, json.loads(out.stdout[match.end():]), out.stdout


def ansible_playbook(tmp_path, playbook, extra_vars, *options):
    """Run ``playbook`` on localhost; return (what it wrote to result_file, its output)."""
    result_file = tmp_path / 'results.json'
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', playbook, *options,
           '-e', 'ansible_python_interpreter=%s' % sys.executable,
           '-e', json.dumps(dict(extra_vars, result_file=str(result_file)))]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(tmp_path), env=ansible_env(), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(result_file.read_text()), out.stdout + out.stderr


def run_playbook(tmp_path, env_file, streaming_mode, agent_channel):
    results, _output = ansible_playbook(tmp_path, PLAYBOOK, dict(
        env_file=str(env_file), streaming_mode=streaming_mode, agent_channel=agent_channel))
    return results


def shell_args(env_file, variable='QEMU_ARGS'):
    """The arguments a shell wrapper gets from the file: independent of the collection's parser."""
    script = '. "$1"; eval "set -- $%s"; printf "%%s\\0" "$@"' % variable
    out = subprocess.run(['sh', '-c', script, 'sh', str(env_file)],
                         capture_output=True, text=True, timeout=10, check=True)
    return out.stdout.split('\0')[:-1]


# ---------------------------------------------------------------- running QEMU


class QMP:
    """A minimal QMP client over a unix socket, with a deadline on every read."""

    def __init__(self, path, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.reader = self.sock.makefile('r')
        greeting = json.loads(self.reader.readline())
        assert 'QMP' in greeting
        self.execute('qmp_capabilities')

    def execute(self, command, **arguments):
        message = {'execute': command}
        if arguments:
            message['arguments'] = arguments
        self.sock.sendall(json.dumps(message).encode() + b'\n')
        while True:
            reply = json.loads(self.reader.readline())
            if 'return' in reply:
                return reply['return']
            if 'error' in reply:
                raise RuntimeError('%s: %s' % (command, reply['error']))

    def hmp(self, command_line):
        return self.execute('human-monitor-command', **{'command-line': command_line})

    def close(self):
        self.reader.close()
        self.sock.close()


# What every test run adds to the arguments under test: paused, no disk, no
# default devices, no window, unix sockets only. The QXL device makes
# spice-server create its display channel, which logs the streaming mode it got;
# the control spiceport, with an ordinary name, shows what spice-server does
# with a port it does not take for a stream device.
def harness_args(tmp_path):
    return ['-S', '-nodefaults', '-display', 'none', '-machine', 'q35', '-accel', 'tcg', '-m', '64',
            '-vga', 'none', '-device', 'qxl-vga',
            '-chardev', 'spiceport,id=control0,name=org.example.control',
            '-qmp', 'unix:%s,server=on,wait=off' % (tmp_path / 'qmp.sock')]


class Qemu:
    """qemu-system-x86_64 started with ``args``; always stopped by :meth:`stop`."""

    def __init__(self, args, tmp_path):
        self.tmp_path = tmp_path
        self.argv = [QEMU] + list(args) + harness_args(tmp_path)
        self.log = tmp_path / 'qemu.log'
        with open(self.log, 'wb') as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=dict(os.environ, G_MESSAGES_DEBUG='Spice'),
                                         start_new_session=True)
        self.qmp = None
        try:
            self.qmp = QMP(str(tmp_path / 'qmp.sock'))
        except Exception:
            self.stop()
            raise AssertionError('QEMU did not come up: %s' % self.log.read_text(errors='replace'))

    def cmdline(self):
        with open('/proc/%d/cmdline' % self.proc.pid, 'rb') as handle:
            return handle.read().decode().split('\0')[:-1]

    def log_text(self):
        return self.log.read_text(errors='replace')

    def stop(self):
        if self.qmp is not None:
            try:
                self.qmp.execute('quit')
            except Exception:  # pylint: disable=broad-except
                pass
            self.qmp.close()
            self.qmp = None
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def qemu_runner(tmp_path):
    started = []

    def start(args):
        qemu = Qemu(args, tmp_path)
        started.append(qemu)
        return qemu

    yield start
    for qemu in started:
        qemu.stop()


def qemu_refuses(args, tmp_path):
    """Run QEMU with ``args`` that must fail; return its error output."""
    argv = [QEMU] + list(args) + harness_args(tmp_path)
    out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode != 0
    return out.stderr


# ---------------------------------------------------------------- what QEMU is asked


def assert_stream_port(qemu, chardev_id, device_id, bus, nr):
    """QEMU built a spiceport chardev and a virtserialport of the stream name on ``bus``."""
    chardevs = {c['label']: c for c in qemu.qmp.execute('query-chardev')}
    assert chardevs[chardev_id]['filename'] == 'spiceport'
    assert '%s: filename=spiceport' % chardev_id in qemu.qmp.hmp('info chardev')

    peripherals = {p['name']: p['type'] for p in qemu.qmp.execute('qom-list', path='/machine/peripheral')}
    assert peripherals[device_id] == 'child<virtserialport>'
    port = '/machine/peripheral/' + device_id
    assert qemu.qmp.execute('qom-get', path=port, property='name') == STREAM
    assert qemu.qmp.execute('qom-get', path=port, property='chardev') == chardev_id
    assert qemu.qmp.execute('qom-get', path=port, property='nr') == nr
    parent_bus = qemu.qmp.execute('qom-get', path=port, property='parent_bus')
    assert parent_bus.endswith('/' + bus)
    assert qemu.qmp.execute('qom-get', path=parent_bus, property='type') == 'virtio-serial-bus'

    # spice-server takes a spiceport named org.spice-space.stream.0 for a stream
    # device and opens no SPICE "port" channel for it; an ordinary name gets one.
    log = qemu.log_text()
    stream_lines = [line for line in log.splitlines() if 'id=%s' % chardev_id in line and 'Spice' in line]
    assert any('spice_server_char_device_add_interface: CHAR_DEVICE port' in line for line in stream_lines), log
    assert not any(re.search(r'Spice: port:\d+ ', line) for line in stream_lines), log
    assert re.search(r'id=control0,name=org.example.control: info: Spice: port:\d+ ', log), log


def assert_streaming_mode(qemu, mode):
    """spice-server got ``mode``; the running process carries it on its command line."""
    log = qemu.log_text()
    assert re.findall(r'display_channel_set_stream_video: sv (\w+)', log) == [mode], log
    spice_values = [arg for arg in qemu.cmdline() if 'streaming-video=' in arg]
    assert spice_values and spice_values[-1].split('streaming-video=')[-1].split(',')[0] == mode
    info = qemu.qmp.execute('query-spice')
    assert info['enabled'] is True
    assert info['host'].endswith('spice.sock')  # a unix socket, no TCP port


# ---------------------------------------------------------------- scenarios


def write_env(path, text):
    path.write_text(text)
    os.chmod(path, 0o640)
    return path


def base_env(tmp_path):
    """An environment file of the kind a systemd unit reads, with a guest-agent port already there."""
    return (
        '# /etc/qemu-vm/desk-01.env, read by qemu-vm@.service\n'
        'QEMU_BIN=/usr/bin/qemu-system-x86_64\n'
        'QEMU_ARGS="-name desk-01 \\\n'
        '  -spice unix=on,addr={spice},disable-ticketing=on,image-compression=auto_glz \\\n'
        '  -device virtio-serial-pci,id=vs0 \\\n'
        '  -chardev socket,id=qga0,path={qga},server=on,wait=off \\\n'
        '  -device virtserialport,bus=vs0.0,nr=1,chardev=qga0,name=org.qemu.guest_agent.0"\n'
        'EXTRA_OPTS=--verbose\n'
    ).format(spice=tmp_path / 'spice.sock', qga=tmp_path / 'qga.sock')


@pytest.mark.parametrize('mode', ['filter', 'all'])
def test_environment_file_end_to_end(tmp_path, qemu_runner, mode):
    env_file = write_env(tmp_path / 'desk-01.env', base_env(tmp_path))
    original = env_file.read_text()

    results = run_playbook(tmp_path, env_file, mode, 'present')
    real = results['real_run']
    assert real['actions'] == [
        'added -chardev spiceport,name=%s,id=charchannel1' % STREAM,
        'added -device virtserialport,bus=vs0.0,nr=2,chardev=charchannel1,id=channel1,name=%s' % STREAM,
        'set streaming-video=%s in -spice at argument 3 (was not set, which QEMU runs as off)' % mode,
    ]
    # Only the QEMU_ARGS assignment changed; the file kept its mode; the backup is the original.
    text = env_file.read_text()
    prefix, suffix = original.split('QEMU_ARGS=')[0], '\nEXTRA_OPTS=--verbose\n'
    assert text.startswith(prefix) and text.endswith(suffix)
    assert oct(os.stat(env_file).st_mode & 0o777) == '0o640'
    with open(real['backup_file']) as backup:
        assert backup.read() == original
    assert results['check_run']['diff']['before'] == original
    assert results['check_run']['diff']['after'] == text

    args = shell_args(env_file)
    assert args == real['args']
    qemu = qemu_runner(args)
    assert_stream_port(qemu, 'charchannel1', 'channel1', 'vs0.0', 2)
    assert_streaming_mode(qemu, mode)
    # The guest-agent port the file had is still there, number 1 on the same bus.
    anonymous = qemu.qmp.execute('qom-list', path='/machine/peripheral-anon')
    ports = ['/machine/peripheral-anon/' + p['name'] for p in anonymous if p['type'] == 'child<virtserialport>']
    assert [(qemu.qmp.execute('qom-get', path=port, property='name'),
             qemu.qmp.execute('qom-get', path=port, property='nr'),
             qemu.qmp.execute('qom-get', path=port, property='chardev')) for port in ports] == \
        [('org.qemu.guest_agent.0', 1, 'qga0')]


def test_qemu_refuses_a_bogus_mode_and_accepts_each_real_one(tmp_path, qemu_runner):
    env_file = write_env(tmp_path / 'vm.env', base_env(tmp_path))
    rc, result, _out = run_module(dict(path=str(env_file), streaming_mode='off', agent_channel='present'))
    assert rc == 0 and result['changed']
    args = shell_args(env_file)
    bogus = [arg.replace('streaming-video=off', 'streaming-video=bogus') for arg in args]
    assert bogus != args
    assert 'invalid stream video control: bogus' in qemu_refuses(bogus, tmp_path)
    qemu = qemu_runner(args)
    assert_streaming_mode(qemu, 'off')


COMPRESSION = dict(image_compression='glz', jpeg_compression='never', zlib_compression='always',
                   playback_compression='off')


def test_compression_settings_reach_qemu_and_spice_server(tmp_path, qemu_runner):
    """Each compression is a -spice key QEMU parses (it refuses a bogus value of each), and
    spice-server gets the image compression (its debug log names it)."""
    env_file = write_env(tmp_path / 'vm.env', base_env(tmp_path))
    check_rc, check, _out = run_module(dict(path=str(env_file), **COMPRESSION), check=True)
    rc, result, _out = run_module(dict(path=str(env_file), **COMPRESSION))
    assert check_rc == rc == 0 and check['changed'] and result['changed'], result
    assert result['actions'] == check['actions'] == [
        'set image-compression=glz in -spice at argument 3 (was auto_glz)',
        'set jpeg-wan-compression=never in -spice at argument 3 (was not set, which QEMU runs as auto)',
        'set zlib-glz-wan-compression=always in -spice at argument 3 (was not set, which QEMU runs as auto)',
        'set playback-compression=off in -spice at argument 3 (was not set, which QEMU runs as on)']
    again_rc, again, _out = run_module(dict(path=str(env_file), **COMPRESSION))
    assert again_rc == 0 and not again['changed'] and again['actions'] == [], again

    args = shell_args(env_file)
    keys = ['image-compression=glz', 'jpeg-wan-compression=never', 'zlib-glz-wan-compression=always',
            'playback-compression=off']
    for key in keys:
        bogus = [arg.replace(key, key.split('=', maxsplit=1)[0] + '=bogus') for arg in args]
        assert bogus != args
        assert 'bogus' in qemu_refuses(bogus, tmp_path), key
    qemu = qemu_runner(args)
    spice = [arg for arg in qemu.cmdline() if arg.startswith('unix=on')][-1].split(',')
    assert [key for key in spice if key in keys] == keys, spice
    assert re.findall(r'reds_config_set_image_compression: ic (\w+)', qemu.log_text()) == ['glz'], qemu.log_text()


def test_json_device_in_the_file(tmp_path, qemu_runner):
    """A virtio-serial device written as JSON (QEMU 7.2 accepts it) is found and used."""
    env_file = write_env(tmp_path / 'vm.env', (
        'QEMU_ARGS="-spice unix=on,addr=%s,disable-ticketing=on '
        '-device \'{\\"driver\\":\\"virtio-serial-pci\\",\\"id\\":\\"vsj\\",\\"max_ports\\":4}\'"\n'
    ) % (tmp_path / 'spice.sock'))
    rc, result, _out = run_module(dict(path=str(env_file), streaming_mode='filter', agent_channel='present'))
    assert rc == 0, result
    assert result['args'][3] == '{"driver":"virtio-serial-pci","id":"vsj","max_ports":4}'
    # QEMU creates JSON devices after all others, so the port for a JSON bus is JSON too.
    assert result['args'][-1] == ('{"driver":"virtserialport","bus":"vsj.0","nr":1,"chardev":"charchannel1",'
                                  '"id":"channel1","name":"%s"}' % STREAM)
    qemu = qemu_runner(shell_args(env_file))
    assert_stream_port(qemu, 'charchannel1', 'channel1', 'vsj.0', 1)
    assert_streaming_mode(qemu, 'filter')


def test_duplicated_stream_ports_are_reduced_and_qemu_starts(tmp_path, qemu_runner):
    """Two ports of the stream name stop QEMU; the module leaves one and QEMU starts."""
    spice = 'unix=on,addr=%s,disable-ticketing=on' % (tmp_path / 'spice.sock')
    twice = ['-spice', spice, '-device', 'virtio-serial-pci,id=vs',
             '-chardev', 'spiceport,id=s1,name=%s' % STREAM,
             '-device', 'virtserialport,bus=vs.0,nr=1,chardev=s1,id=p1,name=%s' % STREAM,
             '-chardev', 'spiceport,id=s2,name=%s' % STREAM,
             '-device', 'virtserialport,bus=vs.0,nr=2,chardev=s2,id=p2,name=%s' % STREAM]
    assert 'A port already exists by name %s' % STREAM in qemu_refuses(twice, tmp_path)

    rc, check, out = run_module(dict(args=twice, agent_channel='present'), check=True, diff=True)
    assert rc == 0 and check['changed']
    assert '\n-virtserialport,bus=vs.0,nr=2,chardev=s2,id=p2,name=%s\n' % STREAM in out
    assert check['actions'] == [
        'removed -device virtserialport id=p2 at argument 11 (a second port named %s stops QEMU from '
        'starting)' % STREAM,
        'removed -chardev spiceport id=s2 at argument 9 (served only the removed duplicate port)']
    rc, real, _out = run_module(dict(args=twice, agent_channel='present'))
    assert real['args'] == check['args'] == twice[:8]
    rc, again, _out = run_module(dict(args=real['args'], agent_channel='present'))
    assert rc == 0 and not again['changed']
    qemu = qemu_runner(real['args'])
    assert_stream_port(qemu, 's1', 'p1', 'vs.0', 1)


def test_absent_removes_the_port_and_qemu_agrees(tmp_path, qemu_runner):
    env_file = write_env(tmp_path / 'vm.env', base_env(tmp_path))
    run_module(dict(path=str(env_file), streaming_mode='filter', agent_channel='present'))
    results = run_playbook(tmp_path, env_file, 'off', 'absent')
    assert results['real_run']['actions'] == [
        'removed -device virtserialport id=channel1 at argument 13 (the stream port)',
        "removed -chardev spiceport id=charchannel1 at argument 11 (the stream port's chardev)",
        'set streaming-video=off in -spice at argument 3 (was filter)',
    ]
    qemu = qemu_runner(shell_args(env_file))
    labels = {c['label'] for c in qemu.qmp.execute('query-chardev')}
    assert 'charchannel1' not in labels and 'qga0' in labels
    peripherals = {p['name'] for p in qemu.qmp.execute('qom-list', path='/machine/peripheral')}
    assert 'vs0' in peripherals and 'channel1' not in peripherals
    assert_streaming_mode(qemu, 'off')


def test_filter_output_runs_in_qemu(tmp_path, qemu_runner):
    """The qemu_args filter's fragment, appended to a plain command line, starts as asked."""
    expr = "{{ [] | spice.streaming.qemu_args(streaming_mode='all', agent_channel='present') | to_json }}"
    cmd = [os.path.join(BIN, 'ansible'), 'localhost', '-c', 'local', '-i', 'localhost,',
           '-e', 'ansible_python_interpreter=%s' % sys.executable,
           '-m', 'ansible.builtin.debug', '-a', json.dumps({'msg': expr})]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=str(tmp_path), env=ansible_env(), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    fragment = json.loads(json.loads(out.stdout[out.stdout.index('=>') + 2:])['msg'])
    spice = ['-spice', 'unix=on,addr=%s,disable-ticketing=on' % (tmp_path / 'spice.sock')]
    qemu = qemu_runner(spice + fragment)
    assert_stream_port(qemu, 'charchannel1', 'channel1', 'virtio-serial0.0', 1)
    assert_streaming_mode(qemu, 'all')


# ---------------------------------------------------------------- errors change nothing


def snapshot(path):
    stat = os.stat(path)
    return path.read_bytes(), stat.st_mtime_ns, stat.st_ino


@pytest.mark.parametrize('name, text, module_args, message', [
    ('no-spice', 'QEMU_ARGS="-machine q35 -m 64"\n', dict(streaming_mode='filter'),
     'there is no -spice option to amend'),
    ('unbalanced', 'QEMU_ARGS="-name \'desk -spice port=5930"\n', dict(streaming_mode='filter'),
     'unbalanced single quote'),
    ('unterminated', 'QEMU_ARGS="-spice port=5930\nOTHER=1\n', dict(streaming_mode='filter'),
     'opens a quote at line 1 that is never closed'),
    ('spice-no-value', 'QEMU_ARGS="-m 64 -spice"\n', dict(streaming_mode='filter'),
     '-spice at argument 3, the last one, has no value'),
    ('spice-equals', 'QEMU_ARGS="-spice=port=5930"\n', dict(streaming_mode='filter'),
     "QEMU does not accept '-spice=VALUE'"),
    ('unknown-mode', 'QEMU_ARGS="-spice port=5930"\n', dict(streaming_mode='fast'),
     'value of streaming_mode must be one of'),
    ('foreign-port', 'QEMU_ARGS="-spice port=5930 -chardev pty,id=p0 '
                     '-device virtserialport,chardev=p0,name=org.spice-space.stream.0"\n',
     dict(agent_channel='present'), "uses chardev 'p0', a pty, not a spiceport"),
    ('no-variable', 'ARGS="-spice port=5930"\n', dict(streaming_mode='all'), 'there is no QEMU_ARGS= line'),
])
def test_errors_are_clear_and_leave_the_file_untouched(tmp_path, name, text, module_args, message):
    env_file = write_env(tmp_path / ('%s.env' % name), text)
    before = snapshot(env_file)
    rc, result, out = run_module(dict(module_args, path=str(env_file)))
    assert rc != 0
    assert 'localhost | FAILED! =>' in out
    assert message in result['msg'], out
    if 'value of streaming_mode' not in message:
        assert result['msg'].startswith(str(env_file) + ': ')
    assert snapshot(env_file) == before
    assert sorted(os.listdir(tmp_path)) == ['%s.env' % name]


def test_missing_file(tmp_path):
    missing = tmp_path / 'nowhere.env'
    rc, result, _out = run_module(dict(path=str(missing), streaming_mode='filter'))
    assert rc != 0
    assert result['msg'] == ('%s does not exist; create it first (for example with '
                             'ansible.builtin.template) with a line QEMU_ARGS="<QEMU arguments>"' % missing)
    assert not missing.exists()


def test_args_and_path_are_exclusive(tmp_path):
    rc, result, _out = run_module(dict(path=str(tmp_path / 'x'), args=['-spice', 'port=1']))
    assert rc != 0 and 'mutually exclusive' in result['msg']


@pytest.mark.skipif(shutil.which('sh') is None, reason='needs a POSIX shell')
def test_args_mode_check_and_diff(tmp_path):
    args = ['-machine', 'q35', '-spice', 'port=5930,addr=/run/a,,b.sock']
    rc, result, out = run_module(dict(args=args, streaming_mode='filter'), check=True, diff=True)
    assert rc == 0 and result['changed']
    assert result['args'] == ['-machine', 'q35', '-spice', 'port=5930,addr=/run/a,,b.sock,streaming-video=filter']
    assert '+port=5930,addr=/run/a,,b.sock,streaming-video=filter' in out
    rc, again, _out = run_module(dict(args=result['args'], streaming_mode='filter'))
    assert rc == 0 and not again['changed'] and again['actions'] == []


# ---------------------------------------------------------------- a symbolic link as path


def linked_env(tmp_path):
    """/etc-like directory with a relative link to the real file elsewhere, as packaging tools make."""
    real_dir, link_dir = tmp_path / 'srv', tmp_path / 'etc'
    real_dir.mkdir()
    link_dir.mkdir()
    target = write_env(real_dir / 'desk-01.env', base_env(tmp_path))
    if os.geteuid() == 0:
        os.chown(target, 65534, 65534)  # someone else's file: atomic_move must keep its owner
    link = link_dir / 'desk-01.env'
    os.symlink('../srv/desk-01.env', link)
    return target, link


def test_symlinked_path_edits_the_file_it_points_to(tmp_path, qemu_runner):
    target, link = linked_env(tmp_path)
    original = target.read_text()
    owner = os.stat(target).st_uid, os.stat(target).st_gid

    results = run_playbook(tmp_path, link, 'filter', 'present')
    # The link is still the same link; the file it points to got the change.
    assert os.path.islink(link) and os.readlink(link) == '../srv/desk-01.env'
    assert os.listdir(link.parent) == ['desk-01.env']
    assert target.read_text() != original
    assert shell_args(link) == shell_args(target) == results['real_run']['args']
    info = os.stat(target)
    assert (info.st_mode & 0o777, (info.st_uid, info.st_gid)) == (0o640, owner)
    # Check mode and the real run name the file they read and write; the backup sits next to it.
    for run in ('check_run', 'real_run', 'real_rerun'):
        assert results[run]['path'] == str(target)
        assert results[run]['state'] == 'file'
    assert results['check_run']['diff']['before_header'] == str(target)
    assert results['check_run']['diff']['before'] == original
    backup = results['real_run']['backup_file']
    assert os.path.dirname(backup) == str(target.parent)
    with open(backup) as handle:
        assert handle.read() == original

    qemu = qemu_runner(shell_args(link))
    assert_stream_port(qemu, 'charchannel1', 'channel1', 'vs0.0', 2)
    assert_streaming_mode(qemu, 'filter')


def tree(path):
    """Every entry under ``path`` with what it is: a link's target, a file's bytes."""
    entries = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            if os.path.islink(full):
                entries[full] = ('link', os.readlink(full))
            elif os.path.isfile(full):
                with open(full, 'rb') as handle:
                    entries[full] = ('file', handle.read(), os.stat(full).st_ino)
            else:
                entries[full] = ('dir',)
    return entries


@pytest.mark.parametrize('links, message', [
    ({'vm.env': 'missing/vm.env'},
     '{dir}/vm.env is a symbolic link to {dir}/missing/vm.env, which does not exist; create that file '
     'with a line QEMU_ARGS="<QEMU arguments>", or point the link at the file that holds them'),
    ({'vm.env': 'other.env', 'other.env': 'vm.env'},
     '{dir}/vm.env is a symbolic link that never reaches a file ({dir}/vm.env -> other.env -> vm.env); '
     'point it at the file that holds QEMU_ARGS=, or give that file as path'),
])
@pytest.mark.parametrize('check', [True, False])
def test_dangling_or_looping_link_fails_and_changes_nothing(tmp_path, links, message, check):
    (tmp_path / 'spare.env').write_text('QEMU_ARGS="-spice port=5930"\n')
    for name, target in links.items():
        os.symlink(target, tmp_path / name)
    before = tree(tmp_path)
    rc, result, _out = run_module(dict(path=str(tmp_path / 'vm.env'), streaming_mode='filter',
                                       agent_channel='present', backup=True), check=check)
    assert rc != 0
    assert result['msg'] == message.format(dir=tmp_path)
    assert tree(tmp_path) == before


# ---------------------------------------------------------------- secrets


SPICE_PASSWORD = 'Sp1ce-pw'
OBJECT_SECRET = 'Obj3ct-data'


def secret_args(tmp_path):
    return ['-spice', 'unix=on,addr=%s,password=%s' % (tmp_path / 'spice.sock', SPICE_PASSWORD),
            '-object', 'secret,id=sec0,data=%s' % OBJECT_SECRET]


def assert_no_secret(text):
    assert SPICE_PASSWORD not in text and OBJECT_SECRET not in text, text


def test_secrets_in_the_file_are_never_shown(tmp_path, qemu_runner):
    env_file = write_env(tmp_path / 'vm.env', 'QEMU_ARGS="%s"\n# spice password: %s\n'
                         % (' '.join(secret_args(tmp_path)), SPICE_PASSWORD))
    rc, check, out = run_module(dict(path=str(env_file), streaming_mode='filter', agent_channel='present'),
                                check=True, diff=True)
    assert rc == 0 and check['changed']
    assert_no_secret(out)  # the diff printed, the result, the comment line of the file
    assert '-spice unix=on,addr=%s,password=******** -object secret,id=sec0,data=********' \
        % (tmp_path / 'spice.sock') in out

    results, output = ansible_playbook(tmp_path, PLAYBOOK, dict(
        env_file=str(env_file), streaming_mode='filter', agent_channel='present'), '--diff', '-v')
    assert_no_secret(output)
    assert_no_secret(json.dumps(results))
    assert results['real_run']['args'][:4] == [
        '-spice', 'unix=on,addr=%s,password=********,streaming-video=filter' % (tmp_path / 'spice.sock'),
        '-object', 'secret,id=sec0,data=********']
    assert '-object secret,id=sec0,data=******** ' in results['check_run']['diff']['after']
    for run in results.values():
        assert 'args_with_secrets' not in run

    # The file, and the QEMU it starts, keep the real secrets.
    args = shell_args(env_file)
    assert args[:4] == secret_args(tmp_path)[:1] + [secret_args(tmp_path)[1] + ',streaming-video=filter'] \
        + secret_args(tmp_path)[2:]
    with open(results['real_run']['backup_file']) as backup:
        assert SPICE_PASSWORD in backup.read()
    qemu = qemu_runner(args)
    assert qemu.qmp.execute('query-spice')['auth'] == 'spice'
    assert 'unix=on,addr=%s,password=%s,streaming-video=filter' % (tmp_path / 'spice.sock', SPICE_PASSWORD) \
        in qemu.cmdline()
    assert_streaming_mode(qemu, 'filter')


def test_secrets_in_args_are_masked_and_real_only_under_no_log(tmp_path, qemu_runner):
    results, output = ansible_playbook(tmp_path, SECRETS_PLAYBOOK, dict(qemu_args=secret_args(tmp_path)),
                                       '--diff', '-vvv')
    assert_no_secret(output)  # the diff, the returned args and the echoed module arguments
    shown, hidden = results['shown'], results['hidden']
    assert_no_secret(json.dumps(shown))
    assert 'args_with_secrets' not in shown
    assert shown['args'][:4] == [
        '-spice', 'unix=on,addr=%s,password=********,streaming-video=filter' % (tmp_path / 'spice.sock'),
        '-object', 'secret,id=sec0,data=********']
    assert any('runs this task with no_log: true and reads args_with_secrets' in warning
               for warning in shown['warnings'])
    assert shown['diff']['after'].splitlines()[1] == shown['args'][1]
    assert hidden['args'] == shown['args']
    real = hidden['args_with_secrets']
    assert real == [a.replace('password=********', 'password=' + SPICE_PASSWORD)
                    .replace('data=********', 'data=' + OBJECT_SECRET) for a in shown['args']]

    qemu = qemu_runner(real)
    assert qemu.qmp.execute('query-spice')['auth'] == 'spice'
    assert_stream_port(qemu, 'charchannel1', 'channel1', 'virtio-serial0.0', 1)
    assert_streaming_mode(qemu, 'filter')
