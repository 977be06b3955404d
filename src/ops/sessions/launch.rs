use super::resume::resume;
use super::transition::{back_to_work, cascade_with};
use super::{all_sessions, live_on_issue};
use crate::error::{Error, Operation, Result, Setting};
use crate::git::worktree;
use crate::lifecycle::{self, SessionEvent};
use crate::model::session::branch_from_title;
use crate::model::{SCHEMA_VERSION, Session, SessionStatus, new_id};
use crate::ops::provision::{self, Plan, hold_worktrees, provision};
use crate::store::Mode;
use crate::store::local::{PendingLaunch, host_name};
use crate::workspace::Workspace;
use std::path::PathBuf;

/// What `launch` is asked to do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LaunchRequest {
    pub issue: Option<String>,
    pub branch: Option<String>,
    pub base: Option<String>,
    pub agent: Option<String>,
    pub prompt: String,
    pub role: String,
    /// Launch even when another live session holds the issue.
    pub force: bool,
    /// Who asked for the session, recorded as its actor (default: the git identity).
    pub actor: Option<String>,
}

/// What `launch` did.
#[derive(Debug, Clone)]
pub struct Launched {
    pub session: Session,
    pub worktree: PathBuf,
    /// An idle session on the branch was resumed instead of a new one created.
    pub resumed: bool,
    /// The worktree folder had to be created again.
    pub recreated_worktree: bool,
    pub warnings: Vec<String>,
    /// The agent's run, when it was started with the launch.
    pub run: Option<crate::ops::runs::RunView>,
}

/// Launch an agent session: a new branch and worktree, or the idle session already on the branch.
/// A worktree made (or made again) is provisioned once the worktree mutex is let go.
pub fn launch(ws: &Workspace, request: LaunchRequest, mode: Mode) -> Result<Launched> {
    let launched = launch_held(ws, request, mode)?;
    Ok(provisioned(ws, launched, mode))
}

/// [`launch`] up to its worktree, under the worktree mutex.
fn launch_held(ws: &Workspace, request: LaunchRequest, mode: Mode) -> Result<Launched> {
    crate::model::session::check_launch_text(
        &request.prompt,
        &request.role,
        request.agent.as_deref(),
    )?;
    if let Some(actor) = &request.actor {
        crate::model::session::check_name("actor", actor)?;
    }
    let repo = ws.repo();
    let _main = ws.main_workdir()?;
    let config = ws.config()?;
    let issue = match &request.issue {
        Some(id) => Some(crate::ops::issues::show(ws, id)?),
        None => None,
    };
    let branch = match (&request.branch, &issue) {
        (Some(branch), _) => branch.trim().to_string(),
        (None, Some(issue)) => {
            branch_from_title(&config.branch_prefix, &issue.title).ok_or_else(|| {
                Error::usage(format!(
                    "cannot make a branch name from the title of issue {}",
                    issue.id
                ))
                .hint(Setting::Branch, "")
            })?
        }
        (None, None) => {
            return Err(Error::usage("a launch needs an issue or a branch")
                .hint(Setting::Issue, "")
                .hint(Setting::Branch, ""));
        }
    };
    worktree::check_branch_name(&branch)?;
    // Valid names, but a new branch by them would be mistaken for another ref (git warns of
    // `refname is ambiguous` ever after) or for the remote branch meant.
    if let Some(kind) = ["remotes/", "heads/", "tags/"]
        .into_iter()
        .find(|prefix| branch.starts_with(prefix))
    {
        return Err(Error::usage(format!(
            "branch name {branch:?} starts with {kind:?} and would be mistaken for another ref; \
             give the branch's own name (main, not remotes/origin/main)"
        ))
        .hint(Setting::Branch, ""));
    }
    // From here to the last write, no other pm makes or removes a branch or worktree, so the
    // checks below still hold when the branch and worktree are made.
    let (_mutex, mut warnings) = hold_worktrees(ws, mode)?;
    let (sessions, _) = all_sessions(ws)?;
    if let Some(existing) = sessions.iter().find(|s| s.branch == branch && s.is_live()) {
        if existing.status == SessionStatus::Active {
            return Err(Error::invalid(format!(
                "branch {branch} already has an active session {}",
                existing.id
            )));
        }
        if request.base.is_some() {
            return Err(Error::usage(format!(
                "branch {branch} has idle session {}, which would be resumed; a base does not apply",
                existing.id
            )));
        }
        let mut resumed = resume(ws, existing.clone(), mode)?;
        warnings.append(&mut resumed.warnings);
        resumed.warnings = warnings;
        return Ok(resumed);
    }
    if let Some(issue) = &issue {
        let holders = live_on_issue(&sessions, &issue.id, None);
        lifecycle::check_second_session(&issue.id, &holders, request.force)?;
    }

    let existing_tip = worktree::branch_tip(repo, &branch)?;
    if existing_tip.is_none() && worktree::remote_tracking_tip(repo, &branch)?.is_some() {
        // A local branch named like the remote-tracking one would shadow it.
        let own = branch.split_once('/').map_or(branch.as_str(), |(_, b)| b);
        return Err(Error::usage(format!(
            "{branch} is a remote-tracking branch; name the branch to work on without the \
             remote ({own}): it starts from {branch} and tracks it"
        )));
    }
    let mut tracks = None;
    let (base, base_ref) = match (&request.base, existing_tip) {
        (Some(_), Some(_)) => {
            return Err(Error::usage(format!(
                "branch {branch} already exists; a base applies only to a new branch"
            )));
        }
        (Some(rev), None) => (worktree::resolve_commit(repo, rev)?, rev.clone()),
        (None, None) => match worktree::remote_branch_to_track(repo, &branch, &config.remote)? {
            // Only the remote has the branch: start from it and track it, as git does.
            Some((remote, tip)) => {
                tracks = Some(remote.clone());
                (tip, format!("{remote}/{branch}"))
            }
            None => main_head(repo)?,
        },
        (None, Some(_)) => main_head(repo)?,
    };
    if existing_tip.is_some()
        && let Some(at) = worktree::checked_out_at(repo, &branch)?
    {
        // Most often the worktree of a finished session on the branch: say how to go on.
        let finished = sessions
            .iter()
            .filter(|s| s.branch == branch && !s.is_purged())
            .max_by_key(|s| s.updated);
        let refused = Error::invalid(format!(
            "branch {branch} is already checked out at {}",
            at.display()
        ));
        return Err(match finished {
            Some(s) => Error::invalid(format!(
                "{}; {} session {} used this branch",
                refused.message(),
                s.status.as_str(),
                s.id
            ))
            .step(Operation::Reactivate, &s.id, "resumes it")
            .step(Operation::PurgeWithFiles, &s.id, "removes its worktree"),
            None => refused,
        });
    }
    let path = provision::choose_path(ws, &branch, &sessions)?;
    provision::check_free(&path)?;

    let now = ws.now();
    let mut session = Session {
        schema: SCHEMA_VERSION,
        id: new_id(),
        issue: issue.as_ref().map(|i| i.id.clone()),
        branch: branch.clone(),
        base: base.to_string(),
        base_ref,
        status: SessionStatus::Active,
        agent: request
            .agent
            .clone()
            .unwrap_or_else(|| config.agent.clone()),
        role: request.role.clone(),
        prompt: request.prompt.clone(),
        actor: match &request.actor {
            Some(actor) if !actor.trim().is_empty() => actor.trim().to_string(),
            _ => actor(repo),
        },
        owner: ws.own_id(mode)?,
        started: now,
        updated: now,
        ended: None,
        epoch: 0,
        commits: 0,
        purged: None,
        unknown: toml::Table::new(),
    };
    let message = lifecycle::launch(&mut session, now).message;
    if let Some(tip) = existing_tip {
        warnings.push(format!(
            "branch {branch} already exists (at {}); the session works on it as it is",
            &tip.to_string()[..12]
        ));
    }
    warnings.extend(issue.as_ref().and_then(back_to_work));
    let mut launched = Launched {
        session,
        worktree: path.clone(),
        resumed: false,
        recreated_worktree: false,
        warnings,
        run: None,
    };
    if mode == Mode::DryRun {
        return Ok(launched);
    }

    let plan = Plan {
        id: launched.session.id.clone(),
        pending: PendingLaunch {
            worktree: path.clone(),
            branch: branch.clone(),
            creates_branch: existing_tip.is_none(),
            base: base.to_string(),
            host: host_name(),
        },
        new_branch_from: existing_tip
            .is_none()
            .then(|| launched.session.base_ref.clone()),
    };
    let store = ws.store();
    let (_, warning) = provision(ws, &plan, || store.create(&launched.session, &message, now))?;
    launched.warnings.extend(warning);
    if let Some(remote) = tracks
        && let Err(e) = worktree::set_upstream(repo, &branch, &remote)
    {
        launched.warnings.push(e.to_string());
    }
    let decide =
        |now| lifecycle::issue_cascade(SessionEvent::Launch, SessionStatus::Active, false, now);
    if let Some(warning) = cascade_with(ws, &launched.session, "session launched", mode, decide) {
        launched.warnings.push(warning);
    }
    Ok(launched)
}

