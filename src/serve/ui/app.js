// The pm web UI: a page per hash route over the JSON API of `pm serve` (docs/api.md).
// Record text is untrusted: it only ever reaches the page through text nodes (`el`), never
// as HTML. The change feed (`/changes`) tells the open page when to load again.

const state = {
  projects: [],
  project: null,
  token: null,
  changes: null,
  view: null,
};

// ---- the API ----------------------------------------------------------------------------

function base(project = state.project) {
  return `/api/v1/projects/${encodeURIComponent(project)}`;
}

function headers(json) {
  const h = { Accept: "application/json" };
  if (json) h["Content-Type"] = "application/json";
  if (state.token) h.Authorization = `Bearer ${state.token}`;
  return h;
}

async function answer(response) {
  let doc = null;
  try {
    doc = await response.json();
  } catch {
    throw new Error(`${response.status} ${response.statusText}`);
  }
  if (!response.ok) {
    throw new Error(doc && doc.error ? doc.error.message : `${response.status}`);
  }
  return doc;
}

async function get(path) {
  return answer(await fetch(base() + path, { headers: headers(false) }));
}

async function send(path, body = {}, method = "POST") {
  return answer(
    await fetch(base() + path, {
      method,
      headers: headers(true),
      body: JSON.stringify(body),
    }),
  );
}

function streamUrl(path) {
  const url = new URL(base() + path, location.origin);
  if (state.token) url.searchParams.set("access_token", state.token);
  return url.toString();
}

// ---- building the page (text only) ------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function status(value) {
  return el("span", { class: `status s-${value}` }, value);
}

function when(text) {
  return text ? text.replace("T", " ").replace("Z", "") : "—";
}

function link(href, text) {
  return el("a", { href }, text);
}

function route(...parts) {
  return `#/${[state.project, ...parts].map(encodeURIComponent).join("/")}`;
}

function toast(text, bad = false) {
  const note = el("div", { class: bad ? "bad" : "" }, text);
  document.getElementById("toast").append(note);
  setTimeout(() => note.remove(), bad ? 8000 : 4000);
}

/// Run a request from a button: disabled meanwhile, errors said in one line.
async function act(button, work, done) {
  if (button) button.disabled = true;
  try {
    const doc = await work();
    // What was typed into the form went with it.
    if (button && button.form) for (const field of button.form.elements) edits.delete(field.id);
    if (done) toast(done(doc));
    for (const w of (doc && doc.warnings) || []) toast(`warning: ${w}`, true);
    await refresh();
  } catch (e) {
    toast(`error: ${e.message}`, true);
  } finally {
    if (button) button.disabled = false;
  }
}

// What was typed into the fields of the page (by field id) since it was shown: a change
// underneath draws the page again, and the fields keep what was typed (and the focus) until
// their form is sent or another page is shown. Check boxes are the page's state, not edits.
const edits = new Map();
document.addEventListener("input", (event) => {
  const field = event.target;
  if (field.id && "value" in field && field.type !== "checkbox" && field.type !== "radio") {
    edits.set(field.id, field.value);
  }
});

function main(...children) {
  const node = document.getElementById("main");
  const active = document.activeElement;
  const focus = active && active.id && node.contains(active)
    ? { id: active.id, start: active.selectionStart, end: active.selectionEnd }
    : null;
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  for (const [id, value] of edits) {
    const field = document.getElementById(id);
    if (field && node.contains(field)) field.value = value;
  }
  const field = focus && document.getElementById(focus.id);
  if (field && node.contains(field)) {
    field.focus();
    if (typeof focus.start === "number") {
      try { field.setSelectionRange(focus.start, focus.end); } catch { /* not a text field */ }
    }
  }
  return node;
}

// ---- pages ------------------------------------------------------------------------------

const CLOSE = [
  ["Pause", "idle"],
  ["Done", "completed"],
  ["Abandon", "abandoned"],
];

