#!/usr/bin/env bash
# pm serve at scale: `GET /api/v1/sessions` of every session against `pm --json agent history`
# (the same sessions, the same keys), a page of 100 and one session, the server's memory, and
# what keeping opened workspaces saves over opening the repository for every request:
#
#   bench/serve.sh [SIZE]        (default: 10000)
#
# The repository is made as bench/scale.sh makes it (every 100th session active, all owned by
# this clone). Each client is a process (curl, pm) writing into a pipe, timed warm with
# hyperfine; then the same requests on one kept-alive connection (python's http.client), which
# is what a page's requests cost without a process start.
set -euo pipefail

n="${1:-10000}"
. "$(dirname "$0")/setup.sh"
command -v curl >/dev/null || {
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq curl >/dev/null; else
        echo "curl is needed: sudo apt-get install curl" >&2; exit 1; fi
}

repo="$work/repo"
git init -q -b main "$repo"
git -C "$repo" commit -q --allow-empty -m init
base="$(git -C "$repo" rev-parse HEAD)"
python3 "$(dirname "$0")/sessions.py" "$n" "$base" | git -C "$repo" fast-import --quiet
git -C "$repo" pack-refs --all
git -C "$repo" repack -adq
mkdir -p "$repo/.git/pm"
echo 01JZZZZZZZZZZZZZZZZZZZZZZZ > "$repo/.git/pm/clone-id"
sleep 3
"$pm" -C "$repo" --json agent history >/dev/null
one="$(git -C "$repo" for-each-ref --count=1 --format='%(refname:lstrip=3)' refs/pm/sessions)"

server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill -INT "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT

start_server() { # extra environment, as NAME=VALUE words
    env "$@" "$pm" -C "$repo" serve --port 0 > "$work/served" 2>"$work/served.err" &
    server_pid=$!
    for _ in $(seq 100); do
        url="$(grep -o 'http://[^ ]*' "$work/served" 2>/dev/null || true)"
        [ -n "$url" ] && break
        sleep 0.05
    done
    [ -n "$url" ] || { echo "pm serve did not start:" >&2; cat "$work/served.err" >&2; exit 1; }
    url="${url%/}"
    curl -sf "$url/api/v1/sessions" >/dev/null
}

# Requests on one kept-alive connection: mean and max in ms over RUNS after WARMUP.
keepalive() { # path, runs
    python3 - "$url" "$1" "$2" <<'PY'
import http.client, sys, time, urllib.parse
url, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port)
times = []
for i in range(runs + 3):
    t = time.perf_counter()
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    assert r.status == 200, (r.status, body[:200])
    if i >= 3:
        times.append((time.perf_counter() - t) * 1000)
print(f"{sum(times) / len(times):.2f} ms mean, {min(times):.2f} min, {max(times):.2f} max, {len(body)} bytes")
PY
}

rss() { # the server's resident memory: now, peak, and its own (not the program's pages)
    awk '/^VmRSS|^VmHWM|^RssAnon|^RssFile/ {printf "%s %.1f MiB  ", $1, $2/1024} END {print ""}' \
        "/proc/$server_pid/status"
}

echo "== $n sessions"
start_server
echo "server memory after start and one listing: $(rss)"
hyperfine -N --output=pipe --warmup 3 --runs 30 --export-markdown "$work/list.md" \
    -n "curl GET /api/v1/sessions ($n)" "curl -sf $url/api/v1/sessions" \
    -n "pm --json agent history ($n)" "$pm -C $repo --json agent history" >/dev/null
cat "$work/list.md"
echo
hyperfine -N --output=pipe --warmup 3 --runs 30 --export-markdown "$work/page.md" \
    -n "curl GET /api/v1/sessions?limit=100" "curl -sf $url/api/v1/sessions?limit=100" \
    -n "pm --json agent history --limit 100" "$pm -C $repo --json agent history --limit 100" \
    -n "curl GET /api/v1/sessions/ID" "curl -sf $url/api/v1/sessions/$one" \
    -n "pm --json agent show ID" "$pm -C $repo --json agent show $one" >/dev/null
cat "$work/page.md"
echo
echo "one connection, GET /api/v1/sessions:           $(keepalive /api/v1/sessions 30)"
echo "one connection, GET /api/v1/sessions?limit=100: $(keepalive '/api/v1/sessions?limit=100' 100)"
echo "one connection, GET /api/v1/sessions/ID:        $(keepalive "/api/v1/sessions/$one" 200)"
echo "server memory after these: $(rss)"
stop_server

# The same with no workspace kept: every request opens the repository.
start_server PM_SERVE_POOL=0
echo "no workspace kept, GET /api/v1/sessions?limit=100: $(keepalive '/api/v1/sessions?limit=100' 100)"
echo "no workspace kept, GET /api/v1/sessions/ID:        $(keepalive "/api/v1/sessions/$one" 200)"
stop_server
