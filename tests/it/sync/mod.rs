//! Integration tests of `pm sync`, `pm init` and `pm agent resume` over real git: one bare
//! remote and several clones talking to it over `file://`, all in one temporary directory and
//! with the hermetic environment of `common`. Git is the witness: ref tips, `git show` of the
//! records, `git fsck`.

mod archive;
mod auto;
mod convergence;
mod fleet;
mod handoff;
mod hostile;
mod remotes;

use crate::common;
use crate::common::{Kind, Repo, Run, age_ref_files, record_toml};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

// ---- fixture ---------------------------------------------------------------------------

/// A bare remote, `n` clones of it, and the fixture's own repository (`repo/`) as the
/// attacker's scratch space for crafting records by hand.
struct Net {
    repo: Repo,
    remote: PathBuf,
    clones: Vec<PathBuf>,
}

impl Net {
    fn new(n: usize) -> Self {
        let repo = Repo::new();
        let root = repo.root().to_path_buf();
        let remote = root.join("remote.git");
        let remote_s = remote.to_str().expect("UTF-8 path").to_string();
        repo.git_in(&root, &["init", "-q", "--bare", "-b", "main", &remote_s]);
        repo.git(&["push", "-q", &remote_s, "main"]);
        let url = format!("file://{remote_s}");
        let clones = (0..n)
            .map(|i| {
                let path = root.join(format!("c{i}"));
                repo.git_in(&root, &["clone", "-q", &url, path.to_str().unwrap()]);
                path
            })
            .collect();
        Net {
            repo,
            remote,
            clones,
        }
    }

    fn root(&self) -> &Path {
        self.repo.root()
    }

    fn remote_s(&self) -> &str {
        self.remote.to_str().unwrap()
    }

    fn c(&self, i: usize) -> &Path {
        &self.clones[i]
    }

    fn pm(&self, i: usize, args: &[&str]) -> Run {
        self.repo.pm_in(self.c(i), args)
    }

    #[track_caller]
    fn pm_ok(&self, i: usize, args: &[&str]) -> String {
        self.pm(i, args).ok().stdout
    }

    /// `pm --json <args>` in clone `i`; must succeed and print one document.
    #[track_caller]
    fn json(&self, i: usize, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.pm(i, &all).ok().json()
    }

    #[track_caller]
    fn git(&self, i: usize, args: &[&str]) -> String {
        self.repo.git_in(self.c(i), args)
    }

    #[track_caller]
    fn git_remote(&self, args: &[&str]) -> String {
        self.repo.git_in(&self.remote, args)
    }

    /// `pm --json sync` in clone `i`.
    #[track_caller]
    fn sync(&self, i: usize) -> Value {
        self.json(i, &["sync"])
    }

    #[track_caller]
    fn add(&self, i: usize, title: &str, extra: &[&str]) -> String {
        let mut args = vec!["issue", "add", "--title", title];
        args.extend_from_slice(extra);
        common::id_of(&self.json(i, &args))
    }

    #[track_caller]
    fn issue(&self, i: usize, id: &str) -> Value {
        self.json(i, &["issue", "show", id])["issue"].clone()
    }

    fn refs(&self, i: usize) -> String {
        self.git(i, &["for-each-ref", "refs/pm/"])
    }

    fn remote_refs(&self) -> String {
        self.git_remote(&["for-each-ref", "refs/pm/"])
    }

    /// Every ref of clone `i`, with its target.
    fn all_refs(&self, i: usize) -> String {
        self.git(i, &["for-each-ref"])
    }

    fn tip(&self, i: usize, name: &str) -> String {
        self.git(i, &["rev-parse", "--verify", "-q", name])
            .trim()
            .to_string()
    }

    fn has_ref(&self, i: usize, name: &str) -> bool {
        self.repo
            .git_run(self.c(i), &["rev-parse", "--verify", "-q", name], None)
            .success()
    }

