# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stream_agent role on a real Debian 12 guest: one boot for the whole module.

The domain is defined without a stream channel; ``spice.streaming.libvirt_domain`` adds it
before the first start.  The role runs through ``ansible-playbook`` over SSH to 127.0.0.1,
with ``stream_agent_package`` set to the stand-in agent's ``.deb`` (Debian ships no agent;
the stand-in is a test double that speaks the real stream-device protocol, see
docs/test-guests.md).  A real X session as ``desk`` (Xvfb + ``dex -a``) runs the autostart
entry the role configured, and the host's live XML must show the channel ``connected``,
then ``disconnected`` when the session ends.

The tests share the VM and run in file order, each starting from the state the previous
one left (noted in each docstring).  The refusals come first, on the untouched guest.

Not a real thing here, and said where it is used:
- GDM is not installed (hundreds of packages under TCG): its configuration file is Debian's
  own ``/etc/gdm3/daemon.conf``, taken from the gdm3 package with ``apt-get download``.
- RHEL and Fedora guests cannot be booted here: their path runs the role's ``plan`` entry
  point in check mode with the distribution facts overridden (``set_fact cacheable``, which
  is what ``ansible_facts`` reads) after a real gathering on the controller.
- The stand-in has no GStreamer plugin; where a test needs a package that has one, the
  stand-in's ``.deb`` is rebuilt with a placeholder file at the plugin's path
  (``_with_plugin_placeholder``): the role decides by the package's file list, and the
  stand-in logs the plugin directory it was given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

from tests.support.libvirt_env import URI, ansible_bin, ansible_env, run_module
from tests.support.stand_in_agent.build_deb import build_deb

PORT = '/dev/virtio-ports/org.spice-space.stream.0'
EVENTS = '/tmp/spice-streaming-agent-test-double-1000.jsonl'   # desk, uid 1000
SESSION = '/etc/xdg/autostart/spice-streaming.desktop'
GREETER = '/usr/share/gdm/greeter/autostart/spice-streaming.desktop'
ROLE_RULE = '/etc/udev/rules.d/90-spice-guest-streaming.rules'
GDM_CONF = '/etc/gdm3/daemon.conf'
AGENT = '/usr/bin/spice-streaming-agent'
BOOT_TIMEOUT = 600   # TCG on a loaded 2-core machine; the harness returns as soon as it is up
FIGURES = {}         # seconds per role run, printed at the end of the module

# What the guest looks like, in one SSH round trip: the agent package, every file the role
# may write or edit, and the port's mode.
_STATE = r"""
dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n' spice-streaming-agent 2>/dev/null
find /etc/xdg/autostart /usr/share/gdm /etc/udev/rules.d /usr/lib/udev/rules.d /etc/gdm3 \
     /var/cache/spice-streaming-agent -type f 2>/dev/null | sort | xargs -r sha256sum
stat -L -c '%a' /dev/virtio-ports/org.spice-space.stream.0 2>/dev/null
true
"""

_PLAYBOOK = """
- name: Run the stream_agent role as a test asks, and keep what it said
  hosts: streaming_guests
  gather_facts: false
  tasks:
    - name: Override the distribution facts after a real gathering (RHEL and Fedora cases)
      when: sst_fake_facts is defined
      block:
        - name: Gather the facts
          ansible.builtin.setup:
            gather_subset: ['!all', '!min', distribution, platform, selinux]
        - name: Override them; set_fact cacheable is what ansible_facts reads
          ansible.builtin.set_fact:
            distribution: "{{ sst_fake_facts.distribution }}"
            os_family: "{{ sst_fake_facts.os_family }}"
            distribution_major_version: "{{ sst_fake_facts.version.split('.')[0] }}"
            distribution_version: "{{ sst_fake_facts.version }}"
            architecture: "{{ sst_fake_facts.architecture | default('x86_64') }}"
            selinux: "{{ sst_fake_facts.selinux | default(ansible_facts.selinux) }}"
            cacheable: true

    - name: The role
      block:
        - name: Run spice.streaming.stream_agent
          ansible.builtin.include_role:
            name: spice.streaming.stream_agent
            tasks_from: "{{ sst_entry | default('main') }}"
      rescue:
        - name: Keep the failure
          ansible.builtin.set_fact:
            sst_failure: "{{ ansible_failed_result.msg }}"
      always:
        - name: Write what the role said
          ansible.builtin.copy:
            content: >-
              {{ {'result': stream_agent_result | default(none), 'plan': stream_agent_plan | default(none),
                  'failure': sst_failure | default(none)} | to_json }}
            dest: "{{ sst_out }}"
            mode: "0600"
          delegate_to: localhost
          check_mode: false
          changed_when: false
          diff: false
"""


