#!/usr/bin/env bash
# SIGKILL pm at random moments of launch, update, close and sync, then check what it left:
#
#   bench/crash.sh [KILLS] [--seed N]      (default 300 kills)
#
# Not part of the test suite: it takes a few minutes. Results go into docs/reliability.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --locked --manifest-path "$root/Cargo.toml" >/dev/null
PM="$root/target/release/pm" exec python3 "$root/bench/crash.py" "$@"
