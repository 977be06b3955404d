//! Property test of the sync merge: random edits on 3-5 replicas, random syncs through a
//! shared remote, random direct merges between replicas and random archiving (of every
//! finished record, into archive refs); after a final round of syncs every replica holds
//! identical ref tips and records (archived or live), and nothing anyone wrote is lost.
//!
//! Replicas are real repositories whose `.git/objects` is one shared folder (so they see each
//! other's commits without a transport); each has its own refs. The remote is a map of tips
//! that, like a git server without force, accepts a push only when it is a fast-forward. The
//! merge itself is pm's own (`Store::integrate`, `integrate_archive`, `settle_archived`), and
//! the remote drops a record ref its archive holds, as `pm sync` has it do (see
//! `docs/archive.md`), so what is tested is what `pm sync` runs.

use pm::lifecycle::SessionEvent;
use pm::model::issue::NewIssue;
use pm::model::{Issue, IssueStatus, IssueType, Priority, Session, SessionStatus, Timestamp};
use pm::store::archive::Shelf;
use pm::store::{Integrated, Mode, Store};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Tips = BTreeMap<String, gix::ObjectId>;

#[derive(Debug, Clone)]
enum Op {
    NewIssue(usize),
    Title(usize, usize, u8),
    Priority(usize, usize, u8),
    Tag(usize, usize),
    IssueStatus(usize, usize, u8),
    NewSession(usize),
    Event(usize, usize, u8),
    Prompt(usize, usize, u8),
    Purge(usize, usize),
    TakeOver(usize, usize),
    Sync(usize),
    Peer(usize, usize),
    Archive(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0..5usize;
    let pick = 0..8usize;
    prop_oneof![
        1 => r.clone().prop_map(Op::NewIssue),
        2 => (r.clone(), pick.clone(), any::<u8>()).prop_map(|(a, b, c)| Op::Title(a, b, c)),
        1 => (r.clone(), pick.clone(), any::<u8>()).prop_map(|(a, b, c)| Op::Priority(a, b, c)),
        2 => (r.clone(), pick.clone()).prop_map(|(a, b)| Op::Tag(a, b)),
        1 => (r.clone(), pick.clone(), any::<u8>()).prop_map(|(a, b, c)| Op::IssueStatus(a, b, c)),
        1 => r.clone().prop_map(Op::NewSession),
        3 => (r.clone(), pick.clone(), any::<u8>()).prop_map(|(a, b, c)| Op::Event(a, b, c)),
        1 => (r.clone(), pick.clone(), any::<u8>()).prop_map(|(a, b, c)| Op::Prompt(a, b, c)),
        1 => (r.clone(), pick.clone()).prop_map(|(a, b)| Op::Purge(a, b)),
        1 => (r.clone(), pick.clone()).prop_map(|(a, b)| Op::TakeOver(a, b)),
        3 => r.clone().prop_map(Op::Sync),
        1 => (r.clone(), r.clone()).prop_map(|(a, b)| Op::Peer(a, b)),
        3 => r.prop_map(Op::Archive),
    ]
}

struct World {
    _dir: tempfile::TempDir,
    replicas: Vec<Store>,
    remote: Tips,
    clock: i64,
    tags_added: BTreeMap<String, BTreeSet<String>>,
    purged: BTreeSet<String>,
    next_tag: usize,
}

/// The smallest repository git accepts, with its object folder shared.
fn make_replica(root: &Path, shared_objects: &Path, n: usize) -> Store {
    let path = root.join(format!("r{n}"));
    let git = path.join(".git");
    std::fs::create_dir_all(git.join("refs/heads")).expect("refs");
    std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").expect("HEAD");
    std::fs::write(
        git.join("config"),
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n",
    )
    .expect("config");
    std::os::unix::fs::symlink(shared_objects, git.join("objects")).expect("link objects");
    Store::open(&path).expect("open replica")
}

impl World {
    fn new(replicas: usize) -> Self {
        // Hundreds of small repositories are made and dropped: a memory file system, where
        // there is one, spares the disk's inode churn.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("tempdir");
        let shared = dir.path().join("objects");
        std::fs::create_dir_all(shared.join("info")).expect("objects");
        std::fs::create_dir_all(shared.join("pack")).expect("objects");
        let stores = (0..replicas)
            .map(|n| make_replica(dir.path(), &shared, n))
            .collect();
        World {
            _dir: dir,
            replicas: stores,
            remote: Tips::new(),
            clock: 1_800_000_000,
            tags_added: BTreeMap::new(),
            purged: BTreeSet::new(),
            next_tag: 0,
        }
    }

