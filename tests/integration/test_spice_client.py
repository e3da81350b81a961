# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The headless SPICE client (tests/support/spice_client.py) against QEMU's real SPICE server.

No guest operating system: diskless q35 domains run (not paused) in SeaBIOS, which draws
a 720x400 text screen, or boot a hand-written boot sector that paints colour bars. SPICE
listens on 127.0.0.1 at a port libvirt picks, read back from the live XML. These tests
prove the client sees what a SPICE viewer would, so that the end-to-end streaming tests
can trust it: channels, primary surfaces, pixels, stream creation (or its absence), errors.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from tests.support.libvirt_env import STREAM_CHANNEL, URI, VIRTIO_SERIAL, domain_xml, run_module
from tests.support.spice_client import free_local_port, frames, observe, opened, primary, start, stream
from tests.support.spice_domain import (
    boot_disk,
    colour_bars_disk_image,
    colour_bars_rgb,
    differs_beyond_a_text_cell,
    hypervisor_screenshot,
    local_spice_graphics,
    screenshot_of_size,
    settled_screenshot,
    spice_port,
)
from tests.support.spice_screen import bounding_box

TEXT_SCREEN = (720, 400)
DESKTOP_CHANNELS = {('main', 0), ('display', 0), ('inputs', 0), ('cursor', 0)}
ALL_OPEN = [opened(kind, channel_id) for kind, channel_id in sorted(DESKTOP_CHANNELS)]
DESKTOP_OPENED = [('%s:%d' % channel, 'opened') for channel in sorted(DESKTOP_CHANNELS)]
# The bound on what must arrive (channels, the first surface): idle, it all comes within a
# tenth of a second; a loaded machine running a TCG guest beside these domains is slower.
READY_TIMEOUT = 60


def running_desktop(domains, label, *devices, password=None, streaming=None):
    """A running (not paused) domain with SPICE on 127.0.0.1; returns it and its port."""
    graphics = local_spice_graphics(password, streaming)
    dom = domains.define(label, lambda name: domain_xml(name, (graphics,) + devices), start=True)
    dom.resume()
    return dom, spice_port(dom)


def wait_ready(client, ready, timeout=READY_TIMEOUT):
    """Wait until ``client`` has reported each (channel, event) of ``ready``; fail with what it saw."""
    deadline = time.monotonic() + timeout
    for channel, event in ready:
        if not client.wait_for(channel, event, timeout=max(0.0, deadline - time.monotonic())):
            pytest.fail('the client reported no %s on %s within %d s:\n%s'
                        % (event, channel, timeout, client.stop().summary()))


def watch(port, window, ready):
    """What a client sees in ``window`` seconds counted from when everything in ``ready`` came.

    What must arrive gets its own bound first, so a slow start on a loaded machine does not
    eat the window; what must not arrive gets the whole window. Ends by ``Client.stop()``.
    """
    client = start(port, READY_TIMEOUT + window + 30)
    wait_ready(client, ready)
    time.sleep(window)
    return client.stop()


@pytest.fixture
def colour_bars_disk():
    """Writes the colour-bars boot disk (still or moving); returns its path."""
    # QEMU runs as libvirt-qemu: the image lives where that user can reach it.
    folder = tempfile.mkdtemp(prefix='sst-it-spice-', dir='/var/tmp')
    os.chmod(folder, 0o755)

    def write(moving=False):
        path = os.path.join(folder, 'colour-bars-%s.img' % ('moving' if moving else 'still'))
        with open(path, 'wb') as handle:
            handle.write(colour_bars_disk_image(moving))
        os.chmod(path, 0o644)
        return path

    yield write
    shutil.rmtree(folder)


@pytest.mark.parametrize('stream_channel', [False, True], ids=['no-stream-channel', 'stream-channel'])
def test_channels_surface_and_the_stream_channel_trap(domains, stream_channel):
    devices = (VIRTIO_SERIAL, STREAM_CHANNEL) if stream_channel else ()
    dom, port = running_desktop(domains, 'desk', *devices)
    settled_screenshot(dom, TEXT_SCREEN)

    ready = DESKTOP_OPENED + [('display:0', 'primary-create')]
    if stream_channel:
        ready.append(('display:1', 'opened'))
    # The whole window, no early stop, from when every channel is open and display 0 has its
    # surface: what must not arrive needs the full time to not arrive.
    seen = watch(port, 4, ready)

    assert seen.errors == [] and seen.stopped == 'stopped by caller', seen.summary()
    assert seen.server_name == dom.name(), seen.summary()
    assert DESKTOP_CHANNELS <= seen.opened(), seen.summary()
    surface = seen.primary(0)
    assert surface is not None, seen.summary()
    assert (surface['width'], surface['height'], surface['format']) == TEXT_SCREEN + (32,), seen.summary()
    # SeaBIOS leaves a blinking cursor: the text screen keeps being redrawn.
    assert seen.frames(0) >= 2 and seen.fps(0) > 0, seen.summary()
    assert seen.streams_created(0) == [], seen.summary()
    if stream_channel:
        # The trap: display channel 1 exists with nothing in the guest, yet nothing arrives.
        assert ('display', 1) in seen.opened(), seen.summary()
        assert seen.primary(1) is None and seen.invalidates(1) == [], seen.summary()
        assert seen.streams_created(1) == [], seen.summary()
    else:
        assert seen.channel('display', 1) is None and seen.display(1) is None, seen.summary()


