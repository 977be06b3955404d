#!/usr/bin/env bash
# Launch time with a provisioned worktree (needs hyperfine, installed from Debian if missing):
#
#   bench/provision.sh [FILES]     (default 10000)
#
# A repository whose main worktree has an ignored node_modules of FILES files (100 packages,
# each with a bin link) and a .pm.toml that copies it into every new worktree. In one hyperfine
# run, each from a clean slate (the previous run's worktree, branch and session removed):
#
#   1. `pm agent launch` copying node_modules (clones where the file system can);
#   2. `pm agent launch` in the same repository without the copy (`copy = []`);
#   3. `git worktree add -b` followed by `cp -r node_modules`, the same result by hand;
#   4. `cp -r node_modules` alone, into an empty folder.
#
# Whether files are cloned depends on the file system of the scratch folder: put it on btrfs or
# XFS (made with reflink=1) with TMPDIR to see clones, e.g.
#
#   truncate -s 2G /tmp/xfs.img && mkfs.xfs -m reflink=1 /tmp/xfs.img
#   mount -o loop /tmp/xfs.img /mnt/xfs && TMPDIR=/mnt/xfs bench/provision.sh
#
# coreutils 9 `cp` clones too where it can (--reflink=auto is its default), so rows 3 and 4
# compare like with like. PM_BIN=path uses that pm instead of a release build.
set -euo pipefail

files="${1:-10000}"
. "$(dirname "$0")/setup.sh"

echo "== scratch folder $work on $(df --output=fstype "$work" | tail -1)"
make_repo() {
    local repo="$1" copy="$2"
    git init -q -b main "$repo"
    printf 'node_modules/\n' > "$repo/.gitignore"
    printf '[worktree]\ncopy = [%s]\n' "$copy" > "$repo/.pm.toml"
    echo "# bench" > "$repo/README.md"
    git -C "$repo" add -A && git -C "$repo" commit -qm "a small repository"
    python3 - "$repo/node_modules" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
packages = 100
for i in range(n):
    pkg = os.path.join(root, f"pkg{i % packages:03d}")
    os.makedirs(os.path.join(pkg, "lib"), exist_ok=True)
    with open(os.path.join(pkg, "lib", f"m{i}.js"), "w") as f:
        f.write(f"module.exports = {i};\n" * (20 + i % 200))
os.makedirs(os.path.join(root, ".bin"), exist_ok=True)
for p in range(packages):
    os.symlink(f"../pkg{p:03d}/lib/m{p}.js", os.path.join(root, ".bin", f"tool{p}"))
PY
}
make_repo "$work/app" '"node_modules"'
make_repo "$work/plain" ''
echo "node_modules: $(find "$work/app/node_modules" -type f | wc -l) files, $(du -sh "$work/app/node_modules" | cut -f1)"

for repo in app plain; do
    cat > "$work/reset-$repo" <<SH
#!/bin/sh
for id in \$("$pm" -C "$work/$repo" agent list --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)["sessions"]))'); do
    "$pm" -C "$work/$repo" agent purge --force --delete-files --no-hooks "\$id" >/dev/null
done
SH
done
cat > "$work/reset-git" <<SH
#!/bin/sh
git -C "$work/app" worktree remove --force "$work/app.worktrees/git" 2>/dev/null
git -C "$work/app" branch -qD bench/git 2>/dev/null
rm -rf "$work/copy"
true
SH
chmod +x "$work"/reset-*

hyperfine --warmup 1 --runs "${RUNS:-10}" --export-markdown "$work/provision.md" \
    --prepare "$work/reset-app" -n "pm agent launch, copying node_modules" \
    "$pm -C $work/app agent launch --branch bench/pm" \
    --prepare "$work/reset-plain" -n "pm agent launch, nothing to copy" \
    "$pm -C $work/plain agent launch --branch bench/pm" \
    --prepare "$work/reset-git" -n "git worktree add -b, then cp -r node_modules" \
    "git -C $work/app worktree add -q -b bench/git $work/app.worktrees/git && cp -r $work/app/node_modules $work/app.worktrees/git/" \
    --prepare "$work/reset-git" -n "cp -r node_modules" \
    "cp -r $work/app/node_modules $work/copy"
cat "$work/provision.md"

# What the last launch reported: how many files were clones.
"$pm" -C "$work/app" agent logs bench/pm --json |
    python3 -c 'import json,sys; print("pm:", [e["detail"] for e in json.load(sys.stdin)["events"] if e["kind"] == "hook_ended"][-1])'
