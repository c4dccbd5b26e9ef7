//! keyrot's Azure DevOps client against the emulator, through keyrot's transport: one
//! variable set with every other variable intact, concurrent runs losing nothing, Key
//! Vault-linked groups left alone, throttling, failures and hangs ending cleanly, refused
//! credentials named, and values never in a URL or an error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyrot::auth::{AuthEnv, DevopsCredential, KeyrotCredential};
use keyrot::devops::{DevopsClient, DevopsErrorKind, Organization, SetOutcome};
use keyrot::model::SecretValue;
use keyrot::transport::{BudgetScope, KeyrotTransport, TransportConfig};
use keyrot_emulator::{Emulator, EmulatorConfig, FaultRule, Seed};

const PAT: &str = "pat-4a7e-planted-value";
const JOB_TOKEN: &str = "job-token-c3d1-planted";
const KEPT_SECRET: &str = "kept-secret-9f2b-planted";
const NEW_VALUE: &str = "rotated-value-77e0-planted";
const SP: &str = "aaaaaaaa-0000-0000-0000-00000000d0d1";
const SP_SECRET: &str = "sp-secret-8b1c-planted";
const TENANT: &str = "11111111-2222-3333-4444-000000000009";

fn seed() -> Seed {
    Seed::from_toml_str(&format!(
        r#"
tenant_id = "{TENANT}"

[[client]]
client_id = "{SP}"
secrets = [{{ value = "{SP_SECRET}" }}]

[[devops.identity]]
display_name = "keyrot"
unique_name = "keyrot@contoso.com"
client_id = "{SP}"

[[devops.pat]]
token = "{PAT}"
identity = "keyrot@contoso.com"

[[devops.job_token]]
token = "{JOB_TOKEN}"
identity = "keyrot@contoso.com"

[[devops.organization]]
name = "contoso"

[[devops.organization.project]]
name = "payments"

[[devops.organization.project.variable_group]]
id = 7
name = "billing-prod"
variables = {{ billing_client_secret = {{ value = "old-value", secret = true }}, OTHER_SECRET = {{ value = "{KEPT_SECRET}", secret = true }}, REGION = {{ value = "westeurope" }}, LOCKED = {{ value = "fixed", read_only = true }} }}

[[devops.organization.project.variable_group]]
id = 8
name = "linked"
type = "AzureKeyVault"
vault = "billing-kv"
variables = {{ billing-client-secret = {{ secret = true }} }}

[[devops.organization.project.pipeline]]
id = 12
name = "billing-deploy"
folder = "\\payments"
parameters = ["reason"]
variable_groups = ["billing-prod"]

[[devops.organization.project.pipeline]]
id = 13
name = "twin"
folder = "\\a"

[[devops.organization.project.pipeline]]
id = 14
name = "twin"
folder = "\\b"

[[devops.organization.project.release_definition]]
id = 3
name = "billing-cd"
variable_groups = ["billing-prod"]
artifacts = [{{ alias = "_billing", default_version = "20260101.1" }}]

[[devops.organization.project.release_definition]]
id = 4
name = "no-defaults"
artifacts = [{{ alias = "_other" }}]
"#
    ))
    .expect("seed")
}

async fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::new(seed()))
        .await
        .expect("emulator")
}

fn transport(emu: &Emulator, budget: Duration) -> KeyrotTransport {
    KeyrotTransport::new(&TransportConfig {
        extra_roots: vec![("emulator CA".into(), emu.ca_pem().as_bytes().to_vec())],
        budget,
        scope: BudgetScope::EachCall,
    })
    .expect("transport")
}

fn client_with(emu: &Emulator, credential: DevopsCredential, budget: Duration) -> DevopsClient {
    let org =
        Organization::parse("https://dev.azure.com/contoso", Some(&emu.devops_url())).unwrap();
    DevopsClient::new(org, credential, &transport(emu, budget))
        .with_settle(Duration::from_millis(150))
}

fn client(emu: &Emulator) -> DevopsClient {
    client_with(emu, pat(PAT), Duration::from_secs(20))
}

fn pat(p: &str) -> DevopsCredential {
    DevopsCredential::Pat(SecretValue::new(p.into()))
}

