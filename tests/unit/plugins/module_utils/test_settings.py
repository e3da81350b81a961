# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings registry (module_utils/settings.py) and the static text that must say the same.

Python reads the registry; YAML and documentation cannot import it. These tests are the
contract that holds them equal: the doc fragment, the modules' DOCUMENTATION and RETURN, the
role's argument specs, defaults and task, and disable_streaming.yml. Each failure names the
file to update.
"""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.spice.streaming.plugins.doc_fragments.streaming import ModuleDocFragment
from ansible_collections.spice.streaming.plugins.inventory import desktops as inventory_desktops
from ansible_collections.spice.streaming.plugins.module_utils import desktops, settings
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import StreamingRequest
from ansible_collections.spice.streaming.plugins.modules import libvirt_domain, libvirt_domain_info, qemu_cmdline
from ansible_collections.spice.streaming.plugins.plugin_utils.leave_null import LEAVE_WHEN_NULL, _without_nulls

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ROLE = os.path.join(ROOT, 'roles', 'host_streaming')


def load(*parts):
    with open(os.path.join(ROOT, *parts), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def test_every_setting_is_named_once_and_graphics_settings_follow_libvirts_order():
    assert len(settings.NAMES) == len(set(settings.NAMES)) == len(settings.SETTINGS)
    elements = [item.element for item in settings.GRAPHICS_SETTINGS]
    assert len(elements) == len(set(elements))
    assert all(element in settings.GRAPHICS_CHILD_ORDER for element in elements)
    assert {item.qemu_key for item in settings.GRAPHICS_SETTINGS}.isdisjoint({None})
    for item in settings.GRAPHICS_SETTINGS:
        assert item.runs_when_absent in item.choices, item
        assert item.spice_app_forces in (None,) + item.choices, item


def test_the_modules_take_every_setting_with_its_choices():
    for spec in (libvirt_domain.argument_spec(), qemu_cmdline.argument_spec()):
        for item in settings.SETTINGS:
            assert spec[item.name] == dict(type='str', choices=list(item.choices)), item
    overrides = libvirt_domain.argument_spec()['overrides']['options']
    assert set(overrides) == {'name'} | set(settings.NAMES)
    for item in settings.SETTINGS:
        assert overrides[item.name]['choices'] == list(item.choices)
        assert overrides[item.name].get('aliases', []) == list(item.aliases)


def test_the_doc_fragment_documents_each_setting_as_the_registry_does():
    """plugins/doc_fragments/streaming.py: ansible-doc reads static text, so it is checked here."""
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    assert list(options) == list(settings.NAMES)
    for item in settings.SETTINGS:
        expected = dict(description=list(item.doc), type='str', choices=list(item.choices))
        if item.version_added:
            expected['version_added'] = item.version_added
        assert options[item.name] == expected, item


def test_libvirt_domain_documents_each_setting_in_its_overrides():
    doc = yaml.safe_load(libvirt_domain.DOCUMENTATION)
    suboptions = doc['options']['overrides']['suboptions']
    assert set(suboptions) == {'name'} | set(settings.NAMES)
    for item in settings.SETTINGS:
        assert suboptions[item.name]['choices'] == list(item.choices), item
        assert suboptions[item.name].get('aliases', []) == list(item.aliases), item
        assert 'O(overrides[].%s)' % item.name in ' '.join(doc['options']['overrides']['description']), item


@pytest.mark.parametrize('module', [libvirt_domain, libvirt_domain_info], ids=['libvirt_domain', 'libvirt_domain_info'])
def test_restart_required_names_every_setting_as_a_change(module):
    returned = yaml.safe_load(module.RETURN)
    change = returned['domains']['contains']['restart_required']['contains']['change']['description']
    change = ' '.join(change) if isinstance(change, list) else change
    for item in settings.SETTINGS:
        assert 'V(%s)' % item.name in change, item


def test_the_info_module_returns_a_field_pair_and_counts_for_each_setting():
    returned = yaml.safe_load(libvirt_domain_info.RETURN)
    fields = returned['domains']['contains']
    summary = returned['summary']['contains']
    for item in settings.GRAPHICS_SETTINGS:
        assert fields[item.name]['type'] == fields[item.name + '_live']['type'] == 'str', item
        assert set(item.choices) <= set(summary[item.summary_key]['sample']), item
    sample = returned['domains']['sample']
    for info in sample.values():
        assert {item.name for item in settings.GRAPHICS_SETTINGS} <= set(info)


def test_the_desktops_inventory_carries_each_setting_and_says_so():
    keys = desktops._INFO_KEYS
    documentation = yaml.safe_load(inventory_desktops.DOCUMENTATION)
    doc = ' '.join(documentation['description'] + documentation.get('notes', []))
    for item in settings.GRAPHICS_SETTINGS:
        assert item.name in keys and item.name + '_live' in keys, item
        assert 'C(%s)' % item.name in doc and 'C(%s_live)' % item.name in doc, item


def test_the_role_takes_each_setting_as_the_registry_says():
    """roles/host_streaming: defaults, argument specs (main entry point) and the module task."""
    defaults = load('roles', 'host_streaming', 'defaults', 'main.yml')
    specs = load('roles', 'host_streaming', 'meta', 'argument_specs.yml')['argument_specs']['main']['options']
    for item in settings.SETTINGS:
        assert defaults[item.role_var] == item.role_default, item
        spec = specs[item.role_var]
        assert spec['type'] == 'str' and spec.get('default') == item.role_default, item
        # The spec lists no choices: the role checks the value against this record itself
        # (vars/main.yml, the setting_problems filter), so that Ansible's message does not show
        # the values that mean "leave it" (null, "") as choices.
        assert 'choices' not in spec, item
    role_vars = load('roles', 'host_streaming', 'vars', 'main.yml')
    checked = role_vars['__host_streaming_settings']
    assert set(checked) == set(settings.NAMES)
    for item in settings.SETTINGS:
        assert checked[item.name] == '{{ %s }}' % item.role_var, item
        assert role_vars['__host_streaming_option_names'][item.name] == item.role_var, item
    report = load('roles', 'host_streaming', 'meta', 'argument_specs.yml')['argument_specs']['report']['options']
    report_task = load('roles', 'host_streaming', 'tasks', 'report.yml')[0]['spice.streaming.libvirt_domain_info']
    for item in settings.SETTINGS:
        assert report[item.role_var].get('default') == item.role_default, item
        assert item.role_var in report_task['compare_with'][item.name], item
    overrides = specs['host_streaming_overrides']['options']
    aliases = {alias for item in settings.SETTINGS for alias in item.aliases}
    assert set(overrides) == {'name'} | set(settings.NAMES) | aliases
    for item in settings.SETTINGS:
        for key in (item.name,) + item.aliases:
            assert overrides[key]['choices'] == list(item.choices), (item, key)
    tasks = load('roles', 'host_streaming', 'tasks', 'converge.yml')
    module_args = next(task['spice.streaming.libvirt_domain'] for task in tasks
                       if 'spice.streaming.libvirt_domain' in task)
    for item in settings.SETTINGS:
        assert item.role_var in module_args[item.name], item


def test_disable_streaming_says_what_each_setting_becomes():
    """Every setting is given there, so that no inventory value of it leaks into a disable."""
    play = load('playbooks', 'disable_streaming.yml')[0]
    role = play['roles'][0]
    for item in settings.SETTINGS:
        assert item.role_var in role, item


def test_null_is_left_out_for_every_setting_and_alias():
    aliases = {alias for item in settings.SETTINGS for alias in item.aliases}
    assert set(LEAVE_WHEN_NULL) == set(settings.NAMES) | aliases
    args = dict.fromkeys(LEAVE_WHEN_NULL)
    args.update(name=['x'], backup=None)
    assert _without_nulls(args) == {'name': ['x'], 'backup': None}


def test_a_request_takes_every_setting_by_name_and_refuses_others():
    request = StreamingRequest('filter', **{item.name: item.choices[0] for item in settings.SETTINGS[1:]})
    expected = {item.name: item.choices[0] for item in settings.SETTINGS}
    expected['streaming_mode'] = 'filter'
    assert request.values == expected
    assert not request.is_empty and request.needs_spice
    with pytest.raises(TypeError, match='unknown settings bogus'):
        StreamingRequest(bogus='x')


def test_an_override_says_what_it_sets_and_takes_the_rest_from_the_task():
    task = StreamingRequest('filter', 'present')
    override = StreamingRequest('off').over(task)
    assert override.values == dict(task.values, streaming_mode='off')
    assert StreamingRequest().over(task).values == task.values


def test_values_are_checked_against_the_choices():
    assert settings.check_values({'streaming_mode': 'fast'}) == [
        "streaming_mode must be one of off, all, filter, not 'fast'"]
    assert settings.check_values({'nope': 'x'}) == [
        "there is no setting named 'nope' (the settings are %s)" % ', '.join(settings.NAMES)]
    assert settings.check_values(settings.values_from({})) == []


def test_restart_words_name_each_change_once_in_order():
    assert settings.changes_words(['agent_channel', 'streaming_mode', 'agent_channel']) == \
        'the stream channel and the streaming mode'
    assert settings.changes_words(['something_new']) == 'something_new'


def test_the_info_module_compares_with_every_setting():
    """libvirt_domain_info's compare_with: the same settings as libvirt_domain, documented."""
    spec = libvirt_domain_info.argument_spec()['compare_with']['options']
    assert set(spec) == set(settings.NAMES) | {'overrides'}
    assert set(spec['overrides']['options']) == {'name'} | set(settings.NAMES)
    doc = yaml.safe_load(libvirt_domain_info.DOCUMENTATION)['options']['compare_with']['suboptions']
    assert set(doc) == set(settings.NAMES) | {'overrides'}
    assert set(doc['overrides']['suboptions']) == {'name'} | set(settings.NAMES)
    for item in settings.SETTINGS:
        assert doc[item.name]['choices'] == list(item.choices), item
        assert doc['overrides']['suboptions'][item.name]['choices'] == list(item.choices), item


@pytest.mark.parametrize('value, problem', [
    ('filter', None), (None, None), ('', None), ('null', None),
    ('ALL', "host_streaming_mode is 'ALL': it must be one of off, all, filter, or null to leave the "
            "streaming mode as it is (did you mean 'all'?)."),
    (False, "host_streaming_mode is 'False': it must be one of off, all, filter, or null to leave the "
            "streaming mode as it is (YAML reads a bare off as false: write 'off', quoted)."),
    ('fast', "host_streaming_mode is 'fast': it must be one of off, all, filter, or null to leave the "
             "streaming mode as it is."),
])
def test_a_role_value_is_checked_against_the_record(value, problem):
    assert settings.role_value_problem(settings.STREAMING_MODE, value) == problem


def test_a_bare_on_is_named_for_the_playback_compression():
    assert "bare on as true: write 'on', quoted" in settings.role_value_problem(settings.PLAYBACK_COMPRESSION, True)
    assert settings.role_value_problems({'playback_compression': 'off', 'image_compression': 'GLZ'}) == [
        "host_streaming_image_compression is 'GLZ': it must be one of auto_glz, auto_lz, quic, glz, lz, off, "
        "or null to leave the image compression as it is (did you mean 'glz'?)."]
