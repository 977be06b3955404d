//! Launcher presets: `[launchers.NAME]` in the user's config or the repository's `.pm.toml`,
//! the settings of a launch and of its agent's runs under one name (agent, role, model, extra
//! arguments, a prompt template, allowed tools, a runtime cap). A preset names an agent, never
//! a program; one from `.pm.toml` may only name an agent that is configured here (built in, or
//! in the user's own `[agents.NAME]`) and gives no arguments (the config drops them).
//!
//! What is given explicitly wins over the preset, but for the prompt template, which takes the
//! explicit prompt as `{prompt}`.

use crate::config::LauncherConfig;
use crate::error::{Error, Result};
use crate::model::Issue;
use crate::ops::sessions::LaunchRequest;
use crate::runtime::provider;
use crate::workspace::Workspace;
use std::path::PathBuf;

/// A preset, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub name: String,
    pub agent: Option<String>,
    pub role: Option<String>,
    pub model: Option<String>,
    pub args: Vec<String>,
    pub prompt: Option<String>,
    pub tools: Vec<String>,
    pub max_runtime: Option<u64>,
    /// The file it comes from.
    pub file: PathBuf,
    pub from_repo: bool,
}

/// The placeholders a prompt template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "issue.id",
    "issue.title",
    "issue.description",
    "role",
    "prompt",
];

/// The preset named `name`, checked: it must exist, name a configured agent, and its model,
/// tools and template must be ones pm can use.
pub fn resolve(ws: &Workspace, name: &str) -> Result<Preset> {
    let config = ws.config()?;
    let Some(found) = config.launchers.get(name) else {
        let known: Vec<&str> = config.launchers.keys().map(String::as_str).collect();
        return Err(Error::usage(if known.is_empty() {
            format!(
                "no launcher named {name:?}: none is configured (define [launchers.NAME] in \
                 your config or the repository's .pm.toml)"
            )
        } else {
            format!(
                "no launcher named {name:?}; the known ones are {}",
                known.join(", ")
            )
        }));
    };
    let LauncherConfig {
        agent,
        role,
        model,
        args,
        prompt,
        tools,
        max_runtime,
        file,
        from_repo,
    } = found.clone();
    let place = format!("launcher {name} (in {})", file.display());
    if let Some(agent) = &agent
        && provider::resolve(config, agent).is_err()
    {
        return Err(Error::usage(format!(
            "{place} names agent {agent:?}, which is not a configured agent: the built-in ones \
             are claude and codex, others are [agents.NAME] in your own config"
        )));
    }
    let bad = |why: String| Error::usage(format!("{place}: {why}"));
    if let Some(role) = &role {
        crate::model::session::check_name("role", role).map_err(|e| bad(e.message().into()))?;
    }
    if let Some(model) = &model {
        check_model(model).map_err(|e| bad(e.message().into()))?;
    }
    check_tools(&tools).map_err(|e| bad(e.message().into()))?;
    if max_runtime == Some(0) {
        return Err(bad("max_runtime must be at least 1 second".into()));
    }
    if let Some(template) = &prompt {
        placeholders(template).map_err(bad)?;
    }
    Ok(Preset {
        name: name.to_string(),
        agent,
        role,
        model,
        args,
        prompt,
        tools,
        max_runtime,
        file,
        from_repo,
    })
}

/// A model name: one line, not empty.
pub fn check_model(model: &str) -> Result<()> {
    if model.trim().is_empty() || model.chars().any(char::is_control) {
        return Err(Error::usage(
            "the model must be one line, not empty, without control characters",
        ));
    }
    Ok(())
}

/// Tool names for Claude Code's `--allowedTools` (a comma-separated list): one line each,
/// not empty, no comma.
pub fn check_tools(tools: &[String]) -> Result<()> {
    for tool in tools {
        if tool.trim().is_empty() || tool.contains(',') || tool.chars().any(char::is_control) {
            return Err(Error::usage(format!(
                "the tool {tool:?} cannot be allowed: a tool is one line, not empty, without commas"
            )));
        }
    }
    Ok(())
}

/// What fills a template's placeholders.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fill<'a> {
    pub issue: Option<&'a Issue>,
    pub role: &'a str,
    pub prompt: &'a str,
}

