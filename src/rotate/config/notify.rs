//! `[[notify]]`: who is told what a run did. Webhook URLs and signing secrets are secrets, so
//! the file names the environment variables that hold them, never the values.

use serde::Deserialize;
use toml::Spanned;

use super::names::{read_env_name, read_repository, refuse_foreign, required, span, Repository};
use super::source::{Source, Subject};

/// One notification channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySpec {
    pub target: NotifyTarget,
    /// The events this channel hears about (never empty).
    pub events: Vec<NotifyEvent>,
}

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    /// A Teams Workflows webhook ("When a Teams webhook request is received").
    Teams { url_env: String },
    /// A Slack incoming webhook.
    Slack { url_env: String },
    /// A generic JSON webhook signed per Standard Webhooks.
    Webhook { url_env: String, secret_env: String },
    /// An issue in a GitHub repository.
    GithubIssue {
        repository: Repository,
        labels: Vec<String>,
    },
}

impl NotifyTarget {
    /// The `to` value of this kind of channel.
    pub fn kind(&self) -> &'static str {
        match self {
            NotifyTarget::Teams { .. } => "teams",
            NotifyTarget::Slack { .. } => "slack",
            NotifyTarget::Webhook { .. } => "webhook",
            NotifyTarget::GithubIssue { .. } => "github-issue",
        }
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotifyEvent {
    /// `check --notify`: credentials expire soon.
    Expiring,
    /// A run rotated (and propagated) credentials.
    Rotated,
    /// A run failed to rotate, propagate or trigger.
    Failed,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 3] = [
        NotifyEvent::Expiring,
        NotifyEvent::Rotated,
        NotifyEvent::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Expiring => "expiring",
            NotifyEvent::Rotated => "rotated",
            NotifyEvent::Failed => "failed",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    to: Option<Spanned<String>>,
    url_env: Option<Spanned<String>>,
    secret_env: Option<Spanned<String>>,
    events: Option<Spanned<Vec<String>>>,
    repository: Option<Spanned<String>>,
    labels: Option<Spanned<Vec<String>>>,
    // Read only to refuse them with the right advice: the values are secrets.
    url: Option<Spanned<toml::Value>>,
    secret: Option<Spanned<toml::Value>>,
}

const MAX_LABEL: usize = 50;

pub(super) fn read_notify(
    src: &Source<'_>,
    index: usize,
    spanned: &Spanned<RawNotify>,
) -> Result<NotifySpec, String> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let subject = Subject::notify(index);
    if let Some(url) = &raw.url {
        return Err(src.error_at(
            url.span().start,
            format_args!(
                "{subject}: url: a webhook URL is a secret (anyone who has it can post to \
                 the channel) and must not be written in keyrot.toml: put it in an \
                 environment variable (a pipeline secret) and write url_env = \"ITS_NAME\""
            ),
        ));
    }
    if let Some(secret) = &raw.secret {
        return Err(src.error_at(
            secret.span().start,
            format_args!(
                "{subject}: secret: a signing secret must not be written in keyrot.toml: put \
                 it in an environment variable and write secret_env = \"ITS_NAME\""
            ),
        ));
    }
    let present = [
        ("url_env", span(&raw.url_env)),
        ("secret_env", span(&raw.secret_env)),
        ("events", span(&raw.events)),
        ("repository", span(&raw.repository)),
        ("labels", span(&raw.labels)),
    ];
    let to = required(
        src,
        &subject,
        at,
        &raw.to,
        "to",
        "\"teams\", \"slack\", \"webhook\" or \"github-issue\"",
    )?;
    let url_env = || {
        let url_env = required(
            src,
            &subject,
            at,
            &raw.url_env,
            "url_env",
            "the name of the environment variable that holds the webhook URL",
        )?;
        read_env_name(src, &subject, "url_env", url_env)
    };
    let kind = to.get_ref().as_str();
    let target = match kind {
        "teams" | "slack" => {
            refuse_foreign(src, &subject, kind, &present, &["url_env", "events"])?;
            let url_env = url_env()?;
            if kind == "teams" {
                NotifyTarget::Teams { url_env }
            } else {
                NotifyTarget::Slack { url_env }
            }
        }
        "webhook" => {
            let allowed = ["url_env", "secret_env", "events"];
            refuse_foreign(src, &subject, kind, &present, &allowed)?;
            let url_env = url_env()?;
            let secret_env = required(
                src,
                &subject,
                at,
                &raw.secret_env,
                "secret_env",
                "the name of the environment variable that holds the Standard Webhooks \
                 signing secret (whsec_...), which the receiver checks",
            )?;
            NotifyTarget::Webhook {
                url_env,
                secret_env: read_env_name(src, &subject, "secret_env", secret_env)?,
            }
        }
        "github-issue" => {
            let allowed = ["repository", "labels", "events"];
            refuse_foreign(src, &subject, kind, &present, &allowed)?;
            let repository = required(
                src,
                &subject,
                at,
                &raw.repository,
                "repository",
                "\"owner/name\", where the issue is opened",
            )?;
            NotifyTarget::GithubIssue {
                repository: read_repository(src, &subject, repository)?,
                labels: read_labels(src, &subject, &raw.labels)?,
            }
        }
        other => {
            return Err(src.error_at(
                to.span().start,
                format_args!(
                    "{subject}: unknown to = {other:?}: use \"teams\", \"slack\", \"webhook\" \
                     or \"github-issue\""
                ),
            ))
        }
    };
    Ok(NotifySpec {
        target,
        events: read_events(src, &subject, &raw.events)?,
    })
}

