//! The MCP tools as `tools/list` shows them: names, descriptions and input schemas. The
//! schemas are checked against the core's request types (see [`ARGUMENTS`]).

use serde_json::{Value, json};

pub(super) const TOOLS: &[&str] = &[
    "pm_session",
    "pm_close_agent",
    "pm_list_issues",
    "pm_get_issue",
    "pm_create_issue",
    "pm_update_issue",
];

/// How many sessions `list` returns when no `limit` is given (as the tool pm replaces).
pub(super) const DEFAULT_LIST_LIMIT: usize = 200;

pub(super) const SESSION_ACTIONS: &[&str] = &[
    "list",
    "get",
    "events",
    "transcript",
    "prompt",
    "config",
    "spec",
    "launch_task",
    "start",
    "run",
    "input",
    "live_deltas",
    "abort",
    "restart",
    "close",
    "reactivate",
    "purge",
    "merge",
    "help",
];

/// The `tools/list` entries.
pub fn definitions() -> Value {
    json!([
        {
            "name": "pm_session",
            "title": "Agent sessions",
            "description": "Inspect and manage agent sessions (one agent, one issue, one branch and worktree). \
                action: list | get | events | prompt | config | spec | launch_task | start | run | input | live_deltas | abort | restart | close | reactivate | purge | help.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": SESSION_ACTIONS},
                    "sessionUlid": {"type": "string", "description": "Session id, unique prefix or branch (get, events, prompt, config, spec, close, reactivate, purge)"},
                    "limit": {"type": "integer", "minimum": 1, "default": DEFAULT_LIST_LIMIT, "description": "list: at most this many sessions, newest first (default 200)"},
                    "status": {"type": "string", "description": "list: active, idle, completed, abandoned or all (default: live ones); close: idle, completed or abandoned (default idle)"},
                    "contextRef": {"type": "string", "description": "list: only sessions of this issue; launch_task, start: the issue to work on when it names one (id or unique prefix), else free text context given to the agent; run, restart: context for the agent (naming the session's own issue adds nothing)"},
                    "taskKey": {"type": "string", "description": "launch_task, start: the issue to work on (id or unique prefix); text that names no issue is given to the agent as context, and the session needs a branch; run, restart: as contextRef"},
                    "branch": {"type": "string", "description": "launch_task: branch (default: from the issue title)"},
                    "base": {"type": "string", "description": "launch_task: where a new branch starts"},
                    "agent": {"type": "string", "description": "launch_task: agent name (default: the launcher's, else from configuration)"},
                    "provider": {"type": "string", "description": "launch_task: the agent name, as agent"},
                    "prompt": {"type": "string", "description": "launch_task: the agent's prompt (a launcher's prompt template takes it as {prompt}); run, restart: the input of the turn"},
                    "role": {"type": "string", "description": "launch_task: a role for the agent (free text, recorded and put in its instructions; default: the launcher's)"},
                    "actor": {"type": "string", "description": "launch_task, start: who asks, recorded as the new session's actor; launch_task, start, run, restart: kept with what the run was started with (config)"},
                    "launcherConfigKey": {"type": "string", "description": "launch_task, start, run, restart: a launcher preset ([launchers.NAME] in the user's config or .pm.toml): agent, role, model, arguments, prompt template, allowed tools, runtime cap; other arguments override it"},
                    "systemPrompt": {"type": "string", "description": "launch_task, start, run, restart: instructions added to the ones pm builds from the issue (prompt returns the whole)"},
                    "env": {"type": "array", "items": {"type": "string"}, "description": "launch_task, start, run, restart: names of variables of pm's environment to pass to the agent (each must be set; names are kept, never values)"},
                    "bootstrapCommands": {"type": "array", "items": {"type": "string"}, "description": "launch_task, start, run, restart: shell commands run in the worktree before the agent starts, in order; their output goes to the run's events; the first that fails stops the start. Never stored"},
                    "tools": {"type": "array", "items": {"type": "string"}, "description": "launch_task, start, run, restart: tools the agent may use without asking (claude agents: added to --allowedTools)"},
                    "deleteFiles": {"type": "boolean", "default": true, "description": "purge: also delete the worktree and branch this clone created (default true; a worktree with uncommitted changes or a branch with unmerged commits is still refused without force)"},
                    "force": {"type": "boolean", "description": "launch_task, reactivate: even when another live session works on the issue; close, purge: even a session active in another clone; purge: even with uncommitted changes or unmerged commits"},
                    "dryRun": {"type": "boolean", "description": "launch_task, close, reactivate, purge, merge: show what would change, write nothing"},
                    "run": {"type": "boolean", "default": true, "description": "launch_task, restart: also start the agent (default true)"},
                    "noHooks": {"type": "boolean", "description": "launch_task: run no setup commands in the new worktree (files are still copied); purge, merge: run no teardown commands before the worktree is removed"},
                    "maxRuntimeSeconds": {"type": "integer", "minimum": 1, "description": "launch_task, start, run, restart: stop the agent after this many seconds"},
                    "text": {"type": "string", "description": "input: what to send to the running agent (or the prompt of a new turn)"},
                    "clientRequestId": {"type": "string", "description": "launch_task, start: an idempotency key; a request with a key already used returns the session it made then"},
                    "strategy": {"type": "string", "enum": ["merge", "squash", "rebase"], "default": "merge", "description": "merge: fast-forward or a merge commit (merge), one new commit (squash), or the commits replayed on the base (rebase)"},
                    "into": {"type": "string", "description": "merge: the branch to merge into (default: the session's base branch)"},
                    "keep": {"type": "boolean", "description": "merge: keep the worktree and the branch"},
                    "push": {"type": "string", "description": "merge: push the base branch to this remote afterwards"},
                    "sinceSeq": {"type": "integer", "minimum": 0, "description": "live_deltas: only events after this sequence number (the next_seq of the last answer)"}
                },
                "required": ["action"]
            }
        },
        {
            "name": "pm_close_agent",
            "title": "Close my session",
            "description": "Close the calling agent's session. Without session_id, the session whose worktree contains the server's working directory. status completed marks its issue done; abandoned reopens it; idle (default) keeps the worktree for later.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "session_id": {"type": "string", "description": "Session id, unique prefix or branch (default: the session whose worktree holds the server's working directory)"},
                    "status": {"type": "string", "enum": ["idle", "completed", "abandoned"]},
                    "force": {"type": "boolean", "description": "close even a session that is active in another clone"}
                }
            }
        },
        {
            "name": "pm_list_issues",
            "title": "List issues",
            "description": "Issues sorted by status, priority (high first), newest first. Done and closed ones only with all or status.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "status": {"type": "string", "enum": ["open", "in_progress", "done", "closed"]},
                    "priority": {"type": "string", "enum": ["low", "medium", "high"]},
                    "tag": {"type": "string"},
                    "all": {"type": "boolean"}
                }
            }
        },
        {
            "name": "pm_get_issue",
            "title": "Show an issue",
            "description": "One issue (full id or unique prefix) with its sessions, newest first.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "Issue id or unique prefix"}
                },
                "required": ["id"]
            }
        },
        {
            "name": "pm_create_issue",
            "title": "Create an issue",
            "description": "Create an issue; returns it with its id.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "body": {"type": "string"},
                    "priority": {"type": "string", "enum": ["low", "medium", "high"]},
                    "type": {"type": "string", "enum": ["feature", "bug", "chore"]},
                    "tags": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["title"]
            }
        },
        {
            "name": "pm_update_issue",
            "title": "Update an issue",
            "description": "Change fields of an issue as one commit. tags adds tags, untags removes them.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "body": {"type": "string"},
                    "status": {"type": "string", "enum": ["open", "in_progress", "done", "closed"]},
                    "priority": {"type": "string", "enum": ["low", "medium", "high"]},
                    "type": {"type": "string", "enum": ["feature", "bug", "chore"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "untags": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["id"]
            }
        }
    ])
}

