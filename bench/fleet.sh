#!/usr/bin/env bash
# A fleet of clones sharing records through one bare remote, all at once (bench/fleet.py does
# the driving and describes what each clone does):
#
#   bench/fleet.sh [ITERATIONS] [CLONES...]      (default: 20 iterations; 8, 16 and 32 clones)
#
# For each fleet size, prints failed syncs, lost updates, whether every clone ends with the
# remote's refs, sync time percentiles, rounds per sync and the most packs a clone holds.
# Not part of the test run: it takes minutes and loads the machine.
set -euo pipefail

iterations="${1:-20}"
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(8 16 32)
. "$(dirname "$0")/setup.sh"

status=0
for n in "${sizes[@]}"; do
    mkdir "$work/fleet-$n"
    python3 "$root/bench/fleet.py" "$pm" "$work/fleet-$n" "$n" "$iterations" || status=1
    rm -rf "$work/fleet-$n"
    echo
done
exit $status
