#!/usr/bin/env bash
# Benchmarks for agent sessions (needs hyperfine, installed from Debian if missing):
#
#   bench/agent.sh [FILES] [SESSIONS]     (defaults 10000 and 10000)
#
# 1. `pm agent launch` against `git worktree add -b` in a repository of FILES files, each run
#    starting from a clean slate (hyperfine --prepare removes the previous run's worktree).
# 2. `pm agent list` and `pm agent history --limit 20` with SESSIONS session records (written
#    with git fast-import: every 100th one active, the rest completed), packed.
set -euo pipefail

files="${1:-10000}"
sessions="${2:-10000}"
. "$(dirname "$0")/setup.sh"

echo "== launch in a repository of $files files"
repo="$work/big"
git init -q "$repo"
python3 - "$repo" "$files" <<'PY'
import os, sys
repo, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(repo, "src", f"m{i % 100:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.txt"), "w") as f:
        f.write(f"file {i}\n" * 20)
PY
git -C "$repo" add -A && git -C "$repo" commit -qm "$files files"

# Each run starts from a clean slate: the previous run's worktree, branch and session removed.
cat > "$work/reset-pm" <<SH
#!/bin/sh
for id in \$("$pm" -C "$repo" agent list --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)["sessions"]))'); do
    "$pm" -C "$repo" agent purge --force --delete-files "\$id" >/dev/null
done
SH
cat > "$work/reset-git" <<SH
#!/bin/sh
git -C "$repo" worktree remove --force "$work/big.worktrees/git" 2>/dev/null
git -C "$repo" branch -qD bench/git 2>/dev/null
true
SH
chmod +x "$work/reset-pm" "$work/reset-git"
hyperfine --warmup 1 --runs 10 --export-markdown "$work/launch.md" \
    --prepare "$work/reset-pm" -n "pm agent launch" "$pm -C $repo agent launch --branch bench/pm" \
    --prepare "$work/reset-git" -n "git worktree add -b" "git -C $repo worktree add -q -b bench/git $work/big.worktrees/git"
cat "$work/launch.md"

echo "== list with $sessions session records"
repo="$work/many"
git init -q "$repo"
git -C "$repo" commit -q --allow-empty -m init
base="$(git -C "$repo" rev-parse HEAD)"
python3 "$(dirname "$0")/sessions.py" "$sessions" "$base" | git -C "$repo" fast-import --quiet
git -C "$repo" pack-refs --all
git -C "$repo" repack -adq

hyperfine --warmup 3 --runs 20 --export-markdown "$work/list.md" \
    -n "pm agent list" "$pm -C $repo agent list" \
    -n "pm agent list --all --json" "$pm -C $repo agent list --all --json" \
    -n "pm agent history --limit 20" "$pm -C $repo agent history --limit 20" \
    -n "git for-each-ref refs/pm/sessions" "git -C $repo for-each-ref refs/pm/sessions"
cat "$work/list.md"

echo "== completion of session ids with $sessions session records"
hyperfine --warmup 3 --runs 20 --export-markdown "$work/complete.md" \
    -n "complete: pm agent close <TAB>" "cd $repo && COMPLETE=fish $pm -- pm agent close ''" \
    -n "complete: pm agent show 01<TAB>" "cd $repo && COMPLETE=fish $pm -- pm agent show 01"
cat "$work/complete.md"
