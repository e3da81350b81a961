# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Debian 12 guest image for tests, built from Debian packages and cached.

One recipe serves every guest test of the project: a systemd guest reachable over SSH as
root, with Xorg on QXL (host-encoding tests), Xvfb + dex (a session that runs XDG
autostart entries, for the agent tests), PIL and GStreamer.  The kernel
(linux-image-amd64, not the cloud one: it has no DRM, so no QXL) boots directly, no
bootloader; the disk is made with ``mkfs.ext4 -d`` (no loop device) and converted to qcow2.

Use::

    from tests.support.guest_image import ensure_image
    image = ensure_image()          # builds once per recipe, then reuses the cache
    image.kernel, image.initrd, image.disk, image.cmdline, image.private_key

or from a shell: ``python -m tests.support.guest_image build`` (prints the image
directory and the build figures), ``... key`` (the cache key), ``... path``.

The cache lives in ``/var/cache/spice-streaming-tests/images/<key>/`` (override with
``SPICE_STREAMING_IMAGE_CACHE``), outside the checkout so it survives between runs.  The
key hashes the recipe (packages, sources, files written into the image) and this file's
source, so any change to either builds a new image.  A lock file makes concurrent test
runs build once; a build goes to a temporary directory renamed into place, so a killed
build never leaves a half image.  Each image gets its own throw-away SSH key pair
(``id_ed25519`` beside the disk, authorised for root and for the session user ``desk``).

Debian packages are kept between builds in ``<cache>/debs`` (only those the last build
used), so a recipe change downloads only what is new.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CACHE_ROOT = os.environ.get('SPICE_STREAMING_IMAGE_CACHE', '/var/cache/spice-streaming-tests')
SUITE = 'bookworm'
MIRROR = 'http://deb.debian.org/debian'
SECURITY_MIRROR = 'http://deb.debian.org/debian-security'
SOURCES = (
    'deb %s %s main' % (MIRROR, SUITE),
    'deb %s %s-updates main' % (MIRROR, SUITE),
    'deb %s %s-security main' % (SECURITY_MIRROR, SUITE),
)
UNUSED_DAYS = 14   # an image of another recipe unused this long is removed at the next build
SESSION_USER = 'desk'
SESSION_UID = 1000
DISK_SIZE = '6G'   # sparse: the qcow2 holds only what is written; room for apt in the guest
# Kernel command line every VM of this image boots with; the harness appends its own words.
# mitigations=off: page-table isolation flushes QEMU's soft TLB on every system call, which
# costs a TCG guest far more than a real CPU (a throw-away test guest has nothing to protect).
CMDLINE = 'root=/dev/vda rw console=ttyS0 systemd.show_status=1 mitigations=off'
# Modules the initramfs must carry to find and mount the root disk (MODULES=list keeps it
# small, 6-7 MB, instead of ~35 MB with MODULES=most).
INITRAMFS_MODULES = ('virtio_pci', 'virtio_blk', 'virtio_console', 'virtio_net', 'ext4')

PACKAGES = (
    # a systemd guest that shuts down on ACPI: logind (with dbus) handles the power button
    'systemd-sysv', 'udev', 'dbus', 'libpam-systemd', 'kmod', 'procps',
    'linux-image-amd64', 'initramfs-tools', 'zstd',
    'openssh-server', 'python3', 'python3-apt', 'sudo', 'iproute2', 'qemu-guest-agent',
    'acl',   # Ansible's become_user to an unprivileged user (desk) shares its temp files by ACL
    # Xorg on the QXL device (host encoding), input so Xorg does not complain
    'xserver-xorg-core', 'xserver-xorg-video-qxl', 'xserver-xorg-input-libinput',
    # an X session without hardware that runs XDG autostart entries (the agent)
    'xvfb', 'xauth', 'dex', 'x11-xserver-utils', 'x11-utils', 'python3-pil',
    # fast-changing windows and test pictures
    'gstreamer1.0-tools', 'gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-good',
    'gstreamer1.0-x',
    # what the stream_agent role installs for the agent's GStreamer plugin (its pipeline needs
    # plugins-bad): in the image, a test run does not spend ~12 minutes fetching 127 packages
    # through QEMU's user networking under TCG
    'gstreamer1.0-plugins-bad',
)

