//! Views of sessions.

use crate::model::{IssueStatus, Session, SessionStatus, Timestamp};
use crate::ops::sessions::{
    Changed, HistoryView, Launched, Purged, Reconciled, SessionDetails, SessionView,
};
use crate::store::{Broken, Mode};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A session as JSON: the shared record plus what this clone knows locally.
#[derive(Debug, Serialize)]
pub struct SessionJson<'a> {
    pub id: &'a str,
    pub issue: Option<&'a str>,
    pub branch: &'a str,
    pub base: &'a str,
    pub base_ref: &'a str,
    pub status: crate::model::SessionStatus,
    pub agent: &'a str,
    pub role: &'a str,
    pub prompt: &'a str,
    pub actor: &'a str,
    pub owner: &'a str,
    pub started: Timestamp,
    pub updated: Timestamp,
    pub ended: Option<Timestamp>,
    /// Seconds from start to end, or to now while live.
    pub duration: i64,
    pub commits: u32,
    /// This clone owns the session.
    pub mine: bool,
    /// Absolute worktree path (only for sessions this clone created).
    pub worktree: Option<&'a std::path::Path>,
    pub worktree_exists: bool,
    pub last_commit: Option<LastCommitJson<'a>>,
    pub last_activity: Timestamp,
    /// What the agent does in this clone (`agent list` only; see `SessionView::agent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_run: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct LastCommitJson<'a> {
    pub commit: &'a str,
    pub time: Timestamp,
    pub subject: &'a str,
}

/// The fields every session view shares: `$s` the record (a [`Session`] or a cached row),
/// `$view` what this clone knows of it.
macro_rules! session_json {
    ($s:expr, $view:expr, $now:expr, $agent:expr) => {{
        let (s, view) = ($s, $view);
        SessionJson {
            id: &s.id,
            issue: s.issue.as_deref(),
            branch: &s.branch,
            base: &s.base,
            base_ref: &s.base_ref,
            status: s.status,
            agent: &s.agent,
            role: &s.role,
            prompt: &s.prompt,
            actor: &s.actor,
            owner: &s.owner,
            started: s.started,
            updated: s.updated,
            ended: s.ended,
            duration: s.duration($now),
            commits: view.commits,
            mine: view.mine,
            worktree: view.worktree.as_deref(),
            worktree_exists: view.worktree_exists,
            last_commit: view
                .last_commit
                .as_ref()
                .map(|(time, commit, subject)| LastCommitJson {
                    commit,
                    time: *time,
                    subject,
                }),
            last_activity: view.last_activity,
            agent_run: $agent,
        }
    }};
}

impl<'a> From<&'a SessionView> for SessionJson<'a> {
    fn from(view: &'a SessionView) -> Self {
        session_json!(&view.session, view, Timestamp::now(), view.agent)
    }
}

impl<'a> SessionJson<'a> {
    /// A session of `history`, its duration counted to `now` while it runs.
    pub fn of_history(view: &'a HistoryView<'_>, now: Timestamp) -> Self {
        session_json!(view.session, view, now, view.agent)
    }
}

/// A page of sessions (`ops::sessions::page`): the keys of [`SessionList`], and where the
/// next page starts (`null` on the last one).
#[derive(Debug, Serialize)]
pub struct SessionPage<'a> {
    pub sessions: Vec<SessionJson<'a>>,
    pub errors: &'a [Broken],
    /// How many sessions matched, on every page together.
    pub total: usize,
    pub next_cursor: Option<&'a str>,
}

impl<'a> SessionPage<'a> {
    pub fn new(page: &'a crate::ops::sessions::Page<'a>, now: Timestamp) -> Self {
        SessionPage {
            sessions: page
                .views
                .iter()
                .map(|v| SessionJson::of_history(v, now))
                .collect(),
            errors: page.broken,
            total: page.total,
            next_cursor: page.next.as_deref(),
        }
    }
}

/// Sessions newest first, and the records that cannot be read.
#[derive(Debug, Serialize)]
pub struct SessionList<'a> {
    pub sessions: Vec<SessionJson<'a>>,
    pub errors: &'a [Broken],
    /// How many sessions matched before a limit cut the list.
    pub total: usize,
}

impl<'a> SessionList<'a> {
    pub fn new(list: &'a crate::ops::sessions::SessionList) -> Self {
        SessionList {
            sessions: list.sessions.iter().map(SessionJson::from).collect(),
            errors: &list.broken,
            total: list.total,
        }
    }
}