    /// Each replica's clock runs a little differently, as real machines' do.
    fn now(&mut self, replica: usize) -> Timestamp {
        self.clock += 7;
        Timestamp(self.clock + (replica as i64 % 3) * 5 - 5)
    }

    fn pick<T: pm::model::Record>(&self, r: usize, pick: usize) -> Option<String> {
        let ids = self.replicas[r].ids(T::KIND).expect("ids");
        (!ids.is_empty()).then(|| ids[pick % ids.len()].clone())
    }

    fn edit_issue(&mut self, r: usize, pick: usize, change: impl FnMut(&mut Issue)) {
        let Some(id) = self.pick::<Issue>(r, pick) else {
            return;
        };
        let now = self.now(r);
        let mut change = change;
        self.replicas[r]
            .update::<Issue>(&id, Mode::Write, now, |issue| {
                change(issue);
                issue.updated = now;
                Ok(Some("update".into()))
            })
            .expect("update issue");
    }

    fn edit_session(&mut self, r: usize, pick: usize, change: impl FnMut(&mut Session) -> bool) {
        let Some(id) = self.pick::<Session>(r, pick) else {
            return;
        };
        let now = self.now(r);
        let mut change = change;
        self.replicas[r]
            .update::<Session>(&id, Mode::Write, now, |s| {
                if s.purged.is_some() || !change(s) {
                    return Ok(None);
                }
                s.updated = now;
                Ok(Some("update".into()))
            })
            .expect("update session");
    }

