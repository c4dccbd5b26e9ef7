//! `keyrot emulator`: serve the local Key Vault and Entra ID emulator until interrupted.

use keyrot_emulator::{Emulator, EmulatorConfig, Seed};

use crate::cli::EmulatorArgs;
use crate::outcome::{Failure, Outcome};

pub async fn run(args: &EmulatorArgs) -> Result<Outcome, Failure> {
    let seed = match &args.seed {
        Some(path) => Seed::from_file(path).map_err(|e| Failure::Usage(format!("{e:#}")))?,
        None => Seed::demo(),
    };
    let vault_names: Vec<String> = seed.vaults.iter().map(|v| v.name.clone()).collect();
    let mut config = EmulatorConfig::new(seed);
    config.bind = args.bind;
    config.port = args.port;
    config.state_dir = args.state_dir.clone();
    let emulator = Emulator::start(config)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot start the emulator: {e:#}")))?;
    let vaults: serde_json::Map<String, serde_json::Value> = vault_names
        .iter()
        .map(|name| (name.clone(), emulator.vault_url(name).into()))
        .collect();
    // One JSON line on stdout is the machine-readable handshake for scripts and tests.
    let ready = serde_json::json!({
        "port": emulator.port(),
        "ca_path": emulator.ca_path(),
        "authority_host": emulator.authority_host(),
        "graph_url": emulator.graph_url(),
        "tenant_id": emulator.tenant_id(),
        "admin_url": emulator.admin_url(),
        "vaults": vaults,
        "github_oidc_request_url": emulator.github_oidc_request_url(),
        "azure_pipelines_oidc_url": emulator.azure_pipelines_oidc_url(),
        "msi_endpoint": emulator.msi_endpoint(),
    });
    println!("{ready}");
    tracing::info!(
        "emulator listening on https://localhost:{}; trust {} (KEYROT_CA_CERT); AZURE_AUTHORITY_HOST={}",
        emulator.port(),
        emulator.ca_path().display(),
        emulator.authority_host()
    );
    wait_for_shutdown().await;
    emulator.shutdown().await;
    Ok(Outcome::Ok)
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