fn value(v: &str) -> SecretValue {
    SecretValue::new(v.into())
}

/// Sets the group's `billing_client_secret` to [`NEW_VALUE`], as a rotation would.
async fn rotate(ado: &DevopsClient) -> Result<SetOutcome, keyrot::devops::DevopsError> {
    ado.set_variable(
        "payments",
        "billing-prod",
        "billing_client_secret",
        &value(NEW_VALUE),
    )
    .await
}

/// [`rotate`], failing the test if it takes longer than `limit` (the deadline held).
async fn rotate_within(
    ado: &DevopsClient,
    limit: Duration,
) -> Result<SetOutcome, keyrot::devops::DevopsError> {
    let started = Instant::now();
    let outcome = rotate(ado).await;
    assert!(started.elapsed() < limit, "{:?}", started.elapsed());
    outcome
}

/// No planted value in any URL the emulator saw, nor in these texts.
fn assert_no_values_leak(emu: &Emulator, texts: &[String]) {
    for r in emu.requests() {
        for planted in [PAT, JOB_TOKEN, KEPT_SECRET, NEW_VALUE, SP_SECRET] {
            assert!(
                !r.path_and_query.contains(planted),
                "{planted} in {}",
                r.path_and_query
            );
        }
    }
    for t in texts {
        for planted in [PAT, JOB_TOKEN, KEPT_SECRET, NEW_VALUE, SP_SECRET] {
            assert!(!t.contains(planted), "{planted} in {t}");
        }
    }
}

#[tokio::test]
async fn an_update_keeps_every_other_variable_and_secret() {
    let emu = emulator().await;
    let ado = client(&emu);
    // Names compare case-insensitively; the group keeps its own spelling.
    let outcome = ado
        .set_variable(
            "payments",
            "Billing-Prod",
            "BILLING_CLIENT_SECRET",
            &value(NEW_VALUE),
        )
        .await
        .expect("set");
    let SetOutcome::Written(written) = outcome else {
        panic!("expected a write")
    };
    assert_eq!(written.variable, "billing_client_secret");
    assert_eq!(written.group.id, 7);
    assert_eq!(written.attempts, 1);
    ado.verify(&written).await.expect("verified");
    let group = emu
        .devops_variable_group("contoso", "billing-prod")
        .unwrap();
    assert_eq!(group.puts, 1);
    let vars = &group.variables;
    assert_eq!(vars.len(), 4, "{:?}", vars.keys());
    assert_eq!(vars["billing_client_secret"].value.expose(), NEW_VALUE);
    assert!(vars["billing_client_secret"].secret);
    assert_eq!(vars["OTHER_SECRET"].value.expose(), KEPT_SECRET);
    assert!(vars["OTHER_SECRET"].secret);
    assert_eq!(vars["REGION"].value.expose(), "westeurope");
    assert!(vars["LOCKED"].read_only && vars["LOCKED"].value.expose() == "fixed");

    // A new variable, by numeric id, keeps the rest too.
    let SetOutcome::Written(second) = ado
        .set_variable("payments", "7", "NEW_ONE", &value("second-value"))
        .await
        .unwrap()
    else {
        panic!()
    };
    ado.verify(&second).await.unwrap();
    let vars = emu.devops_variable_group("contoso", "7").unwrap().variables;
    assert_eq!(vars.len(), 5);
    assert_eq!(vars["billing_client_secret"].value.expose(), NEW_VALUE);
    assert_eq!(vars["OTHER_SECRET"].value.expose(), KEPT_SECRET);

    // The first write's verification now fails only if its own facts changed: they did not.
    ado.verify(&written).await.expect("still verified");
    assert_no_values_leak(&emu, &[format!("{written:?}"), format!("{ado:?}")]);
    let puts: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert!(puts[0]
        .path_and_query
        .starts_with("/contoso/_apis/distributedtask/variablegroups/7?api-version=7.1"));
}