/// Which field of which core request each tool argument fills: the tools' input schemas are
/// checked against the request types by the test below, so an argument cannot be offered that
/// nothing reads, nor a request field be left out of MCP unnoticed. `-` is an argument that
/// fills no request field (the action, the dry run, the id of a query).
#[cfg(test)]
const ARGUMENTS: &[(&str, &str, &str, &str)] = &[
    ("pm_session", "action", "-", "-"),
    ("pm_session", "dryRun", "-", "-"),
    ("pm_session", "sessionUlid", "CloseRequest", "session"),
    ("pm_session", "sessionUlid", "ReactivateRequest", "session"),
    ("pm_session", "sessionUlid", "PurgeRequest", "session"),
    ("pm_session", "limit", "ListRequest", "limit"),
    ("pm_session", "status", "ListRequest", "statuses"),
    ("pm_session", "status", "ListRequest", "all"),
    ("pm_session", "status", "CloseRequest", "event"),
    ("pm_session", "contextRef", "ListRequest", "issue"),
    ("pm_session", "taskKey", "LaunchRequest", "issue"),
    ("pm_session", "branch", "LaunchRequest", "branch"),
    ("pm_session", "base", "LaunchRequest", "base"),
    ("pm_session", "agent", "LaunchRequest", "agent"),
    ("pm_session", "provider", "LaunchRequest", "agent"),
    ("pm_session", "contextRef", "LaunchRequest", "issue"),
    ("pm_session", "contextRef", "StartRequest", "context"),
    ("pm_session", "taskKey", "StartRequest", "context"),
    ("pm_session", "actor", "LaunchRequest", "actor"),
    ("pm_session", "actor", "StartRequest", "actor"),
    (
        "pm_session",
        "launcherConfigKey",
        "StartRequest",
        "launcher",
    ),
    (
        "pm_session",
        "systemPrompt",
        "StartRequest",
        "system_prompt",
    ),
    ("pm_session", "env", "StartRequest", "env"),
    (
        "pm_session",
        "bootstrapCommands",
        "StartRequest",
        "bootstrap",
    ),
    ("pm_session", "tools", "StartRequest", "tools"),
    ("pm_session", "prompt", "LaunchRequest", "prompt"),
    ("pm_session", "role", "LaunchRequest", "role"),
    ("pm_session", "force", "LaunchRequest", "force"),
    ("pm_session", "force", "CloseRequest", "force"),
    ("pm_session", "force", "ReactivateRequest", "force"),
    ("pm_session", "force", "PurgeRequest", "force"),
    ("pm_session", "deleteFiles", "PurgeRequest", "delete_files"),
    ("pm_session", "sessionUlid", "MergeRequest", "session"),
    ("pm_session", "strategy", "MergeRequest", "strategy"),
    ("pm_session", "into", "MergeRequest", "into"),
    ("pm_session", "keep", "MergeRequest", "keep"),
    ("pm_session", "push", "MergeRequest", "push"),
    ("pm_session", "run", "-", "-"),
    ("pm_session", "noHooks", "-", "-"),
    ("pm_session", "sessionUlid", "StartRequest", "session"),
    ("pm_session", "prompt", "StartRequest", "prompt"),
    (
        "pm_session",
        "maxRuntimeSeconds",
        "StartRequest",
        "max_runtime",
    ),
    ("pm_session", "text", "-", "-"),
    ("pm_session", "sinceSeq", "-", "-"),
    ("pm_session", "clientRequestId", "-", "-"),
    ("pm_close_agent", "session_id", "CloseRequest", "session"),
    ("pm_close_agent", "status", "CloseRequest", "event"),
    ("pm_close_agent", "force", "CloseRequest", "force"),
    ("pm_list_issues", "status", "Filter", "status"),
    ("pm_list_issues", "priority", "Filter", "priority"),
    ("pm_list_issues", "tag", "Filter", "tag"),
    ("pm_list_issues", "all", "Filter", "all"),
    ("pm_get_issue", "id", "-", "-"),
    ("pm_create_issue", "title", "NewIssue", "title"),
    ("pm_create_issue", "description", "NewIssue", "description"),
    ("pm_create_issue", "body", "NewIssue", "body"),
    ("pm_create_issue", "priority", "NewIssue", "priority"),
    ("pm_create_issue", "type", "NewIssue", "kind"),
    ("pm_create_issue", "tags", "NewIssue", "tags"),
    ("pm_update_issue", "id", "-", "-"),
    ("pm_update_issue", "title", "Changes", "title"),
    ("pm_update_issue", "description", "Changes", "description"),
    ("pm_update_issue", "body", "Changes", "body"),
    ("pm_update_issue", "status", "Changes", "status"),
    ("pm_update_issue", "priority", "Changes", "priority"),
    ("pm_update_issue", "type", "Changes", "kind"),
    ("pm_update_issue", "tags", "Changes", "add_tags"),
    ("pm_update_issue", "untags", "Changes", "remove_tags"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::SessionEvent;
    use crate::model::issue::NewIssue;
    use crate::model::{IssueType, Priority};
    use crate::ops::issues::{Changes, Filter};
    use crate::ops::runs::StartRequest;
    use crate::ops::sessions::{
        CloseRequest, LaunchRequest, ListRequest, MergeRequest, PurgeRequest, ReactivateRequest,
    };

    /// The field names of each request type MCP offers, read from the type itself.
    fn request_fields() -> Vec<(&'static str, Vec<String>)> {
        let fields = |value: Value| -> Vec<String> {
            value
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let of =
            |v: std::result::Result<Value, serde_json::Error>| fields(v.unwrap_or(Value::Null));
        vec![
            (
                "LaunchRequest",
                of(serde_json::to_value(LaunchRequest::default())),
            ),
            (
                "ListRequest",
                of(serde_json::to_value(ListRequest::default())),
            ),
            (
                "ReactivateRequest",
                of(serde_json::to_value(ReactivateRequest::default())),
            ),
            (
                "PurgeRequest",
                of(serde_json::to_value(PurgeRequest::default())),
            ),
            (
                "MergeRequest",
                of(serde_json::to_value(MergeRequest::default())),
            ),
            (
                "StartRequest",
                of(serde_json::to_value(StartRequest::default())),
            ),
            (
                "CloseRequest",
                of(serde_json::to_value(CloseRequest {
                    session: String::new(),
                    event: SessionEvent::Close,
                    force: false,
                })),
            ),
            ("Filter", of(serde_json::to_value(Filter::default()))),
            ("Changes", of(serde_json::to_value(Changes::default()))),
            (
                "NewIssue",
                of(serde_json::to_value(NewIssue {
                    title: String::new(),
                    description: String::new(),
                    body: String::new(),
                    priority: Priority::Medium,
                    kind: IssueType::Feature,
                    tags: Vec::new(),
                })),
            ),
        ]
    }

    #[test]
    fn every_argument_fills_a_request_field_and_every_field_has_an_argument() {
        let tools = definitions();
        let tools = tools.as_array().map(Vec::as_slice).unwrap_or_default();
        assert_eq!(tools.len(), TOOLS.len());
        for tool in tools {
            let name = tool["name"].as_str().unwrap_or_default();
            let offered: Vec<&str> = tool["inputSchema"]["properties"]
                .as_object()
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            for argument in &offered {
                assert!(
                    ARGUMENTS
                        .iter()
                        .any(|(t, a, _, _)| *t == name && a == argument),
                    "{name} offers {argument}, which fills no request field"
                );
            }
            for (_, argument, _, _) in ARGUMENTS.iter().filter(|(t, ..)| *t == name) {
                assert!(
                    offered.contains(argument),
                    "{name} lacks {argument} in its input schema"
                );
            }
        }
        for (request, fields) in request_fields() {
            assert!(!fields.is_empty(), "{request} has fields");
            for field in &fields {
                assert!(
                    ARGUMENTS
                        .iter()
                        .any(|(_, _, r, f)| *r == request && f == field),
                    "{request}.{field} cannot be set through MCP"
                );
            }
        }
        for (tool, argument, request, field) in ARGUMENTS {
            if *request == "-" {
                continue;
            }
            let known = request_fields()
                .into_iter()
                .any(|(r, fields)| r == *request && fields.iter().any(|f| f == field));
            assert!(known, "{tool} {argument}: {request}.{field} does not exist");
        }
    }
}
