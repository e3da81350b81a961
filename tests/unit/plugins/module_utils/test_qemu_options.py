# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of QEMU's option syntax (module_utils/qemu_options.py)."""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import QemuOpts, format_opts

STREAM = 'org.spice-space.stream.0'


# ---------------------------------------------------------------- key=value strings


class TestQemuOpts:
    def test_implied_first_key(self):
        opts = QemuOpts('spiceport,name=%s,id=c1' % STREAM, 'backend')
        assert opts.get('backend') == 'spiceport'
        assert opts.get('name') == STREAM
        assert opts.get('id') == 'c1'

    def test_explicit_implied_key(self):
        assert QemuOpts('driver=virtserialport,id=p', 'driver').get('driver') == 'virtserialport'

    def test_double_comma_is_a_literal_comma(self):
        opts = QemuOpts('password=a,,b,,,port=5930')
        assert opts.get('password') == 'a,b,'
        assert opts.get('port') == '5930'

    def test_implied_value_with_escaped_comma(self):
        assert QemuOpts('we,,ird,id=x', 'driver').get('driver') == 'we,ird'

    def test_flags(self):
        opts = QemuOpts('disable-ticketing,noagent-mouse')
        assert opts.get('disable-ticketing') == 'on'
        assert opts.get('agent-mouse') == 'off'

    def test_last_key_wins(self):
        assert QemuOpts('streaming-video=all,port=1,streaming-video=off').get('streaming-video') == 'off'

    def test_text_round_trips_untouched(self):
        for text in ('a=1,b=x,,y,c', 'a=1,', '', 'nofoo,bar=,baz=,,'):
            assert QemuOpts(text).text == text

    def test_set_keeps_other_items_as_written(self):
        opts = QemuOpts('password=se,,cret,disable-ticketing,port=5930,')
        opts.set('streaming-video', 'filter')
        assert opts.text == 'password=se,,cret,disable-ticketing,port=5930,streaming-video=filter,'

    def test_set_replaces_last_occurrence(self):
        opts = QemuOpts('streaming-video=all,x=1,streaming-video=off')
        opts.set('streaming-video', 'filter')
        assert opts.text == 'streaming-video=all,x=1,streaming-video=filter'

    def test_set_escapes_commas(self):
        opts = QemuOpts('port=1')
        opts.set('password', 'a,b')
        assert opts.text == 'port=1,password=a,,b'

    def test_set_implied_value_stays_bare(self):
        opts = QemuOpts('socket,id=c', 'backend')
        opts.set('backend', 'spiceport')
        assert opts.text == 'spiceport,id=c'

    def test_format_opts(self):
        assert format_opts([('driver', 'virtserialport'), ('name', 'a,b')], 'driver') == \
            'virtserialport,name=a,,b'
