#!/usr/bin/env bash
# Shared set-up for scripts/demo.sh and scripts/test.sh: installs what the
# project needs on a Debian machine and starts libvirt.  Sourced, not run.
# Every step checks first and does nothing when its work is already done.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SPICE_STREAMING_VENV:-$REPO_ROOT/.venv}"
LIBVIRT_URI="${LIBVIRT_URI:-qemu:///system}"

# Debian packages: libvirt with the QEMU driver, QEMU with SPICE, the system
# Python's libvirt and lxml bindings (what the modules run with on a
# hypervisor), and what a virtual environment and ansible-test need.
SYSTEM_PACKAGES=(
  libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 qemu-utils
  python3 python3-venv python3-libvirt python3-lxml
  git ca-certificates
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Run a command with Debian's service starts refused (policy-rc.d exit 101), unless the
# machine already has a policy-rc.d: installing a test tool such as openssh-server must not
# leave its daemon running on the machine (the tests start their own, on loopback).
without_service_starts() {
  if [ -e /usr/sbin/policy-rc.d ]; then "$@"; return; fi
  printf '#!/bin/sh\n# spice.streaming scripts/test.sh: no service starts while it installs test tools\nexit 101\n' \
    | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod 0755 /usr/sbin/policy-rc.d
  local rc=0
  "$@" || rc=$?
  as_root rm -f /usr/sbin/policy-rc.d
  return "$rc"
}

ensure_system_packages() {
  local missing=() pkg
  for pkg in "${SYSTEM_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get: install them by hand"
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# Without udev (containers, CI sandboxes) /dev/kvm stays root-only 0600, while
# Debian's udev rule makes it root:kvm 0660.  libvirt probes QEMU with KVM as root,
# then finds KVM unusable for the libvirt-qemu user, drops its capability cache
# and probes again on every call: each define then waits seconds behind a
# probe.  Give /dev/kvm the mode it has on a normal Debian host.
ensure_kvm_device_mode() {
  [ -c /dev/kvm ] || return 0
  getent group kvm >/dev/null || return 0
  [ "$(stat -c '%G %a' /dev/kvm)" = "kvm 660" ] && return 0
  log "giving /dev/kvm the root:kvm 0660 mode udev gives it on Debian"
  as_root chgrp kvm /dev/kvm && as_root chmod 0660 /dev/kvm
}

libvirt_answers() {
  timeout 10 virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1
}

# libvirtd that already runs is left alone.  Without systemd as PID 1 (containers,
# CI sandboxes) the daemons are started by hand, as test-environment.md describes.
ensure_libvirtd() {
  ensure_kvm_device_mode
  libvirt_answers && return 0
  log "starting libvirt ($LIBVIRT_URI)"
  if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    as_root systemctl start virtlogd.socket libvirtd.socket libvirtd.service || true
  else
    pgrep -x virtlogd >/dev/null || as_root virtlogd -d
    pgrep -x libvirtd >/dev/null || as_root libvirtd -d
  fi
  local i
  for i in $(seq 1 60); do
    libvirt_answers && return 0
    sleep 0.5
  done
  die "libvirt at $LIBVIRT_URI does not answer after 30 s: see 'virsh -c $LIBVIRT_URI version'"
}

ensure_venv() {
  local stamp="$VENV/.requirements.sha1" want
  want="$(sha1sum <"$REPO_ROOT/scripts/requirements-test.txt" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python tools into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$REPO_ROOT/scripts/requirements-test.txt"
    echo "$want" >"$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

ensure_collection_path() {
  ANSIBLE_COLLECTIONS_PATH="$("$VENV/bin/python" "$REPO_ROOT/tests/support/collection_path.py")"
  export ANSIBLE_COLLECTIONS_PATH
}

# Debian packages the test suite needs beyond SYSTEM_PACKAGES; scripts/test.sh installs
# them all in one apt run.
# - The fleet report's test opens index.html in headless Chromium (chromium-driver for
#   WebDriver users; --dump-dom and --screenshot need only chromium).
REPORT_PACKAGES=(chromium chromium-driver)
# - spice-gtk (the library behind virt-viewer and remote-viewer) for Debian's
#   /usr/bin/python3: the headless SPICE client of the tests (tests/support/spice_client.py).
SPICE_CLIENT_PACKAGES=(python3-gi gir1.2-spiceclientglib-2.0)
# - The real guest VM tests (tests/support/guest_image.py builds a Debian 12 guest image
#   from Debian packages, without loop devices) and the stand-in agent tests on the host
#   (an X display, PIL, dpkg-deb for the .deb).
GUEST_TOOL_PACKAGES=(
  mmdebstrap qemu-utils e2fsprogs openssh-client dpkg-dev
  xvfb xauth x11-xserver-utils python3-pil
)
# - The fleet test reaches one "hypervisor" over a real SSH connection to an sshd it
#   starts itself on a loopback port (tests/support/sshd.py); the package's own service
#   is never started or used.
SSH_PACKAGES=(openssh-server openssh-client)
