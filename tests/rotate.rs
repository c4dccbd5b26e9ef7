//! `keyrot rotate` end to end: the real binary against the in-process emulator, whose token
//! endpoint is the judge of whether a credential works. The protocol's claims are tested
//! here: crash at every step, a fault at every call, two runs at once, idempotence, dry run,
//! and that no value ever leaves the vault except into the vault.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Harness, Run, CLIENT_ID, CLIENT_SECRET};
use keyrot_emulator::FaultRule;

const APP: &str = "6f1c2a3b-5d4e-4f60-8a7b-9c8d7e6f5a41";
const OLD_DB: &str = "ROT-db-old-1a2b";
const OLD_APP: &str = "ROT-billing-old-7d1e";
const HEALTHY: &str = "ROT-healthy-3c4d";
const ORPHAN: &str = "ROT-orphan-5e6f";
const ORPHAN_KEY: &str = "0f0e0d0c-0b0a-4909-8807-060504030201";

fn seed() -> String {
    format!(
        r#"
[graph]
replication_delay_seconds = 1

[[client]]
client_id = "{CLIENT_ID}"
secrets = [{{ value = "{CLIENT_SECRET}" }}]
graph_permissions = ["Application.ReadWrite.OwnedBy"]

[[client]]
client_id = "{APP}"
display_name = "billing-api"
owners = ["{CLIENT_ID}"]
secrets = [
  {{ value = "{OLD_APP}", end = "+3d", display_name = "set up by hand" }},
  # Left by a run that died before committing: no version holds it, so the next run removes it.
  {{ value = "{ORPHAN}", end = "+300d", display_name = "keyrot:0123456789abcdef0123456789abcdef", key_id = "{ORPHAN_KEY}" }},
]

[[vault]]
name = "rot"

[[vault.secret]]
name = "db-password"
value = "{OLD_DB}"
exp = "+3d"
tags = {{ owner = "team-a" }}

[[vault.secret]]
name = "billing-secret"
value = "{OLD_APP}"
exp = "+3d"

[[vault.secret]]
name = "healthy"
value = "{HEALTHY}"
exp = "+200d"
"#
    )
}

struct Fixture {
    harness: Harness,
    dir: tempfile::TempDir,
    config: String,
}

