#!/usr/bin/env bash
# The whole test suite: on a fresh Debian machine it installs what it needs
# (apt, pip), starts libvirtd if none runs, then runs with pytest, in order:
#   tests/unit         pure functions, libvirt's in-process test:/// driver
#   tests/integration  real libvirtd and real QEMU
#   tests/quality      ansible-doc, ansible-lint (production), ansible-test sanity,
#                      antsibull-changelog lint, galaxy build + install
# Arguments go to pytest, e.g. scripts/test.sh tests/unit -k duplicate
set -euo pipefail
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
