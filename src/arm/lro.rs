//! ARM long-running operations (Cosmos DB's `regenerateKey` is one): a `202 Accepted` with an
//! `Azure-AsyncOperation` URL (preferred) or a `Location` URL to poll (ARM's async operations
//! guide; the Cosmos DB example, notes §7.3, sends the same URL in both).
//!
//! - [`Operation`] is the handle, serialisable so a caller can journal it and poll after a
//!   crash. It holds URLs and names, never a secret.
//! - An operation URL must be `https` on the ARM origin, or on a regional host directly under
//!   it (`centraluseuap.management.azure.com` for `management.azure.com`, as Cosmos DB
//!   answers), same port, no user info: [`check_operation_url`]. Anything else is refused, so a
//!   hostile or confused answer cannot lead the token elsewhere. The check runs when the
//!   operation is created and again before every poll (a journaled handle is input too).
//! - Polling `Azure-AsyncOperation`: `200 {"status": "InProgress" | "Succeeded" | "Failed" |
//!   "Canceled", "error": {…}}`; polling `Location`: `202` while running, `200`/`204` when done,
//!   an error status with ARM's error body when the operation failed.
//! - [`wait_until`] polls until done or until a deadline the caller passes in, honouring
//!   `Retry-After`.

use std::future::Future;
use std::time::{Duration, Instant};

use azure_core::http::{Method, Url};
use serde::{Deserialize, Serialize};

use super::{error_code_and_message, explain, Answer, ArmClient, ArmError, ArmErrorKind, Call};

/// How an operation is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperationKind {
    /// Poll the `Azure-AsyncOperation` URL for a status document.
    AsyncOperation,
    /// Poll the `Location` URL until it stops answering 202.
    Location,
    /// The service finished synchronously (200): nothing to poll.
    Completed,
}

/// A started long-running operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The resource id the operation works on.
    pub resource: String,
    /// What it does, for messages (`regenerating the primary key of Cosmos DB account ddb1`).
    pub what: String,
    pub kind: OperationKind,
    /// The URL to poll (none when [`OperationKind::Completed`]).
    pub url: Option<String>,
    /// The first `Retry-After`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// One poll's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    Pending {
        retry_after: Option<Duration>,
    },
    Succeeded,
    /// The operation failed: `Failed: BadRequest: …`.
    Failed(String),
}

/// How [`wait_until`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    Succeeded,
    Failed(String),
    /// Still running at the deadline (it may still finish: the handle can be polled later).
    TimedOut,
}

/// The polling cadence: `first`, doubling up to `max`, unless the service says `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollInterval {
    pub first: Duration,
    pub max: Duration,
}

impl Default for PollInterval {
    fn default() -> Self {
        PollInterval {
            first: Duration::from_secs(1),
            max: Duration::from_secs(15),
        }
    }
}

