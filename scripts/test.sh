#!/usr/bin/env bash
# The whole test suite: on a fresh Debian machine it installs what it needs
# (apt, pip), starts libvirtd if none runs, then runs with pytest, in order:
#   tests/unit         pure functions, libvirt's in-process test:/// driver
#   tests/integration  real libvirtd and real QEMU
#   tests/quality      ansible-doc, ansible-lint (production), ansible-test sanity,
#                      antsibull-changelog lint, galaxy build + install
# Arguments go to pytest, e.g. scripts/test.sh tests/unit -k duplicate
#
#   bash scripts/test.sh --fresh [pytest args]
# runs the suite as a fresh machine would, as far as one machine can: a new clone of
# this checkout's HEAD (committed work only), an empty HOME (no ~/.ansible, no pip
# cache or pip configuration of the user), a new guest image cache and a new venv, all
# under one new directory (SPICE_STREAMING_FRESH_ROOT, default under /var/tmp) that is
# removed at the end (kept with SPICE_STREAMING_FRESH_KEEP=1). Debian packages and a
# running libvirtd stay as they are: only a new machine tests their installation.
# It prints the wall time at the end.
set -euo pipefail

if [ "${1:-}" = "--fresh" ]; then
  shift
  source_repo="$(cd "$(dirname "$0")/.." && pwd)"
  fresh="$(mktemp -d "${SPICE_STREAMING_FRESH_ROOT:-/var/tmp}/spice-streaming-fresh.XXXXXX")"
  chmod 0755 "$fresh"
  mkdir -p "$fresh/home" "$fresh/image-cache"
  git clone -q "$source_repo" "$fresh/clone"
  printf '==> fresh run of %s (%s) in %s\n' "$(git -C "$fresh/clone" rev-parse --short HEAD)" \
    "$source_repo" "$fresh" >&2
  started=$(date +%s)
  set +e
  (cd "$fresh/clone" && env -u SPICE_STREAMING_VENV -u SPICE_STREAMING_COLLECTIONS -u PIP_CONFIG_FILE \
     -u XDG_CACHE_HOME -u XDG_CONFIG_HOME -u XDG_DATA_HOME HOME="$fresh/home" \
     SPICE_STREAMING_IMAGE_CACHE="$fresh/image-cache" \
     bash scripts/test.sh "$@" </dev/null)
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - started ))
  printf '==> fresh run: exit %d after %d min %02d s (wall clock, set-up included)\n' \
    "$rc" $((elapsed / 60)) $((elapsed % 60)) >&2
  if [ "${SPICE_STREAMING_FRESH_KEEP:-0}" = 1 ]; then
    printf '==> kept %s\n' "$fresh" >&2
  else
    rm -rf "$fresh"
  fi
  exit "$rc"
fi

source "$(dirname "$0")/lib/setup.sh"

# Everything the tests need from Debian in one apt run (scripts/lib/setup.sh says why).
without_service_starts ensure_system_packages "${REPORT_PACKAGES[@]}" "${SPICE_CLIENT_PACKAGES[@]}" "${GUEST_TOOL_PACKAGES[@]}" \
  "${SSH_PACKAGES[@]}"
ensure_libvirtd
ensure_venv
ensure_collection_path

cd "$REPO_ROOT"
mkdir -p tests/output
set +e
"$VENV/bin/python" -m pytest --junitxml=tests/output/junit.xml "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no test; a run that tests nothing must not pass" >&2
  exit 1
fi
exit "$rc"
