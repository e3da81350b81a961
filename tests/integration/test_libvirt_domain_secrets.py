# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""No secret of a definition leaves spice.streaming.libvirt_domain, against the real libvirtd.

libvirt shows a SPICE/VNC ``passwd`` and the cookies of a network CD-ROM only to a reader
that asks with VIR_DOMAIN_XML_SECURE, which a real run must do (a redefine without them
would drop them). ``<qemu:commandline>`` it shows to everyone, secrets included. The
module masks all of them in its diff, its messages and its warnings, while the definition
and the backup file keep the real values.
"""

from __future__ import annotations

import json
import os
import stat

from tests.support.libvirt_env import (
    SPICE_GRAPHICS,
    STREAM,
    URI,
    domain_xml,
    run_module,
)

MODULE = 'spice.streaming.libvirt_domain'
ENABLE = {'streaming_mode': 'filter', 'agent_channel': 'present'}
QEMU_NS = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"

SPICE_PASSWORD = 'spice-pw-7f3a'
COOKIE = 'cookie-value-91c2'
KEY_VALUE_SECRET = 'qemu-secret-data-5d8e'
JSON_SECRET = 'qemu-json-data-22b0'
SECRETS = (SPICE_PASSWORD, COOKIE, KEY_VALUE_SECRET, JSON_SECRET)

# An installer ISO behind an HTTPS server that wants a session cookie (127.0.0.1: the
# domain is never started in the diff test, and nothing listens there).
HTTPS_CDROM = """<disk type='network' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source protocol='https' name='/isos/installer.iso'>
        <host name='127.0.0.1' port='8443'/>
        <cookies>
          <cookie name='session'>%s</cookie>
        </cookies>
      </source>
      <target dev='sdc' bus='sata'/>
      <readonly/>
    </disk>""" % COOKIE


def qemu_commandline(key_value):
    return """<qemu:commandline>
    <qemu:arg value='-object'/>
    <qemu:arg value='%s'/>
    <qemu:arg value='-object'/>
    <qemu:arg value='{"qom-type":"secret","id":"sstjson","data":"%s"}'/>
  </qemu:commandline>""" % (key_value, JSON_SECRET)


def secret_domain(name, key_value='secret,id=sstkv,data=%s' % KEY_VALUE_SECRET, cdrom=True):
    graphics = SPICE_GRAPHICS.replace("autoport='no'", "autoport='no' passwd='%s'" % SPICE_PASSWORD)
    devices = (graphics, HTTPS_CDROM) if cdrom else (graphics,)
    return domain_xml(name, devices=devices, ns=QEMU_NS).replace(
        '</domain>', qemu_commandline(key_value) + '\n</domain>')


def leaked(run):
    """The secrets found anywhere in what the module returned (diff, messages, warnings)."""
    text = json.dumps(run.result) + run.stderr
    return [secret for secret in SECRETS if secret in text]


def test_diff_masks_every_secret_libvirt_hides_and_those_of_qemu_commandline(domains, tmp_path):
    domains.define('sec', secret_domain)
    name = domains.name('sec')
    original = domains.inactive_xml(name)
    # The real libvirtd holds every secret, and shows the first two only with the secure flag.
    assert all(secret in original for secret in SECRETS)
    plain = domains.conn.lookupByName(name).XMLDesc(2)    # VIR_DOMAIN_XML_INACTIVE only
    assert SPICE_PASSWORD not in plain and COOKIE not in plain and KEY_VALUE_SECRET in plain

    check = run_module(MODULE, {'uri': URI, 'name': [name], **ENABLE}, check=True, diff=True)
    assert check.changed and not check.failed, check
    assert leaked(check) == []
    assert 'data=********' in check.result['diff'][0]['before']

    backup_dir = tmp_path / 'backups'
    real = run_module(MODULE, {'uri': URI, 'name': [name], 'backup': True, 'backup_dir': str(backup_dir),
                               **ENABLE}, diff=True)
    assert real.changed and not real.failed, real
    assert leaked(real) == []
    (entry,) = real.result['diff']
    for side in ('before', 'after'):
        text = entry[side]
        assert 'passwd="********"' in text
        assert '<cookie name="session">********</cookie>' in text
        assert 'secret,id=sstkv,data=********' in text
        assert '&quot;id&quot;:&quot;sstjson&quot;,&quot;data&quot;:&quot;********&quot;' in text
    assert STREAM in entry['after'] and STREAM not in entry['before']

    # The definition and the backup keep every real value; the backup is the owner's only.
    after = domains.inactive_xml(name)
    assert all(secret in after for secret in SECRETS)
    backup = real.result['backup_files'][name]
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    with open(backup, encoding='utf-8') as handle:
        assert handle.read() == original


def test_a_qemu_error_that_echoes_a_secret_is_masked_in_the_message(domains):
    # The domain runs; then its definition gets an option QEMU refuses, with the secret in
    # the same argument. A cold restart (asked for) fails, and QEMU's error quotes the whole
    # argument: the message must name the failure without the secret.
    domains.define('qerr', lambda n: secret_domain(n, cdrom=False), start=True)
    name = domains.name('qerr')
    bad = 'secret,id=sstkv,data=%s,format=sst-bogus' % KEY_VALUE_SECRET
    domains.conn.defineXML(secret_domain(name, key_value=bad, cdrom=False).replace(
        '<name>', "<uuid>%s</uuid>\n  <name>" % domains.conn.lookupByName(name).UUIDString(), 1))

    run = run_module(MODULE, {'uri': URI, 'name': [name], 'restart': 'when_needed', 'force_off': True,
                              'shutdown_timeout': 5, **ENABLE})
    assert run.failed, run
    assert 'sst-bogus' in run.result['msg'], run      # QEMU's own words reached the message
    assert leaked(run) == [], run.result["msg"]
