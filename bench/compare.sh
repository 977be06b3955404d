#!/usr/bin/env bash
# Two pm binaries side by side on the same repository, each command timed for both in one
# hyperfine run, so a change can be checked for being slower anywhere:
#
#   bench/compare.sh OLD_PM [SIZE]       (SIZE default: 10000)
#
# OLD_PM is a pm built from an earlier commit, e.g.
#   git worktree add /tmp/old <commit> && cargo build --release --manifest-path /tmp/old/Cargo.toml
#   bench/compare.sh /tmp/old/target/release/pm 10000
# The repository is made as bench/scale.sh makes it (every 100th session active). Each pm
# command runs on its own copy of the repository (the local cache is per clone), warm.
set -euo pipefail

old="${1:?usage: bench/compare.sh OLD_PM [SIZE]}"
n="${2:-10000}"
old="$(cd "$(dirname "$old")" && pwd)/$(basename "$old")"
. "$(dirname "$0")/setup.sh"
new="$pm"

repo="$work/repo"
git init -q -b main "$repo"
git -C "$repo" commit -q --allow-empty -m init
base="$(git -C "$repo" rev-parse HEAD)"
python3 "$(dirname "$0")/sessions.py" "$n" "$base" "$work/rows.sql" | git -C "$repo" fast-import --quiet
git -C "$repo" pack-refs --all
git -C "$repo" repack -adq
mkdir -p "$repo/.git/pm"
echo 01JZZZZZZZZZZZZZZZZZZZZZZZ > "$repo/.git/pm/clone-id"
# One copy per binary: each keeps its own cache, as two installs would.
cp -a "$repo" "$work/old" && cp -a "$repo" "$work/new"
sleep 3
for who in old new; do
    "${!who}" -C "$work/$who" agent history --json >/dev/null
done
live="$(git -C "$repo" for-each-ref --count=1 --format='%(refname:lstrip=3)' refs/pm/sessions)"
tip="$(git -C "$repo" rev-parse "refs/pm/sessions/$live")"
other="$(git -C "$work/new" commit-tree -m other "$(git -C "$work/new" rev-parse "$tip^{tree}")")"
for who in old new; do
    printf '#!/bin/sh\ngit -C %s update-ref refs/pm/sessions/%s %s\n' "$work/$who" "$live" "$tip" > "$work/reset-$who"
    chmod +x "$work/reset-$who"
done

pair() { # name, arguments (run in the copy of each binary)
    local name="$1"; shift
    hyperfine -N --output=pipe --warmup 3 --runs 20 --export-markdown "$work/pair.md" \
        -n "old: $name" "$old -C $work/old $*" \
        -n "new: $name" "$new -C $work/new $*" >/dev/null
    tail -n 2 "$work/pair.md"
}
echo "| Command | Mean [ms] | Min [ms] | Max [ms] | Relative |"
echo "|:---|---:|---:|---:|---:|"
pair "pm agent list ($n)" agent list
pair "pm agent history ($n)" agent history
pair "pm agent history --json ($n)" agent history --json
pair "pm agent show ($n)" agent show "$live"
pair "pm issue list ($n)" issue list
pair "pm, the overview ($n)" ""
for what in close show; do
    hyperfine --output=pipe --warmup 3 --runs 20 --export-markdown "$work/pair.md" \
        -n "old: complete pm agent $what <TAB> ($n)" "cd $work/old && COMPLETE=fish $old -- pm agent $what ''" \
        -n "new: complete pm agent $what <TAB> ($n)" "cd $work/new && COMPLETE=fish $new -- pm agent $what ''" >/dev/null
    tail -n 2 "$work/pair.md"
done
hyperfine -N --warmup 1 --runs 15 --export-markdown "$work/pair.md" \
    --prepare "$work/reset-old" -n "old: pm agent close ($n)" "$old -C $work/old agent close $live" \
    --prepare "$work/reset-new" -n "new: pm agent close ($n)" "$new -C $work/new agent close $live" \
    --prepare "$work/reset-new" -n "git update-ref ($n)" "git -C $work/new update-ref refs/pm/sessions/$live $other" >/dev/null
tail -n 3 "$work/pair.md"
