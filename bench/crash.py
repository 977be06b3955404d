#!/usr/bin/env python3
"""SIGKILL pm at random moments of its writes, then check that nothing was lost or left broken.

    bench/crash.sh [KILLS]            (default 300; builds a release pm first)
    PM=path/to/pm bench/crash.py [KILLS] [--seed N]

Two clones of one bare remote. Each round starts one pm command in one clone (launch, issue
update, close, sync), kills it with SIGKILL after a random delay drawn from that command's own
duration, and counts the kill as landed when the process was still running. After every kill:

* the next command is not blocked: `pm agent list` succeeds, and a killed launch's branch can be
  launched again (or already has its live session);
* `git worktree list` works.

Every 25 rounds and at the end: `git fsck --strict` is clean in both clones and the remote,
every record is readable (`pm issue list --all --json`, `pm agent history --json` report no
broken record), and after one `pm agent list` every issue is in the status its sessions imply.
The counts go to stdout as a Markdown table (docs/reliability.md has the last run).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PM = os.environ.get("PM", os.path.join(ROOT, "target", "release", "pm"))
ENV = dict(
    os.environ,
    GIT_AUTHOR_NAME="crash",
    GIT_AUTHOR_EMAIL="crash@example.com",
    GIT_COMMITTER_NAME="crash",
    GIT_COMMITTER_EMAIL="crash@example.com",
    GIT_CONFIG_NOSYSTEM="1",
    NO_COLOR="1",
)


def run(args, cwd, check=True):
    proc = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(args)} in {cwd}\n{proc.stdout}{proc.stderr}")
    return proc


def git(cwd, *args, check=True):
    return run(["git", *args], cwd, check)


def pm(cwd, *args, check=True):
    return run([PM, *args], cwd, check)


def pm_json(cwd, *args):
    return json.loads(pm(cwd, "--json", *args).stdout)


class Problems:
    def __init__(self):
        self.items = []

    def add(self, round_no, what):
        self.items.append((round_no, what))
        print(f"  round {round_no}: {what}", file=sys.stderr)


def named_lock(stderr):
    """The lock file a one-line 'is locked: <path> exists' error names, if it still exists."""
    marker = "is locked: "
    if marker not in stderr:
        return None
    path = stderr.split(marker, 1)[1].split(" exists", 1)[0].strip()
    return path if os.path.isfile(path) and path.endswith(".lock") else None


def implied_status(sessions):
    """The issue status its sessions imply, and since when, replaying them in time order as the
    README's table says: a session going to work -> in_progress; completed -> done; abandoned
    -> open, but only when no other live session remains and the issue is in progress."""
    steps = []
    for n, s in enumerate(sessions):
        steps.append((s["updated"] if s["status"] == "active" else s["started"], 0, n))
        end = s.get("ended") or s["updated"]
        if s["status"] == "completed":
            steps.append((end, 1, n))
        elif s["status"] == "abandoned":
            steps.append((end, 2, n))
    steps.sort()
    live, implied, at = 0, None, None
    for when, step, _ in steps:
        if step == 0:
            live, implied, at = live + 1, "in_progress", when
        elif step == 1:
            live, implied, at = max(0, live - 1), "done", when
        else:
            live = max(0, live - 1)
            if live == 0 and (implied or "in_progress") == "in_progress":
                implied, at = "open", when
    return implied, at


def check_all(clones, remote, round_no, problems):
    for path in [*clones, remote]:
        fsck = git(path, "fsck", "--strict", "--no-progress", "--no-dangling", check=False)
        noise = (fsck.stdout + fsck.stderr).strip()
        if fsck.returncode != 0 or noise:
            problems.add(round_no, f"git fsck in {os.path.basename(path)}: {noise}")
    for clone in clones:
        name = os.path.basename(clone)
        listed = pm(clone, "agent", "list", check=False)
        if listed.returncode != 0:
            problems.add(round_no, f"pm agent list failed in {name}: {listed.stderr.strip()}")
            continue
        docs = {}
        for args in (("issue", "list", "--all"), ("agent", "history")):
            out = pm(clone, "--json", *args, check=False)
            doc = json.loads(out.stdout) if out.returncode == 0 else {}
            if out.returncode != 0 or doc.get("errors"):
                problems.add(
                    round_no,
                    f"pm {' '.join(args)} in {name}: {out.stderr.strip()} {doc.get('errors')}",
                )
            docs[args] = doc
        issues = docs[("issue", "list", "--all")].get("issues", [])
        sessions = docs[("agent", "history")].get("sessions", [])
        for issue in issues:
            mine = [s for s in sessions if s.get("issue") == issue["id"]]
            want, at = implied_status(mine)
            since = issue.get("status_changed") or issue["updated"]
            # A status set after (or in the same second as) the session change stands.
            if want is not None and issue["status"] != want and since < at:
                problems.add(
                    round_no,
                    f"issue {issue['id']} in {name} is {issue['status']}, its sessions imply {want}",
                )


def main():
    kills_wanted = 300
    seed = int(time.time())
    args = sys.argv[1:]
    while args:
        arg = args.pop(0)
        if arg == "--seed":
            seed = int(args.pop(0))
        else:
            kills_wanted = int(arg)
    rng = random.Random(seed)
    if not os.access(PM, os.X_OK):
        raise SystemExit(f"no pm binary at {PM}: build it (cargo build --release) or set PM")
    work = tempfile.mkdtemp(prefix="pm-crash-")
    try:
        remote = os.path.join(work, "remote.git")
        git(work, "init", "-q", "--bare", "-b", "main", remote)
        a = os.path.join(work, "a")
        git(work, "init", "-q", "-b", "main", a)
        with open(os.path.join(a, "README.txt"), "w") as f:
            f.write("crash test\n")
        git(a, "add", "README.txt")
        git(a, "commit", "-q", "-m", "init")
        git(a, "remote", "add", "origin", remote)
        git(a, "push", "-q", "origin", "main")
        b = os.path.join(work, "b")
        git(work, "clone", "-q", remote, b)
        clones = [a, b]
        issues = {c: [] for c in clones}
        for clone in clones:
            for i in range(6):
                doc = pm_json(clone, "issue", "add", "--title", f"Crash issue {i} of {os.path.basename(clone)}")
                issues[clone].append(doc["issue"]["id"])
        pm(a, "sync")
        pm(b, "sync")

        ops = ["launch", "update", "close", "sync"]
        durations = {op: 0.05 for op in ops}
        counts = {op: {"started": 0, "killed": 0, "finished": 0} for op in ops}
        problems = Problems()
        kills = 0
        locks_named = 0
        round_no = 0
        branch_no = 0
        while kills < kills_wanted:
            round_no += 1
            clone = rng.choice(clones)
            op = rng.choice(ops)
            if op == "launch":
                branch_no += 1
                branch = f"crash/{os.path.basename(clone)}-{branch_no}"
                cmd = ["agent", "launch", "--branch", branch]
                if rng.random() < 0.5:
                    cmd += ["--issue", rng.choice(issues[clone])]
            elif op == "update":
                cmd = ["issue", "update", rng.choice(issues[clone]), "--priority",
                       rng.choice(["low", "medium", "high"]), "--tag", f"t{round_no % 7}"]
            elif op == "close":
                live = [s for s in pm_json(clone, "agent", "list")["sessions"]
                        if s.get("mine", True)]
                if not live:
                    continue
                target = rng.choice(live)["id"]
                cmd = ["agent", "close", target] + rng.choice([[], ["--done"], ["--abandon"]])
            else:
                cmd = ["sync"]
            counts[op]["started"] += 1
            started = time.monotonic()
            proc = subprocess.Popen([PM, *cmd], cwd=clone, env=ENV,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, durations[op] * 1.2))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                counts[op]["killed"] += 1
            else:
                counts[op]["finished"] += 1
                took = time.monotonic() - started
                durations[op] = 0.8 * durations[op] + 0.2 * took
            # The next command is not blocked by what the kill left. A ref lock file of the
            # killed process blocks that ref, as it does for git: the error must name it, and
            # the run goes on as a user would, by removing it.
            listed = pm(clone, "agent", "list", check=False)
            if listed.returncode != 0:
                problems.add(round_no, f"after a killed {op}: pm agent list: {listed.stderr.strip()}")
            wt = git(clone, "worktree", "list", check=False)
            if wt.returncode != 0:
                problems.add(round_no, f"after a killed {op}: git worktree list: {wt.stderr.strip()}")
            if op == "launch":
                again = pm(clone, "agent", "launch", "--branch", branch, check=False)
                if again.returncode != 0 and "already has an active session" not in again.stderr:
                    problems.add(round_no, f"relaunch of {branch}: {again.stderr.strip()}")
            if op in ("update", "close"):
                again = pm(clone, *cmd, check=False)
                lock = named_lock(again.stderr)
                if lock:
                    locks_named += 1
                    os.remove(lock)
                    again = pm(clone, *cmd, check=False)
                if again.returncode != 0 and "already" not in again.stderr and "needs force" not in again.stderr:
                    problems.add(round_no, f"{op} again after the kill: {again.stderr.strip()}")
            if round_no % 25 == 0:
                check_all(clones, remote, round_no, problems)
                print(f"round {round_no}: {kills} kills landed, {len(problems.items)} problems",
                      file=sys.stderr)
        for clone in clones:
            pm(clone, "sync", check=False)
        check_all(clones, remote, round_no, problems)

        print(f"seed {seed}, {round_no} rounds, {kills} kills landed\n")
        print("| command | started | killed while running | finished before the kill |")
        print("|:---|---:|---:|---:|")
        for op in ops:
            c = counts[op]
            print(f"| {op} | {c['started']} | {c['killed']} | {c['finished']} |")
        print(f"\nref locks left by a kill and named in the next command's error: {locks_named}")
        print(f"\nproblems: {len(problems.items)}")
        for round_no, what in problems.items:
            print(f"* round {round_no}: {what}")
        return 1 if problems.items else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
