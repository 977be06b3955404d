//! Condensing a run's events into the turns kept in git (`model::transcript`): streamed text
//! joined, tool calls and results one entry each, lifecycle markers as notes, and the whole cut
//! to a size that travels well.

use crate::model::transcript::{Entry, MAX_TURN_BYTES, Outcome, Turn, VERSION};
use crate::runtime::events::{Body, Event};

/// What is known of the run beside its events.
pub struct RunFacts<'a> {
    pub session: &'a str,
    pub agent: &'a str,
    pub provider_session: Option<&'a str>,
}

/// The turn the `events` make (the events of one turn, or what is left of one), or `None`
/// when they hold nothing worth keeping (only markers of a run that did nothing).
pub fn condense(events: &[Event], facts: &RunFacts) -> Option<Turn> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut outcome = None;
    for event in events {
        let entry = match &event.body {
            Body::Input { text } => Entry::Input { text: text.clone() },
            Body::Text { text } => {
                if let Some(Entry::Text { text: last }) = entries.last_mut() {
                    last.push_str(text);
                    continue;
                }
                Entry::Text { text: text.clone() }
            }
            Body::ToolCall { name, input } => Entry::ToolCall {
                name: name.clone(),
                input: match input {
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                },
            },
            Body::ToolResult { text, is_error } => Entry::ToolResult {
                text: text.clone(),
                is_error: *is_error,
            },
            Body::TurnFinished { is_error } => {
                outcome = Some(if *is_error {
                    Outcome::Error
                } else {
                    Outcome::Finished
                });
                continue;
            }
            Body::Aborted { why } => {
                outcome = Some(Outcome::Aborted);
                Entry::Note {
                    text: format!("aborted: {why}"),
                }
            }
            Body::Exited { code, signal } => {
                outcome.get_or_insert(Outcome::Exited);
                Entry::Note {
                    text: match (code, signal) {
                        (_, Some(signal)) => format!("exited on signal {signal}"),
                        (Some(code), None) => format!("exited with status {code}"),
                        (None, None) => "exited".to_string(),
                    },
                }
            }
            Body::Died { why } => {
                outcome = Some(Outcome::Died);
                Entry::Note {
                    text: format!("died: {why}"),
                }
            }
            Body::Started { .. }
            | Body::ProviderSession { .. }
            | Body::Log { .. }
            | Body::HookOutput { .. }
            | Body::HookEnded { .. } => continue,
        };
        entries.push(entry);
    }
    if !entries.iter().any(|e| !matches!(e, Entry::Note { .. })) {
        return None;
    }
    let mut turn = Turn {
        version: VERSION,
        session: facts.session.to_string(),
        agent: facts.agent.to_string(),
        provider_session: facts.provider_session.map(str::to_string),
        started: events.first()?.time,
        ended: events.last()?.time,
        outcome: outcome.unwrap_or(Outcome::Exited),
        entries,
        truncated: false,
    };
    turn.fit(MAX_TURN_BYTES);
    Some(turn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;
    use crate::model::transcript::MAX_READ_BYTES;

    fn event(seq: u64, body: Body) -> Event {
        Event {
            seq,
            time: Timestamp(1_700_000_000 + seq as i64),
            body,
        }
    }

    const FACTS: RunFacts = RunFacts {
        session: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        agent: "claude",
        provider_session: None,
    };

    #[test]
    fn streamed_text_is_joined_and_the_outcome_kept() {
        let events = [
            event(1, Body::Input { text: "hi".into() }),
            event(2, Body::Text { text: "Hel".into() }),
            event(3, Body::Text { text: "lo".into() }),
            event(
                4,
                Body::ToolCall {
                    name: "Bash".into(),
                    input: serde_json::json!({"command": "ls"}),
                },
            ),
            event(
                5,
                Body::Text {
                    text: "done".into(),
                },
            ),
            event(6, Body::TurnFinished { is_error: false }),
        ];
        let turn = condense(&events, &FACTS).expect("a turn");
        assert_eq!(turn.outcome, Outcome::Finished);
        assert_eq!(
            turn.entries,
            vec![
                Entry::Input { text: "hi".into() },
                Entry::Text {
                    text: "Hello".into()
                },
                Entry::ToolCall {
                    name: "Bash".into(),
                    input: r#"{"command":"ls"}"#.into()
                },
                Entry::Text {
                    text: "done".into()
                },
            ]
        );
        let back = Turn::parse(FACTS.session, turn.encode().as_bytes()).expect("parses");
        assert_eq!(back, turn);
    }

    #[test]
    fn markers_alone_make_no_turn() {
        let events = [event(
            1,
            Body::Exited {
                code: Some(0),
                signal: None,
            },
        )];
        assert_eq!(condense(&events, &FACTS), None);
    }

    #[test]
    fn a_huge_turn_is_cut_to_the_limit() {
        let mut events = vec![event(1, Body::Input { text: "go".into() })];
        for i in 0..200 {
            events.push(event(
                2 + 2 * i,
                Body::ToolCall {
                    name: "Bash".into(),
                    input: serde_json::json!({"command": "x".repeat(3000)}),
                },
            ));
            events.push(event(
                3 + 2 * i,
                Body::ToolResult {
                    text: "y".repeat(10_000),
                    is_error: false,
                },
            ));
        }
        let turn = condense(&events, &FACTS).expect("a turn");
        assert!(turn.encode().len() <= MAX_TURN_BYTES);
        assert!(turn.truncated);
    }

    #[test]
    fn a_turn_of_another_session_or_too_big_is_refused() {
        let events = [event(1, Body::Input { text: "go".into() })];
        let turn = condense(&events, &FACTS).expect("a turn");
        let err = Turn::parse("01BX5ZZKBKACTAV9WEVGEMMVRZ", turn.encode().as_bytes());
        assert!(err.is_err());
        let big = vec![b' '; MAX_READ_BYTES + 1];
        assert!(
            Turn::parse(FACTS.session, &big)
                .unwrap_err()
                .contains("bytes")
        );
    }
}
