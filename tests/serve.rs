//! `keyrot serve` end to end: the real binary listening on loopback, deliveries sent as Event
//! Grid and the Functions host send them, the emulator's Key Vault as the record of what was
//! written; and, at the end, driven by the emulator's Event Grid publisher as Azure drives it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{keyrot_command, Harness};
use serde_json::{json, Value};

const KEY: &str = "serve-key-Hq2Lr8Vt5Wz1Xc4N";
const OLD_DB: &str = "SRV-db-old-4k2j";
const OLD_API: &str = "SRV-api-old-9x3m";
const TWIN: &str = "SRV-twin-old-1p7q";

fn seed() -> String {
    format!(
        r#"
[[client]]
client_id = "{id}"
secrets = [{{ value = "{secret}" }}]

[[vault]]
name = "evt"

[[vault.secret]]
name = "db-password"
value = "{OLD_DB}"
exp = "+20d"

[[vault.secret]]
name = "api-key"
value = "{OLD_API}"
exp = "+20d"

[[vault.secret]]
name = "soon"
value = "SRV-soon-old-2b8c"
exp = "+3d"

[[vault]]
name = "evt2"

# The same name in another vault: not keyrot's credential.
[[vault.secret]]
name = "db-password"
value = "{TWIN}"
exp = "+20d"
"#,
        id = common::CLIENT_ID,
        secret = common::CLIENT_SECRET,
    )
}

struct World {
    harness: Harness,
    _dir: tempfile::TempDir,
    config: String,
}

impl World {
    async fn start(extra_config: &str) -> World {
        World::start_seeded(&seed(), extra_config).await
    }

    async fn start_seeded(seed: &str, extra_config: &str) -> World {
        let harness = Harness::start(seed).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("keyrot.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[defaults]
vault = "{vault}"
rotate_within = "7d"
validity = "90d"
grace = "1d"

[[credential]]
name = "db-password"
generator = "random"

[[credential]]
name = "api-key"
generator = "random"
on_new_version = "sync"
{extra_config}
"#,
                vault = harness.vault("evt")
            ),
        )
        .unwrap();
        World {
            config: config.display().to_string(),
            harness,
            _dir: dir,
        }
    }

    fn env(&self, key: bool) -> Vec<(String, String)> {
        let mut env = self.harness.client_secret_env();
        if key {
            env.push(("KEYROT_SERVE_KEY".into(), KEY.into()));
        }
        env
    }

    fn serve(&self, env: Vec<(String, String)>, extra: &[&str]) -> Serve {
        let mut args = vec!["serve", "--config", self.config.as_str()];
        args.extend_from_slice(extra);
        for (flag, default) in [
            ("--listen", "127.0.0.1:0"),
            ("--sweep-every", "0"),
            ("--lock-settle", "2s"),
            ("--lock-lease", "10s"),
        ] {
            if !extra.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        Serve::start(env, &args)
    }

    fn versions(&self, vault: &str, name: &str) -> Vec<keyrot_emulator::SecretVersionView> {
        self.harness.emulator.secret_versions(vault, name)
    }

    fn current(&self, name: &str) -> String {
        self.versions("evt", name).last().unwrap().version.clone()
    }

    /// Requests that change something in a vault.
    fn writes(&self) -> usize {
        self.harness
            .emulator
            .requests()
            .iter()
            .filter(|r| r.host.contains(".vault.") && r.method != "GET")
            .count()
    }
}