function closeButtons(session) {
  if (session.status !== "active" && session.status !== "idle") return [];
  return CLOSE.map(([label, to]) => {
    const button = el("button", {
      type: "button",
      class: to === "abandoned" ? "danger" : to === "completed" ? "primary" : "",
      "aria-label": `${label} session ${session.branch}`,
    }, label);
    button.addEventListener("click", () =>
      act(button, () => send("/agent/close", { session_id: session.id, status: to }),
        (doc) => `Session ${doc.id} is ${doc.status}`));
    return button;
  });
}

function runLabel(session) {
  return session.agent_run ? `${session.agent} (${session.agent_run})` : session.agent || "—";
}

const PAGE = 100;

class SessionsPage {
  constructor(params) {
    this.status = params.get("status") || "all";
    this.issue = params.get("issue") || "";
    this.loaded = PAGE;
  }

  async render() {
    let query = `?status=${encodeURIComponent(this.status)}&limit=${this.loaded}`;
    if (this.issue) query += `&issue=${encodeURIComponent(this.issue)}`;
    const doc = await get(`/sessions${query}`);
    const statusSelect = el("select", { id: "status-filter", name: "status" },
      ["all", "live", "active", "idle", "completed", "abandoned"].map((s) =>
        el("option", { value: s, selected: s === this.status }, s)));
    statusSelect.addEventListener("change", () => {
      this.status = statusSelect.value;
      this.loaded = PAGE;
      refresh();
    });
    const issueInput = el("input", { id: "issue-filter", value: this.issue, placeholder: "issue id" });
    issueInput.addEventListener("change", () => {
      this.issue = issueInput.value.trim();
      this.loaded = PAGE;
      refresh();
    });
    const rows = doc.sessions.map((s) =>
      el("tr", { "data-id": s.id },
        el("td", { class: "wrap" }, link(route("sessions", s.id), s.branch)),
        el("td", {}, status(s.status)),
        el("td", {}, runLabel(s)),
        el("td", { class: "mono" }, s.issue ? link(route("issues", s.issue), s.issue) : "—"),
        el("td", { class: "mono" }, when(s.started)),
        el("td", { class: "mono" }, when(s.last_activity)),
        el("td", {}, el("div", { class: "actions" }, closeButtons(s)))));
    const more = el("button", { type: "button", disabled: !doc.next_cursor }, "Show more");
    more.addEventListener("click", () => {
      this.loaded += PAGE;
      refresh();
    });
    main(
      el("h1", {}, "Sessions"),
      el("div", { class: "filters" },
        el("label", {}, "Status", statusSelect),
        el("label", {}, "Issue", issueInput)),
      el("table", { id: "sessions" },
        el("thead", {}, el("tr", {},
          ["Branch", "Status", "Agent", "Issue", "Started", "Last activity", ""].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows)),
      el("div", { class: "pager" },
        el("span", { class: "muted" }, `${doc.sessions.length} of ${doc.total} sessions`),
        more),
      doc.errors.length ? el("p", { class: "error-text" }, `${doc.errors.length} record(s) could not be read`) : null,
    );
  }

  cares(kinds) {
    return kinds.includes("sessions") || kinds.includes("runs");
  }
}

class SessionPage {
  constructor(id) {
    this.id = id;
    this.stream = null;
    this.output = el("div", { class: "output", id: "output", role: "log", "aria-live": "polite", tabindex: "0" });
    this.lastText = null;
    this.seen = 0;
  }

