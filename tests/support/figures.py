# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Figures a slow test measured (seconds, load), written to the terminal for the CI log."""

from __future__ import annotations

import json


def write_past_capture(config, label, figures):
    """One ``[label] {json}`` line on pytest's terminal, past its output capture (as
    ``capsys.disabled()`` does), so that a passing run shows it too."""
    plugins = config.pluginmanager
    reporter, capture = plugins.get_plugin('terminalreporter'), plugins.get_plugin('capturemanager')
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line('\n[%s] %s' % (label, json.dumps(figures)))
