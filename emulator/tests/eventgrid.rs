//! Event Grid publisher: handshakes, Key Vault secret events, delivery, retries, dead-letter,
//! CloudEvents, Entra tokens and filters, against real HTTP endpoints on loopback.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use common::{start_with, Env, APP, APP_SECRET, TENANT};
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use keyrot_emulator::{eventgrid, Seed};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// How an endpoint answers the handshake.
#[derive(Clone, Copy, Debug)]
enum Validation {
    /// EventGridSchema: 200 with the validationResponse.
    Echo,
    /// EventGridSchema: 200 without a body (the validationUrl form).
    Manual,
    /// This status to the POST or OPTIONS.
    Status(u16),
    /// CloudEvents: 200 with `WebHook-Allowed-Origin: eventgrid.azure.net`.
    CloudOk,
    /// CloudEvents: 200 without `WebHook-Allowed-Origin`.
    CloudNoOrigin,
}

#[derive(Clone, Debug)]
struct Got {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn is_notification(&self) -> bool {
        self.header("aeg-event-type") == Some("Notification")
    }
}

struct EpState {
    validation: Validation,
    /// Answers to notifications, in order; then `default_status`.
    statuses: VecDeque<u16>,
    default_status: u16,
    delay: Duration,
    /// Close the connection without answering notifications.
    hang_up: bool,
    got: Vec<Got>,
}

#[derive(Clone)]
struct Endpoint {
    url: String,
    state: Arc<Mutex<EpState>>,
}

impl Endpoint {
    async fn start(validation: Validation) -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(EpState {
            validation,
            statuses: VecDeque::new(),
            default_status: 200,
            delay: Duration::ZERO,
            hang_up: false,
            got: Vec::new(),
        }));
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| answer(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Endpoint {
            url: format!("http://127.0.0.1:{port}/events?key=k1"),
            state,
        }
    }

    fn answer_with(&self, statuses: &[u16], default_status: u16) {
        let mut st = self.state.lock().unwrap();
        st.statuses = statuses.iter().copied().collect();
        st.default_status = default_status;
    }

    fn got(&self) -> Vec<Got> {
        self.state.lock().unwrap().got.clone()
    }

    fn notifications(&self) -> Vec<Got> {
        self.got()
            .into_iter()
            .filter(Got::is_notification)
            .collect()
    }
}

