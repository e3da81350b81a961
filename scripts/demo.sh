#!/usr/bin/env bash
# The main job on an embedded default: the local libvirt is the hypervisor.
# On a fresh Debian machine it installs what it needs (apt, pip), starts libvirtd
# if none runs, creates three demo domains (named spice-streaming-demo-*: two
# SPICE desktops, one of them running, and a VNC kiosk), then runs
#   ansible-playbook -i playbooks/inventory/demo.yml playbooks/enable_streaming.yml
# and shows what changed.  Run it again: nothing changes.
#
#   bash scripts/demo.sh             create the demo domains if missing, run the playbook
#   bash scripts/demo.sh --check     define, start and change no domain: say which demo
#                                    domains a real run would create, and run the playbook
#                                    in check mode with diffs on those that exist
#   bash scripts/demo.sh --cleanup   remove EVERY domain named spice-streaming-demo-* on
#                                    this libvirt (stopping it if it runs), and the backups
#   bash scripts/demo.sh --help      this text
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --cleanup|--check|'') action="${1:-run}" ;;
  *) printf 'error: unknown option %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
esac

source "$(dirname "$0")/lib/setup.sh"

DEMO_PREFIX=spice-streaming-demo
DEMO_BACKUPS=/var/lib/spice-streaming/demo-backups
# The demo domains: what each is made of and what it shows.
DEMO_NAMES=(desk1 desk2 kiosk-vnc)
declare -A DEMO_GRAPHICS=([desk1]=spice [desk2]=spice [kiosk-vnc]=vnc)
declare -A DEMO_DEVICES=([desk1]='' [kiosk-vnc]='' [desk2]="<controller type='virtio-serial' index='0'/>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>")
declare -A DEMO_PURPOSE=(
  [desk1]='a SPICE desktop that gets the stream channel and the streaming mode'
  [desk2]='a SPICE desktop with a vdagent channel, which a real run also starts: its definition changes, it keeps running, and the result says what waits for its next cold start'
  [kiosk-vnc]='a VNC-only kiosk, which the playbook skips and says why'
)
# A running desktop: the module updates its definition, never restarts it, and
# says what waits for its next cold start.  Diskless, it idles in the firmware.
DEMO_RUNNING=desk2

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

demo_domain_exists() { virsh_ dominfo "$DEMO_PREFIX-$1" >/dev/null 2>&1; }

create_demo_domains() {
  local short name
  for short in "${DEMO_NAMES[@]}"; do
    name="$DEMO_PREFIX-$short"
    if ! demo_domain_exists "$short"; then
      demo_domain_xml "$name" "${DEMO_GRAPHICS[$short]}" "${DEMO_DEVICES[$short]}" \
        | virsh_ define /dev/stdin >/dev/null
      log "defined demo domain $name: ${DEMO_PURPOSE[$short]}"
    fi
  done
  if [ "$(virsh_ domstate "$DEMO_PREFIX-$DEMO_RUNNING")" != running ]; then
    virsh_ start "$DEMO_PREFIX-$DEMO_RUNNING" >/dev/null
    log "started demo domain $DEMO_PREFIX-$DEMO_RUNNING"
  fi
}

# Check mode defines and starts nothing: it says what a real run would create
# and checks only the demo domains that exist.  Prints how many exist.
describe_missing_demo_domains() {
  local short existing=0
  for short in "${DEMO_NAMES[@]}"; do
    if demo_domain_exists "$short"; then
      existing=$((existing + 1))
      if [ "$short" = "$DEMO_RUNNING" ] && [ "$(virsh_ domstate "$DEMO_PREFIX-$short")" != running ]; then
        log "check mode: $DEMO_PREFIX-$short is not running; a real run would start it (check mode does not)"
      fi
    else
      log "check mode: $DEMO_PREFIX-$short does not exist; a real run would define it (check mode does not): ${DEMO_PURPOSE[$short]}"
    fi
  done
  echo "$existing"
}

remove_demo_domains() {
  local name
  for name in $(virsh_ list --all --name | grep "^$DEMO_PREFIX-" || true); do
    virsh_ destroy "$name" >/dev/null 2>&1 || true
    virsh_ undefine "$name" >/dev/null
    log "removed demo domain $name"
  done
  as_root rm -rf "$DEMO_BACKUPS" "$DEMO_REPORT_DIR"
}

run_playbook() {
  cd "$REPO_ROOT"
  log "ansible-playbook -i playbooks/inventory/demo.yml playbooks/enable_streaming.yml $*"
  ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-}" ANSIBLE_LOCALHOST_WARNING=False \
    "$VENV/bin/ansible-playbook" -i playbooks/inventory/demo.yml playbooks/enable_streaming.yml "$@"
}

# The fleet report of the demo hypervisor; it only reads libvirt, so check mode runs it too.
DEMO_REPORT_DIR="$REPO_ROOT/streaming-report"

run_report() {
  cd "$REPO_ROOT"
  log "ansible-playbook -i playbooks/inventory/demo.yml playbooks/streaming_report.yml"
  ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-}" ANSIBLE_LOCALHOST_WARNING=False \
    "$VENV/bin/ansible-playbook" -i playbooks/inventory/demo.yml playbooks/streaming_report.yml \
    -e "streaming_report_dir=$DEMO_REPORT_DIR" >/dev/null
  log "the demo hypervisor's report: $DEMO_REPORT_DIR/index.html (and report.md)"
}

ensure_system_packages
ensure_libvirtd

case "$action" in
  --cleanup)
    remove_demo_domains
    exit 0 ;;
  --check)
    if [ "$(describe_missing_demo_domains)" -eq 0 ]; then
      log "check mode: no demo domain exists yet, so there is nothing to check and nothing was changed;"
      log "run 'bash scripts/demo.sh' to create them and enable streaming, then '--check' again shows no change left"
      exit 0
    fi
    ensure_venv
    ensure_collection_path
    run_playbook --check --diff
    run_report
    log "check mode: nothing was changed; a real run ('bash scripts/demo.sh') makes the changes shown above, if any" ;;
  run)
    ensure_venv
    ensure_collection_path
    create_demo_domains
    run_playbook
    run_report
    log "run it again and nothing changes ('bash scripts/demo.sh --check' shows it);"
    log "remove the demo domains with 'bash scripts/demo.sh --cleanup' (it removes every domain named $DEMO_PREFIX-*)" ;;
esac