# Documentation and translations are dead weight in a test guest (about 100 MB).
DPKG_EXCLUDES = (
    'path-exclude=/usr/share/man/*',
    'path-exclude=/usr/share/info/*',
    'path-exclude=/usr/share/doc/*',
    'path-include=/usr/share/doc/*/copyright',
    'path-exclude=/usr/share/locale/*',
    'path-include=/usr/share/locale/locale.alias',
)

# Files written into the root file system, path -> (mode, content).  Those in EARLY_FILES
# are written before the packages too: the initramfs settings must be there when the
# kernel's postinst builds the initramfs (neither is a conffile of any package).
EARLY_FILES = ('/etc/initramfs-tools/conf.d/spice-streaming-tests',
               '/etc/initramfs-tools/hooks/spice-streaming-tests')
FILES = {
    '/etc/hostname': (0o644, 'sst-guest\n'),
    '/etc/hosts': (0o644, '127.0.0.1\tlocalhost\n127.0.1.1\tsst-guest\n'),
    '/etc/fstab': (0o644, '/dev/vda / ext4 rw,errors=remount-ro 0 1\n'),
    '/etc/initramfs-tools/conf.d/spice-streaming-tests': (0o644, 'MODULES=list\n'),
    # force_load both includes a module and loads it early.
    '/etc/initramfs-tools/hooks/spice-streaming-tests': (0o755, """#!/bin/sh
# The modules a directly booted kernel needs to mount /dev/vda (virtio) as ext4.
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
for module in %s; do
    force_load "$module"
done
""" % ' '.join(INITRAMFS_MODULES)),
    # QEMU user networking answers DHCP; its DNS forwarder sits at the guest-side 10.0.2.3
    # (only the guest uses it, for apt through QEMU's outbound NAT).
    '/etc/systemd/network/20-wired.network': (0o644, """[Match]
Name=en* eth*

[Network]
DHCP=ipv4
"""),
    '/etc/resolv.conf': (0o644, 'nameserver 10.0.2.3\n'),
    # A guest script named on the kernel command line (e2e.run=NAME) runs once at boot,
    # writing to the serial console: a way to drive a guest with no SSH at all.
    '/etc/systemd/system/sst-e2e-run.service': (0o644, """[Unit]
Description=Run the test script named by e2e.run= on the kernel command line
ConditionKernelCommandLine=e2e.run
After=multi-user.target

[Service]
# Not oneshot: a long script must not hold the boot (and wait_ssh) in "starting".
Type=exec
ExecStart=/usr/local/sbin/sst-e2e-run
StandardOutput=journal

[Install]
WantedBy=multi-user.target
"""),
    '/usr/local/sbin/sst-e2e-run': (0o755, """#!/bin/sh
# Runs /usr/local/lib/sst-e2e/NAME for e2e.run=NAME and prints its exit status.
# Every line opens the console anew: agetty on ttyS0 hangs up (vhangup) the descriptors
# open on it when it starts, which silenced the rest of a script started before it.
say() { echo "$*" > /dev/ttyS0 2>/dev/null || true; }
for word in $(cat /proc/cmdline); do
    case "$word" in e2e.run=*) name="${word#e2e.run=}" ;; esac
done
script="/usr/local/lib/sst-e2e/$name"
if [ ! -x "$script" ]; then
    say "sst-e2e: no script $script"
    exit 1
fi
say "sst-e2e: start $name"
status=$(mktemp)
{ "$script"; echo $? > "$status"; } 2>&1 | while IFS= read -r line; do say "$line"; done
rc=$(cat "$status")
rm -f "$status"
say "sst-e2e: end $name rc=$rc"
exit 0
"""),
    # Proves the e2e.run= path (tests/integration/guest boots with e2e.run=selftest).
    '/usr/local/lib/sst-e2e/selftest': (0o755, """#!/bin/sh
echo "sst-e2e selftest: $(id -un) on $(uname -r), $(systemctl is-system-running)"
"""),
    # The guest disk is a throw-away overlay: fsync per unpacked file only slows dpkg down.
    '/etc/dpkg/dpkg.cfg.d/spice-streaming-tests': (0o644, 'force-unsafe-io\n'),
    # apt's timers would lock dpkg at random moments while a test installs packages.
    '/etc/apt/apt.conf.d/20-spice-streaming-tests': (0o644, """APT::Periodic::Enable "0";
APT::Install-Recommends "0";
"""),
    '/etc/sudoers.d/desk': (0o440, 'desk ALL=(ALL) NOPASSWD:ALL\n'),
}

