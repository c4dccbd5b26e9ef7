//! One module per subcommand; each turns parsed flags into an [`Outcome`] or a [`Failure`].

mod check;
mod demo;
mod emulator;
mod fetch;
mod key_ages;
mod notify;
mod rotate;
mod serve;
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
        Command::Sync(args) => rotate::sync(&cli.global, args).await,
        Command::Serve(args) => serve::run(&cli.global, args).await,
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

/// `--timeout`: a positive duration with its unit (`30s`, `2m`); a bare number is refused,
/// since it would mean seconds to some readers and days (as in the policy windows) to others.
fn parse_timeout(text: &str) -> Result<Duration, Failure> {
    parse_duration_flag("--timeout", text)
}

/// A positive duration flag that needs its unit (`--timeout`, `--lock-settle`, …), as a std
/// `Duration`; the error names the flag and asks for a unit (exit 2). (Public for the fuzz
/// targets and property tests.)
#[doc(hidden)]
pub fn parse_duration_flag(flag: &str, text: &str) -> Result<Duration, Failure> {
    let parsed = crate::check::parse_duration_with_unit(text)
        .map_err(|e| Failure::Usage(format!("{flag}: {e}")))?;
    match u64::try_from(parsed.whole_milliseconds()) {
        Ok(millis) if millis > 0 => Ok(Duration::from_millis(millis)),
        Ok(_) => Err(Failure::Usage(format!(
            "{flag}: invalid duration {text:?}: it must be positive, like 30s or 2m"
        ))),
        Err(_) if parsed.is_positive() => Err(Failure::Usage(format!(
            "{flag}: invalid duration {text:?}: far too long; give something like 30s or 2m"
        ))),
        Err(_) => Err(Failure::Usage(format!(
            "{flag}: invalid duration {text:?}: it must be positive, like 30s or 2m"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(result: Result<Duration, Failure>) -> String {
        match result {
            Err(Failure::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn timeouts_need_a_unit() {
        assert_eq!(parse_timeout("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_timeout("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_timeout("1d").unwrap(), Duration::from_secs(86_400));
        let bare = usage(parse_timeout("30"));
        assert!(bare.starts_with("--timeout: "), "{bare}");
        assert!(bare.contains("give a unit: 30s, 5m"), "{bare}");
        for bad in ["", "0s", "-1s", "soon"] {
            let message = usage(parse_timeout(bad));
            assert!(message.starts_with("--timeout: "), "{bad}: {message}");
        }
        assert!(usage(parse_timeout("0s")).contains("must be positive"));
        // Longer than milliseconds fit in: said as such, not as "must be positive".
        assert!(usage(parse_timeout("106751991167300d")).contains("far too long"));
    }
}
