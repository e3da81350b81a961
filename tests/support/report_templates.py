# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's templates rendered exactly as spice.streaming.fleet_report renders them.

For tests and benchmarks that need the report of a synthetic fleet without a playbook run; the
playbook's own run is exercised by tests/integration/test_streaming_report.py.
"""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.plugin_utils import report_files

GENERATED = '2026-12-04 10:00:00 UTC'


def render_template(template, content, generated=GENERATED):
    env = report_files.environment([report_files.DEFAULT_TEMPLATES])
    return report_files.render(env, template, content, generated)