# Run inside the image (chroot, /proc and /dev mounted by mmdebstrap) after the packages.
CUSTOMIZE = """set -e
useradd --create-home --uid %(uid)d --shell /bin/bash --groups video,audio,input %(user)s
systemctl enable systemd-networkd.service sst-e2e-run.service
systemctl set-default multi-user.target
# Under TCG every unit costs seconds: nothing a test guest needs is masked here.  A per-user
# systemd (user@.service) took 14-20 s per first login of a user; logind goes on without it
# (XDG_RUNTIME_DIR still comes from user-runtime-dir@.service).
systemctl mask apt-daily.timer apt-daily-upgrade.timer systemd-networkd-wait-online.service \
    e2scrub_reap.service e2scrub_all.timer user@.service
passwd --lock root
# What a guest must be able to do, checked at build time so a broken image never lands.
lsinitramfs /boot/initrd.img-* > /tmp/initrd.list
for module in %(modules)s; do
    grep -q "/$module.ko" /tmp/initrd.list || grep -q "/$module.ko" /lib/modules/*/modules.builtin \\
        || { echo "initramfs lacks $module" >&2; exit 1; }
done
rm /tmp/initrd.list
grep -Eq '^HandlePowerKey=(ignore|suspend)' /etc/systemd/logind.conf \
    && { echo "logind ignores the power button" >&2; exit 1; }
test -x /usr/lib/xorg/modules/drivers/qxl_drv.so || test -f /usr/lib/xorg/modules/drivers/qxl_drv.so
python3 -c 'from PIL import ImageGrab, features; assert features.check("xcb"), "PIL without XCB"'
""" % {'uid': SESSION_UID, 'user': SESSION_USER, 'modules': ' '.join(INITRAMFS_MODULES)}


def recipe():
    """Everything that defines the image, as data: its hash is the cache key."""
    return {
        'suite': SUITE, 'sources': SOURCES, 'packages': sorted(PACKAGES),
        'dpkg_excludes': DPKG_EXCLUDES, 'files': {path: [mode, text] for path, (mode, text) in FILES.items()},
        'customize': CUSTOMIZE, 'disk_size': DISK_SIZE, 'cmdline': CMDLINE,
        'session_user': [SESSION_USER, SESSION_UID],
    }


def image_key():
    """Hash of the recipe and of this builder's source: a new recipe is a new image."""
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode())
    with open(os.path.abspath(__file__), 'rb') as handle:
        digest.update(handle.read())
    return 'bookworm-' + digest.hexdigest()[:16]


class GuestImage:
    """A built image: paths to what a VM boots, its SSH key, and how it was built."""

    def __init__(self, path):
        self.path = path
        self.kernel = os.path.join(path, 'vmlinuz')
        self.initrd = os.path.join(path, 'initrd.img')
        self.disk = os.path.join(path, 'disk.qcow2')
        self.private_key = os.path.join(path, 'id_ed25519')
        self.public_key = self.private_key + '.pub'
        self.cmdline = CMDLINE
        self.session_user = SESSION_USER
        with open(os.path.join(path, 'manifest.json'), encoding='utf-8') as handle:
            self.manifest = json.load(handle)

    @property
    def key(self):
        return os.path.basename(self.path)

    def __repr__(self):
        return 'GuestImage(%r)' % self.path


def _log(message):
    print('[guest-image] %s' % message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked(path):
    with open(path, 'a', encoding='ascii') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command, **kwargs):
    proc = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError('guest image build: %s failed (exit %d)\nSTDOUT:\n%s\nSTDERR:\n%s'
                           % (command[0], proc.returncode, proc.stdout[-4000:], proc.stderr[-8000:]))
    return proc


def _check_reachable_by_libvirt(path):
    """QEMU runs as libvirt-qemu: every directory down to the image must be traversable.

    libvirt's DAC driver chowns the kernel, initrd and disk it hands to QEMU (and gives
    them back afterwards) but never touches the directories above them.
    """
    parent = path
    while parent not in ('/', ''):
        mode = os.stat(parent).st_mode
        if not mode & 0o001:
            raise RuntimeError('%s is not traversable by others (mode %o); libvirt-qemu cannot reach '
                               'the guest image under it: set SPICE_STREAMING_IMAGE_CACHE elsewhere'
                               % (parent, mode & 0o777))
        parent = os.path.dirname(parent)