#[tokio::test]
async fn a_verification_names_what_another_writer_changed() {
    let emu = emulator().await;
    let ado = client(&emu);
    let SetOutcome::Written(written) = rotate(&ado).await.unwrap() else {
        panic!()
    };
    // Someone else's PUT from an old copy that lacks REGION (as the service would take it).
    let other = client_with(
        &emu,
        DevopsCredential::JobToken(value(JOB_TOKEN)),
        Duration::from_secs(20),
    );
    other
        .set_variable("payments", "billing-prod", "REGION", &value("now-a-secret"))
        .await
        .unwrap();
    let e = ado.verify(&written).await.unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::Verification);
    assert!(
        e.to_string().contains("REGION changed its secret flag"),
        "{e}"
    );
    assert_no_values_leak(&emu, &[e.to_string()]);
}

#[tokio::test]
async fn two_runs_updating_one_group_at_once_lose_nothing() {
    let emu = emulator().await;
    // Two clients, as two keyrot runs would be: no lock in common.
    let a = client(&emu);
    let b = client_with(
        &emu,
        DevopsCredential::JobToken(value(JOB_TOKEN)),
        Duration::from_secs(20),
    );
    two_runs_lose_nothing(&emu, a, b).await;
}

#[tokio::test]
async fn two_runs_lose_nothing_with_the_pause_keyrot_takes_by_default() {
    let emu = emulator().await;
    // No fixed pause: each client waits twice its own PUT's time before its re-read.
    let org = || Organization::parse("contoso", Some(&emu.devops_url())).unwrap();
    let a = DevopsClient::new(org(), pat(PAT), &transport(&emu, Duration::from_secs(20)));
    let b = DevopsClient::new(
        org(),
        DevopsCredential::JobToken(value(JOB_TOKEN)),
        &transport(&emu, Duration::from_secs(20)),
    );
    two_runs_lose_nothing(&emu, a, b).await;
}

async fn two_runs_lose_nothing(emu: &Emulator, a: DevopsClient, b: DevopsClient) {
    for round in 0..3 {
        // Both PUTs wait, so both runs read the group before either writes: the second PUT,
        // made from a copy without the first run's new variable, deletes it.
        emu.add_fault(FaultRule {
            latency_ms: Some(300),
            count: Some(2),
            ..FaultRule::new("devops.variablegroups.put")
        });
        let (name_a, name_b) = (format!("A_{round}"), format!("B_{round}"));
        let (value_a, value_b) = (value(&format!("a-{round}")), value(&format!("b-{round}")));
        let (x, y) = tokio::join!(
            a.set_variable("payments", "billing-prod", &name_a, &value_a),
            b.set_variable("payments", "billing-prod", &name_b, &value_b),
        );
        let (SetOutcome::Written(x), SetOutcome::Written(y)) = (x.unwrap(), y.unwrap()) else {
            panic!()
        };
        assert!(
            x.attempts + y.attempts >= 3,
            "round {round}: the race did not happen ({} + {} attempts)",
            x.attempts,
            y.attempts
        );
    }
    let vars = emu
        .devops_variable_group("contoso", "billing-prod")
        .unwrap()
        .variables;
    for round in 0..3 {
        assert_eq!(
            vars[&format!("A_{round}")].value.expose(),
            format!("a-{round}")
        );
        assert_eq!(
            vars[&format!("B_{round}")].value.expose(),
            format!("b-{round}")
        );
    }
    assert_eq!(vars["OTHER_SECRET"].value.expose(), KEPT_SECRET);
    assert_eq!(vars.len(), 10);
}

#[tokio::test]
async fn writers_in_one_process_take_turns() {
    let emu = emulator().await;
    let a = client(&emu);
    let b = a.clone();
    emu.add_fault(FaultRule {
        latency_ms: Some(200),
        count: Some(2),
        ..FaultRule::new("devops.variablegroups.put")
    });
    let (vx, vy) = (value("x"), value("y"));
    let (x, y) = tokio::join!(
        a.set_variable("payments", "billing-prod", "X", &vx),
        b.set_variable("payments", "billing-prod", "Y", &vy),
    );
    let (SetOutcome::Written(x), SetOutcome::Written(y)) = (x.unwrap(), y.unwrap()) else {
        panic!()
    };
    assert_eq!(
        (x.attempts, y.attempts),
        (1, 1),
        "serialised: no lost update to repair"
    );
    assert_eq!(emu.devops_variable_group("contoso", "7").unwrap().puts, 2);
}

