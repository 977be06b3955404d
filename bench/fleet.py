#!/usr/bin/env python3
"""A fleet of clones sharing records through one bare remote (driven by bench/fleet.sh).

    fleet.py PM WORK CLONES ITERATIONS [SHARED]

In WORK: a bare remote, CLONES clones of it, and SHARED issues (default 3) every clone has.
Each clone then runs, in parallel with all the others, ITERATIONS times:

* tag one of the shared issues (a tag of its own: c<clone>-<iteration>),
* set the status of one of its own issues (only this clone touches them),
* every other iteration, launch a session on a new branch; every third, close the oldest open
  one (idle, --done or --abandon in turn: only this clone touches its sessions),
* `pm --json sync`, timed.

Then two settling rounds: every clone syncs, one after the other, twice. Printed: failed syncs
(with their error lines, counted), lost updates (every tag each clone added, and the last status
each clone set on its issues and sessions, checked in every clone), whether every clone's refs
under refs/pm/ are the remote's, sync time percentiles, rounds per sync, and the most packs a
clone holds. Exits 1 when a sync failed, an update was lost or the tips differ.
"""

import collections
import json
import os
import random
import subprocess
import sys
import threading
import time


def run(args, cwd, check=True):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} in {cwd} failed: {proc.stderr.strip()}")
    return proc


def main():
    pm, work, clones, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    shared_count = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    remote = os.path.join(work, "remote.git")
    run(["git", "init", "-q", "--bare", "-b", "main", remote], work)
    seed = os.path.join(work, "seed")
    run(["git", "init", "-q", "-b", "main", seed], work)
    run(["git", "commit", "-q", "--allow-empty", "-m", "initial"], seed)
    run(["git", "push", "-q", remote, "main"], seed)
    paths = []
    for i in range(clones):
        path = os.path.join(work, f"c{i:02}")
        run(["git", "clone", "-q", f"file://{remote}", path], work)
        paths.append(path)

    def pm_json(i, *args):
        out = run([pm, "--json", *args], paths[i]).stdout
        return json.loads(out)

    shared = [pm_json(0, "issue", "add", "--title", f"Shared {n}")["issue"]["id"] for n in range(shared_count)]
    run([pm, "sync"], paths[0])
    own = {}
    for i in range(clones):
        run([pm, "sync"], paths[i])
        own[i] = [pm_json(i, "issue", "add", "--title", f"Own {i}.{n}")["issue"]["id"] for n in range(2)]

    tags_added = collections.defaultdict(set)  # issue -> tags
    issue_status = {}  # own issue -> last status set
    session_status = {}  # session -> last status set
    syncs = []  # (clone, seconds, ok, rounds, error line)
    lock = threading.Lock()
    go = threading.Event()

    def worker(i):
        rnd = random.Random(i)
        open_sessions = []
        closes = ["idle", "completed", "abandoned"]
        go.wait()
        for k in range(iterations):
            issue = rnd.choice(shared)
            tag = f"c{i}-{k}"
            run([pm, "issue", "update", issue, "--tag", tag], paths[i])
            with lock:
                tags_added[issue].add(tag)
            mine = rnd.choice(own[i])
            status = rnd.choice(["open", "in_progress", "done", "closed"])
            run([pm, "issue", "update", mine, "--status", status], paths[i])
            issue_status[mine] = status
            if k % 2 == 0:
                doc = pm_json(i, "agent", "launch", "--branch", f"fleet/c{i}-{k}")
                open_sessions.append(doc["id"])
                session_status[doc["id"]] = "active"
            if k % 3 == 2 and open_sessions:
                sid = open_sessions.pop(0)
                how = closes[(k // 3) % 3]
                flag = {"idle": [], "completed": ["--done"], "abandoned": ["--abandon"]}[how]
                run([pm, "agent", "close", sid, *flag], paths[i])
                session_status[sid] = how
            started = time.monotonic()
            proc = run([pm, "--json", "sync"], paths[i], check=False)
            took = time.monotonic() - started
            rounds = 0
            try:
                rounds = json.loads(proc.stdout)["rounds"]
            except (ValueError, KeyError):
                pass
            error = proc.stderr.strip().splitlines()[-1] if proc.returncode else ""
            with lock:
                syncs.append((i, took, proc.returncode == 0, rounds, error))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clones)]
    for t in threads:
        t.start()
    started = time.monotonic()
    go.set()
    for t in threads:
        t.join()
    busy = time.monotonic() - started

    settle_failures = 0
    for _ in range(2):
        for i in range(clones):
            if run([pm, "sync"], paths[i], check=False).returncode:
                settle_failures += 1

    remote_refs = run(["git", "for-each-ref", "refs/pm/"], remote).stdout
    differing = [i for i in range(clones) if run(["git", "for-each-ref", "refs/pm/"], paths[i]).stdout != remote_refs]

    lost = []
    for i in range(clones):
        issues = {doc["id"]: doc for doc in pm_json(i, "issue", "list", "--all")["issues"]}
        for issue, tags in tags_added.items():
            missing = tags - set(issues.get(issue, {}).get("tags", []))
            if missing:
                lost.append(f"clone {i}: issue {issue} lacks {len(missing)} tag(s)")
        for issue, status in issue_status.items():
            have = issues.get(issue, {}).get("status")
            if have != status:
                lost.append(f"clone {i}: issue {issue} is {have}, its owner set {status}")
        sessions = {doc["id"]: doc for doc in pm_json(i, "agent", "history")["sessions"]}
        for sid, status in session_status.items():
            have = sessions.get(sid, {}).get("status")
            if have != status:
                lost.append(f"clone {i}: session {sid} is {have}, its owner set {status}")

    times = sorted(t for _, t, _, _, _ in syncs)
    failed = [s for s in syncs if not s[2]]

    def pct(p):
        return times[min(len(times) - 1, int(p / 100 * len(times)))]

    rounds = collections.Counter(r for _, _, ok, r, _ in syncs if ok)
    packs = max(
        sum(1 for n in os.listdir(os.path.join(p, ".git/objects/pack")) if n.endswith(".pack"))
        for p in paths
    )
    refs = remote_refs.count("\n")
    print(f"clones {clones}, iterations {iterations}, shared issues {shared_count}: "
          f"{len(syncs)} syncs in {busy:.1f} s, {refs} refs on the remote")
    print(f"failed syncs: {len(failed)} (settling rounds: {settle_failures})")
    for error, count in collections.Counter(e for *_, e in failed).most_common(5):
        print(f"  {count} x {error}")
    print(f"lost updates: {len(lost)}")
    for line in lost[:5]:
        print(f"  {line}")
    print(f"identical tips: {'yes' if not differing else 'no, clones ' + str(differing)}")
    print(f"sync seconds: p50 {pct(50):.2f}, p90 {pct(90):.2f}, p99 {pct(99):.2f}, max {times[-1]:.2f}")
    mean_rounds = sum(r * n for r, n in rounds.items()) / max(1, sum(rounds.values()))
    print(f"rounds per sync: mean {mean_rounds:.2f}, most {max(rounds) if rounds else 0}, "
          f"spread {dict(sorted(rounds.items()))}")
    print(f"most packs in a clone: {packs}")
    sys.exit(1 if failed or settle_failures or lost or differing else 0)


if __name__ == "__main__":
    main()