class RoleRun:
    """One ansible-playbook run of the role: its recap, output, and what the role set."""

    def __init__(self, proc, said, seconds):
        self.proc = proc
        self.output = proc.stdout + proc.stderr
        self.seconds = seconds
        self.result = said.get('result')
        self.plan = said.get('plan')
        self.failure = said.get('failure')
        self.recap = {}
        for line in proc.stdout.splitlines():
            if ' : ok=' in line:
                host, counts = line.split(' : ', 1)
                self.recap[host.strip()] = {key: int(value) for key, value in
                                            (item.split('=') for item in counts.split())}

    @property
    def changed(self):
        return sum(counts['changed'] for counts in self.recap.values())

    def __repr__(self):
        return 'RoleRun(rc=%d, recap=%s, failure=%r)\n%s' % (
            self.proc.returncode, self.recap, self.failure, self.output[-12000:])


def run_role(inventory, extra_vars=None, check=False, entry='main', label=None, limit=None, files=None):
    """Run the role with ansible-playbook (diff on) and return what happened; ``files`` (name:
    content) go to the playbook's files/ directory."""
    with tempfile.TemporaryDirectory(prefix='sst-role-') as workdir:
        for name, content in (files or {}).items():
            os.makedirs(os.path.join(workdir, 'files'), exist_ok=True)
            with open(os.path.join(workdir, 'files', name), 'wb') as handle:
                handle.write(content)
        playbook = os.path.join(workdir, 'play.yml')
        out = os.path.join(workdir, 'said.json')
        with open(playbook, 'w', encoding='utf-8') as handle:
            handle.write(_PLAYBOOK)
        variables = dict(extra_vars or {}, sst_out=out, sst_entry=entry)
        command = [ansible_bin('ansible-playbook'), '-i', inventory, playbook, '--diff',
                   '-e', json.dumps(variables)]
        if check:
            command.append('--check')
        if limit:
            command.extend(['--limit', limit])
        started = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True, env=ansible_env(),
                              timeout=3600, check=False)
        seconds = time.monotonic() - started
        said = {}
        if os.path.exists(out):
            with open(out, encoding='utf-8') as handle:
                said = json.load(handle)
    if label:
        FIGURES.setdefault(label, []).append(round(seconds, 1))
    run = RoleRun(proc, said, seconds)
    assert proc.returncode == 0 and run.recap, run   # role failures are rescued and kept
    return run


def _with_plugin_placeholder(deb, outdir):
    """The stand-in's package plus a file at the GStreamer plugin's path (see module doc)."""
    root = tempfile.mkdtemp(prefix='sst-deb-plugin-')
    try:
        subprocess.run(['dpkg-deb', '-R', deb, root], check=True, capture_output=True)
        plugins = os.path.join(root, 'usr/lib/spice-streaming-agent/plugins')
        os.makedirs(plugins)
        with open(os.path.join(plugins, 'gst-plugin.so'), 'w', encoding='ascii') as handle:
            handle.write('placeholder for the GStreamer plugin of a real agent package (test double)\n')
        os.makedirs(outdir, exist_ok=True)
        target = os.path.join(outdir, os.path.basename(deb))
        subprocess.run(['dpkg-deb', '--root-owner-group', '-Zgzip', '--build', root, target],
                       check=True, capture_output=True)
    finally:
        subprocess.run(['rm', '-rf', root], check=True)
    return target


def _events(vm):
    text = vm.ssh('cat %s 2>/dev/null || true' % EVENTS).stdout
    return [json.loads(line) for line in text.splitlines()]


def _exec_lines(vm, *paths):
    return vm.ssh('grep -h ^Exec= %s' % ' '.join(paths)).stdout.splitlines()


def session_sees_agent(vm):
    """A real X session as desk runs the autostart entries; the host must see the agent
    connect, then disconnect when the session ends.  Returns the stand-in's start event."""
    vm.ssh('rm -f %s' % EVENTS)
    assert vm.channel_state() == 'disconnected'
    vm.start_x_session(display=':1')
    try:
        vm.wait_channel_state('connected', timeout=180)
        # The agent logs port-open just after its open(), which the host may see first.
        events = vm.wait_until('the agent logging port-open', lambda: _events(vm),
                               lambda seen: any(event['event'] == 'port-open' for event in seen), timeout=120)
        starts = [event for event in events if event['event'] == 'start']
        assert len(starts) == 1, starts
    finally:
        vm.end_x_session(display=':1')
    vm.wait_channel_state('disconnected', timeout=120)
    return starts[0]


@pytest.fixture(scope='module')
def debs(tmp_path_factory):
    base = str(tmp_path_factory.mktemp('debs'))
    later = build_deb(os.path.join(base, 'binary-only'), version='0.4~git20200415-1', session_files=False)
    return {
        'legacy': build_deb(base, version='0.3-1'),
        'later_plugin_binary_only': _with_plugin_placeholder(later, os.path.join(base, 'plugin')),
    }


