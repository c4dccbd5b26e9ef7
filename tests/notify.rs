//! Issue 10: notifications reach the emulator's webhook sink (`hooks.localhost`) through
//! keyrot's transport, and the sink judges them as Teams, Slack and a Standard Webhooks
//! receiver would. Hostile names render inert; webhook URLs never show.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyrot::notify::render;
use keyrot::notify::{
    deliver, new_message_id, Channel, CredentialOutcome, CredentialReport, DeliveryStatus,
    Expiring, ExpiryReport, Notification, PlannedAction, RunReport, Step, StepResult,
};
use keyrot::rotate::config::{NotifyEvent, NotifySpec, NotifyTarget};
use keyrot::transport::{BudgetScope, KeyrotTransport, TransportConfig};
use keyrot_emulator::{
    Emulator, EmulatorConfig, FaultRule, HookDelivery, HookKind, HookVerdict, Seed,
};
use serde_json::Value;
use time::OffsetDateTime;

const SIGNING_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const WRONG_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The part of every hook URL that stands for its secret; searched for in every output.
const URL_TOKEN: &str = "T0PSECRET9c1e";

/// Names from outside keyrot, written to break out of every format.
const HOSTILE: &[&str] = &[
    "##vso[task.setvariable variable=X]pwned",
    "[click](https://evil.example/phish)",
    "<at>everyone</at>",
    "@channel <!channel> <!here>",
    "![x](https://evil.example/pixel.png)",
    "**bold** _it_ `code` <b>html</b> <https://evil.example|Click>",
];

async fn emulator() -> Emulator {
    let seed = Seed::from_toml_str(&format!(
        "[[hooks.webhook]]\nname = \"{URL_TOKEN}\"\nsecret = \"{SIGNING_SECRET}\"\n"
    ))
    .unwrap();
    Emulator::start(EmulatorConfig::new(seed)).await.unwrap()
}

fn transport(emulator: &Emulator) -> KeyrotTransport {
    KeyrotTransport::new(&TransportConfig {
        extra_roots: vec![("emulator".into(), emulator.ca_pem().as_bytes().to_vec())],
        budget: Duration::from_secs(60),
        scope: BudgetScope::EachCall,
    })
    .unwrap()
}

fn spec(target: NotifyTarget) -> NotifySpec {
    NotifySpec {
        target,
        events: NotifyEvent::ALL.to_vec(),
    }
}

/// A channel whose URL and secret come from this fake environment.
fn channel(target: NotifyTarget, env: &[(&str, String)]) -> Channel {
    let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    Channel::from_spec(&spec(target), &lookup)
        .unwrap()
        .expect("a webhook channel")
}

fn teams(url: String) -> Channel {
    channel(
        NotifyTarget::Teams {
            url_env: "KEYROT_TEAMS_WEBHOOK_URL".into(),
        },
        &[("KEYROT_TEAMS_WEBHOOK_URL", url)],
    )
}

fn slack(url: String) -> Channel {
    channel(
        NotifyTarget::Slack {
            url_env: "KEYROT_SLACK_WEBHOOK_URL".into(),
        },
        &[("KEYROT_SLACK_WEBHOOK_URL", url)],
    )
}

fn webhook(url: String, secret: &str) -> Channel {
    channel(
        NotifyTarget::Webhook {
            url_env: "KEYROT_WEBHOOK_URL".into(),
            secret_env: "KEYROT_WEBHOOK_SECRET".into(),
        },
        &[
            ("KEYROT_WEBHOOK_URL", url),
            ("KEYROT_WEBHOOK_SECRET", secret.to_owned()),
        ],
    )
}

