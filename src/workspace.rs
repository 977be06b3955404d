//! The workspace: one repository as every operation sees it. It is opened once per command
//! (or once per server) and handed to each operation, so that the repository, its
//! configuration, this clone's local data and id are read once, and the rules that depend on
//! them ("this clone owns the session") are written once, here.

use crate::config::Config;
use crate::error::Result;
use crate::model::{Session, Timestamp};
use crate::store::local::LocalData;
use crate::store::{Mode, Store};
use std::cell::{OnceCell, RefCell};
use std::path::{Path, PathBuf};

/// Where the time of each change comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system clock.
    System,
    /// Always this time (in-process tests).
    Fixed(Timestamp),
}

/// What a front end hears while a session's worktree is provisioned: a hook command starting,
/// each line it writes, and what was done besides (files copied). Text from hooks is the
/// commands' own: front ends sanitise it before showing it.
pub enum HookNote<'a> {
    /// A command of `hook` (`setup`, `teardown`) starts.
    Started { hook: &'a str, command: &'a str },
    /// A line the command wrote (its stdout and stderr together).
    Output { hook: &'a str, text: &'a str },
    /// A step done besides the commands, in words.
    Done { text: &'a str },
}

/// Who hears [`HookNote`]s.
pub type HookListener = std::sync::Arc<dyn Fn(HookNote<'_>) + Send + Sync>;

/// How worktree hooks run for the operations of a workspace.
#[derive(Clone, Default)]
struct HookSettings {
    /// The `setup` and `teardown` commands are not run (`--no-hooks`).
    skip: bool,
    listener: Option<HookListener>,
}

/// An opened repository with what operations read from it more than once.
pub struct Workspace {
    store: Store,
    local: LocalData,
    clock: Clock,
    /// Read on first use: a command that needs neither never fails on them.
    main: OnceCell<PathBuf>,
    config: OnceCell<Config>,
    /// This clone's id, once read (`Some(None)`: the clone has none yet).
    clone_id: RefCell<Option<Option<String>>>,
    hooks: RefCell<HookSettings>,
    /// Whether records written through this workspace start a background sync (with
    /// `[sync] auto`) once it is dropped or [`Workspace::share_writes`] is called.
    share: std::cell::Cell<bool>,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        self.share_writes();
    }
}

impl Workspace {
    /// Open the repository that contains `dir` (any subdirectory, any worktree).
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Self::with_store(Store::open(dir)?))
    }

    /// A workspace over an opened store.
    pub fn with_store(store: Store) -> Self {
        let local = LocalData::new(store.repo());
        Workspace {
            store,
            local,
            clock: Clock::System,
            main: OnceCell::new(),
            config: OnceCell::new(),
            clone_id: RefCell::new(None),
            hooks: RefCell::new(HookSettings::default()),
            share: std::cell::Cell::new(false),
        }
    }

    /// Have records written through this workspace start a background sync (with
    /// `[sync] auto`), or not: front ends that run a user's commands turn it on.
    pub fn share_automatically(&self, on: bool) {
        self.share.set(on);
    }

    /// With `[sync] auto` and sharing turned on: start a background sync if records were
    /// written since the last call (or the last automatic sync failed). Never waits or fails.
    pub fn share_writes(&self) {
        if self.share.get() {
            crate::ops::sync::auto::after_writes(self);
        }
    }

    /// This workspace with its time taken from `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Forget what was read once (configuration, clone id): a long-running front end calls
    /// this before each request, so that it sees edits made since.
    pub fn refresh(&mut self) {
        self.config = OnceCell::new();
        self.clone_id = RefCell::new(None);
        self.hooks.get_mut().skip = false;
    }

    /// Skip the worktree hooks' commands (`setup`, `teardown`) in the operations to come, or run
    /// them again. Files are still copied.
    pub fn skip_hooks(&self, skip: bool) {
        self.hooks.borrow_mut().skip = skip;
    }

    /// Whether the worktree hooks' commands are skipped.
    pub fn hooks_skipped(&self) -> bool {
        self.hooks.borrow().skip
    }

    /// Hear what worktree hooks do while they run (the CLI shows it on the terminal).
    pub fn hear_hooks(&self, listener: HookListener) {
        self.hooks.borrow_mut().listener = Some(listener);
    }

    /// Tell whoever listens what a worktree hook does.
    pub fn tell_hooks(&self, note: HookNote<'_>) {
        let listener = self.hooks.borrow().listener.clone();
        if let Some(listener) = listener {
            listener(note);
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn repo(&self) -> &gix::Repository {
        self.store.repo()
    }

    /// This clone's own data in `.git/pm/`.
    pub fn local(&self) -> &LocalData {
        &self.local
    }

    /// The time now, as every change made through this workspace records it.
    pub fn now(&self) -> Timestamp {
        match self.clock {
            Clock::System => Timestamp::now(),
            Clock::Fixed(at) => at,
        }
    }

    /// The main worktree's folder.
    pub fn main_workdir(&self) -> Result<&Path> {
        if let Some(main) = self.main.get() {
            return Ok(main);
        }
        let main = crate::git::worktree::main_workdir(self.repo())?;
        Ok(self.main.get_or_init(|| main))
    }

    /// The configuration (user file, then the repository's `.pm.toml`).
    pub fn config(&self) -> Result<&Config> {
        if let Some(config) = self.config.get() {
            return Ok(config);
        }
        let config = Config::load(self.main_workdir()?)?;
        Ok(self.config.get_or_init(|| config))
    }

    /// The remote named by a request, else the configured one (`origin` unless set).
    pub fn remote_or_default(&self, named: Option<&str>) -> Result<String> {
        match named {
            Some(remote) => Ok(remote.to_string()),
            None => Ok(self.config()?.remote.clone()),
        }
    }

    /// This clone's id, if it has one yet.
    pub fn clone_id(&self) -> Option<String> {
        self.clone_id
            .borrow_mut()
            .get_or_insert_with(|| self.local.clone_id())
            .clone()
    }

    /// This clone's id, made now if it has none (in a dry run: the empty id, nothing made).
    pub fn own_id(&self, mode: Mode) -> Result<String> {
        if let Some(id) = self.clone_id() {
            return Ok(id);
        }
        if mode == Mode::DryRun {
            return Ok(String::new());
        }
        let id = self.local.ensure_clone_id()?;
        *self.clone_id.borrow_mut() = Some(Some(id.clone()));
        Ok(id)
    }

    /// Whether this clone owns `session` (launched it or took it over last).
    pub fn owns(&self, session: &Session) -> bool {
        self.is_me(&session.owner)
    }

    /// Whether `owner` (a clone id from a record) is this clone. Cheap enough for every row of
    /// a long listing: the id is read once and compared in place.
    pub fn is_me(&self, owner: &str) -> bool {
        self.clone_id
            .borrow_mut()
            .get_or_insert_with(|| self.local.clone_id())
            .as_deref()
            == Some(owner)
    }
}