/// A running `keyrot serve` and what it printed.
struct Serve {
    child: Child,
    addr: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(env: Vec<(String, String)>, args: &[&str]) -> Serve {
        let mut child = keyrot_command(&env)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keyrot runs");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        for (stream, lines) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
                stdout.clone(),
            ),
            (Box::new(child.stderr.take().unwrap()), stderr.clone()),
        ] {
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut serve = Serve {
            child,
            addr: String::new(),
            stdout,
            stderr,
        };
        let started = Instant::now();
        loop {
            if let Some(line) = serve.logs().into_iter().find(|l| l["msg"] == "listening") {
                serve.addr = line["detail"]["address"].as_str().unwrap().to_string();
                return serve;
            }
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!(
                    "keyrot serve exited {status}: {:?}",
                    serve.stderr.lock().unwrap()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn logs(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}")))
            .collect()
    }

    fn text(&self) -> String {
        let mut all = self.stdout.lock().unwrap().join("\n");
        all.push('\n');
        all.push_str(&self.stderr.lock().unwrap().join("\n"));
        all
    }

    /// The log lines of event `id`, waiting (up to 10 s) for the first: keyrot writes them
    /// before it answers, but the thread that reads its stdout may not have got there yet.
    fn event_log(&self, id: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<Value> = self
                .logs()
                .into_iter()
                .filter(|l| l["msg"] == "event" && l["event_id"] == id)
                .collect();
            if !lines.is_empty() || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A credential `gated` whose verify_command waits at a gate the test opens: the instance that
/// rotates it holds its lock until then, so a rival provably arrives while the lock is held,
/// however slowly a loaded machine schedules either process.
struct Gate {
    dir: tempfile::TempDir,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `base` with the secret `gated` in vault `evt`, expiring at `exp`.
    fn seed(&self, base: &str, exp: &str) -> String {
        let seeded = base.replacen(
            "[[vault]]\nname = \"evt2\"",
            &format!(
                "[[vault.secret]]\nname = \"gated\"\nvalue = \"SRV-gated-old-5t6y\"\nexp = \"{exp}\"\n\n[[vault]]\nname = \"evt2\""
            ),
            1,
        );
        assert_ne!(seeded, base, "the seed has vault evt2 to insert before");
        seeded
    }

    /// The keyrot.toml entry.
    fn credential(&self) -> String {
        let (entered, open) = (
            self.dir.path().join("entered"),
            self.dir.path().join("open"),
        );
        format!(
            "\n[[credential]]\nname = \"gated\"\ngenerator = \"random\"\nverify_timeout = \"60s\"\n\
             verify_command = [\"sh\", \"-c\", \"touch '{}'; while [ ! -e '{}' ]; do sleep 0.05; done\"]\n",
            entered.display(),
            open.display()
        )
    }

    /// Waits (up to 30 s) until a rotation is verifying, holding the lock.
    async fn entered(&self) {
        let started = Instant::now();
        while !self.dir.path().join("entered").exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no rotation reached the gate"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn open(&self) {
        std::fs::write(self.dir.path().join("open"), "").unwrap();
    }
}

fn event(id: &str, event_type: &str, vault: &str, name: &str, version: &str) -> Value {
    json!({
        "id": id,
        "topic": format!("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/{vault}"),
        "subject": name,
        "eventType": format!("Microsoft.KeyVault.{event_type}"),
        "eventTime": "2026-12-05T10:00:00.0000000Z",
        "data": {"Id": format!("https://{vault}.vault.azure.net/secrets/{name}/{version}"),
            "VaultName": vault, "ObjectType": "Secret", "ObjectName": name, "Version": version,
            "NBF": null, "EXP": 1_800_000_000},
        "dataVersion": "1",
        "metadataVersion": "1"
    })
}

async fn post(url: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("aeg-event-type", "Notification")
        .json(body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("keyrot answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_authentication_and_malformed_deliveries() {
    let world = World::start("").await;
    let serve = world.serve(world.env(true), &[]);
    let events = serve.url(&format!("/events?key={KEY}"));
    let client = reqwest::Client::new();

    // Event Grid schema: the validation handshake answers the code.
    let validation: Value = serde_json::from_str(include_str!(
        "fixtures/eventgrid/subscription_validation_event.json"
    ))
    .unwrap();
    let (status, _, body) = post(&events, &validation).await;
    let expected: Value = serde_json::from_str(include_str!(
        "fixtures/eventgrid/subscription_validation_response.json"
    ))
    .unwrap();
    assert_eq!((status, body), (200, expected));

    // CloudEvents: the abuse-protection handshake.
    let answer = client
        .request(reqwest::Method::OPTIONS, &events)
        .header("WebHook-Request-Origin", "eventgrid.azure.net")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        answer.headers()["webhook-allowed-origin"],
        "eventgrid.azure.net"
    );
    assert!(answer.headers().contains_key("webhook-allowed-rate"));

    // /healthz needs no key.
    let health = client.get(serve.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);

    // Unauthenticated: 401, and nothing written.
    let writes = world.writes();
    let current = world.current("db-password");
    let near = json!([event(
        "u1",
        "SecretNearExpiry",
        "evt",
        "db-password",
        &current
    )]);
    for url in [
        serve.url("/events"),
        serve.url("/events?key=wrong"),
        serve.url(&format!("/events?key={KEY}x")),
        serve.url("/keyrot-events"),
        serve.url("/keyrot-sweep"),
    ] {
        let (status, _, _) = post(&url, &near).await;
        assert_eq!(status, 401, "{url}");
    }
    let options = client
        .request(reqwest::Method::OPTIONS, serve.url("/events"))
        .header("WebHook-Request-Origin", "eventgrid.azure.net")
        .send()
        .await
        .unwrap();
    assert_eq!(options.status().as_u16(), 401);

    // Malformed: 400, and nothing written.
    let malformed: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"[null]".to_vec(),
        br#"[{"id": "m1"}]"#.to_vec(),
        serde_json::to_vec(&json!([event(
            "m2",
            "SecretNearExpiry",
            "evt",
            "db/password",
            &current
        )]))
        .unwrap(),
        serde_json::to_vec(&json!([event(
            "m3",
            "SecretNearExpiry",
            "evt",
            "db-password",
            "../../x"
        )]))
        .unwrap(),
        // One bad event spoils the batch: the good one is not acted on either.
        serde_json::to_vec(&json!([
            event("m4", "SecretNearExpiry", "evt", "db-password", &current),
            {"id": "m5", "eventType": "Microsoft.KeyVault.SecretExpired", "data": "x"}
        ]))
        .unwrap(),
        vec![0xff, 0xfe, 0x00, 0x7b],
    ];
    for body in malformed {
        let answer = client
            .post(&events)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status().as_u16(),
            400,
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    // Too large: 413.
    let huge = vec![b' '; 2 * 1024 * 1024];
    let answer = client.post(&events).body(huge).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 413);
    // Wrong methods and paths.
    assert_eq!(
        client.get(&events).send().await.unwrap().status().as_u16(),
        405
    );
    assert_eq!(
        client
            .get(serve.url("/nope"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    assert_eq!(
        world.writes(),
        writes,
        "a refused delivery wrote to Key Vault"
    );
    assert_eq!(world.versions("evt", "db-password").len(), 1);
    assert!(!serve.text().contains(KEY), "the key reached the log");
    assert!(!serve.text().contains(OLD_DB), "a value reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_expiry_rotates_once_and_duplicates_and_stale_events_write_nothing() {
    let world = World::start("").await;
    let serve = world.serve(world.env(true), &[]);
    let events = serve.url(&format!("/events?key={KEY}"));
    let old = world.current("db-password");

    let (status, _, body) = post(
        &events,
        &json!([event("e1", "SecretNearExpiry", "evt", "db-password", &old)]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"][0]["outcome"], "rotated", "{body}");
    let versions = world.versions("evt", "db-password");
    assert_eq!(versions.len(), 2);
    let new = versions.last().unwrap();
    assert_ne!(new.version, old);
    assert!(new.enabled && new.exp.unwrap() > new.created + 80 * 86_400);
    assert_ne!(new.value.as_ref().unwrap().expose(), OLD_DB);
    let line = &serve.event_log("e1")[0];
    assert_eq!(line["credential"], "db-password");
    assert_eq!(line["outcome"], "rotated");
    assert!(line["duration_ms"].is_u64());

    // The same delivery again, and another event for the version no longer served: both are
    // acknowledged without a single write.
    let writes = world.writes();
    let (status, _, body) = post(
        &events,
        &json!([event("e1", "SecretNearExpiry", "evt", "db-password", &old)]),
    )
    .await;
    assert_eq!(
        (status, body["events"][0]["outcome"].as_str()),
        (200, Some("duplicate"))
    );
    for (id, kind) in [("e2", "SecretNearExpiry"), ("e3", "SecretExpired")] {
        let (status, _, body) = post(
            &events,
            &json!([event(id, kind, "evt", "db-password", &old)]),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["events"][0]["outcome"], "up_to_date", "{body}");
        assert!(body["events"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already rotated"));
    }
    // Out of order: the NewVersionCreated of the old version arrives last (not opted in).
    let (status, _, body) = post(
        &events,
        &json!([event(
            "e4",
            "SecretNewVersionCreated",
            "evt",
            "db-password",
            &old
        )]),
    )
    .await;
    assert_eq!(
        (status, body["events"][0]["outcome"].as_str()),
        (200, Some("ignored"))
    );
    assert_eq!(world.writes(), writes, "stale events wrote to Key Vault");

    // A same-named secret in another vault, and a secret keyrot does not manage.
    let twin = world.versions("evt2", "db-password")[0].version.clone();
    let soon = world.current("soon");
    let (status, _, body) = post(
        &events,
        &json!([
            event("e5", "SecretNearExpiry", "evt2", "db-password", &twin),
            event("e6", "SecretNearExpiry", "evt", "soon", &soon),
            {"id": "e7", "eventType": "Microsoft.Storage.BlobCreated", "subject": "x", "data": {}}
        ]),
    )
    .await;
    assert_eq!(status, 200);
    for e in body["events"].as_array().unwrap() {
        assert_eq!(e["outcome"], "ignored", "{body}");
    }
    assert_eq!(world.versions("evt2", "db-password").len(), 1);
    assert_eq!(world.versions("evt", "soon").len(), 1);

    // CloudEvents 1.0, one event per request.
    let api = world.current("api-key");
    let mut cloud = event("c1", "SecretExpired", "evt", "api-key", &api);
    let object = cloud.as_object_mut().unwrap();
    let topic = object.remove("topic").unwrap();
    let kind = object.remove("eventType").unwrap();
    object.insert("source".into(), topic);
    object.insert("type".into(), kind);
    object.insert("specversion".into(), json!("1.0"));
    let answer = reqwest::Client::new()
        .post(&events)
        .header(
            "content-type",
            "application/cloudevents+json; charset=utf-8",
        )
        .body(cloud.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(world.versions("evt", "api-key").len(), 2);

    // keyrot's own new version: api-key opted in to syncs, but a rotation propagates itself.
    let rotated = world.current("api-key");
    let writes = world.writes();
    let (status, _, body) = post(
        &events,
        &json!([event(
            "c2",
            "SecretNewVersionCreated",
            "evt",
            "api-key",
            &rotated
        )]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["events"][0]["outcome"], "up_to_date", "{body}");
    assert_eq!(world.writes(), writes);
    assert!(!serve.text().contains(OLD_DB) && !serve.text().contains(OLD_API));
    for v in world
        .versions("evt", "db-password")
        .iter()
        .chain(&world.versions("evt", "api-key"))
    {
        assert!(
            !serve.text().contains(v.value.as_ref().unwrap().expose()),
            "a value was logged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_one_rotation_the_loser_answers_503_then_200() {
    let gate = Gate::new();
    let world = World::start_seeded(&gate.seed(&seed(), "+20d"), &gate.credential()).await;
    let a = world.serve(world.env(true), &["--wait-lock", "0"]);
    let b = world.serve(world.env(true), &["--wait-lock", "0"]);
    let old = world.current("gated");
    let (url_a, url_b) = (
        a.url(&format!("/events?key={KEY}")),
        b.url(&format!("/events?key={KEY}")),
    );
    let holder = tokio::spawn({
        let (url, delivery) = (
            url_a.clone(),
            json!([event("x1", "SecretNearExpiry", "evt", "gated", &old)]),
        );
        async move { post(&url, &delivery).await }
    });
    gate.entered().await;

    // A holds the lock (it is verifying): B's delivery is locked out, with a Retry-After.
    let (status, headers, body) = post(
        &url_b,
        &json!([event("x2", "SecretNearExpiry", "evt", "gated", &old)]),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["events"][0]["outcome"], "locked", "{body}");
    let after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&after));
    assert_eq!(
        world.versions("evt", "gated").len(),
        1,
        "nothing written yet"
    );

    gate.open();
    let (status, _, body) = holder.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"][0]["outcome"], "rotated", "{body}");
    assert_eq!(world.versions("evt", "gated").len(), 2);

    // Event Grid delivers the loser's event again (to either instance): done, nothing new.
    for url in [&url_b, &url_a] {
        let (status, _, body) = post(
            url,
            &json!([event("x2", "SecretNearExpiry", "evt", "gated", &old)]),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["events"][0]["outcome"], "up_to_date", "{body}");
    }
    assert_eq!(world.versions("evt", "gated").len(), 2, "rotated twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_one_rotation_the_loser_waits_for_the_holder_and_answers_200() {
    let world = World::start("").await;
    let a = world.serve(world.env(true), &[]);
    let b = world.serve(world.env(true), &[]);
    let old = world.current("db-password");
    let (url_a, url_b) = (
        a.url(&format!("/events?key={KEY}")),
        b.url(&format!("/events?key={KEY}")),
    );
    let (ea, eb) = (
        json!([event("w1", "SecretNearExpiry", "evt", "db-password", &old)]),
        json!([event("w2", "SecretNearExpiry", "evt", "db-password", &old)]),
    );
    let (ra, rb) = tokio::join!(post(&url_a, &ea), post(&url_b, &eb));
    assert_eq!((ra.0, rb.0), (200, 200), "{} {}", ra.2, rb.2);
    let mut outcomes = [
        ra.2["events"][0]["outcome"].as_str().unwrap().to_string(),
        rb.2["events"][0]["outcome"].as_str().unwrap().to_string(),
    ];
    outcomes.sort();
    assert_eq!(outcomes, ["rotated", "rotated_elsewhere"]);
    assert_eq!(
        world.versions("evt", "db-password").len(),
        2,
        "rotated twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_rotation_is_finished_by_another_from_the_journal() {
    for step in ["verified", "committed"] {
        let world = World::start("").await;
        let old = world.current("db-password");
        let delivery = json!([event("k1", "SecretNearExpiry", "evt", "db-password", &old)]);
        let mut env = world.env(true);
        env.push(("KEYROT_TEST_PAUSE_AT".into(), step.into()));
        let mut a = world.serve(env, &["--answer-within", "1s"]);
        let (status, headers, _) = post(&a.url(&format!("/events?key={KEY}")), &delivery).await;
        // Still working when the answer is due: 503, the work goes on.
        assert_eq!(status, 503, "{step}");
        assert!(headers.contains_key("retry-after"));
        let started = Instant::now();
        while !a.text().contains("paused at") {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{step}: never paused"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        a.child.kill().unwrap();
        a.child.wait().unwrap();

        let b = world.serve(world.env(true), &[]);
        let started = Instant::now();
        let body = loop {
            let (status, _, body) = post(&b.url(&format!("/events?key={KEY}")), &delivery).await;
            if status == 200 {
                break body;
            }
            // Locked until the dead instance's lease runs out.
            assert_eq!(status, 503, "{step}: {body}");
            assert!(
                started.elapsed() < Duration::from_secs(40),
                "{step}: never finished"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let versions = world.versions("evt", "db-password");
        assert_eq!(versions.len(), 2, "{step}: {body}");
        let latest = versions.last().unwrap();
        assert!(latest.enabled, "{step}");
        assert_ne!(latest.version, old, "{step}");
        let journal = world.versions("evt", "keyrot-journal-db-password");
        let entry: Value =
            serde_json::from_str(journal.last().unwrap().value.as_ref().unwrap().expose()).unwrap();
        assert_eq!(entry["step"], "done", "{step}: {entry}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_host_envelopes() {
    let world = World::start("").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = world.env(false);
    env.push(("FUNCTIONS_CUSTOMHANDLER_PORT".into(), port.to_string()));
    let serve = world.serve(env, &["--listen", "0.0.0.0:1"]);
    assert_eq!(
        serve.addr,
        format!("127.0.0.1:{port}"),
        "loopback only, on the host's port"
    );

    // The recorded shapes the host posts (tests/fixtures/functions/), with this vault's version.
    let old = world.current("db-password");
    let template = include_str!("fixtures/functions/eventgrid-invocation.json");
    let invocation: Value = serde_json::from_str(&template.replace("{VERSION}", &old)).unwrap();
    let (status, _, body) = post(&serve.url("/keyrot-events"), &invocation).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["Outputs"].is_object() && body["Logs"].is_array(),
        "{body}"
    );
    assert_eq!(
        body["ReturnValue"]["events"][0]["outcome"], "rotated",
        "{body}"
    );
    assert_eq!(world.versions("evt", "db-password").len(), 2);

    // The event as a JSON string, for the version now stale: acknowledged, nothing written.
    let mut as_string = invocation.clone();
    let event = as_string["Data"]["event"].to_string();
    as_string["Data"]["event"] = Value::String(event);
    as_string["Data"]["event"] = Value::String(
        as_string["Data"]["event"]
            .as_str()
            .unwrap()
            .replace("\"id\":\"", "\"id\":\"s-"),
    );
    let (status, _, body) = post(&serve.url("/keyrot-events"), &as_string).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["ReturnValue"]["events"][0]["outcome"], "up_to_date",
        "{body}"
    );

    // The timer: a sweep over the config (nothing due but "soon", which is not in it).
    let timer: Value =
        serde_json::from_str(include_str!("fixtures/functions/timer-invocation.json")).unwrap();
    let (status, _, body) = post(&serve.url("/keyrot-sweep"), &timer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ReturnValue"]["counts"]["up_to_date"], 2, "{body}");
    assert!(serve.logs().iter().any(|l| l["msg"] == "sweep"));

    // A broken envelope is a 400 the host reports.
    let (status, _, _) = post(&serve.url("/keyrot-events"), &json!({"Data": {}})).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_at_start_rotates_what_is_due_and_sigterm_stops_cleanly() {
    let world = World::start("\n[[credential]]\nname = \"soon\"\ngenerator = \"random\"\n").await;
    let mut serve = world.serve(world.env(true), &["--sweep-every", "1h"]);
    let started = Instant::now();
    while !serve.logs().iter().any(|l| l["msg"] == "sweep") {
        assert!(started.elapsed() < Duration::from_secs(60), "no sweep");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sweep = serve
        .logs()
        .into_iter()
        .find(|l| l["msg"] == "sweep")
        .unwrap();
    assert_eq!(sweep["summary"]["counts"]["rotated"], 1, "{sweep}");
    assert_eq!(world.versions("evt", "soon").len(), 2);
    assert_eq!(world.versions("evt", "db-password").len(), 1);

    unsafe { libc::kill(serve.child.id() as i32, libc::SIGTERM) };
    let status = serve.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    std::thread::sleep(Duration::from_millis(100));
    assert!(serve.logs().iter().any(|l| l["msg"] == "stopped"));
}

#[test]
fn without_authentication_it_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keyrot.toml");
    std::fs::write(
        &config,
        "[[credential]]\nname = \"a\"\nvault = \"myvault\"\ngenerator = \"random\"\n",
    )
    .unwrap();
    let config = config.display().to_string();
    for (env, args, needle) in [
        (
            vec![],
            vec!["--listen", "127.0.0.1:0"],
            "needs authentication",
        ),
        (
            vec![],
            vec!["--insecure-local", "--listen", "0.0.0.0:0"],
            "loopback",
        ),
        (
            vec![("KEYROT_SERVE_KEY".to_string(), "short".to_string())],
            vec!["--listen", "127.0.0.1:0"],
            "shorter than 16",
        ),
        (
            vec![("KEYROT_SERVE_KEY".to_string(), KEY.to_string())],
            vec!["--entra-audience", "api://x", "--listen", "127.0.0.1:0"],
            "choose one",
        ),
        (
            vec![],
            vec!["--entra-audience", "api://x", "--listen", "127.0.0.1:0"],
            "tenant",
        ),
        (
            vec![],
            vec!["--listen", "nowhere", "--insecure-local"],
            "--listen",
        ),
    ] {
        let mut full = vec!["serve", "--config", config.as_str()];
        full.extend(args.iter().copied());
        let output = keyrot_command(&env).args(&full).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{full:?}: {stderr}");
        assert!(stderr.contains(needle), "{full:?}: {stderr}");
        assert!(!stderr.contains(KEY));
    }
}

// ---- Driven by the emulator's Event Grid publisher ----------------------------------------

/// The seed with every credential 40 days from expiry: outside Key Vault's 30-day NearExpiry
/// window until the publisher's clock moves.
fn far_seed() -> String {
    seed()
        .replace("exp = \"+20d\"", "exp = \"+40d\"")
        .replace("exp = \"+3d\"", "exp = \"+45d\"")
}

fn subscription(name: &str, endpoints: &[String], extra: Value) -> Value {
    let mut spec = json!({
        "name": name,
        "endpoints": endpoints,
        "retry_time_scale": 0.02,
        "max_delivery_attempts": 30,
    });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    spec
}

async fn settle(world: &World) -> keyrot_emulator::eventgrid::EventStatus {
    world
        .harness
        .emulator
        .wait_for_event_deliveries(Duration::from_secs(90))
        .await
        .expect("every event delivered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_grid_near_expiry_through_the_handshake_rotates_each_credential_once() {
    let world = World::start_seeded(&far_seed(), "").await;
    let a = world.serve(world.env(true), &[]);
    let b = world.serve(world.env(true), &[]);
    let emulator = &world.harness.emulator;
    let endpoints = [
        a.url(&format!("/events?key={KEY}")),
        b.url(&format!("/events?key={KEY}")),
    ];
    // The Event Grid schema's validation handshake, against both instances.
    let created = emulator
        .add_event_subscription(subscription(
            "keyrot",
            &endpoints,
            json!({"schema": "EventGridSchema", "deliver_twice": true}),
        ))
        .await
        .expect("the handshake succeeds");
    assert_eq!(created["provisioningState"], "Succeeded", "{created}");
    let status = settle(&world).await;
    assert_eq!(
        world.versions("evt", "db-password").len(),
        1,
        "rotated before the window"
    );

    // 11 days on, both credentials are 29 days from expiry: Key Vault announces it.
    emulator.advance_event_clock(11 * 86_400);
    let status_after = settle(&world).await;
    assert_eq!(
        status_after.dead_lettered + status_after.dropped,
        0,
        "{status_after:?}"
    );
    assert!(status_after.delivered > status.delivered);
    for name in ["db-password", "api-key"] {
        assert_eq!(world.versions("evt", name).len(), 2, "{name} rotated once");
    }
    let deliveries = emulator.event_deliveries();
    let near: Vec<_> = deliveries
        .iter()
        .filter(|d| d.event_type.ends_with("SecretNearExpiry") && d.subject == "db-password")
        .collect();
    assert!(
        near.iter().any(|d| d.duplicate),
        "deliver_twice sent a duplicate"
    );
    assert!(near.iter().any(|d| d.status == Some(200)));
    // Keyrot's own writes raised NewVersionCreated for its lock, journal and new versions: all
    // acknowledged.
    assert!(deliveries
        .iter()
        .any(|d| d.event_type.ends_with("SecretNewVersionCreated")
            && d.subject.starts_with("keyrot-lock-")));
    // Both instances took deliveries (round robin).
    for endpoint in &endpoints {
        assert!(deliveries.iter().any(|d| &d.endpoint == endpoint));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_grid_cloud_events_and_lock_contention_redelivered_until_done() {
    let gate = Gate::new();
    let world = World::start_seeded(&gate.seed(&far_seed(), "+40d"), &gate.credential()).await;
    let a = world.serve(world.env(true), &["--wait-lock", "0"]);
    let b = world.serve(world.env(true), &["--wait-lock", "0"]);
    let emulator = &world.harness.emulator;
    let endpoints = [
        a.url(&format!("/events?key={KEY}")),
        b.url(&format!("/events?key={KEY}")),
    ];
    // The CloudEvents abuse-protection handshake (OPTIONS), against both instances.
    emulator
        .add_event_subscription(subscription(
            "keyrot-ce",
            &endpoints,
            json!({"schema": "CloudEventSchemaV1_0", "included_event_types": ["Microsoft.KeyVault.SecretNearExpiry"]}),
        ))
        .await
        .expect("the handshake succeeds");
    // Two announcements of the same version at once, one to each instance: one rotates (held
    // at the gate), the other is locked out (503), and Event Grid's retry finds it done.
    let version = world.current("gated");
    let events: Vec<Value> = ["n1", "n2"]
        .iter()
        .map(|id| event(id, "SecretNearExpiry", "evt", "gated", &version))
        .collect();
    emulator.publish_events(json!(events)).unwrap();
    gate.entered().await;
    let started = Instant::now();
    while !emulator
        .event_deliveries()
        .iter()
        .any(|d| d.status == Some(503))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no delivery was locked out: {:?}",
            emulator.event_deliveries()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        world.versions("evt", "gated").len(),
        1,
        "nothing written yet"
    );
    gate.open();
    let status = settle(&world).await;
    assert_eq!((status.dead_lettered, status.dropped), (0, 0), "{status:?}");
    assert_eq!(
        world.versions("evt", "gated").len(),
        2,
        "rotated exactly once"
    );
    let deliveries = emulator.event_deliveries();
    let attempts: Vec<_> = deliveries
        .iter()
        .filter(|d| d.event_id == "n1" || d.event_id == "n2")
        .map(|d| (d.event_id.clone(), d.attempt, d.status))
        .collect();
    assert!(
        attempts.iter().any(|(_, _, s)| *s == Some(503)),
        "{attempts:?}"
    );
    for id in ["n1", "n2"] {
        assert!(
            attempts.iter().any(|(i, _, s)| i == id && *s == Some(200)),
            "{attempts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_grid_entra_protected_delivery_is_verified_and_a_wrong_audience_is_refused() {
    let world = World::start_seeded(&far_seed(), "").await;
    let emulator = &world.harness.emulator;
    let audience = "api://keyrot-events";
    let serve = world.serve(world.env(false), &["--entra-audience", audience]);
    let dead = tempfile::tempdir().unwrap();
    // A subscription whose tokens are for another app: refused (401), never retried.
    let wrong = emulator
        .add_event_subscription(subscription(
            "wrong-audience",
            &[serve.url("/events")],
            json!({"entra": {"tenant_id": emulator.tenant_id(), "audience": "api://someone-else"},
                   "dead_letter_dir": dead.path().display().to_string(),
                   "included_event_types": ["Microsoft.KeyVault.SecretNearExpiry"]}),
        ))
        .await;
    // The Event Grid schema handshake itself carries the token too: refused.
    assert!(wrong.is_err(), "{wrong:?}");

    emulator
        .add_event_subscription(subscription(
            "entra",
            &[serve.url("/events")],
            json!({"entra": {"tenant_id": emulator.tenant_id(), "audience": audience},
                   "included_event_types": ["Microsoft.KeyVault.SecretNearExpiry"]}),
        ))
        .await
        .expect("an Entra-protected handshake succeeds");
    emulator.advance_event_clock(11 * 86_400);
    let status = settle(&world).await;
    assert_eq!((status.dead_lettered, status.dropped), (0, 0), "{status:?}");
    assert_eq!(world.versions("evt", "db-password").len(), 2);

    // Without a token, or with a forged one: 401, nothing written.
    let writes = world.writes();
    let version = world.current("db-password");
    let delivery = json!([event(
        "f1",
        "SecretNearExpiry",
        "evt",
        "db-password",
        &version
    )]);
    let forged = {
        use base64::Engine as _;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        format!(
            "{}.{}.{}",
            b64(&json!({"alg": "RS256", "kid": "keyrot-emulator-rs256", "typ": "JWT"})),
            b64(
                &json!({"aud": audience, "iss": format!("{}/{}/v2.0", emulator.authority_host(), emulator.tenant_id()),
                "tid": emulator.tenant_id(), "exp": now + 600, "roles": ["AzureEventGridSecureWebhookSubscriber"]})
            ),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 256]),
        )
    };
    for token in [None, Some(forged)] {
        let mut request = reqwest::Client::new()
            .post(serve.url("/events"))
            .json(&delivery);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await.unwrap().status().as_u16(), 401);
    }
    assert_eq!(world.writes(), writes);
}

/// Property: a delivery with one field broken (gone, of the wrong type, or not a Key Vault
/// name), in random places of a valid batch, is answered 400 and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_deliveries_are_400_with_no_side_effect_property() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    let world = World::start("").await;
    let serve = world.serve(world.env(true), &[]);
    let version = world.current("db-password");
    let good = event("g1", "SecretNearExpiry", "evt", "db-password", &version);
    let bad_value = prop_oneof![
        Just(Value::Null),
        Just(json!(7)),
        Just(json!([1])),
        Just(json!({"a": 1})),
        "[a-z]{0,4}[/?#%. ]{1,2}[a-z]{0,4}".prop_map(Value::String),
    ];
    let fields = prop::sample::select(vec![
        "id",
        "eventType",
        "data",
        "VaultName",
        "ObjectName",
        "Version",
    ]);
    let strategy = (fields, bad_value, any::<bool>(), 0usize..3);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let writes = world.writes();
    let mut sent = 0;
    for _ in 0..64 {
        let (field, value, remove, position) = strategy.new_tree(&mut runner).unwrap().current();
        let mut broken = good.clone();
        broken["id"] = json!("broken");
        // VaultName and ObjectName may be absent where the topic and subject (which Event Grid
        // sets) say them: both are cleared so that the break counts.
        broken["subject"] = json!("");
        broken["topic"] = json!("");
        let target = match field {
            "id" | "eventType" | "data" => broken.as_object_mut().unwrap(),
            _ => broken["data"].as_object_mut().unwrap(),
        };
        if remove {
            target.remove(field);
        } else {
            target.insert(field.to_string(), value);
        }
        let mut batch = vec![good.clone(), good.clone()];
        batch.insert(position, broken);
        let (status, _, body) =
            post(&serve.url(&format!("/events?key={KEY}")), &json!(batch)).await;
        assert_eq!(status, 400, "{field} remove={remove}: {body}");
        sent += 1;
    }
    assert_eq!(sent, 64);
    assert_eq!(
        world.writes(),
        writes,
        "a broken delivery changed something"
    );
    assert_eq!(world.versions("evt", "db-password").len(), 1);
}

/// A resource key under `keyrot serve`: Key Vault's NearExpiry for the secret that holds a
/// storage account's key1 regenerates key2 (alternation), once, however often it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_expiry_of_a_storage_key_regenerates_the_other_key_once() {
    use base64::Engine as _;
    let key1 = base64::engine::general_purpose::STANDARD
        .encode(b"SRV-storage-key1-planted-0123456789abcdef0123456789abcdef01234567");
    let account = format!(
        "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/orders",
        keyrot_emulator::DEFAULT_SUBSCRIPTION_ID
    );
    // The secret in `evt` (the first vault: inserted before `evt2`), the account at the end.
    let secret = format!(
        "\n[[vault.secret]]\nname = \"orders-storage\"\nvalue = \"DefaultEndpointsProtocol=https;AccountName=orders;AccountKey={key1};EndpointSuffix=core.windows.net\"\nexp = \"+20d\"\ntags = {{ CredentialId = \"key1\" }}\n"
    );
    let seed = seed().replacen(
        "\n[[vault]]\nname = \"evt2\"",
        &format!("{secret}\n[[vault]]\nname = \"evt2\""),
        1,
    ) + &format!(
        "\n[arm]\n\n[[arm.storage_account]]\nresource_group = \"rg\"\nname = \"orders\"\nkey1 = \"{key1}\"\n"
    );
    let world = World::start_seeded(
        &seed,
        &format!(
            "\n[[credential]]\nname = \"orders-storage\"\ngenerator = \"storage-account-key\"\nresource = \"{account}\"\nvalue = \"connection-string\"\n"
        ),
    )
    .await;
    let mut env = world.env(true);
    env.push(("KEYROT_ARM_URL".into(), world.harness.emulator.arm_url()));
    let serve = world.serve(env, &[]);
    let events = serve.url(&format!("/events?key={KEY}"));
    let old = world.current("orders-storage");
    let near = json!([event(
        "k1",
        "SecretNearExpiry",
        "evt",
        "orders-storage",
        &old
    )]);
    let (status, _, body) = post(&events, &near).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"][0]["outcome"], "rotated", "{body}");
    // Delivered again (Event Grid is at least once): acknowledged, nothing regenerated.
    let (status, _, body) = post(&events, &near).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        world.harness.emulator.storage_regenerations("orders"),
        ["key2"]
    );
    let served = world.versions("evt", "orders-storage");
    let new = served.last().unwrap();
    assert_eq!(new.tags["CredentialId"], "key2");
    let key2 = world.harness.emulator.storage_keys("orders").1;
    assert!(new
        .value
        .as_ref()
        .unwrap()
        .expose()
        .contains(&format!("AccountKey={key2};")));
    for key in [&key1, &key2] {
        assert!(
            !serve.text().contains(key.as_str()),
            "a key reached the log"
        );
    }
}