fn id() -> String {
    new_message_id().unwrap()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

const RUN_URL: &str = "https://devops.localhost/contoso/payments/_build/results?buildId=7";

/// A run in which one credential rotated (its copy updated, its pipeline started) and one
/// failed; names are `names[0]` and `names[1]`.
fn run_with(names: [&str; 2]) -> Notification {
    Notification::Run(RunReport {
        finished_at: now(),
        credentials: vec![
            CredentialReport {
                name: names[0].into(),
                vault: "myvault".into(),
                outcome: CredentialOutcome::Rotated {
                    expires: now() + time::Duration::days(90),
                },
                copies: vec![Step {
                    target: format!("azure-devops-variable-group contoso/payments/{}", names[1]),
                    result: StepResult::Done,
                    url: None,
                }],
                runs: vec![Step {
                    target: format!("azure-devops-pipeline contoso/payments/{}", names[0]),
                    result: StepResult::Done,
                    url: Some(RUN_URL.parse().unwrap()),
                }],
            },
            CredentialReport {
                name: names[1].into(),
                vault: "myvault".into(),
                outcome: CredentialOutcome::Failed {
                    error: format!("Key Vault answered 403: {}", names[0]),
                },
                copies: Vec::new(),
                runs: Vec::new(),
            },
        ],
    })
}

fn run() -> Notification {
    run_with(["billing-api-client-secret", "db-password"])
}

/// Delivers `run()` to `channel` through a fresh transport that trusts `emulator`.
async fn send(emulator: &Emulator, channel: &Channel) -> keyrot::notify::Delivery {
    deliver(&transport(emulator), channel, &run(), &id(), now()).await
}

fn last(emulator: &Emulator) -> HookDelivery {
    emulator.hook_deliveries().pop().expect("a delivery")
}

#[tokio::test]
async fn a_teams_card_is_accepted_and_reported_sent_not_confirmed() {
    let emulator = emulator().await;
    let url = emulator.hook_url(HookKind::Teams, URL_TOKEN);
    let delivery = send(&emulator, &teams(url)).await;
    assert_eq!(delivery.status, DeliveryStatus::Sent);
    assert_eq!(
        delivery.channel,
        "the Teams webhook in $KEYROT_TEAMS_WEBHOOK_URL"
    );
    let received = last(&emulator);
    assert_eq!(
        (received.kind, received.verdict, received.status),
        (HookKind::Teams, HookVerdict::Accepted, 202)
    );
    assert!(received
        .headers
        .iter()
        .all(|(k, _)| !k.eq_ignore_ascii_case("authorization")));
}

#[tokio::test]
async fn a_slack_message_is_ok_and_delivered() {
    let emulator = emulator().await;
    let url = emulator.hook_url(HookKind::Slack, URL_TOKEN);
    let delivery = send(&emulator, &slack(url)).await;
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    let received = last(&emulator);
    assert_eq!((received.verdict, received.status), (HookVerdict::Ok, 200));
    let body: Value = serde_json::from_str(&received.body).unwrap();
    assert_eq!(
        body["text"],
        "keyrot: 1 credential rotated, 1 credential failed"
    );
}

#[tokio::test]
async fn a_signed_webhook_is_valid_and_delivered() {
    let emulator = emulator().await;
    let url = emulator.hook_url(HookKind::Webhook, URL_TOKEN);
    let transport = transport(&emulator);
    let channel = webhook(url, SIGNING_SECRET);
    // The id a run journaled before sending: a resend after a crash carries it again.
    for _ in 0..2 {
        let delivery = deliver(&transport, &channel, &run(), "msg_run42_notify0", now()).await;
        assert_eq!(delivery.status, DeliveryStatus::Delivered);
    }
    let received = last(&emulator);
    assert_eq!(
        (received.verdict, received.status),
        (HookVerdict::Valid, 204)
    );
    let ids: Vec<String> = emulator
        .hook_deliveries()
        .iter()
        .filter_map(|d| {
            d.headers
                .iter()
                .find(|(k, _)| k == "webhook-id")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(ids, ["msg_run42_notify0", "msg_run42_notify0"]);
    let body: Value = serde_json::from_str(&received.body).unwrap();
    assert_eq!(body["type"], "keyrot.run");
    assert_eq!(
        body["data"]["credentials"][0]["outcome"]["status"],
        "rotated"
    );
    assert_eq!(body["data"]["credentials"][0]["runs"][0]["url"], RUN_URL);
}

#[tokio::test]
async fn a_wrong_signing_secret_is_refused_and_keyrot_names_the_failure() {
    let emulator = emulator().await;
    let url = emulator.hook_url(HookKind::Webhook, URL_TOKEN);
    let delivery = send(&emulator, &webhook(url, WRONG_SECRET)).await;
    let DeliveryStatus::Failed(why) = &delivery.status else {
        panic!("expected a failure, got {delivery:?}")
    };
    assert!(why.contains("refused the signature (401"), "{why}");
    assert!(why.contains("$KEYROT_WEBHOOK_SECRET"), "{why}");
    assert!(
        !why.contains(WRONG_SECRET) && !why.contains(URL_TOKEN),
        "{why}"
    );
    assert_eq!(
        last(&emulator).verdict,
        HookVerdict::Invalid("no signature matches".into())
    );
}

/// A body that is not the card envelope (a webhook payload sent to a Teams URL) still gets
/// Teams' 202, so keyrot says only "sent"; the flow fails afterwards, as the sink records.
#[tokio::test]
async fn a_non_card_body_to_teams_is_reported_sent_while_the_flow_fails() {
    let emulator = emulator().await;
    let url = emulator.hook_url(HookKind::Teams, URL_TOKEN);
    let delivery = send(&emulator, &webhook(url, SIGNING_SECRET)).await;
    assert_eq!(delivery.status, DeliveryStatus::Sent);
    let received = last(&emulator);
    assert_eq!(received.status, 202);
    let HookVerdict::FlowFailed(error) = received.verdict else {
        panic!("expected flow_failed, got {:?}", received.verdict)
    };
    assert!(error.contains("'@triggerOutputs()?['body']?['attachments']' is of type 'Null'"));
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried() {
    let emulator = emulator().await;
    emulator.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(1),
        count: Some(1),
        ..FaultRule::new("hooks.slack")
    });
    let url = emulator.hook_url(HookKind::Slack, URL_TOKEN);
    let started = std::time::Instant::now();
    let delivery = send(&emulator, &slack(url)).await;
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    let verdicts: Vec<HookVerdict> = emulator
        .hook_deliveries()
        .into_iter()
        .map(|d| d.verdict)
        .collect();
    assert_eq!(verdicts, vec![HookVerdict::Fault(429), HookVerdict::Ok]);
}

/// Every string of a JSON document, with the key it sits under.
fn strings<'a>(value: &'a Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match value {
        Value::String(s) => out.push((key, s)),
        Value::Array(items) => items.iter().for_each(|v| strings(v, key, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| strings(v, k, out)),
        _ => {}
    }
}

#[tokio::test]
async fn hostile_names_render_inert_in_every_format() {
    let emulator = emulator().await;
    let transport = transport(&emulator);
    for pair in HOSTILE.windows(2) {
        let notification = run_with([pair[0], pair[1]]);
        for kind in [HookKind::Teams, HookKind::Slack] {
            let url = emulator.hook_url(kind, URL_TOKEN);
            let channel = if kind == HookKind::Teams {
                teams(url)
            } else {
                slack(url)
            };
            let delivery = deliver(&transport, &channel, &notification, &id(), now()).await;
            assert_ne!(
                std::mem::discriminant(&delivery.status),
                std::mem::discriminant(&DeliveryStatus::Failed(String::new())),
                "{delivery:?}"
            );
            let received = last(&emulator);
            assert!(
                matches!(received.verdict, HookVerdict::Accepted | HookVerdict::Ok),
                "{:?}",
                received.verdict
            );
            assert!(!received.body.contains("##vso["), "{}", received.body);
            let body: Value = serde_json::from_str(&received.body).unwrap();
            let mut found = Vec::new();
            strings(&body, "", &mut found);
            for name in pair {
                // The name is shown (inert), not dropped: its last word is in some text.
                let word = name
                    .rsplit(|c: char| !c.is_alphanumeric())
                    .find(|w| !w.is_empty())
                    .unwrap();
                assert!(
                    found.iter().any(|(_, t)| t.contains(word)),
                    "{word} missing: {body}"
                );
            }
            for (key, text) in &found {
                // Links only where keyrot puts the run URLs it got from the services.
                if *key == "url" {
                    assert_eq!(*text, RUN_URL);
                }
                if text.contains("evil.example")
                    || text.contains("<!channel>")
                    || text.contains("<at>")
                {
                    // Outside text only in fields that are never markup: Teams' TextRun
                    // and Slack's plain_text (both under "text"), or a button title.
                    assert!(*key == "text" || *key == "title", "{key}: {text}");
                }
            }
            if kind == HookKind::Teams {
                let card = &body["attachments"][0]["content"];
                for block in card["body"].as_array().unwrap() {
                    assert_eq!(
                        block["type"], "RichTextBlock",
                        "no Markdown TextBlock: {block}"
                    );
                }
            } else {
                // The fallback text (read as mrkdwn) carries counts only.
                assert!(body["text"].as_str().unwrap().starts_with("keyrot: "));
                for block in body["blocks"].as_array().unwrap() {
                    if let Some(text) = block.get("text") {
                        assert_eq!(text["type"], "plain_text", "{block}");
                    }
                }
            }
        }

        let issue = render::github_issue(&notification);
        assert!(!issue.title.contains(pair[0]) && !issue.title.contains(pair[1]));
        assert!(!issue.body.contains("##vso["), "{}", issue.body);
        // Every outside name sits inside a code span: with the code spans removed, nothing
        // hostile is left to be read as Markdown.
        let outside_code = strip_code_spans(&issue.body);
        for needle in [
            "evil.example",
            "<at>",
            "@channel",
            "<!channel>",
            "![",
            "<b>",
        ] {
            assert!(
                !outside_code.contains(needle),
                "{needle} outside a code span:\n{}",
                issue.body
            );
        }
        assert!(
            issue.body.contains(&format!("(<{RUN_URL}>)")),
            "{}",
            issue.body
        );
    }
}

/// The Markdown with every code span (any fence length) removed.
fn strip_code_spans(markdown: &str) -> String {
    let mut out = String::new();
    let mut rest = markdown;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let fence_len = rest[start..].chars().take_while(|c| *c == '`').count();
        let fence = "`".repeat(fence_len);
        let after = &rest[start + fence_len..];
        match after.find(&fence) {
            Some(end) => rest = &after[end + fence_len..],
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The webhook URLs (their secret part, `URL_TOKEN`) appear in no log line, at any level,
/// and in no delivery report, whether the delivery worked, failed at the receiver, or could
/// not connect at all.
#[tokio::test]
async fn webhook_urls_never_appear_in_logs_or_reports() {
    let emulator = emulator().await;
    let transport = transport(&emulator);
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let channels = [
        teams(emulator.hook_url(HookKind::Teams, URL_TOKEN)),
        slack(format!(
            "{}?sig={URL_TOKEN}",
            emulator.hook_url(HookKind::Slack, URL_TOKEN)
        )),
        webhook(
            emulator.hook_url(HookKind::Webhook, URL_TOKEN),
            WRONG_SECRET,
        ),
        // Not seeded under this name: 404.
        webhook(
            emulator.hook_url(HookKind::Webhook, &format!("{URL_TOKEN}-gone")),
            SIGNING_SECRET,
        ),
        slack(format!(
            "https://hooks.localhost:{closed_port}/slack/{URL_TOKEN}"
        )),
    ];
    let mut reports = Vec::new();
    for channel in &channels {
        let delivery = deliver(&transport, channel, &run(), &id(), now()).await;
        reports.push(format!("{delivery:?}"));
    }
    let expiry = Notification::Expiring(ExpiryReport::new(
        now(),
        vec![Expiring {
            name: "db-password".into(),
            location: "myvault".into(),
            expires: now() + time::Duration::days(3),
            action: PlannedAction::RotateNextRun,
        }],
    ));
    reports.push(format!(
        "{:?}",
        deliver(&transport, &channels[0], &expiry, &id(), now()).await
    ));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        !logs.is_empty(),
        "the transport and the notifier log at trace level"
    );
    assert!(
        !logs.contains(URL_TOKEN),
        "a webhook URL in the log:\n{logs}"
    );
    for report in &reports {
        assert!(
            !report.contains(URL_TOKEN),
            "a webhook URL in a report: {report}"
        );
    }
    assert!(
        reports[3].contains("404") && reports[3].contains("$KEYROT_WEBHOOK_URL"),
        "{}",
        reports[3]
    );
    assert!(reports[4].contains("Failed"), "{}", reports[4]);
    assert!(reports[5].contains("Sent"), "{}", reports[5]);
}

#[test]
fn a_missing_or_plain_text_url_is_refused_naming_the_variable_only() {
    let spec = spec(NotifyTarget::Teams {
        url_env: "KEYROT_TEAMS_WEBHOOK_URL".into(),
    });
    let unset = Channel::from_spec(&spec, &|_| None).err().unwrap();
    assert!(
        unset.contains("$KEYROT_TEAMS_WEBHOOK_URL is not set"),
        "{unset}"
    );
    let http = format!("http://hooks.example/{URL_TOKEN}");
    let error = Channel::from_spec(&spec, &|_| Some(http.clone()))
        .err()
        .unwrap();
    assert!(
        error.contains("not an https URL") && !error.contains(URL_TOKEN),
        "{error}"
    );
    let issue = NotifySpec {
        target: NotifyTarget::GithubIssue {
            repository: keyrot::rotate::config::Repository {
                owner: "contoso".into(),
                name: "ops".into(),
            },
            labels: Vec::new(),
        },
        events: vec![NotifyEvent::Failed],
    };
    assert!(Channel::from_spec(&issue, &|_| None).unwrap().is_none());
}

#[test]
fn only_runs_that_rotated_or_failed_concern_a_channel() {
    let quiet = Notification::Run(RunReport {
        finished_at: now(),
        credentials: vec![CredentialReport {
            name: "db-password".into(),
            vault: "myvault".into(),
            outcome: CredentialOutcome::Unchanged,
            copies: Vec::new(),
            runs: Vec::new(),
        }],
    });
    assert!(quiet.events().is_empty());
    assert!(!quiet.concerns(&NotifyEvent::ALL));
    assert_eq!(
        run().events(),
        vec![NotifyEvent::Rotated, NotifyEvent::Failed]
    );
    assert!(run().concerns(&[NotifyEvent::Failed]));
    assert!(!run().concerns(&[NotifyEvent::Expiring]));
}

#[test]
fn the_expiry_summary_puts_the_most_urgent_first() {
    let checked = now();
    let item = |name: &str, days: i64, action| Expiring {
        name: name.into(),
        location: "myvault".into(),
        expires: checked + time::Duration::days(days),
        action,
    };
    let report = ExpiryReport::new(
        checked,
        vec![
            item(
                "later",
                20,
                PlannedAction::RotateFrom {
                    on: checked + time::Duration::days(5),
                },
            ),
            item("gone", -2, PlannedAction::Manual),
            item("soon", 3, PlannedAction::RotateNextRun),
        ],
    );
    let names: Vec<&str> = report.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["gone", "soon", "later"]);
    let notification = Notification::Expiring(report);
    assert_eq!(
        notification.headline(),
        "keyrot: 1 credential has expired, 2 credentials expire soon"
    );
    let issue = render::github_issue(&notification);
    let gone = issue.body.find("`gone`").unwrap();
    let soon = issue.body.find("`soon`").unwrap();
    assert!(gone < soon, "{}", issue.body);
    assert!(issue.body.contains("rotate it by hand"), "{}", issue.body);
    assert!(
        issue.body.contains("keyrot rotates it on its next run"),
        "{}",
        issue.body
    );
}

/// The admin route lists deliveries (for test suites in other languages); the seeded signing
/// secret is in no answer.
#[tokio::test]
async fn the_admin_route_lists_deliveries_without_the_signing_secret() {
    let emulator = emulator().await;
    let url = emulator.hook_url(HookKind::Webhook, URL_TOKEN);
    send(&emulator, &webhook(url, SIGNING_SECRET)).await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(emulator.ca_pem().as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], emulator.port()).into())
        .build()
        .unwrap();
    let admin = format!("{}/hooks", emulator.admin_url());
    let answer = client
        .get(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listed: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(listed[0]["kind"], "webhook");
    assert_eq!(listed[0]["verdict"], "valid");
    assert!(!answer.contains("C2FVsBQIhrscChlQIMV"), "{answer}");
    let cleared = client.delete(&admin).send().await.unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(emulator.hook_deliveries().is_empty());
}

/// Through the binary: a webhook URL written in keyrot.toml, or a bad section, stops `rotate`
/// with exit 2 and `file:line:col` before any request, and the URL is not repeated.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_section_stops_the_binary_before_any_request() {
    let harness = common::Harness::start(&common::standard_seed()).await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!("[[notify]]\nto = \"slack\"\nurl = \"https://hooks.slack.com/services/{URL_TOKEN}\""),
            "keyrot.toml:9:7: [[notify]] #1: url: a webhook URL is a secret",
        ),
        (
            "[[credential.trigger]]\nto = \"github-workflow\"\nrepository = \"contoso\"\nworkflow = \"deploy.yml\"\nref = \"main\"".to_owned(),
            "keyrot.toml:9:14: credential \"db-password\": trigger #1: repository \"contoso\" is not owner/name",
        ),
    ];
    for (section, expected) in cases {
        let config = dir.path().join("keyrot.toml");
        std::fs::write(
            &config,
            format!(
                "[defaults]\nvault = \"{}\"\n\n[[credential]]\nname = \"db-password\"\n\
                 generator = \"random\"\n{section}\n",
                harness.vault("gate")
            ),
        )
        .unwrap();
        let config = config.display().to_string();
        let run = harness
            .run(
                harness.client_secret_env(),
                &["rotate", "--config", &config],
            )
            .await;
        run.expect_code(2);
        let expected = expected.replace("keyrot.toml", &config);
        assert!(run.stderr.contains(&expected), "{expected}\n{}", run.stderr);
        assert!(!run.stderr.contains(URL_TOKEN) && !run.stdout.contains(URL_TOKEN));
        assert!(
            harness.emulator.requests().is_empty(),
            "no request before the config is read"
        );
    }
}