def _write_files(rootfs, paths=None):
    for path in paths or FILES:
        mode, text = FILES[path]
        target = os.path.join(rootfs, path.lstrip('/'))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(target):
            os.unlink(target)
        with open(target, 'w', encoding='utf-8') as handle:
            handle.write(text)
        os.chmod(target, mode)


def _authorize(rootfs, pubkey):
    with open(pubkey, encoding='ascii') as handle:
        key = handle.read()
    for home, uid in (('root', 0), ('home/' + SESSION_USER, SESSION_UID)):
        ssh_dir = os.path.join(rootfs, home, '.ssh')
        os.makedirs(ssh_dir, exist_ok=True)
        keys = os.path.join(ssh_dir, 'authorized_keys')
        with open(keys, 'w', encoding='ascii') as handle:
            handle.write(key)
        os.chmod(ssh_dir, 0o700)
        os.chmod(keys, 0o600)
        os.chown(ssh_dir, uid, uid)
        os.chown(keys, uid, uid)


def _prune_debs(debs, rootfs):
    """Keep only the .deb files this build installed, so the cache does not grow forever."""
    proc = _run(['dpkg-query', '--admindir=%s/var/lib/dpkg' % rootfs, '-W',
                 '-f=${Package}_${Version}_${Architecture}.deb\n'])
    wanted = {line.replace(':', '%3a') for line in proc.stdout.split()}
    for name in os.listdir(debs):
        if name.endswith('.deb') and name not in wanted:
            os.unlink(os.path.join(debs, name))


def _build(target, work, key):
    """Build the image ``key`` into ``target`` (a fresh directory), using ``work`` for scratch."""
    started = time.monotonic()
    figures = {}
    rootfs = os.path.join(work, 'rootfs')
    debs = os.path.join(CACHE_ROOT, 'debs')
    os.makedirs(debs, exist_ok=True)
    private_key = os.path.join(target, 'id_ed25519')
    _run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'spice-streaming-tests-guest',
          '-f', private_key])

    customize = os.path.join(work, 'customize.sh')
    with open(customize, 'w', encoding='utf-8') as handle:
        handle.write(CUSTOMIZE)
    write_files = '%s %s %s "$1"' % (sys.executable, os.path.abspath(__file__), '_write-files')
    command = [
        'mmdebstrap', '--variant=minbase', '--mode=root', '--format=directory',
        '--include=' + ','.join(PACKAGES),
        '--skip=download/empty', '--skip=essential/unlink',
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives',
        '--setup-hook=cp -a %s/. "$1"/var/cache/apt/archives/' % debs,
        '--setup-hook=%s %s' % (write_files, ' '.join(EARLY_FILES)),
        '--customize-hook=' + write_files,
        '--customize-hook=chroot "$1" /bin/sh < %s' % customize,
        '--customize-hook=cp -a "$1"/var/cache/apt/archives/*.deb %s/ 2>/dev/null || true' % debs,
        '--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb',
    ]
    command += ['--dpkgopt=' + option for option in DPKG_EXCLUDES]
    command += [SUITE, rootfs] + list(SOURCES)
    _log('mmdebstrap %d packages into %s' % (len(PACKAGES), rootfs))
    step = time.monotonic()
    _run(command, env=dict(os.environ, LC_ALL='C.UTF-8'))
    figures['mmdebstrap_seconds'] = round(time.monotonic() - step, 1)
    # mmdebstrap puts back the host's resolv.conf and hostname at its end: ours win.
    _write_files(rootfs)
    _authorize(rootfs, private_key + '.pub')
    _prune_debs(debs, rootfs)

    boot = os.path.join(rootfs, 'boot')
    kernels = sorted(name for name in os.listdir(boot) if name.startswith('vmlinuz-'))
    if len(kernels) != 1:
        raise RuntimeError('guest image build: expected one kernel in /boot, found %s' % kernels)
    version = kernels[0][len('vmlinuz-'):]
    shutil.copyfile(os.path.join(boot, 'vmlinuz-' + version), os.path.join(target, 'vmlinuz'))
    shutil.copyfile(os.path.join(boot, 'initrd.img-' + version), os.path.join(target, 'initrd.img'))

    step = time.monotonic()
    raw = os.path.join(work, 'disk.raw')
    _run(['mkfs.ext4', '-q', '-F', '-L', 'sst-root', '-E', 'root_owner=0:0', '-d', rootfs, raw, DISK_SIZE])
    _run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, os.path.join(target, 'disk.qcow2')])
    figures['disk_seconds'] = round(time.monotonic() - step, 1)
    rootfs_bytes = int(_run(['du', '-sb', rootfs]).stdout.split()[0])
    versions = _run(['dpkg-query', '--admindir=%s/var/lib/dpkg' % rootfs, '-W',
                     '-f=${Package} ${Version}\n']).stdout.split('\n')
    figures.update({
        'build_seconds': round(time.monotonic() - started, 1),
        'rootfs_mib': round(rootfs_bytes / 2 ** 20),
        'disk_qcow2_mib': round(os.path.getsize(os.path.join(target, 'disk.qcow2')) / 2 ** 20),
        'initrd_mib': round(os.path.getsize(os.path.join(target, 'initrd.img')) / 2 ** 20, 1),
    })
    manifest = {
        'key': key, 'kernel_version': version,
        'built': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'figures': figures, 'recipe': recipe(),
        'packages': dict(line.split(' ', 1) for line in versions if line),
    }
    with open(os.path.join(target, 'manifest.json'), 'w', encoding='utf-8') as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
    # Read-only for everyone: libvirt's DAC driver chowns the kernel, initrd and backing disk
    # to libvirt-qemu when a VM starts (and leaves them so), and nothing may write the base.
    for name in ('vmlinuz', 'initrd.img', 'disk.qcow2', 'manifest.json', 'id_ed25519.pub'):
        os.chmod(os.path.join(target, name), 0o444)
    return figures


