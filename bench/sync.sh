#!/usr/bin/env bash
# Benchmarks for `pm sync` (needs hyperfine, installed from Debian if missing):
#
#   bench/sync.sh [RECORDS]      (default 10000)
#
# A bare remote holds RECORDS issue records (written with git fast-import, packed); clones A and
# B have synced them. Timed, each against plain git moving the same refs on the same remote:
# 1. the first sync of a fresh clone (every record new) against `git fetch` of refs/pm/*;
# 2. a no-op sync against a no-op `git fetch`;
# 3. a sync that brings one record another clone changed, against `git fetch` of that change;
# 4. a sync that pushes one local change, against `git push` of that ref.
set -euo pipefail

count="${1:-10000}"
. "$(dirname "$0")/setup.sh"
refspec='+refs/pm/*:refs/pm-remote/origin/*'

remote="$work/origin.git"
git init -q --bare "$remote"
seed="$work/seed"
git init -q "$seed"
git -C "$seed" commit -q --allow-empty -m init
git -C "$seed" push -q "$remote" HEAD:refs/heads/main
python3 - "$count" <<'PY' | git -C "$remote" fast-import --quiet
import random, sys, time
n = int(sys.argv[1])
alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
def ulid(ms):
    value = (ms << 80) | random.getrandbits(80)
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(26)))
start = int(time.time()) - n * 60
for i in range(n):
    ts = start + i * 60
    iid = ulid(ts * 1000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    toml = (f'schema = 1\nid = "{iid}"\ntitle = "Benchmark issue number {i}"\ndescription = ""\n'
            f'body = ""\nstatus = "open"\npriority = "medium"\ntype = "feature"\ntags = ["bench"]\n'
            f'created = "{stamp}"\nupdated = "{stamp}"\n')
    data = toml.encode()
    sys.stdout.write(f"commit refs/pm/issues/{iid}\ncommitter bench <bench@example.com> {ts} +0000\n")
    sys.stdout.write(f"data 7\ncreate\nM 100644 inline issue.toml\ndata {len(data)}\n{toml}\n")
PY
git -C "$remote" pack-refs --all
git -C "$remote" repack -adq

git clone -q "$remote" "$work/a"
git clone -q "$remote" "$work/b"
"$pm" -C "$work/b" sync >/dev/null
id="$(git -C "$work/b" for-each-ref --count=1 --format='%(refname:lstrip=3)' refs/pm/issues)"

# 1. First sync: every run starts from a clone without any record refs.
cat > "$work/forget" <<SH
#!/bin/sh
git -C "$work/a" for-each-ref --format='delete %(refname)' refs/pm refs/pm-remote | git -C "$work/a" update-ref --stdin
SH
chmod +x "$work/forget"
hyperfine --warmup 0 --runs 3 --export-markdown "$work/first.md" --prepare "$work/forget" \
    -n "pm sync (first, $count new records)" "$pm -C $work/a sync" \
    -n "git fetch refs/pm/* (first)" "git -C $work/a fetch -q origin '$refspec'"
"$pm" -C "$work/a" sync >/dev/null

# 2. Nothing to do.
hyperfine --warmup 3 --runs 20 --export-markdown "$work/noop.md" \
    -n "pm sync (no-op)" "$pm -C $work/a sync" \
    -n "git fetch refs/pm/* (no-op)" "git -C $work/a fetch -q origin '$refspec'"

# 3. Clone B changed one record and pushed it; clone A brings it in.
cat > "$work/change-remote" <<SH
#!/bin/sh
"$pm" -C "$work/b" issue update $id --title "changed \$(date +%s%N)" >/dev/null
"$pm" -C "$work/b" sync >/dev/null
SH
chmod +x "$work/change-remote"
hyperfine --warmup 1 --runs 10 --export-markdown "$work/one-in.md" --prepare "$work/change-remote" \
    -n "pm sync (one record changed remotely)" "$pm -C $work/a sync" \
    -n "git fetch refs/pm/* (one ref changed)" "git -C $work/a fetch -q origin '$refspec'"
"$pm" -C "$work/a" sync >/dev/null

# 4. Clone A changed one record; the sync pushes it.
cat > "$work/change-local" <<SH
#!/bin/sh
"$pm" -C "$work/a" issue update $id --title "local \$(date +%s%N)" >/dev/null
SH
chmod +x "$work/change-local"
hyperfine --warmup 1 --runs 10 --export-markdown "$work/one-out.md" --prepare "$work/change-local" \
    -n "pm sync (one local change pushed)" "$pm -C $work/a sync" \
    -n "git push of one ref" "git -C $work/a push -q origin refs/pm/issues/$id"

cat "$work/first.md" "$work/noop.md" "$work/one-in.md" "$work/one-out.md"
