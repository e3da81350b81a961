# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``markdown_escape`` filter: any text, shown as itself in Markdown.

Documentation lives beside this file, in ``markdown_escape.yml``.
"""

from __future__ import annotations

import re

# Replaced by character references, which every Markdown renderer passes to HTML as
# text (a backslash before < or & is not an escape in every flavour): no raw HTML
# (a domain named x<img src=x onerror=...> stays text), no entity, no autolink.
_REFERENCES = {'&': '&amp;', '<': '&lt;', '>': '&gt;'}
# Backslash-escaped wherever they are (CommonMark escapes every ASCII punctuation
# character): code spans and fences (`), emphasis (* _), links and images ([ ]),
# GFM table cells (|), strikethrough and fences (~), headings (#), math ($), and the
# backslash itself.
_ESCAPED = frozenset('\\`*_[]|~#$')
# Only at the start, where they would begin a list, a thematic break or a setext line.
_ESCAPED_FIRST = frozenset('-+=')
# Line breaks, tabs and other control characters: one space each, so the text stays
# on its line (a table row, a list item) and never becomes a block of its own.
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
# "1." or "1)" at the start would begin an ordered list.
_ORDERED_MARKER = re.compile(r'^(\d+)([.)])')
# Leading spaces would start indented code (or be dropped); trailing ones be dropped.
_EDGE_SPACES = re.compile(r'^ +| +$')


def markdown_escape(value):
    """``value`` as text that Markdown (CommonMark, GFM tables) renders as exactly that text."""
    if value is None:
        return ''
    text = _CONTROL.sub(' ', str(value))
    out = []
    for index, char in enumerate(text):
        if char in _REFERENCES:
            out.append(_REFERENCES[char])
        elif char in _ESCAPED or (index == 0 and char in _ESCAPED_FIRST):
            out.append('\\' + char)
        else:
            out.append(char)
    text = _ORDERED_MARKER.sub(r'\1\\\2', ''.join(out))
    return _EDGE_SPACES.sub(lambda match: '&#32;' * len(match.group(0)), text)


class FilterModule:
    """Markdown escaping for the reports of spice.streaming."""

    def filters(self):
        return {'markdown_escape': markdown_escape}