/// One session with everything this clone knows of it.
#[derive(Debug, Serialize)]
pub struct SessionShow<'a> {
    pub session: SessionJson<'a>,
    pub dirty: Option<bool>,
    pub branch_missing: bool,
    pub ahead: Option<u32>,
    pub behind: Option<u32>,
    pub host: Option<&'a str>,
    pub purged: Option<Timestamp>,
    /// The agent's run in this clone.
    pub run: &'a crate::ops::runs::RunView,
    /// What provisioning its worktree did last in this clone, if it did anything.
    pub setup: Option<&'a crate::ops::provision::SetupReport>,
    /// The whole record as stored (only when asked for: MCP `spec`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<&'a Session>,
    /// What the agent's last run here was really started with (MCP `spec`, when it ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_with: Option<&'a crate::runtime::supervisor::Start>,
}

impl<'a> SessionShow<'a> {
    pub fn new(details: &'a SessionDetails) -> Self {
        SessionShow {
            session: SessionJson::from(&details.view),
            dirty: details.dirty,
            branch_missing: details.branch_missing,
            ahead: details.ahead_behind.map(|(a, _)| a),
            behind: details.ahead_behind.map(|(_, b)| b),
            host: details.host.as_deref(),
            purged: details.view.session.purged,
            run: &details.run,
            setup: details.setup.as_ref(),
            record: None,
            started_with: None,
        }
    }

    /// With the whole record.
    pub fn with_record(mut self, details: &'a SessionDetails) -> Self {
        self.record = Some(&details.view.session);
        self
    }

    /// With what the agent's last run was started with.
    pub fn with_started(mut self, started: Option<&'a crate::runtime::supervisor::Start>) -> Self {
        self.started_with = started;
        self
    }
}

/// A session launched, resumed or taken over (in a dry run: as it would be).
#[derive(Debug, Serialize)]
pub struct Launch<'a> {
    pub dry_run: bool,
    pub resumed: bool,
    pub recreated_worktree: bool,
    pub id: &'a str,
    pub branch: &'a str,
    pub worktree: &'a Path,
    pub status: SessionStatus,
    pub issue: Option<&'a str>,
    pub warnings: &'a [String],
    /// The agent's run, when it was started too.
    pub run: Option<&'a crate::ops::runs::RunView>,
}

impl<'a> Launch<'a> {
    pub fn new(launched: &'a Launched, mode: Mode) -> Self {
        let s = &launched.session;
        Launch {
            dry_run: mode == Mode::DryRun,
            resumed: launched.resumed,
            recreated_worktree: launched.recreated_worktree,
            id: &s.id,
            branch: &s.branch,
            worktree: &launched.worktree,
            status: s.status,
            issue: s.issue.as_deref(),
            warnings: &launched.warnings,
            run: launched.run.as_ref(),
        }
    }
}

/// A session's status changed (close, reactivate), or was already as asked.
#[derive(Debug, Serialize)]
pub struct SessionChange<'a> {
    pub dry_run: bool,
    pub changed: bool,
    /// The commit message of the change.
    pub message: Option<&'a str>,
    pub id: &'a str,
    pub status: SessionStatus,
    pub previous_status: SessionStatus,
    pub issue: Option<&'a str>,
    pub warnings: &'a [String],
}

impl<'a> SessionChange<'a> {
    pub fn new(changed: &'a Changed, mode: Mode) -> Self {
        let s = &changed.after;
        SessionChange {
            dry_run: mode == Mode::DryRun,
            changed: changed.written,
            message: changed.written.then_some(changed.message.as_str()),
            id: &s.id,
            status: s.status,
            previous_status: changed.before.status,
            issue: s.issue.as_deref(),
            warnings: &changed.warnings,
        }
    }
}

/// A session purged, with what went with it.
#[derive(Debug, Serialize)]
pub struct Purge<'a> {
    pub dry_run: bool,
    pub id: &'a str,
    pub removed_worktree: Option<&'a Path>,
    pub deleted_branch: Option<&'a str>,
    pub warnings: &'a [String],
}

impl<'a> Purge<'a> {
    pub fn new(purged: &'a Purged, mode: Mode) -> Self {
        Purge {
            dry_run: mode == Mode::DryRun,
            id: &purged.session.id,
            removed_worktree: purged.removed_worktree.as_deref(),
            deleted_branch: purged.deleted_branch.as_deref(),
            warnings: &purged.warnings,
        }
    }
}

