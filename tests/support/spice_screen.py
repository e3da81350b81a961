# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pictures of a desktop as plain RGB: what the SPICE client saw, what the hypervisor shows.

Two independent witnesses of one screen: the headless client's surface dump (PPM) and
libvirt's screenshot (QEMU's own screendump, PNG on QEMU 7.2). Standard library only: the
project's dependencies include no image library.
"""

from __future__ import annotations

import struct
import zlib


class RGBImage:
    """A picture as ``width * height`` RGB byte triples, row by row, top to bottom."""

    def __init__(self, width, height, rgb):
        if len(rgb) != width * height * 3:
            raise ValueError('%dx%d RGB needs %d bytes, got %d'
                             % (width, height, width * height * 3, len(rgb)))
        self.width = width
        self.height = height
        self.rgb = bytes(rgb)

    def __repr__(self):
        return 'RGBImage(%dx%d)' % (self.width, self.height)

    @property
    def size(self):
        return self.width, self.height

    def pixel(self, x, y):
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise IndexError('(%d, %d) is outside this %dx%d picture' % (x, y, self.width, self.height))
        offset = (y * self.width + x) * 3
        return tuple(self.rgb[offset:offset + 3])

    def colours(self):
        """Each distinct colour and how many pixels have it."""
        counts = {}
        rgb = self.rgb
        for offset in range(0, len(rgb), 3):
            colour = rgb[offset:offset + 3]
            counts[colour] = counts.get(colour, 0) + 1
        return {tuple(colour): count for colour, count in counts.items()}

    def differences(self, other):
        """Coordinates of the pixels that differ from ``other`` (same size required)."""
        if self.size != other.size:
            raise ValueError('cannot compare a %dx%d picture with a %dx%d one'
                             % (self.width, self.height, other.width, other.height))
        mine, theirs, width = self.rgb, other.rgb, self.width
        row_bytes = width * 3
        found = []
        for y in range(self.height):
            start = y * row_bytes
            if mine[start:start + row_bytes] == theirs[start:start + row_bytes]:
                continue
            for x in range(width):
                offset = start + x * 3
                if mine[offset:offset + 3] != theirs[offset:offset + 3]:
                    found.append((x, y))
        return found

    def to_ppm(self):
        return b'P6\n%d %d\n255\n' % (self.width, self.height) + self.rgb

    @classmethod
    def from_ppm(cls, data):
        """Binary PPM (P6, maxval 255), as the client's dump writes it."""
        fields, offset = [], 0
        while len(fields) < 4:
            while data[offset:offset + 1].isspace():
                offset += 1
            if data[offset:offset + 1] == b'#':
                offset = data.index(b'\n', offset) + 1
                continue
            end = offset
            while not data[end:end + 1].isspace():
                end += 1
            fields.append(data[offset:end])
            offset = end
        magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
        if magic != b'P6' or maxval != 255:
            raise ValueError('not an 8-bit binary PPM: %r, maxval %d' % (magic, maxval))
        offset += 1     # the single whitespace byte that ends the header
        return cls(width, height, data[offset:offset + width * height * 3])

    @classmethod
    def from_png(cls, data):
        """8-bit RGB or RGBA, non-interlaced PNG: what QEMU's screendump writes."""
        if data[:8] != b'\x89PNG\r\n\x1a\n':
            raise ValueError('not a PNG')
        offset, header, compressed = 8, None, []
        while offset < len(data):
            length, kind = struct.unpack('>I4s', data[offset:offset + 8])
            body = data[offset + 8:offset + 8 + length]
            offset += 12 + length
            if kind == b'IHDR':
                header = struct.unpack('>IIBBBBB', body)
            elif kind == b'IDAT':
                compressed.append(body)
            elif kind == b'IEND':
                break
        width, height, depth, colour_type, _compression, _filter, interlace = header
        if depth != 8 or colour_type not in (2, 6) or interlace:
            raise ValueError('PNG depth %d, colour type %d, interlace %d: only 8-bit RGB(A), '
                             'non-interlaced is read here' % (depth, colour_type, interlace))
        channels = 3 if colour_type == 2 else 4
        rows = _unfilter(zlib.decompress(b''.join(compressed)), width * channels, height, channels)
        if channels == 4:
            rgb = bytearray(width * height * 3)
            for index in range(3):
                rgb[index::3] = rows[index::4]
            rows = rgb
        return cls(width, height, bytes(rows))


def _paeth(left, up, up_left):
    estimate = left + up - up_left
    to_left, to_up, to_up_left = abs(estimate - left), abs(estimate - up), abs(estimate - up_left)
    if to_left <= to_up and to_left <= to_up_left:
        return left
    return up if to_up <= to_up_left else up_left


def _unfilter(raw, row_bytes, height, step):
    """Undo PNG's per-row filters (specification section 9)."""
    out = bytearray(row_bytes * height)
    previous = bytearray(row_bytes)
    position = 0
    for y in range(height):
        kind = raw[position]
        row = bytearray(raw[position + 1:position + 1 + row_bytes])
        position += 1 + row_bytes
        if kind == 1:
            for i in range(step, row_bytes):
                row[i] = (row[i] + row[i - step]) & 0xFF
        elif kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous))
        elif kind == 3:
            for i in range(row_bytes):
                left = row[i - step] if i >= step else 0
                row[i] = (row[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(row_bytes):
                left = row[i - step] if i >= step else 0
                up_left = previous[i - step] if i >= step else 0
                row[i] = (row[i] + _paeth(left, previous[i], up_left)) & 0xFF
        elif kind != 0:
            raise ValueError('PNG row %d has unknown filter type %d' % (y, kind))
        out[y * row_bytes:(y + 1) * row_bytes] = row
        previous = row
    return out


def bounding_box(points):
    """(left, top, width, height) of some pixel coordinates, None for none."""
    if not points:
        return None
    xs = [x for x, _y in points]
    ys = [y for _x, y in points]
    return min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1