/// Checks that `url` may be polled with ARM's token (see the module docs).
pub fn check_operation_url(url: &str, arm_origin: &Url) -> Result<Url, String> {
    let refused = |why: &str| {
        format!(
            "refused to poll the operation at {url:?}: {why} (operations are polled on {} or a regional host under it)",
            arm_origin.origin().ascii_serialization()
        )
    };
    let parsed = Url::parse(url).map_err(|e| refused(&format!("not a URL ({e})")))?;
    if parsed.scheme() != arm_origin.scheme() {
        return Err(refused("another scheme"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refused("it carries user info"));
    }
    if parsed.port_or_known_default() != arm_origin.port_or_known_default() {
        return Err(refused("another port"));
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let arm_host = arm_origin
        .host_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let regional = host
        .strip_suffix(&arm_host)
        .and_then(|prefix| prefix.strip_suffix('.'))
        .is_some_and(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    if host != arm_host && !regional {
        return Err(refused("another host"));
    }
    Ok(parsed)
}

/// The handle for an answer to a request that may have started a long-running operation.
pub(crate) fn operation_from_answer(
    resource: &str,
    what: &str,
    answer: &Answer,
    arm_origin: &Url,
) -> Result<Operation, String> {
    let retry_after_secs = answer
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (kind, url) = match answer.status {
        200 | 204 => (OperationKind::Completed, None),
        201 | 202 => {
            if let Some(url) = answer.header("azure-asyncoperation") {
                (OperationKind::AsyncOperation, Some(url))
            } else if let Some(url) = answer.header("location") {
                (OperationKind::Location, Some(url))
            } else {
                return Err(format!(
                    "ARM answered {} without an Azure-AsyncOperation or Location header to follow",
                    answer.status
                ));
            }
        }
        other => {
            return Err(format!(
                "ARM answered {other} where 200 or 202 was expected"
            ))
        }
    };
    let url = match url {
        Some(url) => Some(check_operation_url(url.trim(), arm_origin)?.to_string()),
        None => None,
    };
    Ok(Operation {
        resource: resource.to_owned(),
        what: what.to_owned(),
        kind,
        url,
        retry_after_secs,
    })
}

#[derive(Deserialize)]
struct StatusWire {
    status: Option<String>,
}

/// One poll's answer read, or `None` when it is an error to explain (not the operation's
/// outcome: a 401, 403, 404, or a throttle that outlasted the budget).
pub(crate) fn outcome_from_answer(kind: OperationKind, answer: &Answer) -> Option<PollOutcome> {
    let retry_after = answer
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let failure = || {
        let (code, message) = error_code_and_message(&answer.body).unwrap_or_default();
        let parts: Vec<String> = [code, message].into_iter().flatten().collect();
        parts.join(": ")
    };
    match (kind, answer.status) {
        (OperationKind::Completed, _) => Some(PollOutcome::Succeeded),
        (_, 202) => Some(PollOutcome::Pending { retry_after }),
        (OperationKind::AsyncOperation, 200) => {
            let status = serde_json::from_slice::<StatusWire>(&answer.body)
                .ok()
                .and_then(|s| s.status)
                .unwrap_or_default();
            Some(match status.to_ascii_lowercase().as_str() {
                "succeeded" => PollOutcome::Succeeded,
                "failed" | "canceled" | "cancelled" => {
                    let why = failure();
                    PollOutcome::Failed(if why.is_empty() {
                        status
                    } else {
                        format!("{status}: {why}")
                    })
                }
                _ => PollOutcome::Pending { retry_after },
            })
        }
        (OperationKind::Location, 200 | 201 | 204) => Some(PollOutcome::Succeeded),
        (OperationKind::Location, 400 | 409 | 410 | 422 | 500)
            if error_code_and_message(&answer.body).is_some() =>
        {
            Some(PollOutcome::Failed(format!(
                "{} {}",
                answer.status,
                failure()
            )))
        }
        _ => None,
    }
}

/// Polls with `poll` until the operation ends or `deadline` passes (the last poll happens at
/// the deadline). Waits `interval.first`, doubling up to `interval.max`, or what `Retry-After`
/// says, never past the deadline.
pub async fn wait_until<F, Fut, E>(
    deadline: Instant,
    interval: PollInterval,
    mut poll: F,
) -> Result<Waited, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<PollOutcome, E>>,
{
    let mut backoff = interval.first;
    loop {
        let retry_after = match poll().await? {
            PollOutcome::Succeeded => return Ok(Waited::Succeeded),
            PollOutcome::Failed(why) => return Ok(Waited::Failed(why)),
            PollOutcome::Pending { retry_after } => retry_after,
        };
        let now = Instant::now();
        if now >= deadline {
            return Ok(Waited::TimedOut);
        }
        let wait = retry_after.unwrap_or(backoff).min(deadline - now);
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(interval.max);
    }
}

/// What a 403 on polling means.
const POLL_ROLE: &str = "the identity needs to read the operation's status (Microsoft.*/locations/operationsStatus/read, or the resource's operationResults); the role that let it start the operation normally includes it";

impl ArmClient {
    /// Polls `operation` once.
    pub async fn poll(&self, operation: &Operation) -> Result<PollOutcome, ArmError> {
        let call = Call {
            describe: format!("polling the operation {}", operation.what),
            resource: None,
            role: POLL_ROLE,
        };
        let Some(url) = operation.url.as_deref() else {
            return Ok(PollOutcome::Succeeded);
        };
        let url = check_operation_url(url, &self.origin)
            .map_err(|e| ArmError::new(&call.describe, ArmErrorKind::Refused, e))?;
        let http = self.http_for(&url);
        let answer = self
            .send_with(&*http, &call, Method::Get, url, None, false)
            .await?;
        outcome_from_answer(operation.kind, &answer).ok_or_else(|| explain(&call, &answer))
    }

    /// Polls `operation` until it ends or `deadline` passes.
    pub async fn wait(
        &self,
        operation: &Operation,
        deadline: Instant,
        interval: PollInterval,
    ) -> Result<Waited, ArmError> {
        wait_until(deadline, interval, || self.poll(operation)).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use azure_core::http::headers::{HeaderName, Headers};

    fn arm() -> Url {
        Url::parse(PUBLIC).unwrap()
    }

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut h = Headers::new();
        for (name, value) in headers {
            h.insert(HeaderName::from_static(name), value.to_string());
        }
        Answer {
            status,
            headers: h,
            body: body.as_bytes().to_vec(),
        }
    }

    /// Verbatim from the Cosmos DB example (notes §7.3).
    const DOCUMENTED: &str = "https://centraluseuap.management.azure.com/subscriptions/d1eb41bc-1b7f-4404-bd2a-8568c222852d/providers/Microsoft.DocumentDB/locations/centraluseuap/operationsStatus/fdd04b7b-86d5-460f-b19e-386230348bcc?api-version=2024-11-15";

    #[test]
    fn operation_urls_stay_on_arm() {
        assert!(check_operation_url(DOCUMENTED, &arm()).is_ok());
        assert!(check_operation_url("https://management.azure.com/x?y=1", &arm()).is_ok());
        assert!(check_operation_url("https://MANAGEMENT.azure.com:443/x", &arm()).is_ok());
        let emulator = Url::parse(EMULATOR).unwrap();
        assert!(check_operation_url("https://management.localhost:8443/ops/1", &emulator).is_ok());
        for (bad, why) in [
            ("https://evil.example/ops/1", "another host"),
            (
                "https://management.azure.com.evil.example/ops",
                "another host",
            ),
            ("https://evilmanagement.azure.com/ops", "another host"),
            ("https://a.b.management.azure.com/ops", "another host"),
            ("http://management.azure.com/ops", "another scheme"),
            ("https://management.azure.com:8443/ops", "another port"),
            ("https://user@management.azure.com/ops", "user info"),
            ("/relative/ops", "not a URL"),
        ] {
            let error = check_operation_url(bad, &arm()).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
            assert!(error.contains("https://management.azure.com"), "{error}");
        }
        assert!(check_operation_url("https://management.localhost:9999/ops", &emulator).is_err());
    }

    #[test]
    fn operations_come_from_202_headers() {
        let op = operation_from_answer(
            "/subscriptions/s/x",
            "regenerating",
            &answer(
                202,
                &[
                    ("location", "https://management.azure.com/loc"),
                    ("azure-asyncoperation", DOCUMENTED),
                    ("retry-after", "10"),
                ],
                "",
            ),
            &arm(),
        )
        .unwrap();
        assert_eq!(op.kind, OperationKind::AsyncOperation);
        assert_eq!(op.url.as_deref(), Some(DOCUMENTED));
        assert_eq!(op.retry_after_secs, Some(10));
        let op = operation_from_answer(
            "r",
            "w",
            &answer(202, &[("location", "https://management.azure.com/loc")], ""),
            &arm(),
        )
        .unwrap();
        assert_eq!(
            (op.kind, op.url.as_deref()),
            (
                OperationKind::Location,
                Some("https://management.azure.com/loc")
            )
        );
        let op = operation_from_answer("r", "w", &answer(200, &[], ""), &arm()).unwrap();
        assert_eq!((op.kind, op.url), (OperationKind::Completed, None));
        assert!(
            operation_from_answer("r", "w", &answer(202, &[], ""), &arm())
                .unwrap_err()
                .contains("without an Azure-AsyncOperation")
        );
        assert!(operation_from_answer(
            "r",
            "w",
            &answer(
                202,
                &[("azure-asyncoperation", "https://evil.example/x")],
                ""
            ),
            &arm()
        )
        .unwrap_err()
        .contains("refused"));
    }

    #[test]
    fn the_handle_round_trips_through_json() {
        let op = Operation {
            resource: "/subscriptions/s/rg".into(),
            what: "regenerating".into(),
            kind: OperationKind::AsyncOperation,
            url: Some(DOCUMENTED.into()),
            retry_after_secs: None,
        };
        let text = serde_json::to_string(&op).unwrap();
        assert!(text.contains("\"kind\":\"async-operation\""), "{text}");
        assert!(!text.contains("retry_after_secs"), "{text}");
        assert_eq!(serde_json::from_str::<Operation>(&text).unwrap(), op);
    }

    #[test]
    fn poll_answers_are_read() {
        use OperationKind::*;
        let pending = |kind, a: &Answer| outcome_from_answer(kind, a);
        assert_eq!(
            pending(
                AsyncOperation,
                &answer(200, &[], r#"{"status":"InProgress"}"#)
            ),
            Some(PollOutcome::Pending { retry_after: None })
        );
        assert_eq!(
            pending(
                AsyncOperation,
                &answer(200, &[("retry-after", "5")], r#"{"status":"Enqueued"}"#)
            ),
            Some(PollOutcome::Pending {
                retry_after: Some(Duration::from_secs(5))
            })
        );
        assert_eq!(
            pending(
                AsyncOperation,
                &answer(200, &[], r#"{"status":"Succeeded"}"#)
            ),
            Some(PollOutcome::Succeeded)
        );
        assert_eq!(
            pending(
                AsyncOperation,
                &answer(
                    200,
                    &[],
                    r#"{"status":"Failed","error":{"code":"BadRequest","message":"Key regeneration failed."}}"#
                )
            ),
            Some(PollOutcome::Failed(
                "Failed: BadRequest: Key regeneration failed.".into()
            ))
        );
        assert_eq!(
            pending(
                AsyncOperation,
                &answer(200, &[], r#"{"status":"Canceled"}"#)
            ),
            Some(PollOutcome::Failed("Canceled".into()))
        );
        assert_eq!(
            pending(AsyncOperation, &answer(202, &[], "")),
            Some(PollOutcome::Pending { retry_after: None })
        );
        assert_eq!(
            pending(Location, &answer(202, &[], "")),
            Some(PollOutcome::Pending { retry_after: None })
        );
        assert_eq!(
            pending(Location, &answer(200, &[], "")),
            Some(PollOutcome::Succeeded)
        );
        assert_eq!(
            pending(Location, &answer(204, &[], "")),
            Some(PollOutcome::Succeeded)
        );
        assert_eq!(
            pending(
                Location,
                &answer(
                    409,
                    &[],
                    r#"{"error":{"code":"Conflict","message":"busy"}}"#
                )
            ),
            Some(PollOutcome::Failed("409 Conflict: busy".into()))
        );
        // Not the operation's outcome: errors for the caller.
        assert_eq!(
            pending(
                Location,
                &answer(403, &[], r#"{"error":{"code":"AuthorizationFailed"}}"#)
            ),
            None
        );
        assert_eq!(pending(AsyncOperation, &answer(404, &[], "")), None);
        assert_eq!(pending(Location, &answer(500, &[], "<html>")), None);
        assert_eq!(
            pending(Completed, &answer(500, &[], "")),
            Some(PollOutcome::Succeeded)
        );
    }

    fn fast() -> PollInterval {
        PollInterval {
            first: Duration::from_millis(1),
            max: Duration::from_millis(4),
        }
    }

    #[tokio::test]
    async fn wait_until_polls_to_the_end() {
        let mut polls = 0;
        let waited = wait_until(Instant::now() + Duration::from_secs(5), fast(), || {
            polls += 1;
            let outcome = if polls < 4 {
                PollOutcome::Pending { retry_after: None }
            } else {
                PollOutcome::Succeeded
            };
            async move { Ok::<_, String>(outcome) }
        })
        .await
        .unwrap();
        assert_eq!((waited, polls), (Waited::Succeeded, 4));
        let failed = wait_until(Instant::now() + Duration::from_secs(5), fast(), || async {
            Ok::<_, String>(PollOutcome::Failed("no".into()))
        })
        .await;
        assert_eq!(failed, Ok(Waited::Failed("no".into())));
        let error = wait_until(Instant::now() + Duration::from_secs(5), fast(), || async {
            Err::<PollOutcome, _>("poll failed".to_owned())
        })
        .await;
        assert_eq!(error, Err("poll failed".to_owned()));
    }

    #[tokio::test]
    async fn wait_until_stops_at_the_deadline_even_against_a_long_retry_after() {
        let started = Instant::now();
        let mut polls = 0;
        let waited = wait_until(started + Duration::from_millis(60), fast(), || {
            polls += 1;
            async {
                Ok::<_, String>(PollOutcome::Pending {
                    retry_after: Some(Duration::from_secs(3600)),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(waited, Waited::TimedOut);
        // One poll at the start, one at the deadline.
        assert_eq!(polls, 2);
        assert!(started.elapsed() < Duration::from_secs(5));
        // A deadline already past: one poll, then out.
        let mut polls = 0;
        let waited = wait_until(Instant::now(), fast(), || {
            polls += 1;
            async { Ok::<_, String>(PollOutcome::Pending { retry_after: None }) }
        })
        .await
        .unwrap();
        assert_eq!((waited, polls), (Waited::TimedOut, 1));
    }

    #[tokio::test]
    async fn the_client_polls_regional_hosts_and_refuses_others() {
        let (client, log) = scripted(
            PUBLIC,
            vec![
                reply(200, &[], r#"{"status":"InProgress"}"#),
                reply(200, &[], r#"{"status":"Succeeded"}"#),
                reply(
                    403,
                    &[],
                    r#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#,
                ),
            ],
        );
        let op = Operation {
            resource: "r".into(),
            what: "regenerating the primary key of Cosmos DB account ddb1".into(),
            kind: OperationKind::AsyncOperation,
            url: Some(DOCUMENTED.into()),
            retry_after_secs: None,
        };
        let waited = client
            .wait(&op, Instant::now() + Duration::from_secs(5), fast())
            .await
            .unwrap();
        assert_eq!(waited, Waited::Succeeded);
        let sent = log.take();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].url, DOCUMENTED);
        assert_eq!(sent[0].method, "GET");
        assert!(sent[0].header("authorization").is_some());
        let error = client.poll(&op).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("polling the operation regenerating the primary key"),
            "{error}"
        );
        let tampered = Operation {
            url: Some("https://evil.example/ops".into()),
            ..op.clone()
        };
        let error = client.poll(&tampered).await.unwrap_err();
        assert_eq!(error.kind(), ArmErrorKind::Refused);
        assert!(
            log.take().len() == 1,
            "the 403 only; nothing sent to evil.example"
        );
        let done = Operation {
            kind: OperationKind::Completed,
            url: None,
            ..op
        };
        assert_eq!(client.poll(&done).await.unwrap(), PollOutcome::Succeeded);
    }
}
