# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""markdown_escape: rendered by a CommonMark renderer with GFM tables (markdown-it-py), any
text comes out as exactly that text, in every place report.md puts one."""

from __future__ import annotations

import lxml.html
import pytest
from markdown_it import MarkdownIt

from ansible_collections.spice.streaming.plugins.filter.markdown_escape import FilterModule

markdown_escape = FilterModule().filters()['markdown_escape']
RENDERER = MarkdownIt('commonmark', {'html': True}).enable(['table', 'strikethrough'])

HOSTILE = [
    'x<img src=x onerror="document.title=1">',
    "<channel type='unix'>",
    '<!-- hidden --> <script>alert(1)</script>',
    '*bold* _it_ __u__ `code` ``two``',
    'a|b\\|c \\ back\\',
    '[link](javascript:alert(1)) ![img](x) <https://example.org> www.example.org',
    '~~struck~~ $math$ # not-a-heading #',
    '&amp; &lt;b&gt; &#60;',
    '1. not a list', '2) neither', '- nor', '+ this', '= setext', '> quote', '# heading',
    '    indented', 'trailing  ', '```fence', '~~~fence', '---', '***', '___',
    'tab\there\nnew line\r\nand more',
    'desk 01 (finance) - "quoted" \'single\' {braces} @at :colon: 100%',
    'x' * 247,
]


def rendered_text(html):
    return lxml.html.fromstring('<div>%s</div>' % html).text_content()


def expected(text):
    """What a renderer shows: control characters as spaces, the rest as it is."""
    return ''.join(' ' if ord(char) < 32 or ord(char) == 127 else char for char in text)


@pytest.mark.parametrize('text', HOSTILE)
@pytest.mark.parametrize('place', [
    'paragraph {}', '### {} (ok)', '1. **{}** on hv, running', '   - {}',
    '| Domain | Notes |\n| --- | --- |\n| {} | a |',
])
def test_text_renders_as_itself_wherever_it_is_put(text, place):
    source = place.format(markdown_escape(text))
    html = RENDERER.render(source)
    tree = lxml.html.fromstring('<div>%s</div>' % html)
    # Only the markup of the place itself: no element, attribute or link from the text.
    place_tags = {'div', 'p', 'h3', 'ol', 'ul', 'li', 'strong', 'table', 'thead', 'tbody', 'tr', 'th', 'td'}
    tags = {element.tag for element in tree.iter()} - place_tags
    assert tags == set(), (source, html)
    assert not tree.xpath('//@onerror | //@href | //@src'), html
    if place.startswith('|'):
        cell = tree.xpath('//td')[0]
        assert cell.text_content() == expected(text), (source, html)
    else:
        assert expected(text) in tree.text_content(), (source, html)
    if '**' in place:
        assert tree.xpath('//strong')[0].text_content() == expected(text), (source, html)


def test_the_escaped_text_stays_on_one_line_and_readable():
    assert markdown_escape('desk-01.example (vm)') == 'desk-01.example (vm)'
    assert markdown_escape('a\nb\tc') == 'a b c'
    assert markdown_escape('x<y> & *z*|') == 'x&lt;y&gt; &amp; \\*z\\*\\|'
    assert markdown_escape(None) == '' and markdown_escape(3) == '3'
