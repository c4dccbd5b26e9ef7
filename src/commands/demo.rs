//! `keyrot demo`: the gate against the embedded emulator's demo vaults, through the real HTTPS,
//! challenge and token path, so a newcomer sees the report without an Azure subscription; then
//! the loop on two of its credentials: the gate fails, `keyrot rotate` rotates them, updates
//! their copies (an Azure DevOps variable group, a GitHub secret), starts the pipeline, the
//! release and the workflow that deploy them, notifies a Teams webhook, and the gate passes.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use keyrot_emulator::{Emulator, EmulatorConfig, Seed, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use time::OffsetDateTime;

use super::check::{collect, gate, policy, vault_urls, Scope};
use crate::auth::{AuthEnv, KeyrotCredential};
use crate::check::CheckReport;
use crate::check::Filter;
use crate::cli::{DemoArgs, GlobalArgs};
use crate::model::Kind;
use crate::outcome::{Failure, Outcome};
use crate::rotate::config::Config;
use crate::rotate::consumers::Services;
use crate::rotate::lock::LockTiming;
use crate::rotate::report::RotationReport;
use crate::rotate::run::{self, AppObjectIds, Context, Job, Mode};
use crate::transport::KeyrotTransport;
use crate::vault::{Vault, VaultUrl};

pub async fn run(global: &GlobalArgs, args: &DemoArgs) -> Result<Outcome, Failure> {
    let policy = policy(&args.gate, args.versions)?;
    let seed = Seed::demo();
    let names: Vec<String> = seed.vaults.iter().map(|v| v.name.clone()).collect();
    let emulator = Emulator::start(EmulatorConfig::new(seed))
        .await
        .map_err(|e| Failure::Runtime(format!("cannot start the embedded emulator: {e:#}")))?;
    let vault_inputs: Vec<String> = names.iter().map(|n| emulator.vault_url(n)).collect();
    tracing::info!(
        "demo: emulator on https://localhost:{} with vaults {}",
        emulator.port(),
        names.join(", ")
    );
    // The demo logs in like a pipeline would, with a client secret, but from its own
    // environment snapshot so nothing in the caller's environment changes what it shows.
    let tenant = emulator.tenant_id().to_string();
    let authority = emulator.authority_host();
    let env = AuthEnv::from_pairs([
        ("AZURE_CLIENT_ID", DEMO_CLIENT_ID),
        ("AZURE_TENANT_ID", tenant.as_str()),
        ("AZURE_CLIENT_SECRET", DEMO_CLIENT_SECRET),
        ("AZURE_AUTHORITY_HOST", authority.as_str()),
    ]);
    let transport = super::transport(
        global,
        Some((
            "the emulator's CA".to_string(),
            emulator.ca_pem().as_bytes().to_vec(),
        )),
        crate::transport::BudgetScope::Command,
    )?;
    let credential: Arc<dyn TokenCredential> =
        Arc::new(KeyrotCredential::from_env(&env, None, &transport));
    let scope = Scope {
        vaults: vault_urls(&vault_inputs)?,
        kinds: Kind::ALL.into_iter().collect(),
        versions: args.versions,
        concurrency: crate::cli::DEFAULT_CONCURRENCY.into(),
    };
    let collected = collect(&scope, credential.clone(), &transport).await;
    let result = match collected {
        Ok(collected) => {
            let report =
                CheckReport::evaluate(collected.records, &policy, OffsetDateTime::now_utc())
                    .with_errors(collected.errors);
            match gate(&report, &args.gate) {
                Ok(outcome) => {
                    if outcome == Outcome::GateFailed {
                        // The demo vaults hold expired credentials on purpose.
                        tracing::info!(
                            "demo: in a pipeline, `keyrot check` would exit 1 here: the gate failed"
                        );
                    }
                    the_loop(
                        &emulator, &env, credential, &transport, &scope, &policy, args,
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    emulator.shutdown().await;
    result.map(|()| Outcome::Ok)
}

/// keyrot.toml of the loop: three due credentials (two random values, a storage account key),
/// their copies, the runs that deploy them and a Teams webhook. `{demo}` and `{payments}` are the vaults' URLs.
const LOOP_CONFIG: &str = r#"
[defaults]
rotate_within = "30d"
validity = "90d"
grace = "7d"

[[credential]]
name = "billing-api-client-secret"
vault = "{demo}"
generator = "random"

  [[credential.propagate]]
  to = "azure-devops-variable-group"
  organization = "contoso"
  project = "payments"
  group = "payments-prod"
  variable = "BILLING_CLIENT_SECRET"

  [[credential.propagate]]
  to = "github-secret"
  repository = "contoso/billing"
  secret = "BILLING_CLIENT_SECRET"

  [[credential.trigger]]
  to = "azure-devops-release"
  organization = "contoso"
  project = "payments"
  definition = "payments-cd"

  [[credential.trigger]]
  to = "github-workflow"
  repository = "contoso/billing"
  workflow = "deploy.yml"
  ref = "main"

[[credential]]
name = "stripe-api-key"
vault = "{payments}"
generator = "random"

  [[credential.propagate]]
  to = "azure-devops-variable-group"
  organization = "contoso"
  project = "payments"
  group = "payments-prod"
  variable = "STRIPE_API_KEY"

  [[credential.trigger]]
  to = "azure-devops-pipeline"
  organization = "contoso"
  project = "payments"
  pipeline = "payments-deploy"

  [[credential.trigger]]
  to = "azure-devops-release"
  organization = "contoso"
  project = "payments"
  definition = "payments-cd"

[[credential]]
name = "payments-storage"
vault = "{payments}"
generator = "storage-account-key"
resource = "/subscriptions/5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f/resourceGroups/payments-rg/providers/Microsoft.Storage/storageAccounts/contosopayments"
value = "connection-string"

  [[credential.trigger]]
  to = "azure-devops-pipeline"
  organization = "contoso"
  project = "payments"
  pipeline = "payments-deploy"

[[notify]]
to = "teams"
url_env = "KEYROT_DEMO_TEAMS_WEBHOOK_URL"
events = ["rotated", "failed"]
"#;

/// The loop, on the running emulator: gate, rotate, gate.
async fn the_loop(
    emulator: &Emulator,
    env: &AuthEnv,
    credential: Arc<dyn TokenCredential>,
    transport: &Arc<KeyrotTransport>,
    scope: &Scope,
    policy: &crate::check::Policy,
    args: &DemoArgs,
) -> Result<(), Failure> {
    let text = LOOP_CONFIG
        .replace("{demo}", &emulator.vault_url("demo"))
        .replace("{payments}", &emulator.vault_url("payments"));
    let config =
        Config::from_toml_str(&text, "the demo's keyrot.toml").map_err(Failure::Runtime)?;
    let names: Vec<String> = config.credentials.iter().map(|c| c.name.clone()).collect();
    let filter = Filter::new(&names, &[]).map_err(Failure::Runtime)?;
    let gate_on_loop = |title: &'static str| {
        gate_on(
            title,
            &filter,
            scope,
            credential.clone(),
            transport,
            policy,
            args,
        )
    };
    gate_on_loop("The loop. keyrot.toml rotates three of these; the gate on them fails:").await?;

    // The demo seed's own logins for the emulated Azure DevOps and GitHub, and its webhook.
    let seed_tokens = super::emulator::ServiceTokens::of(&Seed::demo());
    let mut pairs: Vec<(String, String)> = vec![
        ("KEYROT_AZURE_DEVOPS_URL".into(), emulator.devops_url()),
        ("GITHUB_API_URL".into(), emulator.github_api_url()),
    ];
    pairs.extend(
        seed_tokens
            .devops_pat
            .map(|t| ("AZURE_DEVOPS_EXT_PAT".to_string(), t)),
    );
    pairs.extend(
        seed_tokens
            .github_token
            .map(|t| ("GITHUB_TOKEN".to_string(), t)),
    );
    let services_env = AuthEnv::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let hook = emulator.hook_url(keyrot_emulator::HookKind::Teams, "payments-team");

    let mut vaults = std::collections::BTreeMap::new();
    for spec in &config.credentials {
        let url = VaultUrl::parse(&spec.vault).map_err(Failure::Runtime)?;
        if !vaults.contains_key(&spec.vault) {
            let vault = Vault::with_transport(url, credential.clone(), transport)
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            vaults.insert(spec.vault.clone(), vault);
        }
    }
    let run_id = run::new_id().map_err(Failure::Runtime)?;
    let context = Context {
        run_id: run_id.clone(),
        graph: None,
        verify_scope: String::new(),
        auth_env: env.clone(),
        transport: transport.clone(),
        timing: LockTiming::new(
            time::Duration::seconds(60),
            std::time::Duration::from_millis(1100),
        )
        .map_err(Failure::Runtime)?,
        dry_run: false,
        force: false,
        wait_lock: None,
        wait_poll: run::WAIT_POLL,
        concurrency: 4,
        app_object_ids: AppObjectIds::default(),
        services: Services::new(services_env, credential.clone(), transport.clone()).with_arm(
            crate::arm::ArmClient::new(&emulator.arm_url(), credential.clone(), transport.clone())
                .map_err(|e| Failure::Runtime(e.to_string()))?,
        ),
        mode: Mode::Rotate,
        notifier: Some(Box::new(super::notify::ChannelNotifier {
            specs: config.notify.clone(),
            env: Box::new(move |name: &str| {
                (name == "KEYROT_DEMO_TEAMS_WEBHOOK_URL").then(|| hook.clone())
            }),
            transport: transport.clone(),
        })),
        notify_id: Some(crate::notify::new_message_id().map_err(Failure::Runtime)?),
    };
    let jobs: Vec<Job<'_>> = config
        .credentials
        .iter()
        .map(|spec| Job {
            vault: &vaults[&spec.vault],
            spec,
            event_version: None,
        })
        .collect();
    println!("\nkeyrot rotate: new values, verified and stored; every copy updated, then each deploy started once:\n");
    let started_at = OffsetDateTime::now_utc();
    let (outcomes, notified) = run::rotate_all(&context, &jobs).await;
    let mut report = RotationReport::new(run_id, false, started_at, outcomes);
    report.notified = notified;
    print!("{}", report.table());
    for n in &report.notified {
        println!("notified {}: {}", n.channel, n.status);
    }
    if report.exit_code() != 0 {
        return Err(Failure::Runtime(
            "the demo's rotation did not complete; the report above says why".into(),
        ));
    }
    gate_on_loop("The gate on them now passes:").await?;
    Ok(())
}

/// The gate on the loop's credentials only.
async fn gate_on(
    title: &str,
    filter: &Filter,
    scope: &Scope,
    credential: Arc<dyn TokenCredential>,
    transport: &Arc<KeyrotTransport>,
    policy: &crate::check::Policy,
    args: &DemoArgs,
) -> Result<Outcome, Failure> {
    println!("\n{title}\n");
    let collected = collect(scope, credential, transport).await?;
    let report = CheckReport::evaluate_selected(
        collected.records,
        |r| filter.matches(r) && !crate::rotate::is_internal(r),
        policy,
        OffsetDateTime::now_utc(),
    )
    .with_errors(collected.errors);
    gate(&report, &args.gate)
}