async fn answer(
    st: Arc<Mutex<EpState>>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let got = Got {
        method: parts.method.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    let (validation, delay) = {
        let s = st.lock().unwrap();
        (s.validation, s.delay)
    };
    let resp = |status: u16, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        r
    };
    let out = if got.method == "OPTIONS" {
        match validation {
            Validation::CloudOk => {
                let mut r = resp(200, String::new());
                r.headers_mut().insert(
                    "WebHook-Allowed-Origin",
                    "eventgrid.azure.net".parse().unwrap(),
                );
                r
            }
            Validation::Status(s) => resp(s, String::new()),
            _ => resp(200, String::new()),
        }
    } else if got.header("aeg-event-type") == Some("SubscriptionValidation") {
        let code = got.json()[0]["data"]["validationCode"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        match validation {
            Validation::Echo => resp(200, json!({ "validationResponse": code }).to_string()),
            Validation::Status(s) => resp(s, String::new()),
            _ => resp(200, String::new()),
        }
    } else if st.lock().unwrap().hang_up {
        st.lock().unwrap().got.push(got);
        return Err(std::io::Error::other("hang up"));
    } else {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut s = st.lock().unwrap();
        let status = s.statuses.pop_front().unwrap_or(s.default_status);
        drop(s);
        resp(status, String::new())
    };
    st.lock().unwrap().got.push(got);
    Ok(out)
}

fn seed(extra: &str) -> Seed {
    Seed::from_toml_str(&format!(
        r#"
tenant_id = "{TENANT}"

[[client]]
client_id = "{APP}"
secrets = [{{ value = "{APP_SECRET}" }}]

[[vault]]
name = "kv1"

[[vault.secret]]
name = "far-away"
value = "x"
exp = "+300d"
{extra}
"#
    ))
    .expect("seed")
}

async fn env() -> Env {
    start_with(seed("")).await
}

fn sub(name: &str, endpoints: &[&Endpoint], extra: Value) -> Value {
    let mut v = json!({
        "name": name,
        "endpoints": endpoints.iter().map(|e| e.url.clone()).collect::<Vec<_>>(),
        "retry_time_scale": 0.001,
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

async fn put_secret(env: &Env, name: &str, body: Value) -> Value {
    let token = env.token().await;
    let url = format!("{}/secrets/{name}?api-version=7.5", env.vault("kv1"));
    let (s, _, v) = env.kv("PUT", &url, Some(&token), Some(body)).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn event(id: &str, event_type: &str, subject: &str) -> Value {
    json!({
        "id": id, "topic": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1",
        "subject": subject, "eventType": event_type, "eventTime": "2024-01-01T00:00:00.0000000Z",
        "data": {"anything": [1, 2]}, "dataVersion": "1", "metadataVersion": "1",
    })
}

async fn admin(env: &Env, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}/eventgrid{path}", env.emu.admin_url());
    let mut rb = env
        .http
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (s, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn is_event_time(s: &str) -> bool {
    // 2019-07-25T01:08:33.1036736Z
    s.len() == 28
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && s[20..27].bytes().all(|b| b.is_ascii_digit())
}

#[tokio::test]
async fn eventgrid_schema_handshake_validates_and_a_refusal_is_an_arm_400() {
    let env = env().await;
    let ok = Endpoint::start(Validation::Echo).await;
    let created = env
        .emu
        .add_event_subscription(sub("good-sub", &[&ok], json!({})))
        .await
        .unwrap();
    assert_eq!(created["provisioningState"], "Succeeded");
    let got = ok.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(
        got[0].header("aeg-event-type"),
        Some("SubscriptionValidation")
    );
    let body = got[0].json();
    assert_eq!(
        body[0]["eventType"],
        "Microsoft.EventGrid.SubscriptionValidationEvent"
    );
    assert!(body[0]["data"]["validationUrl"]
        .as_str()
        .unwrap()
        .contains("/_eventgrid/validate?id="));

    // 202 is not a valid answer (§5.3), nor is a 500.
    for status in [202, 500] {
        let bad = Endpoint::start(Validation::Status(status)).await;
        let err = env
            .emu
            .add_event_subscription(sub("bad-sub", &[&ok, &bad], json!({})))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("Webhook validation handshake failed for {}. Http POST request failed with response code {status}", bad.url)),
            "{err}"
        );
        let (s, v) = admin(
            &env,
            "POST",
            "/subscriptions",
            Some(sub("bad-sub", &[&bad], json!({}))),
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(v["error"]["code"], "URL validation");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Webhook validation handshake failed for http://"));
    }
    // Nothing listening: the same failure, code Unknown.
    let (s, v) = admin(
        &env,
        "POST",
        "/subscriptions",
        Some(json!({"name": "nobody", "endpoints": ["http://127.0.0.1:9/x"]})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("response code Unknown"));
    let names: Vec<Value> = env
        .emu
        .event_subscriptions()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("good-sub")]);
}

#[tokio::test]
async fn the_validation_url_form_activates_the_subscription_when_called() {
    let env = env().await;
    let ep = Endpoint::start(Validation::Manual).await;
    let (s, v) = admin(
        &env,
        "POST",
        "/subscriptions",
        Some(sub("manual", &[&ep], json!({}))),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["provisioningState"], "AwaitingManualAction");
    // Not active yet: a secret write is not delivered.
    put_secret(&env, "early", json!({"value": "v"})).await;
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert!(ep.notifications().is_empty());

    let url = ep.got()[0].json()[0]["data"]["validationUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&format!(
        "https://localhost:{}/_eventgrid/validate?id=",
        env.emu.port()
    )));
    let r = env.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, v) = admin(&env, "GET", "/subscriptions/manual", None).await;
    assert_eq!((s, &v["provisioningState"]), (200, &json!("Succeeded")));
    // A second call of the same URL is refused.
    assert_eq!(env.http.get(&url).send().await.unwrap().status(), 400);

    put_secret(&env, "later", json!({"value": "v"})).await;
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let n = ep.notifications();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].json()[0]["subject"], "later");
}