  async render() {
    const [shown, history] = await Promise.all([
      get(`/sessions/${encodeURIComponent(this.id)}`),
      get(`/sessions/${encodeURIComponent(this.id)}/events`),
    ]);
    const s = shown.session;
    this.id = s.id;
    const run = shown.run || {};
    const fields = [
      ["Id", s.id],
      ["Status", status(s.status)],
      ["Branch", s.branch],
      ["Base", `${s.base_ref || ""} ${s.base ? s.base.slice(0, 12) : ""}`],
      ["Issue", s.issue ? link(route("issues", s.issue), s.issue) : "—"],
      ["Agent", s.agent || "—"],
      ["Agent run", run.state ? `${run.state}${run.waiting ? ", waiting for input" : ""}${run.turns ? `, ${run.turns} turn(s)` : ""}` : "none"],
      ["Role", s.role || "—"],
      ["Prompt", s.prompt || "—"],
      ["Worktree", s.worktree ? `${s.worktree}${s.worktree_exists ? "" : " (gone)"}` : "—"],
      ["Changes", shown.dirty ? "uncommitted changes" : "clean"],
      ["Ahead / behind", `${shown.ahead ?? "—"} / ${shown.behind ?? "—"}`],
      ["Commits", String(s.commits)],
      ["Started", when(s.started)],
      ["Last activity", when(s.last_activity)],
      ["Ended", when(s.ended)],
      ["Owner", s.mine ? "this clone" : s.owner],
    ];
    const running = run.state === "running";
    const input = el("input", { id: "input-text", name: "text", placeholder: running ? "Send to the agent" : "Prompt of a new turn", size: 60, "aria-label": "Input for the agent" });
    const sendButton = el("button", { type: "submit", class: "primary" }, running ? "Send" : "Run");
    const form = el("form", { class: "inline", id: "input-form" }, input, sendButton);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      act(sendButton, () => send(`/sessions/${encodeURIComponent(this.id)}/input`, { text }), (doc) => {
        input.value = "";
        return doc.started ? "Started a new turn" : "Sent";
      });
    });
    const abort = el("button", { type: "button", class: "danger", disabled: !running }, "Abort");
    abort.addEventListener("click", () =>
      act(abort, () => send(`/sessions/${encodeURIComponent(this.id)}/abort`), () => "Aborted the agent"));
    const finished = s.status === "completed" || s.status === "abandoned";
    const restart = el("button", { type: "button", disabled: !finished }, "Restart");
    restart.addEventListener("click", () =>
      act(restart, () => send(`/sessions/${encodeURIComponent(this.id)}/restart`, { prompt: input.value.trim() || undefined }),
        () => "Restarted the session"));
    const live = s.status === "active" || s.status === "idle";
    main(
      el("p", {}, link(route("sessions"), "← Sessions")),
      el("h1", {}, s.branch, " ", status(s.status)),
      el("div", { class: "actions" }, closeButtons(s), restart),
      el("dl", { class: "record" }, fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("h2", {}, "Agent output"),
      this.output,
      live || finished ? el("div", { class: "actions" }, form, abort) : null,
      el("h2", {}, "History"),
      el("table", { id: "history" },
        el("thead", {}, el("tr", {}, ["Time", "Change", "By"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, history.events.map((e) =>
          el("tr", {}, el("td", { class: "mono" }, when(e.time)), el("td", {}, e.message), el("td", {}, e.author))))),
    );
    this.follow();
  }

  follow() {
    if (this.stream) return;
    const url = new URL(streamUrl(`/sessions/${encodeURIComponent(this.id)}/run/stream`));
    url.searchParams.set("since", String(this.seen));
    this.stream = new EventSource(url);
    this.stream.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.seq <= this.seen) return;
      this.seen = event.seq;
      this.show(event);
    };
  }

  show(event) {
    const out = this.output;
    const atEnd = out.scrollHeight - out.scrollTop - out.clientHeight < 40;
    const line = (cls, text) => {
      this.lastText = null;
      if (out.textContent && !out.textContent.endsWith("\n")) {
        out.append("\n");
      }
      out.append(el("span", { class: cls }, `${text}\n`));
    };
    switch (event.kind) {
      case "text":
        if (this.lastText && this.lastText.isConnected) this.lastText.textContent += event.text;
        else {
          this.lastText = el("span", { class: "text" }, event.text);
          out.append(this.lastText);
        }
        break;
      case "input":
        line("input", `> ${event.text}`);
        break;
      case "tool_call":
        line("tool", `tool ${event.name} ${JSON.stringify(event.input ?? null).slice(0, 200)}`);
        break;
      case "tool_result":
        line(event.is_error ? "error" : "log", `${event.is_error ? "error" : "result"} ${String(event.text).slice(0, 200)}`);
        break;
      case "started":
        line("marker", `[started ${event.agent} (pid ${event.pid})]`);
        break;
      case "turn_finished":
        line("marker", event.is_error ? "[turn finished with an error]" : "[turn finished]");
        break;
      case "aborted":
        line("marker", `[aborted: ${event.why}]`);
        break;
      case "exited":
        line("marker", event.code !== null && event.code !== undefined ? `[exited with status ${event.code}]` : `[ended by signal ${event.signal}]`);
        break;
      case "died":
        line("error", `[died: ${event.why}]`);
        break;
      case "log":
        line("log", event.text);
        break;
      default:
        break;
    }
    if (this.lastText && out.lastChild !== this.lastText) this.lastText = null;
    if (atEnd) out.scrollTop = out.scrollHeight;
  }

