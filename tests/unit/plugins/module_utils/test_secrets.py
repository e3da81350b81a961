# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a definition's diff and a run's messages show of its secrets (domain_xml, secrets).

The definition is a real one (libvirt 9.0's dump of a virt-install q35 SPICE desktop) with
what libvirt writes only under VIR_DOMAIN_XML_SECURE added in libvirt's own layout: a SPICE
and a VNC password, an HTTPS CD-ROM (and its backing store) with cookies, and secrets in
<qemu:commandline>. tests/integration/test_libvirt_domain_secrets.py proves the same on the real daemon.
"""

from __future__ import annotations

import os

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils.secrets import hide_from_result, mask_text

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'domains')

SECURE_PARTS = """    <disk type='network' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source protocol='https' name='/isos/installer.iso'>
        <host name='isos.example.org' port='443'/>
        <cookies>
          <cookie name='session'>c00kie-one</cookie>
          <cookie name='token'>c00kie-two</cookie>
        </cookies>
      </source>
      <backingStore type='network'>
        <source protocol='http' name='/base.iso'>
          <host name='isos.example.org' port='80'/>
          <cookies>
            <cookie name='session'>c00kie-base</cookie>
          </cookies>
        </source>
      </backingStore>
      <target dev='sdb' bus='sata'/>
      <readonly/>
    </disk>
    <graphics type='vnc' port='-1' autoport='yes' passwd='vnc-pw-9'>
      <listen type='address'/>
    </graphics>
"""
QEMU_COMMANDLINE = """  <qemu:commandline>
    <qemu:arg value='-object'/>
    <qemu:arg value='secret,id=sec0,data=kv-data-secret,format=raw'/>
    <qemu:arg value='-object'/>
    <qemu:arg value='{"qom-type":"secret","id":"sec1","data":"json-data-secret"}'/>
    <qemu:arg value='-drive'/>
    <qemu:arg value='file=rbd:pool/img:id=admin:key=ceph-key-secret,if=none,id=rbd0'/>
    <qemu:arg value='-set'/>
    <qemu:arg value='device.video0.ram_size=67108864'/>
    <qemu:env name='NOT_SEARCHED' value='free-form'/>
  </qemu:commandline>
"""
SECRETS = {'c00kie-one', 'c00kie-two', 'c00kie-base', 'vnc-pw-9', 'kv-data-secret', 'json-data-secret',
           'ceph-key-secret'}


def secure_definition():
    with open(os.path.join(FIXTURES, 'q35-spice-password-listen.xml'), encoding='utf-8') as handle:
        text = handle.read()
    text = text.replace("<domain type='kvm'>",
                        "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>", 1)
    text = text.replace('    <graphics ', SECURE_PARTS + '    <graphics ', 1)
    text = text.replace('</domain>', QEMU_COMMANDLINE + '</domain>', 1)
    root = dx.parse_domain(text)
    spice_password = root.find("devices/graphics[@type='spice']").get('passwd')
    assert spice_password and "xmlns:qemu" in text
    return text, SECRETS | {spice_password}


def test_every_secure_value_is_found():
    text, secrets = secure_definition()
    assert dx.definition_secrets(dx.parse_domain(text)) == secrets


def test_redacted_definition_hides_every_secret_and_keeps_everything_else():
    text, secrets = secure_definition()
    redacted = dx.redact_secrets(text)
    assert [secret for secret in secrets if secret in redacted] == []
    # Only the values changed: names, the rest of each argument and every other part stay.
    assert redacted.count('passwd="********"') == 2
    assert '<cookie name="session">********</cookie>' in redacted
    assert '<cookie name="token">********</cookie>' in redacted
    assert redacted.count('********</cookie>') == 3
    assert 'secret,id=sec0,data=********,format=raw' in redacted
    assert '&quot;id&quot;:&quot;sec1&quot;,&quot;data&quot;:&quot;********&quot;' in redacted
    assert 'rbd:pool/img:id=admin:key=********' in redacted
    assert 'device.video0.ram_size=67108864' in redacted
    assert "free-form" in redacted
    masked = dx.parse_domain(redacted)
    original = dx.parse_domain(text)
    assert [element.tag for element in masked.iter()] == [element.tag for element in original.iter()]


def test_a_definition_without_secrets_is_shown_as_it_is():
    with open(os.path.join(FIXTURES, 'q35-foreign-metadata-qemu-commandline.xml'), encoding='utf-8') as handle:
        text = handle.read()
    assert dx.definition_secrets(dx.parse_domain(text)) == set()
    assert dx.redact_secrets(text) == dx.to_string(dx.parse_domain(text))


def test_mask_text_hides_each_value_wherever_it_is_quoted():
    message = ("did not start (qemu-system-x86_64: -object secret,id=sec0,data=kv-data-secret,"
               "format=bogus: Parameter 'format' does not accept value 'bogus')")
    assert mask_text(message, {'kv-data-secret', 'kv-data', ''}) == (
        "did not start (qemu-system-x86_64: -object secret,id=sec0,data=********,"
        "format=bogus: Parameter 'format' does not accept value 'bogus')")
    assert mask_text('nothing secret', set()) == 'nothing secret'
    # A value too short to search for would garble every message it turns up in.
    assert mask_text('1 of 1 domain on the host', {'1', 'on'}) == '1 of 1 domain on the host'


def test_hide_from_result_registers_every_value_long_enough_to_search_for():
    class Module:
        no_log_values = set()
    module = Module()
    hide_from_result(module, {'a-secret', 'abcd', 'abc', ''})
    assert module.no_log_values == {'a-secret', 'abcd'}
