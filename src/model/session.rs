//! The session record, its statuses, and the pure naming rules for branches and worktrees.

use super::{Record, RecordKind, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// An agent is working in the worktree.
    Active,
    /// The worktree is kept; nobody is working.
    Idle,
    /// Finished; its issue is done.
    Completed,
    /// Given up (or its worktree vanished); its issue is open again.
    Abandoned,
}

impl super::Choice for SessionStatus {
    const ALL: &'static [Self] = &[Self::Active, Self::Idle, Self::Completed, Self::Abandoned];
    fn as_str(self) -> &'static str {
        SessionStatus::as_str(self)
    }
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Idle => "idle",
            SessionStatus::Completed => "completed",
            SessionStatus::Abandoned => "abandoned",
        }
    }
    /// Active and idle sessions are live: at most one per branch.
    pub fn is_live(self) -> bool {
        matches!(self, SessionStatus::Active | SessionStatus::Idle)
    }
    /// Which side wins when two clones changed the status differently within one epoch (higher
    /// wins): terminal states above live ones, so a session ended anywhere stays ended until an
    /// explicit reactivation raises the epoch.
    pub fn merge_rank(self) -> u8 {
        match self {
            SessionStatus::Idle => 1,
            SessionStatus::Active => 2,
            SessionStatus::Abandoned => 3,
            SessionStatus::Completed => 4,
        }
    }
}

/// The tally word of a purged session (see [`Record::tally`]).
pub const PURGED: &str = "purged";

/// What the local cache keeps of a session beside its whole record (see [`Record::summary`]):
/// enough to offer it for completion. Its status is its tally word.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionSummary<'a> {
    #[serde(borrow)]
    pub branch: std::borrow::Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<std::borrow::Cow<'a, str>>,
}

/// One agent session, exactly as stored in `session.toml`. Holds only what is true in every
/// clone: no paths, no host names, no process ids (those live in the clone's own `.git`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub schema: u32,
    pub id: String,
    /// The issue this session works on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    pub branch: String,
    /// The commit the branch started from.
    pub base: String,
    /// The name the base was given as (`main`, `HEAD`, a commit), for display and ahead/behind.
    #[serde(default)]
    pub base_ref: String,
    pub status: SessionStatus,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub prompt: String,
    /// Who launched it (`Name <email>`).
    #[serde(default)]
    pub actor: String,
    /// Opaque random id of the clone that owns the worktree.
    pub owner: String,
    pub started: Timestamp,
    pub updated: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Timestamp>,
    /// Raised by every explicit reactivation, so it wins over the older terminal state on merge.
    #[serde(default)]
    pub epoch: u32,
    /// Commits on the branch that are not on its base, as last counted.
    #[serde(default)]
    pub commits: u32,
    /// Set when the session was purged: a tombstone that travels with the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purged: Option<Timestamp>,
    /// Fields written by a newer `pm`; kept verbatim on rewrite.
    #[serde(flatten)]
    pub unknown: toml::Table,
}

impl Record for Session {
    const KIND: RecordKind = RecordKind::Session;
    fn id(&self) -> &str {
        &self.id
    }
    fn schema(&self) -> u32 {
        self.schema
    }
    fn settled(&self) -> bool {
        !self.status.is_live() || self.is_purged()
    }
    /// The status, or `purged` for a purged session (which no listing shows).
    fn tally(&self) -> &'static str {
        if self.purged.is_some() {
            PURGED
        } else {
            self.status.as_str()
        }
    }
    fn summary(&self) -> String {
        let summary = SessionSummary {
            branch: std::borrow::Cow::Borrowed(&self.branch),
            issue: self.issue.as_deref().map(std::borrow::Cow::Borrowed),
        };
        serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into())
    }
    fn check(&self) -> Result<(), String> {
        if let Some(why) = branch_name_problem(&self.branch) {
            return Err(format!("its branch {:?} is not valid: {why}", self.branch));
        }
        if let Some(issue) = &self.issue
            && !super::id::is_canonical_id(issue)
        {
            return Err(format!("its issue {issue:?} is not a valid id"));
        }
        let hex = |s: &str| matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(&self.base) {
            return Err(format!("its base {:?} is not a commit id", self.base));
        }
        if self.owner.is_empty()
            || self.owner.len() > 64
            || !self.owner.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(format!("its owner {:?} is not a clone id", self.owner));
        }
        Ok(())
    }
}