impl Fixture {
    async fn start() -> Fixture {
        let harness = Harness::start(&seed()).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("keyrot.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[defaults]
vault = "{vault}"
rotate_within = "30d"
validity = "90d"
grace = "7d"
verify_timeout = "5s"

[[credential]]
name = "db-password"
generator = "random"
length = 40

[[credential]]
name = "billing-secret"
generator = "entra-app-password"
application = "{APP}"

[[credential]]
name = "healthy"
generator = "random"
"#,
                vault = harness.vault("rot")
            ),
        )
        .unwrap();
        Fixture {
            config: config.display().to_string(),
            harness,
            dir,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.harness.client_secret_env();
        env.push(("KEYROT_GRAPH_URL".into(), self.harness.emulator.graph_url()));
        env
    }

    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "rotate",
            "--config",
            self.config.as_str(),
            "--lock-settle",
            "2s",
            "--lock-lease",
            "10s",
        ];
        args.extend_from_slice(extra);
        args
    }

    async fn rotate(&self, extra: &[&str]) -> Run {
        self.harness.run(self.env(), &self.args(extra)).await
    }

    fn versions(&self, name: &str) -> Vec<keyrot_emulator::SecretVersionView> {
        self.harness.emulator.secret_versions("rot", name)
    }

    /// Every secret value the emulator holds for the rotated credentials, old and new.
    fn all_values(&self) -> Vec<String> {
        let mut values: Vec<String> = ["db-password", "billing-secret", "healthy"]
            .iter()
            .flat_map(|n| self.versions(n))
            .filter_map(|v| v.value.map(|v| v.expose().to_string()))
            .collect();
        values.extend([CLIENT_SECRET.to_string(), ORPHAN.to_string()]);
        values
    }

    /// The invariant: the latest version of each credential is enabled and works (the Entra
    /// one by the token endpoint's judgement).
    fn assert_invariant(&self, when: &str) {
        let now = now_unix();
        for name in ["db-password", "billing-secret", "healthy"] {
            let versions = self.versions(name);
            let latest = versions
                .last()
                .unwrap_or_else(|| panic!("{when}: {name} has no version"));
            assert!(latest.enabled, "{when}: latest {name} is disabled");
            assert!(
                latest.exp.is_none_or(|exp| exp > now),
                "{when}: latest {name} expired"
            );
            let value = latest.value.as_ref().expect("value").expose().to_string();
            assert!(!value.is_empty(), "{when}: latest {name} is empty");
            if name == "billing-secret" {
                assert!(
                    self.harness.emulator.token_works(APP, &value),
                    "{when}: the latest billing-secret does not obtain a token"
                );
            }
        }
    }

    /// No password keyrot created is left without a Key Vault version that holds it.
    fn assert_no_orphans(&self, when: &str) {
        let held: BTreeSet<String> = self
            .versions("billing-secret")
            .iter()
            .filter_map(|v| v.tags.get("keyrot-key-id").cloned())
            .collect();
        for p in self.harness.emulator.application_passwords(APP) {
            if p.display_name
                .as_deref()
                .is_some_and(|d| d.starts_with("keyrot:"))
            {
                assert!(
                    held.contains(&p.key_id),
                    "{when}: orphaned password {}",
                    p.key_id
                );
            }
        }
    }

    fn assert_no_leaks(&self, texts: &[&str]) {
        for value in self.all_values() {
            for (i, text) in texts.iter().enumerate() {
                assert!(!text.contains(&value), "a value leaked into output #{i}");
            }
            for r in self.harness.emulator.requests() {
                assert!(!r.path_and_query.contains(&value), "a value in a URL");
            }
        }
    }

    fn writes(&self) -> Vec<String> {
        self.harness
            .emulator
            .requests()
            .iter()
            .filter(|r| r.method != "GET" && r.route != "token")
            .map(|r| format!("{} {}", r.method, r.route))
            .collect()
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn credential<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn due_credentials_rotate_and_the_rest_stay() {
    let f = Fixture::start().await;
    let audit = f.dir.path().join("audit.jsonl");
    let audit_arg = audit.display().to_string();
    let run = f
        .rotate(&["--format", "json", "--audit-log", &audit_arg])
        .await;
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["version"], 2);
    assert_eq!(report["counts"]["rotated"], 2, "{report:#}");
    assert_eq!(credential(&report, "healthy")["status"], "up_to_date");

    // Random: a new 40-character version, user tags kept, keyrot's added, old one in grace.
    let db = f.versions("db-password");
    assert_eq!(db.len(), 2);
    let (old, new) = (&db[0], &db[1]);
    let value = new.value.as_ref().unwrap().expose();
    assert_eq!(value.len(), 40);
    assert!(value.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(new.tags.get("owner").map(String::as_str), Some("team-a"));
    assert!(new.tags.contains_key("keyrot-rotation-id"));
    // The grace end the gate reads without keyrot.toml: commit time + grace (7 days).
    let grace_ends = time::OffsetDateTime::parse(
        &new.tags["keyrot-grace-ends"],
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    assert!(
        (7 * 86400 - 60..=7 * 86400).contains(&(grace_ends - now_unix())),
        "grace ends in {}s",
        grace_ends - now_unix()
    );
    assert!(new.tags["keyrot-grace-ends"].ends_with('Z'));
    assert!(
        old.enabled,
        "the previous version must stay enabled for the grace period"
    );
    let exp = new.exp.unwrap() - now_unix();
    assert!((89 * 86400..=90 * 86400).contains(&exp), "exp in {exp}s");
    assert!(new.nbf.is_some());
    let entry = credential(&report, "db-password");
    assert_eq!(entry["status"], "rotated");
    assert_eq!(entry["new_version"], new.version.as_str());
    assert_eq!(entry["old_version"], old.version.as_str());

    // Entra: a new password named for the rotation, held by the new version, which works;
    // the old one still works through the grace period.
    let billing = f.versions("billing-secret");
    let latest = billing.last().unwrap();
    let key_id = latest.tags.get("keyrot-key-id").expect("keyId tag").clone();
    assert_eq!(latest.tags.get("keyrot-app").map(String::as_str), Some(APP));
    let passwords = f.harness.emulator.application_passwords(APP);
    let created = passwords
        .iter()
        .find(|p| p.key_id == key_id)
        .expect("new password");
    assert!(created
        .display_name
        .as_deref()
        .unwrap()
        .starts_with("keyrot:"));
    assert_eq!(
        latest.exp.unwrap(),
        created.end.unwrap().unix_timestamp(),
        "exp is the password's real end date"
    );
    assert!(f.harness.emulator.token_works(APP, OLD_APP));
    assert_eq!(
        credential(&report, "billing-secret")["credential_id"],
        key_id.as_str()
    );
    // The orphan of an earlier crashed run is gone; the password set up by hand stays.
    assert!(!passwords.iter().any(|p| p.key_id == ORPHAN_KEY));
    assert!(!f.harness.emulator.token_works(APP, ORPHAN));
    assert_eq!(
        credential(&report, "billing-secret")["removed"][0],
        ORPHAN_KEY
    );
    f.assert_invariant("after rotation");
    f.assert_no_orphans("after rotation");

    // The application is named by appId: Graph finds it only after a 404 by object id, once
    // per run; every later read of it (after the lock, after the commit, before retiring)
    // goes straight to its object id.
    let lookups: Vec<_> = f
        .harness
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.route == "graph.applications.get")
        .collect();
    let by_app_id: Vec<&str> = lookups
        .iter()
        .filter(|r| r.path_and_query.contains("appId="))
        .map(|r| r.path_and_query.as_str())
        .collect();
    assert_eq!(by_app_id.len(), 1, "{by_app_id:#?}");
    assert_eq!(
        lookups.iter().filter(|r| r.status == 404).count(),
        1,
        "{lookups:#?}"
    );
    assert!(lookups.len() >= 3, "{lookups:#?}");

    // The audit log has one line per credential, and nothing anywhere holds a value.
    let log = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(log.lines().count(), 3);
    f.assert_no_leaks(&[&run.stdout, &run.stderr, &log]);

    // Locks and journals are released and finished.
    let lock = f.versions("keyrot-lock-db-password");
    assert!(lock.iter().all(|v| !v.enabled), "lock not released");
    let journal = f.versions("keyrot-journal-db-password");
    let last = journal
        .last()
        .unwrap()
        .value
        .as_ref()
        .unwrap()
        .expose()
        .to_string();
    assert!(last.contains(r#""step":"done""#), "{last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_with_nothing_due_changes_nothing() {
    let f = Fixture::start().await;
    f.rotate(&[]).await.expect_code(0);
    f.harness.emulator.clear_requests();
    let run = f.rotate(&["--format", "json"]).await;
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["counts"]["up_to_date"], 3, "{report:#}");
    assert_eq!(f.writes(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_and_only_reads() {
    let f = Fixture::start().await;
    let run = f.rotate(&["--dry-run", "--format", "json"]).await;
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(credential(&report, "db-password")["status"], "planned");
    assert_eq!(credential(&report, "billing-secret")["status"], "planned");
    assert_eq!(credential(&report, "healthy")["status"], "up_to_date");
    // The plan names the orphan it would remove, and removes nothing.
    assert_eq!(
        credential(&report, "billing-secret")["to_remove"][0],
        ORPHAN_KEY
    );
    assert_eq!(f.writes(), Vec::<String>::new());
    assert_eq!(f.versions("db-password").len(), 1);
    assert!(f.harness.emulator.token_works(APP, ORPHAN));
    f.assert_no_leaks(&[&run.stdout, &run.stderr]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_at_once_make_exactly_one_new_credential() {
    let f = Fixture::start().await;
    // Both runs plan, then wait at the start signal, so their lock bids really race: the
    // signal is given only once both runs announced both credentials waiting.
    let signal = f.dir.path().join("go");
    let spawn = || {
        let mut child = common::keyrot_command(&f.env())
            .env("KEYROT_TEST_START_SIGNAL", &signal)
            .args(f.args(&[
                "--format",
                "json",
                "--name",
                "db-password",
                "--name",
                "billing-secret",
            ]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut text = String::new();
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("waiting for the start signal") {
                    let _ = tx.send(());
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        (child, rx, reader)
    };
    let runs = [spawn(), spawn()];
    for (_, waiting, _) in &runs {
        for _ in 0..2 {
            waiting
                .recv_timeout(Duration::from_secs(60))
                .expect("a run reached the lock");
        }
    }
    std::fs::write(&signal, "").unwrap();
    let [a, b] = runs.map(|(child, _, reader)| {
        let output = child.wait_with_output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: reader.join().unwrap(),
        }
    });
    // The lock is per credential: for each one, one run rotated it and the other was locked
    // out and changed nothing (which run won may differ between the two credentials).
    for run in [&a, &b] {
        assert!(
            [0, 4].contains(&run.code),
            "exit {}:\n{}",
            run.code,
            run.stderr
        );
    }
    assert!(a.code == 4 || b.code == 4, "neither run was locked out");
    for name in ["db-password", "billing-secret"] {
        let mut statuses = [
            credential(&a.json(), name)["status"]
                .as_str()
                .unwrap()
                .to_string(),
            credential(&b.json(), name)["status"]
                .as_str()
                .unwrap()
                .to_string(),
        ];
        statuses.sort();
        assert_eq!(statuses, ["locked", "rotated"], "{name}");
    }
    assert_eq!(f.versions("db-password").len(), 2);
    assert_eq!(f.versions("billing-secret").len(), 2);
    let keyrot_passwords = f
        .harness
        .emulator
        .application_passwords(APP)
        .into_iter()
        .filter(|p| {
            p.display_name
                .as_deref()
                .is_some_and(|d| d.starts_with("keyrot:"))
        })
        .count();
    assert_eq!(keyrot_passwords, 1);
    f.assert_invariant("after two concurrent runs");
    f.assert_no_leaks(&[&a.stdout, &a.stderr, &b.stdout, &b.stderr]);
}

/// Runs rotate until it is not locked out by a crashed run's lease (at most ~3 leases).
async fn rerun_until_unlocked(f: &Fixture, extra: &[&str]) -> Run {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    loop {
        let run = f.rotate(&args).await;
        if run.code != 4 || Instant::now() > deadline {
            return run;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn crash_at(step: &str, name: &str) {
    let f = Fixture::start().await;
    let mut command = common::keyrot_command(&f.env());
    command.args(f.args(&["--name", name]));
    common::kill_when_paused(command, step).await;
    f.assert_invariant(&format!("after a kill at {step}"));

    let run = rerun_until_unlocked(&f, &["--name", name]).await;
    run.expect_code(0);
    f.assert_invariant(&format!("after the rerun following {step}"));
    if name == "billing-secret" {
        f.assert_no_orphans(&format!("after the rerun following {step}"));
    }
    // Rotated once in all, by the killed run or by the rerun; the other credential untouched.
    assert_eq!(f.versions(name).len(), 2, "{step}");
    let other = if name == "db-password" {
        "billing-secret"
    } else {
        "db-password"
    };
    assert_eq!(f.versions(other).len(), 1, "{step}");
    f.assert_no_leaks(&[&run.stdout, &run.stderr]);
}

macro_rules! crash_tests {
    ($($test:ident: $step:expr, $name:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                crash_at($step, $name).await;
            }
        )*
    };
}

crash_tests! {
    entra_crash_after_locking: "locked", "billing-secret";
    entra_crash_after_journaling_the_start: "started", "billing-secret";
    entra_crash_after_creating_the_password: "created", "billing-secret";
    entra_crash_after_verifying: "verified", "billing-secret";
    entra_crash_after_committing: "committed", "billing-secret";
    entra_crash_after_retiring: "retired", "billing-secret";
    random_crash_after_locking: "locked", "db-password";
    random_crash_after_journaling_the_start: "started", "db-password";
    random_crash_after_creating_the_value: "created", "db-password";
    random_crash_after_verifying: "verified", "db-password";
    random_crash_after_committing: "committed", "db-password";
    random_crash_after_retiring: "retired", "db-password";
}

/// One fault at one call: the run completes or fails, and the state stays intact either way;
/// a clean rerun then completes.
async fn fault_at(route: &str, kind: &str) {
    let f = Fixture::start().await;
    let mut rule = FaultRule::new(route);
    match kind {
        "429" => {
            rule.status = Some(429);
            rule.retry_after = Some(1);
        }
        "500" => rule.status = Some(500),
        "drop" => rule.drop = true,
        // The call takes effect but its answer is lost: the client cannot know.
        "lost" => rule.drop_after = true,
        // The call hangs past the command's whole --timeout budget.
        "timeout" => rule.latency_ms = Some(20_000),
        _ => unreachable!(),
    }
    rule.count = Some(1);
    f.harness.emulator.add_fault(rule);
    let started = Instant::now();
    let run = f.rotate(&["--format", "json", "--timeout", "12s"]).await;
    assert!(
        [0, 1, 3, 4].contains(&run.code),
        "{route}/{kind}: exit {}\n{}",
        run.code,
        run.stderr
    );
    if kind == "timeout" {
        // The hanging call is logged only when the emulator answers, long after keyrot gave
        // up; that keyrot waited out its budget is the proof the fault was met. (It may still
        // exit 0: a lock release that times out is only a warning.) A lease renewal that hangs
        // is cut off sooner, when the 10 s lease ends, and the run says so.
        let cut_at_lease_end = [&run.stdout, &run.stderr]
            .iter()
            .any(|out| out.contains("renewing its lease took until the lease had ended"));
        assert!(
            started.elapsed() >= Duration::from_secs(11) || cut_at_lease_end,
            "{route}: the run never met the hang (exit {})\n{}",
            run.code,
            run.stderr
        );
    } else {
        assert!(
            f.harness
                .emulator
                .requests()
                .iter()
                .any(|r| r.route == route),
            "{route} was never called, so the fault was never met"
        );
    }
    f.assert_invariant(&format!("after {kind} at {route}"));
    if kind == "lost" && route == "graph.addPassword" {
        // The transport retried the POST whose answer was lost, so Entra made two passwords
        // with the rotation's display name; only one can be committed.
        let adds = f
            .harness
            .emulator
            .requests()
            .iter()
            .filter(|r| r.route == route)
            .count();
        assert!(
            adds >= 2,
            "the lost addPassword was not retried ({adds} calls)"
        );
    }
    if run.code == 0 {
        // A run that completed left nothing behind, even when an answer was lost and the
        // call was made twice.
        f.assert_no_orphans(&format!("after {kind} at {route}"));
    }
    f.harness.emulator.clear_faults();
    let rerun = rerun_until_unlocked(&f, &[]).await;
    rerun.expect_code(0);
    f.assert_invariant(&format!("after the rerun following {kind} at {route}"));
    f.assert_no_orphans(&format!("after the rerun following {kind} at {route}"));
    assert_eq!(f.versions("db-password").len(), 2, "{route}/{kind}");
    assert_eq!(f.versions("billing-secret").len(), 2, "{route}/{kind}");
    f.assert_no_leaks(&[&run.stdout, &run.stderr, &rerun.stdout, &rerun.stderr]);
}

macro_rules! fault_tests {
    ($($name:ident: $route:expr, $kind:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                fault_at($route, $kind).await;
            }
        )*
    };
}

fault_tests! {
    fault_429_listing_versions: "secrets.versions", "429";
    fault_500_listing_versions: "secrets.versions", "500";
    fault_drop_listing_versions: "secrets.versions", "drop";
    fault_429_reading_a_secret: "secrets.get", "429";
    fault_500_reading_a_secret: "secrets.get", "500";
    fault_drop_reading_a_secret: "secrets.get", "drop";
    fault_429_writing_a_version: "secrets.set", "429";
    fault_500_writing_a_version: "secrets.set", "500";
    fault_drop_writing_a_version: "secrets.set", "drop";
    fault_429_updating_a_version: "secrets.update", "429";
    fault_500_updating_a_version: "secrets.update", "500";
    fault_drop_updating_a_version: "secrets.update", "drop";
    fault_429_reading_the_app: "graph.applications.get", "429";
    fault_500_reading_the_app: "graph.applications.get", "500";
    fault_drop_reading_the_app: "graph.applications.get", "drop";
    fault_429_adding_a_password: "graph.addPassword", "429";
    fault_500_adding_a_password: "graph.addPassword", "500";
    fault_drop_adding_a_password: "graph.addPassword", "drop";
    fault_429_removing_a_password: "graph.removePassword", "429";
    fault_500_removing_a_password: "graph.removePassword", "500";
    fault_drop_removing_a_password: "graph.removePassword", "drop";
    fault_429_getting_a_token: "token", "429";
    fault_500_getting_a_token: "token", "500";
    fault_drop_getting_a_token: "token", "drop";
    lost_answer_writing_a_version: "secrets.set", "lost";
    lost_answer_updating_a_version: "secrets.update", "lost";
    lost_answer_adding_a_password: "graph.addPassword", "lost";
    lost_answer_removing_a_password: "graph.removePassword", "lost";
    lost_answer_getting_a_token: "token", "lost";
    timeout_listing_versions: "secrets.versions", "timeout";
    timeout_reading_a_secret: "secrets.get", "timeout";
    timeout_writing_a_version: "secrets.set", "timeout";
    timeout_updating_a_version: "secrets.update", "timeout";
    timeout_reading_the_app: "graph.applications.get", "timeout";
    timeout_adding_a_password: "graph.addPassword", "timeout";
    timeout_removing_a_password: "graph.removePassword", "timeout";
    timeout_getting_a_token: "token", "timeout";
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_config_is_a_usage_error_naming_the_line() {
    let f = Fixture::start().await;
    let bad = f.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[defaults]\nvault = \"rot\"\n\n[[credential]]\nname = \"x\"\ngenerator = \"random\"\nlenght = 3\n",
    )
    .unwrap();
    let bad = bad.display().to_string();
    let run = f.harness.run(f.env(), &["rotate", "--config", &bad]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("lenght"), "{}", run.stderr);
    assert!(run.stderr.contains(":7"), "no line number: {}", run.stderr);
    assert!(f.harness.emulator.requests().is_empty());

    let run = f.rotate(&["--name", "db-pasword"]).await;
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--name db-pasword matches no credential"),
        "{}",
        run.stderr
    );
    assert!(f.harness.emulator.requests().is_empty());

    let missing = f.dir.path().join("missing.toml").display().to_string();
    let run = f
        .harness
        .run(f.env(), &["rotate", "--config", &missing])
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("missing.toml"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeout_bounds_each_call_not_the_whole_rotation() {
    // The lock's settle alone (4 s) lasts past a 3 s --timeout, which must bound each call only.
    let f = Fixture::start().await;
    let started = Instant::now();
    let args = [
        "rotate",
        "--config",
        f.config.as_str(),
        "--lock-settle",
        "4s",
        "--lock-lease",
        "10s",
        "--format",
        "json",
        "--timeout",
        "3s",
        "--concurrency",
        "1",
    ];
    let run = f.harness.run(f.env(), &args).await;
    run.expect_code(0);
    assert!(started.elapsed() > Duration::from_secs(4));
    assert_eq!(run.json()["counts"]["rotated"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn superseded_versions_and_keyrot_passwords_retire_after_grace() {
    let f = Fixture::start().await;
    // Grace 0: what a rotation supersedes is retired in the same run.
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace(r#"grace = "7d""#, r#"grace = "0d""#);
    std::fs::write(&f.config, config).unwrap();

    f.rotate(&[]).await.expect_code(0);
    let db = f.versions("db-password");
    assert_eq!(db.len(), 2);
    assert!(!db[0].enabled, "the superseded version was not disabled");
    assert!(db[1].enabled);
    let first_key = f.versions("billing-secret")[1].tags["keyrot-key-id"].clone();

    // A second rotation supersedes keyrot's first password, which is removed; the password
    // set up by hand is not keyrot's and stays (remove_foreign is off).
    let run = f
        .rotate(&["--force", "--name", "billing-secret", "--format", "json"])
        .await;
    run.expect_code(0);
    let passwords = f.harness.emulator.application_passwords(APP);
    assert!(
        !passwords.iter().any(|p| p.key_id == first_key),
        "superseded keyrot password kept"
    );
    assert!(passwords
        .iter()
        .any(|p| p.display_name.as_deref() == Some("set up by hand")));
    let billing = f.versions("billing-secret");
    assert_eq!(billing.len(), 3);
    assert!(billing[..2].iter().all(|v| !v.enabled));
    assert_eq!(
        credential(&run.json(), "billing-secret")["removed"][0],
        first_key.as_str()
    );
    f.assert_invariant("after retirement");
    f.assert_no_orphans("after retirement");
}
