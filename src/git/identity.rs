//! Who git says is writing: the author and committer identities as git resolves them.

use gix::bstr::ByteSlice;

/// The name and email of the `role` ("author" or "committer"), resolved as git does: the
/// environment (`GIT_AUTHOR_NAME`, …, which gix folds into the configuration), then
/// `<role>.name`, then `user.name`, then gix's fallbacks; name and email independently.
/// (gix's own `author()` also works out the current time in the local time zone, which costs
/// a walk of the time zone database; records use their own UTC time.)
pub fn identity(repo: &gix::Repository, role: &str) -> Option<(String, String)> {
    let config = repo.config_snapshot();
    let first = |keys: &[String]| {
        keys.iter()
            .find_map(|key| config.string(key.as_str()))
            .map(|value| value.to_str_lossy().into_owned())
    };
    let name = first(&[
        format!("{role}.name"),
        "user.name".into(),
        format!("gitoxide.{role}.nameFallback"),
    ])?;
    let email = first(&[
        format!("{role}.email"),
        "user.email".into(),
        "gitoxide.user.emailFallback".into(),
        format!("gitoxide.{role}.emailFallback"),
    ])?;
    Some((name, email))
}