def ensure_image(cache_root=None):
    """Return the cached image for the current recipe, building it first when missing."""
    root = os.path.join(cache_root or CACHE_ROOT, 'images')
    os.makedirs(root, exist_ok=True)
    key = image_key()
    final = os.path.join(root, key)
    if not os.path.exists(os.path.join(final, 'manifest.json')):
        with _locked(os.path.join(root, '.build.lock')):
            if not os.path.exists(os.path.join(final, 'manifest.json')):   # nobody built it meanwhile
                _remove_stale(root, keep=key)
                _build_into(root, key, final)
    # The manifest's mtime says when the image was last used (see _remove_stale).
    os.utime(os.path.join(final, 'manifest.json'))
    return GuestImage(final)


def _build_into(root, key, final):
    _check_reachable_by_libvirt(root)
    work = tempfile.mkdtemp(prefix='.build-%s-' % key, dir=root)
    try:
        target = os.path.join(work, 'image')
        os.mkdir(target)
        _log('building image %s (cold build, two minutes or so)' % key)
        figures = _build(target, work, key)
        os.chmod(target, 0o755)
        os.rename(target, final)
        _log('built %s: %s' % (key, json.dumps(figures)))
    finally:
        _remove_tree(work)


def _remove_tree(path):
    """rmtree, unless something is still mounted below (a killed mmdebstrap's /proc or /dev):
    deleting through a mount point would delete the host's files."""
    with open('/proc/self/mounts', encoding='utf-8') as handle:
        mounted = [line.split()[1] for line in handle]
    inside = [point for point in mounted if point == path or point.startswith(path.rstrip('/') + '/')]
    if inside:
        _log('left %s in place: %s still mounted there (umount them, then remove it)' % (path, inside))
        return
    shutil.rmtree(path, ignore_errors=True)


def _remove_stale(root, keep):
    """Under the build lock: remove scratch directories of killed builds, and images of other
    recipes unused for UNUSED_DAYS (another branch may still use a recent one)."""
    limit = time.time() - UNUSED_DAYS * 86400
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name.startswith('.build-'):
            _remove_tree(path)
        elif name.startswith('bookworm-') and name != keep:
            manifest = os.path.join(path, 'manifest.json')
            if not os.path.exists(manifest) or os.path.getmtime(manifest) < limit:
                _log('removing image %s, unused for %d days' % (name, UNUSED_DAYS))
                _remove_tree(path)


def main(argv):
    if len(argv) >= 3 and argv[1] == '_write-files':   # called by mmdebstrap's hooks
        _write_files(argv[2], argv[3:])
        return 0
    action = argv[1] if len(argv) > 1 else 'build'
    if action == 'key':
        print(image_key())
    elif action == 'path':
        print(os.path.join(CACHE_ROOT, 'images', image_key()))
    elif action == 'build':
        image = ensure_image()
        print(image.path)
        print(json.dumps(image.manifest['figures'], indent=1))
    else:
        print('usage: python -m tests.support.guest_image [build|key|path]', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
