# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests: secrets of a QEMU command line masked for display (module_utils/qemu_secrets.py)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.spice.streaming.plugins.module_utils.qemu_command_line import apply_streaming
from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import QemuCmdlineError
from ansible_collections.spice.streaming.plugins.module_utils.qemu_secrets import mask_secrets
from ansible_collections.spice.streaming.plugins.module_utils.secrets import MASK


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
