//! `keyrot unlock NAME`: breaks a credential's rotation lock by hand, for a run that is stuck
//! (alive and renewing, but making no progress) or a lock a user cannot wait out. It disables
//! the enabled bids of `keyrot-lock-NAME`; while the holder's lease runs it refuses unless
//! `--force`. Every break is audited: a line on stderr and, with `--audit-log`, a JSON line.
//! A holder that loses its lock this way learns it at its next renewal and does not commit.

use std::io::Write;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use time::OffsetDateTime;

use crate::auth::{AuthEnv, KeyrotCredential};
use crate::check::dates::rfc3339_utc;
use crate::cli::{GlobalArgs, UnlockArgs};
use crate::outcome::{Failure, Outcome};
use crate::rotate::config::Config;
use crate::rotate::lock::{self, Bid};
use crate::rotate::report::LockHolder;
use crate::transport::BudgetScope;
use crate::vault::{Vault, VaultUrl};

/// A line on stderr: it quotes run ids from the lock's tags, which anyone who can write the
/// vault can set, so it is written as [`crate::ci::inert`] leaves it.
fn say(text: &str) {
    eprintln!("{}", crate::ci::inert::human(text, false));
}

pub async fn run(global: &GlobalArgs, args: &UnlockArgs) -> Result<Outcome, Failure> {
    let vault_url = vault_of(args)?;
    let transport = super::transport(global, None, BudgetScope::Command)?;
    let credential: Arc<dyn TokenCredential> = Arc::new(KeyrotCredential::from_env(
        &AuthEnv::from_process(),
        global.auth,
        &transport,
    ));
    let vault = Vault::with_transport(vault_url.clone(), credential, &transport)
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let lock_name = lock::lock_secret_name(&args.name);
    let bids: Vec<Bid> = vault
        .secret_versions(&lock_name)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?
        .iter()
        .filter_map(Bid::from_record)
        .collect();
    let now = OffsetDateTime::now_utc();
    let enabled: Vec<&Bid> = bids.iter().filter(|b| b.enabled).collect();
    if enabled.is_empty() {
        say(&format!(
            "keyrot unlock: {:?} in {vault_url} has no lock to break (no enabled bid)",
            args.name
        ));
        return Ok(Outcome::Ok);
    }
    let holder = lock::holder(&bids, now).map(LockHolder::from_bid);
    if let (Some(holder), false) = (&holder, args.force) {
        say(&format!(
            "error: refused: {} holds the lock of {:?} (since {}); its lease ends at {} and it \
             renews it while it works. Wait for it (or use keyrot rotate --wait-lock), or pass \
             --force if that run is stuck",
            holder.run(),
            args.name,
            rfc3339_utc(holder.since),
            holder
                .lease_until
                .map(rfc3339_utc)
                .unwrap_or_else(|| "an unknown time".into()),
        ));
        return Ok(Outcome::RotationInProgress);
    }
    for bid in &enabled {
        vault
            .set_version_enabled(&lock_name, &bid.version, false)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))?;
    }
    let who = who();
    say(&format!(
        "keyrot unlock: disabled {} bid(s) of the lock of {:?} in {vault_url}{} by {}",
        enabled.len(),
        args.name,
        match holder {
            Some(h) => format!(", breaking the live lease of {}", h.run()),
            None => String::new(),
        },
        serde_json::Value::Object(who.clone())
    ));
    if let Some(path) = &args.audit_log {
        let line = serde_json::json!({
            "at": rfc3339_utc(now),
            "action": "unlock",
            "credential": args.name,
            "vault": vault_url.as_str(),
            "forced": args.force,
            "by": who,
            "bids": enabled.iter().map(|b| serde_json::json!({
                "version": b.version,
                "run_id": b.run_id,
                "since": rfc3339_utc(b.created),
                "lease_until": b.lease_until.map(rfc3339_utc),
                "live": b.live(now),
            })).collect::<Vec<_>>(),
        });
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{}", crate::ci::inert::json(&line.to_string())))
            .map_err(|e| {
                Failure::Runtime(format!(
                    "the lock is broken, but the audit log {} could not be written: {e}",
                    path.display()
                ))
            })?;
    }
    Ok(Outcome::Ok)
}

/// `--vault`, else the vault of the credential in keyrot.toml.
fn vault_of(args: &UnlockArgs) -> Result<VaultUrl, Failure> {
    if let Some(vault) = &args.vault {
        return VaultUrl::parse(vault).map_err(|e| Failure::Usage(format!("--vault: {e}")));
    }
    let config = Config::load(&args.config)
        .map_err(|e| Failure::Usage(format!("{e} (or name the vault with --vault)")))?;
    let spec = config
        .credentials
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(&args.name))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{}: no credential named {:?}; pass --vault to break a lock of a credential not in the config",
                args.config.display(),
                args.name
            ))
        })?;
    VaultUrl::parse(&spec.vault).map_err(Failure::Usage)
}

/// Who breaks the lock, as far as the environment says: the local user, the CI actor and run,
/// and the Azure client id signed in with (never a secret).
fn who() -> serde_json::Map<String, serde_json::Value> {
    let mut who = serde_json::Map::new();
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
    };
    let facts = [
        ("user", var(&["USER", "USERNAME"])),
        ("ci_actor", var(&["GITHUB_ACTOR", "BUILD_REQUESTEDFOR"])),
        ("ci_run", var(&["GITHUB_RUN_ID", "BUILD_BUILDID"])),
        ("client_id", var(&["AZURE_CLIENT_ID"])),
    ];
    for (key, value) in facts {
        if let Some(value) = value {
            who.insert(key.into(), value.into());
        }
    }
    who
}
