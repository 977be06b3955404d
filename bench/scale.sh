#!/usr/bin/env bash
# pm at 1,000 / 10,000 / 100,000 sessions, side by side with sqlite3 and plain git:
#
#   bench/scale.sh [SIZES...]        (default: 1000 10000 100000)
#
# For each size, a repository gets that many session records (git fast-import, packed; every
# 100th one active, the rest completed), all of them owned by the repository's own clone, and a
# SQLite table gets the same rows. Timed, warm, output into a pipe: `pm agent list` against
# `sqlite3` selecting the live rows and `git for-each-ref`; `pm agent history` (the table) and
# `pm agent history --json` against `sqlite3` and `sqlite3 -json` selecting every row; the
# overview (`pm` alone); completion of a live session id and of any session id; `pm agent
# close` against one `git update-ref`; one record changed among all of them with plain git, to
# show that the next listing pays for that record only; and `pm sync` with nothing to do against
# `git fetch` of the same refs (after a first sync, which at 100,000 takes minutes).
set -euo pipefail

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
. "$(dirname "$0")/setup.sh"
command -v sqlite3 >/dev/null || {
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq sqlite3 >/dev/null; else
        echo "sqlite3 is needed: sudo apt-get install sqlite3" >&2; exit 1; fi
}

for n in "${sizes[@]}"; do
    echo "== $n sessions"
    repo="$work/repo-$n"
    git init -q -b main "$repo"
    git -C "$repo" commit -q --allow-empty -m init
    base="$(git -C "$repo" rev-parse HEAD)"
    python3 "$(dirname "$0")/sessions.py" "$n" "$base" "$work/rows-$n.sql" | git -C "$repo" fast-import --quiet
    git -C "$repo" pack-refs --all
    git -C "$repo" repack -adq
    # This clone launched every session: the records name it as their owner (see sessions.py).
    mkdir -p "$repo/.git/pm"
    echo 01JZZZZZZZZZZZZZZZZZZZZZZZ > "$repo/.git/pm/clone-id"
    db="$work/sessions-$n.db"
    sqlite3 "$db" < "$work/rows-$n.sql"
    # The first run builds the local cache. Ref files younger than two seconds are not
    # trusted by their time alone (see docs/performance.md), so wait that out first.
    sleep 3
    "$pm" -C "$repo" agent history --json >/dev/null

    live="$(git -C "$repo" for-each-ref --count=1 --format='%(refname:lstrip=3)' refs/pm/sessions)"
    tip="$(git -C "$repo" rev-parse "refs/pm/sessions/$live")"
    printf '#!/bin/sh\ngit -C %s update-ref refs/pm/sessions/%s %s\n' "$repo" "$live" "$tip" > "$work/reset-$n"
    chmod +x "$work/reset-$n"
    other="$(git -C "$repo" commit-tree -m other "$(git -C "$repo" rev-parse "$tip^{tree}")")"
    # Moves the live record to the other of two commits: a real change for the next listing.
    printf '#!/bin/sh
r=refs/pm/sessions/%s
if [ "$(git -C %s rev-parse $r)" = %s ]; then git -C %s update-ref $r %s; else git -C %s update-ref $r %s; fi
' \
        "$live" "$repo" "$tip" "$repo" "$other" "$repo" "$tip" > "$work/flip-$n"
    chmod +x "$work/flip-$n"

    hyperfine -N --output=pipe --warmup 3 --runs 20 --export-markdown "$work/read-$n.md" \
        -n "pm agent list ($n)" "$pm -C $repo agent list" \
        -n "sqlite3 live rows ($n)" "sqlite3 $db \"SELECT id, branch, status, started, updated FROM sessions WHERE status IN ('active','idle')\"" \
        -n "git for-each-ref ($n)" "git -C $repo for-each-ref refs/pm/sessions" \
        -n "pm agent history ($n)" "$pm -C $repo agent history" \
        -n "sqlite3 all rows ($n)" "sqlite3 $db 'SELECT * FROM sessions ORDER BY started DESC'" \
        -n "pm agent history --json ($n)" "$pm -C $repo agent history --json" \
        -n "sqlite3 -json all rows ($n)" "sqlite3 -json $db 'SELECT * FROM sessions ORDER BY started DESC'" \
        -n "pm, the overview ($n)" "$pm -C $repo" >/dev/null
    # Completion runs in the shell's folder (no -C), so these go through a shell.
    hyperfine --output=pipe --warmup 3 --runs 20 --export-markdown "$work/complete-$n.md" \
        -n "complete pm agent close <TAB> ($n)" "cd $repo && COMPLETE=fish $pm -- pm agent close ''" \
        -n "complete pm agent show <TAB> ($n)" "cd $repo && COMPLETE=fish $pm -- pm agent show ''" >/dev/null
    hyperfine -N --warmup 1 --runs 15 --export-markdown "$work/write-$n.md" \
        --prepare "$work/reset-$n" -n "pm agent close ($n)" "$pm -C $repo agent close $live" \
        --prepare "$work/reset-$n" -n "git update-ref ($n)" "git -C $repo update-ref refs/pm/sessions/$live $other" >/dev/null
    # One record changed behind pm's back among all of them: the next listing reads that one.
    "$work/reset-$n"
    sleep 3   # ref files older than the cache's racy window, as in normal use
    "$pm" -C "$repo" agent history --json >/dev/null
    hyperfine -N --output=pipe --warmup 1 --runs 20 --export-markdown "$work/changed-$n.md" \
        --prepare "$work/flip-$n" -n "pm agent list, one record changed ($n)" "$pm -C $repo agent list" \
        --prepare "$work/flip-$n" -n "pm agent history --json, one record changed ($n)" "$pm -C $repo agent history --json" >/dev/null
    cat "$work/read-$n.md" "$work/complete-$n.md" "$work/write-$n.md" "$work/changed-$n.md"

    remote="$work/remote-$n.git"
    git clone -q --bare "$repo" "$remote"
    git -C "$repo" remote add origin "$remote"
    "$pm" -C "$repo" sync >/dev/null
    hyperfine -N --warmup 2 --runs 15 --export-markdown "$work/sync-$n.md" \
        -n "pm sync, no-op ($n)" "$pm -C $repo sync" \
        -n "git fetch, no-op ($n)" "git -C $repo fetch -q origin +refs/pm/*:refs/pm-remote/origin/*" >/dev/null
    cat "$work/sync-$n.md"
done