#[tokio::test]
async fn cloudevents_handshake_is_an_options_request_and_needs_the_allowed_origin() {
    let env = env().await;
    let ok = Endpoint::start(Validation::CloudOk).await;
    let spec = |eps: &[&Endpoint]| sub("cloud-ev", eps, json!({"schema": "CloudEventSchemaV1_0"}));
    env.emu.add_event_subscription(spec(&[&ok])).await.unwrap();
    let got = ok.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "OPTIONS");
    assert_eq!(
        got[0].header("webhook-request-origin"),
        Some("eventgrid.azure.net")
    );
    for validation in [Validation::CloudNoOrigin, Validation::Status(405)] {
        let bad = Endpoint::start(validation).await;
        let err = env
            .emu
            .add_event_subscription(spec(&[&bad]))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("Http OPTIONS request failed"), "{err}");
    }
}

#[tokio::test]
async fn a_secret_write_raises_new_version_created_with_pascal_case_numeric_data() {
    let env = env().await;
    let ep = Endpoint::start(Validation::Echo).await;
    env.emu
        .add_event_subscription(sub("new-version", &[&ep], json!({})))
        .await
        .unwrap();
    let written = put_secret(
        &env,
        "db-password",
        json!({"value": "s3cret", "attributes": {"nbf": 1_700_000_000, "exp": 4_102_444_800u64}}),
    )
    .await;
    put_secret(&env, "plain", json!({"value": "v"})).await;
    let status = env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!(status.delivered, 2);

    let mut n = ep.notifications();
    assert_eq!(n.len(), 2);
    // Two deliveries run concurrently: order them by subject.
    n.sort_by_key(|g| g.json()[0]["subject"].as_str().unwrap().to_owned());
    let first = &n[0];
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.header("aeg-subscription-name"), Some("NEW-VERSION"));
    assert_eq!(first.header("aeg-delivery-count"), Some("0"));
    assert_eq!(first.header("aeg-data-version"), Some("1"));
    assert_eq!(first.header("aeg-metadata-version"), Some("1"));
    let body = first.json();
    assert_eq!(body.as_array().unwrap().len(), 1, "an array of one event");
    let e = &body[0];
    let version = written["id"].as_str().unwrap().rsplit('/').next().unwrap();
    assert_eq!(e["eventType"], "Microsoft.KeyVault.SecretNewVersionCreated");
    assert_eq!(e["subject"], "db-password");
    assert_eq!(
        e["topic"],
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/kv1",
            eventgrid::AZURE_SUBSCRIPTION_ID,
            eventgrid::RESOURCE_GROUP
        )
    );
    assert_eq!(
        (&e["dataVersion"], &e["metadataVersion"]),
        (&json!("1"), &json!("1"))
    );
    assert!(is_event_time(e["eventTime"].as_str().unwrap()), "{e}");
    let id = e["id"].as_str().unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "4"), "uuid v4: {id}");
    assert_eq!(
        e["data"],
        json!({
            "Id": format!("{}/secrets/db-password/{version}", env.vault("kv1")),
            "VaultName": "kv1", "ObjectType": "Secret", "ObjectName": "db-password",
            "Version": version, "NBF": 1_700_000_000, "EXP": 4_102_444_800u64,
        })
    );
    assert_eq!(written["id"], e["data"]["Id"]);
    let plain = &n[1].json()[0]["data"];
    assert_eq!((&plain["NBF"], &plain["EXP"]), (&Value::Null, &Value::Null));
    assert!(plain.as_object().unwrap().contains_key("EXP"));

    let log = env.emu.event_deliveries();
    assert_eq!(log.len(), 2);
    let row = log.iter().find(|d| d.event_id == id).unwrap();
    assert_eq!(row.subject, "db-password");
    assert_eq!(row.event_type, "Microsoft.KeyVault.SecretNewVersionCreated");
    assert_eq!((row.status, row.attempt), (Some(200), 0));
    assert_eq!(row.endpoint, ep.url);
}

