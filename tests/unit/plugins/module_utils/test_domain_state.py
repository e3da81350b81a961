# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a definition says about streaming, on definitions real libvirt wrote (fixtures/domains/)."""

from __future__ import annotations

import copy
import glob
import os

import pytest

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml as dx
from ansible_collections.spice.streaming.plugins.module_utils.domain_state import (
    compliance,
    domain_problems,
    live_gaps,
    saved_state_gaps,
    streaming_state,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'domains')
ALL = sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, '*.xml')))
STREAM = 'org.spice-space.stream.0'
TARGET = 'q35-spice-streaming-filter.xml'          # mode filter and the stream channel
NO_MODE = 'q35-stream-channel-no-mode.xml'         # the channel, no <streaming>
ALL_NO_CHANNEL = 'q35-spice-streaming-all-no-channel.xml'
DUPLICATE = 'q35-duplicate-stream-channel.xml'
CONFLICT = 'q35-spice-stream-channel-other-type.xml'
VNC_ONLY = 'q35-vnc-only.xml'


def load(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return dx.parse_domain(handle.read())


def as_live(root, state='disconnected'):
    """What libvirt's live XML adds to the stream channel of a running domain."""
    live = copy.deepcopy(root)
    for channel in dx.stream_channels(live):
        channel.find('target').set('state', state)
    return live


# ------------------------------------------------------------------ streaming_state


@pytest.mark.parametrize('name', ALL)
def test_state_of_every_fixture_agrees_with_its_xml(name):
    root = load(name)
    state = streaming_state(root)
    assert state['graphics'] == [g.get('type') for g in root.iterfind('devices/graphics')]
    assert state['channel_count'] == len(dx.stream_channels(root))
    assert state['agent_channel'] is (state['channel_count'] > 0)
    # Inactive definitions never carry the live-only state attribute.
    assert state['channel_state'] is None
    if 'spice' not in state['graphics']:
        assert state['streaming_mode'] is None


@pytest.mark.parametrize('name,graphics,mode,channels', [
    (TARGET, ['spice'], 'filter', 1),
    (NO_MODE, ['spice'], None, 1),
    (ALL_NO_CHANNEL, ['spice'], 'all', 0),
    (DUPLICATE, ['spice'], None, 2),
    (VNC_ONLY, ['vnc'], None, 0),
    ('q35-vnc-and-spice.xml', ['vnc', 'spice'], None, 0),
    # A spiceport channel that is not the stream (webdav) is not counted.
    ('q35-spice-webdav-audio.xml', ['spice'], None, 0),
    # A unix channel holding the stream name is a conflict, not the agent channel.
    (CONFLICT, ['spice'], None, 0),
])
def test_state_of_known_shapes(name, graphics, mode, channels):
    state = streaming_state(load(name))
    # virt-manager writes <image compression='off'/> into the SPICE graphics it creates.
    image = 'off' if 'spice' in graphics else None
    assert state == {'graphics': graphics, 'streaming_mode': mode, 'agent_channel': channels > 0,
                     'channel_count': channels, 'channel_state': None, 'image_compression': image,
                     'jpeg_compression': None, 'zlib_compression': None, 'playback_compression': None}


@pytest.mark.parametrize('value', ['connected', 'disconnected'])
def test_state_reads_the_live_channel_state(value):
    assert streaming_state(as_live(load(TARGET), value))['channel_state'] == value


# ------------------------------------------------------------------ live_gaps


@pytest.mark.parametrize('name', ALL)
def test_a_running_domain_like_its_definition_has_no_gap(name):
    root = load(name)
    assert live_gaps(root, as_live(root)) == []


def test_mode_gap_when_the_definition_was_changed_after_start():
    gaps = live_gaps(load(TARGET), as_live(load(NO_MODE)))
    assert [gap['change'] for gap in gaps] == ['streaming_mode']
    assert 'filter' in gaps[0]['reason'] and 'off' in gaps[0]['reason']
    assert 'cold start' in gaps[0]['reason']


def test_explicit_off_is_no_gap_against_an_absent_mode():
    defined = load(NO_MODE)
    dx.set_streaming_mode(defined, 'off')
    assert live_gaps(defined, as_live(load(NO_MODE))) == []
    assert live_gaps(load(NO_MODE), as_live(defined)) == []


def test_channel_in_definition_only_and_mode_gap_together():
    gaps = live_gaps(load(TARGET), as_live(load(ALL_NO_CHANNEL)))
    assert [gap['change'] for gap in gaps] == ['streaming_mode', 'agent_channel']
    assert 'all' in gaps[0]['reason']
    assert 'next cold start' in gaps[1]['reason'] and 'definition has' in gaps[1]['reason']


def test_channel_still_running_after_removal_from_definition():
    defined = load(NO_MODE)
    dx.remove_stream_channels(defined)
    gaps = live_gaps(defined, as_live(load(NO_MODE)))
    assert [gap['change'] for gap in gaps] == ['agent_channel']
    assert 'still has' in gaps[0]['reason']


# ------------------------------------------------------------------ domain_problems


@pytest.mark.parametrize('name', [n for n in ALL if n not in (DUPLICATE, CONFLICT, VNC_ONLY)])
def test_ordinary_definitions_have_no_problem(name):
    assert domain_problems(load(name)) == []


def test_conflicting_port_is_a_problem():
    problems = domain_problems(load(CONFLICT))
    assert len(problems) == 1
    assert "'unix'" in problems[0] and STREAM in problems[0] and 'remove or rename' in problems[0]


def test_duplicated_channels_are_a_problem():
    problems = domain_problems(load(DUPLICATE))
    assert len(problems) == 1 and problems[0].startswith('2 stream channels')


def test_channel_without_controller_is_a_problem():
    root = load('q35-spice-no-virtio-serial.xml')
    dx.devices_of(root).append(dx.new_stream_channel())
    problems = domain_problems(root)
    assert len(problems) == 1 and 'no virtio-serial controller' in problems[0]


def test_no_spice_is_a_problem_unless_not_required():
    assert 'no SPICE graphics' in domain_problems(load(VNC_ONLY))[0]
    assert domain_problems(load(VNC_ONLY), require_spice=False) == []


def test_problems_match_what_libvirt_domain_refuses():
    """A conflict found here is exactly what stops libvirt_domain's own check."""
    for name in ALL:
        root = load(name)
        refused = dx.check_request(root, dx.StreamingRequest('filter', 'present'))
        problems = [p for p in domain_problems(root) if 'stream channels' not in p]
        assert bool(refused) == bool(problems), name


# ------------------------------------------------------------------ saved_state_gaps


def test_a_saved_state_without_the_change_waits_for_it_to_be_discarded():
    gaps = saved_state_gaps(load(TARGET), load(ALL_NO_CHANNEL))
    assert [gap['change'] for gap in gaps] == ['streaming_mode', 'agent_channel']
    for gap in gaps:
        assert 'the saved state' in gap['reason'] and 'running domain' not in gap['reason']
        assert 'virsh managedsave-remove' in gap['reason'] and 'cold start' in gap['reason']
    assert 'was saved with streaming mode all' in gaps[0]['reason']


def test_a_saved_state_like_its_definition_waits_for_nothing():
    root = load(TARGET)
    assert saved_state_gaps(root, as_live(root)) == []


# ------------------------------------------------------------------ compliance


ENABLE = dx.StreamingRequest('filter', 'present')


def test_a_definition_as_asked_on_a_shut_off_domain_is_compliant():
    assert compliance(load(TARGET), None, ENABLE, exact=False) == ('compliant', [])


def test_a_definition_libvirt_domain_would_change_is_not_compliant_with_its_actions():
    state, reasons = compliance(load(NO_MODE), None, ENABLE, exact=False)
    assert state == 'not_compliant'
    assert reasons == ['the definition is not as asked; libvirt_domain would change it: set SPICE streaming '
                       'mode to filter (was not set, which QEMU runs as off)']


def test_the_definition_is_read_not_changed():
    root = load('q35-spice-virtmanager.xml')
    before = dx.to_string(root)
    assert compliance(root, None, ENABLE, exact=False)[0] == 'not_compliant'
    assert dx.to_string(root) == before


def test_a_running_domain_behind_its_definition_is_waiting():
    state, reasons = compliance(load(TARGET), as_live(load(NO_MODE)), ENABLE, exact=False)
    assert state == 'waiting'
    assert len(reasons) == 1 and 'streams with mode off' in reasons[0] and 'cold start' in reasons[0]
    # Without the channel but with a controller: a hot-plug would bring it.
    state, reasons = compliance(load(TARGET), load(ALL_NO_CHANNEL), dx.StreamingRequest(None, 'present'),
                                exact=False)
    assert state == 'waiting' and 'hot-plugs it' in reasons[0]
    assert compliance(load(TARGET), as_live(load(TARGET)), ENABLE, exact=False) == ('compliant', [])


def test_a_saved_state_behind_the_definition_is_waiting():
    state, reasons = compliance(load(TARGET), None, ENABLE, exact=False, saved_root=load(ALL_NO_CHANNEL))
    assert state == 'waiting' and all('managedsave-remove' in reason for reason in reasons)


def test_what_libvirt_domain_skips_or_refuses():
    assert compliance(load(VNC_ONLY), None, ENABLE, exact=False) == ('left_alone', [])
    state, reasons = compliance(load(VNC_ONLY), None, ENABLE, exact=True)
    assert state == 'not_compliant' and 'has no SPICE graphics' in reasons[0]
    state, reasons = compliance(load(CONFLICT), None, ENABLE, exact=False)
    assert state == 'not_compliant' and 'cannot bring it to the asked state' in reasons[0]
    assert compliance(None, load(TARGET), ENABLE, exact=False) == ('left_alone', [])
    assert compliance(None, load(TARGET), ENABLE, exact=True)[0] == 'not_compliant'


@pytest.mark.parametrize('name', ALL)
def test_leave_everything_is_compliant_and_off_asks_for_the_mode_written(name):
    root = load(name)
    assert compliance(root, as_live(root), dx.StreamingRequest(), exact=False) == ('compliant', [])
    state, _reasons = compliance(root, None, dx.StreamingRequest('off', None), exact=False)
    modes = [dx.streaming_mode_of(graphics) for graphics in dx.spice_graphics(root)]
    if not modes:
        assert state == 'left_alone'
    else:
        assert (state == 'compliant') == all(mode == 'off' for mode in modes), (name, modes, state)
