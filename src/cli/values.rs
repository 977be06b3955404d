//! How the model's fixed sets of values (statuses, priorities, types) appear on the command line:
//! the same names as in records and MCP ([`Choice`]), with help for completions and man pages.
//! The model itself knows nothing of clap.

use crate::model::{Choice, IssueStatus, IssueType, Priority, SessionStatus};
use clap::builder::PossibleValue;

/// The help shown next to a value in completions and man pages.
trait Help: Choice {
    fn help(self) -> Option<&'static str> {
        None
    }
}

impl Help for IssueStatus {}
impl Help for Priority {}
impl Help for IssueType {}

impl Help for SessionStatus {
    fn help(self) -> Option<&'static str> {
        Some(match self {
            SessionStatus::Active => "An agent is working in the worktree",
            SessionStatus::Idle => "The worktree is kept; nobody is working",
            SessionStatus::Completed => "Finished; its issue is done",
            SessionStatus::Abandoned => {
                "Given up (or its worktree vanished); its issue is open again"
            }
        })
    }
}

fn possible_value<T: Help>(value: T) -> PossibleValue {
    let mut possible = PossibleValue::new(value.as_str()).aliases(value.aliases().iter().copied());
    if let Some(help) = value.help() {
        possible = possible.help(help);
    }
    possible
}

macro_rules! value_enum {
    ($($ty:ty),*) => {$(
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                <$ty as Choice>::ALL
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(possible_value(*self))
            }
        }
    )*};
}

value_enum!(IssueStatus, Priority, IssueType, SessionStatus);
