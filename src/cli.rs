//! Every flag and environment variable keyrot reads, defined and documented in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::AuthKind;
use crate::check::NoExpiry;
use crate::model::Kind;
use crate::report::Format;

const EXIT_CODES: &str = "\
Exit codes:
  0  ok: the gate passed (warnings included)
  1  the gate failed (a credential expired, expires inside the fail window, or --strict and a warning)
  2  usage or configuration error (bad flag, vault name, duration, CA file, a --name or --tag
     that selects nothing, …)
  3  runtime error (authentication, network, TLS, permission, vault not found, malformed answer);
     for check: something could not be read, even if what could be read failed the gate (the
     report still covers everything readable)
  4  rotation in progress (`keyrot rotate`: another run holds a credential's lock)";

#[derive(Debug, Parser)]
#[command(
    name = "keyrot",
    version,
    about = "Guards and rotates the credentials of Azure applications from inside release pipelines",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command that talks to Azure shares.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Extra PEM root certificate to trust (on top of the system's), e.g. the emulator's CA.
    /// SSL_CERT_FILE is honoured too.
    #[arg(long, global = true, env = "KEYROT_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Budget for retries and slow answers, with its unit: 30s, 2m (a bare number is refused:
    /// give a unit). For check and fetch it
    /// bounds the whole command; for rotate, each call (a rotation's length is bounded by its
    /// lock lease and verify_timeout instead). Transient failures (429, 5xx, resets, timeouts)
    /// are retried within it, honouring Retry-After; others fail at once.
    /// Every listing (all its pages) ends within it too, in rotate as well.
    #[arg(
        long,
        global = true,
        env = "KEYROT_TIMEOUT",
        default_value = "30s",
        value_name = "DURATION"
    )]
    pub timeout: String,

    /// Force one credential instead of choosing from the environment.
    #[arg(
        long,
        global = true,
        env = "KEYROT_AUTH",
        value_enum,
        value_name = "KIND"
    )]
    pub auth: Option<AuthKind>,

    /// Log filter for stderr (error, warn, info, debug, trace, or a tracing directive).
    #[arg(
        long,
        global = true,
        env = "KEYROT_LOG",
        default_value = "info",
        value_name = "FILTER"
    )]
    pub log: String,

    /// Which CI system's logging protocol to speak (auto: GITHUB_ACTIONS=true → github,
    /// TF_BUILD=True → azure).
    #[arg(
        long,
        global = true,
        env = "KEYROT_CI",
        value_enum,
        default_value = "auto",
        value_name = "SYSTEM"
    )]
    pub ci: crate::ci::CiChoice,

    /// Microsoft Graph's base URL, for Entra applications (`check --app`, rotation). Change it
    /// for tests (an emulator) and sovereign clouds (https://graph.microsoft.us); tokens are
    /// requested for its origin + /.default.
    #[arg(
        long,
        global = true,
        env = "KEYROT_GRAPH_URL",
        default_value = crate::graph::DEFAULT_GRAPH_URL,
        value_name = "URL"
    )]
    pub graph_url: String,

    /// Azure Resource Manager's base URL, for the keys of storage accounts, Service Bus, Event
    /// Hubs and Cosmos DB (rotation). Change it for tests (an emulator) and sovereign clouds
    /// (https://management.usgovcloudapi.net, https://management.chinacloudapi.cn); tokens are
    /// requested for its origin + /.default, and the services' host names follow its cloud.
    #[arg(
        long,
        global = true,
        env = "KEYROT_ARM_URL",
        default_value = crate::arm::DEFAULT_ARM_URL,
        value_name = "URL"
    )]
    pub arm_url: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every credential's expiry and fail or warn the pipeline (the pre-release gate).
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Read the current value of selected secrets into the pipeline, masked (like
    /// AzureKeyVault@2); expired, disabled and not-yet-valid ones are refused when named
    /// exactly and skipped when a glob selected them.
    #[command(after_help = FETCH_EXIT_CODES)]
    Fetch(FetchArgs),
    /// Rotate the credentials of keyrot.toml that are due: staged, locked, journaled, verified.
    #[command(after_help = ROTATE_EXIT_CODES)]
    Rotate(RotateArgs),
    /// Push each credential's served value to every copy keyrot.toml names (variable groups,
    /// GitHub secrets), rotating nothing: for a copy added later or a failed propagation.
    /// Finishes an interrupted rotation's propagation and runs; starts runs only with --trigger.
    #[command(after_help = SYNC_EXIT_CODES)]
    Sync(SyncArgs),
    /// Break a credential's rotation lock by hand (a stuck run's): disables its live bids.
    /// Refused while the holder's lease runs, unless --force.
    #[command(after_help = UNLOCK_EXIT_CODES)]
    Unlock(UnlockArgs),
    /// Answer Key Vault's Event Grid events (POST /events) and sweep on a timer: rotate what
    /// Key Vault says is near expiry, with the protocol and lock of `rotate`. Also an Azure
    /// Functions custom handler (FUNCTIONS_CUSTOMHANDLER_PORT).
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Serve the local Key Vault, Entra ID and Graph emulator until interrupted; print what a
    /// client needs to use it.
    #[command(after_help = EMULATOR_HELP)]
    Emulator(EmulatorArgs),
    /// Run the gate against the embedded emulator's demo vaults and print its report.
    #[command(after_help = EXIT_CODES)]
    Demo(DemoArgs),
}

