# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A libvirt test:///default connection that defines fixture domains and removes them after."""

from __future__ import annotations

import os
import re
import uuid

import libvirt
import pytest

from ansible_collections.spice.streaming.plugins.module_utils import libvirt_connect as lc

URI = 'test:///default'
FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'domains')


def fixture_xml(fixture, name):
    """A real libvirt definition from fixtures/domains/, renamed, with a fresh UUID."""
    with open(os.path.join(FIXTURES, fixture), encoding='utf-8') as handle:
        text = handle.read()
    text = re.sub(r'<name>[^<]*</name>', '<name>%s</name>' % name, text, count=1)
    return re.sub(r'<uuid>[^<]*</uuid>', '<uuid>%s</uuid>' % uuid.uuid4(), text, count=1)


@pytest.fixture
def conn():
    connection = lc.connect(URI)
    made = []

    def define(fixture, name):
        made.append(name)
        return connection.defineXML(fixture_xml(fixture, name))

    connection.define = define
    connection.fixture_xml = fixture_xml
    yield connection
    for name in made:
        try:
            dom = connection.lookupByName(name)
        except libvirt.libvirtError:
            continue
        if dom.isActive():
            dom.destroy()
        if dom.isPersistent():
            dom.undefine()
    connection.close()
