#!/usr/bin/env bash
# Benchmark: list 10,000 issue records, against git's own for-each-ref on the same repository.
#
#   bench/issues.sh [COUNT]        (default 10000; needs hyperfine, installed from Debian if missing)
#
# Builds pm in release mode, creates COUNT issues with `pm issue add` in a fresh temporary
# repository, then times `pm issue list --all --json` and `git for-each-ref refs/pm/issues`,
# first with loose refs and objects, then after `git pack-refs --all` and `git repack -ad`.
set -euo pipefail

count="${1:-10000}"
. "$(dirname "$0")/setup.sh"
repo="$work/repo"
git init -q "$repo"
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -q --allow-empty -m init

echo "creating $count issues..."
start=$(date +%s)
for i in $(seq 1 "$count"); do
    prio=(low medium high)
    "$pm" -C "$repo" issue add --title "Benchmark issue number $i" --priority "${prio[$((i % 3))]}" \
        --tag "bench" --tag "group$((i % 10))" >/dev/null
done
echo "created in $(( $(date +%s) - start ))s"

run() {
    hyperfine --warmup 3 --runs 20 --export-markdown "$work/$1.md" \
        -n "pm issue list --all --json ($1)" "$pm -C $repo issue list --all --json" \
        -n "git for-each-ref refs/pm/issues ($1)" "git -C $repo for-each-ref refs/pm/issues"
    cat "$work/$1.md"
}

run loose
git -C "$repo" pack-refs --all
git -C "$repo" repack -adq
run packed