/// The kinds of Key Vault object `--kinds` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Secrets,
    Certificates,
    Keys,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Kind {
        match k {
            KindArg::Secrets => Kind::Secret,
            KindArg::Certificates => Kind::Certificate,
            KindArg::Keys => Kind::Key,
        }
    }
}

/// The policy and output flags `check` and `demo` share.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Warn when a credential expires within this (30d, 12h, 90m, or a bare number of days).
    #[arg(
        long,
        env = "KEYROT_WARN_WITHIN",
        default_value = "30d",
        value_name = "DURATION"
    )]
    pub warn_within: String,

    /// Fail when a credential expires within this (must not exceed --warn-within).
    #[arg(
        long,
        env = "KEYROT_FAIL_WITHIN",
        default_value = "7d",
        value_name = "DURATION"
    )]
    pub fail_within: String,

    /// What a credential without an expiry date gets.
    #[arg(long, env = "KEYROT_NO_EXPIRY", value_enum, default_value = "warn")]
    pub no_expiry: NoExpiry,

    /// Turn warnings into failures.
    #[arg(long, env = "KEYROT_STRICT")]
    pub strict: bool,

    /// Output format.
    #[arg(long, env = "KEYROT_FORMAT", value_enum, default_value = "table")]
    pub format: Format,

    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Version listings in flight by default (`check --versions`). A page of 25 names arrives
