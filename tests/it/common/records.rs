//! Records of both kinds crafted by hand with git plumbing (blob, tree, commit, ref), and read
//! back with git: the fixture writes what pm must accept, and witnesses what pm wrote.

use super::Repo;
use std::path::Path;

/// The two kinds of record: where their refs live and the file their commits hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Issue,
    Session,
}

impl Kind {
    /// The folder under `refs/pm/`: `issues` or `sessions`.
    pub fn folder(self) -> &'static str {
        match self {
            Kind::Issue => "issues",
            Kind::Session => "sessions",
        }
    }

    /// The one file of a record's tree: `issue.toml` or `session.toml`.
    pub fn file(self) -> &'static str {
        match self {
            Kind::Issue => "issue.toml",
            Kind::Session => "session.toml",
        }
    }

    /// `refs/pm/<folder>/<id>`.
    pub fn ref_name(self, id: &str) -> String {
        format!("refs/pm/{}/{id}", self.folder())
    }
}

impl Repo {
    /// Write `text` as a blob; returns its id.
    pub fn write_blob(&self, text: &str) -> String {
        self.git_stdin(&["hash-object", "-w", "--stdin"], text.as_bytes())
            .trim()
            .to_string()
    }

    /// Build a record commit by hand (blob, tree holding the kind's file, commit) without any
    /// ref; returns the commit id.
    pub fn craft_commit(
        &self,
        kind: Kind,
        text: &str,
        message: &str,
        parent: Option<&str>,
    ) -> String {
        self.craft_commit_dated(kind, text, message, parent, None)
    }

    /// [`Repo::craft_commit`] with both dates set to `date` (git's format), if given.
    pub fn craft_commit_dated(
        &self,
        kind: Kind,
        text: &str,
        message: &str,
        parent: Option<&str>,
        date: Option<&str>,
    ) -> String {
        let blob = self.write_blob(text);
        let tree = self
            .git_stdin(
                &["mktree"],
                format!("100644 blob {blob}\t{}\n", kind.file()).as_bytes(),
            )
            .trim()
            .to_string();
        let mut cmd = self.git_command(self.path());
        cmd.args(["commit-tree", "-m", message]);
        if let Some(parent) = parent {
            cmd.args(["-p", parent]);
        }
        cmd.arg(&tree);
        if let Some(date) = date {
            cmd.env("GIT_AUTHOR_DATE", date)
                .env("GIT_COMMITTER_DATE", date);
        }
        let out = cmd.output().expect("git commit-tree runs");
        assert!(out.status.success(), "commit-tree failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Store `text` as a new record `<kind>/<id>` (the ref must not exist); returns the commit.
    pub fn craft_record(&self, kind: Kind, id: &str, text: &str, message: &str) -> String {
        let commit = self.craft_commit(kind, text, message, None);
        self.git(&["update-ref", &kind.ref_name(id), &commit, ""]);
        commit
    }

    /// Commit `text` on top of the record's tip and move its ref there, as long as it still
    /// points at that tip; returns the new commit.
    pub fn craft_update(&self, kind: Kind, id: &str, text: &str, message: &str) -> String {
        let tip = self.tip_of(kind, id);
        let commit = self.craft_commit(kind, text, message, Some(&tip));
        self.git(&["update-ref", &kind.ref_name(id), &commit, &tip]);
        commit
    }

    /// Store many new records of one kind at once with `git fast-import`, each one commit
    /// (committer `a <a@x>`, 2020-01-02, message `launch`); `records` holds ids and texts.
    pub fn import_records(&self, kind: Kind, records: &[(String, String)]) {
        let mut stream = String::new();
        for (id, text) in records {
            stream.push_str(&format!(
                "commit {}\ncommitter a <a@x> 1577934245 +0000\ndata 6\nlaunch\n\
                 M 100644 inline {}\ndata {}\n{text}\n",
                kind.ref_name(id),
                kind.file(),
                text.len()
            ));
        }
        self.git_stdin(&["fast-import", "--quiet"], stream.as_bytes());
    }

    /// The ids of all records of `kind`, in ref order.
    pub fn record_ids(&self, kind: Kind) -> Vec<String> {
        let prefix = format!("refs/pm/{}/", kind.folder());
        self.git(&["for-each-ref", "--format=%(refname:lstrip=3)", &prefix])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The commit the record's ref points at.
    pub fn tip_of(&self, kind: Kind, id: &str) -> String {
        self.git(&["rev-parse", "--verify", &kind.ref_name(id)])
            .trim()
            .to_string()
    }

    /// `git rev-list --count` of the record's ref.
    pub fn commit_count_of(&self, kind: Kind, id: &str) -> usize {
        self.git(&["rev-list", "--count", &kind.ref_name(id)])
            .trim()
            .parse()
            .expect("rev-list --count prints a number")
    }

    /// `git show refs/pm/<kind>/<id>:<file>`.
    pub fn record_text_of(&self, kind: Kind, id: &str) -> String {
        self.git(&["show", &format!("{}:{}", kind.ref_name(id), kind.file())])
    }

    /// The record at the tip, parsed by the `toml` crate (not by pm).
    pub fn record_of(&self, kind: Kind, id: &str) -> toml::Table {
        let text = self.record_text_of(kind, id);
        text.parse()
            .unwrap_or_else(|e| panic!("{} of {id} is not TOML ({e}):\n{text}", kind.file()))
    }

    /// The record's `status` at the tip, as stored (read with git, not with pm).
    pub fn status_of(&self, kind: Kind, id: &str) -> String {
        self.record_of(kind, id)["status"]
            .as_str()
            .expect("status is a string")
            .to_string()
    }

    // Issues are the common case: short names.

    /// The ids of all refs under `refs/pm/issues/`, in ref order.
    pub fn ref_ids(&self) -> Vec<String> {
        self.record_ids(Kind::Issue)
    }

    /// The commit `refs/pm/issues/<id>` points at.
    pub fn tip(&self, id: &str) -> String {
        self.tip_of(Kind::Issue, id)
    }

    /// `git rev-list --count refs/pm/issues/<id>`.
    pub fn commit_count(&self, id: &str) -> usize {
        self.commit_count_of(Kind::Issue, id)
    }

    /// `git show refs/pm/issues/<id>:issue.toml`.
    pub fn record_text(&self, id: &str) -> String {
        self.record_text_of(Kind::Issue, id)
    }

    /// The issue record at the tip, parsed by the `toml` crate (not by pm).
    pub fn record(&self, id: &str) -> toml::Table {
        self.record_of(Kind::Issue, id)
    }
}

/// Give `packed-refs` and every loose ref under `folders` (relative to `git_dir`) one fixed
/// old time, so that pm trusts their times; a file aged twice keeps its time, as a file
/// nobody touched does.
pub fn age_ref_files(git_dir: &Path, folders: &[&str]) {
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    let mut stack: Vec<_> = folders.iter().map(|f| git_dir.join(f)).collect();
    stack.push(git_dir.join("packed-refs"));
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read refs") {
                stack.push(entry.expect("entry").path());
            }
        } else if path.is_file() {
            let file = std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open ref file");
            file.set_modified(long_ago).expect("set time");
        }
    }
}
