# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Variables that have no effect (issue 16, items 2 and 7): the names come from the collection."""

from __future__ import annotations

import pytest

from ansible_collections.spice.streaming.plugins.plugin_utils import variables as v

KNOWN = v.known_names()


def test_the_known_names_are_read_from_the_collection():
    # Role inputs, from every entry point of the argument specs (restore's too).
    assert {'host_streaming_mode', 'host_streaming_restore_backup', 'stream_agent_codec'} <= KNOWN
    # The playbooks' documented variables, and what roles and playbooks register or set.
    assert {'streaming_serial', 'streaming_max_fail_percentage', 'streaming_guest_boot_timeout',
            'host_streaming_result', 'streaming_guest_plan'} <= KNOWN
    # Internal variables never match a prefix, and nothing else is taken for one.
    assert not any(name.startswith('__') for name in KNOWN)
    assert all(name.startswith(v.PREFIXES) for name in KNOWN)


def test_every_role_input_is_known(tmp_path):
    """Whatever a role's argument spec lists is known, read from the file (no second list)."""
    spec = tmp_path / 'roles' / 'r' / 'meta'
    spec.mkdir(parents=True)
    (spec / 'argument_specs.yml').write_text(
        'argument_specs:\n  main:\n    options:\n      host_streaming_new_knob: {type: str}\n'
        '  other:\n    options:\n      stream_agent_other: {type: int}\n')
    assert v.role_inputs(str(tmp_path)) == {'host_streaming_new_knob', 'stream_agent_other'}


@pytest.mark.parametrize('typo, meant', [
    ('host_streaming_mod', 'host_streaming_mode'),
    ('host_streaming_restart_bach', 'host_streaming_restart_batch'),
    ('stream_agent_pakage', 'stream_agent_package'),
    ('streaming_seriall', 'streaming_serial'),
])
def test_a_misspelled_variable_is_warned_about_with_the_closest_name(typo, meant):
    warnings = v.unknown_variable_warnings({'hv01': [typo, 'other_var'], 'hv02': [typo]}, KNOWN)
    assert warnings == ['%s is set (for all 2 hosts) but spice.streaming has no variable of that name, so it '
                        'has no effect: did you mean %s?' % (typo, meant)]


def test_known_and_unprefixed_names_are_not_warned_about():
    assert v.unknown_variable_warnings({'hv01': ['host_streaming_mode', 'ansible_host', 'my_streaming_x',
                                                 'host_streaming_result']}, KNOWN) == []


def test_a_name_far_from_every_known_one_says_where_they_are_listed():
    warnings = v.unknown_variable_warnings({'hv01': ['streaming_zebra'], 'hv02': [], 'hv03': []}, KNOWN)
    assert warnings == ["streaming_zebra is set (for hv01) but spice.streaming has no variable of that name, so "
                        "it has no effect: check its name; the playbooks' header comments list them "
                        "(README.md, Variables)."]


def test_many_hosts_are_counted_not_listed():
    by_host = {'hv%02d' % index: ['host_streaming_mod'] for index in range(1, 9)}
    by_host['hv09'] = []
    warning = v.unknown_variable_warnings(by_host, KNOWN)[0]
    assert '(for hv01, hv02, hv03, hv04, hv05 and 3 more)' in warning


@pytest.mark.parametrize('serial, hosts, size', [(1, 20, 1), ('2', 20, 2), ('25%', 20, 5), ('1%', 20, 1),
                                                 ('100%', 20, 20), (50, 20, 20), (0, 20, 20), ('x', 20, None)])
def test_serial_sizes_as_ansible_makes_batches(serial, hosts, size):
    assert v.serial_size(serial, hosts) == size


def test_streaming_serial_set_where_it_has_no_effect_is_warned_about():
    warning = v.ignored_serial_warning({'hv01': 1, 'hv02': 1}, batch_size=20, play_size=20)
    assert warning.startswith('streaming_serial is 1 (for hv01, hv02), yet this play runs 20 hosts at once: '
                              'it has no effect here.'), warning
    assert '-e streaming_serial=1' in warning


def test_streaming_serial_that_took_effect_is_not_warned_about():
    # -e streaming_serial=2: every host sees it, and the batch has 2 hosts.
    assert v.ignored_serial_warning({'hv01': '2', 'hv02': '2', 'hv03': '2'}, batch_size=2, play_size=3) is None
    assert v.ignored_serial_warning({}, batch_size=20, play_size=20) is None