#[tokio::test]
async fn near_expiry_fires_once_when_the_clock_enters_the_window_then_expired() {
    let extra = r#"
[[vault.secret]]
name = "soon"
value = "x"
exp = "+40d"

[[vault.secret]]
name = "off"
value = "x"
enabled = false
exp = "+45d"
"#;
    let env = start_with(seed(extra)).await;
    let ep = Endpoint::start(Validation::Echo).await;
    env.emu
        .add_event_subscription(sub("expiry", &[&ep], json!({})))
        .await
        .unwrap();
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert!(ep.notifications().is_empty(), "nothing within 30 days yet");

    let types = |ep: &Endpoint| -> Vec<(String, String)> {
        ep.notifications()
            .iter()
            .map(|g| {
                let e = &g.json()[0];
                (
                    e["eventType"].as_str().unwrap().to_owned(),
                    e["subject"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let before = env.emu.event_clock();
    let now = env.emu.advance_event_clock(11 * 86_400);
    assert!(now - before >= time::Duration::days(11));
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!(
        types(&ep),
        vec![(
            "Microsoft.KeyVault.SecretNearExpiry".to_owned(),
            "soon".to_owned()
        )]
    );
    let near = ep.notifications()[0].json();
    assert!(near[0]["data"]["EXP"].is_number());

    // The next scans do not repeat it; the disabled secret enters its window too.
    env.emu.advance_event_clock(5 * 86_400);
    env.emu.advance_event_clock(60);
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let mut got = types(&ep);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("Microsoft.KeyVault.SecretNearExpiry".into(), "off".into()),
            ("Microsoft.KeyVault.SecretNearExpiry".into(), "soon".into()),
        ]
    );

    // Over the HTTP API: past `soon`'s exp (40 days from start) but not `off`'s (45).
    let (s, v) = admin(
        &env,
        "PUT",
        "/clock",
        Some(json!({"advance_seconds": 25 * 86_400})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(is_event_time(v["now"].as_str().unwrap()));
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let got = types(&ep);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got[2],
        ("Microsoft.KeyVault.SecretExpired".into(), "soon".into())
    );
    env.emu.advance_event_clock(60);
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!(types(&ep).len(), 3, "Expired is raised once");

    // A new version moves the window: the new current version is not expiring.
    put_secret(&env, "soon", json!({"value": "rotated"})).await;
    env.emu.advance_event_clock(60);
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let got = types(&ep);
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].0, "Microsoft.KeyVault.SecretNewVersionCreated");
    // Key Vault's own clock did not move: the token still works and the secret reads.
    let token = env.token().await;
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{}/secrets/soon?api-version=7.5", env.vault("kv1")),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn attempts_go_round_robin_over_the_endpoints() {
    let env = env().await;
    let a = Endpoint::start(Validation::Echo).await;
    let b = Endpoint::start(Validation::Echo).await;
    env.emu
        .add_event_subscription(sub("round-robin", &[&a, &b], json!({})))
        .await
        .unwrap();
    let events: Vec<Value> = (0..6)
        .map(|i| {
            event(
                &format!("e{i}"),
                "Microsoft.KeyVault.SecretNewVersionCreated",
                "s",
            )
        })
        .collect();
    assert_eq!(env.emu.publish_events(Value::Array(events)).unwrap(), 6);
    let status = env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!(status.delivered, 6);
    assert_eq!((a.notifications().len(), b.notifications().len()), (3, 3));

    // Retries move on to the next endpoint too.
    a.answer_with(&[], 503);
    env.emu.clear_event_deliveries();
    env.emu
        .publish_events(json!([event("r1", "X", "s")]))
        .unwrap();
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let log = env.emu.event_deliveries();
    let endpoints: Vec<&str> = log.iter().map(|d| d.endpoint.as_str()).collect();
    assert!(
        endpoints.len() <= 2 && endpoints.contains(&b.url.as_str()),
        "{endpoints:?}"
    );
    if endpoints.len() == 2 {
        assert_ne!(endpoints[0], endpoints[1]);
        assert_eq!(log[0].status, Some(503));
    }
}

#[tokio::test]
async fn a_500_is_retried_on_the_scaled_schedule_until_success() {
    let env = env().await;
    let ep = Endpoint::start(Validation::Echo).await;
    ep.answer_with(&[500, 500], 200);
    env.emu
        .add_event_subscription(sub("retry", &[&ep], json!({"retry_time_scale": 0.005})))
        .await
        .unwrap();
    env.emu
        .publish_events(json!([event("e1", "T", "s")]))
        .unwrap();
    let status = env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!(
        (status.delivered, status.dead_lettered, status.dropped),
        (1, 0, 0)
    );
    let log = env.emu.event_deliveries();
    let attempts: Vec<(u32, Option<u16>)> = log.iter().map(|d| (d.attempt, d.status)).collect();
    assert_eq!(
        attempts,
        vec![(0, Some(500)), (1, Some(500)), (2, Some(200))]
    );
    let n = ep.notifications();
    let header_counts: Vec<&str> = n
        .iter()
        .map(|g| g.header("aeg-delivery-count").unwrap())
        .collect();
    assert_eq!(header_counts, ["0", "1", "2"]);
    // 10 s × 0.005 = 50 ms, then 30 s × 0.005 = 150 ms.
    assert!(log[1].elapsed_ms >= 50, "{log:?}");
    assert!(log[2].elapsed_ms >= 200, "{log:?}");
    assert!(log[2].elapsed_ms < 5_000, "{log:?}");
}

#[tokio::test]
async fn a_400_401_403_or_413_is_never_retried_and_is_dead_lettered() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    for status in [400u16, 401, 403, 413] {
        let ep = Endpoint::start(Validation::Echo).await;
        ep.answer_with(&[], status);
        let name = format!("refuse-{status}");
        env.emu
            .add_event_subscription(sub(
                &name,
                &[&ep],
                json!({"dead_letter_dir": dir.path().join(&name)}),
            ))
            .await
            .unwrap();
        let mut e = event(&format!("ev-{status}"), "T", "subj");
        e["data"] = json!("hostile \u{0000} data");
        env.emu.publish_events(json!([e])).unwrap();
        let st = env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
        assert_eq!(ep.notifications().len(), 1, "{status} is not retried");
        let files: Vec<_> = std::fs::read_dir(dir.path().join(&name))
            .unwrap()
            .map(|f| f.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&name.to_ascii_uppercase()));
        let dl: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!(dl["id"], format!("ev-{status}"));
        assert_eq!(dl["data"], "hostile \u{0000} data");
        assert_eq!(dl["deadLetterReason"], "NonRetryableHttpStatusCode");
        assert_eq!(dl["deliveryAttempts"], 1);
        assert_eq!(dl["lastHttpStatusCode"], status);
        assert!(dl["lastDeliveryOutcome"].is_string());
        assert!(is_event_time(dl["publishTime"].as_str().unwrap()));
        assert!(is_event_time(
            dl["lastDeliveryAttemptTime"].as_str().unwrap()
        ));
        env.emu.delete_event_subscription(&name);
        let _ = st;
    }
    assert_eq!(env.emu.event_status().dead_lettered, 4);

    // Without a dead-letter location the event is dropped.
    let ep = Endpoint::start(Validation::Echo).await;
    ep.answer_with(&[], 400);
    env.emu
        .add_event_subscription(sub("no-dl", &[&ep], json!({})))
        .await
        .unwrap();
    env.emu
        .publish_events(json!([event("x", "T", "s")]))
        .unwrap();
    let st = env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!((st.dropped, st.dead_lettered), (1, 4));
    assert_eq!(ep.notifications().len(), 1);
}