@pytest.fixture(scope='module')
def gdm_daemon_conf(tmp_path_factory):
    """Debian 12's own /etc/gdm3/daemon.conf, from the gdm3 package in the Debian archive."""
    workdir = str(tmp_path_factory.mktemp('gdm3'))
    os.chmod(workdir, 0o755)   # apt's _apt user downloads into it
    subprocess.run(['apt-get', 'download', '-q', 'gdm3'], cwd=workdir, check=True, capture_output=True)
    deb = [name for name in os.listdir(workdir) if name.endswith('.deb')][0]
    tar = subprocess.run(['dpkg-deb', '--fsys-tarfile', os.path.join(workdir, deb)], check=True,
                         capture_output=True).stdout
    conf = subprocess.run(['tar', '-xO', './etc/gdm3/daemon.conf'], input=tar, check=True,
                          capture_output=True).stdout.decode()
    assert '#WaylandEnable=false' in conf, conf
    return conf


@pytest.fixture(scope='module')
def guest(module_guest_vms, request):
    vm = module_guest_vms.new('agent')
    run = run_module('spice.streaming.libvirt_domain',
                     {'uri': URI, 'name': [vm.name], 'agent_channel': 'present'})
    assert not run.failed and run.changed, run
    started = time.monotonic()
    vm.start()
    vm.wait_ssh(BOOT_TIMEOUT)
    FIGURES['boot to SSH and booted'] = [round(time.monotonic() - started, 1)]
    yield vm
    # Straight to the terminal, past pytest's capture (as capsys.disabled() does): these are
    # the figures to quote.
    plugins = request.config.pluginmanager
    with plugins.getplugin('capturemanager').global_and_fixture_disabled():
        plugins.getplugin('terminalreporter').write_line(
            '\n[stream_agent figures, seconds] %s' % json.dumps(FIGURES))


