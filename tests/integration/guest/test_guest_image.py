# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest image: what the real cached image holds, and the cache's own rules.

The cache tests replace the two-minute build with a fake one that writes the same files
(stated in each test); the locking, renaming and clean-up around it are the real code.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import stat
import tempfile
import time

import pytest

from tests.support import guest_image


def test_the_cached_image_is_what_every_guest_test_needs(guest_image):
    manifest = guest_image.manifest
    assert manifest['key'] == guest_image.key == guest_image_key()
    packages = manifest['packages']
    for name in ('linux-image-amd64', 'xserver-xorg-video-qxl', 'xvfb', 'dex', 'python3-pil',
                 'openssh-server', 'libpam-systemd', 'qemu-guest-agent', 'gstreamer1.0-x'):
        assert name in packages, name
    assert not any(name.startswith('linux-image-cloud') for name in packages)
    for path in (guest_image.kernel, guest_image.initrd, guest_image.disk):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o444, path
    assert stat.S_IMODE(os.stat(guest_image.path).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(guest_image.private_key).st_mode) == 0o600
    assert manifest['figures']['initrd_mib'] < 20, 'MODULES=list keeps the initramfs small'


def guest_image_key():
    return guest_image.image_key()


def test_key_follows_the_recipe(monkeypatch):
    key = guest_image.image_key()
    assert key == guest_image.image_key()
    monkeypatch.setattr(guest_image, 'PACKAGES', guest_image.PACKAGES + ('htop',))
    assert guest_image.image_key() != key


@pytest.fixture
def cache_root():
    """A cache libvirt-qemu could reach (pytest's own tmp_path sits under a 0700 directory)."""
    root = tempfile.mkdtemp(prefix='sst-image-cache-', dir='/var/tmp')
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _fake_build(target, _work, _key):
    """Stands in for the real build: writes the files a GuestImage reads, counts itself."""
    time.sleep(1)
    with open(os.path.join(os.path.dirname(os.path.dirname(target)), 'builds.log'), 'a',
              encoding='ascii') as handle:
        handle.write('%d\n' % os.getpid())
    with open(os.path.join(target, 'manifest.json'), 'w', encoding='utf-8') as handle:
        json.dump({'figures': {}}, handle)
    return {}


def _ensure_in_child(cache, queue):
    queue.put(guest_image.ensure_image(cache).path)


def test_concurrent_runs_build_once(monkeypatch, cache_root):
    monkeypatch.setattr(guest_image, '_build', _fake_build)
    context = multiprocessing.get_context('fork')
    queue = context.Queue()
    children = [context.Process(target=_ensure_in_child, args=(cache_root, queue)) for _run in range(3)]
    for child in children:
        child.start()
    paths = {queue.get(timeout=60) for _child in children}
    for child in children:
        child.join(30)
    assert paths == {os.path.join(cache_root, 'images', guest_image.image_key())}
    with open(os.path.join(cache_root, 'images', 'builds.log'), encoding='ascii') as handle:
        assert len(handle.read().split()) == 1, 'one build for three concurrent runs'


def test_a_killed_build_leaves_no_image_and_is_swept(monkeypatch, cache_root):
    images = os.path.join(cache_root, 'images')
    os.makedirs(os.path.join(images, '.build-%s-killed' % guest_image.image_key(), 'image'))

    def dies(_target, _work, _key):
        raise KeyboardInterrupt   # what a killed build looks like to the code around it
    monkeypatch.setattr(guest_image, '_build', dies)
    with pytest.raises(KeyboardInterrupt):
        guest_image.ensure_image(cache_root)
    assert os.listdir(images) == ['.build.lock'], 'no half image, no scratch left'

    monkeypatch.setattr(guest_image, '_build', _fake_build)
    image = guest_image.ensure_image(cache_root)
    assert set(os.listdir(images)) == {'.build.lock', 'builds.log', image.key}


def test_a_cache_libvirt_cannot_reach_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(guest_image, '_build', _fake_build)
    with pytest.raises(RuntimeError, match='not traversable by others.*SPICE_STREAMING_IMAGE_CACHE'):
        guest_image.ensure_image(str(tmp_path))


def test_images_of_other_recipes_go_when_long_unused(monkeypatch, cache_root):
    images = os.path.join(cache_root, 'images')
    for name, age_days in (('bookworm-old', 30), ('bookworm-recent', 1)):
        os.makedirs(os.path.join(images, name))
        manifest = os.path.join(images, name, 'manifest.json')
        with open(manifest, 'w', encoding='utf-8') as handle:
            handle.write('{}')
        then = time.time() - age_days * 86400
        os.utime(manifest, (then, then))
    monkeypatch.setattr(guest_image, '_build', _fake_build)
    image = guest_image.ensure_image(cache_root)
    assert set(os.listdir(images)) == {'.build.lock', 'builds.log', 'bookworm-recent', image.key}
