#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: qemu_cmdline
short_description: Bring a QEMU command line to a SPICE video streaming state, without libvirt
version_added: 0.1.0
description:
  - For guests that QEMU runs from a systemd unit or a script rather than from libvirt. Takes a
    QEMU argument list, given as O(args) or held in a file (O(path)), and makes it carry the
    asked SPICE streaming state; that is the host-side streaming mode (C(streaming-video=) in
    the C(-spice) option) and the C(org.spice-space.stream.0) port that C(spice-streaming-agent)
    in the guest writes to (a C(virtserialport) device on a virtio-serial bus, backed by a
    C(spiceport) chardev of the same name).
  - Edits only the parts it manages, found by identity. C(streaming-video=) is set inside the
    existing C(-spice) option and every other key of that option stays as written (QEMU's
    C(key=value) syntax, C(,,) for a literal comma). The stream port is found by its name and is
    added once; a second port of that name, which stops QEMU from starting, is removed with
    its chardev. Every other argument stays exactly as it was.
  - New ids (C(charchannelN), C(channelN), C(virtio-serialN)) and the port number on the bus are
    chosen so that they do not collide with the ids and port numbers already there. A
    C(virtio-serial-pci) device is added when there is no virtio-serial device.
  - C(-device) options written as JSON (C(-device '{"driver":"virtserialport",...}'), accepted
    by QEMU 6.2 and later) are read and, where needed, edited as JSON. C(--spice) is read like
    C(-spice); C(-spice=VALUE), which QEMU rejects, is an error.
  - An existing stream port is kept. When it has no chardev, it is connected to a spiceport
    chardev; when its spiceport chardev has another C(name=), the name is corrected. A port of
    that name that is not a C(virtserialport), or whose chardev is not a spiceport (a socket, a
    pty), is the user's device; the task fails with nothing changed and says so.
  - Fails with nothing changed when a request needs SPICE and there is no C(-spice) option to
    amend, on a malformed argument list, or on a file that cannot be read as described under
    O(path).
  - The changed command line takes effect when QEMU is next started.
  - Secrets in the arguments (SPICE and other passwords, the C(data=) of C(-object secret)) are
    masked as C(********) in the diff, in RV(args) and in everything else the module returns or
    shows; the file keeps them. The real list is returned as RV(args_with_secrets), and only when
    the task runs with C(no_log), so that it is never displayed or logged. See the notes for
    what counts as a secret.
author:
  - spice.streaming maintainers (@spice-streaming)
extends_documentation_fragment:
  - spice.streaming.attributes
  - ansible.builtin.action_common_attributes
  - spice.streaming.streaming