@pytest.fixture(scope='module')
def inventory(guest, tmp_path_factory):
    host_vars = dict(guest.ansible_host_vars(), ansible_pipelining=True,
                     stream_agent_domain=guest.name, stream_agent_hypervisor='localhost',
                     stream_agent_framerate=20)
    path = str(tmp_path_factory.mktemp('inventory') / 'inventory.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        yaml.safe_dump({'streaming_guests': {'hosts': {'desk': host_vars}}}, handle)
    return path


def state(vm):
    return vm.ssh(_STATE).stdout


SERVE_PORT = 8931
_SERVE = r"""
set -e
mkdir -p /run/sst-serve
cd /run/sst-serve
setsid python3 -m http.server {port} --bind 127.0.0.1 --directory /run/sst-serve \
    >/run/sst-serve.log 2>&1 </dev/null &
echo $! > /run/sst-serve.pid
for _ in $(seq 100); do
    python3 -c 'import socket; socket.create_connection(("127.0.0.1", {port}), 1)' 2>/dev/null && exit 0
    sleep 0.2
done
exit 1
"""


@pytest.fixture(scope='module')
def package_url(guest, debs):
    """stream_agent_package as a URL with credentials (user information and a token): a web
    server on the guest's own 127.0.0.1 serves the 0.3-1 package (it ignores both).  Gives
    (url of a path, its log).  Outside every directory the tests compare."""
    guest.copy_to(debs['legacy'], '/run/')
    guest.ssh('mkdir -p /run/sst-serve && mv /run/%s /run/sst-serve/' % os.path.basename(debs['legacy']))
    guest.ssh(_SERVE.format(port=SERVE_PORT))
    yield ('http://desk:s3cret-pw@127.0.0.1:%d/{}?private_token=glpat-SECRET' % SERVE_PORT).format, \
        lambda: guest.ssh('cat /run/sst-serve.log').stdout
    guest.ssh('kill "$(cat /run/sst-serve.pid)"; rm -rf /run/sst-serve /run/sst-serve.pid /run/sst-serve.log')


def _masked(url):
    return url.replace('s3cret-pw', '********').replace('glpat-SECRET', '********')


def test_refusals_change_nothing(guest, inventory, debs, package_url):
    """Untouched guest.  Each input the role cannot honour fails before any change, with a
    message naming the guest, its domain and hypervisor, and what to do."""
    before = state(guest)
    assert 'spice-streaming-agent' not in before.splitlines()[0]

    # A real unsupported guest: Debian 12 ships no agent package.
    run = run_role(inventory, label='refusal')
    assert 'runs Debian 12' in run.failure and 'ships no spice-streaming-agent package' in run.failure
    assert 'domain %s, on hypervisor localhost' % guest.name in run.failure
    assert 'stream_agent_package' in run.failure and 'Nothing was changed.' in run.failure

    # The Debian 12 trap: H.264 through the agent's GStreamer plugin connects and sends nothing.
    run = run_role(inventory, {'stream_agent_package': debs['legacy'], 'stream_agent_codec': 'h264'},
                   label='refusal')
    assert 'stream_agent_codec h264' in run.failure and 'autovideoconvert' in run.failure, run
    assert 'stream_agent_codec_fallback' in run.failure and 'Nothing was changed.' in run.failure

    # A package for the other package tool.
    run = run_role(inventory, {'stream_agent_package': debs['legacy'][:-4] + '.rpm'}, label='refusal')
    assert "which installs .deb packages with apt" in run.failure, run
    assert run.failure.endswith('Nothing was changed.'), run

    # Option values the agent would split, or the Exec= line would need to quote.
    run = run_role(inventory, {'stream_agent_package': debs['legacy'], 'stream_agent_codec': 'vp8',
                               'stream_agent_encoder': 'vp8enc',
                               'stream_agent_encoder_properties': {'deadline': '1,cpu-used=4'}},
                   label='refusal')
    assert 'letters, digits' in run.failure, run

    # A URL that is not there: check mode asks the server, and says so with the URL masked.
    url, served = package_url
    missing = url('spice-streaming-agent_0.2-1_all.deb')
    run = run_role(inventory, {'stream_agent_package': missing}, check=True, label='refusal')
    assert run.failure == ('Guest desk (domain %s, on hypervisor localhost) could not download'
                           ' stream_agent_package %s: Request failed: HTTP Error 404: File not found. Check the URL can be'
                           ' reached from the guest. Nothing was changed.'
                           % (guest.name, _masked(missing))), run
    assert 's3cret-pw' not in run.output and 'glpat-SECRET' not in run.output, run

    # The fallback keeps the guest on MJPEG with a warning; checked in check mode only, with the
    # package from a URL: on this fresh guest (no cache directory yet) check mode asks the server
    # for the file (HEAD), downloads nothing and reports the install, its credentials masked.
    package = url(os.path.basename(debs['legacy']))
    run = run_role(inventory, {'stream_agent_package': package, 'stream_agent_codec': 'vp9',
                               'stream_agent_codec_fallback': True}, check=True, label='check, fresh guest')
    assert run.failure is None, run
    assert run.result['codec'] == 'mjpeg' and run.result['pending_install'], run.result
    assert 'streams MJPEG with its built-in encoder instead' in run.result['warnings'][0]
    assert 'WARNING: Guest desk' in run.output
    assert 'would install %s;' % _masked(package) in ' '.join(run.output.split()), run
    assert run.plan['package'] == _masked(package), run.plan
    assert 's3cret-pw' not in run.output and 'glpat-SECRET' not in run.output, run
    requests = [line for line in served().splitlines() if '"HEAD /' in line or '"GET /' in line]
    assert [line.split('"')[1] for line in requests] == [
        'HEAD /spice-streaming-agent_0.2-1_all.deb?private_token=glpat-SECRET HTTP/1.1',
        'HEAD /%s?private_token=glpat-SECRET HTTP/1.1' % os.path.basename(debs['legacy'])], requests

    assert state(guest) == before


def test_install_check_real_check(guest, inventory, debs, gdm_daemon_conf):
    """Untouched guest, plus Debian's own GDM daemon.conf.  The stand-in 0.3-1 ships the udev
    rule and both autostart entries: the role keeps them and edits only their Exec= line."""
    guest.ssh('mkdir -p /etc/gdm3 && cat > %s' % GDM_CONF, input=gdm_daemon_conf)
    before = state(guest)
    variables = {'stream_agent_package': debs['legacy']}

    check = run_role(inventory, variables, check=True, label='check, fresh guest')
    assert check.failure is None and check.changed > 0, check
    assert check.result['pending_install'] and 'would install' in check.output, check.result
    assert '+WaylandEnable=false' in check.output, 'check mode shows the GDM diff'
    assert state(guest) == before, 'check mode changed the guest'

    real = run_role(inventory, variables, label='first real run')
    assert real.failure is None and real.changed > 0, real
    result = real.result
    assert (result['package'], result['version'], result['option_syntax']) == \
        ('spice-streaming-agent', '0.3-1', 'legacy'), result
    assert result['exec'] == AGENT + ' -c framerate=20', result
    assert result['warnings'] == [], 'the built-in MJPEG encoder keeps to framerate'
    assert sorted(result['autostart_edited']) == sorted([SESSION, GREETER]) and not result['autostart_written']
    assert result['new_session_needed'] and not result['display_manager_restarted']
    assert 'need a new session' in real.output
    assert result['gdm_x11'] == 'WaylandEnable=false in ' + GDM_CONF

    assert _exec_lines(guest, SESSION, GREETER) == ['Exec=%s -c framerate=20' % AGENT] * 2
    assert guest.ssh('test -e %s || echo none' % ROLE_RULE).stdout.strip() == 'none', \
        'the package ships its udev rule; the role writes none'
    assert guest.ssh('stat -L -c %%a %s' % PORT).stdout.strip() == '666'
    # Only the WaylandEnable line of Debian's daemon.conf changed.
    conf = guest.ssh('cat %s' % GDM_CONF).stdout
    assert conf == gdm_daemon_conf.replace('\n#WaylandEnable=false\n', '\nWaylandEnable=false\n'), conf
    installed = state(guest)

    # A second real run of this very case (the 0.3-1 package, its own session files) is the
    # idempotence step of the molecule scenario extensions/molecule/stream_agent; here check
    # mode on the converged guest must predict no change and change nothing.
    again = run_role(inventory, variables, check=True, label='check, converged guest')
    assert again.failure is None and again.changed == 0, again
    assert again.result['exec'] == result['exec'] and not again.result['new_session_needed']
    assert 'Nothing changed for running sessions.' in again.output
    assert state(guest) == installed


def test_real_session_starts_the_agent_and_the_host_sees_it(guest):
    """After the install: a session as desk starts the agent with the role's options."""
    start = session_sees_agent(guest)
    assert start['argv'] == [AGENT, '-c', 'framerate=20'], start
    assert start['settings']['framerate'] == 20 and start['settings']['gst'] is None
    assert start['display'] == ':1' and start['user'] == 1000


def test_package_without_session_files_gets_them_from_the_role(guest, inventory, debs):
    """After 0.3-1: an upgrade to a later version that ships only the binary (and has a
    GStreamer plugin).  The role writes the udev rule and both autostart entries, keeps the
    plugin out of a built-in MJPEG agent, and a session connects."""
    variables = {'stream_agent_package': debs['later_plugin_binary_only']}
    real = run_role(inventory, variables, label='upgrade, role writes session files')
    assert real.failure is None and real.changed > 0, real
    result = real.result
    assert result['version'] == '0.4~git20200415-1' and result['option_syntax'] == 'per_codec', result
    assert sorted(result['autostart_written']) == sorted([SESSION, GREETER]), result
    expected = AGENT + ' --plugins-dir=/dev/null -c framerate=20'
    assert result['exec'] == expected
    assert _exec_lines(guest, SESSION, GREETER) == ['Exec=' + expected] * 2
    rule = guest.ssh('cat %s' % ROLE_RULE).stdout
    assert 'ATTR{name}=="org.spice-space.stream.0"' in rule and 'MODE="0666"' in rule
    assert guest.ssh('stat -L -c %%a %s' % PORT).stdout.strip() == '666'

    again = run_role(inventory, variables, label='second real run')
    assert again.failure is None and again.changed == 0, again

    start = session_sees_agent(guest)
    assert start['argv'] == expected.split(), start
    assert start['plugins_dir'] == '/dev/null' and start['plugins_found'] == []


def test_gstreamer_options_in_both_syntaxes(guest, inventory, debs):
    """After the later, plugin-carrying package: MJPEG through GStreamer's jpegenc, written in
    the installed version's syntax, then forced to release 0.3's.  The GStreamer packages the
    plugin's pipeline needs are in the test image already (tests/support/guest_image.py), so the
    role finds them installed instead of fetching 127 packages under TCG."""
    variables = {'stream_agent_package': debs['later_plugin_binary_only'], 'stream_agent_encoder': 'jpegenc',
                 'stream_agent_encoder_properties': {'quality': 85}}
    real = run_role(inventory, variables, label='GStreamer packages and per-codec options')
    assert real.failure is None and real.changed > 0, real
    assert real.result['exec'] == AGENT + ' -c framerate=20 -c gst.mjpeg=jpegenc:quality=85', real.result
    assert real.result['warnings'][0].startswith('stream_agent_framerate 20 does not limit the frame rate of mjpeg'
                                                 " through the agent's GStreamer plugin"), real.result
    assert 'install ok installed' in guest.ssh(
        "dpkg-query -W -f '${db:Status-Abbrev} ${Status}\\n' gstreamer1.0-plugins-bad").stdout
    start = session_sees_agent(guest)
    assert start['settings']['gst'] == {'syntax': 'later', 'codecs': {
        'mjpeg': {'encoder': 'jpegenc', 'props': {'quality': '85'}}}}, start

    variables['stream_agent_option_syntax'] = 'legacy'
    legacy = run_role(inventory, variables, label='legacy options')
    assert legacy.failure is None and legacy.changed > 0, legacy
    assert legacy.result['exec'] == (AGENT + ' -c framerate=20 -c gst.codec=mjpeg -c gst.encoder=jpegenc'
                                     ' -c gst.prop=quality=85'), legacy.result
    start = session_sees_agent(guest)
    assert start['settings']['gst'] == {'syntax': '0.3', 'codec': 'mjpeg', 'encoder': 'jpegenc',
                                        'props': {'quality': '85'}}, start


def test_missing_stream_port_fails_naming_domain_and_hypervisor(guest, inventory, debs):
    """Last, as it takes the port away: the channel is hot-unplugged (libvirt 9.0 can), the
    guest loses its port, and the role fails before changing anything."""
    subprocess.run(['virsh', '-c', URI, 'detach-device', guest.name, '--live', '/dev/stdin'],
                   input="""<channel type='spiceport'>
  <source channel='org.spice-space.stream.0'/>
  <target type='virtio' name='org.spice-space.stream.0'/>
</channel>""", text=True, check=True, capture_output=True)
    deadline = time.monotonic() + 120
    while guest.ssh('test -e %s && echo present || true' % PORT).stdout.strip():
        assert time.monotonic() < deadline, 'the guest still has its stream port'
        time.sleep(1)
    before = state(guest)
    run = run_role(inventory, {'stream_agent_package': debs['legacy'], 'stream_agent_framerate': 30},
                   label='refusal')
    assert 'has no %s' % PORT in run.failure, run
    assert 'domain %s on hypervisor localhost' % guest.name in run.failure
    assert 'spice.streaming.host_streaming' in run.failure and 'enable_streaming.yml' in run.failure
    assert 'Nothing was changed.' in run.failure
    assert state(guest) == before


# RHEL and Fedora, checked against ../shared/docs/spice-streaming.md: RHEL 8 ships
# spice-streaming-agent 0.3 for x86_64 only with H.264 and H.265 removed downstream; the
# autostart entries are /etc/xdg/autostart/spice-streaming.desktop and
# /usr/share/gdm/greeter/autostart/spice-streaming.desktop; the binary is labelled
# xserver_exec_t; GDM reads /etc/gdm/custom.conf on RHEL.
RHEL_CASES = [
    ('RedHat 8 x86_64, VP8', {'distribution': 'RedHat', 'os_family': 'RedHat', 'version': '8.10'},
     {'stream_agent_codec': 'vp8'}, None),
    ('Rocky 8, H.264', {'distribution': 'Rocky', 'os_family': 'RedHat', 'version': '8.9'},
     {'stream_agent_codec': 'h264'}, 'removes H.264'),
    ('AlmaLinux 9 aarch64', {'distribution': 'AlmaLinux', 'os_family': 'RedHat', 'version': '9.4',
                             'architecture': 'aarch64'}, {}, 'x86_64'),
    ('CentOS 10, SELinux enforcing', {'distribution': 'CentOS', 'os_family': 'RedHat', 'version': '10',
                                      'selinux': {'status': 'enabled', 'mode': 'enforcing'}}, {}, None),
    ('Fedora 40 aarch64, H.264', {'distribution': 'Fedora', 'os_family': 'RedHat', 'version': '40',
                                  'architecture': 'aarch64'}, {'stream_agent_codec': 'h264'}, None),
    ('Fedora 40, H.265', {'distribution': 'Fedora', 'os_family': 'RedHat', 'version': '40'},
     {'stream_agent_codec': 'h265'}, 'no package of Fedora carries a GStreamer h265 encoder'),
    ('RedHat 9 given a .deb', {'distribution': 'RedHat', 'os_family': 'RedHat', 'version': '9.4'},
     {'stream_agent_package': '/srv/agent.deb'}, 'which installs .rpm packages with dnf'),
]


@pytest.fixture(scope='module')
def controller_inventory(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('controller') / 'inventory.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        yaml.safe_dump({'streaming_guests': {'hosts': {'desk-rh': {
            'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
            'stream_agent_domain': 'desk-rh-domain', 'stream_agent_hypervisor': 'hv-rh'}}}}, handle)
    return path


