# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package the stand-in agent as ``spice-streaming-agent_<version>_all.deb``.

Debian ships no spice-streaming-agent; a site builds its own package.  Tests do the same
with the test double, and install it the way an administrator installs their build
(through the role's ``stream_agent_package``).  The package ships the files the real
package ships (upstream ``spice-streaming-agent.spec.in``): the binary, the udev rule and
the XDG autostart entry for user sessions and for the GDM login screen.

Use::

    from tests.support.stand_in_agent.build_deb import build_deb
    deb = build_deb(tmp_path, version='0.3-1')                         # like release 0.3
    deb = build_deb(tmp_path, version='0.4~git20200415-1')             # a later version
    deb = build_deb(tmp_path, version='0.3-1', session_files=False)    # binary only

or ``python -m tests.support.stand_in_agent.build_deb OUTDIR [VERSION] [--binary-only]``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT_SOURCE = os.path.join(HERE, 'spice_streaming_agent_test_double.py')
PACKAGE = 'spice-streaming-agent'
BINARY = '/usr/bin/spice-streaming-agent'
UDEV_RULE_PATH = '/usr/lib/udev/rules.d/90-spice-guest-streaming.rules'
AUTOSTART_PATH = '/etc/xdg/autostart/spice-streaming.desktop'
GDM_AUTOSTART_PATH = '/usr/share/gdm/greeter/autostart/spice-streaming.desktop'

# Same content as upstream's data/90-spice-guest-streaming.rules.
UDEV_RULE = ('ACTION=="add", SUBSYSTEM=="virtio-ports", '
             'ENV{DEVLINKS}=="/dev/virtio-ports/org.spice-space.stream.0", MODE="0666"\n')
# Same keys as upstream's data/spice-streaming.desktop.in, Exec with no option.
DESKTOP_ENTRY = """[Desktop Entry]
Name=SPICE Streaming Agent
Comment=Agent for Streaming the framebuffer to Spice
Exec=/usr/bin/spice-streaming-agent
Terminal=false
Type=Application
Categories=
X-GNOME-Autostart-Phase=Application
"""

CONTROL = """Package: {package}
Version: {version}
Architecture: all
Maintainer: spice.streaming test suite <spice-streaming-tests@localhost>
Depends: python3, python3-pil, libx11-6
Section: x11
Priority: optional
Description: TEST DOUBLE of the SPICE streaming agent (not the real agent)
 A stand-in for spice-streaming-agent used by the spice.streaming Ansible
 collection's tests. It takes the real agent's options, speaks the SPICE
 stream-device protocol on /dev/virtio-ports/org.spice-space.stream.0 and
 streams MJPEG frames of its X display, but it is a Python test double:
 never install it on a real desktop.{variant}
"""


def _write(root, path, text, mode):
    target = os.path.join(root, path.lstrip('/'))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(target, mode)


def build_deb(outdir, version='0.3-1', session_files=True):
    """Build the package into ``outdir``; returns the path of the ``.deb``.

    ``session_files=False`` leaves out the udev rule and both autostart entries, like a
    package that ships only the binary, so the role must write them itself.
    """
    os.makedirs(outdir, exist_ok=True)
    with open(AGENT_SOURCE, encoding='utf-8') as handle:
        agent = handle.read()
    with tempfile.TemporaryDirectory(prefix='sst-deb-') as root:
        os.chmod(root, 0o755)
        _write(root, BINARY, '#!/usr/bin/python3\n' + agent, 0o755)
        conffiles = []
        if session_files:
            _write(root, UDEV_RULE_PATH, UDEV_RULE, 0o644)
            _write(root, AUTOSTART_PATH, DESKTOP_ENTRY, 0o644)
            _write(root, GDM_AUTOSTART_PATH, DESKTOP_ENTRY, 0o644)
            conffiles.append(AUTOSTART_PATH)
        variant = '' if session_files else \
            '\n .\n This variant ships the binary only: no udev rule, no autostart entry.'
        _write(root, '/DEBIAN/control', CONTROL.format(package=PACKAGE, version=version, variant=variant),
               0o644)
        if conffiles:
            _write(root, '/DEBIAN/conffiles', ''.join(path + '\n' for path in conffiles), 0o644)
        deb = os.path.join(outdir, '%s_%s_all.deb' % (PACKAGE, version.split(':')[-1]))
        subprocess.run(['dpkg-deb', '--root-owner-group', '-Zgzip', '--build', root, deb],
                       check=True, capture_output=True, text=True)
    return deb


def main(argv):
    args = [arg for arg in argv[1:] if not arg.startswith('--')]
    if not args or shutil.which('dpkg-deb') is None:
        print('usage: python -m tests.support.stand_in_agent.build_deb OUTDIR [VERSION] [--binary-only]'
              ' (needs dpkg-deb)', file=sys.stderr)
        return 2
    print(build_deb(args[0], *(args[1:2]), session_files='--binary-only' not in argv))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