  cares(kinds) {
    return kinds.includes("sessions") || kinds.includes("runs");
  }

  leave() {
    if (this.stream) this.stream.close();
  }

  // Refreshing keeps the output and its stream (the same node is put back in place): the
  // record and history are drawn again.
}

const PRIORITIES = ["low", "medium", "high"];
const TYPES = ["feature", "bug", "chore"];
const ISSUE_STATUSES = ["open", "in_progress", "done", "closed"];

function choice(name, values, selected) {
  return el("select", { name, id: `issue-${name}` },
    values.map((v) => el("option", { value: v, selected: v === selected }, v)));
}

class IssuesPage {
  constructor(params) {
    this.all = params.get("all") === "true";
  }

  async render() {
    const doc = await get(`/issues${this.all ? "?all=true" : ""}`);
    const all = el("input", { type: "checkbox", id: "all-issues", checked: this.all });
    all.addEventListener("change", () => {
      this.all = all.checked;
      refresh();
    });
    const title = el("input", { name: "title", id: "new-title", required: true, size: 50 });
    const description = el("input", { name: "description", id: "new-description", size: 50 });
    const priority = choice("priority", PRIORITIES, "medium");
    const type = choice("type", TYPES, "feature");
    const tags = el("input", { name: "tags", id: "new-tags", placeholder: "a, b" });
    const create = el("button", { type: "submit", class: "primary" }, "Create issue");
    const form = el("form", { class: "inline", id: "new-issue" },
      el("label", {}, "Title", title), el("label", {}, "Description", description),
      el("label", {}, "Priority", priority), el("label", {}, "Type", type),
      el("label", {}, "Tags", tags), create);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = {
        title: title.value,
        description: description.value,
        priority: priority.value,
        type: type.value,
        tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      };
      act(create, () => send("/issues", body), (d) => `Created issue ${d.issue.id}`);
    });
    main(
      el("h1", {}, "Issues"),
      form,
      el("div", { class: "filters" }, el("label", {}, el("span", {}, all, " also done and closed"))),
      el("table", { id: "issues" },
        el("thead", {}, el("tr", {}, ["Title", "Status", "Priority", "Type", "Tags", "Updated"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, doc.issues.map((i) =>
          el("tr", { "data-id": i.id },
            el("td", { class: "wrap" }, link(route("issues", i.id), i.title)),
            el("td", {}, status(i.status)),
            el("td", {}, i.priority),
            el("td", {}, i.type),
            el("td", {}, i.tags.join(", ")),
            el("td", { class: "mono" }, when(i.updated)))))),
    );
  }

  cares(kinds) {
    return kinds.includes("issues");
  }
}

class IssuePage {
  constructor(id) {
    this.id = id;
  }