/// every ~20 ms, so about 30 listings of ~20 ms each keep up with the pages. Measured on 1,000
/// secrets at 20 ms a request (release build, loaded 2-core machine): 8 in flight 2.9 s, 32
/// 1.1 s, 64 no faster; the listing without versions took 1.0 s there.
pub const DEFAULT_CONCURRENCY: u16 = 32;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Vault name (myvault → https://myvault.vault.azure.net) or URL; repeatable. Required
    /// unless --app or --config names something to check.
    #[arg(
        long = "vault",
        env = "KEYROT_VAULTS",
        value_delimiter = ',',
        value_name = "NAME|URL"
    )]
    pub vaults: Vec<String>,

    /// Entra application (appId or object id) whose client secrets and certificates to check
    /// through Microsoft Graph; repeatable. Needs Application.Read.All.
    #[arg(
        long = "app",
        env = "KEYROT_APPS",
        value_delimiter = ',',
        value_name = "APPID|OBJECTID"
    )]
    pub apps: Vec<String>,

    /// keyrot.toml whose Entra applications are checked too (read only when given).
    #[arg(long, env = "KEYROT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Send the pre-expiry summary (what expires when, most urgent first, and what keyrot will
    /// do about it) to the [[notify]] channels of --config that listen to "expiring". Nothing
    /// is sent when nothing warns or fails.
    #[arg(long, requires = "config")]
    pub notify: bool,

    /// Which kinds of object to check.
    #[arg(
        long,
        env = "KEYROT_KINDS",
        value_enum,
        value_delimiter = ',',
        default_value = "secrets"
    )]
    pub kinds: Vec<KindArg>,

    /// Also list each secret's versions: report superseded versions still enabled (in_grace
    /// while keyrot's grace period runs, then stale_enabled_version), and a disabled current
    /// version whose older version is still enabled (current_disabled). Without it keyrot sees
    /// only each secret's current version.
    #[arg(long)]
    pub versions: bool,

    /// Most version listings in flight at once, per vault (with --versions); they start as
    /// the list pages arrive.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Only credentials whose name matches this glob; repeatable. A pattern that selects
    /// nothing is an error (exit 2).
    #[arg(long = "name", value_name = "GLOB")]
    pub names: Vec<String>,

    /// Only credentials with this tag; repeatable (all must match). Tags that select nothing
    /// are an error (exit 2). A secret's older versions go with it.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// Under CI, where to write the JSON report (default: keyrot-check-report.json in
    /// RUNNER_TEMP / AGENT_TEMPDIRECTORY, else the system temp dir).
    #[arg(long, env = "KEYROT_REPORT", value_name = "FILE")]
    pub report: Option<PathBuf>,

    #[command(flatten)]
    pub gate: GateArgs,
}

const FETCH_EXIT_CODES: &str = "\
Selecting secrets:
  --name db-password           exact name: read directly (no listing); refused if disabled,
                               expired or not yet valid (exit 1); missing: exit 2
  --name db-password=DB_PASS   exact name, exported under the variable DB_PASS
  --name payments/db-password  only from the --vault named payments
  --name 'db-*'                glob over the listing: disabled, expired and not-yet-valid
                               secrets are skipped with a warning (--strict: exit 1)
  (no --name)                  every secret of every vault, skipped like a glob's

Where values go:
  GitHub Actions   ::add-mask:: first, then $GITHUB_ENV (DB_PASSWORD from db-password) or,
                   with --to outputs, step outputs
  Azure Pipelines  ##vso[task.setsecret] first, then ##vso[task.setvariable
                   variable=db-password;issecret=true] (AzureKeyVault@2's names)
  anywhere         --env-file PATH (mode 0600), --output PATH (mode 0600, --format), --stdout
Values never go to stdout unless --stdout is given. Variable names that change how later steps
run (BASH_ENV, LD_*, PATH, GITHUB_*, …) are refused: rename with --name NAME=VARIABLE.

Exit codes:
  0  every selected secret was exported (skipped ones are warnings)
  1  refused: a secret named exactly is expired, disabled or not yet valid, or --strict and a
     secret was skipped (nothing was exported)
  2  usage or configuration error (bad flag, vault, a --name that matches nothing, a refused or
     clashing variable name, a value the env format cannot carry, nowhere to put the values)
  3  runtime error (authentication, network, TLS, DNS, permission, vault not found, an answer
     about another secret)";

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Vault name (myvault → https://myvault.vault.azure.net) or URL; repeatable.
    #[arg(
        long = "vault",
        env = "KEYROT_VAULTS",
        value_delimiter = ',',
        value_name = "NAME|URL"
    )]
    pub vaults: Vec<String>,

    /// Secrets to fetch; repeatable. An exact name (db-password) is read directly and may
    /// choose its variable (db-password=DB_PASS); a glob (db-*) selects from the listing.
    /// VAULT/ limits it to the vault with that name. Without it, every secret.
    #[arg(long = "name", value_name = "[VAULT/]NAME[=VARIABLE]|GLOB")]
    pub names: Vec<String>,

    /// Leave out secrets whose name matches this glob ([VAULT/]GLOB); repeatable.
    #[arg(long = "exclude", value_name = "[VAULT/]GLOB")]
    pub excludes: Vec<String>,

    /// Only secrets with this tag; repeatable (all must match).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// Export expired and not-yet-valid secrets instead of refusing or skipping them (disabled
    /// ones cannot be read at all).
    #[arg(long)]
    pub allow_expired: bool,

    /// Fail (exit 1, nothing exported) instead of skipping a secret a glob selected.
    #[arg(long, env = "KEYROT_STRICT")]
    pub strict: bool,

    /// Under GitHub Actions: job environment variables or this step's outputs.
    #[arg(long, value_enum, default_value = "env")]
    pub to: crate::fetch::GitHubTarget,

    /// Also write the values to this dotenv file (mode 0600; a symbolic link is refused).
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// Also write the values to this file in --format (mode 0600; a symbolic link is refused).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Format of --output and --stdout.
    #[arg(long, value_enum, default_value = "env")]
    pub format: crate::fetch::Format,

    /// Print the values on stdout. Never the default: a log is not a place for secrets.
    #[arg(long)]
    pub stdout: bool,

    /// Most secrets read at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

