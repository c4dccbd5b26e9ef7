//! Resource keys rotated by alternation, end to end: the real binary against the emulator's
//! Key Vault and Resource Manager (storage accounts, Service Bus and Event Hubs rules, Cosmos DB
//! accounts) and their data planes, which judge every key keyrot proves.
//!
//! Each rotation regenerates exactly one key, the one the served version does not hold; the
//! secret always holds a key the service accepts; a kill at any step boundary (Cosmos DB's
//! long-running operation included) is finished by the rerun without a second regeneration;
//! a key another enabled version still holds is not regenerated; a secret written by the Azure
//! samples (their tags) is adopted as it is; a fault at each ARM call fails the run cleanly
//! and the next run completes; and no key appears in any output or URL.

mod common;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use common::{keyrot_command, kill_when_paused, Harness, Run, CLIENT_ID, CLIENT_SECRET};
use keyrot_emulator::{FaultRule, DEFAULT_SUBSCRIPTION_ID};

const VAULT: &str = "keys";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// Seeded keys: base64 like the services' (the storage and Cosmos signatures decode them).
fn st_key1() -> String {
    b64("RK-storage-key1-planted-0123456789abcdef0123456789abcdef0123456789")
}
fn st_key2() -> String {
    b64("RK-storage-key2-planted-0123456789abcdef0123456789abcdef0123456789")
}
fn sb_primary() -> String {
    b64("RK-bus-primary-planted-0123456789abcdef")
}

fn id(provider_path: &str) -> String {
    format!("/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/rg/providers/{provider_path}")
}

fn storage_id() -> String {
    id("Microsoft.Storage/storageAccounts/orders")
}

fn seed(extra_secrets: &str) -> String {
    format!(
        r#"
[[client]]
client_id = "{CLIENT_ID}"
secrets = [{{ value = "{CLIENT_SECRET}" }}]

[[vault]]
name = "{VAULT}"
{extra_secrets}

[arm]

[[arm.storage_account]]
resource_group = "rg"
name = "orders"
key1 = "{key1}"
key2 = "{key2}"
key1_created = "-40d"
key_expiration_period_days = 90

[[arm.storage_account]]
resource_group = "rg"
name = "legacy"
key1_created = "-120d"
key2_created = "-10d"
key_expiration_period_days = 90

[[arm.servicebus_namespace]]
resource_group = "rg"
name = "orders-bus"
queues = [{{ name = "q1", rules = [{{ name = "sender", rights = ["Send"], primary_key = "{sb}" }}] }}]

[[arm.eventhubs_namespace]]
resource_group = "rg"
name = "telemetry"

[[arm.cosmos_account]]
resource_group = "rg"
name = "orders-db"
regenerate_seconds = 1
"#,
        key1 = st_key1(),
        key2 = st_key2(),
        sb = sb_primary(),
    )
}

fn env(h: &Harness) -> Vec<(String, String)> {
    let mut env = h.client_secret_env();
    env.push(("KEYROT_ARM_URL".into(), h.emulator.arm_url()));
    env
}

