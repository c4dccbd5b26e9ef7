//! One module per subcommand; each turns parsed flags into an [`Outcome`] or a [`Failure`].

mod check;
mod demo;
mod emulator;
mod fetch;
mod rotate;
mod unlock;

use std::sync::Arc;
use std::time::Duration;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::outcome::{Failure, Outcome};
use crate::transport::{BudgetScope, KeyrotTransport, TransportConfig};

pub async fn run(cli: Cli) -> Result<Outcome, Failure> {
    match &cli.command {
        Command::Check(args) => check::run(&cli.global, args).await,
        Command::Fetch(args) => fetch::run(&cli.global, args).await,
        Command::Rotate(args) => rotate::run(&cli.global, args).await,
        Command::Unlock(args) => unlock::run(&cli.global, args).await,
        Command::Emulator(args) => emulator::run(args).await,
        Command::Demo(args) => demo::run(&cli.global, args).await,
    }
}

/// The transport from `--ca-cert`/`KEYROT_CA_CERT`, `SSL_CERT_FILE` and `--timeout`.
fn transport(
    global: &GlobalArgs,
    extra_pem: Option<(String, Vec<u8>)>,
    scope: BudgetScope,
) -> Result<Arc<KeyrotTransport>, Failure> {
    let budget = parse_timeout(&global.timeout)?;
    let mut extra_roots = Vec::new();
    let ssl_cert_file = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    for path in global.ca_cert.iter().chain(ssl_cert_file.iter()) {
        let pem = std::fs::read(path).map_err(|e| {
            Failure::Usage(format!(
                "cannot read CA certificate {}: {e}",
                path.display()
            ))
        })?;
        extra_roots.push((path.display().to_string(), pem));
    }
    extra_roots.extend(extra_pem);
    let transport = KeyrotTransport::new(&TransportConfig {
        extra_roots,
        budget,
        scope,
    })
    .map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(Arc::new(transport))
}

/// `--timeout`: like the policy durations, but a bare number means seconds.
fn parse_timeout(text: &str) -> Result<Duration, Failure> {
    let text = text.trim();
    let parsed = if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        text.parse::<u64>().ok().map(Duration::from_secs)
    } else {
        crate::check::parse_duration(text)
            .ok()
            .and_then(|d| u64::try_from(d.whole_milliseconds()).ok())
            .map(Duration::from_millis)
    };
    match parsed {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(Failure::Usage(format!(
            "invalid --timeout {text:?}: use a positive duration like 30s, 2m or a bare number of seconds"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_with_units_or_bare_seconds() {
        assert_eq!(parse_timeout("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_timeout("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "0", "-1", "soon"] {
            assert!(
                matches!(parse_timeout(bad), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
    }
}
