#!/usr/bin/env python3
"""The parts of bench/runs.sh that drive running agents (see that script for what is measured).

    runs.py agents FOLDER N GO        write the agent scripts (stamp.py, count.sh) into FOLDER
    runs.py latency PM REPO ID SAMPLES WARMUP
    runs.py memory PM REPO ID EVENTS
    runs.py many PM REPO SESSIONS LINES GO IDS_FILE
    runs.py stop PM REPO IDS_FILE     abort the runs named in IDS_FILE and wait for them to end
    runs.py cleanup REPO...           kill every supervisor and agent group the runs left

Times come from time.time_ns() (CLOCK_REALTIME) in the agent and in this process, on one machine.
"""

import json
import os
import subprocess
import sys
import threading
import time

STAMP = r'''#!/usr/bin/env python3
# Answers each input line "K" with "tick K <ns>", stamped just before it is written; "burst N"
# prints N numbered lines, then "burst done".
import sys, time
print("stamp up", flush=True)
for line in sys.stdin:
    word = line.strip()
    if word.startswith("burst "):
        for i in range(int(word.split()[1])):
            print(f"b {i}", flush=True)
        print("burst done", flush=True)
    else:
        print(f"tick {word} {time.time_ns()}", flush=True)
'''

COUNT = r'''#!/bin/sh
# Waits for the go file, prints "n 1" .. "n N" (one write each), then waits for its input to end.
while [ ! -e '{go}' ]; do sleep 0.05; done
i=1
while [ $i -le {n} ]; do
  echo "n $i"
  i=$((i+1))
done
echo "count done"
exec cat >/dev/null
'''


def pm_json(pm, repo, *args):
    out = subprocess.run([pm, "-C", repo, "--json", *args], check=True, capture_output=True)
    return json.loads(out.stdout)