    fn session_toml(&self, i: usize, id: &str) -> toml::Table {
        self.git(i, &["show", &format!("refs/pm/sessions/{id}:session.toml")])
            .parse()
            .expect("session.toml is TOML")
    }

    /// `git fsck --strict` of clone `i` (or of the remote with `None`) is clean.
    #[track_caller]
    fn fsck(&self, i: Option<usize>) {
        let dir = i.map_or(self.remote.as_path(), |i| self.c(i));
        let run = self.repo.git_run(
            dir,
            &["fsck", "--strict", "--no-progress", "--no-dangling"],
            None,
        );
        assert!(
            run.success() && run.stdout.trim().is_empty() && run.stderr.trim().is_empty(),
            "git fsck in {} is not clean ({:?}):\n{}{}",
            dir.display(),
            run.code,
            run.stdout,
            run.stderr
        );
    }

    /// Everyone syncs, in order, twice.
    #[track_caller]
    fn sync_all_twice(&self) {
        for _ in 0..2 {
            for i in 0..self.clones.len() {
                self.sync(i);
            }
        }
    }

    /// Every clone shows the remote's `refs/pm/` exactly, and every repository is fsck-clean.
    #[track_caller]
    fn assert_converged(&self) {
        let remote = self.remote_refs();
        assert!(!remote.is_empty());
        for i in 0..self.clones.len() {
            assert_eq!(self.refs(i), remote, "clone {i} differs from the remote");
            self.fsck(Some(i));
        }
        self.fsck(None);
    }

    fn record_title_remote(&self, id: &str) -> String {
        let text = self.git_remote(&["show", &format!("refs/pm/issues/{id}:issue.toml")]);
        let table: toml::Table = text.parse().unwrap();
        table["title"].as_str().unwrap().to_string()
    }

    // ---- the attacker's tools: plumbing in the scratch repository `repo/` ----------------

    /// Fetch the remote's records into the scratch repository, so crafted commits can have
    /// real parents.
    fn scratch_fetch(&self) {
        self.repo
            .git(&["fetch", "-q", self.remote_s(), "+refs/pm/*:refs/pm/*"]);
    }

    fn craft_issue(&self, text: &str, parent: Option<&str>) -> String {
        self.repo.craft_commit(Kind::Issue, text, "crafted", parent)
    }

    fn craft_session(&self, text: &str) -> String {
        self.repo.craft_commit(Kind::Session, text, "crafted", None)
    }

    /// An archive commit crafted in the scratch repository: `tips` as its `tips` file, verbatim,
    /// and `<id>/` the tree of each commit of `records`, on top of `parents` (nothing else is
    /// kept reachable).
    fn craft_archive(&self, tips: &str, records: &[(&str, &str)], parents: &[&str]) -> String {
        let blob = self.repo.write_blob(tips);
        let mut entries = format!("100644 blob {blob}\ttips\n");
        for (id, commit) in records {
            let tree = self.repo.git(&["rev-parse", &format!("{commit}^{{tree}}")]);
            entries.push_str(&format!("040000 tree {}\t{id}\n", tree.trim()));
        }
        let tree = self.repo.git_stdin(&["mktree"], entries.as_bytes());
        let mut args = vec!["commit-tree", tree.trim(), "-m", "archive"];
        for parent in parents {
            args.extend(["-p", parent]);
        }
        self.repo.git(&args).trim().to_string()
    }

    /// The `tips` of archive commit (or ref) `archive` of the remote, as `(id, tip)` lines.
    fn remote_tips(&self, archive: &str) -> Vec<(String, String)> {
        self.git_remote(&["show", &format!("{archive}:tips")])
            .lines()
            .map(|line| {
                let (id, tip) = line.split_once(' ').expect("a tips line");
                (id.to_string(), tip.to_string())
            })
            .collect()
    }