/// Why `branch` is not a valid branch name (as `git check-ref-format --branch` would say),
/// or `None` when it is.
pub fn branch_name_problem(branch: &str) -> Option<&'static str> {
    if branch.is_empty() {
        return Some("it is empty");
    }
    if branch.starts_with('-') {
        return Some("it starts with '-'");
    }
    if branch == "HEAD" || branch.starts_with("refs/") {
        return Some("give a plain branch name, without refs/");
    }
    let full = format!("refs/heads/{branch}");
    if gix::refs::FullName::try_from(full.as_str()).is_err() {
        return Some("it is not a valid git ref name");
    }
    // Each part is a file name in .git/refs, and git locks it as `<part>.lock`.
    if branch
        .split('/')
        .any(|part| part.len() > MAX_REF_PART_BYTES)
    {
        return Some("a part of it is longer than 250 bytes (file name too long)");
    }
    None
}

/// The longest part of a branch name between slashes: a file name has at most 255 bytes,
/// and git's lock file adds `.lock` to it.
pub const MAX_REF_PART_BYTES: usize = 255 - ".lock".len();

impl Session {
    /// Purged: a tombstone, shown and counted nowhere.
    pub fn is_purged(&self) -> bool {
        self.purged.is_some()
    }
    /// Live (active or idle) and not purged: at most one per branch.
    pub fn is_live(&self) -> bool {
        self.status.is_live() && !self.is_purged()
    }
    /// Seconds from start to end (or to `now` while running).
    pub fn duration(&self, now: Timestamp) -> i64 {
        self.ended.unwrap_or(now).seconds() - self.started.seconds()
    }
}

/// The longest prompt a session keeps, in bytes. With the other fields it leaves the record
/// well inside [`MAX_RECORD_BYTES`](super::MAX_RECORD_BYTES), even when every character of it
/// is one that TOML escapes (a backslash or a quote takes two bytes once stored).
pub const MAX_PROMPT_BYTES: usize = 64 * 1024;

/// The longest role and agent name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Check what a launch would store before anything is made: the prompt (at most
/// [`MAX_PROMPT_BYTES`], no control characters but newlines, carriage returns and tabs, which
/// TOML would store six bytes wide), the role and the agent name (one line of at most
/// [`MAX_NAME_CHARS`] characters each).
pub fn check_launch_text(
    prompt: &str,
    role: &str,
    agent: Option<&str>,
) -> crate::error::Result<()> {
    check_text("prompt", prompt)?;
    check_name("role", role)?;
    if let Some(agent) = agent {
        check_name("agent name", agent)?;
    }
    Ok(())
}