/// What `reconcile` did (in a dry run: would do).
#[derive(Debug, Serialize)]
pub struct Reconcile<'a> {
    pub dry_run: bool,
    pub abandoned: Vec<&'a str>,
    pub pruned: &'a [PathBuf],
    pub repaired: Vec<RepairedJson<'a>>,
    pub handed_off: Vec<HandedOffJson<'a>>,
    pub warnings: &'a [String],
}

#[derive(Debug, Serialize)]
pub struct RepairedJson<'a> {
    pub issue: &'a str,
    pub from: IssueStatus,
    pub to: IssueStatus,
    pub session: &'a str,
}

#[derive(Debug, Serialize)]
pub struct HandedOffJson<'a> {
    pub id: &'a str,
    pub owner: &'a str,
    pub worktree: &'a Path,
    pub removed: bool,
    pub kept_because: Option<&'a str>,
}

impl<'a> Reconcile<'a> {
    pub fn new(report: &'a Reconciled, mode: Mode) -> Self {
        Reconcile {
            dry_run: mode == Mode::DryRun,
            abandoned: report.abandoned.iter().map(|s| s.id.as_str()).collect(),
            pruned: &report.pruned,
            repaired: report
                .repaired
                .iter()
                .map(|r| RepairedJson {
                    issue: &r.issue,
                    from: r.from,
                    to: r.to,
                    session: &r.session,
                })
                .collect(),
            handed_off: report
                .handed_off
                .iter()
                .map(|h| HandedOffJson {
                    id: &h.session,
                    owner: &h.owner,
                    worktree: &h.worktree,
                    removed: h.removed,
                    kept_because: h.kept_because.as_deref(),
                })
                .collect(),
            warnings: &report.warnings,
        }
    }
}

/// The prompt a session's agent was given.
#[derive(Debug, Serialize)]
pub struct SessionPrompt<'a> {
    pub id: &'a str,
    pub prompt: &'a str,
    /// The instructions the agent was last started with (the issue, how to finish, its role,
    /// the context and instructions the asker added), exactly as given.
    pub system_prompt: Option<&'a str>,
    /// The input the agent's last run began with (the prompt, as a launcher shaped it).
    pub input: Option<&'a str>,
}

/// The settings a session was launched with.
#[derive(Debug, Serialize)]
pub struct SessionConfig<'a> {
    pub id: &'a str,
    /// What the agent's last run here was really started with: program, arguments, prompt,
    /// and the launcher, model, tools, names of environment variables, instructions, actor
    /// and context it was given.
    pub started_with: Option<&'a crate::runtime::supervisor::Start>,
    pub issue: Option<&'a str>,
    pub branch: &'a str,
    pub base: &'a str,
    pub base_ref: &'a str,
    pub agent: &'a str,
    pub role: &'a str,
    pub prompt: &'a str,
}

impl<'a> SessionConfig<'a> {
    pub fn new(
        s: &'a Session,
        started_with: Option<&'a crate::runtime::supervisor::Start>,
    ) -> Self {
        SessionConfig {
            id: &s.id,
            started_with,
            issue: s.issue.as_deref(),
            branch: &s.branch,
            base: &s.base,
            base_ref: &s.base_ref,
            agent: &s.agent,
            role: &s.role,
            prompt: &s.prompt,
        }
    }
}

/// A session's agent run (started, stopped, restarted).
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    pub id: &'a str,
    pub run: &'a crate::ops::runs::RunView,
}

/// Input sent to an agent, or a new turn started with it.
#[derive(Debug, Serialize)]
pub struct RunSent<'a> {
    pub id: &'a str,
    /// No agent was running: a new turn was started with the text.
    pub started: bool,
    pub run: &'a crate::ops::runs::RunView,
}

/// The events of a session's runs, and where to go on from.
#[derive(Debug, Serialize)]
pub struct RunEvents<'a> {
    pub id: &'a str,
    pub events: &'a [crate::runtime::events::Event],
    pub next_seq: u64,
}

/// The turns of a session's agent kept in git, oldest first.
#[derive(Debug, Serialize)]
pub struct Transcript<'a> {
    pub id: &'a str,
    pub turns: &'a [crate::model::transcript::Turn],
}

/// A finished session brought back, and its agent's new run (when it was started).
#[derive(Debug, Serialize)]
pub struct Restarted<'a> {
    #[serde(flatten)]
    pub change: SessionChange<'a>,
    pub run: Option<&'a crate::ops::runs::RunView>,
}