def percentile(values, p):
    """The p-th percentile (nearest rank) of values."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


class Follower:
    """`pm agent logs ID --follow`, each line stamped when it arrives on the pipe."""

    def __init__(self, pm, repo, session, since=None):
        args = [pm, "-C", repo, "agent", "logs", session, "--follow"]
        if since is not None:
            args += ["--since", str(since)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines = []  # (arrival ns, line)
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        rest = b""
        while True:
            chunk = os.read(fd, 65536)
            now = time.time_ns()
            if not chunk:
                break
            rest += chunk
            *whole, rest = rest.split(b"\n")
            with self.cond:
                self.lines.extend((now, line.decode(errors="replace")) for line in whole)
                self.cond.notify_all()
        with self.cond:
            self.lines.append((time.time_ns(), None))
            self.cond.notify_all()

    def wait_line(self, want, start=0, timeout=30.0):
        """Index and (arrival, line) of the first line from index `start` for which want(line)."""
        until = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    stamp, line = self.lines[i]
                    if line is None:
                        raise SystemExit("the follower ended before the line it waited for")
                    if want(line):
                        return i, (stamp, line)
                    i += 1
                left = until - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"no awaited line within {timeout} s; last: {self.lines[-3:]}")
                self.cond.wait(left)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit(f"no {field} for process {pid}")


def rss(pid):
    """VmRSS, with its anonymous and file-backed parts (the program's own mapped pages)."""
    return (f"VmRSS {rss_kib(pid)} KiB (RssAnon {rss_kib(pid, 'RssAnon')}, RssFile "
            f"{rss_kib(pid, 'RssFile')}, {rss_kib(pid, 'Threads')} threads)")


def supervisor_pid(pm, repo, session):
    run = pm_json(pm, repo, "agent", "show", session)["run"]
    if run["state"] != "running":
        raise SystemExit(f"the agent of {session} is not running: {run}")
    return run["supervisor_pid"], run["last_event"]


def latency(pm, repo, session, samples, warmup):
    follower = Follower(pm, repo, session)
    follower.wait_line(lambda l: l == "stamp up")
    got = []
    at = 0
    for k in range(warmup + samples):
        subprocess.run([pm, "-C", repo, "agent", "send", session, str(k)], check=True,
                       stdout=subprocess.DEVNULL)
        prefix = f"tick {k} "
        at, (arrived, line) = follower.wait_line(lambda l: l.startswith(prefix), at)
        written = int(line.split()[2])
        if k >= warmup:
            got.append((arrived - written) / 1e6)
    follower.stop()
    print(f"samples {len(got)} (after {warmup} discarded)")
    print(f"median {percentile(got, 50):.2f} ms, p90 {percentile(got, 90):.2f} ms, "
          f"p99 {percentile(got, 99):.2f} ms, max {max(got):.2f} ms, min {min(got):.2f} ms")


def memory(pm, repo, session, events):
    pid, last = supervisor_pid(pm, repo, session)
    print(f"supervisor pid {pid}, after {last} events: {rss(pid)}")
    follower = Follower(pm, repo, session, since=last)
    subprocess.run([pm, "-C", repo, "agent", "send", session, f"burst {events}"], check=True,
                   stdout=subprocess.DEVNULL)
    follower.wait_line(lambda l: l == "burst done", timeout=120)
    follower.stop()
    pid2, last2 = supervisor_pid(pm, repo, session)
    assert pid2 == pid
    print(f"after {last2} events ({last2 - last} more, one follower attached): "
          f"{rss(pid)}, peak VmHWM {rss_kib(pid, 'VmHWM')} KiB")
    # A follower that joins now is sent the whole log first.
    follower = Follower(pm, repo, session, since=0)
    follower.wait_line(lambda l: l == "burst done", timeout=120)
    follower.stop()
    time.sleep(0.2)
    print(f"after a follower read all {last2} events: {rss(pid)}, "
          f"peak VmHWM {rss_kib(pid, 'VmHWM')} KiB")


def log_done(path):
    """Whether the event log at path ends with the count agent's last line (read from its tail)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 4096))
            return b'"text":"count done\\n"' in f.read()
    except FileNotFoundError:
        return False


def many(pm, repo, sessions, lines, go, ids_file):
    ids = []
    t0 = time.monotonic()
    for i in range(sessions):
        doc = pm_json(pm, repo, "agent", "launch", "--branch", f"count-{i}", "--agent", "count",
                      "--run")
        if doc["run"]["state"] != "running":
            raise SystemExit(f"session {i} does not run: {doc['run']}")
        ids.append(doc["id"])
    print(f"launched {sessions} sessions with --run in {time.monotonic() - t0:.1f} s")
    with open(ids_file, "w") as f:
        f.write("\n".join(ids) + "\n")
    logs = [os.path.join(repo, ".git", "pm", "run", i, "events.jsonl") for i in ids]
    t0 = time.monotonic()
    open(go, "w").close()
    pending = set(range(sessions))
    while pending:
        pending = {i for i in pending if not log_done(logs[i])}
        if time.monotonic() - t0 > 300:
            raise SystemExit(f"{len(pending)} sessions did not finish within 300 s")
        time.sleep(0.01)
    took = time.monotonic() - t0
    print(f"{sessions} agents x {lines} lines ({sessions * lines} events) all logged "
          f"{took:.2f} s after the go")
    lost = 0
    for session in ids:
        doc = pm_json(pm, repo, "agent", "logs", session)
        events = doc["events"]
        seqs = [e["seq"] for e in events]
        gaps = [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1]
        texts = [e["text"] for e in events if e["kind"] == "text"]
        want = [f"n {i}\n" for i in range(1, lines + 1)] + ["count done\n"]
        missing = len(set(want) - set(texts))
        ok = not gaps and seqs[:1] == [1] and texts == want
        lost += missing
        if not ok:
            print(f"  {session}: seq gaps {gaps[:5]}, {missing} lines missing, "
                  f"in order: {texts == want}")
        run = pm_json(pm, repo, "agent", "show", session)["run"]
        if run["state"] != "running":
            print(f"  {session}: the agent is {run['state']}, not running")
    print(f"lost events: {lost} (every log checked: seq 1.. without a gap, lines 1..{lines} in "
          f"order)")


def stop(pm, repo, ids_file):
    with open(ids_file) as f:
        ids = f.read().split()
    for session in ids:
        subprocess.run([pm, "-C", repo, "agent", "abort", session], check=True,
                       stdout=subprocess.DEVNULL)
    for session in ids:
        run = pm_json(pm, repo, "agent", "show", session)["run"]
        if run["state"] == "running":
            raise SystemExit(f"the agent of {session} still runs after abort")


def proc_start(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[19])


def cleanup(repos):
    for repo in repos:
        root = os.path.join(repo, ".git", "pm", "run")
        if not os.path.isdir(root):
            continue
        for session in os.listdir(root):
            try:
                with open(os.path.join(root, session, "run.json")) as f:
                    run = json.load(f)
            except (OSError, ValueError):
                continue
            for key in ("supervisor", "agent_process"):
                p = run.get(key) or {}
                pid, start = p.get("pid"), p.get("start")
                if not pid:
                    continue
                now = proc_start(pid)
                if now is not None and now != start:
                    continue  # another process has that pid now
                for target in (-pid, pid):
                    try:
                        os.kill(target, 9)
                    except OSError:
                        pass


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "agents":
        folder, n, go = args
        with open(os.path.join(folder, "stamp.py"), "w") as f:
            f.write(STAMP)
        with open(os.path.join(folder, "count.sh"), "w") as f:
            f.write(COUNT.replace("{go}", go).replace("{n}", n))
        for name in ("stamp.py", "count.sh"):
            os.chmod(os.path.join(folder, name), 0o755)
    elif cmd == "latency":
        latency(args[0], args[1], args[2], int(args[3]), int(args[4]))
    elif cmd == "memory":
        memory(args[0], args[1], args[2], int(args[3]))
    elif cmd == "many":
        many(args[0], args[1], int(args[2]), int(args[3]), args[4], args[5])
    elif cmd == "stop":
        stop(*args)
    elif cmd == "cleanup":
        cleanup(args)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
