"""The web UI of `pm serve` in a real Chromium (Debian's), driven by Playwright.

Called by the Rust test tests/it/ui/ with one JSON argument: the served URL, the pm binary,
the repository, and the sessions and issues it made. Every change made through the page is
checked with git (the records under refs/pm/), and every change made with the command line is
expected on the open page without a reload. Exits non-zero with one line naming what failed.
"""

import json
import re
import subprocess
import sys
import time

from playwright.sync_api import expect, sync_playwright

cfg = json.loads(sys.argv[1])
URL = cfg["url"]
REPO = cfg["repo"]
SHOTS = cfg.get("screenshots")
expect.set_options(timeout=10_000)


def run(*args):
    return subprocess.run(args, cwd=REPO, check=True, capture_output=True, text=True).stdout


def record_status(kind, ident):
    text = run("git", "show", f"refs/pm/{kind}/{ident}:{kind[:-1]}.toml")
    match = re.search(r'^status = "([a-z_]+)"$', text, re.M)
    return match.group(1) if match else None


def wait_for(what, probe, timeout=10.0):
    until = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > until:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def main():
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        dialogs, errors = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: errors.append(str(e)))

        # The sessions page lists the launched sessions.
        page.goto(URL)
        row = lambda ident: page.locator(f'#sessions tr[data-id="{ident}"]')
        done, pause = cfg["done"], cfg["pause"]
        expect(row(done)).to_be_visible()
        expect(row(pause)).to_be_visible()
        expect(row(done).locator(".status")).to_have_text("active")

        # Done completes the session (and its issue), as git says.
        row(done).get_by_role("button", name=re.compile("^Done ")).click()
        expect(row(done).locator(".status")).to_have_text("completed")
        wait_for("the session completed in git", lambda: record_status("sessions", done) == "completed")
        assert record_status("issues", cfg["done_issue"]) == "done", "the issue is not done"
        expect(row(done).get_by_role("button")).to_have_count(0)

        # Pause makes the other one idle.
        row(pause).get_by_role("button", name=re.compile("^Pause ")).click()
        expect(row(pause).locator(".status")).to_have_text("idle")
        assert record_status("sessions", pause) == "idle", "pause did not make it idle in git"

        # A change made with the command line shows on the open page, without a reload.
        page.evaluate("window.__notReloaded = true")
        run(cfg["pm"], "agent", "close", pause, "--abandon")
        started = time.monotonic()
        expect(row(pause).locator(".status")).to_have_text("abandoned", timeout=5_000)
        seen["cli_change_seconds"] = round(time.monotonic() - started, 2)
        assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"

        # The Worktrees tab lists the session's worktree.
        page.click("#nav-worktrees")
        expect(page.locator("#worktrees")).to_contain_text(cfg["worktree"])

        # An issue titled with markup shows that text and runs nothing.
        page.click("#nav-issues")
        xss = cfg["xss_title"]
        cell = page.locator("#issues a", has_text=xss)
        expect(cell).to_have_text(xss)
        assert page.locator("#issues img").count() == 0, "the title became an element"
        cell.click()
        expect(page.locator("h1")).to_contain_text(xss)
        assert page.locator("main img").count() == 0, "the title became an element"

        # What is typed into a form stays, focused, when the page is drawn again because a
        # record changed underneath.
        page.click("#nav-issues")
        page.fill("#new-title", "Half typed")
        run(cfg["pm"], "issue", "add", "--title", "Made meanwhile")
        expect(page.locator("#issues a", has_text="Made meanwhile")).to_be_visible()
        assert page.input_value("#new-title") == "Half typed", "the typed title was lost"
        assert page.evaluate("document.activeElement.id") == "new-title", "the focus was lost"

        # An issue made on the page is a record in git, and its form is empty again.
        page.fill("#new-title", "Made in the browser")
        page.get_by_role("button", name="Create issue").click()
        made = page.locator("#issues a", has_text="Made in the browser")
        expect(made).to_be_visible()
        expect(page.locator("#new-title")).to_have_value("")
        issues = json.loads(run(cfg["pm"], "--json", "issue", "list"))["issues"]
        assert any(i["title"] == "Made in the browser" for i in issues), "no such issue in git"

        # A running agent: launched from its issue's page, its text appears on the session
        # page as it streams (seen partly before it is whole).
        page.goto(f"{URL}#/{cfg['project']}/issues/{cfg['agent_issue']}")
        expect(page.locator("#launch")).to_be_visible()
        page.get_by_role("button", name="Launch agent").click()
        session = wait_for(
            "the launched session",
            lambda: next(
                (
                    s["id"]
                    for s in json.loads(run(cfg["pm"], "--json", "agent", "list"))["sessions"]
                    if s.get("issue") == cfg["agent_issue"]
                ),
                None,
            ),
        )
        page.goto(f"{URL}#/{cfg['project']}/sessions/{session}")
        output = page.locator("#output")
        full = cfg["agent_text"]
        partial = []
        until = time.monotonic() + 20
        while time.monotonic() < until:
            text = output.inner_text()
            if full in text:
                break
            if cfg["agent_first"] in text:
                partial.append(text)
            time.sleep(0.05)
        expect(output).to_contain_text(full)
        assert partial, "the text never showed before it was whole"
        seen["partial_views"] = len(partial)
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/session.png")
            page.goto(URL)
            expect(row(done)).to_be_visible()
            page.screenshot(path=f"{SHOTS}/sessions.png")

        assert not dialogs, f"a dialog opened: {dialogs}"
        assert not errors, f"the page raised: {errors}"
        browser.close()
    print(json.dumps(seen))


try:
    main()
except AssertionError as e:
    print(f"browser test failed: {e}", file=sys.stderr)
    sys.exit(1)
