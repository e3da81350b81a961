# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's templates rendered as Ansible's template module renders them, without Ansible.

trim_blocks, a kept trailing newline, and the collection's markdown_escape filter under its
full name: what ``ansible.builtin.template`` (and the ``template`` lookup) use.  For tests and
benchmarks that need the report of a large synthetic fleet quickly; the playbook's own
rendering is exercised by tests/integration/test_streaming_report.py.
"""

from __future__ import annotations

import os

import jinja2

from ansible_collections.spice.streaming.plugins.filter.markdown_escape import markdown_escape
from tests.support.collection_path import REPO_ROOT

TEMPLATES = os.path.join(REPO_ROOT, 'playbooks', 'templates')
GENERATED = '2026-12-04 10:00:00 UTC'


def render_template(template, content, generated=GENERATED):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters['spice.streaming.markdown_escape'] = markdown_escape
    return env.get_template(template).render(streaming_report_content=content,
                                             streaming_report_generated=generated)