  async render() {
    const doc = await get(`/issues/${encodeURIComponent(this.id)}`);
    const i = doc.issue;
    this.id = i.id;
    const title = el("input", { name: "title", id: "edit-title", value: i.title, size: 60 });
    const description = el("input", { name: "description", id: "edit-description", value: i.description, size: 60 });
    const body = el("textarea", { name: "body", id: "edit-body" }, i.body);
    const st = choice("status", ISSUE_STATUSES, i.status);
    const priority = choice("priority", PRIORITIES, i.priority);
    const type = choice("type", TYPES, i.type);
    const save = el("button", { type: "submit", class: "primary" }, "Save");
    const form = el("form", { id: "edit-issue" },
      el("div", { class: "filters" }, el("label", {}, "Title", title), el("label", {}, "Description", description)),
      el("label", { class: "wide" }, "Body", body),
      el("div", { class: "filters" }, el("label", {}, "Status", st), el("label", {}, "Priority", priority), el("label", {}, "Type", type), save));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const changes = {};
      if (title.value !== i.title) changes.title = title.value;
      if (description.value !== i.description) changes.description = description.value;
      if (body.value !== i.body) changes.body = body.value;
      if (st.value !== i.status) changes.status = st.value;
      if (priority.value !== i.priority) changes.priority = priority.value;
      if (type.value !== i.type) changes.type = type.value;
      if (!Object.keys(changes).length) return toast("Nothing changed");
      act(save, () => send(`/issues/${encodeURIComponent(this.id)}`, changes, "PATCH"), (d) => d.message);
    });
    const agent = el("input", { name: "agent", id: "launch-agent", placeholder: "default agent", size: 14 });
    const prompt = el("input", { name: "prompt", id: "launch-prompt", placeholder: "prompt (optional)", size: 40 });
    const run = el("input", { type: "checkbox", id: "launch-run", checked: true });
    const launch = el("button", { type: "submit", class: "primary" }, "Launch agent");
    const launchForm = el("form", { class: "inline", id: "launch" },
      el("label", {}, "Agent", agent), el("label", {}, "Prompt", prompt),
      el("label", {}, el("span", {}, run, " start the agent")), launch);
    launchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const request = { issue: this.id, run: run.checked, prompt: prompt.value };
      if (agent.value.trim()) request.agent = agent.value.trim();
      act(launch, () => send("/agent/launch", request), (d) => `${d.resumed ? "Resumed" : "Launched"} session ${d.id}`);
    });
    const closed = i.status === "done" || i.status === "closed";
    const toggle = el("button", { type: "button" }, closed ? "Reopen" : "Close issue");
    toggle.addEventListener("click", () =>
      act(toggle, () => send(`/issues/${encodeURIComponent(this.id)}/${closed ? "reopen" : "close"}`), (d) => d.message));
    main(
      el("p", {}, link(route("issues"), "← Issues")),
      el("h1", {}, i.title, " ", status(i.status)),
      el("p", { class: "muted mono" }, i.id, " · created ", when(i.created), " · updated ", when(i.updated)),
      el("div", { class: "actions" }, toggle),
      form,
      el("h2", {}, "Launch an agent on this issue"),
      launchForm,
      el("h2", {}, "Sessions"),
      doc.sessions.length
        ? el("table", { id: "issue-sessions" }, el("tbody", {}, doc.sessions.map((s) =>
          el("tr", {}, el("td", {}, link(route("sessions", s.id), s.branch)), el("td", {}, status(s.status)),
            el("td", { class: "mono" }, when(s.started))))))
        : el("p", { class: "muted" }, "No session has worked on it yet."),
    );
  }

  cares(kinds) {
    return kinds.includes("issues") || kinds.includes("sessions");
  }
}