/// `launched` with its worktree provisioned (copy, setup) when the operation made it or made it
/// again; the warnings of provisioning join the launch's. The caller no longer holds the
/// worktree mutex.
pub(super) fn provisioned(ws: &Workspace, mut launched: Launched, mode: Mode) -> Launched {
    if mode == Mode::Write && (!launched.resumed || launched.recreated_worktree) {
        let said = provision::prepare(ws, &launched.session, &launched.worktree);
        launched.warnings.extend(said);
    }
    launched
}

/// The commit and name of the main worktree's HEAD.
pub(super) fn main_head(repo: &gix::Repository) -> Result<(gix::ObjectId, String)> {
    let main = repo
        .main_repo()
        .map_err(|e| Error::failed(format!("could not open the main worktree: {e}")))?;
    let id = main
        .head_id()
        .map_err(|_| {
            Error::invalid("the main worktree has no commit yet; commit something first")
                .hint(Setting::Base, "")
        })?
        .detach();
    let name = match main.head_name() {
        Ok(Some(name)) => name.shorten().to_string(),
        _ => id.to_string(),
    };
    Ok((id, name))
}

pub(super) fn actor(repo: &gix::Repository) -> String {
    match crate::store::identity(repo, "committer") {
        Some((name, email)) => format!("{name} <{email}>"),
        None => String::new(),
    }
}

/// A session a launch made earlier, as that launch reported it (for a request repeated with
/// the same idempotency key): nothing is made again.
pub fn launched_before(ws: &Workspace, id: &str) -> Result<Launched> {
    let session = ws.store().read::<Session>(id)?.record;
    if session.is_purged() {
        return Err(Error::invalid(format!(
            "session {id}, made for this request earlier, was purged"
        )));
    }
    let worktree = provision::noted_path(ws, &session)?;
    let run = crate::ops::runs::view(ws, id);
    Ok(Launched {
        warnings: vec![format!(
            "this request was served before: session {id}, as it is now"
        )],
        session,
        worktree,
        resumed: false,
        recreated_worktree: false,
        run: (run.state != crate::runtime::lease::RunState::None).then_some(run),
    })
}
