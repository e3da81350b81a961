# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stream_agent role's decisions (module_utils/agent_plan.py) over the role's real platform
files (roles/stream_agent/vars/*.yml), for every platform and every refusal or fallback.

No guest and no Ansible run: the guests' facts are what Ansible's setup module reports for them
(distribution, versions, os_family, architecture, selinux), the packages what the platform's
read command prints for them (tests/integration/guest/ reads real ones).
"""

from __future__ import annotations

import glob
import os
import re

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.spice.streaming.plugins.filter.stream_agent_plan import FilterModule
from ansible_collections.spice.streaming.plugins.module_utils import agent_plan as ap
from tests.support.collection_path import REPO_ROOT

ROLE = os.path.join(REPO_ROOT, 'roles', 'stream_agent')
stream_agent_plan = FilterModule().filters()['stream_agent_plan']


def _platform_files():
    """What the role's vars/main.yml reads: every other file of vars/, by name."""
    files = {}
    for path in sorted(glob.glob(os.path.join(ROLE, 'vars', '*.yml'))):
        if os.path.basename(path) != 'main.yml':
            with open(path, encoding='utf-8') as handle:
                files[os.path.basename(path)[:-len('.yml')]] = yaml.safe_load(handle)
    return files


PLATFORMS = _platform_files()
SUPPORTED = ("Debian 12, Ubuntu 22.04 and 24.04 (with stream_agent_package, a .deb), RHEL 8, 9 and 10 and their"
             " rebuilds (CentOS Stream, AlmaLinux, Rocky Linux) and Fedora (the distribution's spice-streaming-agent,"
             " or stream_agent_package, an .rpm)")
GUEST = 'Guest desk (domain desk-dom, on hypervisor hv1)'
DEB = '/srv/files/spice-streaming-agent_0.3-1_amd64.deb'
RPM = '/srv/files/spice-streaming-agent-0.3-1.x86_64.rpm'


def facts(distribution, version, os_family=None, architecture='x86_64', selinux=None):
    return {'distribution': distribution, 'distribution_version': version,
            'distribution_major_version': version.split('.')[0], 'os_family': os_family or distribution,
            'architecture': architecture, 'selinux': selinux or {'status': 'disabled'}}


DEBIAN_12 = facts('Debian', '12.8')
UBUNTU_22 = facts('Ubuntu', '22.04', 'Debian')
UBUNTU_24 = facts('Ubuntu', '24.04', 'Debian')
RHEL_8 = facts('RedHat', '8.10')
FEDORA_40 = facts('Fedora', '40', 'RedHat')


def inputs(**given):
    """The role's inputs at their defaults (defaults/main.yml), with a package file the controller
    has when stream_agent_package is a path."""
    values = {'guest': 'desk', 'domain': 'desk-dom', 'hypervisor': 'hv1', 'package': None, 'codec': 'mjpeg',
              'encoder': None, 'encoder_properties': {}, 'framerate': None, 'extra_options': {},
              'codec_fallback': False, 'option_syntax': 'auto'}
    values.update(given)
    package = values['package']
    is_path = bool(package) and not re.match('(https?|ftp)://', package)
    values.setdefault('package_shown', package)
    values.setdefault('package_found', package if is_path else '')
    values.setdefault('package_found_is_file', is_path)
    return values


def plan(guest_facts, package_lines=None, so_far=ap.NOTHING_CHANGED, platforms=None, **given):
    return ap.plan(inputs(**given), guest_facts, PLATFORMS if platforms is None else platforms,
                   package=package_lines, so_far=so_far)


def package(name='spice-streaming-agent', version='0.3-1', files=(), plugin=False, binary='/usr/bin/spice-streaming-agent'):
    """What the read command prints: name, version, then the file list (bare paths)."""
    listed = [binary] + list(files)
    if plugin:
        listed.append('/usr/lib/x86_64-linux-gnu/spice-streaming-agent/plugins/gst-plugin.so')
    return [name, version] + listed


def ok(result):
    assert result['refusal'] is None, result['refusal']
    return result


# Which guests are supported, and the one refusal for the others

def test_the_supported_platforms_are_listed_from_the_platform_files():
    assert ap.supported_platforms(ap.platform_table(PLATFORMS)) == SUPPORTED


@pytest.mark.parametrize('guest_facts,files,tool,gdm', [
    (DEBIAN_12, ['Debian', 'Debian_12'], 'apt', '/etc/gdm3/daemon.conf'),
    (UBUNTU_22, ['Debian', 'Ubuntu', 'Ubuntu_22.04'], 'apt', '/etc/gdm3/custom.conf'),
    (UBUNTU_24, ['Debian', 'Ubuntu', 'Ubuntu_24.04'], 'apt', '/etc/gdm3/custom.conf'),
], ids=['Debian 12', 'Ubuntu 22.04', 'Ubuntu 24.04'])
def test_debian_and_ubuntu_install_a_deb_with_apt(guest_facts, files, tool, gdm):
    result = ok(plan(guest_facts, package=DEB))
    assert result['platform_files'] == ['vars/%s.yml' % stem for stem in files]
    assert (result['package_source'], result['package'], result['package_tool'], result['package_format']) == \
        ('file', DEB, tool, 'deb')
    assert result['package_src'] == DEB and not result['package_is_url']
    assert result['package_path'] == '/var/cache/spice-streaming-agent/spice-streaming-agent_0.3-1_amd64.deb'
    assert result['install_name'] == result['package_path'] and result['install_deb'], 'apt takes a file as deb='
    assert result['refresh_lists'], "apt's lists are refreshed when they lack a package"
    assert result['package_read_command'].startswith('dpkg-deb --show')
    assert result['gdm_config'] == gdm and result['selinux_label'] is None
    assert (result['codec'], result['gstreamer'], result['gstreamer_packages'], result['warnings']) == \
        ('mjpeg', False, [], [])
    assert result['agent'] is None, 'nothing is known of the package before it is read'


RHEL_FAMILY = [facts(distribution, version, 'RedHat') for distribution in ('RedHat', 'CentOS', 'AlmaLinux', 'Rocky')
               for version in ('8.10', '9.4', '10.0')]


@pytest.mark.parametrize('guest_facts', RHEL_FAMILY + [FEDORA_40, facts('Fedora', '41', 'RedHat', 'aarch64')],
                         ids=['%(distribution)s %(distribution_version)s %(architecture)s' % f
                              for f in RHEL_FAMILY + [FEDORA_40, facts('Fedora', '41', 'RedHat', 'aarch64')]])
def test_rhel_its_rebuilds_and_fedora_install_the_distribution_package_with_dnf(guest_facts):
    result = ok(plan(guest_facts))
    assert (result['package_source'], result['package'], result['package_tool']) == \
        ('distribution', 'spice-streaming-agent', 'dnf')
    assert result['install_name'] == 'spice-streaming-agent' and not result['install_deb']
    assert not result['refresh_lists'], 'dnf refreshes its own metadata'
    assert result['repository_hint'] == 'AppStream on RHEL-family guests'
    assert result['package_read_command'].startswith('rpm --query --queryformat')
    assert result['package_path'] is None and result['package_src'] is None
    assert result['gdm_config'] == '/etc/gdm/custom.conf'
    family = ['vars/RedHat.yml']
    if guest_facts['distribution'] == 'Fedora':
        family.append('vars/Fedora.yml')
    else:
        family.append('vars/RedHat_%s.yml' % guest_facts['distribution_major_version'])
    assert result['platform_files'] == family


def test_an_install_that_fails_is_told_with_what_to_do():
    """The task puts the tool's own error between these."""
    result = ok(plan(RHEL_8))
    assert result['install_failure'] == GUEST + ' runs RedHat 8.10 (x86_64); dnf could not install spice-streaming-agent'
    assert result['install_advice'] == ('Enable the repository that has it (AppStream on RHEL-family guests) or set'
                                        ' stream_agent_package to a package built for this guest.')
    result = ok(plan(DEBIAN_12, package=SECRET_URL % 'deb', package_shown=SHOWN_URL % 'deb'))
    assert result['install_failure'] == '%s runs Debian 12.8 (x86_64); apt could not install %s' % (
        GUEST, SHOWN_URL % 'deb')
    assert result['install_advice'].endswith('The package file is kept in /var/cache/spice-streaming-agent/'
                                             'spice-streaming-agent_0.3-1_amd64.deb; the package is not installed.')
    result = ok(plan(FEDORA_40, codec='vp8'))
    assert result['gstreamer_failure'] == (
        "%s: dnf could not install gstreamer1-plugins-base, gstreamer1-plugins-bad-free, gstreamer1-plugins-good,"
        " which the agent's GStreamer plugin needs for vp8" % GUEST)


def test_an_rpm_file_on_rhel_is_installed_by_name_with_dnf():
    result = ok(plan(RHEL_8, package=RPM))
    assert result['package_source'] == 'file' and result['install_name'] == result['package_path']
    assert not result['install_deb'] and result['package_read_command'].startswith('rpm --query --package')


UNSUPPORTED = [
    facts('openSUSE Leap', '15.5', 'Suse'), facts('SLES', '15.5', 'Suse'), facts('Alpine', '3.19.1'),
    facts('Archlinux', '2024', 'Archlinux'), facts('CentOS', '7.9', 'RedHat'), facts('Debian', '11.11'),
    facts('Ubuntu', '20.04', 'Debian'), facts('Amazon', '2023', 'RedHat'), facts('Linux Mint', '21.3', 'Debian'),
]


@pytest.mark.parametrize('guest_facts', UNSUPPORTED, ids=[f['distribution'] + ' ' + f['distribution_version']
                                                          for f in UNSUPPORTED])
@pytest.mark.parametrize('given', [{}, {'package': DEB}, {'package': RPM, 'codec': 'vp8'}],
                         ids=['no package', 'a .deb', 'an .rpm and vp8'])
def test_any_other_guest_gets_one_refusal_naming_what_is_supported(guest_facts, given):
    result = plan(guest_facts, **given)
    assert result['refusal'] == (
        '%s runs %s %s (x86_64), which the stream_agent role does not support. It supports %s. Nothing was changed.'
        % (GUEST, guest_facts['distribution'], guest_facts['distribution_version'], SUPPORTED))


def test_the_refusal_names_the_guest_without_a_hypervisor_when_none_is_set():
    result = plan(facts('Alpine', '3.19.1'), hypervisor=None)
    assert result['refusal'].startswith('Guest desk (domain desk-dom) runs Alpine 3.19.1 (x86_64), which')


# A new distribution is a row: the walk-through of docs/stream-agent.md

def test_a_new_release_is_one_file():
    platforms = dict(PLATFORMS, **{'Ubuntu_26.04': {'__stream_agent_supported': True}})
    assert plan(facts('Ubuntu', '26.04', 'Debian'), package=DEB)['refusal'].startswith(GUEST + ' runs Ubuntu 26.04')
    result = ok(plan(facts('Ubuntu', '26.04', 'Debian'), package=DEB, platforms=platforms))
    assert (result['package_tool'], result['gdm_config']) == ('apt', '/etc/gdm3/custom.conf')
    assert 'Ubuntu 22.04, 24.04 and 26.04 (with stream_agent_package, a .deb)' in \
        ap.supported_platforms(ap.platform_table(platforms))


def test_a_new_family_is_its_row_and_its_package_tool():
    """A family with another tool: ansible.builtin.package drives it (name= takes a package file
    too); only apt needed a task of its own (deb=)."""
    platforms = dict(PLATFORMS, Suse={
        '__stream_agent_name': 'SUSE Linux Enterprise', '__stream_agent_package_tool': 'zypper',
        '__stream_agent_package_format': 'rpm', '__stream_agent_gdm_config': '/etc/gdm/custom.conf',
        '__stream_agent_gst_packages': {'vp8': ['gstreamer-plugins-good']},
        '__stream_agent_read_file': PLATFORMS['RedHat']['__stream_agent_read_file'],
        '__stream_agent_read_installed': PLATFORMS['RedHat']['__stream_agent_read_installed'],
    }, Suse_15={'__stream_agent_supported': True})
    result = ok(plan(facts('SLES', '15.6', 'Suse'), package=RPM, codec='vp8', platforms=platforms))
    assert (result['package_tool'], result['install_deb'], result['gstreamer_packages']) == \
        ('zypper', False, ['gstreamer-plugins-good'])
    assert ap.supported_platforms(ap.platform_table(platforms)).endswith(
        ' (CentOS Stream, AlmaLinux, Rocky Linux), Fedora (the distribution\'s spice-streaming-agent, or'
        ' stream_agent_package, an .rpm) and SUSE Linux Enterprise 15 (with stream_agent_package, an .rpm)')


def test_a_platform_file_with_a_setting_the_role_does_not_know_fails_naming_it():
    platforms = dict(PLATFORMS, Debian_13={'__stream_agent_supported': True, '__stream_agent_gst_brokn': {}})
    with pytest.raises(ap.PlanError, match=r'vars/Debian_13\.yml sets __stream_agent_gst_brokn, which is not a'):
        plan(DEBIAN_12, package=DEB, platforms=platforms)
    with pytest.raises(AnsibleFilterError, match='spice.streaming.stream_agent_plan: the stream_agent platform'):
        stream_agent_plan(inputs(package=DEB), DEBIAN_12, platforms)


# Inputs the agent or the Exec= line cannot carry

INPUT_REFUSAL = ('%s: stream_agent_encoder, stream_agent_encoder_properties and stream_agent_extra_options take'
                 ' names and values made of letters, digits and . _ + / @ - (the agent splits on = , and :), and'
                 ' encoder properties need stream_agent_encoder (the element they belong to); stream_agent_framerate'
                 ' is 1 to 100. Nothing was changed.' % GUEST)


@pytest.mark.parametrize('given', [
    {'encoder': 'vp8enc', 'encoder_properties': {'deadline': '1,cpu-used=4'}},
    {'encoder': 'vp8enc', 'encoder_properties': {'dead line': 1}},
    {'encoder': 'x264enc tune=zerolatency'},
    {'encoder': ''},
    {'extra_options': {'mjpeg.quality': '70:80'}},
    {'extra_options': {'name=x': 1}},
    {'extra_options': {'mjpeg.quality': '70\n'}},
    {'encoder_properties': {'quality': 85}},
    {'framerate': 0}, {'framerate': 101}, {'framerate': 'fast'},
    {'codec': 'av1'},
], ids=['value with a comma', 'name with a space', 'encoder with a space', 'empty encoder', 'value with a colon',
        'name with =', 'value with a newline', 'properties without an encoder', 'framerate 0', 'framerate 101',
        'framerate not a number', 'unknown codec'])
def test_inputs_the_agent_would_split_are_refused(given):
    assert plan(DEBIAN_12, package=DEB, **given)['refusal'] == INPUT_REFUSAL


def test_framerate_bounds_and_safe_values_pass():
    result = ok(plan(DEBIAN_12, package=DEB, framerate=100, encoder='jpegenc', encoder_properties={'quality': 85},
                     extra_options={'mjpeg.quality': 70, 'x_y': 'a/b@c+d-e'}))
    assert result['gstreamer'] and result['codec'] == 'mjpeg'
    ok(plan(DEBIAN_12, package=DEB, framerate=1))
    ok(plan(DEBIAN_12, package=DEB, framerate='25'))


# Where the package comes from

def test_debian_without_a_package_file_is_told_to_set_one():
    assert plan(DEBIAN_12)['refusal'] == (
        '%s runs Debian 12.8 (x86_64), which ships no spice-streaming-agent package. Set stream_agent_package to a'
        ' .deb built for it (a path on the controller or a URL). Nothing was changed.' % GUEST)


SECRET_URL = 'https://desk:s3cret@files.example.org/agent/spice-streaming-agent_0.3-1_amd64.%s?private_token=glpat'
SHOWN_URL = 'https://desk:********@files.example.org/agent/spice-streaming-agent_0.3-1_amd64.%s?private_token=********'


def test_a_package_for_the_other_tool_is_refused_showing_the_url_masked():
    result = plan(UBUNTU_24, package=SECRET_URL % 'rpm', package_shown=SHOWN_URL % 'rpm')
    assert result['refusal'] == (
        '%s runs Ubuntu 24.04 (x86_64), which installs .deb packages with apt, but stream_agent_package is %s. Give'
        ' a .deb built for it. Nothing was changed.' % (GUEST, SHOWN_URL % 'rpm'))
    assert 's3cret' not in repr(result) and 'glpat' not in repr(result)
    assert 'which installs .rpm packages with dnf' in plan(RHEL_8, package=DEB)['refusal']
    assert 'Give an .rpm built for it' in plan(FEDORA_40, package='/srv/agent.tar.gz')['refusal']


def test_a_url_is_downloaded_to_the_cache_and_only_shown_masked():
    result = ok(plan(UBUNTU_24, package=SECRET_URL % 'deb', package_shown=SHOWN_URL % 'deb'))
    assert result['package'] == SHOWN_URL % 'deb' and result['package_is_url'] and result['package_src'] is None
    assert result['package_path'] == '/var/cache/spice-streaming-agent/spice-streaming-agent_0.3-1_amd64.deb'
    assert 's3cret' not in repr(result) and 'glpat' not in repr(result)


def test_a_path_the_controller_lacks_or_a_directory_is_refused():
    missing = '/nowhere/spice-streaming-agent_0.3-1_amd64.deb'
    assert plan(DEBIAN_12, package=missing, package_found='', package_found_is_file=False)['refusal'] == (
        '%s: stream_agent_package %s is not a file on the controller. Give the path of the .deb on the controller,'
        ' absolute or relative to the playbook (or in its files/ directory), or an http(s) or ftp URL. Nothing was'
        ' changed.' % (GUEST, missing))
    result = plan(DEBIAN_12, package='agent.deb', package_found='/play/files/agent.deb', package_found_is_file=False)
    assert 'is not a file on the controller (/play/files/agent.deb is a directory).' in result['refusal']
    result = ok(plan(DEBIAN_12, package='agent.deb', package_found='/play/files/agent.deb'))
    assert result['package_src'] == '/play/files/agent.deb' and result['package'] == 'agent.deb'


def test_rhel_on_another_architecture_needs_a_package_file():
    aarch64 = facts('AlmaLinux', '9.4', 'RedHat', 'aarch64')
    assert plan(aarch64)['refusal'] == (
        '%s runs AlmaLinux 9.4 (aarch64); its distribution builds spice-streaming-agent for x86_64 only. Set'
        ' stream_agent_package to a package built for aarch64. Nothing was changed.' % GUEST)
    ok(plan(aarch64, package=RPM))


def test_selinux_enforcing_gets_the_x_server_exec_type():
    enforcing = facts('CentOS', '10', 'RedHat', selinux={'status': 'enabled', 'mode': 'enforcing'})
    assert ok(plan(enforcing))['selinux_label'] == 'xserver_exec_t'
    permissive = facts('CentOS', '10', 'RedHat', selinux={'status': 'enabled', 'mode': 'permissive'})
    assert ok(plan(permissive))['selinux_label'] is None
    assert ok(plan(dict(RHEL_8, selinux=None)))['selinux_label'] is None


# The codec: decided once, refused or kept on MJPEG

CODEC_CASES = [
    (DEBIAN_12, 'h264', "Debian 12's GStreamer 1.22 autovideoconvert cannot convert the captured BGRx frames to"
                        " I420, so the agent's GStreamer plugin connects and sends no frame"),
    (DEBIAN_12, 'vp8', 'autovideoconvert'), (DEBIAN_12, 'vp9', 'autovideoconvert'),
    (DEBIAN_12, 'h265', 'autovideoconvert'),
    (facts('Rocky', '8.9', 'RedHat'), 'h264', "RHEL 8's spice-streaming-agent package removes H.264 from its"
                                              " GStreamer plugin"),
    (RHEL_8, 'h265', 'removes H.265'),
    (FEDORA_40, 'h265', 'no package of Fedora carries a GStreamer h265 encoder'),
    (facts('RedHat', '9.4', 'RedHat'), 'h264', 'no package of RedHat carries a GStreamer h264 encoder'),
]


@pytest.mark.parametrize('guest_facts,codec,problem', CODEC_CASES,
                         ids=['%s %s' % (case[0]['distribution'] + case[0]['distribution_version'], case[1])
                              for case in CODEC_CASES])
def test_a_codec_that_cannot_stream_is_refused_or_kept_on_mjpeg(guest_facts, codec, problem):
    given = {'package': DEB if guest_facts['os_family'] == 'Debian' else None, 'codec': codec}
    system = '%(distribution)s %(distribution_version)s (x86_64)' % guest_facts
    refusal = plan(guest_facts, **given)['refusal']
    assert refusal.startswith('%s runs %s: stream_agent_codec %s cannot work there: ' % (GUEST, system, codec))
    assert problem in refusal
    assert refusal.endswith('. Choose another stream_agent_codec (mjpeg always works), or set'
                            ' stream_agent_codec_fallback: true to keep such guests on MJPEG. Nothing was changed.')

    kept = ok(plan(guest_facts, codec_fallback=True, framerate=20, **given))
    assert (kept['codec'], kept['gstreamer'], kept['gstreamer_packages']) == ('mjpeg', False, [])
    assert kept['codec_warning'].startswith('stream_agent_codec %s cannot work on %s (' % (codec, system))
    assert kept['codec_warning'].endswith('); the agent streams MJPEG with its built-in encoder instead.')
    assert kept['warnings'] == [kept['codec_warning']], 'built-in MJPEG keeps to framerate: no framerate warning'


def test_the_refusal_names_the_encoder_asked_for():
    refusal = plan(DEBIAN_12, package=DEB, codec='vp8', encoder='vp8enc')['refusal']
    assert 'stream_agent_codec vp8 with encoder vp8enc cannot work there' in refusal


@pytest.mark.parametrize('guest_facts,codec,packages', [
    (DEBIAN_12, 'mjpeg', ['gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-bad', 'gstreamer1.0-plugins-good']),
    (UBUNTU_24, 'h264', ['gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-bad', 'gstreamer1.0-plugins-ugly']),
    (UBUNTU_22, 'h265', ['gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-bad']),
    (RHEL_8, 'vp8', ['gstreamer1-plugins-base', 'gstreamer1-plugins-bad-free', 'gstreamer1-plugins-good']),
    (FEDORA_40, 'h264', ['gstreamer1-plugins-base', 'gstreamer1-plugins-bad-free', 'gstreamer1-plugin-openh264']),
], ids=['Debian 12 jpegenc', 'Ubuntu 24.04 h264', 'Ubuntu 22.04 h265', 'RHEL 8 vp8', 'Fedora h264'])
def test_the_gstreamer_path_gets_the_platforms_packages(guest_facts, codec, packages):
    given = {'package': DEB if guest_facts['os_family'] == 'Debian' else None, 'codec': codec}
    if codec == 'mjpeg':
        given['encoder'] = 'jpegenc'
    result = ok(plan(guest_facts, **given))
    assert (result['codec'], result['gstreamer'], result['gstreamer_packages']) == (codec, True, packages)


def test_framerate_is_warned_about_on_the_gstreamer_path_only():
    result = ok(plan(FEDORA_40, codec='vp8', framerate=5))
    assert result['warnings'] == [
        "stream_agent_framerate 5 does not limit the frame rate of vp8 through the agent's GStreamer plugin, which"
        " sends frames as fast as it captures and encodes them; the value only reaches the encoder as the stream's"
        " nominal rate. Only the built-in MJPEG encoder (stream_agent_codec mjpeg without stream_agent_encoder) keeps"
        " to it."]
    assert ok(plan(FEDORA_40, framerate=5))['warnings'] == []
    assert len(ok(plan(FEDORA_40, encoder='jpegenc', framerate=5))['warnings']) == 1


def test_a_package_without_the_gstreamer_plugin_cannot_serve_another_codec():
    """The second decision of the same function: the package read tells what the platform could not."""
    so_far = 'Only the package file was copied to /var/cache/spice-streaming-agent/x.rpm; nothing was installed.'
    lines = package(version='0.3')
    assert ok(plan(FEDORA_40, codec='vp8'))['agent'] is None
    refusal = plan(FEDORA_40, lines, so_far=so_far, codec='vp8')['refusal']
    assert refusal == (
        '%s runs Fedora 40 (x86_64): stream_agent_codec vp8 cannot work there: the package spice-streaming-agent 0.3'
        ' has no GStreamer plugin (spice-streaming-agent/plugins/*.so), so it encodes MJPEG with its built-in encoder'
        ' only. Choose another stream_agent_codec (mjpeg always works), or set stream_agent_codec_fallback: true to'
        ' keep such guests on MJPEG. %s' % (GUEST, so_far))

    kept = ok(plan(FEDORA_40, lines, codec='vp8', codec_fallback=True, framerate=5))
    assert (kept['codec'], kept['gstreamer'], kept['gstreamer_packages']) == ('mjpeg', False, [])
    assert kept['warnings'] == [kept['codec_warning']] and 'has no GStreamer plugin' in kept['codec_warning']
    assert kept['agent']['exec'] == '/usr/bin/spice-streaming-agent -c framerate=5'

    assert ok(plan(FEDORA_40, package(plugin=True), codec='vp8'))['agent']['options'] == ['gst.codec=vp8']
    assert ok(plan(FEDORA_40, lines))['agent']['exec'] == '/usr/bin/spice-streaming-agent', 'MJPEG needs no plugin'


# The installed package: option syntax, Exec= line, files to write

@pytest.mark.parametrize('version,syntax', [
    ('0.3', 'legacy'), ('0.3-1', 'legacy'), ('0.3-2.el8', 'legacy'), ('1:0.3-1', 'legacy'), ('0.2.1', 'legacy'),
    ('0.3~rc1', 'legacy'), ('0.2', 'legacy'),
    ('0.3+git20200320-1', 'per_codec'), ('0.3^20200320git', 'per_codec'), ('0.3.1', 'per_codec'),
    ('0.4', 'per_codec'), ('0.4~git20200415-1', 'per_codec'), ('1.0-1', 'per_codec'), ('0.30', 'per_codec'),
])
def test_the_option_syntax_follows_the_upstream_version(version, syntax):
    assert ap.option_syntax(version) == syntax
    assert ok(plan(DEBIAN_12, package(version=version), package=DEB))['agent']['option_syntax'] == syntax


def test_the_option_syntax_can_be_forced():
    assert ap.option_syntax('0.3-1', 'per_codec') == 'per_codec'
    assert ap.option_syntax('0.4', 'legacy') == 'legacy'


GST = {'package': DEB, 'encoder': 'jpegenc', 'encoder_properties': {'quality': 85, 'idct-method': 'float'},
       'framerate': 20, 'extra_options': {'mjpeg.quality': 70}}


@pytest.mark.parametrize('version,given,exec_line', [
    ('0.3-1', {'package': DEB, 'framerate': 20}, '/usr/bin/spice-streaming-agent -c framerate=20'),
    ('0.3-1', {'package': DEB, 'extra_options': {'mjpeg.quality': 70}},
     '/usr/bin/spice-streaming-agent -c mjpeg.quality=70'),
    ('0.4-1', GST, '/usr/bin/spice-streaming-agent -c framerate=20 -c gst.mjpeg=jpegenc:quality=85,idct-method=float'
                   ' -c mjpeg.quality=70'),
    ('0.3-1', GST, '/usr/bin/spice-streaming-agent -c framerate=20 -c gst.codec=mjpeg -c gst.encoder=jpegenc'
                   ' -c gst.prop=quality=85 -c gst.prop=idct-method=float -c mjpeg.quality=70'),
    ('0.4-1', dict(GST, encoder=None, encoder_properties={}, codec='vp8', extra_options={}, framerate=None),
     '/usr/bin/spice-streaming-agent -c gst.vp8=auto'),
    ('0.3-1', dict(GST, encoder=None, encoder_properties={}, codec='vp8', extra_options={}, framerate=None),
     '/usr/bin/spice-streaming-agent -c gst.codec=vp8'),
], ids=['built-in framerate', 'built-in extra option', 'per-codec encoder and properties',
        'legacy encoder and properties', 'per-codec auto encoder', 'legacy codec only'])
def test_the_exec_line_carries_the_options_in_the_installed_syntax(version, given, exec_line):
    gstreamer = given.get('codec', 'mjpeg') != 'mjpeg' or given.get('encoder') is not None
    result = ok(plan(UBUNTU_24, package(version=version, plugin=gstreamer), **given))
    assert result['agent']['exec'] == exec_line


def test_built_in_mjpeg_keeps_a_shipped_gstreamer_plugin_out():
    agent = ok(plan(DEBIAN_12, package(version='0.4~git20200415-1', plugin=True), package=DEB, framerate=20))['agent']
    assert agent['exec'] == '/usr/bin/spice-streaming-agent --plugins-dir=/dev/null -c framerate=20'
    assert agent['gstreamer_plugin']


def test_session_files_the_package_ships_are_edited_and_the_others_written():
    ships_all = package(files=['/etc/xdg/autostart/spice-streaming.desktop',
                               '/usr/share/gdm/greeter/autostart/spice-streaming.desktop',
                               '/usr/lib/udev/rules.d/90-spice-guest-streaming.rules'])
    agent = ok(plan(DEBIAN_12, ships_all, package=DEB))['agent']
    assert agent['autostart_edit'] == ['/etc/xdg/autostart/spice-streaming.desktop',
                                       '/usr/share/gdm/greeter/autostart/spice-streaming.desktop']
    assert agent['autostart_write'] == [] and not agent['udev_rule_write']

    agent = ok(plan(DEBIAN_12, package(), package=DEB))['agent']
    assert agent['autostart_edit'] == [] and agent['udev_rule_write']
    assert agent['autostart_write'] == [ap.SESSION_AUTOSTART, ap.GREETER_AUTOSTART]

    agent = ok(plan(DEBIAN_12, package(files=['/lib/udev/rules.d/91-spice-stream.rules',
                                              '/etc/xdg/autostart/x.desktop']), package=DEB))['agent']
    assert agent['autostart_edit'] == ['/etc/xdg/autostart/x.desktop'] and not agent['udev_rule_write']
    assert agent['autostart_write'] == [ap.GREETER_AUTOSTART]


def test_the_binary_is_the_one_the_package_ships():
    agent = ok(plan(FEDORA_40, package(binary='/usr/local/bin/spice-streaming-agent')))['agent']
    assert agent['binary'] == '/usr/local/bin/spice-streaming-agent'
    assert agent['exec'] == '/usr/local/bin/spice-streaming-agent'
    assert ok(plan(FEDORA_40, package(binary='/usr/share/doc/x')))['agent']['binary'] == ap.BINARY


def test_a_dpkg_deb_listing_is_read_as_paths():
    lines = ['spice-streaming-agent', '0.3-1',
             'drwxr-xr-x root/root         0 2024-01-01 00:00 ./',
             '-rwxr-xr-x root/root     51232 2024-01-01 00:00 ./usr/bin/spice-streaming-agent',
             '-rw-r--r-- root/root       213 2024-01-01 00:00 ./etc/xdg/autostart/spice-streaming.desktop',
             'lrwxrwxrwx root/root         0 2024-01-01 00:00 ./usr/share/gdm/greeter/autostart/spice-streaming.desktop'
             ' -> /etc/xdg/autostart/spice-streaming.desktop']
    assert ap.read_package(lines)['files'] == [
        '/', '/usr/bin/spice-streaming-agent', '/etc/xdg/autostart/spice-streaming.desktop',
        '/usr/share/gdm/greeter/autostart/spice-streaming.desktop']
    agent = ok(plan(DEBIAN_12, lines, package=DEB))['agent']
    assert len(agent['autostart_edit']) == 2 and agent['autostart_write'] == []
    with pytest.raises(ap.PlanError, match='not its name and version'):
        ap.read_package(['spice-streaming-agent'])


def test_the_plan_is_the_same_whichever_step_computes_it():
    """Both calls decide the same way: the package only adds what it tells."""
    before = ok(plan(UBUNTU_22, package=DEB, codec='vp8', framerate=10))
    after = ok(plan(UBUNTU_22, package(plugin=True), package=DEB, codec='vp8', framerate=10))
    assert {key: value for key, value in after.items() if key != 'agent'} == \
        {key: value for key, value in before.items() if key != 'agent'}


# The filter

def test_the_filter_checks_its_arguments():
    result = stream_agent_plan(inputs(package=DEB), DEBIAN_12, PLATFORMS)
    assert result == plan(DEBIAN_12, package=DEB)
    with pytest.raises(AnsibleFilterError, match='inputs must be a dict, not list'):
        stream_agent_plan([], DEBIAN_12, PLATFORMS)
    with pytest.raises(AnsibleFilterError, match='the plan needs the inputs codec'):
        stream_agent_plan({key: value for key, value in inputs().items() if key != 'codec'}, DEBIAN_12, PLATFORMS)


def test_the_role_documents_the_platforms_it_supports():
    """The role's documentation says what the refusal says, from the same files."""
    with open(os.path.join(ROLE, 'meta', 'argument_specs.yml'), encoding='utf-8') as handle:
        description = ' '.join(yaml.safe_load(handle)['argument_specs']['main']['description'])
    plain = re.sub(r'\b[OCV]\(([^)]*)\)', r'\1', description)
    assert 'Supported guests are %s.' % SUPPORTED in plain