@pytest.mark.parametrize('label,facts,variables,refusal', RHEL_CASES, ids=[case[0] for case in RHEL_CASES])
def test_rhel_and_fedora_plan_in_check_mode(controller_inventory, label, facts, variables, refusal):
    run = run_role(controller_inventory, dict(variables, sst_fake_facts=facts), check=True, entry='plan')
    if refusal:
        assert refusal in run.failure, run
        assert 'Guest desk-rh (domain desk-rh-domain, on hypervisor hv-rh)' in run.failure
        assert run.failure.endswith('Nothing was changed.'), run.failure
        return
    assert run.failure is None, run
    plan = run.plan
    assert plan['package_source'] == 'distribution' and plan['package'] == 'spice-streaming-agent', plan
    assert plan['package_tool'] == 'dnf'
    assert plan['session_autostart'] == SESSION and plan['greeter_autostart'] == GREETER
    assert plan['udev_rule'] == ROLE_RULE and plan['port'] == PORT
    assert plan['gdm_config'] == '/etc/gdm/custom.conf'
    codec = variables.get('stream_agent_codec', 'mjpeg')
    assert plan['codec'] == codec and plan['gstreamer'] == (codec != 'mjpeg')
    expected_packages = {
        'mjpeg': [],
        'vp8': ['gstreamer1-plugins-base', 'gstreamer1-plugins-bad-free', 'gstreamer1-plugins-good'],
        'h264': ['gstreamer1-plugins-base', 'gstreamer1-plugins-bad-free', 'gstreamer1-plugin-openh264'],
    }
    assert plan['gstreamer_packages'] == expected_packages[codec], plan
    assert plan['selinux_label'] == ('xserver_exec_t' if 'selinux' in facts else None), plan