def test_pixels_are_what_the_guest_drew(domains, colour_bars_disk):
    dom, port = running_desktop(domains, 'bars', boot_disk(colour_bars_disk()))
    before = settled_screenshot(dom, TEXT_SCREEN)
    # Cell centres along a diagonal and a row: every one of the sixteen colours, at many x and y.
    points = sorted({(9 * col + 4, 16 * row + 8) for col, row in
                     [(n, n % 25) for n in range(0, 80, 3)] + [(n, 24) for n in range(16)]})

    seen = observe(port, 10, until=[primary(0), frames(0, 1)], samples={0: points}, dump=[0])
    after = hypervisor_screenshot(dom)

    assert seen.stopped == 'conditions met', seen.summary()
    picture = seen.image(0)
    assert picture is not None and picture.size == TEXT_SCREEN, seen.summary()
    assert len(picture.colours()) == 16, '%s\n%s' % (sorted(picture.colours()), seen.summary())
    wrong = [(x, y, seen.sample(0, x, y), colour_bars_rgb(x, y)) for x, y in points
             if seen.sample(0, x, y) != colour_bars_rgb(x, y)]
    assert wrong == [], 'pixels (x, y, seen, drawn): %s\n%s' % (wrong, seen.summary())
    # A second witness for every pixel: QEMU's own screenshot, before and after.
    for shot in (before, after):
        differences = picture.differences(shot)
        assert differences == [], 'client and QEMU differ at %d pixels, box %s\n%s' % (
            len(differences), bounding_box(differences), seen.summary())


@pytest.mark.parametrize('mode', ['all', 'filter', 'off'])
def test_host_encoding_shows_as_a_stream_on_display_0(domains, colour_bars_disk, mode):
    """spice-server's own encoder streams a screen that changes all the time, in mode 'all' only.

    'filter' leaves these hard-edged bars alone, as it leaves a hard-edged window in a desktop.
    """
    devices = (boot_disk(colour_bars_disk(moving=True)), VIRTIO_SERIAL, STREAM_CHANNEL)
    dom, port = running_desktop(domains, 'moving-' + mode, *devices, streaming=mode)
    screenshot_of_size(dom, TEXT_SCREEN)

    if mode == 'all':
        seen = observe(port, 20, until=[stream(0)])
        assert seen.stopped == 'conditions met' and seen.streams_created(0), seen.summary()
    else:
        # The whole window from display 0's surface on, display 1 open: no stream may come.
        seen = watch(port, 4, [('display:0', 'primary-create'), ('display:1', 'opened')])
        assert seen.stopped == 'stopped by caller' and seen.streams_created(0) == [], seen.summary()
        # Not for want of motion: the screen was redrawn all along.
        assert seen.frames(0) >= 20, seen.summary()
    assert seen.server_name == dom.name() and seen.errors == [], seen.summary()
    # The guest-agent channel stays silent: host encoding is display channel 0's business.
    assert seen.primary(1) is None and seen.streams_created(1) == [], seen.summary()


def test_sea_bios_text_matches_the_hypervisor_screen(domains):
    dom, port = running_desktop(domains, 'text')
    before = settled_screenshot(dom, TEXT_SCREEN)

    seen = observe(port, 10, until=[primary(0), frames(0, 2)], dump=[0])
    after = hypervisor_screenshot(dom)

    picture = seen.image(0)
    assert picture is not None, seen.summary()
    colours = picture.colours()
    # SeaBIOS writes grey text on black; the comparison below has text to compare.
    assert {(0, 0, 0), (168, 168, 168)} <= set(colours), '%s\n%s' % (sorted(colours), seen.summary())
    # Only the blinking cursor may differ, inside one character cell.
    assert not differs_beyond_a_text_cell(picture, after), (
        'client and QEMU differ beyond the cursor: box %s\n%s'
        % (bounding_box(picture.differences(after)), seen.summary()))
    assert not differs_beyond_a_text_cell(before, after), 'the screen changed while observed'