    fn apply(&mut self, op: &Op) {
        let n = self.replicas.len();
        match *op {
            Op::NewIssue(r) => {
                let r = r % n;
                let now = self.now(r);
                let new = NewIssue {
                    title: format!("issue from r{r}"),
                    description: String::new(),
                    body: String::new(),
                    priority: Priority::Medium,
                    kind: IssueType::Feature,
                    tags: Vec::new(),
                };
                let issue = Issue::new(pm::model::new_id(), new, now).expect("issue");
                self.replicas[r]
                    .create(&issue, "create", now)
                    .expect("create issue");
            }
            Op::Title(r, pick, t) => self.edit_issue(r % n, pick, |i| i.title = format!("t{t}")),
            Op::Priority(r, pick, p) => self.edit_issue(r % n, pick, |i| {
                i.priority = [Priority::Low, Priority::Medium, Priority::High][p as usize % 3]
            }),
            Op::Tag(r, pick) => {
                let r = r % n;
                let Some(id) = self.pick::<Issue>(r, pick) else {
                    return;
                };
                self.next_tag += 1;
                let tag = format!("tag{}", self.next_tag);
                self.tags_added
                    .entry(id.clone())
                    .or_default()
                    .insert(tag.clone());
                let now = self.now(r);
                self.replicas[r]
                    .update::<Issue>(&id, Mode::Write, now, |issue| {
                        issue.tags.push(tag.clone());
                        issue.updated = now;
                        Ok(Some("tag".into()))
                    })
                    .expect("tag");
            }
            Op::IssueStatus(r, pick, s) => {
                let status = [
                    IssueStatus::Open,
                    IssueStatus::InProgress,
                    IssueStatus::Done,
                    IssueStatus::Closed,
                ][s as usize % 4];
                let now = self.now(r % n);
                self.edit_issue(r % n, pick, |i| i.set_status(status, now));
            }
            Op::NewSession(r) => {
                let r = r % n;
                let now = self.now(r);
                let id = pm::model::new_id();
                let session = Session {
                    schema: pm::model::SCHEMA_VERSION,
                    id: id.clone(),
                    issue: None,
                    branch: format!("feature/{}", id.to_lowercase()),
                    base: "0".repeat(40),
                    base_ref: "main".into(),
                    status: SessionStatus::Active,
                    agent: "agent".into(),
                    role: String::new(),
                    prompt: String::new(),
                    actor: String::new(),
                    owner: format!("replica{r}"),
                    started: now,
                    updated: now,
                    ended: None,
                    epoch: 0,
                    commits: 0,
                    purged: None,
                    unknown: toml::Table::new(),
                };
                self.replicas[r]
                    .create(&session, "launch", now)
                    .expect("create session");
            }
            Op::Event(r, pick, e) => {
                let event = [
                    SessionEvent::Close,
                    SessionEvent::Complete,
                    SessionEvent::Abandon,
                    SessionEvent::Resume,
                    SessionEvent::Reactivate,
                    SessionEvent::WorktreeGone,
                ][e as usize % 6];
                let now = self.now(r % n);
                self.edit_session(r % n, pick, |s| {
                    match pm::lifecycle::apply(s, event, now, None) {
                        Ok(Some(transition)) if transition.changed => {
                            s.commits += 1;
                            true
                        }
                        _ => false,
                    }
                });
            }
            Op::Prompt(r, pick, t) => self.edit_session(r % n, pick, |s| {
                s.prompt = format!("prompt {t}");
                true
            }),
            Op::Purge(r, pick) => {
                let r = r % n;
                if let Some(id) = self.pick::<Session>(r, pick) {
                    let now = self.now(r);
                    self.purged.insert(id.clone());
                    self.replicas[r]
                        .update::<Session>(&id, Mode::Write, now, |s| {
                            Ok(pm::lifecycle::purge(s, now))
                        })
                        .expect("purge");
                }
            }
            Op::TakeOver(r, pick) => {
                let owner = format!("replica{}", r % n);
                let now = self.now(r % n);
                self.edit_session(r % n, pick, |s| {
                    s.owner != owner
                        && matches!(
                            pm::lifecycle::apply(s, SessionEvent::TakeOver, now, Some(&owner)),
                            Ok(Some(transition)) if transition.changed
                        )
                });
            }
            Op::Sync(r) => self.sync(r % n),
            Op::Archive(r) => {
                self.replicas[r % n]
                    .archive(Timestamp(i64::MAX), Mode::Write)
                    .expect("archive");
            }
            Op::Peer(a, b) => {
                let (a, b) = (a % n, b % n);
                let theirs = tips(&self.replicas[b]);
                integrate_all(&self.replicas[a], &theirs);
            }
        }
    }

    /// Fetch and merge everything of the remote, then push; a push that is not a
    /// fast-forward is rejected and leads to another round, as with a git server.
    fn sync(&mut self, r: usize) {
        for _ in 0..10 {
            integrate_all(&self.replicas[r], &self.remote);
            self.replicas[r].settle_archived().expect("settle");
            let ours = tips(&self.replicas[r]);
            let repo = self.replicas[r].repo();
            let mut rejected = false;
            for (name, tip) in ours {
                match self.remote.get(&name) {
                    Some(remote) if *remote == tip => {}
                    Some(remote) => {
                        let base = repo.merge_base(tip, *remote).expect("merge base");
                        if base.map(|b| b.detach()) == Some(*remote) {
                            self.remote.insert(name, tip);
                        } else {
                            rejected = true;
                        }
                    }
                    None => {
                        self.remote.insert(name, tip);
                    }
                }
            }
            self.remove_archived(r);
            if !rejected {
                return;
            }
        }
        panic!("replica {r} could not push after 10 rounds");
    }

