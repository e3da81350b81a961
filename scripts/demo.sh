#!/usr/bin/env bash
# The main job on an embedded default: the local libvirt is the hypervisor.
# On a fresh Debian machine it installs what it needs (apt, pip), starts libvirtd
# if none runs, creates three demo domains (named spice-streaming-demo-*: two
# SPICE desktops, one of them running, and a VNC kiosk), then runs
#   ansible-playbook -i playbooks/inventory/demo.yml playbooks/enable_streaming.yml
# and shows what changed.  Run it again: nothing changes.
#
#   bash scripts/demo.sh             create the demo domains if missing, run the playbook
#   bash scripts/demo.sh --check     the same in check mode with diffs (changes nothing)
#   bash scripts/demo.sh --cleanup   remove the demo domains and their backups
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh"

DEMO_PREFIX=spice-streaming-demo
DEMO_BACKUPS=/var/lib/spice-streaming/demo-backups

demo_domain_xml() {  # name graphics-type extra-devices
  local video=qxl
  [ "$2" = vnc ] && video=vga
  cat <<XML
<domain type='qemu'>
  <name>$1</name>
  <title>spice.streaming demo domain</title>
  <description>Created by spice.streaming scripts/demo.sh; remove with: bash scripts/demo.sh --cleanup</description>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    $3
    <graphics type='$2' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video><model type='$video'/></video>
  </devices>
</domain>
XML
}

virsh_() { virsh -q -c "$LIBVIRT_URI" "$@"; }

define_if_missing() {  # name graphics extra-devices
  if ! virsh_ dominfo "$1" >/dev/null 2>&1; then
    demo_domain_xml "$@" | virsh_ define /dev/stdin >/dev/null
    log "defined demo domain $1"
  fi
}

create_demo_domains() {
  define_if_missing "$DEMO_PREFIX-desk1" spice ""
  define_if_missing "$DEMO_PREFIX-desk2" spice "<controller type='virtio-serial' index='0'/>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>"
  define_if_missing "$DEMO_PREFIX-kiosk-vnc" vnc ""
  # A running desktop: the module updates its definition, never restarts it, and
  # says what waits for its next cold start.  Diskless, it idles in the firmware.
  if [ "$(virsh_ domstate "$DEMO_PREFIX-desk2")" != running ]; then
    virsh_ start "$DEMO_PREFIX-desk2" >/dev/null
    log "started demo domain $DEMO_PREFIX-desk2"
  fi
}

remove_demo_domains() {
  local name
  for name in $(virsh_ list --all --name | grep "^$DEMO_PREFIX-" || true); do
    virsh_ destroy "$name" >/dev/null 2>&1 || true
    virsh_ undefine "$name" >/dev/null
    log "removed demo domain $name"
  done
  as_root rm -rf "$DEMO_BACKUPS"
}

ensure_system_packages
ensure_libvirtd

case "${1:-}" in
  --cleanup) remove_demo_domains; exit 0 ;;
  --check) mode=(--check --diff) ;;
  '') mode=() ;;
  *) die "unknown option $1 (use --check or --cleanup)" ;;
esac

ensure_venv
ensure_collection_path
create_demo_domains

cd "$REPO_ROOT"
log "ansible-playbook -i playbooks/inventory/demo.yml playbooks/enable_streaming.yml ${mode[*]}"
ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-}" ANSIBLE_LOCALHOST_WARNING=False \
  "$VENV/bin/ansible-playbook" -i playbooks/inventory/demo.yml playbooks/enable_streaming.yml "${mode[@]}"
log "run it again and nothing changes; remove the demo domains with: bash scripts/demo.sh --cleanup"
