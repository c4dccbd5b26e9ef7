//! A notification as lines of text spans and links, before any format: each renderer maps
//! the same document to its own markup, so all of them say the same thing and each format
//! decides only how to keep outside text inert.

use time::OffsetDateTime;
use url::Url;

use super::message::{
    CredentialOutcome, ExpiryReport, Notification, PlannedAction, RunReport, Step, StepResult,
};
use crate::ci::inert;

/// The longest name or target shown; longer outside text is cut with `…`.
const MAX_NAME: usize = 200;
/// The longest error message shown.
const MAX_ERROR: usize = 500;

/// A piece of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Already inert: no hidden characters, no line breaks, no `##vso[` (see
    /// [`inert::one_line`]). Renderers still escape it for their markup when `outside`.
    pub text: String,
    /// Text that came from outside keyrot (names, targets, error messages).
    pub outside: bool,
    /// keyrot's own emphasis (the outcome word).
    pub strong: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// A detail of the line above (a copy, a run).
    pub nested: bool,
    pub spans: Vec<Span>,
}

/// A link to a run keyrot started: the only links a notification carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Outside text (the target), inert.
    pub label: String,
    pub url: Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// keyrot's own words and counts only.
    pub headline: String,
    pub lines: Vec<Line>,
    pub links: Vec<Link>,
}

impl Span {
    fn own(text: impl Into<String>) -> Span {
        Span {
            text: text.into(),
            outside: false,
            strong: false,
        }
    }

    fn strong(text: impl Into<String>) -> Span {
        Span {
            strong: true,
            ..Span::own(text)
        }
    }

    fn outside(text: &str, max: usize) -> Span {
        Span {
            text: cut(&inert::one_line(text), max),
            outside: true,
            strong: false,
        }
    }
}

/// The first `max` characters, and `…` when there were more.
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

/// `2026-12-10 14:00 UTC`.
pub fn date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// Links only to https URLs (the services' own run pages); anything else stays text.
fn link_for(step: &Step) -> Option<Link> {
    let url = step.url.as_ref().filter(|u| u.scheme() == "https")?;
    Some(Link {
        label: cut(&inert::one_line(&step.target), 60),
        url: url.clone(),
    })
}

pub fn document(notification: &Notification) -> Document {
    let mut doc = Document {
        headline: notification.headline(),
        lines: Vec::new(),
        links: Vec::new(),
    };
    match notification {
        Notification::Run(run) => run_lines(run, &mut doc),
        Notification::Expiring(report) => expiry_lines(report, &mut doc),
    }
    doc
}

fn run_lines(run: &RunReport, doc: &mut Document) {
    for credential in &run.credentials {
        let name = Span::outside(&credential.name, MAX_NAME);
        let vault = Span::outside(&credential.vault, MAX_NAME);
        let spans = match &credential.outcome {
            CredentialOutcome::Rotated { expires } => vec![
                Span::strong("Rotated"),
                Span::own(" "),
                name,
                Span::own(" in "),
                vault,
                Span::own(format!("; the new value expires {}", date(*expires))),
            ],
            CredentialOutcome::PropagationFailed => vec![
                Span::strong("Not propagated"),
                Span::own(" "),
                name,
                Span::own(" in "),
                vault,
                Span::own(
                    ": the new value is in Key Vault, but not every copy holds it; the old value \
                     stays enabled and no run was started; the next keyrot run finishes it",
                ),
            ],
            CredentialOutcome::Failed { error } => vec![
                Span::strong("Failed"),
                Span::own(" "),
                name,
                Span::own(" in "),
                vault,
                Span::own(": "),
                Span::outside(error, MAX_ERROR),
            ],
            CredentialOutcome::Unchanged
                if credential.copies.is_empty() && credential.runs.is_empty() =>
            {
                continue
            }
            CredentialOutcome::Unchanged => vec![
                Span::strong("Synced"),
                Span::own(" "),
                name,
                Span::own(" in "),
                vault,
            ],
        };
        doc.lines.push(Line {
            nested: false,
            spans,
        });
        for (what, done, steps) in [
            ("copy", "updated", &credential.copies),
            ("run", "started", &credential.runs),
        ] {
            for step in steps {
                let mut spans = vec![
                    Span::own(format!("{what} ")),
                    Span::outside(&step.target, MAX_NAME),
                    Span::own(": "),
                ];
                match &step.result {
                    StepResult::Done => spans.push(Span::own(done)),
                    StepResult::Skipped(why) => {
                        spans.push(Span::own("skipped, "));
                        spans.push(Span::outside(why, MAX_ERROR));
                    }
                    StepResult::Failed(error) => {
                        spans.push(Span::strong("failed"));
                        spans.push(Span::own(", "));
                        spans.push(Span::outside(error, MAX_ERROR));
                    }
                }
                doc.lines.push(Line {
                    nested: true,
                    spans,
                });
                if let Some(link) = link_for(step) {
                    doc.links.push(link);
                }
            }
        }
    }
}

fn expiry_lines(report: &ExpiryReport, doc: &mut Document) {
    for item in &report.items {
        let when = if item.expires <= report.checked_at {
            format!(" expired {}", date(item.expires))
        } else {
            let days = (item.expires - report.checked_at).whole_days();
            let left = match days {
                0 => "within a day".to_owned(),
                1 => "in 1 day".to_owned(),
                n => format!("in {n} days"),
            };
            format!(" expires {} ({left})", date(item.expires))
        };
        let action = match &item.action {
            PlannedAction::RotateNextRun => "; keyrot rotates it on its next run".to_owned(),
            PlannedAction::RotateFrom { on } => {
                format!("; keyrot rotates it from {}", date(*on))
            }
            PlannedAction::Manual => "; keyrot.toml does not rotate it: rotate it by hand".into(),
        };
        doc.lines.push(Line {
            nested: false,
            spans: vec![
                Span::outside(&item.name, MAX_NAME),
                Span::own(" in "),
                Span::outside(&item.location, MAX_NAME),
                Span::own(when),
                Span::own(action),
            ],
        });
    }
}
