# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests: secrets masked for display, and the environment file a path (or link) names.

Masking is pure; file resolution runs on real files, links and loops under tmp_path.
"""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.spice.streaming.plugins.module_utils.qemu_cmdline import (
    MASK,
    EnvFileArgs,
    QemuCmdlineError,
    apply_streaming,
    mask_secrets,
    resolve_env_file,
)

STREAM = 'org.spice-space.stream.0'


# ---------------------------------------------------------------- masking


@pytest.mark.parametrize('args, shown, secrets', [
    (['-spice', 'port=5936,password=s3cr3t,disable-ticketing=off'],
     ['-spice', 'port=5936,password=%s,disable-ticketing=off' % MASK], {'s3cr3t'}),
    # A literal comma is doubled in QEMU's syntax; both spellings are secrets.
    (['-spice', 'port=5930,password=a,,b,streaming-video=filter'],
     ['-spice', 'port=5930,password=%s,streaming-video=filter' % MASK], {'a,b', 'a,,b'}),
    (['-spice', 'tls-port=5931,x509-key-password=kp,password-secret=sec0'],
     ['-spice', 'tls-port=5931,x509-key-password=%s,password-secret=sec0' % MASK], {'kp'}),
    (['-object', 'secret,id=sec0,data=letmein,format=raw'],
     ['-object', 'secret,id=sec0,data=%s,format=raw' % MASK], {'letmein'}),
    (['-object', 'qom-type=secret,id=sec0,data=Zm9v,keyid=master0,iv=AAAAAAAAAAAAAAAAAAAAAA==,format=base64'],
     ['-object', 'qom-type=secret,id=sec0,data=%s,keyid=master0,iv=AAAAAAAAAAAAAAAAAAAAAA==,format=base64' % MASK],
     {'Zm9v'}),
    (['-object', '{"qom-type":"secret","id":"s0","data":"jsonpw"}'],
     ['-object', '{"qom-type":"secret","id":"s0","data":"%s"}' % MASK], {'jsonpw'}),
    (['-vnc', ':0,password=oops'], ['-vnc', ':0,password=%s' % MASK], {'oops'}),
    (['-drive', 'file=/x.img,password-secret=s0,file.password=inner'],
     ['-drive', 'file=/x.img,password-secret=s0,file.password=%s' % MASK], {'inner'}),
    (['-chardev', 'socket,id=c0,path=/run/c.sock,password=chpw'],
     ['-chardev', 'socket,id=c0,path=/run/c.sock,password=%s' % MASK], {'chpw'}),
    (['-netdev', 'user,id=n0,password=netpw'], ['-netdev', 'user,id=n0,password=%s' % MASK], {'netpw'}),
    (['-iscsi', 'user=u,password=iscsipw,initiator-name=iqn.2008-11.org.example'],
     ['-iscsi', 'user=u,password=%s,initiator-name=iqn.2008-11.org.example' % MASK], {'iscsipw'}),
    (['-drive', 'file=iscsi://user%urlpw@host/iqn.2001-04.com.example/1'],
     ['-drive', 'file=iscsi://user%%%s@host/iqn.2001-04.com.example/1' % MASK], {'urlpw'}),
    (['-cdrom', 'https://user:httppw@mirror.example/d.iso'],
     ['-cdrom', 'https://user:%s@mirror.example/d.iso' % MASK], {'httppw'}),
    (['-drive', 'file=rbd:pool/img:id=admin:key=AQBkey==:conf=/etc/ceph/ceph.conf'],
     ['-drive', 'file=rbd:pool/img:id=admin:key=%s:conf=/etc/ceph/ceph.conf' % MASK], {'AQBkey=='}),
    (['-drive', 'driver=http,url=http://host/x,cookie=session=1'],
     ['-drive', 'driver=http,url=http://host/x,cookie=%s' % MASK], {'session=1'}),
    (['-set', 'iscsi.target0.password=setpw'], ['-set', 'iscsi.target0.password=%s' % MASK], {'setpw'}),
    (['-blockdev', '{"driver":"raw","file":{"driver":"https","url":"https://u:jp@h/x"}}'],
     ['-blockdev', '{"driver":"raw","file":{"driver":"https","url":"https://u:%s@h/x"}}' % MASK], {'jp'}),
    (['iscsi://u%positional@h/t/0'], ['iscsi://u%%%s@h/t/0' % MASK], {'positional'}),
    # QEMU refuses '-spice=VALUE', and says so; the message still shows no password.
    (['-spice=port=1,password=eq'], ['-spice=port=1,password=%s' % MASK], {'eq'}),
])
def test_secrets_are_masked_and_reported(args, shown, secrets):
    masked, found = mask_secrets(args)
    assert masked == shown
    assert found == secrets
    for secret in secrets:
        assert secret not in json.dumps(masked)


@pytest.mark.parametrize('args', [
    ['-machine', 'q35', '-S', '-spice', 'port=5930,disable-ticketing=on,password-secret=sec0'],
    ['-vnc', ':0,password=on'],  # a switch: the password is set over the monitor
    ['-display', 'vnc=:0,password=off'],
    ['-object', 'secret,id=sec0,file=/etc/qemu/pw,format=raw'],
    ['-object', 'tls-creds-x509,id=tls0,dir=/etc/pki/qemu,passwordid=sec0,endpoint=server'],
    ['-blockdev', '{"driver":"luks","node-name":"l0","key-secret":"sec0","file":"f0"}'],
    ['-netdev', 'l2tpv3,id=n0,src=127.0.0.1,dst=127.0.0.1,txcookie=0x1234,rxcookie=0x1234,cookie64=on'],
    ['-drive', 'file=nbd://127.0.0.1:10809/export', '-drive', 'file=ssh://user@host:22/disk'],
    ['-append', 'console=ttyS0 password=not-qemu-syntax'],
    ['-device', '{"driver":"virtio-serial-pci","id":"vs"}'],
    ['-spice'], ['-spice=port=1'], ['-m', 64, '-spice', 'port=1'], [],
])
def test_lists_without_secrets_come_back_identical(args):
    masked, found = mask_secrets(args)
    assert masked == args
    assert found == set()


def test_masking_follows_qemu_option_walk():
    """'-append' takes '-spice' as its value, as QEMU does; what follows is still masked."""
    masked, _found = mask_secrets(['-append', '-spice', 'port=1,password=x', '-object', 'secret,id=s,data=y'])
    assert masked == ['-append', '-spice', 'port=1,password=%s' % MASK, '-object', 'secret,id=s,data=%s' % MASK]


def test_an_edited_command_line_keeps_its_secrets_and_masks_them():
    args = ['-spice', 'port=5936,password=s3cr3t', '-object', 'secret,id=s0,data=d4t4']
    outcome = apply_streaming(args, 'filter', 'present')
    assert 'port=5936,password=s3cr3t,streaming-video=filter' in outcome.args
    masked, found = mask_secrets(outcome.args)
    assert found == {'s3cr3t', 'd4t4'}
    assert 's3cr3t' not in ' '.join(masked + outcome.actions)


def test_an_error_message_never_shows_a_secret():
    with pytest.raises(QemuCmdlineError) as caught:
        apply_streaming(['-spice=port=1,password=hunter2'], 'filter')
    assert 'hunter2' not in str(caught.value)
    assert "QEMU does not accept '-spice=VALUE'" in str(caught.value)


# ---------------------------------------------------------------- the file shown in a diff

MULTILINE = ('# desk-01\n'
             'QEMU_ARGS="-name desk-01 \\\n'
             '  -spice port=5936,password=s3cr3t \\\n'
             '  -object secret,id=s0,data=d4t4"\n'
             'OTHER=1\n')


def test_masked_text_keeps_the_layout_of_the_assignment():
    envfile = EnvFileArgs(MULTILINE, 'QEMU_ARGS')
    masked, secrets = mask_secrets(envfile.args)
    shown = envfile.masked_text(masked, secrets)
    assert shown == MULTILINE.replace('s3cr3t', MASK).replace('d4t4', MASK)


def test_masked_text_without_secrets_is_the_text():
    text = 'QEMU_ARGS="-spice port=1"\n'
    envfile = EnvFileArgs(text, 'QEMU_ARGS')
    assert envfile.masked_text(*mask_secrets(envfile.args)) == text


@pytest.mark.parametrize('text', [
    # Written with an escape: masking where it is written cannot find it.
    'QEMU_ARGS="-spice port=5936,password=pa\\$\\$word"\nB=2\n',
    # The secret is also an ordinary word elsewhere in the arguments.
    'QEMU_ARGS="-name vs0 -spice port=5936,password=vs0"\n',
])
def test_masked_text_falls_back_to_the_module_layout(text):
    envfile = EnvFileArgs(text, 'QEMU_ARGS')
    masked, secrets = mask_secrets(envfile.args)
    shown = envfile.masked_text(masked, secrets)
    assert EnvFileArgs(shown, 'QEMU_ARGS').args == masked
    assert not any(secret in shown.replace('vs0 -spice', '') for secret in secrets)


# ---------------------------------------------------------------- the file a path names


def test_a_regular_file_is_itself(tmp_path):
    env = tmp_path / 'vm.env'
    env.write_text('QEMU_ARGS=-m 64\n')
    assert resolve_env_file(str(env), 'QEMU_ARGS') == str(env)


def test_links_are_followed_to_the_file(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'etc').mkdir()
    target = tmp_path / 'real' / 'vm.env'
    target.write_text('QEMU_ARGS=-m 64\n')
    os.symlink('../real/vm.env', tmp_path / 'etc' / 'hop.env')   # relative
    os.symlink(str(tmp_path / 'etc' / 'hop.env'), tmp_path / 'etc' / 'vm.env')   # a chain
    assert resolve_env_file(str(tmp_path / 'etc' / 'vm.env'), 'QEMU_ARGS') == str(target)


def test_a_dangling_link_is_named_with_its_target(tmp_path):
    link = tmp_path / 'vm.env'
    os.symlink('gone/vm.env', link)
    with pytest.raises(QemuCmdlineError) as caught:
        resolve_env_file(str(link), 'KIOSK_ARGS')
    assert str(caught.value) == (
        '%s is a symbolic link to %s, which does not exist; create that file with a line '
        'KIOSK_ARGS="<QEMU arguments>", or point the link at the file that holds them'
        % (link, tmp_path / 'gone' / 'vm.env'))


@pytest.mark.parametrize('links, chain', [
    ({'a.env': 'a.env'}, 'a.env -> a.env'),
    ({'a.env': 'b.env', 'b.env': 'a.env'}, 'a.env -> b.env -> a.env'),
])
def test_a_link_loop_is_named(tmp_path, links, chain):
    for name, target in links.items():
        os.symlink(target, tmp_path / name)
    path = str(tmp_path / 'a.env')
    with pytest.raises(QemuCmdlineError) as caught:
        resolve_env_file(path, 'QEMU_ARGS')
    assert str(caught.value) == (
        '%s is a symbolic link that never reaches a file (%s); point it at the file that holds '
        'QEMU_ARGS=, or give that file as path' % (path, str(tmp_path / chain.split(' -> ')[0])
                                                   + chain[len(chain.split(' -> ')[0]):]))


def test_a_link_to_a_directory_is_not_a_file(tmp_path):
    os.symlink(str(tmp_path), tmp_path / 'dir.env')
    with pytest.raises(QemuCmdlineError, match=r'dir\.env is not a regular file \(it leads to %s\)$'
                       % str(tmp_path).replace('.', r'\.')):
        resolve_env_file(str(tmp_path / 'dir.env'), 'QEMU_ARGS')


def test_a_missing_file_says_how_to_create_it(tmp_path):
    with pytest.raises(QemuCmdlineError, match='nowhere.env does not exist; create it first'):
        resolve_env_file(str(tmp_path / 'nowhere.env'), 'QEMU_ARGS')