#[tokio::test]
async fn a_key_vault_linked_group_needs_no_write() {
    let emu = emulator().await;
    let outcome = client(&emu)
        .set_variable(
            "payments",
            "linked",
            "billing-client-secret",
            &value(NEW_VALUE),
        )
        .await
        .unwrap();
    let SetOutcome::KeyVaultLinked(group) = outcome else {
        panic!("expected no write")
    };
    assert_eq!(group.id, 8);
    assert!(
        matches!(group.kind, keyrot::devops::GroupKind::AzureKeyVault { vault: Some(ref v) } if v == "billing-kv")
    );
    assert_eq!(
        emu.devops_variable_group("contoso", "linked").unwrap().puts,
        0
    );
    assert!(emu.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn throttling_failures_and_drops_are_retried() {
    let emu = emulator().await;
    let ado = client(&emu);
    for fault in [
        FaultRule {
            status: Some(429),
            retry_after: Some(1),
            count: Some(1),
            ..FaultRule::new("devops.variablegroups.put")
        },
        FaultRule {
            status: Some(500),
            count: Some(1),
            ..FaultRule::new("devops.variablegroups.get")
        },
        FaultRule {
            drop: true,
            count: Some(1),
            ..FaultRule::new("devops.variablegroups.put")
        },
        FaultRule {
            drop_after: true,
            count: Some(1),
            ..FaultRule::new("devops.variablegroups.put")
        },
        FaultRule {
            drop: true,
            count: Some(1),
            ..FaultRule::new("devops.variablegroups.list")
        },
    ] {
        emu.add_fault(fault.clone());
        let started = Instant::now();
        let outcome = rotate(&ado)
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        let SetOutcome::Written(w) = outcome else {
            panic!()
        };
        ado.verify(&w).await.unwrap();
        if fault.status == Some(429) {
            assert!(
                started.elapsed() >= Duration::from_secs(1),
                "Retry-After was honoured"
            );
        }
    }
    let group = emu
        .devops_variable_group("contoso", "billing-prod")
        .unwrap();
    assert_eq!(
        group.variables["billing_client_secret"].value.expose(),
        NEW_VALUE
    );
    assert_eq!(group.variables["OTHER_SECRET"].value.expose(), KEPT_SECRET);
    assert_no_values_leak(&emu, &[]);
}

#[tokio::test]
async fn endless_throttling_and_a_hang_end_within_the_deadline() {
    let emu = emulator().await;
    let ado = client_with(&emu, pat(PAT), Duration::from_secs(2));
    emu.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(60),
        ..FaultRule::new("devops.variablegroups.get")
    });
    let e = rotate_within(&ado, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::Status(429));
    let text = e.to_string();
    assert!(text.contains("TF400733") && text.contains("Fix:"), "{text}");
    emu.clear_faults();

    emu.add_fault(FaultRule {
        latency_ms: Some(30_000),
        ..FaultRule::new("devops.variablegroups.put")
    });
    let e = rotate_within(&ado, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::Transport, "{e}");
    assert_no_values_leak(&emu, &[e.to_string(), format!("{e:?}")]);
    assert_eq!(
        emu.devops_variable_group("contoso", "billing-prod")
            .unwrap()
            .puts,
        0
    );
}

#[tokio::test]
async fn a_refused_credential_is_an_authentication_failure_named_as_such() {
    let emu = emulator().await;
    for (credential, names) in [
        (pat("not-the-pat"), "AZURE_DEVOPS_EXT_PAT"),
        (
            DevopsCredential::JobToken(value("expired-job-token")),
            "SYSTEM_ACCESSTOKEN",
        ),
    ] {
        let ado = client_with(&emu, credential, Duration::from_secs(5));
        let e = rotate(&ado).await.unwrap_err();
        assert_eq!(e.kind(), DevopsErrorKind::Authentication);
        let text = e.to_string();
        assert!(
            text.contains(names) && text.contains("203") && text.contains("sign-in page"),
            "{text}"
        );
        assert!(
            !text.contains("not-the-pat") && !text.contains("expired-job-token"),
            "{text}"
        );
    }
    let ok = client_with(
        &emu,
        DevopsCredential::JobToken(value(JOB_TOKEN)),
        Duration::from_secs(5),
    );
    assert_eq!(
        ok.resolve_group("payments", "billing-prod")
            .await
            .unwrap()
            .id,
        7
    );
    assert_eq!(emu.devops_variable_group("contoso", "7").unwrap().puts, 0);
}

