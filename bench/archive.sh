#!/usr/bin/env bash
# The push tax, and what archive refs do to it (needs hyperfine, installed from Debian if
# missing):
#
#   bench/archive.sh [SESSIONS]      (default 100000)
#
# A bare remote holds SESSIONS session records created over time (one every ten minutes, so
# 100,000 take two years; written with git fast-import, refs and objects packed; the newest 50
# active, the others completed half an hour after they started), a second bare remote holds no
# record, and both have the same `main`. A clone fetches every record with `pm sync`. Timed,
# before and after `pm archive --older-than 1` (what `archive_after_days = 1` does at every
# sync: the records finished in the last day stay live) and the `pm sync` that shares it:
# 1. a plain `git push` of a new branch (one commit) to the remote with records, against the
#    same push to the remote without;
# 2. `pm sync` pushing one changed record;
# 3. `pm agent history --json` and completion of `pm agent show <TAB>`, which read every
#    session (archived ones through the archive).
# The setup steps (first sync, archive, the sync that removes the records' refs from the
# remote) are timed once each.
set -euo pipefail

count="${1:-100000}"
. "$(dirname "$0")/setup.sh"

seed="$work/seed"
git init -q -b main "$seed"
git -C "$seed" commit -q --allow-empty -m init
base="$(git -C "$seed" rev-parse HEAD)"
records="$work/records.git"
empty="$work/empty.git"
git init -q --bare -b main "$records"
git init -q --bare -b main "$empty"
git -C "$seed" push -q "$records" main
git -C "$seed" push -q "$empty" main

python3 - "$count" "$base" <<'PY' | git -C "$records" fast-import --quiet
import random, sys, time
n, base = int(sys.argv[1]), sys.argv[2]
alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
def ulid(ms):
    value = (ms << 80) | random.getrandbits(80)
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(26)))
def utc(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
start = int(time.time()) - n * 600
for i in range(n):
    ts = start + i * 600
    sid = ulid(ts * 1000)
    live = i >= n - 50
    status = "active" if live else "completed"
    ended = "" if live else f'ended = "{utc(ts + 1800)}"\n'
    toml = (f'schema = 1\nid = "{sid}"\nbranch = "feature/bench-{i}"\nbase = "{base}"\n'
            f'base_ref = "main"\nstatus = "{status}"\nagent = "claude"\nrole = ""\nprompt = ""\n'
            f'actor = "bench <bench@example.com>"\nowner = "01JZZZZZZZZZZZZZZZZZZZZZZZ"\n'
            f'started = "{utc(ts)}"\nupdated = "{utc(ts + 1800)}"\n{ended}epoch = 0\ncommits = 3\n')
    data = toml.encode()
    sys.stdout.write(f"commit refs/pm/sessions/{sid}\ncommitter bench <bench@example.com> {ts} +0000\n")
    sys.stdout.write(f"data 7\nlaunch\nM 100644 inline session.toml\ndata {len(data)}\n{toml}\n")
PY
git -C "$records" pack-refs --all
git -C "$records" repack -adq

clone="$work/clone"
# Not a local clone: that would copy the remote's bitmap, which makes git walk every commit the
# bitmap does not cover at each push (a clone over the network has none).
git clone -q --no-local "$records" "$clone"
git -C "$clone" remote add empty "$empty"
git -C "$clone" checkout -q -b topic
git -C "$clone" commit -q --allow-empty -m "a change on a branch"
once() {
    local what="$1"
    shift
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    echo "$what: $(( (end - start) / 1000000 )) ms"
}
once "first pm sync ($count new records)" "$pm" -C "$clone" sync
issue="$("$pm" -C "$clone" --json issue add --title "Changed in the benchmark" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issue"]["id"])')"
"$pm" -C "$clone" sync >/dev/null

cat > "$work/unpush" <<SH
#!/bin/sh
git -C "$clone" push -q origin :refs/heads/topic 2>/dev/null || true
git -C "$clone" push -q empty :refs/heads/topic 2>/dev/null || true
SH
cat > "$work/change" <<SH
#!/bin/sh
"$pm" -C "$clone" issue update $issue --title "changed \$(date +%s%N)" >/dev/null
SH
chmod +x "$work/unpush" "$work/change"

measure() {
    local label="$1"
    hyperfine -N --warmup 3 --runs 30 --export-markdown "$work/push-$label.md" --prepare "$work/unpush" \
        -n "git push of a branch, remote with records ($label)" "git -C $clone push -q origin topic" \
        -n "git push of a branch, remote without records" "git -C $clone push -q empty topic"
    hyperfine --warmup 1 --runs 15 --export-markdown "$work/sync-$label.md" --prepare "$work/change" \
        -n "pm sync of one change ($label)" "$pm -C $clone sync"
    hyperfine --warmup 1 --runs 10 --output=pipe --export-markdown "$work/read-$label.md" \
        -n "pm agent history --json ($label)" "$pm -C $clone --json agent history" \
        -n "complete pm agent show <TAB> ($label)" \
        "cd $clone && COMPLETE=fish $pm -- pm agent show ''"
}

echo "refs on the remote before: $(git -C "$records" for-each-ref refs/pm/ | wc -l)"
measure "$count live"
once "pm archive --older-than 1" "$pm" -C "$clone" archive --older-than 1
once "pm sync sharing the archive" "$pm" -C "$clone" sync
git -C "$records" pack-refs --all
echo "refs on the remote after: $(git -C "$records" for-each-ref refs/pm/ | wc -l)"
measure "archived"
git -C "$clone" fsck --no-dangling --no-progress
git -C "$records" fsck --no-dangling --no-progress

cat "$work"/push-*.md "$work"/sync-*.md "$work"/read-*.md