def look_at_the_text_screen(dom, window=3):
    """What a client sees of a SeaBIOS text screen (the picture, kept), and QEMU's own screen."""
    screen = settled_screenshot(dom, TEXT_SCREEN)
    client = start(spice_port(dom), READY_TIMEOUT + window + 30, dump=[0])
    # The screen arrives right after display 0's surface: the window holds all of it.
    wait_ready(client, DESKTOP_OPENED + [('display:0', 'primary-create')])
    time.sleep(window)
    seen = client.stop()
    picture = seen.image(0)
    assert picture is not None and not differs_beyond_a_text_cell(picture, screen), (
        'the client did not get the screen QEMU shows: box %s\n%s'
        % (bounding_box(picture.differences(screen)) if picture else None, seen.summary()))
    return seen


def test_image_compression_set_by_the_collection_decides_whether_the_client_decodes_glz(domains):
    """libvirt_domain's image_compression, proven where it matters: in what a client decodes.

    A SeaBIOS text screen reaches the client as small images that spice-server compresses with
    GLZ when it may (glz, auto_glz). With quic the client gets the same screen and decodes no
    GLZ image. The definition is plain SPICE; only libvirt_domain changes it. A change to a
    running domain waits for a cold start: the client still decodes no GLZ image until then.
    """
    dom = domains.define('cmp', lambda name: domain_xml(name, (local_spice_graphics(),)))
    name = dom.name()
    quic = run_module('spice.streaming.libvirt_domain', {'uri': URI, 'name': [name], 'image_compression': 'quic'})
    assert quic.changed and not quic.failed, quic
    dom.create()

    seen = look_at_the_text_screen(dom)
    assert seen.errors == [] and seen.glz_images() == 0, seen.summary()

    glz = {'uri': URI, 'name': [name], 'image_compression': 'glz'}
    waiting = run_module('spice.streaming.libvirt_domain', glz)
    assert waiting.changed and [gap['change'] for gap in waiting.domain(name)['restart_required']] == [
        'image_compression'], waiting
    seen = look_at_the_text_screen(dom)
    assert seen.glz_images() == 0, 'a running domain cannot take a new image compression\n' + seen.summary()

    # The domain ignores ACPI (no OS): forced off after a second, started again, running.
    restarted = run_module('spice.streaming.libvirt_domain',
                           dict(glz, restart='when_needed', shutdown_timeout=1, force_off=True))
    assert restarted.result['restarted_domains'] == [name], restarted
    seen = look_at_the_text_screen(dom)
    assert seen.errors == [] and seen.glz_images() > 0, seen.summary()


def test_password_wrong_missing_and_right(domains):
    dom, port = running_desktop(domains, 'pass', password='sst-Secret-1')

    for password in ('not-the-password', None):
        seen = observe(port, 20, password=password)
        assert seen.stopped == 'main channel error-auth', seen.summary()
        assert seen.error_events() == ['error-auth'] and seen.opened() == set(), seen.summary()
        assert 'wrong password' in seen.errors[0]['message'], seen.summary()

    seen = observe(port, 20, password='sst-Secret-1', until=ALL_OPEN)
    assert seen.errors == [] and seen.stopped == 'conditions met', seen.summary()
    assert DESKTOP_CHANNELS <= seen.opened() and seen.server_name == dom.name(), seen.summary()


def test_closed_port_is_an_error_not_a_hang():
    seen = observe(free_local_port(), 60)

    assert seen.stopped == 'main channel error-connect', seen.summary()
    assert seen.error_events() == ['error-connect'], seen.summary()
    assert 'Connection refused' in seen.errors[0]['message'], seen.summary()
    assert seen.opened() == set(), seen.summary()


def test_a_second_client_takes_over_the_session(domains):
    """The caveat docs/verify-streaming.md gives administrators, proven."""
    dom, port = running_desktop(domains, 'twice')
    first = start(port, READY_TIMEOUT + 60)
    # Every channel of the first session open (display 0 opens before inputs): the takeover
    # then has each one to close.
    wait_ready(first, DESKTOP_OPENED)
    second = observe(port, 20, until=ALL_OPEN)
    earlier = first.finish()

    assert second.errors == [] and DESKTOP_CHANNELS <= second.opened(), second.summary()
    # The server drops the earlier session: spice-gtk reports that as 'closed', or as 'error-io'
    # when the server's close cut a read short (seen 1 in 20 beside a booting guest). Either way
    # the session ended by the server's doing, not on the client's deadline, and every channel
    # of it reported its end.
    ends = ('closed', 'error-io')
    assert earlier.stopped in ['main channel %s' % end for end in ends], earlier.summary()
    assert earlier.data['elapsed'] < READY_TIMEOUT + 60, earlier.summary()
    for channel in earlier.data['channels']:
        assert channel['events'][-1][1] in ends, earlier.summary()
    assert earlier.server_name == second.server_name == dom.name()
