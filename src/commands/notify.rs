//! Sending a run's (or a check's) notification to every `[[notify]]` channel that listens to
//! what happened. The message is built from the report alone, which holds no value; a
//! channel that cannot be reached is reported, never fatal to the run.

use time::OffsetDateTime;
use url::Url;

use crate::notify::{self, Notification, StepResult};
use crate::rotate::config::{NotifySpec, NotifyTarget};
use crate::rotate::consumers::Services;
use crate::rotate::report::{CopyStatus, CredentialOutcome, Notified, RotationStatus, RunStatus};
use crate::transport::KeyrotTransport;

/// `rotate` and `sync`: one notification for the whole run, to each channel whose `events` it
/// concerns; a run in which nothing rotated or failed sends nothing. The rotation protocol
/// calls it once the run's work is done, with the credentials' locks still held.
pub struct ChannelNotifier {
    pub specs: Vec<NotifySpec>,
    pub env: Box<Env<'static>>,
    pub transport: std::sync::Arc<KeyrotTransport>,
}

#[async_trait::async_trait]
impl crate::rotate::run::Notifier for ChannelNotifier {
    async fn notify(
        &self,
        services: &Services,
        outcomes: &[CredentialOutcome],
        message_id: &str,
    ) -> Vec<Notified> {
        let notification = Notification::Run(run_report(outcomes, OffsetDateTime::now_utc()));
        send(
            &self.specs,
            &notification,
            message_id,
            &*self.env,
            &self.transport,
            services,
        )
        .await
    }
}

/// Where a channel's `url_env` and `secret_env` are read (the process, or the demo's own).
pub type Env<'a> = dyn Fn(&str) -> Option<String> + Send + Sync + 'a;

/// Sends `notification` to every channel that listens to one of its events.
/// `message_id` is the webhook-id of a signed webhook's delivery.
pub async fn send(
    specs: &[NotifySpec],
    notification: &Notification,
    message_id: &str,
    env: &Env<'_>,
    transport: &KeyrotTransport,
    services: &Services,
) -> Vec<Notified> {
    let mut notified = Vec::new();
    for spec in specs.iter().filter(|s| notification.concerns(&s.events)) {
        notified.push(send_one(spec, notification, message_id, env, transport, services).await);
    }
    notified
}

async fn send_one(
    spec: &NotifySpec,
    notification: &Notification,
    message_id: &str,
    env: &Env<'_>,
    transport: &KeyrotTransport,
    services: &Services,
) -> Notified {
    if let NotifyTarget::GithubIssue { repository, labels } = &spec.target {
        let channel = format!("a GitHub issue in {repository}");
        let issue = notify::render::github_issue(notification);
        let result = match services.github().await {
            Ok(github) => github
                .create_issue(&repository.to_string(), &issue.title, &issue.body, labels)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        return match result {
            Ok(link) => notified(&channel, "delivered", format!("opened {}", link.html_url)),
            Err(e) => notified(&channel, "failed", e),
        };
    }
    let channel = match notify::Channel::from_spec(spec, env) {
        Ok(Some(channel)) => channel,
        Ok(None) => return notified(spec.target.kind(), "failed", "no channel".into()),
        Err(why) => return notified(spec.target.kind(), "failed", why),
    };
    let now = OffsetDateTime::now_utc();
    let delivery = notify::deliver(transport, &channel, notification, message_id, now).await;
    match delivery.status {
        notify::DeliveryStatus::Delivered => {
            notified(&delivery.channel, "delivered", "delivered".into())
        }
        notify::DeliveryStatus::Sent => notified(
            &delivery.channel,
            "sent",
            "accepted without confirmation (Teams runs its flow later; a failure shows only in the flow's run history)".into(),
        ),
        notify::DeliveryStatus::Failed(why) => notified(&delivery.channel, "failed", why),
    }
}

fn notified(channel: &str, status: &'static str, message: String) -> Notified {
    Notified {
        channel: channel.to_string(),
        status,
        failed: status == "failed",
        message,
    }
}

/// The notification model of a rotation report: names, dates, outcomes, the services'
/// messages and run links, never a value (the report holds none).
pub fn run_report(outcomes: &[CredentialOutcome], now: OffsetDateTime) -> notify::RunReport {
    let credentials = outcomes
        .iter()
        .map(|c| notify::CredentialReport {
            name: c.name.clone(),
            vault: c.vault.clone(),
            outcome: outcome(c, now),
            copies: c
                .copies
                .iter()
                .map(|copy| notify::Step {
                    target: format!("{} {}", copy.kind, copy.target),
                    result: match copy.status {
                        CopyStatus::Updated | CopyStatus::Planned => StepResult::Done,
                        CopyStatus::KeyVaultLinked => {
                            StepResult::Skipped("Key Vault-linked: nothing to write".into())
                        }
                        CopyStatus::Failed => {
                            StepResult::Failed(copy.message.clone().unwrap_or_default())
                        }
                    },
                    url: None,
                })
                .collect(),
            runs: c
                .runs
                .iter()
                .map(|run| notify::Step {
                    target: format!("{} {}", run.kind, run.target),
                    result: match run.status {
                        RunStatus::Started | RunStatus::Adopted | RunStatus::Planned => {
                            StepResult::Done
                        }
                        RunStatus::Withheld => {
                            StepResult::Skipped(run.message.clone().unwrap_or_default())
                        }
                        RunStatus::Failed => {
                            StepResult::Failed(run.message.clone().unwrap_or_default())
                        }
                    },
                    url: run.url.as_deref().and_then(|u| Url::parse(u).ok()),
                })
                .collect(),
        })
        .collect();
    notify::RunReport {
        finished_at: now,
        credentials,
    }
}

fn outcome(c: &CredentialOutcome, now: OffsetDateTime) -> notify::CredentialOutcome {
    match c.status {
        RotationStatus::Rotated => notify::CredentialOutcome::Rotated {
            expires: c.new_expires.unwrap_or(now),
        },
        RotationStatus::PropagationFailed => notify::CredentialOutcome::PropagationFailed,
        RotationStatus::Failed => notify::CredentialOutcome::Failed {
            error: c.message.clone().unwrap_or_else(|| "failed".into()),
        },
        RotationStatus::RotatedElsewhere
        | RotationStatus::UpToDate
        | RotationStatus::Planned
        | RotationStatus::Locked
        | RotationStatus::Synced => notify::CredentialOutcome::Unchanged,
    }
}
