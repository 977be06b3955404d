#!/usr/bin/env bash
# The sessions page of the web UI with SIZE sessions in Debian's Chromium (Playwright for
# Python): from navigation to the first row's Done button being clickable, and to the second
# page after "Show more". Median and worst of RUNS fresh page loads.
#
#   bench/ui.sh [SIZE] [RUNS]        (default: 10000 5; PM_BIN=... to time another build)
set -euo pipefail

n="${1:-10000}"
runs="${2:-5}"
. "$(dirname "$0")/setup.sh"

repo="$work/repo"
git init -q -b main "$repo"
git -C "$repo" commit -q --allow-empty -m init
base="$(git -C "$repo" rev-parse HEAD)"
python3 "$(dirname "$0")/sessions.py" "$n" "$base" | git -C "$repo" fast-import --quiet
git -C "$repo" pack-refs --all
git -C "$repo" repack -adq
mkdir -p "$repo/.git/pm"
echo 01JZZZZZZZZZZZZZZZZZZZZZZZ > "$repo/.git/pm/clone-id"
"$pm" -C "$repo" --json agent history >/dev/null

"$pm" -C "$repo" serve --port 0 > "$work/served" 2>"$work/served.err" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
url=""
for _ in $(seq 100); do
    url="$(grep -o 'http://[^ ]*' "$work/served" 2>/dev/null || true)"
    [ -n "$url" ] && break
    sleep 0.05
done
[ -n "$url" ] || { cat "$work/served.err" >&2; exit 1; }

python3 - "$url" "$runs" "$n" <<'PY'
import statistics, sys, time
from playwright.sync_api import sync_playwright
url, runs, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
first, more = [], []
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
    for _ in range(runs + 1):  # the first load warms the server
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(url)
        page.locator("#sessions tbody tr").first.wait_for()
        button = page.locator("#sessions tbody tr button").first
        button.wait_for()
        assert button.is_enabled()
        first.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        page.get_by_role("button", name="Show more").click()
        page.locator("#sessions tbody tr").nth(150).wait_for()
        more.append((time.perf_counter() - start) * 1000)
        total = page.locator(".pager .muted").inner_text()
        page.close()
    browser.close()
first, more = first[1:], more[1:]
print(f"sessions page, {n} sessions ({total}):")
print(f"  interactive (first row's Done clickable): median {statistics.median(first):.0f} ms, max {max(first):.0f} ms")
print(f"  'Show more' to 200 rows:                  median {statistics.median(more):.0f} ms, max {max(more):.0f} ms")
PY