#[tokio::test]
async fn max_delivery_attempts_and_ttl_end_in_the_dead_letter() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    let ep = Endpoint::start(Validation::Echo).await;
    ep.answer_with(&[], 500);
    env.emu
        .add_event_subscription(sub(
            "max",
            &[&ep],
            json!({"max_delivery_attempts": 3, "dead_letter_dir": dir.path()}),
        ))
        .await
        .unwrap();
    env.emu
        .publish_events(json!([event("m1", "T", "s")]))
        .unwrap();
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!(ep.notifications().len(), 3);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
    let dl: Value =
        serde_json::from_slice(&std::fs::read(files[0].as_ref().unwrap().path()).unwrap()).unwrap();
    assert_eq!(dl["deadLetterReason"], "MaxDeliveryAttemptsExceeded");
    assert_eq!(dl["deliveryAttempts"], 3);
    assert_eq!(dl["lastHttpStatusCode"], 500);
    env.emu.delete_event_subscription("max");

    // TTL 1 minute × 0.0001 = 6 ms, shorter than 10 s + 30 s + 60 s of scaled retries.
    let ttl_dir = tempfile::tempdir().unwrap();
    env.emu
        .add_event_subscription(sub(
            "ttl",
            &[&ep],
            json!({"event_ttl_minutes": 1, "retry_time_scale": 0.0001, "dead_letter_dir": ttl_dir.path()}),
        ))
        .await
        .unwrap();
    env.emu
        .publish_events(json!([event("t1", "T", "s")]))
        .unwrap();
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(ttl_dir.path()).unwrap().collect();
    let dl: Value =
        serde_json::from_slice(&std::fs::read(files[0].as_ref().unwrap().path()).unwrap()).unwrap();
    assert_eq!(dl["deadLetterReason"], "TimeToLiveExceeded");
    assert!(dl["deliveryAttempts"].as_u64().unwrap() < 30);
    env.emu.delete_event_subscription("ttl");

    // A connection closed without an answer is retried like a 5xx.
    let rude = Endpoint::start(Validation::Echo).await;
    rude.state.lock().unwrap().hang_up = true;
    let rude_dir = tempfile::tempdir().unwrap();
    env.emu
        .add_event_subscription(sub(
            "hang-up",
            &[&rude],
            json!({"max_delivery_attempts": 2, "dead_letter_dir": rude_dir.path()}),
        ))
        .await
        .unwrap();
    env.emu.clear_event_deliveries();
    env.emu
        .publish_events(json!([event("h1", "T", "s")]))
        .unwrap();
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!(rude.notifications().len(), 2);
    let log = env.emu.event_deliveries();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter().all(|d| d.status.is_none() && d.error.is_some()),
        "{log:?}"
    );
    let files: Vec<_> = std::fs::read_dir(rude_dir.path()).unwrap().collect();
    let dl: Value =
        serde_json::from_slice(&std::fs::read(files[0].as_ref().unwrap().path()).unwrap()).unwrap();
    assert_eq!(dl["deadLetterReason"], "MaxDeliveryAttemptsExceeded");
    assert_eq!(dl["lastHttpStatusCode"], Value::Null);
}

