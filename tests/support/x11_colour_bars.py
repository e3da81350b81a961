# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A known picture on a real X display: eight vertical colour bars as the root window's background.

What a streaming test needs to tell the guest's picture from anything else: colours that
differ in every channel, drawn exactly (no scaling, no colour conversion), and that stay
without a process holding them. The bars are drawn into a pixmap that becomes the root
window's background, and the connection closes in ``RetainPermanent`` mode, the way
``xsetroot -bitmap`` keeps its pixmap. (On Xvfb that needs ``-noreset``, which
``GuestVM.start_x_session`` passes.)

This file runs in two places:

- in the guest, as a script with Debian's ``/usr/bin/python3`` (standard library and libX11
  through ctypes to draw; PIL, which the guest image has, to read the screen back)::

      DISPLAY=:1 python3 - < x11_colour_bars.py      # prints the bar centres as JSON

- on the host, imported: ``paint(vm, ':1')`` sends this very file to the guest that way and
  checks what the display shows; ``expected_rgb`` and ``inner_points`` say what a viewer
  must see where.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys

# White, yellow, cyan, green, magenta, red, blue, black: every channel both on and off.
COLOURS = ((255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0),
           (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0))
_RETAIN_PERMANENT = 1


def bar_edges(width):
    """[(x0, x1), ...]: the columns of each bar on a screen ``width`` pixels wide."""
    count = len(COLOURS)
    return [(index * width // count, (index + 1) * width // count) for index in range(count)]


def expected_rgb(x, width):
    """The colour drawn at column ``x``."""
    for index, (left, right) in enumerate(bar_edges(width)):
        if left <= x < right:
            return COLOURS[index]
    raise IndexError('column %d is outside a screen %d pixels wide' % (x, width))


def inner_points(width, height, margin=8):
    """Points at least ``margin`` pixels inside their bar: what JPEG's 8x8 blocks and its
    halved colour resolution leave alone. Three rows, every bar."""
    rows = (margin, height // 2, height - 1 - margin)
    points = []
    for left, right in bar_edges(width):
        for x in (left + margin, (left + right) // 2, right - 1 - margin):
            points.extend((x, y) for y in rows)
    return points


# ----------------------------------------------------------------------------------------
# In the guest.

def _xlib():
    lib = ctypes.CDLL(ctypes.util.find_library('X11') or 'libX11.so.6')
    pointer, xid, integer, unsigned = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_uint
    signatures = {
        'XOpenDisplay': (pointer, [ctypes.c_char_p]),
        'XDefaultScreen': (integer, [pointer]),
        'XRootWindow': (xid, [pointer, integer]),
        'XDisplayWidth': (integer, [pointer, integer]),
        'XDisplayHeight': (integer, [pointer, integer]),
        'XDefaultDepth': (integer, [pointer, integer]),
        'XCreatePixmap': (xid, [pointer, xid, unsigned, unsigned, unsigned]),
        'XCreateGC': (pointer, [pointer, xid, ctypes.c_ulong, pointer]),
        'XSetForeground': (integer, [pointer, pointer, ctypes.c_ulong]),
        'XFillRectangle': (integer, [pointer, xid, pointer, integer, integer, unsigned, unsigned]),
        'XSetWindowBackgroundPixmap': (integer, [pointer, xid, xid]),
        'XClearWindow': (integer, [pointer, xid]),
        'XSetCloseDownMode': (integer, [pointer, integer]),
        'XCloseDisplay': (integer, [pointer]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def draw(display_name=None):
    """Make the bars the root window's background on ``display_name`` ($DISPLAY); (w, h)."""
    xlib = _xlib()
    display = xlib.XOpenDisplay(display_name.encode() if display_name else None)
    if not display:
        raise SystemExit('cannot open X display %r' % (display_name or os.environ.get('DISPLAY')))
    screen = xlib.XDefaultScreen(display)
    root = xlib.XRootWindow(display, screen)
    width, height = xlib.XDisplayWidth(display, screen), xlib.XDisplayHeight(display, screen)
    if xlib.XDefaultDepth(display, screen) != 24:
        raise SystemExit('the bars need a 24-bit TrueColor screen (pixel = 0xRRGGBB)')
    pixmap = xlib.XCreatePixmap(display, root, width, height, 24)
    context = xlib.XCreateGC(display, pixmap, 0, None)
    for (red, green, blue), (left, right) in zip(COLOURS, bar_edges(width)):
        xlib.XSetForeground(display, context, (red << 16) | (green << 8) | blue)
        xlib.XFillRectangle(display, pixmap, context, left, 0, right - left, height)
    xlib.XSetWindowBackgroundPixmap(display, root, pixmap)
    xlib.XClearWindow(display, root)
    # The pixmap must outlive this connection.
    xlib.XSetCloseDownMode(display, _RETAIN_PERMANENT)
    xlib.XCloseDisplay(display)
    return width, height


def main():
    width, height = draw()
    from PIL import ImageGrab   # the same capture the stand-in agent uses
    screen = ImageGrab.grab(xdisplay=os.environ.get('DISPLAY')).convert('RGB')
    seen = [list(screen.getpixel(((left + right) // 2, height // 2))) for left, right in bar_edges(width)]
    json.dump({'width': width, 'height': height, 'bar_centres': seen}, sys.stdout)
    sys.stdout.write('\n')
    return 0


# ----------------------------------------------------------------------------------------
# On the host.

def paint(vm, display, user=None):
    """Draw the bars on ``display`` in guest ``vm`` (as the session user); returns (w, h).

    Fails unless the display, read back in the guest, shows exactly the bars.
    """
    with open(os.path.abspath(__file__), encoding='utf-8') as handle:
        source = handle.read()
    proc = vm.ssh('DISPLAY=%s /usr/bin/python3 -' % display, user=user or vm.image.session_user,
                  input=source, timeout=180)
    result = json.loads(proc.stdout)
    seen = [tuple(rgb) for rgb in result['bar_centres']]
    if seen != list(COLOURS):
        raise AssertionError('display %s of %s shows %s, not the bars %s'
                             % (display, vm.name, seen, list(COLOURS)))
    return result['width'], result['height']


if __name__ == '__main__':
    sys.exit(main())
