# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real libvirt for tests: domain templates, and the module run as Ansible runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

URI = os.environ.get('SPICE_STREAMING_TEST_URI', 'qemu:///system')
# The interpreter a Debian hypervisor runs modules with: python3-libvirt and python3-lxml.
SYSTEM_PYTHON = '/usr/bin/python3'
STREAM = 'org.spice-space.stream.0'

SPICE_GRAPHICS = """<graphics type='spice' autoport='no'>
      <listen type='none'/>
    </graphics>"""
VNC_GRAPHICS = """<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>"""
VIRTIO_SERIAL = "<controller type='virtio-serial' index='0'/>"
VDAGENT = """<channel type='spicevmc'>
      <target type='virtio' name='com.redhat.spice.0'/>
    </channel>"""
STREAM_CHANNEL = """<channel type='spiceport'>
      <source channel='org.spice-space.stream.0'/>
      <target type='virtio' name='org.spice-space.stream.0'/>
    </channel>"""


def domain_xml(name, devices=(SPICE_GRAPHICS,), head='', machine='q35', ns=''):
    """A small diskless domain that QEMU starts under TCG in well under a second."""
    return """<domain type='qemu'{ns}>
  <name>{name}</name>
  {head}
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {devices}
    <video><model type='{video}'/></video>
  </devices>
</domain>
""".format(ns=ns, name=name, head=head, machine=machine, devices='\n    '.join(devices),
           video='qxl' if any("type='spice'" in device for device in devices) else 'vga')


def ansible_env():
    env = dict(os.environ)
    env.update({
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_DEPRECATION_WARNINGS': 'False',
        'ANSIBLE_LOCALHOST_WARNING': 'False',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
        'ANSIBLE_REMOTE_TEMP': '/var/tmp/.ansible-tmp',
    })
    return env


def ansible_bin(name):
    """The ansible tool next to the Python running the tests (the project's venv)."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else name


class ModuleRun:
    """What one ad-hoc module run printed, parsed."""

    def __init__(self, returncode, status, result, stderr):
        self.returncode = returncode
        self.status = status
        self.result = result
        self.stderr = stderr

    @property
    def failed(self):
        return bool(self.result.get('failed')) or self.status in ('FAILED!', 'UNREACHABLE!')

    @property
    def changed(self):
        return bool(self.result.get('changed'))

    def domain(self, name):
        return self.result['domains'][name]

    def __repr__(self):
        return 'ModuleRun(%s, %s)' % (self.status, json.dumps(self.result, indent=1)[:4000])


_RUN_PLAYBOOK = """
- name: Run one module and keep its whole result
  hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: The module under test
      {module}: "{{{{ module_args }}}}"
      register: module_result
      ignore_errors: true{become}

    - name: Keep the result, diff included (ad-hoc output leaves the diff out)
      ansible.builtin.copy:
        content: "{{{{ module_result | to_json }}}}"
        dest: "{{{{ result_file }}}}"
        mode: "0600"
      check_mode: false
      diff: false
"""
# root becomes another user without a password; pipelining hands that user the module on
# its standard input, so it needs to read no file of root's.
_BECOME = """
      become: true
      become_method: ansible.builtin.su
      become_user: {user}"""


def run_module(module, args, check=False, diff=False, interpreter=SYSTEM_PYTHON, timeout=300):
    """Run a module the way a playbook task does (local connection, AnsiballZ, real interpreter)."""
    return start_module(module, args, check=check, diff=diff, interpreter=interpreter).wait(timeout)


class StartedModule:
    """A module run that :func:`start_module` began; :meth:`wait` gives its :class:`ModuleRun`."""

    def __init__(self, proc, workdir, result_file):
        self.proc = proc
        self.workdir = workdir
        self.result_file = result_file

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout=300):
        try:
            stdout, stderr = self.proc.communicate(timeout=timeout)
            if not os.path.exists(self.result_file):
                raise AssertionError('the module ran no result:\nSTDOUT:\n%s\nSTDERR:\n%s' % (stdout, stderr))
            with open(self.result_file, encoding='utf-8') as handle:
                result = json.load(handle)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.workdir, ignore_errors=True)
        return ModuleRun(self.proc.returncode, 'FAILED!' if result.get('failed') else 'ok', result, stderr)


def start_module(module, args, check=False, diff=False, interpreter=SYSTEM_PYTHON, become_user=None):
    """Start a module as :func:`run_module` runs it, without waiting; ``become_user`` runs it as that user."""
    workdir = tempfile.mkdtemp(prefix='sst-run-')
    playbook = os.path.join(workdir, 'run.yml')
    result_file = os.path.join(workdir, 'result.json')
    with open(playbook, 'w', encoding='utf-8') as handle:
        handle.write(_RUN_PLAYBOOK.format(module=module,
                                          become=_BECOME.format(user=become_user) if become_user else ''))
    env = ansible_env()
    if become_user:
        env['ANSIBLE_PIPELINING'] = 'True'
        # The module's own temporary directory, where that user may create it.
        env['ANSIBLE_REMOTE_TEMP'] = '~/.ansible/tmp'
        # su keeps them, and libvirt would look for that user's session socket in root's
        # runtime or cache directory (XDG_CACHE_HOME stands in for an unset XDG_RUNTIME_DIR).
        for name in ('XDG_RUNTIME_DIR', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME'):
            env.pop(name, None)
    command = _playbook_command(playbook, 'localhost,', check, diff, {
        'module_args': args, 'result_file': result_file, 'ansible_python_interpreter': interpreter})
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return StartedModule(proc, workdir, result_file)


def _playbook_command(playbook, inventory, check, diff, extra_vars, tags=None):
    command = [ansible_bin('ansible-playbook'), '-i', inventory, playbook]
    if tags:
        command.extend(['--tags', tags])
    if check:
        command.append('--check')
    if diff:
        command.append('--diff')
    if extra_vars:
        command.extend(['-e', json.dumps(extra_vars)])
    return command


def run_playbook(playbook, inventory, check=False, diff=False, extra_vars=None, timeout=600, tags=None):
    return subprocess.run(_playbook_command(playbook, inventory, check, diff, extra_vars, tags), capture_output=True,
                          text=True, env=ansible_env(), timeout=timeout, check=False)


def qemu_command_line(name):
    """The argument list of the QEMU process running domain ``name``, read from /proc: what
    QEMU really got, not what libvirt's XML says it should have."""
    with open('/run/libvirt/qemu/%s.pid' % name, encoding='ascii') as handle:
        pid = int(handle.read().strip())
    with open('/proc/%d/cmdline' % pid, 'rb') as handle:
        return [arg.decode() for arg in handle.read().split(b'\0') if arg]
