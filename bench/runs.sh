#!/usr/bin/env bash
# Running agents, with the `command` provider and small agent scripts (bench/runs.py writes
# them and does the driving):
#
#   bench/runs.sh [SAMPLES] [SESSIONS] [LINES] [EVENTS]     (default: 500 20 2000 10000)
#
# 1. Latency from an agent writing a line to `pm agent logs ID --follow` printing it: the agent
#    (stamp.py) answers each input line (`pm agent send`, one at a time) with a line carrying
#    time.time_ns() taken just before it writes; a follower reads `logs --follow` from a pipe and
#    stamps each line as it arrives. SAMPLES samples after 20 discarded; median and 99th
#    percentile.
# 2. The supervisor's resident memory (VmRSS of the pid `pm --json agent show` gives) after the
#    latency run, after EVENTS more events (the agent prints them as fast as it can, one
#    follower attached), and after a new follower was sent the whole log.
# 3. SESSIONS sessions launched with --run, their agents (count.sh) waiting for a go file, then
#    each printing LINES numbered lines at once; the time until every log has the last line,
#    and every log checked through `pm --json agent logs`: seq from 1 without a gap, every line
#    in order.
# 4. `pm agent list` with those SESSIONS agents running (idle, waiting for input), against the
#    same repository once they were aborted, and a repository of SESSIONS sessions that never
#    ran an agent (hyperfine, warm).
#
# The user's own configuration is not read: HOME and XDG_CONFIG_HOME point into the scratch
# folder, whose config.toml defines the two agents. Every supervisor and agent the runs leave
# is killed on exit.
set -euo pipefail

samples="${1:-500}"
sessions="${2:-20}"
lines="${3:-2000}"
events="${4:-10000}"
. "$(dirname "$0")/setup.sh"
runs="$root/bench/runs.py"

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" TMPDIR="$work/tmp"
export GIT_CONFIG_NOSYSTEM=1 LC_ALL=C TZ=UTC
mkdir -p "$XDG_CONFIG_HOME/pm" "$TMPDIR" "$work/agents"
trap 'python3 "$runs" cleanup "$work/one" "$work/many" "$work/never"; rm -rf "$work"' EXIT
python3 "$runs" agents "$work/agents" "$lines" "$work/go"
cat > "$XDG_CONFIG_HOME/pm/config.toml" <<TOML
[agents.stamp]
program = "$work/agents/stamp.py"
protocol = "command"

[agents.count]
program = "$work/agents/count.sh"
protocol = "command"
TOML

new_repo() {
    git init -q -b main "$1"
    git -C "$1" commit -q --allow-empty -m init
}

echo "== machine: $(nproc) cores, $(uptime | sed 's/.*load/load/')"

echo "== 1. latency, agent line to \`pm agent logs --follow\` ($samples samples)"
new_repo "$work/one"
id="$("$pm" -C "$work/one" --json agent launch --branch stamp --agent stamp --run |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
python3 "$runs" latency "$pm" "$work/one" "$id" "$samples" 20

echo "== 2. supervisor memory"
python3 "$runs" memory "$pm" "$work/one" "$id" "$events"
"$pm" -C "$work/one" agent abort "$id" >/dev/null

echo "== 3. $sessions sessions at once, $lines lines each"
new_repo "$work/many"
python3 "$runs" many "$pm" "$work/many" "$sessions" "$lines" "$work/go" "$work/ids"

echo "== 4. pm agent list, $sessions agents running / the same stopped / never run"
new_repo "$work/never"
for i in $(seq "$sessions"); do
    "$pm" -C "$work/never" agent launch --branch "s-$i" --agent count >/dev/null
done
hyperfine -N --output=pipe --warmup 5 --runs 40 --export-json "$work/running.json" \
    -n "pm agent list, $sessions agents running" "$pm -C $work/many agent list" >/dev/null
python3 "$runs" stop "$pm" "$work/many" "$work/ids"
hyperfine -N --output=pipe --warmup 5 --runs 40 --export-json "$work/idle.json" \
    -n "pm agent list, the same $sessions stopped" "$pm -C $work/many agent list" \
    -n "pm agent list, $sessions that never ran" "$pm -C $work/never agent list" >/dev/null
python3 - "$work/running.json" "$work/idle.json" <<'PY'
import json, sys
rows = [r for path in sys.argv[1:] for r in json.load(open(path))["results"]]
base = rows[1]["mean"]
print("| Command | Mean [ms] | Min [ms] | Max [ms] | / stopped |")
print("|:---|---:|---:|---:|---:|")
for r in rows:
    print(f"| `{r['command']}` | {r['mean']*1e3:.1f} ± {r['stddev']*1e3:.1f} | "
          f"{r['min']*1e3:.1f} | {r['max']*1e3:.1f} | {r['mean']/base:.2f} |")
PY
echo "== load at the end: $(uptime | sed 's/.*load/load/')"
