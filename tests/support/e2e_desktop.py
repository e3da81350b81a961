# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a desktop guest shows, for the end-to-end streaming tests: Xorg on the QXL device,
fast-changing windows, and what the running QEMU was told about SPICE.

Host encoding needs the guest to draw through QXL (spice-server only sees QXL drawing
commands), so the X server here is the real Xorg with ``xserver-xorg-video-qxl``, not
Xvfb.  The moving windows are GStreamer's ``videotestsrc`` into ``ximagesink``, which puts
the whole frame again and again (about 30 times a second), as a video player does.

Every wait is on what the guest answers (the X server, the window in ``xwininfo``), with a
bound; nothing sleeps blindly.
"""

from __future__ import annotations

from tests.support.guest_vm import STREAM_PORT
from tests.support.libvirt_env import qemu_command_line

XORG_DISPLAY = ':0'

# The tries are 0.2 s apart; the bound is the caller's timeout.
_START_XORG = """set -e
if ! xset -display {display} q >/dev/null 2>&1; then
    setsid Xorg {display} -nolisten tcp -noreset vt7 </dev/null >/tmp/sst-xorg.out 2>&1 &
fi
i=0
until xset -display {display} q >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt {tries} ]; then
        echo "Xorg {display} does not answer" >&2; tail -30 /var/log/Xorg.0.log >&2; exit 1
    fi
    sleep 0.2
done
grep -q 'qxl(0): ' /var/log/Xorg.0.log || {{ echo "Xorg does not drive the QXL device" >&2; exit 1; }}
"""

_SHOW_WINDOW = """set -e
pkill -x gst-launch-1.0 || true
DISPLAY={display} setsid gst-launch-1.0 -q videotestsrc pattern={pattern} \\
    ! video/x-raw,width={width},height={height} ! ximagesink </dev/null >/tmp/sst-window.out 2>&1 &
i=0
until DISPLAY={display} xwininfo -root -children 2>/dev/null | grep -q ' {width}x{height}+'; do
    i=$((i + 1))
    if [ $i -gt {tries} ] || ! pgrep -x gst-launch-1.0 >/dev/null; then
        echo "no {width}x{height} window on {display}" >&2; cat /tmp/sst-window.out >&2; exit 1
    fi
    sleep 0.2
done
"""


def start_xorg(vm, timeout=300):
    """Xorg on the guest's QXL device as root (once; again is a no-op), waited for."""
    vm.ssh(_START_XORG.format(display=XORG_DISPLAY, tries=int(timeout * 5)), timeout=timeout + 30)


def show_window(vm, width, height, pattern='colors', timeout=300):
    """A ``width`` x ``height`` window redrawn about 30 times a second on Xorg (the only one:
    an earlier test window goes). ``colors`` is a smooth picture, ``ball`` a hard-edged one."""
    vm.ssh(_SHOW_WINDOW.format(display=XORG_DISPLAY, pattern=pattern, width=width, height=height,
                               tries=int(timeout * 5)), timeout=timeout + 30)


def stop_windows(vm):
    vm.ssh('pkill -x gst-launch-1.0; true')


def spice_options(domain_name):
    """{key: value} of the ``-spice`` option the running QEMU of ``domain_name`` got."""
    args = qemu_command_line(domain_name)
    values = [args[index + 1] for index, arg in enumerate(args[:-1]) if arg == '-spice']
    if len(values) != 1:
        raise AssertionError('QEMU of %s has %d -spice options: %s' % (domain_name, len(values), args))
    return dict(item.partition('=')[::2] for item in values[0].split(','))


def streaming_video(domain_name):
    """The ``streaming-video=`` the running QEMU got ('off' when absent: QEMU's own default)."""
    return spice_options(domain_name).get('streaming-video', 'off')


def has_stream_port(domain_name):
    """True when the running QEMU has a spiceport chardev named org.spice-space.stream.0."""
    args = qemu_command_line(domain_name)
    return any(arg.startswith('spiceport,') and 'name=%s' % STREAM_PORT in arg.split(',')
               for arg in args)
