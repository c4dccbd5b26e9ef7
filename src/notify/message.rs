//! What a notification says: a pure model of what a run did, or of what expires soon.
//!
//! It holds names, dates, outcomes, error messages and the run URLs keyrot got from the
//! services, and never a credential's value: no constructor takes a
//! [`SecretValue`](crate::model::SecretValue) and no field can hold one, so a renderer cannot
//! leak what it was never given. Every string in it is outside text (names come from the
//! config and the services, errors from the services) and is made inert by each renderer.

use serde::Serialize;
use time::OffsetDateTime;
use url::Url;

use crate::rotate::config::NotifyEvent;

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "data")]
pub enum Notification {
    /// What a `keyrot rotate` (or `sync`) run did.
    #[serde(rename = "keyrot.run")]
    Run(RunReport),
    /// `keyrot check --notify`: what expires soon, most urgent first.
    #[serde(rename = "keyrot.expiring")]
    Expiring(ExpiryReport),
}

/// What one run did, per credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    pub credentials: Vec<CredentialReport>,
}

/// One credential's part of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialReport {
    pub name: String,
    /// The vault, as the config names it.
    pub vault: String,
    pub outcome: CredentialOutcome,
    /// The copies keyrot updated (or failed to), in config order.
    pub copies: Vec<Step>,
    /// The runs keyrot started (or failed to), in config order.
    pub runs: Vec<Step>,
}

/// What became of the credential itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum CredentialOutcome {
    /// A new value is in place (and, if it has copies, every copy holds it).
    Rotated {
        #[serde(with = "time::serde::rfc3339")]
        expires: OffsetDateTime,
    },
    /// The new value is in Key Vault, but a copy could not be updated: the old value stays
    /// enabled and no run is started until the next run finishes the propagation.
    PropagationFailed,
    /// Rotation failed; the current value is unchanged.
    Failed { error: String },
    /// Nothing to do this run (not due); not worth a message on its own.
    Unchanged,
}

/// One propagation or trigger step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What the step was about, like `azure-devops-variable-group contoso/payments/billing-prod`.
    pub target: String,
    pub result: StepResult,
    /// The run keyrot started, as the service gave it (triggers only).
    pub url: Option<Url>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum StepResult {
    Done,
    /// Not needed, and why (a Key Vault-linked group needs no write).
    Skipped(String),
    Failed(String),
}

/// What expires soon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiryReport {
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// Most urgent first.
    pub items: Vec<Expiring>,
}

/// One credential that expires soon (or has expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiring {
    pub name: String,
    /// Where it lives: a vault, or an application.
    pub location: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    pub action: PlannedAction,
}

/// What keyrot will do about an expiring credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PlannedAction {
    /// It is due: the next `keyrot rotate` rotates it.
    RotateNextRun,
    /// keyrot rotates it once its rotation window opens on this date.
    RotateFrom {
        #[serde(with = "time::serde::rfc3339")]
        on: OffsetDateTime,
    },
    /// keyrot.toml does not rotate it: someone must.
    Manual,
}

impl ExpiryReport {
    /// The report with `items` sorted most urgent first (earliest expiry; ties by name).
    pub fn new(checked_at: OffsetDateTime, mut items: Vec<Expiring>) -> ExpiryReport {
        items.sort_by(|a, b| a.expires.cmp(&b.expires).then_with(|| a.name.cmp(&b.name)));
        ExpiryReport { checked_at, items }
    }
}

/// How many credentials ended each way; the headline of every rendering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub rotated: usize,
    pub failed: usize,
    pub expiring: usize,
    pub expired: usize,
}

impl CredentialReport {
    /// Whether anything in this credential's part went wrong.
    pub fn failed(&self) -> bool {
        let step_failed = |s: &Step| matches!(s.result, StepResult::Failed(_));
        matches!(
            self.outcome,
            CredentialOutcome::Failed { .. } | CredentialOutcome::PropagationFailed
        ) || self.copies.iter().any(step_failed)
            || self.runs.iter().any(step_failed)
    }
}

impl Notification {
    /// The events this notification is about; empty when there is nothing to tell (a run in
    /// which nothing rotated or failed, a check with nothing expiring).
    pub fn events(&self) -> Vec<NotifyEvent> {
        let tally = self.tally();
        let mut events = Vec::new();
        if tally.expiring + tally.expired > 0 {
            events.push(NotifyEvent::Expiring);
        }
        if tally.rotated > 0 {
            events.push(NotifyEvent::Rotated);
        }
        if tally.failed > 0 {
            events.push(NotifyEvent::Failed);
        }
        events
    }

    /// Whether a channel that listens to `events` gets this notification.
    pub fn concerns(&self, events: &[NotifyEvent]) -> bool {
        self.events().iter().any(|e| events.contains(e))
    }

    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        match self {
            Notification::Run(run) => {
                for credential in &run.credentials {
                    if credential.failed() {
                        tally.failed += 1;
                    } else if matches!(credential.outcome, CredentialOutcome::Rotated { .. }) {
                        tally.rotated += 1;
                    }
                }
            }
            Notification::Expiring(report) => {
                for item in &report.items {
                    if item.expires <= report.checked_at {
                        tally.expired += 1;
                    } else {
                        tally.expiring += 1;
                    }
                }
            }
        }
        tally
    }

    /// keyrot's own one-line summary, with counts only and no outside text (so it is safe as
    /// a title, a Slack fallback or a notification preview).
    pub fn headline(&self) -> String {
        let tally = self.tally();
        let count = |n: usize, one: &str, many: &str| {
            (n > 0).then(|| format!("{n} {}", if n == 1 { one } else { many }))
        };
        let (parts, none) = match self {
            Notification::Run(_) => (
                [
                    count(tally.rotated, "credential rotated", "credentials rotated"),
                    count(tally.failed, "credential failed", "credentials failed"),
                ],
                "nothing rotated",
            ),
            Notification::Expiring(_) => (
                [
                    count(
                        tally.expired,
                        "credential has expired",
                        "credentials have expired",
                    ),
                    count(
                        tally.expiring,
                        "credential expires soon",
                        "credentials expire soon",
                    ),
                ],
                "nothing expires soon",
            ),
        };
        let parts: Vec<String> = parts.into_iter().flatten().collect();
        if parts.is_empty() {
            format!("keyrot: {none}")
        } else {
            format!("keyrot: {}", parts.join(", "))
        }
    }
}
