//! keyrot's entry point: parse flags, run the command, map the ending to an exit code.

use std::process::ExitCode;

use clap::Parser;
use keyrot::cli::Cli;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.global.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(keyrot::commands::run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(failure) => {
            // Errors quote servers: written inert, like every log line.
            eprintln!(
                "error: {}",
                keyrot::ci::inert::human(&failure.to_string(), false)
            );
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Logs go to stderr so stdout carries only the report, one inert line per event.
fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter)
        .map(|f| {
            // The SDK's request logging and the TLS verifier's own error lines repeat what
            // keyrot's error message already says, with less context.
            [
                "azure_core=warn",
                "typespec_client_core=warn",
                "rustls_platform_verifier=off",
            ]
            .iter()
            .fold(f, |f, d| {
                f.add_directive(d.parse().expect("static directive"))
            })
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = is_terminal::is_terminal(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(keyrot::ci::sink::LogWriter { ansi })
        .with_target(false)
        .with_ansi(ansi)
        .without_time()
        .init();
}
