#!/usr/bin/env bash
# Speed benchmark of spice.streaming.libvirt_domain: sets up what it needs
# (virtinst for virt-xml, libvirtd, the venv with ansible-core, the collection
# path), then runs bench/bench_libvirt_domain.py with the arguments given, e.g.
#   bench/run.sh                       # N=1000, sample 20, best of 3
#   bench/run.sh -n 100 --sample 5     # quick
#   bench/run.sh --json bench/results/$(date +%F).json
#   bench/run.sh info                  # libvirt_domain_info, N=1000 (bench_info.py)
#   bench/run.sh fleet                 # the playbook over 20 hypervisors x 50 (bench_fleet.py)
#   bench/run.sh inventory             # the desktops inventory, 20 hypervisors x 500 (bench_inventory.py)
#   bench/run.sh report                # the fleet report, 20 hypervisors x 500 (bench_report.py)
# See bench/README.md for what each figure means.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/setup.sh
source scripts/lib/setup.sh
ensure_system_packages virtinst
ensure_libvirtd
ensure_venv
ensure_collection_path
# The benchmark itself and the module run under the hypervisor's Python
# (Debian's python3-libvirt and python3-lxml); ansible-playbook comes from the venv.
# `bench/run.sh info [-n N ...]` measures libvirt_domain_info instead (bench_info.py).
if [ "${1:-}" = info ]; then
  shift
  exec /usr/bin/python3 bench/bench_info.py --uri "$LIBVIRT_URI" "$@"
fi
# `bench/run.sh fleet [--hosts H ...]`: enable_streaming.yml over many hypervisor hosts,
# the naive per-domain loop, and restart batches (bench_fleet.py).
if [ "${1:-}" = fleet ]; then
  shift
  exec /usr/bin/python3 bench/bench_fleet.py --uri "$LIBVIRT_URI" "$@"
fi
# `bench/run.sh inventory [--hypervisors H ...]`: the desktops inventory plugin over a
# simulated fleet (bench_inventory.py); the plugin runs on the controller, so under the venv.
if [ "${1:-}" = inventory ]; then
  shift
  exec "$VENV/bin/python" bench/bench_inventory.py --uri "$LIBVIRT_URI" \
    --ansible-inventory "$VENV/bin/ansible-inventory" "$@"
fi
# `bench/run.sh report [--hypervisors H --domains M ...]`: the fleet report's size, its filter,
# templates and tasks, and Chromium opening it (bench_report.py); controller side, so under the venv.
if [ "${1:-}" = report ]; then
  shift
  ensure_system_packages "${REPORT_PACKAGES[@]}"
  exec "$VENV/bin/python" bench/bench_report.py --ansible-playbook "$VENV/bin/ansible-playbook" "$@"
fi
exec /usr/bin/python3 bench/bench_libvirt_domain.py --uri "$LIBVIRT_URI" "$@"