#[tokio::test]
async fn deliver_twice_redelivers_every_event_with_the_next_delivery_count() {
    let env = env().await;
    let ep = Endpoint::start(Validation::Echo).await;
    env.emu
        .add_event_subscription(sub("twice", &[&ep], json!({"deliver_twice": true})))
        .await
        .unwrap();
    env.emu
        .publish_events(json!([event("d1", "T", "s")]))
        .unwrap();
    let st = env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!(st.delivered, 1);
    let n = ep.notifications();
    assert_eq!(n.len(), 2);
    assert_eq!(n[0].json()[0]["id"], "d1");
    assert_eq!(n[1].json()[0]["id"], "d1");
    assert_eq!(n[0].header("aeg-delivery-count"), Some("0"));
    assert_eq!(n[1].header("aeg-delivery-count"), Some("1"));
    let dup: Vec<bool> = env
        .emu
        .event_deliveries()
        .iter()
        .map(|d| d.duplicate)
        .collect();
    assert_eq!(dup, [false, true]);
}

#[tokio::test]
async fn cloudevents_single_and_batch_content_types() {
    let env = env().await;
    let single = Endpoint::start(Validation::CloudOk).await;
    let batch = Endpoint::start(Validation::CloudOk).await;
    env.emu
        .add_event_subscription(sub(
            "ce-one",
            &[&single],
            json!({"schema": "CloudEventSchemaV1_0"}),
        ))
        .await
        .unwrap();
    env.emu
        .add_event_subscription(sub(
            "ce-batch",
            &[&batch],
            json!({"schema": "CloudEventSchemaV1_0", "max_events_per_batch": 10}),
        ))
        .await
        .unwrap();
    put_secret(
        &env,
        "ce-secret",
        json!({"value": "v", "attributes": {"exp": 4_102_444_800u64}}),
    )
    .await;
    env.emu
        .publish_events(json!([event("b1", "T", "s1"), event("b2", "T", "s2")]))
        .unwrap();
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();

    let n = single.notifications();
    assert_eq!(n.len(), 3, "one request per event");
    assert_eq!(
        n[0].header("content-type"),
        Some("application/cloudevents+json; charset=utf-8")
    );
    assert_eq!(n[0].header("origin"), Some("eventgrid.azure.net"));
    assert_eq!(
        n[0].header("webhook-request-origin"),
        Some("eventgrid.azure.net")
    );
    let ce = n[0].json();
    assert!(ce.is_object(), "a single CloudEvent, not an array: {ce}");
    assert_eq!(ce["specversion"], "1.0");
    assert_eq!(ce["type"], "Microsoft.KeyVault.SecretNewVersionCreated");
    assert_eq!(ce["subject"], "ce-secret");
    assert!(ce["source"]
        .as_str()
        .unwrap()
        .ends_with("/providers/Microsoft.KeyVault/vaults/kv1"));
    assert!(is_event_time(ce["time"].as_str().unwrap()));
    assert_eq!(ce["data"]["EXP"], 4_102_444_800u64);
    assert!(ce.get("eventType").is_none());

    let n = batch.notifications();
    assert_eq!(
        n.len(),
        2,
        "the secret's event, and both published ones together"
    );
    for g in &n {
        assert_eq!(
            g.header("content-type"),
            Some("application/cloudevents-batch+json; charset=utf-8")
        );
    }
    let arr = n
        .iter()
        .map(Got::json)
        .find(|a| a.as_array().unwrap().len() == 2)
        .expect("the batch of two");
    let ids: Vec<&str> = arr
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b1", "b2"]);
    assert_eq!(arr[0]["specversion"], "1.0");
}