fn write_config(h: &Harness, dir: &Path, credentials: &str) -> String {
    let path = dir.join("keyrot.toml");
    std::fs::write(
        &path,
        format!(
            "[defaults]\nvault = \"{}\"\nverify_timeout = \"20s\"\n\n{credentials}",
            h.vault(VAULT)
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn storage_credential(grace: &str) -> String {
    format!(
        "[[credential]]\nname = \"orders-storage\"\ngenerator = \"storage-account-key\"\nresource = \"{}\"\nvalue = \"connection-string\"\ngrace = \"{grace}\"\n",
        storage_id()
    )
}

async fn rotate(h: &Harness, config: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "rotate",
        "--config",
        config,
        "--lock-settle",
        "1s",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    h.run(env(h), &args).await
}

fn credential<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report:#}"))
}

/// The served version: enabled, and its value (a key or a connection string) holds the key
/// the service now has in the slot its `CredentialId` names.
fn served(h: &Harness, name: &str) -> (String, std::collections::BTreeMap<String, String>) {
    let versions = h.emulator.secret_versions(VAULT, name);
    let served = versions.last().expect("a version");
    assert!(served.enabled, "the served {name} is disabled");
    (
        served.value.as_ref().unwrap().expose().to_string(),
        served.tags.clone(),
    )
}

fn assert_storage_secret_works(h: &Harness, when: &str) {
    let (value, tags) = served(h, "orders-storage");
    let (key1, key2) = h.emulator.storage_keys("orders");
    let held = match tags.get("CredentialId").map(String::as_str) {
        Some("key1") => key1,
        Some("key2") => key2,
        other => panic!("{when}: CredentialId {other:?}"),
    };
    assert!(
        value.contains(&format!("AccountKey={held};")),
        "{when}: the served connection string does not hold the key its tag names"
    );
    assert!(value.starts_with("DefaultEndpointsProtocol=https;AccountName=orders;"));
}

fn assert_no_key_in(h: &Harness, outputs: &[&str]) {
    let (key1, key2) = h.emulator.storage_keys("orders");
    let cosmos = h.emulator.cosmos_keys("orders-db");
    let (p, s) = h
        .emulator
        .servicebus_rule_keys("orders-bus", Some("q1"), "sender");
    let mut keys = vec![key1, key2, p, s, st_key1(), st_key2(), sb_primary()];
    keys.extend(cosmos);
    for key in keys.iter().filter(|k| !k.is_empty()) {
        for (i, out) in outputs.iter().enumerate() {
            assert!(!out.contains(key.as_str()), "a key leaked into output #{i}");
        }
        for request in h.emulator.requests() {
            assert!(
                !request.path_and_query.contains(key.as_str()),
                "a key in a URL: {}",
                request.path_and_query
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_keys_alternate_and_the_key_in_use_is_never_regenerated() {
    let h = Harness::start(&seed("")).await;
    let dir = tempfile::tempdir().unwrap();
    // grace 0: each rotation may retire the version before it at once.
    let config = write_config(&h, dir.path(), &storage_credential("0d"));
    let mut outputs = Vec::new();
    for round in 0..5 {
        let before = h.emulator.storage_keys("orders");
        let run = rotate(&h, &config, &["--force"]).await;
        run.expect_code(0);
        let c = credential(&run.json(), "orders-storage").clone();
        assert_eq!(c["status"], "rotated", "round {round}: {c:#}");
        assert_storage_secret_works(&h, &format!("round {round}"));
        // Exactly one key changed, and it is the one the secret now holds.
        let after = h.emulator.storage_keys("orders");
        let changed = [(before.0 != after.0), (before.1 != after.1)];
        assert_eq!(
            changed.iter().filter(|c| **c).count(),
            1,
            "round {round}: {changed:?}"
        );
        outputs.push(run.stdout);
        outputs.push(run.stderr);
    }
    // First rotation: no secret yet, key1 assumed held, key2 regenerated; then alternating.
    assert_eq!(
        h.emulator.storage_regenerations("orders"),
        ["key2", "key1", "key2", "key1", "key2"]
    );
    let refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    assert_no_key_in(&h, &refs);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_an_enabled_version_still_holds_is_not_regenerated() {
    let h = Harness::start(&seed("")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&h, dir.path(), &storage_credential("7d"));
    rotate(&h, &config, &["--force"]).await.expect_code(0);
    rotate(&h, &config, &["--force"]).await.expect_code(0);
    // Now the version before the served one holds key2 and is within its grace.
    let run = rotate(&h, &config, &["--force"]).await;
    run.expect_code(1);
    let c = credential(&run.json(), "orders-storage").clone();
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains("still holds key2") && message.contains("grace"),
        "{message}"
    );
    assert_eq!(h.emulator.storage_regenerations("orders"), ["key2", "key1"]);
    assert_storage_secret_works(&h, "after the refusal");
}

/// The rotation's lease: keyrot's shortest, so the rerun after a kill waits least.
const LEASE: &str = "10s";
const AFTER_LEASE: Duration = Duration::from_secs(11);

/// Runs `keyrot rotate` until it pauses at `step`, SIGKILLs it there, and waits out its lease.
async fn kill_at(h: &Harness, config: &str, step: &str, extra: &[&str]) {
    let mut command = keyrot_command(&env(h));
    command.args([
        "rotate",
        "--config",
        config,
        "--lock-settle",
        "1s",
        "--lock-lease",
        LEASE,
    ]);
    command.args(extra);
    kill_when_paused(command, step).await;
    tokio::time::sleep(AFTER_LEASE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_at_every_step_is_finished_with_one_regeneration() {
    use futures::StreamExt as _;
    // Every generator, every step boundary (Cosmos DB's operation too), each on its own
    // emulator, several at once: the lease wait is paid once per wave.
    let steps = ["started", "created", "verified", "committed", "retired"];
    let mut cases: Vec<(Gen, &str)> = GENS
        .iter()
        .flat_map(|g| steps.iter().map(move |s| (*g, *s)))
        .collect();
    cases.push((Gen::Cosmos, "operation"));
    futures::stream::iter(cases)
        .map(|(gen, step)| async move {
            let h = Harness::start(&seed("")).await;
            let dir = tempfile::tempdir().unwrap();
            let config = write_config(&h, dir.path(), &gen.credential());
            kill_at(&h, &config, step, &["--force"]).await;
            let run = rotate(&h, &config, &[]).await;
            run.expect_code(0);
            let what = format!("{} killed at {step}", gen.name());
            assert_eq!(gen.regenerations(&h).len(), 1, "{what}: {}", run.stdout);
            let (value, _) = served(&h, gen.name());
            assert_eq!(value, gen.second_key(&h), "{what}");
            assert_no_key_in(&h, &[&run.stdout, &run.stderr]);
        })
        .buffer_unordered(7)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cosmos_regeneration_is_journaled_and_resumed_not_repeated() {
    let h = Harness::start(&seed("")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &h,
        dir.path(),
        &format!(
            "[[credential]]\nname = \"orders-db-key\"\ngenerator = \"cosmos-db-key\"\nresource = \"{}\"\nvalue = \"connection-string\"\nlro_timeout = \"60s\"\ngrace = \"0d\"\n",
            id("Microsoft.DocumentDB/databaseAccounts/orders-db")
        ),
    );
    kill_at(&h, &config, "operation", &[]).await;
    let run = rotate(&h, &config, &[]).await;
    run.expect_code(0);
    let c = credential(&run.json(), "orders-db-key").clone();
    assert_eq!(c["status"], "rotated", "{c:#}");
    // One operation, started by the killed run, awaited by the rerun.
    assert_eq!(h.emulator.cosmos_regenerations("orders-db"), ["secondary"]);
    let (value, tags) = served(&h, "orders-db-key");
    let keys = h.emulator.cosmos_keys("orders-db");
    assert_eq!(tags["CredentialId"], "secondary");
    assert!(value.starts_with("AccountEndpoint=https://orders-db.documents.localhost:"));
    assert!(value.contains(&format!("AccountKey={};", keys[1])));
    assert_no_key_in(&h, &[&run.stdout, &run.stderr]);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_bus_and_event_hubs_rules_rotate_with_their_connection_strings() {
    let h = Harness::start(&seed("")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &h,
        dir.path(),
        &format!(
            "[[credential]]\nname = \"orders-sender\"\ngenerator = \"service-bus-key\"\nresource = \"{}\"\nvalue = \"connection-string\"\n\n[[credential]]\nname = \"telemetry-key\"\ngenerator = \"event-hubs-key\"\nresource = \"{}\"\nvalue = \"key\"\n",
            id("Microsoft.ServiceBus/namespaces/orders-bus/queues/q1/authorizationRules/sender"),
            id("Microsoft.EventHub/namespaces/telemetry/authorizationRules/RootManageSharedAccessKey"),
        ),
    );
    let run = rotate(&h, &config, &[]).await;
    run.expect_code(0);
    let report = run.json();
    for name in ["orders-sender", "telemetry-key"] {
        assert_eq!(credential(&report, name)["status"], "rotated", "{report:#}");
    }
    // The send-only rule's key is proven by its signature (the service then refuses the read
    // for want of the Manage right); the connection string carries the entity.
    assert_eq!(
        h.emulator
            .servicebus_regenerations("orders-bus", Some("q1"), "sender"),
        ["SecondaryKey"]
    );
    let (value, tags) = served(&h, "orders-sender");
    let (_, secondary) = h
        .emulator
        .servicebus_rule_keys("orders-bus", Some("q1"), "sender");
    assert_eq!(tags["CredentialId"], "SecondaryKey");
    assert!(value.starts_with("Endpoint=sb://orders-bus.servicebus.localhost:"));
    assert!(value.ends_with(&format!(
        ";SharedAccessKeyName=sender;SharedAccessKey={secondary};EntityPath=q1"
    )));
    let (value, tags) = served(&h, "telemetry-key");
    assert_eq!(tags["CredentialId"], "SecondaryKey");
    assert_eq!(
        h.emulator
            .eventhub_regenerations("telemetry", None, "RootManageSharedAccessKey"),
        ["SecondaryKey"]
    );
    let (_, eh_secondary) =
        h.emulator
            .eventhub_rule_keys("telemetry", None, "RootManageSharedAccessKey");
    assert_eq!(value, eh_secondary);
    assert_no_key_in(&h, &[&run.stdout, &run.stderr]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_written_by_the_azure_samples_is_adopted_as_it_is() {
    // The samples' secret: key2's connection string, their tags in their spelling.
    let secret = format!(
        r#"
[[vault.secret]]
name = "orders-storage"
value = "DefaultEndpointsProtocol=https;AccountName=orders;AccountKey={key2};EndpointSuffix=core.windows.net"
exp = "+3d"
tags = {{ CredentialId = "key2", ProviderAddress = "{id}", ValidityPeriodDays = "60" }}
"#,
        key2 = st_key2(),
        id = storage_id()
    );
    let h = Harness::start(&seed(&secret)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &h,
        dir.path(),
        &format!(
            "[[credential]]\nname = \"orders-storage\"\ngenerator = \"storage-account-key\"\nresource = \"{}\"\nvalue = \"connection-string\"\ngrace = \"0d\"\n",
            storage_id()
        ),
    );
    let started = time::OffsetDateTime::now_utc();
    let run = rotate(&h, &config, &[]).await;
    run.expect_code(0);
    // It held key2, so key1 is regenerated, and the old key2 still works meanwhile.
    assert_eq!(h.emulator.storage_regenerations("orders"), ["key1"]);
    assert_eq!(h.emulator.storage_keys("orders").1, st_key2());
    let versions = h.emulator.secret_versions(VAULT, "orders-storage");
    let new = versions.last().unwrap();
    assert_eq!(new.tags["CredentialId"], "key1");
    assert_eq!(new.tags["ProviderAddress"], storage_id());
    assert_eq!(new.tags["ValidityPeriodDays"], "60");
    // No validity in keyrot.toml: the samples' ValidityPeriodDays decides the expiry.
    let exp = new.exp.expect("an expiry");
    let days = (exp - started.unix_timestamp()) as f64 / 86_400.0;
    assert!((59.9..60.1).contains(&days), "{days} days");
    assert_storage_secret_works(&h, "adopted");
}

/// One credential of each generator, as the matrix tests use them.
#[derive(Clone, Copy)]
enum Gen {
    Storage,
    ServiceBus,
    EventHubs,
    Cosmos,
}

const GENS: [Gen; 4] = [Gen::Storage, Gen::ServiceBus, Gen::EventHubs, Gen::Cosmos];

impl Gen {
    fn name(self) -> &'static str {
        match self {
            Gen::Storage => "orders-storage",
            Gen::ServiceBus => "orders-sender",
            Gen::EventHubs => "telemetry-key",
            Gen::Cosmos => "orders-db-key",
        }
    }

    /// Its keyrot.toml entry (the key itself in the secret, so the test can compare it).
    fn credential(self) -> String {
        let (generator, resource) = match self {
            Gen::Storage => ("storage-account-key", storage_id()),
            Gen::ServiceBus => (
                "service-bus-key",
                id("Microsoft.ServiceBus/namespaces/orders-bus/queues/q1/authorizationRules/sender"),
            ),
            Gen::EventHubs => (
                "event-hubs-key",
                id("Microsoft.EventHub/namespaces/telemetry/authorizationRules/RootManageSharedAccessKey"),
            ),
            Gen::Cosmos => (
                "cosmos-db-key",
                id("Microsoft.DocumentDB/databaseAccounts/orders-db"),
            ),
        };
        format!(
            "[[credential]]\nname = \"{}\"\ngenerator = \"{generator}\"\nresource = \"{resource}\"\nvalue = \"key\"\ngrace = \"0d\"\nverify_timeout = \"3s\"\n",
            self.name()
        )
    }

    /// The keys regenerated so far, in order.
    fn regenerations(self, h: &Harness) -> Vec<String> {
        match self {
            Gen::Storage => h.emulator.storage_regenerations("orders"),
            Gen::ServiceBus => {
                h.emulator
                    .servicebus_regenerations("orders-bus", Some("q1"), "sender")
            }
            Gen::EventHubs => {
                h.emulator
                    .eventhub_regenerations("telemetry", None, "RootManageSharedAccessKey")
            }
            Gen::Cosmos => h.emulator.cosmos_regenerations("orders-db"),
        }
    }

    /// The service's current value of the second key, which the first rotation writes.
    fn second_key(self, h: &Harness) -> String {
        match self {
            Gen::Storage => h.emulator.storage_keys("orders").1,
            Gen::ServiceBus => {
                h.emulator
                    .servicebus_rule_keys("orders-bus", Some("q1"), "sender")
                    .1
            }
            Gen::EventHubs => {
                h.emulator
                    .eventhub_rule_keys("telemetry", None, "RootManageSharedAccessKey")
                    .1
            }
            Gen::Cosmos => h.emulator.cosmos_keys("orders-db")[1].clone(),
        }
    }

    /// Every route the rotation sends, and whether a fault there comes after the regeneration
    /// (a failed proof: the rerun regenerates the unused key once more).
    fn routes(self) -> &'static [(&'static str, bool)] {
        match self {
            Gen::Storage => &[
                ("arm.storage.listKeys", false),
                ("arm.storage.regenerateKey", false),
                ("storage.blob.list", true),
            ],
            Gen::ServiceBus => &[
                ("arm.servicebus.listKeys", false),
                ("arm.servicebus.regenerateKeys", false),
                ("servicebus.data", true),
            ],
            Gen::EventHubs => &[
                ("arm.eventhub.listKeys", false),
                ("arm.eventhub.regenerateKeys", false),
                ("servicebus.data", true),
            ],
            Gen::Cosmos => &[
                ("arm.cosmos.listKeys", false),
                ("arm.cosmos.regenerateKey", false),
                ("arm.operation", false),
                ("cosmos.data", true),
            ],
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_at_each_arm_call_fails_cleanly_and_the_next_run_completes() {
    use futures::StreamExt as _;
    let cases: Vec<(Gen, &str, bool)> = GENS
        .iter()
        .flat_map(|g| g.routes().iter().map(move |(r, after)| (*g, *r, *after)))
        .collect();
    futures::stream::iter(cases)
        .map(|(gen, route, after_regeneration)| async move {
            let h = Harness::start(&seed("")).await;
            let dir = tempfile::tempdir().unwrap();
            let config = write_config(&h, dir.path(), &gen.credential());
            h.emulator.add_fault(FaultRule {
                status: Some(403),
                count: Some(50),
                ..FaultRule::new(route)
            });
            let failed = rotate(&h, &config, &["--lock-lease", LEASE]).await;
            assert_eq!(
                failed.code, 1,
                "{route}: {}\n{}",
                failed.stdout, failed.stderr
            );
            // Nothing reached Key Vault.
            assert!(
                h.emulator.secret_versions(VAULT, gen.name()).is_empty(),
                "{route}: a version was written"
            );
            h.emulator.clear_faults();
            // A failed poll leaves the operation journaled with the lock's lease running.
            let run = rotate(&h, &config, &["--wait-lock", "20s"]).await;
            run.expect_code(0);
            let regenerations = gen.regenerations(&h);
            let expected = if after_regeneration { 2 } else { 1 };
            assert_eq!(regenerations.len(), expected, "{route}: {regenerations:?}");
            assert!(
                regenerations.iter().all(|k| *k == regenerations[0]),
                "{route}: the key in use was regenerated: {regenerations:?}"
            );
            let (value, tags) = served(&h, gen.name());
            assert_eq!(value, gen.second_key(&h), "{route}");
            assert!(
                ["key2", "SecondaryKey", "secondary"].contains(&tags["CredentialId"].as_str()),
                "{route}: {tags:?}"
            );
            assert_no_key_in(
                &h,
                &[&failed.stdout, &failed.stderr, &run.stdout, &run.stderr],
            );
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gate_fails_a_key_past_its_accounts_policy_though_the_secret_looks_fine() {
    let legacy = id("Microsoft.Storage/storageAccounts/legacy");
    let secrets = r#"
[[vault.secret]]
name = "legacy-storage"
value = "held-elsewhere"
exp = "+60d"
tags = { CredentialId = "key1" }

[[vault.secret]]
name = "orders-storage"
value = "held-elsewhere"
exp = "+60d"
tags = { CredentialId = "key1" }
"#;
    let h = Harness::start(&seed(secrets)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &h,
        dir.path(),
        &format!(
            "[[credential]]\nname = \"legacy-storage\"\ngenerator = \"storage-account-key\"\nresource = \"{legacy}\"\nvalue = \"key\"\n\n{}",
            storage_credential("7d")
        ),
    );
    let run = h
        .run(env(&h), &["check", "--config", &config, "--format", "json"])
        .await;
    run.expect_code(1);
    let report = run.json();
    let find = |name: &str| {
        report["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {report:#}"))
            .clone()
    };
    // legacy's key1 is 120 days old under a 90-day policy: expired 30 days ago.
    let legacy = find("legacy-storage");
    assert_eq!(legacy["severity"], "fail", "{legacy:#}");
    let message = legacy["message"].as_str().unwrap();
    assert!(
        message.contains("key1 of storage account legacy was generated 120 days ago")
            && message.contains("key expiration policy (90 days)"),
        "{message}"
    );
    // orders' key1 is 40 days old: its policy ends in 50 days, before the secret's 60, so
    // that is its date, and it passes.
    let orders = find("orders-storage");
    assert_eq!(orders["severity"], "ok", "{orders:#}");
    let days = orders["expires_in_seconds"].as_i64().unwrap() / 86_400;
    assert!((49..=50).contains(&days), "{orders:#}");
    assert!(orders["message"]
        .as_str()
        .unwrap()
        .contains("earlier than Key Vault's"));

    // rotate sees it too: legacy is due by its key's policy, orders is not (50 days away).
    let run = rotate(&h, &config, &[]).await;
    run.expect_code(0);
    let report = run.json();
    let legacy = credential(&report, "legacy-storage");
    assert_eq!(legacy["status"], "rotated", "{report:#}");
    assert!(
        legacy["reason"]
            .as_str()
            .unwrap()
            .starts_with("its storage key passes the account's key expiration policy at "),
        "{legacy:#}"
    );
    assert_eq!(
        credential(&report, "orders-storage")["status"],
        "up_to_date"
    );
    assert_eq!(h.emulator.storage_regenerations("legacy"), ["key2"]);
    h.run(env(&h), &["check", "--config", &config])
        .await
        .expect_code(0);
}

/// A regeneration whose answer is lost (the service did it; keyrot cannot know): the run fails,
/// and the rerun sees from the journaled fingerprint that the key changed, so it carries on
/// with that key instead of regenerating a second time.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_regeneration_answer_is_not_followed_by_a_second_regeneration() {
    let cases = [
        (
            "arm.storage.regenerateKey",
            storage_credential("0d"),
            "orders-storage",
        ),
        (
            "arm.servicebus.regenerateKeys",
            format!(
                "[[credential]]\nname = \"orders-sender\"\ngenerator = \"service-bus-key\"\nresource = \"{}\"\nvalue = \"connection-string\"\ngrace = \"0d\"\n",
                id("Microsoft.ServiceBus/namespaces/orders-bus/queues/q1/authorizationRules/sender")
            ),
            "orders-sender",
        ),
        (
            "arm.cosmos.regenerateKey",
            format!(
                "[[credential]]\nname = \"orders-db-key\"\ngenerator = \"cosmos-db-key\"\nresource = \"{}\"\nvalue = \"key\"\ngrace = \"0d\"\n",
                id("Microsoft.DocumentDB/databaseAccounts/orders-db")
            ),
            "orders-db-key",
        ),
    ];
    futures::future::join_all(cases.iter().map(|(route, credential, name)| async move {
        let h = Harness::start(&seed("")).await;
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(&h, dir.path(), credential);
        h.emulator.add_fault(FaultRule {
            drop_after: true,
            count: Some(1),
            ..FaultRule::new(*route)
        });
        let failed = rotate(&h, &config, &["--lock-lease", LEASE]).await;
        let regenerations = || match *name {
            "orders-storage" => h.emulator.storage_regenerations("orders"),
            "orders-sender" => {
                h.emulator
                    .servicebus_regenerations("orders-bus", Some("q1"), "sender")
            }
            _ => h.emulator.cosmos_regenerations("orders-db"),
        };
        // Cosmos: the operation the lost answer started still completes in the service.
        if *name == "orders-db-key" {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        assert_eq!(regenerations().len(), 1, "{route}: {}", failed.stdout);
        assert_eq!(
            failed.code, 1,
            "{route}: {}\n{}",
            failed.stdout, failed.stderr
        );
        tokio::time::sleep(AFTER_LEASE).await;
        let run = rotate(&h, &config, &[]).await;
        run.expect_code(0);
        assert_eq!(
            credential_status(&run, name),
            "rotated",
            "{route}: {}",
            run.stdout
        );
        assert_eq!(regenerations().len(), 1, "{route}: regenerated twice");
        assert_no_key_in(
            &h,
            &[&failed.stdout, &failed.stderr, &run.stdout, &run.stderr],
        );
    }))
    .await;
}

/// Cosmos DB: a status poll that fails, and an operation that outlives `lro_timeout`, leave the
/// operation journaled; the next run waits for that same operation.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_or_unreadable_cosmos_operation_is_awaited_by_the_next_run() {
    let h =
        Harness::start(&seed("").replace("regenerate_seconds = 1", "regenerate_seconds = 6")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &h,
        dir.path(),
        &format!(
            "[[credential]]\nname = \"orders-db-key\"\ngenerator = \"cosmos-db-key\"\nresource = \"{}\"\nvalue = \"connection-string\"\nlro_timeout = \"2s\"\ngrace = \"0d\"\n",
            id("Microsoft.DocumentDB/databaseAccounts/orders-db")
        ),
    );
    let slow = rotate(&h, &config, &[]).await;
    slow.expect_code(1);
    let message = credential(&slow.json(), "orders-db-key")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("still running after lro_timeout (2s)")
            && message.contains("same operation"),
        "{message}"
    );
    assert!(h.emulator.cosmos_regenerations("orders-db").is_empty());
    // The next run's first polls fail (500); it keeps polling the same operation.
    h.emulator.add_fault(FaultRule {
        status: Some(500),
        count: Some(2),
        ..FaultRule::new("arm.operation")
    });
    let config_patient = write_config(
        &h,
        dir.path(),
        &format!(
            "[[credential]]\nname = \"orders-db-key\"\ngenerator = \"cosmos-db-key\"\nresource = \"{}\"\nvalue = \"connection-string\"\nlro_timeout = \"60s\"\ngrace = \"0d\"\n",
            id("Microsoft.DocumentDB/databaseAccounts/orders-db")
        ),
    );
    let run = rotate(&h, &config_patient, &["--wait-lock", "30s"]).await;
    run.expect_code(0);
    assert_eq!(h.emulator.cosmos_regenerations("orders-db"), ["secondary"]);
    let (value, tags) = served(&h, "orders-db-key");
    assert_eq!(tags["CredentialId"], "secondary");
    assert!(value.contains(&format!(
        "AccountKey={};",
        h.emulator.cosmos_keys("orders-db")[1]
    )));
    assert_no_key_in(&h, &[&slow.stdout, &slow.stderr, &run.stdout, &run.stderr]);
}

fn credential_status(run: &Run, name: &str) -> String {
    credential(&run.json(), name)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
