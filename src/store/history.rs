//! The history of one record: the commits of its ref, newest first.

use super::Store;
use crate::error::{Context, Error, Result};
use crate::model::{RecordKind, Timestamp};
use gix::bstr::ByteSlice;

/// One commit in a record's history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    pub commit: String,
    pub time: Timestamp,
    pub author: String,
    pub email: String,
    pub message: String,
}

impl Store {
    /// The commits of one record, newest first.
    pub fn history(&self, kind: RecordKind, id: &str) -> Result<Vec<Event>> {
        let name = Self::ref_name(kind, id);
        let tip = self
            .record_tip(kind, id)?
            .0
            .ok_or_else(|| Error::failed(format!("{name} is a symbolic ref")))?;
        let walk = self
            .repo
            .rev_walk([tip])
            .all()
            .context(|| format!("could not walk the history of {name}"))?;
        let mut events = Vec::new();
        for info in walk {
            let info = info.context(|| format!("could not walk the history of {name}"))?;
            let commit = info
                .object()
                .context(|| format!("could not read commit {} of {name}", info.id))?;
            let author = commit
                .author()
                .context(|| format!("commit {} of {name} has no author", info.id))?;
            let time = commit.time().map(|t| t.seconds).unwrap_or(0);
            let message = commit.message_raw_sloppy().to_str_lossy();
            events.push(Event {
                commit: info.id.to_string(),
                time: Timestamp(time),
                author: author.name.to_str_lossy().into_owned(),
                email: author.email.to_str_lossy().into_owned(),
                message: message.lines().next().unwrap_or("").to_string(),
            });
        }
        events.sort_by_key(|e| std::cmp::Reverse(e.time));
        Ok(events)
    }
}