    /// Drop from the remote each record ref its own archive holds that replica `r` has no live
    /// ref of (a live one there is later, and was pushed instead).
    fn remove_archived(&mut self, r: usize) {
        let store = &self.replicas[r];
        let ours = tips(store);
        let mut archived: BTreeMap<String, gix::ObjectId> = BTreeMap::new();
        for (name, tip) in &self.remote {
            let Some(rest) = name.strip_prefix("refs/pm/archive/") else {
                continue;
            };
            let (folder, month) = rest.split_once('/').expect("archive ref name");
            for (id, at) in store
                .archive_tips(*tip, Some(month))
                .expect("remote archive")
            {
                archived.insert(format!("refs/pm/{folder}/{id}"), at);
            }
        }
        let doomed: Vec<String> = self
            .remote
            .iter()
            .filter(|(name, _)| !name.starts_with("refs/pm/archive/") && !ours.contains_key(*name))
            .filter(|(name, tip)| {
                archived
                    .get(*name)
                    .is_some_and(|kept| store.covers(*kept, **tip).expect("covers"))
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in doomed {
            self.remote.remove(&name);
        }
    }
}

/// The tips of all records of a replica, by ref name.
fn tips(store: &Store) -> Tips {
    let platform = store.repo().references().expect("refs");
    platform
        .prefixed("refs/pm/")
        .expect("prefixed")
        .map(|r| {
            let r = r.expect("ref");
            (
                r.name().as_bstr().to_string(),
                r.target().try_id().expect("direct").to_owned(),
            )
        })
        .collect()
}

fn integrate_all(store: &Store, theirs: &Tips) {
    let ours = tips(store);
    for (name, tip) in theirs {
        if ours.get(name) == Some(tip) {
            continue;
        }
        let outcome = if let Some(rest) = name.strip_prefix("refs/pm/archive/") {
            let (folder, month) = rest.split_once('/').expect("archive ref name");
            let shelf = Shelf::from_folder(folder).expect("a shelf");
            store.integrate_archive(shelf, month, *tip, Mode::Write)
        } else if let Some(id) = name.strip_prefix("refs/pm/issues/") {
            store.integrate::<Issue>(id, *tip, Mode::Write)
        } else if let Some(id) = name.strip_prefix("refs/pm/sessions/") {
            store.integrate::<Session>(id, *tip, Mode::Write)
        } else {
            panic!("unexpected ref {name}")
        };
        let outcome = outcome.expect("integrate");

        assert!(
            !matches!(outcome, Integrated::Rejected(_)),
            "{name}: {outcome:?}"
        );
    }
}

fn records(store: &Store) -> (Vec<Issue>, Vec<Session>) {
    let issues = store.list::<Issue>().expect("issues");
    let sessions = store.list::<Session>().expect("sessions");
    assert!(issues.broken.is_empty() && sessions.broken.is_empty());
    (
        issues.records.into_iter().map(|s| s.record).collect(),
        sessions.records.into_iter().map(|s| s.record).collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_and_lose_nothing(
        replicas in 3..=5usize,
        ops in prop::collection::vec(op(), 1..30),
    ) {
        let mut world = World::new(replicas);
        // A few records every replica has, so that edits meet from the start.
        for op in [Op::NewIssue(0), Op::NewIssue(0), Op::NewSession(0), Op::NewSession(0)] {
            world.apply(&op);
        }
        for r in 0..replicas {
            world.sync(r);
        }
        for op in &ops {
            world.apply(op);
        }
        for _ in 0..2 {
            for r in 0..replicas {
                world.sync(r);
            }
        }
        let first = tips(&world.replicas[0]);
        prop_assert_eq!(&first, &world.remote);
        let (issues, sessions) = records(&world.replicas[0]);
        for r in 1..replicas {
            prop_assert_eq!(&tips(&world.replicas[r]), &first, "replica {} differs", r);
            let (i, s) = records(&world.replicas[r]);
            prop_assert_eq!(&i, &issues);
            prop_assert_eq!(&s, &sessions);
        }
        for issue in &issues {
            let have: BTreeSet<String> = issue.tags.iter().cloned().collect();
            if let Some(added) = world.tags_added.get(&issue.id) {
                prop_assert!(added.is_subset(&have), "lost tags on {}: {:?} vs {:?}", issue.id, added, have);
            }
        }
        for session in &sessions {
            if world.purged.contains(&session.id) {
                prop_assert!(session.purged.is_some(), "purged session {} came back", session.id);
            }
        }
    }
}