class WorktreesPage {
  async render() {
    const doc = await get("/worktrees");
    const prune = el("button", { type: "button", id: "prune" }, "Prune");
    prune.addEventListener("click", () =>
      act(prune, () => send("/worktrees/prune"), (d) => `Pruned ${d.pruned.length} worktree entr${d.pruned.length === 1 ? "y" : "ies"}`));
    const count = (n) => (n === null || n === undefined ? "—" : String(n));
    main(
      el("h1", {}, "Worktrees"),
      el("div", { class: "actions" }, prune,
        el("span", { class: "muted" }, "Prune removes git's entries of worktrees whose folder is gone; no folder or branch.")),
      el("table", { id: "worktrees" },
        el("thead", {}, el("tr", {}, ["Path", "Branch", "Session", "Changes", "Ahead", "Behind", "State"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, doc.worktrees.map((w) =>
          el("tr", {},
            el("td", { class: "mono wrap" }, w.path),
            el("td", {}, w.branch || (w.head ? `(detached ${w.head.slice(0, 10)})` : "—")),
            el("td", {}, w.session ? [link(route("sessions", w.session.id), w.session.id.slice(0, 10)), " ", status(w.session.status)] : "—"),
            el("td", {}, w.dirty === null ? "—" : w.dirty ? "uncommitted changes" : "clean"),
            el("td", {}, count(w.ahead)),
            el("td", {}, count(w.behind)),
            el("td", {}, [w.main ? "main" : null, w.locked ? "locked" : null, w.prunable ? "prunable" : null, !w.exists ? "gone" : null].filter(Boolean).join(", ") || "—"))))),
    );
  }

  cares(kinds) {
    return kinds.includes("worktrees") || kinds.includes("sessions");
  }
}

// ---- routing and the change feed --------------------------------------------------------

function parseHash() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

let rendering = Promise.resolve();

async function refresh() {
  const view = state.view;
  if (!view) return;
  rendering = rendering.then(async () => {
    if (state.view !== view) return;
    try {
      await (view.refresh ? view.refresh() : view.render());
    } catch (e) {
      main(el("h1", {}, "Not found"), el("p", { class: "error-text" }, e.message), el("p", {}, link(route("sessions"), "Sessions")));
    }
  });
  return rendering;
}

function show() {
  const { parts, params } = parseHash();
  let [project, page, id] = parts;
  if (!state.projects.some((p) => p.name === project)) {
    const fallback = state.projects.find((p) => p.default) || state.projects[0];
    location.replace(`#/${encodeURIComponent(fallback.name)}/sessions`);
    return;
  }
  if (project !== state.project) {
    state.project = project;
    subscribe();
  }
  document.getElementById("project").value = project;
  if (state.view && state.view.leave) state.view.leave();
  edits.clear();
  page = page || "sessions";
  if (page === "sessions") state.view = id ? new SessionPage(id) : new SessionsPage(params);
  else if (page === "issues") state.view = id ? new IssuePage(id) : new IssuesPage(params);
  else if (page === "worktrees") state.view = new WorktreesPage();
  else state.view = new SessionsPage(params);
  for (const name of ["sessions", "issues", "worktrees"]) {
    const nav = document.getElementById(`nav-${name}`);
    nav.href = route(name);
    if (name === page) nav.setAttribute("aria-current", "page");
    else nav.removeAttribute("aria-current");
  }
  document.title = `pm · ${project} · ${page}`;
  refresh();
}

let pending = null;

function subscribe() {
  if (state.changes) state.changes.close();
  const live = document.getElementById("live");
  const feed = new EventSource(streamUrl("/changes"));
  feed.addEventListener("ready", () => { live.textContent = "● live"; });
  feed.addEventListener("change", (message) => {
    let kinds = [];
    try {
      kinds = JSON.parse(message.data).kinds || [];
    } catch {
      return;
    }
    if (!state.view || !state.view.cares(kinds)) return;
    // A burst of changes (a sync) is loaded once.
    clearTimeout(pending);
    pending = setTimeout(refresh, 150);
  });
  feed.onerror = () => { live.textContent = "reconnecting…"; };
  state.changes = feed;
}

async function start() {
  if (location.hash.startsWith("#token=")) {
    state.token = decodeURIComponent(location.hash.slice("#token=".length));
    sessionStorage.setItem("pm-token", state.token);
    history.replaceState(null, "", `${location.pathname}#/`);
  } else {
    state.token = sessionStorage.getItem("pm-token");
  }
  try {
    const response = await fetch("/api/v1/projects", { headers: headers(false) });
    state.projects = (await answer(response)).projects;
  } catch (e) {
    main(el("h1", {}, "pm"), el("p", { class: "error-text" }, `cannot reach the server: ${e.message}`));
    return;
  }
  const select = document.getElementById("project");
  select.replaceChildren(...state.projects.map((p) => el("option", { value: p.name, title: p.path }, p.name)));
  select.addEventListener("change", () => { location.hash = `#/${encodeURIComponent(select.value)}/sessions`; });
  window.addEventListener("hashchange", show);
  show();
}

start();