#[tokio::test]
async fn an_entra_token_from_the_credential_chain_acts_as_its_service_principal() {
    let emu = emulator().await;
    let env = AuthEnv::from_pairs([
        ("AZURE_CLIENT_ID", SP),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_SECRET", SP_SECRET),
        ("AZURE_AUTHORITY_HOST", emu.authority_host().as_str()),
    ]);
    let chosen = DevopsCredential::choose(&env, || {
        let t = Arc::new(transport(&emu, Duration::from_secs(10)));
        Arc::new(KeyrotCredential::from_env(&env, None, &t))
    });
    assert!(matches!(chosen, DevopsCredential::Entra(_)));
    let ado = client_with(&emu, chosen, Duration::from_secs(10));
    let SetOutcome::Written(_) = rotate(&ado).await.unwrap() else {
        panic!()
    };
    let group = emu.devops_variable_group("contoso", "7").unwrap();
    assert_eq!(
        group.variables["billing_client_secret"].value.expose(),
        NEW_VALUE
    );

    // The choice: a PAT first, then the job token, then Entra.
    let both = AuthEnv::from_pairs([
        ("AZURE_DEVOPS_EXT_PAT", PAT),
        ("SYSTEM_ACCESSTOKEN", JOB_TOKEN),
    ]);
    assert!(matches!(
        DevopsCredential::choose(&both, || unreachable!()),
        DevopsCredential::Pat(_)
    ));
    let job = AuthEnv::from_pairs([
        ("AZURE_DEVOPS_EXT_PAT", " "),
        ("SYSTEM_ACCESSTOKEN", JOB_TOKEN),
    ]);
    let chosen = DevopsCredential::choose(&job, || unreachable!());
    assert!(matches!(chosen, DevopsCredential::JobToken(_)));
    assert!(!format!("{chosen:?}").contains(JOB_TOKEN));
}

#[tokio::test]
async fn unknown_groups_and_projects_are_named() {
    let emu = emulator().await;
    let ado = client(&emu);
    let e = ado
        .resolve_group("payments", "no-such-group")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::NotFound);
    assert!(
        e.to_string()
            .contains("no variable group named no-such-group in project payments"),
        "{e}"
    );
    let e = ado.resolve_group("payments", "99").await.unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::NotFound, "{e}");
    let e = ado.resolve_group("nope", "billing-prod").await.unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::NotFound);
    assert!(e.to_string().contains("TF200016"), "{e}");
    let e = ado
        .set_variable("payments", "bill*", "X", &value(NEW_VALUE))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::InvalidInput);
    // A hostile name goes into the URL encoded and into the message inert.
    let e = ado
        .resolve_group("payments", "x\n##vso[task.setvariable variable=a]b")
        .await
        .unwrap_err();
    assert!(!e.to_string().contains('\n'), "{e}");
    assert!(!e.to_string().contains("##vso["), "{e}");
}

