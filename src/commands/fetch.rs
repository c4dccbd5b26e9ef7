//! `keyrot fetch`: checks the flags, connects to the vaults and runs [`crate::fetch`].

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use time::OffsetDateTime;

use crate::auth::{AuthEnv, KeyrotCredential};
use crate::ci;
use crate::cli::{FetchArgs, GlobalArgs};
use crate::fetch::{Delivery, Destinations, Request, Selection};
use crate::outcome::{Failure, Outcome};
use crate::vault::Vault;

pub async fn run(global: &GlobalArgs, args: &FetchArgs) -> Result<Outcome, Failure> {
    // Everything the user typed is checked before any request.
    let vaults = super::check::vault_urls(&args.vaults)?;
    let selection = Selection::parse(vaults, &args.names, &args.excludes, &args.tags)
        .map_err(Failure::Usage)?;
    let system = global.ci.resolve(&ci::process_env);
    let destinations = Destinations {
        github_target: args.to,
        env_file: args.env_file.as_deref(),
        output: args.output.as_deref(),
        format: args.format,
        stdout: args.stdout,
    };
    let delivery =
        Delivery::plan(destinations, system, &ci::process_env).map_err(Failure::Usage)?;
    // This process is about to hold secret values: no core dump may copy them to disk.
    if let Err(why) = crate::hardening::disable_core_dumps() {
        tracing::warn!("fetch: could not turn core dumps off: {why}");
    }

    let transport = super::transport(global, None, crate::transport::BudgetScope::Command)?;
    let credential: Arc<dyn TokenCredential> = Arc::new(KeyrotCredential::from_env(
        &AuthEnv::from_process(),
        global.auth,
        &transport,
    ));
    let clients = selection
        .vaults
        .iter()
        .map(|url| {
            Vault::with_transport(url.clone(), credential.clone(), &transport)
                .map_err(|e| Failure::Runtime(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let request = Request {
        selection,
        delivery,
        allow_expired: args.allow_expired,
        strict: args.strict,
        concurrency: usize::from(args.concurrency),
    };
    crate::fetch::run(&request, &clients, OffsetDateTime::now_utc()).await
}
