use crate::git::worktree;
use crate::model::{Session, SessionStatus, Timestamp};
use crate::workspace::Workspace;
use std::borrow::Cow;
use std::path::PathBuf;

/// A session with what this clone knows about it locally.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: Session,
    /// The worktree path, if this clone created it.
    pub worktree: Option<PathBuf>,
    pub worktree_exists: bool,
    /// Whether this clone owns the session.
    pub mine: bool,
    /// Commits on the branch that are not on its base (counted now when the branch is here).
    pub commits: u32,
    /// Time, id and subject of the branch's newest commit, when the branch is here.
    pub last_commit: Option<(Timestamp, String, String)>,
    pub last_activity: Timestamp,
    /// What the session's agent does here (`running`, `waiting` for input, `exited`, `dead`),
    /// for the live sessions of this clone that ran one; filled in by `list`.
    pub agent: Option<&'static str>,
}

/// What views of sessions are built from: the repository, its branches, this clone's notes and
/// its id, each read once for all the views.
pub(super) struct Sights<'r> {
    repo: &'r gix::Repository,
    tips: worktree::BranchTips<'r>,
    notes: crate::store::local::Notes<'r>,
    ws: &'r Workspace,
}

impl<'r> Sights<'r> {
    /// For `views` views to come (see [`worktree::BranchTips::expecting`] and
    /// [`LocalData::notes`]).
    pub(super) fn new(ws: &'r Workspace, views: usize) -> Self {
        let repo = ws.repo();
        Sights {
            repo,
            tips: worktree::BranchTips::expecting(repo, views),
            notes: ws.local().notes(views),
            ws,
        }
    }

    /// What this clone knows of a session beyond its record.
    pub(super) fn facts(&self, record: RowOf<'_>) -> Facts {
        let mine = self.ws.is_me(record.owner);
        let worktree = if mine {
            self.notes.session(record.id).map(|l| l.worktree)
        } else {
            None
        };
        let worktree_exists = worktree.as_ref().is_some_and(|p| p.exists());
        let tip = self.tips.tip(record.branch).ok().flatten();
        let mut facts = Facts {
            worktree,
            worktree_exists,
            mine,
            commits: record.commits,
            last_commit: None,
            last_activity: record.updated,
        };
        // Without its branch here (a finished session's branch is usually deleted), the
        // record says all there is.
        let Some(tip) = tip else {
            return facts;
        };
        let base = gix::ObjectId::from_hex(record.base.as_bytes()).ok();
        if let Some(base) = base
            && record.status.is_live()
        {
            facts.commits = worktree::count_commits(self.repo, tip, base).unwrap_or(record.commits);
        }
        // A branch still at its base has no commit of the session's own to show.
        if Some(tip) != base
            && let Ok((time, subject)) = worktree::commit_summary(self.repo, tip)
        {
            if Timestamp(time) > facts.last_activity {
                facts.last_activity = Timestamp(time);
            }
            facts.last_commit = Some((Timestamp(time), tip.to_string(), subject));
        }
        facts
    }
}

/// The fields of a session record that its view depends on.
#[derive(Clone, Copy)]
pub(super) struct RowOf<'a> {
    id: &'a str,
    owner: &'a str,
    branch: &'a str,
    base: &'a str,
    status: SessionStatus,
    commits: u32,
    updated: Timestamp,
}

impl<'a> From<&'a Session> for RowOf<'a> {
    fn from(s: &'a Session) -> Self {
        RowOf {
            id: &s.id,
            owner: &s.owner,
            branch: &s.branch,
            base: &s.base,
            status: s.status,
            commits: s.commits,
            updated: s.updated,
        }
    }
}

impl<'a> From<&'a SessionRow<'_>> for RowOf<'a> {
    fn from(s: &'a SessionRow<'_>) -> Self {
        RowOf {
            id: &s.id,
            owner: &s.owner,
            branch: &s.branch,
            base: &s.base,
            status: s.status,
            commits: s.commits,
            updated: s.updated,
        }
    }
}

/// What this clone knows of a session beyond its record (see [`SessionView`]).
pub(super) struct Facts {
    pub(super) worktree: Option<PathBuf>,
    pub(super) worktree_exists: bool,
    pub(super) mine: bool,
    pub(super) commits: u32,
    pub(super) last_commit: Option<(Timestamp, String, String)>,
    pub(super) last_activity: Timestamp,
}

/// Build the list view of one session.
pub(super) fn view(sights: &Sights<'_>, session: Session) -> SessionView {
    let Facts {
        worktree,
        worktree_exists,
        mine,
        commits,
        last_commit,
        last_activity,
    } = sights.facts(RowOf::from(&session));
    SessionView {
        session,
        worktree,
        worktree_exists,
        mine,
        commits,
        last_commit,
        last_activity,
        agent: None,
    }
}

/// A session record as listings of many sessions read it: its fields borrowed from the text
/// the local cache holds (a string holding an escape is copied), so that many thousands are
/// read without building each one whole.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SessionRow<'t> {
    #[serde(borrow)]
    pub id: Cow<'t, str>,
    #[serde(borrow, default)]
    pub issue: Option<Cow<'t, str>>,
    #[serde(borrow)]
    pub branch: Cow<'t, str>,
    #[serde(borrow)]
    pub base: Cow<'t, str>,
    #[serde(borrow, default)]
    pub base_ref: Cow<'t, str>,
    pub status: SessionStatus,
    #[serde(borrow, default)]
    pub agent: Cow<'t, str>,
    #[serde(borrow, default)]
    pub role: Cow<'t, str>,
    #[serde(borrow, default)]
    pub prompt: Cow<'t, str>,
    #[serde(borrow, default)]
    pub actor: Cow<'t, str>,
    #[serde(borrow)]
    pub owner: Cow<'t, str>,
    pub started: Timestamp,
    pub updated: Timestamp,
    #[serde(default)]
    pub ended: Option<Timestamp>,
    #[serde(default)]
    pub commits: u32,
}

impl SessionRow<'_> {
    /// Seconds from start to end (or to `now` while running), as [`Session::duration`].
    pub fn duration(&self, now: Timestamp) -> i64 {
        self.ended.unwrap_or(now).seconds() - self.started.seconds()
    }
}

/// A session as `history` shows it: its record and what this clone knows of it (the fields
/// of [`SessionView`]).
#[derive(Debug)]
pub struct HistoryView<'r> {
    pub session: &'r SessionRow<'r>,
    pub worktree: Option<PathBuf>,
    pub worktree_exists: bool,
    pub mine: bool,
    pub commits: u32,
    pub last_commit: Option<(Timestamp, String, String)>,
    pub last_activity: Timestamp,
    /// What the session's agent does here, as [`SessionView::agent`] (filled in by `page`).
    pub agent: Option<&'static str>,
}