    /// Force `object` into the remote as `name`, with plain git.
    #[track_caller]
    fn plant(&self, object: &str, name: &str) {
        self.repo.git(&[
            "push",
            "-q",
            "-f",
            self.remote_s(),
            &format!("{object}:{name}"),
        ]);
    }
}

/// A complete, valid session record; `fields` replaces or adds `key = value` lines.
fn session_toml(id: &str, fields: &[(&str, &str)]) -> String {
    let mut map: BTreeMap<&str, String> = [
        ("schema", "1"),
        ("branch", "\"feature/crafted\""),
        ("base", "\"0123456789abcdef0123456789abcdef01234567\""),
        ("base_ref", "\"main\""),
        ("status", "\"idle\""),
        ("agent", "\"claude\""),
        ("role", "\"\""),
        ("prompt", "\"\""),
        ("actor", "\"Someone <someone@example.com>\""),
        ("owner", "\"01ARZ3NDEKTSV4RRFFQ69G5FAV\""),
        ("started", "\"2020-01-02T03:04:05Z\""),
        ("updated", "\"2020-01-02T03:04:05Z\""),
        ("epoch", "0"),
        ("commits", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    map.insert("id", format!("\"{id}\""));
    for (k, v) in fields {
        map.insert(k, v.to_string());
    }
    map.iter().map(|(k, v)| format!("{k} = {v}\n")).collect()
}

/// Distinct valid ids for crafted records (time part from 2016, so pm never makes them).
fn crafted_id(n: usize) -> String {
    let tail = format!("{n:06}")
        .chars()
        .map(|c| (b'A' + c.to_digit(10).unwrap() as u8) as char)
        .collect::<String>();
    let id = format!("01ARZ3NDEKTSV4RRFFQ69{}", &tail[1..]);
    assert_eq!(id.len(), 26);
    id
}

/// Paths and sizes of every file and folder under `root`, except git's own folders.
fn tree_outside_git(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read a directory")
            .map(|e| e.expect("a directory entry"))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name();
            if name == ".git" || name == "remote.git" {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                out.insert(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.insert(format!("{rel} {}", meta.len()));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// Every file under `dir` (git's own included) with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a directory") {
            let path = entry.expect("a directory entry").path();
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                out.insert(path.clone(), Vec::new());
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.insert(path, bytes);
            }
        }
    }
    out
}

/// Assert two snapshots are the same, naming the first difference.
#[track_caller]
fn assert_same_files(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) {
    let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<BTreeSet<_>>();
    let (b, a) = (names(before), names(after));
    assert_eq!(
        b.symmetric_difference(&a).next(),
        None,
        "files appeared or disappeared"
    );
    for (path, bytes) in before {
        assert!(after[path] == *bytes, "{} changed", path.display());
    }
}

/// No terminal control characters (ESC, BEL, C1 CSI) in what a command printed. JSON
/// escapes C0 controls but may carry C1 characters verbatim, as JSON allows.
#[track_caller]
fn assert_no_control(run: &Run) {
    let json = run.what.starts_with("pm --json");
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let bad = |c: char| c == '\u{1b}' || c == '\u{7}' || (!json && c == '\u{9b}');
        assert!(
            !text.contains(bad),
            "`{}` printed a control character on {stream}: {text:?}",
            run.what
        );
    }
}

/// The refs named in a sync document's `rejected` list.
fn rejected_refs(doc: &Value) -> BTreeSet<String> {
    doc["rejected"]
        .as_array()
        .expect("rejected is a list")
        .iter()
        .map(|r| r["ref"].as_str().expect("ref is text").to_string())
        .collect()
}

fn spawn_pm(net: &Net, i: usize, args: &[&str]) -> Child {
    net.repo
        .pm_std_command(net.c(i))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pm can be started")
}

fn finish(child: Child, what: &str) -> Run {
    Run::new(
        what.to_string(),
        child.wait_with_output().expect("wait for pm"),
    )
}