# Platforms the role does not support, and the inputs the plan must catch on those it does.
# Each runs the plan entry point on the controller with the distribution facts overridden, as
# the RHEL cases above; DEB stands for a .deb file that exists on the controller.
SUPPORTED = ('It supports Debian 12, Ubuntu 22.04 and 24.04 (with stream_agent_package, a .deb), RHEL 8, 9 and 10'
             ' and their rebuilds (CentOS Stream, AlmaLinux, Rocky Linux) and Fedora')
DEBIAN_12 = {'distribution': 'Debian', 'os_family': 'Debian', 'version': '12.8'}
UBUNTU_24 = {'distribution': 'Ubuntu', 'os_family': 'Debian', 'version': '24.04'}
SECRET_URL = 'https://desk:s3cret-pw@files.example.org/agent/spice-streaming-agent_0.3-1_amd64.%s?private_token=glpat-SECRET'
UNSUPPORTED_CASES = [
    ('openSUSE Leap 15.5 given an .rpm', {'distribution': 'openSUSE Leap', 'os_family': 'Suse', 'version': '15.5'},
     {'stream_agent_package': SECRET_URL % 'rpm'}),
    ('SLES 15', {'distribution': 'SLES', 'os_family': 'Suse', 'version': '15.5'}, {}),
    ('Alpine 3.19', {'distribution': 'Alpine', 'os_family': 'Alpine', 'version': '3.19.1'}, {}),
    ('Arch Linux', {'distribution': 'Archlinux', 'os_family': 'Archlinux', 'version': '2024'}, {}),
    ('CentOS 7.9', {'distribution': 'CentOS', 'os_family': 'RedHat', 'version': '7.9'}, {}),
    ('Debian 11 given a .deb', {'distribution': 'Debian', 'os_family': 'Debian', 'version': '11.11'},
     {'stream_agent_package': 'DEB'}),
]


