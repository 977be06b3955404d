//! Listing refs: the one way pm reads every ref below a prefix (records, tracking refs of a
//! remote, branches), so that each caller gets the same names, targets and errors.

use crate::error::{Error, Result};
use gix::ObjectId;
use gix::bstr::ByteSlice;

/// Every ref whose full name starts with `prefix` (such as `refs/pm/sessions/`), in order of
/// name: the rest of its name after `prefix`, and the object it points at (`None` for a
/// symbolic ref). Loose refs and `packed-refs` both count, as git counts them. The error is one
/// line naming the prefix.
pub fn under(repo: &gix::Repository, prefix: &str) -> Result<Vec<(String, Option<ObjectId>)>> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::failed(format!("could not read the refs under {prefix}: {e}"))
    };
    let platform = repo.references().map_err(|e| failed(&e))?;
    let mut out = Vec::new();
    for reference in platform.prefixed(prefix).map_err(|e| failed(&e))? {
        let reference = reference.map_err(|e| failed(&e))?;
        let name = reference.name().as_bstr();
        let rest = name.strip_prefix(prefix.as_bytes()).unwrap_or(name);
        let target = reference.target().try_id().map(ToOwned::to_owned);
        out.push((rest.to_str_lossy().into_owned(), target));
    }
    Ok(out)
}

/// How many commits reachable from `tips` no ref under `prefixes` reaches, leaving out the ref
/// `except` (a branch's own full name) and the commits reachable from `hidden`. A commit that
/// cannot be walked counts as one that is not there: callers refuse or warn on the count, so an
/// unreadable history errs on the side of keeping.
pub fn commits_outside(
    repo: &gix::Repository,
    tips: Vec<ObjectId>,
    prefixes: &[&str],
    except: Option<&str>,
    hidden: &[ObjectId],
) -> Result<u32> {
    if tips.is_empty() {
        return Ok(0);
    }
    let mut others: Vec<ObjectId> = hidden.to_vec();
    for prefix in prefixes {
        for (rest, target) in under(repo, prefix)? {
            if except.is_some_and(|own| own.strip_prefix(prefix) == Some(rest.as_str())) {
                continue;
            }
            others.extend(target);
        }
    }
    let walk = repo
        .rev_walk(tips)
        .with_hidden(others)
        .all()
        .map_err(|e| Error::failed(format!("could not walk the commits: {e}")))?;
    Ok(walk.count() as u32)
}