options:
  args:
    description:
      - The QEMU arguments, one list element per argument, without the program name.
      - The module returns the resulting list in RV(args) (secrets masked) and writes nothing.
        A play that needs the real list, secrets included, runs the task with C(no_log) and reads
        RV(args_with_secrets), or builds the list with the P(spice.streaming.qemu_args#filter) filter.
      - Exactly one of O(args) and O(path) is required.
    type: list
    elements: str
  path:
    description:
      - A file on the managed host that holds the QEMU arguments in one variable assignment,
        the way a systemd C(EnvironmentFile=) does, for example C(QEMU_ARGS="-machine q35 -spice
        port=5930,disable-ticketing=on") read by C(ExecStart=/usr/bin/qemu-system-x86_64 $QEMU_ARGS).
      - The file is read as systemd reads it. The value may be in double quotes (C(\"), C(\\),
        C(\$) and C(\`) escaped), single quotes or unquoted, and may span lines; it is then split
        into arguments as systemd splits an unbraced C($QEMU_ARGS), on whitespace, with single
        and double quotes grouping and a backslash escaping the next character.
      - When the arguments change, only the last assignment of O(variable) is rewritten, as one
        double-quoted line that systemd and a POSIX shell (C(eval "set -- $QEMU_ARGS")) read
        alike; every other byte of the file stays as it was. The file is replaced atomically and
        keeps its owner, group and mode.
      - The file must exist and hold an assignment of O(variable).
      - When O(path) is a symbolic link, the file it points to (following every link) is read
        and replaced, in that file's directory, keeping that file's owner, group and mode; the
        link stays as it is, as with M(ansible.builtin.lineinfile). A link that points nowhere or
        loops fails the task, naming the link, with nothing changed.
    type: path
  variable:
    description:
      - The variable of the O(path) file that holds the QEMU arguments.
    type: str
    default: QEMU_ARGS
  backup:
    description:
      - With O(path), keep a copy of the original file, named with a timestamp, next to it when
        the module changes the file. When O(path) is a symbolic link, the copy goes next to the
        file the link points to.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - Check mode computes the same result, actions and diff as a real run and writes nothing.
  diff_mode:
    support: full
    details:
      - With O(path), the whole file before and after. With O(args), the argument lists, one
        argument per line.
      - Secrets are masked on both sides. With O(path), the assignment keeps its layout where
        masking allows; otherwise it is shown the way the module writes it.
  idempotent:
    details:
      - C(changed) is true only when the argument list differs from the one given or read; a
        file whose arguments already have the asked state is not rewritten, even when its quoting
        differs from the module's own.
  platform:
    support: full
    platforms: posix
notes:
  - QEMU merges repeated C(-spice) options and uses the last C(streaming-video=) it reads. The
    module keeps one C(streaming-video=) key, in the place of the last one (or at the end of the
    last C(-spice) option), and removes the others. O(streaming_mode=off) writes
    C(streaming-video=off) even though QEMU also runs an absent key as off.
  - C(-display spice-app) runs a SPICE server without a C(-spice) option, so the stream port can
    be added there; but it sets C(streaming-video=off) itself after every C(-spice) option, so
    O(streaming_mode=all) and O(streaming_mode=filter) fail with that reason.
  - The new port gets C(bus=ID.0) and the lowest free C(nr=) on the first virtio-serial device
    that has an C(id). When every virtio-serial device lacks an C(id), the port gets neither
    C(bus=) nor C(nr=) and QEMU places it on the first virtio-serial bus with a free number.
  - The added virtio-serial device is C(virtio-serial-pci). Machines without PCI (s390x
    C(s390-ccw-virtio), C(microvm)) need a virtio-serial device of their kind (C(virtio-serial-ccw),
    C(virtio-serial-device)) with an C(id) in the command line first; the module then uses it.
  - Devices and chardevs defined in a C(-readconfig) file are not read; the module warns.
  - O(agent_channel=absent) leaves a port of that name that is not a spiceport channel alone,
    with a warning, and keeps the virtio-serial device, which other ports may use.
  - "Secrets that are masked: the value of C(password=) in any option (C(-spice), C(-iscsi),
    C(-chardev), C(-netdev), C(file.password=) of C(-drive), ...) except the C(on)/C(off) switch
    of C(-vnc password=); C(x509-key-password=) of C(-spice); C(cookie=) of the curl block
    driver; C(passphrase=); C(data=) of C(-object secret) (key=value or JSON); a password inside
    a URL (C(https://user:PASSWORD@host/...), C(iscsi://user%PASSWORD@host/...)); the C(key=) of
    an C(rbd:) filename. Values that name a secret object (C(password-secret=), C(key-secret=),
    C(passwordid=), C(keyid=)) and C(iv=) of C(-object secret) are not secrets and stay."
  - Free-form values are not searched for secrets (C(-append), C(-fw_cfg string=), C(-smbios)
    OEM strings). Keep such secrets in files (C(-object secret,file=), C(-fw_cfg file=)), or run
    the task with C(no_log).
  - Outside C(no_log), each secret found is also registered with Ansible's no_log filter, so any
    other place it appears in the result (another line of the file, the module arguments echoed
    back with C(-vvv)) shows C(********) instead.
seealso:
  - module: spice.streaming.libvirt_domain
    description: The same streaming state for libvirt domains.
  - plugin: spice.streaming.qemu_args
    plugin_type: filter
    description: The same edit as a filter, for templates.
  - name: QEMU invocation, -spice and -chardev spiceport
    description: The C(-spice) keys, including C(streaming-video=), and the spiceport chardev.
    link: https://www.qemu.org/docs/master/system/invocation.html
'''

EXAMPLES = r'''
- name: Give a guest started by qemu-vm@desk-01.service the stream port and host filter mode
  spice.streaming.qemu_cmdline:
    path: /etc/qemu-vm/desk-01.env
    streaming_mode: filter
    agent_channel: present
    backup: true
  register: desk01

- name: Restart the guest when its command line changed (this ends its running session)
  ansible.builtin.systemd_service:
    name: qemu-vm@desk-01.service
    state: restarted
  when: desk01.changed

- name: A file that keeps the arguments in another variable
  spice.streaming.qemu_cmdline:
    path: /etc/default/kiosk-vm
    variable: KIOSK_QEMU_OPTS
    streaming_mode: all

- name: Compute a command line without writing anything
  spice.streaming.qemu_cmdline:
    args:
      - -machine
      - q35
      - -spice
      - unix=on,addr=/run/desk-02/spice.sock,disable-ticketing=on
    streaming_mode: filter
    agent_channel: present
  register: desk02

- name: Show the resulting arguments
  ansible.builtin.debug:
    msg: "{{ desk02.args }}"

- name: Compute a command line that holds a SPICE password, for a play that starts QEMU itself
  spice.streaming.qemu_cmdline:
    args: "{{ kiosk_base_args }}"  # holds -spice port=5931,password=...
    streaming_mode: filter
  no_log: true  # needed for args_with_secrets; args is masked either way
  register: kiosk

- name: Take the stream port out again, preview with a diff
  spice.streaming.qemu_cmdline:
    path: /etc/qemu-vm/desk-01.env
    agent_channel: absent
  check_mode: true
  diff: true
'''

RETURN = r'''
args:
  description:
    - The resulting QEMU arguments (in check mode, what a real run writes), with secrets masked
      as C(********) (see the notes).
    - Fit to show and to compare. Where the arguments hold no secret it is the real list; where
      they do, and O(args) was given, the module warns that a play needing the real list should
      use RV(args_with_secrets) or the P(spice.streaming.qemu_args#filter) filter.
  returned: always
  type: list
  elements: str
  sample: ["-machine", "q35", "-spice", "port=5930,disable-ticketing=on,streaming-video=filter",
           "-device", "virtio-serial-pci,id=virtio-serial0",
           "-chardev", "spiceport,name=org.spice-space.stream.0,id=charchannel1",
           "-device", "virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel1,id=channel1,name=org.spice-space.stream.0"]
args_with_secrets:
  description:
    - The resulting QEMU arguments with the real secrets, for a play that feeds them to QEMU.
    - "Returned only when the task runs with C(no_log) (C(no_log: true) on the task, or
      C(ANSIBLE_NO_LOG)), so that Ansible never displays or logs it; read it from the registered
      variable and keep it out of C(debug) output."
  returned: when the task runs with no_log
  type: list
  elements: str
  version_added: 0.2.0
  sample: ["-spice", "port=5930,password=REAL-PASSWORD,streaming-video=filter"]
actions:
  description: What was changed (in check mode, what a real run changes), in words.
  returned: always
  type: list
  elements: str
  sample: ["added -device virtio-serial-pci,id=virtio-serial0 (no virtio-serial device was there)",
           "added -chardev spiceport,name=org.spice-space.stream.0,id=charchannel1",
           "set streaming-video=filter in -spice at argument 3 (was not set, which QEMU runs as off)"]
path:
  description:
    - The file that holds the arguments. When O(path) is a symbolic link, the file it points to,
      which is the file read, backed up and replaced.
    - As with other modules that return a path, the file's C(state), C(mode), C(owner), C(group),
      C(uid), C(gid) and C(size) are returned beside it.
  returned: when O(path) is given and the task succeeds
  type: str
  sample: /etc/qemu-vm/desk-01.env
backup_file:
  description: The copy of the original file.
  returned: when O(backup=true) and the file changed
  type: str
  sample: /etc/qemu-vm/desk-01.env.12345.2025-01-31@10:12:14~
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.spice.streaming.plugins.module_utils.qemu_command_line import apply_streaming
from ansible_collections.spice.streaming.plugins.module_utils.qemu_env_files import (
    EnvFileArgs,
    resolve_env_file,
)
from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import QemuCmdlineError
from ansible_collections.spice.streaming.plugins.module_utils.qemu_secrets import mask_secrets
from ansible_collections.spice.streaming.plugins.module_utils.secrets import MASK
from ansible_collections.spice.streaming.plugins.module_utils.settings import (
    streaming_argument_spec,
    values_from,
)


def argument_spec():
    spec = streaming_argument_spec()
    spec.update(
        args=dict(type='list', elements='str'),
        path=dict(type='path'),
        variable=dict(type='str', default='QEMU_ARGS'),
        backup=dict(type='bool', default=False),
    )
    return spec


def read_text(module, path):
    """The text of the file ``path`` names and that file's own path (symbolic links followed)."""
    try:
        real = resolve_env_file(path, module.params['variable'])
    except QemuCmdlineError as err:
        module.fail_json(msg=to_native(err))
    try:
        with open(real, 'rb') as handle:
            data = handle.read()
    except OSError as err:
        module.fail_json(msg='cannot read %s: %s' % (real, to_native(err)))
    try:
        return data.decode('utf-8'), real
    except UnicodeDecodeError as err:
        module.fail_json(msg='%s is not UTF-8 text: %s' % (real, to_native(err)))


def write_text(module, path, text):
    """Replace ``path`` atomically; atomic_move keeps its owner, group, mode and SELinux label."""
    fd, tmp = tempfile.mkstemp(prefix='.qemu_cmdline.', dir=module.tmpdir)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(to_bytes(text, errors='surrogate_or_strict'))
    except OSError as err:
        os.unlink(tmp)
        module.fail_json(msg='cannot write a temporary copy of %s: %s' % (path, to_native(err)))
    module.atomic_move(tmp, path)


def lines(args):
    return ''.join(arg + '\n' for arg in args)


def hide_secrets(module, secrets):
    """Keep ``secrets`` out of everything this run returns, unless the task hides its output.

    Ansible replaces every occurrence of these strings in the result (the file's
    other lines, the echoed module arguments) with ********. Under ``no_log``
    the result is not shown, so the real list can be returned for the play to use.
    """
    if secrets and not module.no_log:
        module.no_log_values.update(secrets)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[('args', 'path')],
        required_one_of=[('args', 'path')],
        supports_check_mode=True,
    )
    params = module.params
    path = params['path']
    result = dict(changed=False)
    envfile = text = None
    if path is not None:
        text, path = read_text(module, path)
        where = path if path == os.path.abspath(params['path']) else '%s (the file %s points to)' % (path, params['path'])
    else:
        where = 'args'
    try:
        if path is not None:
            envfile = EnvFileArgs(text, params['variable'])
            before = envfile.args
            if envfile.overridden:
                module.warn('%s assigns %s %d times; systemd uses the last one, which is the one '
                            'edited' % (path, params['variable'], envfile.overridden + 1))
        else:
            before = params['args']
        shown_before, secrets = mask_secrets(before)
        hide_secrets(module, secrets)
        outcome = apply_streaming(before, **values_from(params))
    except QemuCmdlineError as err:
        module.fail_json(msg='%s: %s' % (where, err), **result)
    if path is not None:
        # Like every module that returns path, this also returns the file's
        # state, mode, owner, group, uid, gid and size.
        result['path'] = path

    for warning in outcome.warnings:
        module.warn(warning)
    shown_after, more_secrets = mask_secrets(outcome.args)
    hide_secrets(module, more_secrets)
    result.update(args=shown_after, actions=outcome.actions, changed=outcome.args != before)
    if module.no_log:
        result['args_with_secrets'] = outcome.args
    elif path is None and shown_after != outcome.args:
        module.warn('the returned args show secret values as %s; a play that needs the real list '
                    'runs this task with no_log: true and reads args_with_secrets, or builds the '
                    'list with the spice.streaming.qemu_args filter' % MASK)

    if result['changed']:
        if path is not None:
            after_text = envfile.with_args(outcome.args)
            if module._diff:
                result['diff'] = dict(before=envfile.masked_text(shown_before, secrets),
                                      after=EnvFileArgs(after_text, params['variable']).masked_text(
                                          shown_after, secrets | more_secrets),
                                      before_header=path, after_header=path)
            if not module.check_mode:
                if params['backup']:
                    result['backup_file'] = module.backup_local(path)
                write_text(module, path, after_text)
        elif module._diff:
            result['diff'] = dict(before=lines(shown_before), after=lines(shown_after),
                                  before_header='args', after_header='args')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