#[tokio::test]
async fn entra_protected_delivery_carries_event_grids_bearer_token() {
    let env = env().await;
    let ep = Endpoint::start(Validation::Echo).await;
    let tenant = "99999999-8888-4777-8666-555555555555";
    env.emu
        .add_event_subscription(sub(
            "aad",
            &[&ep],
            json!({"entra": {"tenant_id": tenant, "audience": "api://keyrot-serve"}}),
        ))
        .await
        .unwrap();
    env.emu
        .publish_events(json!([event("a1", "T", "s")]))
        .unwrap();
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let got = ep.got();
    assert_eq!(got.len(), 2, "handshake and delivery");
    for g in &got {
        let auth = g.header("authorization").expect("bearer on every request");
        let token = auth.strip_prefix("Bearer ").unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["aud"], "api://keyrot-serve");
        assert_eq!(
            claims["iss"],
            format!("{}/{tenant}/v2.0", env.emu.authority_host())
        );
        assert_eq!(claims["tid"], tenant);
        assert_eq!(claims["appid"], eventgrid::EVENT_GRID_APP_ID);
        assert_eq!(claims["azp"], "4962773b-9cdb-44cf-a8bf-237846a00ab7");
        assert_eq!(
            claims["roles"],
            json!(["AzureEventGridSecureWebhookSubscriber"])
        );
        let (iat, nbf, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["nbf"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!((nbf, exp - iat), (iat, 3600));
    }
    // Without `entra` there is no Authorization header.
    let plain = Endpoint::start(Validation::Echo).await;
    env.emu
        .add_event_subscription(sub("plain", &[&plain], json!({})))
        .await
        .unwrap();
    assert!(plain.got()[0].header("authorization").is_none());
}

#[tokio::test]
async fn subject_and_type_filters_select_the_events_delivered() {
    let env = env().await;
    let ep = Endpoint::start(Validation::Echo).await;
    env.emu
        .add_event_subscription(sub(
            "filtered",
            &[&ep],
            json!({
                "subject_begins_with": "DB-",
                "subject_ends_with": "-password",
                "included_event_types": ["Microsoft.KeyVault.SecretNearExpiry"],
            }),
        ))
        .await
        .unwrap();
    let near = "Microsoft.KeyVault.SecretNearExpiry";
    env.emu
        .publish_events(json!([
            event("yes", near, "db-main-password"),
            event("wrong-type", "Microsoft.KeyVault.SecretNewVersionCreated", "db-main-password"),
            event("wrong-start", near, "api-main-password"),
            event("wrong-end", near, "db-main-key"),
            {"not": "an event grid event"},
            42,
        ]))
        .unwrap();
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let ids: Vec<Value> = ep
        .notifications()
        .iter()
        .map(|g| g.json()[0]["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("yes")]);

    // No filter: anything published goes out as-is, malformed values included.
    let all = Endpoint::start(Validation::Echo).await;
    env.emu
        .add_event_subscription(sub("all", &[&all], json!({})))
        .await
        .unwrap();
    let (s, v) = admin(&env, "POST", "/events", Some(json!([42, {"id": "raw"}]))).await;
    assert_eq!((s, v), (200, json!({"published": 2})));
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let bodies: Vec<Value> = all.notifications().iter().map(Got::json).collect();
    assert_eq!(bodies, vec![json!([42]), json!([{"id": "raw"}])]);
}

#[tokio::test]
async fn the_admin_api_reports_status_deliveries_and_deletes() {
    let env = env().await;
    let ep = Endpoint::start(Validation::Echo).await;
    ep.state.lock().unwrap().delay = Duration::from_millis(300);
    let (s, v) = admin(
        &env,
        "POST",
        "/subscriptions",
        Some(sub(
            "slow",
            &[&ep],
            json!({"response_timeout_ms": 50, "max_delivery_attempts": 2}),
        )),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["max_events_per_batch"], 1);
    assert_eq!(v["schema"], "EventGridSchema");
    env.emu
        .publish_events(json!([event("slow-1", "T", "s")]))
        .unwrap();
    let (_, status) = admin(&env, "GET", "/status", None).await;
    assert_eq!(status["pending"], 1);
    env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    let (s, status) = admin(&env, "GET", "/status", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        status,
        json!({"pending": 0, "delivered": 0, "dead_lettered": 0, "dropped": 1})
    );
    let (_, log) = admin(&env, "GET", "/deliveries", None).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["error"], "timed out");
    assert_eq!(log[0]["status"], Value::Null);
    assert_eq!(log[0]["event_id"], "slow-1");
    assert_eq!(log[1]["attempt"], 1);

    let (s, v) = admin(
        &env,
        "PUT",
        "/clock",
        Some(json!({"now": "2030-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["now"].as_str().unwrap().starts_with("2030-01-01T00:00:0"));
    let (s, _) = admin(&env, "PUT", "/clock", Some(json!({}))).await;
    assert_eq!(s, 400);

    let (s, list) = admin(&env, "GET", "/subscriptions", None).await;
    assert_eq!((s, list.as_array().unwrap().len()), (200, 1));
    let (s, _) = admin(&env, "DELETE", "/subscriptions/slow", None).await;
    assert_eq!(s, 204);
    let (s, _) = admin(&env, "DELETE", "/subscriptions/slow", None).await;
    assert_eq!(s, 404);
    let (s, v) = admin(
        &env,
        "POST",
        "/subscriptions",
        Some(json!({"name": "x", "endpoints": ["https://example.com/"]})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn five_hundred_events_go_out_concurrently_over_three_endpoints() {
    let env = env().await;
    let eps = [
        Endpoint::start(Validation::Echo).await,
        Endpoint::start(Validation::Echo).await,
        Endpoint::start(Validation::Echo).await,
    ];
    // Each answer takes 50 ms: one at a time, 500 would take 25 s.
    for ep in &eps {
        ep.state.lock().unwrap().delay = Duration::from_millis(50);
    }
    env.emu
        .add_event_subscription(sub("bench", &[&eps[0], &eps[1], &eps[2]], json!({})))
        .await
        .unwrap();
    let events: Vec<Value> = (0..500)
        .map(|i| event(&format!("b{i}"), "T", "s"))
        .collect();
    let started = std::time::Instant::now();
    env.emu.publish_events(Value::Array(events)).unwrap();
    let st = env.emu.wait_for_event_deliveries(WAIT).await.unwrap();
    assert_eq!(st.delivered, 500);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let counts: Vec<usize> = eps.iter().map(|e| e.notifications().len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 500);
    assert!(
        counts.iter().all(|&c| (166..=167).contains(&c)),
        "{counts:?}"
    );
}
