# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A libvirt domain's SPICE server as the test client reaches it: on 127.0.0.1 only."""

from __future__ import annotations

import time

from lxml import etree

from tests.support.spice_screen import RGBImage, bounding_box

# VGA text mode draws 9x16 character cells; a blinking cursor changes pixels inside one.
TEXT_CELL = (9, 16)


def local_spice_graphics(password=None, streaming=None):
    """SPICE on 127.0.0.1 with a port libvirt picks (read it back with ``spice_port``)."""
    return """<graphics type='spice' autoport='yes'{passwd}>
      <listen type='address' address='127.0.0.1'/>{streaming}
    </graphics>""".format(passwd='' if password is None else " passwd='%s'" % password,
                          streaming='' if streaming is None else "\n      <streaming mode='%s'/>" % streaming)


def spice_port(dom):
    """The SPICE port of a running domain, from its live XML."""
    graphics = etree.fromstring(dom.XMLDesc(0).encode()).find("devices/graphics[@type='spice']")
    port = None if graphics is None else graphics.get('port')
    if port is None or int(port) <= 0:
        raise AssertionError('domain %s has no SPICE port in its live XML (is it running?)' % dom.name())
    listen = graphics.get('listen')
    if listen != '127.0.0.1':
        raise AssertionError('domain %s listens for SPICE on %r: tests reach 127.0.0.1 only'
                             % (dom.name(), listen))
    return int(port)


def hypervisor_screenshot(dom, screen=0):
    """What QEMU itself shows on ``screen`` of a running domain, as an RGBImage."""
    stream = dom.connect().newStream(0)
    try:
        mime = dom.screenshot(stream, screen, 0)
        chunks = []
        while True:
            chunk = stream.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        stream.finish()
    except Exception:
        stream.abort()
        raise
    data = b''.join(chunks)
    if mime == 'image/png' or data[:8] == b'\x89PNG\r\n\x1a\n':
        return RGBImage.from_png(data)
    return RGBImage.from_ppm(data)


def differs_beyond_a_text_cell(one, other):
    """True when two pictures differ in size or in more than one character cell."""
    if one.size != other.size:
        return True
    box = bounding_box(one.differences(other))
    return box is not None and (box[2] > TEXT_CELL[0] or box[3] > TEXT_CELL[1])


def screenshot_of_size(dom, size, timeout=120.0, interval=0.25):
    """The first screenshot of ``size`` (the guest may switch modes while it starts)."""
    deadline = time.monotonic() + timeout
    while True:
        current = hypervisor_screenshot(dom)
        if current.size == size:
            return current
        if time.monotonic() > deadline:
            raise AssertionError('the screen of %s is %dx%d after %d s, not %dx%d'
                                 % ((dom.name(),) + current.size + (timeout,) + tuple(size)))
        time.sleep(interval)


def settled_screenshot(dom, size=None, timeout=120.0, interval=0.5):
    """A screenshot once the screen has stopped changing (a cursor may still blink).

    Polls the hypervisor's own screen until two pictures ``interval`` apart agree and,
    when given, have ``size``; the deadline is generous because a loaded machine slows TCG.
    """
    deadline = time.monotonic() + timeout
    previous = hypervisor_screenshot(dom)
    while True:
        time.sleep(interval)
        current = hypervisor_screenshot(dom)
        if (size is None or current.size == size) and not differs_beyond_a_text_cell(previous, current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError('the screen of %s kept changing for %d s (last %dx%d)'
                                 % (dom.name(), timeout, current.width, current.height))
        previous = current


# Boot sectors (8086 real mode, hand-assembled) that paint all 80x25 cells of the text
# screen with background attribute (first + column + row) mod 16, with the cursor hidden.
# QEMU draws attribute bit 7 as a bright background rather than blinking, so these are
# diagonal bars of all sixteen VGA colours: pixels a client can get wrong in every way
# (order of B, G and R, x, y, stride), with no operating system at all.
_HIDE_CURSOR = [
    0xFC,                   # cld
    0xB4, 0x01,             # mov ah, 1
    0xB9, 0x00, 0x20,       # mov cx, 0x2000       ; cursor start line with bit 5: hidden
    0xCD, 0x10,             # int 0x10
    0xB8, 0x00, 0xB8,       # mov ax, 0xb800
    0x8E, 0xC0,             # mov es, ax           ; text-mode video memory
]
_PAINT = [                  # AH: attribute of the first cell
    0x31, 0xFF,             # xor di, di
    0xB0, 0x20,             # mov al, ' '
    0xBA, 0x19, 0x00,       # mov dx, 25           ; rows
    0xB9, 0x50, 0x00,       # row:  mov cx, 80     ; cells per row
    0xAB,                   # cell: stosw
    0x80, 0xC4, 0x10,       # (cell) add ah, 0x10  ; next background colour
    0xE2, 0xFA,             # (cell) loop cell
    0x80, 0xC4, 0x10,       # add ah, 0x10         ; shift each row by one colour
    0x4A,                   # dec dx
    0x75, 0xF1,             # jnz row
]
# Paints once and halts: a screen that never changes.
_STILL = _HIDE_CURSOR + [0xB4, 0x00] + _PAINT + [   # mov ah, 0
    0xF4,                   # hang: hlt
    0xEB, 0xFD,             # jmp hang
]
_FRAME = len(_HIDE_CURSOR) + 3
# Repaints every 40 ms (BIOS wait, int 0x15 ah=0x86), each frame shifted by one colour: the
# whole screen changes all the time, which spice-server's own encoder (streaming mode
# 'all') turns into video streams.
_MOVING = [0xFB] + _HIDE_CURSOR + [0xB3, 0x00] + [  # sti; mov bl, 0
    0x88, 0xDC,             # frame: mov ah, bl
] + _PAINT + [
    0x80, 0xC3, 0x10,       # add bl, 0x10         ; next frame starts one colour later
    0xB4, 0x86,             # mov ah, 0x86
    0x31, 0xC9,             # xor cx, cx
    0xBA, 0x40, 0x9C,       # mov dx, 40000        ; microseconds
    0xCD, 0x15,             # int 0x15
    0xEB,                   # jmp frame (offset appended below)
]
_MOVING.append((_FRAME - (len(_MOVING) + 1)) & 0xFF)


def colour_bars_disk_image(moving=False):
    """A 1 MiB raw disk whose boot sector paints the colour bars, still or moving."""
    code = bytes(_MOVING if moving else _STILL)
    return (code.ljust(510, b'\0') + b'\x55\xaa').ljust(1 << 20, b'\0')


# The sixteen default VGA colours as QEMU 7.2 turns the 6-bit DAC values into 8 bits
# (0x15 -> 87, 0x2a -> 168, 0x3f -> 255; seen in its screenshots here).
VGA_COLOURS = (
    (0, 0, 0), (0, 0, 168), (0, 168, 0), (0, 168, 168),
    (168, 0, 0), (168, 0, 168), (168, 87, 0), (168, 168, 168),
    (87, 87, 87), (87, 87, 255), (87, 255, 87), (87, 255, 255),
    (255, 87, 87), (255, 87, 255), (255, 255, 87), (255, 255, 255),
)


def colour_bars_rgb(x, y):
    """The colour the colour bars put at pixel x, y of the 720x400 text screen."""
    return VGA_COLOURS[(x // TEXT_CELL[0] + y // TEXT_CELL[1]) % 16]


def boot_disk(path):
    """A SATA disk device booting ``path`` (raw), for q35 domains."""
    return """<disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{path}'/>
      <target dev='sda' bus='sata'/>
    </disk>""".format(path=path)
