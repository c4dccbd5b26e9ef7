//! `keyrot demo`: the gate against the embedded emulator's demo vaults, through the real HTTPS,
//! challenge and token path, so a newcomer sees the report without an Azure subscription.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use keyrot_emulator::{Emulator, EmulatorConfig, Seed, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use time::OffsetDateTime;

use super::check::{collect, gate, policy, vault_urls, Scope};
use crate::auth::{AuthEnv, KeyrotCredential};
use crate::check::CheckReport;
use crate::cli::{DemoArgs, GlobalArgs};
use crate::model::Kind;
use crate::outcome::{Failure, Outcome};

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
    let collected = collect(&scope, credential, &transport).await;
    emulator.shutdown().await;
    let collected = collected?;
    let report = CheckReport::evaluate(collected.records, &policy, OffsetDateTime::now_utc())
        .with_errors(collected.errors);
    let outcome = gate(&report, &args.gate)?;
    if outcome == Outcome::GateFailed {
        // The demo vaults hold expired credentials on purpose; the demo itself succeeded.
        tracing::info!("demo: in a pipeline, `keyrot check` would exit 1 here: the gate failed");
    }
    Ok(Outcome::Ok)
}