const ROTATE_EXIT_CODES: &str = "\
Exit codes (when several apply, the first listed here of 1, 3, 4 wins):
  0  every credential is rotated, rotated by another run, or up to date (or, with --dry-run,
     planned)
  1  a rotation failed after its work began (its journal lets the next run finish or undo it),
     a copy could not be updated (propagation_failed: the previous value stays enabled), or a
     run could not be started
  2  usage or configuration error (bad flag, keyrot.toml, vault, duration, …)
  3  runtime error before any work on a credential began (authentication, network, DNS, TLS,
     permission, vault not found, a variable group, pipeline or release definition keyrot
     cannot see), with --dry-run too; nothing of that credential was changed
  4  rotation in progress: another run holds a credential's lock; nothing was changed there";

const UNLOCK_EXIT_CODES: &str = "\
Exit codes:
  0  the lock's bids are disabled (or there was no live lock)
  2  usage or configuration error (no such credential in keyrot.toml, bad vault, …)
  3  runtime error (authentication, network, TLS, permission, vault not found)
  4  refused: the holder's lease is still running (pass --force to break it anyway)";

/// The report formats of `rotate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RotateFormat {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Rotate every selected credential, due or not.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Also start each synced credential's runs ([[credential.trigger]]) once its copies hold
    /// the value.
    #[arg(long)]
    pub trigger: bool,
}

/// What `rotate` and `sync` share.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The rotation plan.
    #[arg(
        long,
        env = "KEYROT_CONFIG",
        default_value = "keyrot.toml",
        value_name = "FILE"
    )]
    pub config: PathBuf,

    /// Print what would be done and change nothing (only reads are sent, to every service:
    /// groups, pipelines and definitions are resolved, GitHub public keys fetched).
    #[arg(long)]
    pub dry_run: bool,

    /// Only credentials whose name matches this glob; repeatable.
    #[arg(long = "name", value_name = "GLOB")]
    pub names: Vec<String>,

    /// Most credentials planned, bid for and rotated at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Report format.
    #[arg(long, env = "KEYROT_FORMAT", value_enum, default_value = "table")]
    pub format: RotateFormat,

    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Append one JSON line per credential to FILE (never a value).
    #[arg(long, env = "KEYROT_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,

    /// How long a lock outlives a run that died (10s to 24h): the holder renews its lease every
    /// third of it while it works, so a killed run blocks the next one for at most this long.
    #[arg(
        long,
        env = "KEYROT_LOCK_LEASE",
        default_value = "60s",
        value_name = "DURATION"
    )]
    pub lock_lease: String,

    /// When another run holds a credential's lock, wait up to this long for it (polling its
    /// bids) instead of exiting 4; then report the credential rotated by that run, or, if it is
    /// still due (the other run died or failed), rotate it.
    #[arg(long, env = "KEYROT_WAIT_LOCK", value_name = "DURATION")]
    pub wait_lock: Option<String>,

    /// Wait between bidding for the locks and reading the bids, once per run (over a second:
    /// Key Vault stamps versions in whole seconds; under half of --lock-lease).
    #[arg(
        long,
        env = "KEYROT_LOCK_SETTLE",
        default_value = "2s",
        value_name = "DURATION"
    )]
    pub lock_settle: String,
}