#[tokio::test]
async fn after_a_rotation_a_new_run_and_a_new_release_see_the_new_value() {
    let emu = emulator().await;
    let ado = client(&emu);
    rotate(&ado).await.unwrap();
    let pipeline = ado
        .resolve_pipeline("payments", "Billing-Deploy")
        .await
        .unwrap();
    assert_eq!(
        (pipeline.id, pipeline.folder.as_deref()),
        (12, Some("\\payments"))
    );
    assert_eq!(
        ado.resolve_pipeline("payments", "12").await.unwrap(),
        pipeline
    );
    let parameters = BTreeMap::from([("reason".to_owned(), "credential-rotation".to_owned())]);
    let run = ado
        .run_pipeline("payments", &pipeline, Some("main"), &parameters)
        .await
        .unwrap();
    let web = run.web_url.clone().unwrap();
    assert!(
        web.starts_with(&emu.devops_url())
            && web.ends_with(&format!("_build/results?buildId={}", run.id)),
        "{web}"
    );
    let definition = ado
        .resolve_release_definition("payments", "billing-cd")
        .await
        .unwrap();
    assert_eq!(definition.id, 3);
    let release = ado
        .create_release("payments", &definition, "keyrot: credential rotation")
        .await
        .unwrap();
    assert_eq!(release.name, "Release-1");
    assert!(release
        .web_url
        .as_deref()
        .unwrap()
        .contains("_release?releaseId=1"));

    let runs = emu.devops_runs("contoso");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].branch.as_deref(), Some("refs/heads/main"));
    assert_eq!(runs[0].parameters["reason"], "credential-rotation");
    assert_eq!(
        runs[1].artifacts,
        [("_billing".to_owned(), "20260101.1".to_owned())]
    );
    for r in &runs {
        assert_eq!(
            r.variable_groups["billing-prod"]["billing_client_secret"].expose(),
            NEW_VALUE
        );
    }
    assert_no_values_leak(&emu, &[format!("{run:?}{release:?}")]);
}

#[tokio::test]
async fn refused_triggers_name_their_target() {
    let emu = emulator().await;
    let ado = client(&emu);
    let pipeline = ado
        .resolve_pipeline("payments", "billing-deploy")
        .await
        .unwrap();
    let parameters = BTreeMap::from([("colour".to_owned(), "red".to_owned())]);
    let e = ado
        .run_pipeline("payments", &pipeline, None, &parameters)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::Status(400));
    let text = e.to_string();
    assert!(
        text.contains("billing-deploy") && text.contains("Unexpected parameter 'colour'"),
        "{text}"
    );
    let definition = ado
        .resolve_release_definition("payments", "no-defaults")
        .await
        .unwrap();
    let e = ado
        .create_release("payments", &definition, "x")
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("no-defaults") && text.contains("VS402881") && text.contains("_other"),
        "{text}"
    );
    assert!(emu.devops_runs("contoso").is_empty());

    let e = ado.resolve_pipeline("payments", "twin").await.unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::InvalidInput);
    assert!(e.to_string().contains("ids 13, 14"), "{e}");
    assert_eq!(
        ado.resolve_pipeline("payments", "b\\twin")
            .await
            .unwrap()
            .id,
        14
    );
    let e = ado
        .resolve_pipeline("payments", "missing")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::NotFound);
    let e = ado
        .resolve_release_definition("payments", "99")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DevopsErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn what_a_crash_interrupted_is_found_by_identity_and_time() {
    let emu = emulator().await;
    let ado = client(&emu);
    let me = ado.identity().await.unwrap();
    let mark = time::OffsetDateTime::now_utc() - time::Duration::seconds(2);
    let pipeline = ado
        .resolve_pipeline("payments", "billing-deploy")
        .await
        .unwrap();
    let run = ado
        .run_pipeline("payments", &pipeline, None, &BTreeMap::new())
        .await
        .unwrap();
    let found = ado
        .find_runs("payments", pipeline.id, &me, mark)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].id, found[0].web_url.as_ref()),
        (run.id, run.web_url.as_ref())
    );
    assert_eq!(found[0].by.as_deref(), Some(me.as_str()));
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert!(ado
        .find_runs("payments", pipeline.id, &me, later)
        .await
        .unwrap()
        .is_empty());
    assert!(ado
        .find_runs("payments", 13, &me, mark)
        .await
        .unwrap()
        .is_empty());

    let definition = ado
        .resolve_release_definition("payments", "3")
        .await
        .unwrap();
    let release = ado
        .create_release("payments", &definition, "x")
        .await
        .unwrap();
    let found = ado
        .find_releases("payments", definition.id, &me, mark)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [release.id]);
    assert!(ado
        .find_releases("payments", definition.id, "someone-else", mark)
        .await
        .unwrap()
        .is_empty());
}