@pytest.fixture(scope='module')
def controller_deb(tmp_path_factory):
    """A file named like an agent package on the controller: the plan only looks at its path."""
    path = tmp_path_factory.mktemp('controller-deb') / 'spice-streaming-agent_0.3-1_amd64.deb'
    path.write_bytes(b'not read by the plan')
    return str(path)


def _plan(controller_inventory, facts, variables, deb=None):
    variables = {key: (deb if value == 'DEB' else value) for key, value in variables.items()}
    return run_role(controller_inventory, dict(variables, sst_fake_facts=facts), check=True, entry='plan')


@pytest.mark.parametrize('label,facts,variables', UNSUPPORTED_CASES, ids=[case[0] for case in UNSUPPORTED_CASES])
def test_an_unsupported_platform_gets_one_refusal_naming_what_is_supported(controller_inventory, controller_deb,
                                                                           label, facts, variables):
    run = _plan(controller_inventory, facts, variables, controller_deb)
    name = '%s %s (x86_64)' % (facts['distribution'], facts['version'])
    assert run.failure == ('Guest desk-rh (domain desk-rh-domain, on hypervisor hv-rh) runs %s, which the'
                           ' stream_agent role does not support. %s (the distribution\'s spice-streaming-agent,'
                           ' or stream_agent_package, an .rpm). Nothing was changed.' % (name, SUPPORTED)), run
    assert run.plan is None and 'dnf' not in run.output and 'apt' not in run.output, run
    assert 's3cret' not in run.output and 'glpat-SECRET' not in run.output


@pytest.mark.parametrize('facts,gdm', [(DEBIAN_12, '/etc/gdm3/daemon.conf'),
                                       ({'distribution': 'Ubuntu', 'os_family': 'Debian', 'version': '22.04'},
                                        '/etc/gdm3/custom.conf'),
                                       (UBUNTU_24, '/etc/gdm3/custom.conf')],
                         ids=['Debian 12', 'Ubuntu 22.04', 'Ubuntu 24.04'])
def test_debian_and_ubuntu_plan_a_deb_from_the_controller(controller_inventory, controller_deb, facts, gdm):
    run = _plan(controller_inventory, facts, {'stream_agent_package': 'DEB'}, controller_deb)
    assert run.failure is None, run
    plan = run.plan
    assert (plan['package_source'], plan['package'], plan['package_tool']) == ('file', controller_deb, 'apt'), plan
    assert plan['gdm_config'] == gdm and plan['warnings'] == [], plan