const SYNC_EXIT_CODES: &str = "\
Exit codes (when several apply, the first listed here of 1, 3, 4 wins):
  0  every selected credential's copies hold its served value (or, with --dry-run, planned)
  1  a copy could not be updated (propagation_failed), or a run could not be started
  2  usage or configuration error (keyrot.toml, flags)
  3  runtime error before anything changed (authentication, a group, pipeline or key keyrot
     cannot see)
  4  another run holds a credential's lock";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The rotation plan.
    #[arg(
        long,
        env = "KEYROT_CONFIG",
        default_value = "keyrot.toml",
        value_name = "FILE"
    )]
    pub config: PathBuf,

    /// Address to listen on (TLS is terminated upstream). Ignored under the Functions host,
    /// which names the loopback port in FUNCTIONS_CUSTOMHANDLER_PORT.
    #[arg(
        long,
        env = "KEYROT_SERVE_LISTEN",
        default_value = "0.0.0.0:8080",
        value_name = "ADDR"
    )]
    pub listen: String,

    /// Check and rotate the whole config this often (and once at start): Key Vault announces
    /// NearExpiry once, 30 days ahead, and never for Entra passwords. 0 turns the timer off
    /// (on Functions the keyrot-sweep timer function sweeps).
    #[arg(
        long,
        env = "KEYROT_SWEEP_EVERY",
        default_value = "6h",
        value_name = "DURATION"
    )]
    pub sweep_every: String,

    /// How long a delivery waits for its work before it is answered 503 (Event Grid waits
    /// 30 s); the work goes on, journaled, and the redelivery finds it.
    #[arg(
        long,
        env = "KEYROT_ANSWER_WITHIN",
        default_value = "25s",
        value_name = "DURATION"
    )]
    pub answer_within: String,

    /// Most credentials worked on at once by this instance (rotations wait on the network,
    /// and a loser of a lock holds its place only while it waits).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// When another instance holds a credential's lock, wait up to this long for it (within
    /// --answer-within) and answer 200 once it is done; 0 answers 503 at once, and Event Grid
    /// delivers again on its own schedule (10 s, 30 s, 1 min, …).
    #[arg(
        long,
        env = "KEYROT_WAIT_LOCK",
        default_value = "10s",
        value_name = "DURATION"
    )]
    pub wait_lock: String,

    /// Entra-protected delivery: the webhook's app registration (appId or App ID URI) the
    /// Event Grid token must be for.
    #[arg(long, env = "KEYROT_SERVE_AUDIENCE", value_name = "APP")]
    pub entra_audience: Option<String>,

    /// The tenant of --entra-audience (default: AZURE_TENANT_ID).
    #[arg(long, env = "KEYROT_SERVE_TENANT", value_name = "TENANT")]
    pub entra_tenant: Option<String>,

    /// Accept deliveries without authentication; only on a loopback address, for local tests.
    #[arg(long)]
    pub insecure_local: bool,

    /// On SIGTERM or Ctrl-C, how long in-flight rotations may take to finish.
    #[arg(
        long,
        env = "KEYROT_SHUTDOWN_GRACE",
        default_value = "25s",
        value_name = "DURATION"
    )]
    pub shutdown_grace: String,

    /// How long a lock outlives an instance that died (see `rotate --lock-lease`).
    #[arg(
        long,
        env = "KEYROT_LOCK_LEASE",
        default_value = "60s",
        value_name = "DURATION"
    )]
    pub lock_lease: String,

    /// Wait between bidding for a lock and reading the bids (see `rotate --lock-settle`).
    #[arg(
        long,
        env = "KEYROT_LOCK_SETTLE",
        default_value = "2s",
        value_name = "DURATION"
    )]
    pub lock_settle: String,
}