/// Check a text a session or its agent is given (a prompt, instructions): at most
/// [`MAX_PROMPT_BYTES`], no control characters but newlines, carriage returns and tabs.
pub fn check_text(what: &str, text: &str) -> crate::error::Result<()> {
    use crate::error::Error;
    if text.len() > MAX_PROMPT_BYTES {
        return Err(Error::usage(format!(
            "the {what} is {} bytes; a session holds at most {} KiB of {what}",
            text.len(),
            MAX_PROMPT_BYTES / 1024
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Error::usage(format!(
            "the {what} contains control characters (only newlines, carriage returns and tabs may be)"
        )));
    }
    Ok(())
}

/// Check a name (a role, an agent, an actor): one line of at most [`MAX_NAME_CHARS`]
/// characters.
pub fn check_name(what: &str, text: &str) -> crate::error::Result<()> {
    use crate::error::Error;
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(Error::usage(format!(
            "the {what} is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::usage(format!(
            "the {what} must be one line without control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod launch_text_tests {
    use super::*;

    #[test]
    fn prompts_roles_and_agent_names_have_limits() {
        assert!(check_launch_text("", "", None).is_ok());
        let longest = "x".repeat(MAX_PROMPT_BYTES);
        assert!(check_launch_text(&longest, "reviewer", Some("claude")).is_ok());
        let too_long = check_launch_text(&format!("{longest}y"), "", None).unwrap_err();
        assert_eq!(
            too_long.message(),
            "the prompt is 65537 bytes; a session holds at most 64 KiB of prompt"
        );
        assert!(check_launch_text("line\r\nnext\tcell", "", None).is_ok());
        assert!(check_launch_text("bell\u{7}", "", None).is_err());
        assert!(check_launch_text("", &"r".repeat(MAX_NAME_CHARS + 1), None).is_err());
        assert!(check_launch_text("", "two\nlines", None).is_err());
        assert!(check_launch_text("", "", Some(&"a".repeat(MAX_NAME_CHARS + 1))).is_err());
    }

    #[test]
    fn the_largest_prompt_fits_in_a_record_even_when_escaped() {
        let worst = "\\\"\r\t\n'".repeat(MAX_PROMPT_BYTES / 6);
        assert!(check_launch_text(&worst, "", None).is_ok());
        let stored = toml::to_string(&toml::Table::from_iter([(
            "prompt".to_string(),
            toml::Value::String(worst),
        )]))
        .expect("encodes");
        assert!(
            stored.len() < super::super::MAX_RECORD_BYTES / 2,
            "{}",
            stored.len()
        );
    }
}

/// Longest branch name derived from a title, prefix excluded.
pub const MAX_SLUG_BYTES: usize = 50;

/// Turn an issue title into a branch name: transliterated to ASCII (`Ünïcödé ログイン` ->
/// `unicode-roguin`), lower-case, `[a-z0-9-]` kept, spaces to `-`, runs of `-` collapsed and
/// trimmed, at most 50 bytes, then `prefix` in front.
/// Returns `None` when nothing usable is left of the title.
pub fn branch_from_title(prefix: &str, title: &str) -> Option<String> {
    let ascii = deunicode::deunicode_with_tofu(title, " ");
    let mut slug = String::new();
    for c in ascii.chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' => slug.push(c),
            '-' | ' ' | '_' | '\t' | '/' | '.' if !slug.is_empty() && !slug.ends_with('-') => {
                slug.push('-')
            }
            _ => {}
        }
    }
    let mut slug = slug.trim_end_matches('-').to_string();
    if slug.len() > MAX_SLUG_BYTES {
        slug.truncate(MAX_SLUG_BYTES);
        slug = slug.trim_end_matches('-').to_string();
    }
    if slug.is_empty() {
        None
    } else {
        Some(format!("{prefix}{slug}"))
    }
}

/// The folder name for a branch inside the worktrees directory: `/` becomes `-`; letters and
/// digits of any script and `._-` are kept as they are (a folder name stays readable); any
/// other character (controls, format and bidi characters, punctuation) is escaped as `%XX` per
/// byte, so the name is always one safe path component.
///
/// `feature/a-b` and `feature-a/b` give the same name; [`worktree_dir_name_unique`] is used
/// instead when the plain name is already taken by another branch, so two branches never share
/// a folder.
pub fn worktree_dir_name(branch: &str) -> String {
    let mut out = String::new();
    for c in branch.chars() {
        match c {
            '/' => out.push('-'),
            '.' | '_' | '-' => out.push(c),
            c if c.is_alphanumeric() => out.push(c),
            c => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2E");
    }
    out
}

/// [`worktree_dir_name`] plus a suffix derived from the whole branch name (FNV-1a), for when the
/// plain name is taken by a different branch.
pub fn worktree_dir_name_unique(branch: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for b in branch.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{}-{hash:08x}", worktree_dir_name(branch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_follow_the_design_vectors() {
        assert_eq!(
            branch_from_title("feature/", "Add user login").as_deref(),
            Some("feature/add-user-login")
        );
        assert_eq!(
            branch_from_title("feature/", "Fix BUG #123!").as_deref(),
            Some("feature/fix-bug-123")
        );
        assert_eq!(
            branch_from_title("feature/", "  Multiple   Spaces  ").as_deref(),
            Some("feature/multiple-spaces")
        );
        assert_eq!(branch_from_title("feature/", "!!!"), None);
        assert_eq!(
            branch_from_title("", "Ünïcode — dash").as_deref(),
            Some("unicode-dash")
        );
        assert_eq!(
            branch_from_title("feature/", "Ünïcödé ログイン").as_deref(),
            Some("feature/unicode-roguin")
        );
        assert_eq!(
            branch_from_title("", "Добавить вход").as_deref(),
            Some("dobavit-vkhod")
        );
    }

    #[test]
    fn long_titles_are_cut_at_50_bytes_without_trailing_dash() {
        let title = "a".repeat(49) + " bcdef";
        let branch = branch_from_title("feature/", &title).unwrap();
        assert_eq!(branch, format!("feature/{}", "a".repeat(49)));
        let long = branch_from_title("", &"word ".repeat(30)).unwrap();
        assert!(long.len() <= MAX_SLUG_BYTES && !long.ends_with('-'));
    }

    #[test]
    fn worktree_folders_are_single_safe_components() {
        assert_eq!(worktree_dir_name("feature/add-login"), "feature-add-login");
        assert_eq!(worktree_dir_name("../x"), "%2E.-x");
        assert_eq!(worktree_dir_name("a b"), "a%20b");
        assert_eq!(worktree_dir_name("ünï/x"), "ünï-x");
        assert_eq!(worktree_dir_name("a\u{202e}b"), "a%E2%80%AEb");
        assert_ne!(
            worktree_dir_name_unique("a/b"),
            worktree_dir_name_unique("a-b")
        );
        assert!(worktree_dir_name_unique("a/b").starts_with("a-b-"));
    }
}
