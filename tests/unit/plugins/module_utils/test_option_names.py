# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names messages give the options (issue 16, item 5)."""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.module_utils.option_names import (
    MODULE_NAMES,
    OptionNames,
    option_names_problem,
)


def test_the_callers_names_where_it_renames_and_the_modules_elsewhere():
    names = OptionNames({'force_off': 'host_streaming_force_off', 'overrides': 'host_streaming_overrides'})
    assert names('force_off') == 'host_streaming_force_off' and names('parallel') == 'parallel'
    assert names.setting('force_off', 'true') == 'host_streaming_force_off=true'
    assert names.entry('overrides', 2, 'override') == 'host_streaming_overrides #2'
    assert MODULE_NAMES.entry('overrides', 2, 'override') == 'override #2'
    assert MODULE_NAMES('force_off') == 'force_off' and not MODULE_NAMES.renamed()


def test_a_mapping_of_options_the_module_lacks_is_refused():
    assert option_names_problem({'force_off': 'x'}, {'force_off': {}, 'uri': {}}) is None
    problem = option_names_problem({'forse_off': 'x'}, {'force_off': {}})
    assert problem.startswith('option_names maps options this module does not have: forse_off')