const SERVE_HELP: &str = "\
Authentication of POST /events (one of them is required):
  KEYROT_SERVE_KEY       every request must carry ?key=<it> (compared in constant time)
  --entra-audience       Entra-protected delivery: a bearer token from the tenant for this app,
                         with the AzureEventGridSecureWebhookSubscriber role
  FUNCTIONS_CUSTOMHANDLER_PORT  set by the Functions host: keyrot listens on 127.0.0.1 and the
                         host authenticates callers
  --insecure-local       none, on a loopback address only
Answers: 200 once an event's work is done or deliberately skipped; 503 with Retry-After while
another instance holds the credential's lock or the work is still running; 500 when it failed
(the journal lets the redelivery finish it); 400 only for a malformed delivery and 401 for an
unauthenticated one (Event Grid never retries those). Logs: one JSON line per event on stdout.
Exit codes: 0 after a clean shutdown, 2 usage or configuration error, 3 cannot listen.";

const EMULATOR_HELP: &str = "\
Once it listens, the emulator prints one JSON line on stdout: port, ca_path, authority_host,
graph_url, tenant_id, vaults, client_id, the OIDC and managed-identity endpoints, admin_url,
azure_devops_url, github_api_url, and env, the variables a client needs:
  AZURE_TENANT_ID       the seed's tenant
  AZURE_CLIENT_ID       the seed's first [[client]]
  AZURE_CLIENT_SECRET   that client's first secret the token endpoint accepts now
                        (left out, with a warning on stderr, when it has none)
  AZURE_AUTHORITY_HOST  https://login.localhost:PORT
  KEYROT_CA_CERT        the generated CA (PEM)
  KEYROT_GRAPH_URL      https://graph.localhost:PORT
  KEYROT_VAULTS         the vault URLs, comma separated, in seed order
  KEYROT_AZURE_DEVOPS_URL  https://devops.localhost:PORT (stands for https://dev.azure.com)
  AZURE_DEVOPS_EXT_PAT  the seed's first [[devops.pat]] (left out when it has none)
  GITHUB_API_URL        https://api.github.localhost:PORT
  GITHUB_TOKEN          the seed's first [[github.token]] that may write secrets (left out
                        when it has none)
--env-file FILE writes them as NAME='value' lines, for: set -a; . FILE; set +a

Exit codes:
  0  stopped by SIGINT or SIGTERM
  2  usage error (bad seed, env file path, a value a shell cannot take literally)
  3  runtime error (the port cannot be bound, the CA cannot be written)";

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The credential (its Key Vault secret name) whose lock to break.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// keyrot.toml, to find the credential's vault (unless --vault).
    #[arg(
        long,
        env = "KEYROT_CONFIG",
        default_value = "keyrot.toml",
        value_name = "FILE"
    )]
    pub config: PathBuf,

    /// The vault (name or URL) holding the lock; keyrot.toml is then not read.
    #[arg(long, value_name = "NAME|URL")]
    pub vault: Option<String>,

    /// Break the lock even while the holder's lease runs. Only for a run known to be dead or
    /// stuck: a live holder that loses its lock refuses to commit, but two runs may then work on
    /// the credential at once.
    #[arg(long)]
    pub force: bool,

    /// Append a JSON line saying who broke which lock when (never a value).
    #[arg(long, env = "KEYROT_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Seed file (TOML: vaults, secrets, clients). Without it, the demo seed.
    #[arg(long, env = "KEYROT_EMULATOR_SEED", value_name = "FILE")]
    pub seed: Option<PathBuf>,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "KEYROT_EMULATOR_PORT", default_value_t = 0)]
    pub port: u16,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,

    /// Folder for the generated CA certificate (a temporary folder otherwise).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Also write the client variables (below) to FILE as NAME='value' lines, mode 0600, once
    /// the emulator listens (whole: write and rename; never through a symbolic link). Removed
    /// when the emulator stops.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Also list each secret's versions, like `check --versions` (superseded versions still
    /// enabled, a disabled current version).
    #[arg(long)]
    pub versions: bool,

    #[command(flatten)]
    pub gate: GateArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }
}