fn read_events(
    src: &Source<'_>,
    subject: &Subject,
    raw: &Option<Spanned<Vec<String>>>,
) -> Result<Vec<NotifyEvent>, String> {
    let Some(raw) = raw else {
        return Ok(NotifyEvent::ALL.to_vec());
    };
    if raw.get_ref().is_empty() {
        return Err(src.error_at(
            raw.span().start,
            format_args!(
                "{subject}: events is empty, so nothing would be sent: list some of \
                 \"expiring\", \"rotated\", \"failed\", or remove the key for all three"
            ),
        ));
    }
    let mut events = Vec::new();
    for name in raw.get_ref() {
        let Some(event) = NotifyEvent::ALL.into_iter().find(|e| e.as_str() == name) else {
            return Err(src.error_at(
                raw.span().start,
                format_args!(
                    "{subject}: unknown event {name:?}: use \"expiring\", \"rotated\" or \
                     \"failed\""
                ),
            ));
        };
        if events.contains(&event) {
            return Err(src.error_at(
                raw.span().start,
                format_args!("{subject}: events lists {name:?} twice: list it once"),
            ));
        }
        events.push(event);
    }
    events.sort();
    Ok(events)
}

fn read_labels(
    src: &Source<'_>,
    subject: &Subject,
    raw: &Option<Spanned<Vec<String>>>,
) -> Result<Vec<String>, String> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    for label in raw.get_ref() {
        if label.trim().is_empty()
            || label.chars().count() > MAX_LABEL
            || label.chars().any(char::is_control)
        {
            return Err(src.error_at(
                raw.span().start,
                format_args!(
                    "{subject}: label {label:?}: a GitHub label has 1 to {MAX_LABEL} \
                     characters and no control characters"
                ),
            ));
        }
    }
    Ok(raw.get_ref().clone())
}

/// The identity of a channel, for refusing the same one twice.
pub(super) fn channel(target: &NotifyTarget) -> String {
    match target {
        NotifyTarget::Teams { url_env }
        | NotifyTarget::Slack { url_env }
        | NotifyTarget::Webhook { url_env, .. } => format!("url_env {url_env}"),
        NotifyTarget::GithubIssue { repository, .. } => {
            format!(
                "github-issue {}",
                repository.to_string().to_ascii_lowercase()
            )
        }
    }
}