/// One piece of a template.
enum Piece<'t> {
    Text(std::borrow::Cow<'t, str>),
    Placeholder(&'t str),
}

/// The pieces of `template` (`{{` and `}}` stand for braces), or why it cannot be used: an
/// unclosed brace, or placeholders nobody fills (all of them named).
fn placeholders(template: &str) -> std::result::Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut unknown = Vec::new();
    let mut rest = template;
    let mut text = String::new();
    while let Some(at) = rest.find(['{', '}']) {
        text.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            text.push(tail.as_bytes()[0] as char);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err("its prompt has a '}' that closes nothing (write }} for a brace)".into());
        }
        let Some(end) = tail.find('}') else {
            return Err("its prompt has a '{' that is never closed (write {{ for a brace)".into());
        };
        let name = &tail[1..end];
        if !PLACEHOLDERS.contains(&name) {
            unknown.push(format!("{{{name}}}"));
        }
        pieces.push(Piece::Text(std::mem::take(&mut text).into()));
        pieces.push(Piece::Placeholder(name));
        rest = &tail[end + 1..];
    }
    text.push_str(rest);
    pieces.push(Piece::Text(text.into()));
    if !unknown.is_empty() {
        return Err(format!(
            "its prompt uses unknown placeholder{} {}; the known ones are {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            PLACEHOLDERS
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(pieces)
}

impl Preset {
    /// Whether the template takes the prompt given (`{prompt}`).
    fn wraps_prompt(&self) -> bool {
        self.prompt.as_deref().is_some_and(|t| {
            placeholders(t).is_ok_and(|pieces| {
                pieces
                    .iter()
                    .any(|p| matches!(p, Piece::Placeholder("prompt")))
            })
        })
    }

    /// The template filled in. A placeholder of the issue needs a session on an issue.
    pub fn render(&self, fill: Fill<'_>) -> Result<Option<String>> {
        let Some(template) = &self.prompt else {
            return Ok(None);
        };
        let pieces = placeholders(template)
            .map_err(|why| Error::usage(format!("launcher {}: {why}", self.name)))?;
        let mut out = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.push_str(&text),
                Piece::Placeholder(name) => {
                    let issue = || {
                        fill.issue.ok_or_else(|| {
                            Error::usage(format!(
                                "launcher {}: its prompt uses {{{name}}}, but the session is on \
                                 no issue",
                                self.name
                            ))
                        })
                    };
                    match name {
                        "issue.id" => out.push_str(&issue()?.id),
                        "issue.title" => out.push_str(&issue()?.title),
                        "issue.description" => out.push_str(&issue()?.description),
                        "role" => out.push_str(fill.role),
                        _ => out.push_str(fill.prompt),
                    }
                }
            }
        }
        Ok(Some(out))
    }

    /// The input given `prompt` (explicit, or empty): the template with it as `{prompt}`; a
    /// template that does not take it gives way to an explicit prompt.
    pub fn shape(&self, prompt: &str, fill: Fill<'_>) -> Result<String> {
        if self.prompt.is_none() || (!prompt.is_empty() && !self.wraps_prompt()) {
            return Ok(prompt.to_string());
        }
        Ok(self
            .render(Fill { prompt, ..fill })?
            .unwrap_or_else(|| prompt.to_string()))
    }

    /// Fill what a launch leaves open from the preset: the agent, the role, and the prompt
    /// (the template, with the prompt given as `{prompt}`).
    pub fn fill_launch(&self, ws: &Workspace, request: &mut LaunchRequest) -> Result<()> {
        if request.agent.is_none() {
            request.agent = self.agent.clone();
        }
        if request.role.is_empty()
            && let Some(role) = &self.role
        {
            request.role = role.clone();
        }
        if self.prompt.is_some() {
            let issue = match &request.issue {
                Some(id) => Some(crate::ops::issues::show(ws, id)?),
                None => None,
            };
            let fill = Fill {
                issue: issue.as_ref(),
                role: &request.role,
                prompt: "",
            };
            request.prompt = self.shape(&request.prompt, fill)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(template: &str) -> Preset {
        Preset {
            name: "p".into(),
            agent: None,
            role: None,
            model: None,
            args: Vec::new(),
            prompt: Some(template.into()),
            tools: Vec::new(),
            max_runtime: None,
            file: PathBuf::from("/c"),
            from_repo: false,
        }
    }

    #[test]
    fn templates_fill_known_placeholders_and_name_unknown_ones() {
        let new = crate::model::issue::NewIssue {
            title: "Fix {it}".into(),
            description: String::new(),
            body: String::new(),
            priority: crate::model::Priority::Medium,
            kind: crate::model::IssueType::Feature,
            tags: Vec::new(),
        };
        let issue = Issue::new(
            "01JAAAAAAAAAAAAAAAAAAAAAAA".into(),
            new,
            crate::model::Timestamp(100),
        )
        .expect("an issue");
        let fill = Fill {
            issue: Some(&issue),
            role: "reviewer",
            prompt: "be quick",
        };
        let p = preset("{{{issue.id}}} {issue.title} as {role}: {prompt}}}");
        assert_eq!(
            p.render(fill).unwrap().unwrap(),
            format!("{{{}}} Fix {{it}} as reviewer: be quick}}", issue.id)
        );
        let bad = placeholders("{issue.name} and {x} and {prompt}")
            .err()
            .unwrap();
        assert!(bad.contains("{issue.name}, {x};"), "{bad}");
        assert!(placeholders("{open").is_err());
        assert!(placeholders("close}").is_err());
        let no_issue = p
            .render(Fill {
                issue: None,
                ..fill
            })
            .unwrap_err();
        assert!(no_issue.message().contains("{issue.id}"), "{no_issue:?}");
        // An explicit prompt wins over a template that does not take it.
        let fixed = preset("Review the branch");
        assert_eq!(fixed.shape("mine", fill).unwrap(), "mine");
        assert_eq!(fixed.shape("", fill).unwrap(), "Review the branch");
        let wrap = preset("Context first. {prompt}");
        assert_eq!(wrap.shape("mine", fill).unwrap(), "Context first. mine");
    }

    #[test]
    fn tools_and_models_are_one_line() {
        assert!(check_tools(&["Read".into(), "Bash(git diff:*)".into()]).is_ok());
        assert!(check_tools(&["Read,Write".into()]).is_err());
        assert!(check_tools(&["".into()]).is_err());
        assert!(check_model("opus").is_ok());
        assert!(check_model("a\nb").is_err());
    }
}