def test_a_package_path_the_controller_lacks_is_refused_in_the_plan(controller_inventory, controller_deb, tmp_path):
    """Before: found by ansible.builtin.copy, after the role had made the cache directory."""
    missing = str(tmp_path / 'nowhere' / 'spice-streaming-agent_0.3-1_amd64.deb')
    run = _plan(controller_inventory, DEBIAN_12, {'stream_agent_package': missing})
    assert run.failure == ('Guest desk-rh (domain desk-rh-domain, on hypervisor hv-rh): stream_agent_package %s is'
                           ' not a file on the controller. Give the path of the .deb on the controller, absolute or'
                           ' relative to the playbook (or in its files/ directory), or an http(s) or ftp URL.'
                           ' Nothing was changed.' % missing), run
    directory = tmp_path / 'agent.deb'
    directory.mkdir()
    run = _plan(controller_inventory, DEBIAN_12, {'stream_agent_package': str(directory)})
    assert 'is not a file on the controller (%s is a directory)' % directory in run.failure, run


def test_a_package_name_is_found_in_the_playbooks_files_directory(controller_inventory):
    """As ansible.builtin.copy finds its src: a bare file name is looked for in the playbook's
    files/ directory (and the role's), then beside the playbook."""
    name = 'spice-streaming-agent_0.3-1_amd64.deb'
    run = run_role(controller_inventory, {'stream_agent_package': name, 'sst_fake_facts': DEBIAN_12}, check=True,
                   entry='plan', files={name: b'not read by the plan'})
    assert run.failure is None, run
    assert run.plan['package'] == name and run.plan['package_src'].endswith('/files/' + name), run.plan
    assert run.plan['package_path'] == '/var/cache/spice-streaming-agent/' + name, run.plan


def test_a_package_url_is_shown_with_its_credentials_masked(controller_inventory):
    masked = ('https://desk:********@files.example.org/agent/spice-streaming-agent_0.3-1_amd64.%s'
              '?private_token=********')
    run = _plan(controller_inventory, UBUNTU_24, {'stream_agent_package': SECRET_URL % 'deb'})
    assert run.failure is None, run
    assert run.plan['package'] == masked % 'deb', run.plan
    assert 's3cret' not in run.output and 'glpat-SECRET' not in run.output, run

    # The wrong package format for the guest: the message shows the URL masked too.
    run = _plan(controller_inventory, UBUNTU_24, {'stream_agent_package': SECRET_URL % 'rpm'})
    assert run.failure == ('Guest desk-rh (domain desk-rh-domain, on hypervisor hv-rh) runs Ubuntu 24.04 (x86_64),'
                           ' which installs .deb packages with apt, but stream_agent_package is %s. Give a .deb'
                           ' built for it. Nothing was changed.' % (masked % 'rpm')), run
    assert 's3cret' not in run.output and 'glpat-SECRET' not in run.output, run


def test_framerate_with_the_gstreamer_plugin_is_warned_about(controller_inventory):
    """The agent's GStreamer plugin does not pace frames by framerate (docs/stream-agent.md)."""
    fedora = {'distribution': 'Fedora', 'os_family': 'RedHat', 'version': '40'}
    run = _plan(controller_inventory, fedora, {'stream_agent_codec': 'vp8', 'stream_agent_framerate': 5})
    assert run.failure is None, run
    warning = ("stream_agent_framerate 5 does not limit the frame rate of vp8 through the agent's GStreamer"
               " plugin, which sends frames as fast as it captures and encodes them")
    assert len(run.plan['warnings']) == 1 and run.plan['warnings'][0].startswith(warning), run.plan
    assert 'WARNING: Guest desk-rh (domain desk-rh-domain, on hypervisor hv-rh): ' + warning in run.output

    # The built-in MJPEG encoder keeps to it: no warning.
    run = _plan(controller_inventory, fedora, {'stream_agent_framerate': 5})
    assert run.failure is None and run.plan['warnings'] == [], run
    assert 'WARNING' not in run.output


def test_an_option_value_ending_in_a_newline_is_refused_in_the_plan(controller_inventory, controller_deb):
    """Before: the check was Jinja's ``match`` with ``^...$``, whose ``$`` also matches before a
    final newline, so ``70\\n`` passed and split the autostart entry's ``Exec=`` line in two."""
    run = _plan(controller_inventory, DEBIAN_12, {'stream_agent_package': 'DEB',
                                                  'stream_agent_extra_options': {'mjpeg.quality': '70\n'}},
                controller_deb)
    assert run.failure is not None and 'take names and values made of letters, digits' in run.failure, run
    assert run.failure.endswith('Nothing was changed.') and run.plan is None, run
