//! A local HTTPS emulator of Azure Key Vault's data plane, Entra ID's token endpoints and the
//! Microsoft Graph `applications` endpoints that manage app registration credentials.
//!
//! The emulator is a product, not a mock: it answers with the status codes, headers, error
//! bodies, paging and failure modes of the real services, so that Microsoft's SDKs (Rust and
//! Python) work against it unmodified. It runs in-process ([`Emulator::start`]) for keyrot's
//! tests and `keyrot demo`, and stand-alone via `keyrot emulator`.
//!
//! # Hosts
//!
//! One TLS port serves every host; requests are routed by the `Host` header. Clients must
//! resolve the names to the bind address (e.g. reqwest's `resolve`, or `*.localhost` resolving
//! to loopback) and trust [`Emulator::ca_pem`].
//!
//! | host | serves |
//! |---|---|
//! | `{vault}.vault.localhost:{port}` | Key Vault data plane of vault `{vault}` |
//! | `login.localhost:{port}` | Entra ID token endpoint, OIDC discovery, GitHub/Azure Pipelines OIDC, App Service MSI |
//! | `graph.localhost:{port}` | Microsoft Graph v1.0 applications (see [Graph](#microsoft-graph)) |
//! | `hooks.localhost:{port}` | a webhook sink for Teams, Slack and Standard Webhooks deliveries (see `hooks.rs`) |
//! | `devops.localhost:{port}`, `vsrm.devops.localhost:{port}` | Azure DevOps (`dev.azure.com`, `vsrm.dev.azure.com`): variable groups, pipeline runs, releases; seed `[devops]`, routes `devops.*` (see the `devops` module) |
//! | `api.github.localhost:{port}` | GitHub REST API: Actions secrets (`[github]` seed; see the `github` module) |
//! | `management.localhost:{port}` | Azure Resource Manager ([`Emulator::arm_url`]): storage accounts, Service Bus / Event Hubs rules, Cosmos DB accounts, App Service Key Vault references, Logic Apps (`[arm]` seed; see [Resource Manager](#azure-resource-manager)) |
//! | `{account}.blob.localhost:{port}`, `{namespace}.servicebus.localhost:{port}`, `{account}.documents.localhost:{port}` | the data planes that judge ARM's keys: Blob (Shared Key), Service Bus and Event Hubs (SAS), Cosmos DB (master key) |
//! | `localhost:{port}` | admin API under `/_admin` (see [`admin`]); Event Grid's admin API under `/_admin/eventgrid` and its manual validation URL `/_eventgrid/validate` (see [`eventgrid`]) |
//!
//! Event Grid (see [`eventgrid`]) is a publisher, not a host: it raises Key Vault secret events
//! (`SecretNewVersionCreated` on every `secrets.set`, `SecretNearExpiry`, `SecretExpired`) and
//! POSTs them to the `http://` webhook endpoints of the subscriptions created through
//! `POST /_admin/eventgrid/subscriptions`, with Azure's handshakes, headers and retry schedule.
//!
//! A vault host that is not in the seed answers 404 `VaultNotFound` naming the vault (real
//! Azure would fail DNS resolution; a named 404 is easier to diagnose).
//!
//! # Route names
//!
//! Faults ([`FaultRule::route`]) and the request log ([`RecordedRequest::route`]) use these:
//!
//! | route | request |
//! |---|---|
//! | `token` | `POST /{tenant}/oauth2/v2.0/token` |
//! | `openid-configuration` | `GET /{tenant}/v2.0/.well-known/openid-configuration`, `/common/discovery/instance`, JWKS |
//! | `github-oidc` | `GET /_github/idtoken?api-version=2.0&audience=…` |
//! | `azure-pipelines-oidc` | `POST /_ado/…/oidctoken?api-version=7.1&serviceConnectionId=…` |
//! | `msi` | `GET /msi/token?api-version=2019-08-01&resource=…` |
//! | `challenge` | any vault request without a bearer token (401 + `WWW-Authenticate`) |
//! | `secrets.set` / `secrets.get` / `secrets.update` | `PUT /secrets/{n}`, `GET /secrets/{n}[/{v}]`, `PATCH /secrets/{n}/{v}` |
//! | `secrets.list` / `secrets.versions` | `GET /secrets`, `GET /secrets/{n}/versions` |
//! | `secrets.delete` / `secrets.backup` | `DELETE /secrets/{n}`, `POST /secrets/{n}/backup` |
//! | `deletedsecrets.get` / `deletedsecrets.list` | `GET /deletedsecrets/{n}`, `GET /deletedsecrets` |
//! | `deletedsecrets.recover` / `deletedsecrets.purge` | `POST /deletedsecrets/{n}/recover`, `DELETE /deletedsecrets/{n}` |
//! | `certificates.list` / `certificates.versions` / `certificates.get` | `GET /certificates`, `…/{n}/versions`, `…/{n}[/{v}]` |
//! | `keys.list` / `keys.versions` / `keys.get` | `GET /keys`, `…/{n}/versions`, `…/{n}[/{v}]` |
//! | `graph.applications.get` | `GET /v1.0/applications/{object-id}`, `GET /v1.0/applications(appId='{appId}')` |
//! | `graph.applications.list` | `GET /v1.0/applications[?$filter=…][&$select=…]` |
//! | `graph.addPassword` | `POST /v1.0/applications/{object-id}/addPassword`, `…(appId='{appId}')/addPassword` |
//! | `graph.removePassword` | `POST /v1.0/applications/{object-id}/removePassword`, `…(appId='{appId}')/removePassword` |
//! | `eventgrid` (admin host, not faulted or logged) | `/_admin/eventgrid/…`, `GET /_eventgrid/validate?id=…` |
//! | `hooks.teams` / `hooks.slack` / `hooks.webhook` | `POST /teams/{name}`, `/slack/{name}`, `/webhook/{name}` on `hooks.localhost` |
//! | `arm.storage.get` / `arm.storage.listKeys` / `arm.storage.regenerateKey` | `GET …/Microsoft.Storage/storageAccounts/{a}`, `POST …/listKeys`, `POST …/regenerateKey` |
//! | `arm.servicebus.listKeys` / `arm.servicebus.regenerateKeys` | `POST …/Microsoft.ServiceBus/namespaces/{ns}[/queues/{q}\|/topics/{t}]/authorizationRules/{r}/listKeys`, `…/regenerateKeys` |
//! | `arm.eventhub.listKeys` / `arm.eventhub.regenerateKeys` | `POST …/Microsoft.EventHub/namespaces/{ns}[/eventhubs/{e}]/authorizationRules/{r}/listKeys`, `…/regenerateKeys` |
//! | `arm.cosmos.get` / `arm.cosmos.listKeys` / `arm.cosmos.regenerateKey` | `GET …/Microsoft.DocumentDB/databaseAccounts/{a}`, `POST …/listKeys`, `POST …/regenerateKey` |
//! | `arm.operation` | `GET /subscriptions/{s}/providers/Microsoft.DocumentDB/locations/{l}/operationsStatus/{id}` and `…/operationResults/{id}` |
//! | `arm.web.configreferences` / `arm.web.refresh` | `GET …/Microsoft.Web/sites/{s}/config/configreferences/appsettings[/{name}]`, `POST …/appsettings/refresh` |
//! | `arm.logic.get` / `arm.logic.put` | `GET` / `PUT …/Microsoft.Logic/workflows/{w}` |
//! | `storage.blob.list`, `servicebus.data`, `cosmos.data` | `GET /?comp=list` on a blob host; `GET /{entity}`, `POST /{entity}/messages` on a namespace host; `GET /` on a Cosmos host |
//! | `vault-not-found`, `unknown`, `unknown-host`, `hooks.unknown`, `arm.unknown`, `storage.blob.unknown` | everything else |
//!
//! # Seed
//!
//! ```toml
//! tenant_id = "72f988bf-0000-4000-8000-00000000e001"   # optional
//!
//! [[client]]                                       # an app registration = a Graph application
//! client_id = "11111111-2222-3333-4444-555555555555" # its appId
//! object_id = "0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b" # optional; default derived from client_id
//! display_name = "release-pipeline"                  # optional; default the client id
//! federated_subjects = ["repo:acme/app:ref:refs/heads/main"]
//! graph_permissions = ["Application.ReadWrite.OwnedBy"] # or …ReadWrite.All, Application.Read.All
//! owners = ["11111111-2222-3333-4444-555555555555"]    # client ids of owning service principals
//! secrets = [                                        # = the application's passwordCredentials
//!   { value = "old-secret", expires = "-1d" },          # expired → AADSTS7000222
//!   { value = "current-secret", end = "+90d", display_name = "ci", key_id = "5f0c6a1e-2b3d-4c5e-8f90-a1b2c3d4e5f6" },
//!   { value = "fresh-secret", valid_after_seconds = 30 }, # replication delay
//!   { value = "future-secret", start = "+2d" },       # not started → AADSTS7000215
//! ]
//! certificates = [{ display_name = "signing", start = "-300d", end = "+65d" }] # keyCredentials
//!
//! [graph]
//! replication_delay_seconds = 5   # addPassword secrets work at the token endpoint after this
//!
//! [keyvault]
//! version_ids = "descending"      # or "random" (the default); see below
//!
//! [github_oidc]
//! request_token = "gh-request-token"
//! subject = "repo:acme/app:ref:refs/heads/main"
//!
//! [azure_pipelines]
//! access_token = "ado-system-access-token"   # sub defaults to sc://{organization}/{project}/{serviceConnectionId}
//!
//! [managed_identity]
//! client_id = "11111111-2222-3333-4444-555555555555"
//! header = "msi-identity-header"
//!
//! [[vault]]
//! name = "demo"
//! location = "westeurope"
//! access = { "11111111-2222-3333-4444-555555555555" = ["secrets/list", "secrets/get"] }
//!
//! [[vault.secret]]
//! name = "db-password"
//! value = "hunter2"
//! exp = "+3d"                       # RFC 3339, Unix seconds, or relative to start
//! tags = { owner = "team-a" }
//!
//! [[vault.secret]]
//! name = "api-key"
//! [[vault.secret.version]]          # oldest first; the last is "latest"
//! id = "f00d0000000000000000000000000001" # optional (random); fixes the version id
//! value = "v1"
//! exp = "+10d"
//! [[vault.secret.version]]
//! value = "v2"
//! exp = "+200d"
//!
//! [[vault.certificate]]
//! name = "tls-cert"
//! exp = "+20d"
//!
//! [[vault.key]]
//! name = "signing-key"
//! kty = "EC"
//!
//! [[vault.generate]]                # bulk objects for benchmarks: bulk00000 … bulk00999
//! kind = "secret"
//! prefix = "bulk"
//! count = 1000
//! exp = "+1d"
//! exp_spread_days = 365
//!
//! [[hooks.webhook]]                 # a Standard Webhooks receiver, POST /webhook/ops
//! name = "ops"
//! secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
//!
//! [arm]                             # Azure Resource Manager (see below)
//! subscription_id = "5f2c7a9e-3b1d-4c8e-9f60-7a1b2c3d4e5f"   # default DEFAULT_SUBSCRIPTION_ID
//! reads_per_hour = 12000            # ARM's per-subscription request budget (token buckets)
//! writes_per_hour = 1200
//!
//! [[arm.storage_account]]
//! resource_group = "rg"
//! name = "orders"
//! key1_created = "-40d"             # also key1, key2, key2_created, key_expiration_period_days
//!
//! [[arm.servicebus_namespace]]      # [[arm.eventhubs_namespace]] takes `eventhubs` instead
//! resource_group = "rg"
//! name = "orders-bus"
//! rules = [{ name = "RootManageSharedAccessKey", rights = ["Listen", "Manage", "Send"] }]
//! queues = [{ name = "q1", rules = [{ name = "sender", rights = ["Send"] }] }]
//!
//! [[arm.cosmos_account]]
//! resource_group = "rg"
//! name = "orders-db"
//! regenerate_seconds = 2            # how long regenerateKey's operation runs
//!
//! [[arm.site]]
//! resource_group = "rg"
//! name = "orders-api"
//! app_settings = { DB_KEY = "@Microsoft.KeyVault(SecretUri=https://demo.vault.localhost/secrets/db-password/)" }
//!
//! [[arm.logic_app]]
//! resource_group = "rg"
//! name = "orders-flow"
//! definition = '{"contentVersion": "1.0.0.0", "triggers": {}, "actions": {}}'
//! parameters = '{"apiKey": {"value": "x"}}'
//!
//! [[fault]]
//! route = "secrets.list"
//! status = 429
//! retry_after = 1
//! count = 1
//! ```
//!
//! A fault rule also takes `latency_ms`, `drop = true` (close the connection before handling
//! the request), `drop_after = true` (carry the request out, then close the connection without
//! its answer: a lost answer, so a client that retries a write makes it twice), `body =
//! "Html" | "Truncated"`, `next_link = "https://…"` (a list answer's next-page link replaced:
//! a tampering proxy, a link to itself, a service that never stops paging) and `vault`; see
//! [`FaultRule`].
//!
//! `[keyvault] version_ids`: `"random"` (default) gives each written version 32 random hex
//! digits, like the service. `"descending"` is adversarial: each new version's id sorts before
//! every existing id of that secret, so versions written within one second (Key Vault stamps
//! `created` in whole seconds, as the emulator does) sort by `(created, id)` against the order
//! they were written in. The version a `GET /secrets/{name}` serves is always the last one
//! written, whatever its id; this mode shows a client that guesses "latest" from the listing
//! wrong. Also switchable at run time: [`Emulator::set_version_ids`] or `PUT /_admin/keyvault`
//! with `{"version_ids": "descending"}`.
//!
//! The first `[[client]]` is the login `keyrot emulator` hands out ([`Emulator::client_login`]):
//! `AZURE_CLIENT_ID`, and as `AZURE_CLIENT_SECRET` the first of its secrets that works at start.
//!
//! `[[client]]` fields: `client_id` (required), `object_id`, `display_name`, `secrets`,
//! `certificates`, `federated_subjects`, `owners`, `graph_permissions`. Secret fields: `value`
//! (required), `key_id` (GUID; default derived from the client id and position), `display_name`,
//! `start` (default `created`, else start time), `end` (alias `expires`; absent = never),
//! `created` (default start time), `valid_after_seconds` (replication delay after `created`).
//! Certificate fields: `key_id`, `display_name`, `start` (default start time), `end` (default a
//! year after `start`). Times are RFC 3339, Unix seconds or relative to start (`"+90d"`).
//!
//! # Azure Resource Manager
//!
//! `management.localhost` answers the ARM routes above for the one seeded subscription, with
//! ARM's checks in ARM's order: bearer token (audience `https://management.azure.com`,
//! `https://management.core.windows.net` or `https://management.localhost[:port]`; 401
//! `AuthenticationFailed` / `InvalidAuthenticationToken` / `InvalidAuthenticationTokenAudience`
//! / `ExpiredAuthenticationToken` with `WWW-Authenticate: Bearer authorization_uri=…`),
//! `api-version` (400 `MissingApiVersionParameter`), subscription (404 `SubscriptionNotFound`),
//! the request budget (429 `SubscriptionRequestsThrottled` + `Retry-After`; every answer
//! carries `x-ms-ratelimit-remaining-subscription-reads` or `-writes`), the provider's
//! api-versions (400 `InvalidApiVersionParameter` listing them), resource group (404
//! `ResourceGroupNotFound`) and resource (404 `ResourceNotFound` with ARM's message). Every
//! resource group a seeded resource names exists. Service Bus and Event Hubs connection strings
//! point at `sb://{namespace}.servicebus.localhost:{port}/` (the service's host is
//! `{namespace}.servicebus.windows.net`). Cosmos DB's `regenerateKey` is a long-running
//! operation (202, `Azure-AsyncOperation`, `Location`; the key changes when it completes; a
//! second one meanwhile is 412 `PreconditionFailed`). Tests read keys and history through
//! [`Emulator::storage_keys`], [`Emulator::servicebus_rule_keys`], [`Emulator::cosmos_keys`],
//! [`Emulator::site_refreshes`], [`Emulator::logic_app`] and friends, other languages through
//! `GET /_admin/arm`; `PUT /_admin/arm/budget` or [`Emulator::set_arm_budget`] refill the
//! budget. The module `arm` documents each provider's bodies, the data planes' signature rules
//! and the known approximations.
//!
//! # Microsoft Graph
//!
//! Every `[[client]]` is an Entra application: `GET /v1.0/applications/{object_id}` or
//! `…/applications(appId='{client_id}')` returns it with `passwordCredentials` that are exactly
//! the client secrets the token endpoint accepts (metadata only: `secretText` is always null on
//! reads, `hint` is the first three characters) and `keyCredentials` from `certificates`.
//!
//! - **Tokens.** Graph accepts only emulator tokens whose audience is
//!   `https://graph.microsoft.com` (or Graph's app id `00000003-0000-0000-c000-000000000000`)
//!   or this emulated cloud's own Graph, `https://graph.localhost[:port]` (as a sovereign cloud
//!   has its own), i.e. issued for scope `{one of those}/.default`. Such tokens carry the client's
//!   `graph_permissions` as the `roles` claim (captured when the token is issued, as in Entra).
//!   Missing token → 401 `InvalidAuthenticationToken` "Access token is empty."; a Key Vault token
//!   → 401 "Access token validation failure. Invalid audience."; expired → 401 "Lifetime
//!   validation failed, the token is expired."; each with Graph's `WWW-Authenticate`.
//! - **Permissions.** `Application.Read.All` reads; `Application.ReadWrite.All` reads and
//!   writes every application; `Application.ReadWrite.OwnedBy` reads every application and
//!   writes those whose `owners` include the caller. Otherwise 403
//!   `Authorization_RequestDenied` "Insufficient privileges to complete the operation."
//! - **`$select`** takes any top-level property (`id,appId,displayName,passwordCredentials,
//!   keyCredentials,…`) on get and list; an unknown one is a 400 naming it. **`$filter`**
//!   evaluates `appId eq '…'`, `id eq '…'`, `displayName eq '…'` and
//!   `startswith(displayName,'…')` (`%20` or `+` for spaces, optional parentheses); other
//!   properties or operators → 400 `Request_UnsupportedQuery`, malformed → 400 `BadRequest`
//!   "Invalid filter clause". Lists have the `@odata.context` / `value` envelope.
//! - **`addPassword`** takes `{"passwordCredential":{"displayName","startDateTime",
//!   "endDateTime"}}` (all optional; start defaults to now, end to start + 2 years) and answers
//!   200 with the passwordCredential including `secretText`: 40 characters from the OS CSPRNG
//!   shaped like Entra's (`abc8Q~…`). `endDateTime` not after `startDateTime` → 400
//!   `Request_BadRequest`. The token endpoint accepts the new secret only
//!   `[graph] replication_delay_seconds` after the call ([`Emulator::set_graph_replication_delay`])
//!   and only between its start and end; before that AADSTS7000215, after the end AADSTS7000222.
//! - **`removePassword`** takes `{"keyId"}` and answers 204; the secret stops working at once.
//!   An unknown keyId → 400 `Request_BadRequest` "No password credential found with keyId …".
//! - **Errors** use `{"error":{"code","message","innerError":{"date","request-id",
//!   "client-request-id"}}}` with the same ids in the `request-id` / `client-request-id`
//!   headers (the latter echoes the request's `client-request-id`, else equals `request-id`).
//!   Unknown application → 404 `Request_ResourceNotFound` "Resource '{id}' does not exist or one
//!   of its queried reference-property objects are not present."; an object id that is not a
//!   GUID → 400 "Invalid object identifier '…'."; injected 429 → `TooManyRequests`.
//!
//! Known deviations from real Graph: the application and its service principal are one object
//! (one object id, also the tokens' `oid`); only the routes above exist (other paths → 400
//! "Resource not found for the segment …", other API versions → 400 "Invalid version");
//! lists are never paged and ignore `$top`/`$count`/`$orderby`; `key` of keyCredentials is
//! always null (there is no certificate); a seeded secret without an end shows
//! `2299-12-31T00:00:00Z`; removals take effect at the token endpoint immediately (Entra may
//! honour a removed secret for a short while); the end-before-start message and the 5xx fault
//! codes are the emulator's best approximation (no recorded example was available);
//! `OwnedBy` lets the caller read every application, as observed in Entra.

pub mod admin;
mod arm;
mod devops;
mod entra;
pub mod eventgrid;
mod faults;
mod github;
mod graph;
mod hooks;
mod http;
mod jwt;
mod keyvault;
mod seed;
mod server;
mod state;
mod tls;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use arm::{
    ArmSeed, CosmosAccountSeed, EntitySeed, LogicAppSeed, NamespaceSeed, RuleSeed, SiteSeed,
    StorageAccountSeed, StorageKeyView, DEFAULT_SUBSCRIPTION_ID,
};
pub use devops::{DevopsGroupView, DevopsRunView, DevopsSeed, DevopsVariableView};
pub use faults::{FaultBody, FaultRule};
pub use github::{
    GithubAppSeed, GithubEnvironmentSeed, GithubInputSeed, GithubInstallationSeed, GithubIssueView,
    GithubOrganizationSeed, GithubRepositorySeed, GithubRunView, GithubSecretScope,
    GithubSecretSeed, GithubSecretView, GithubSeed, GithubTokenKind, GithubTokenSeed,
    GithubWorkflowSeed,
};
pub use hooks::{HookDelivery, HookKind, HookVerdict, HooksSeed, WebhookSeed};
pub use seed::{
    AzurePipelinesSeed, ClientCertificateSeed, ClientSecretSeed, ClientSeed, GenerateSeed,
    GithubOidcSeed, GraphPermission, GraphSeed, KeyVaultSeed, ManagedIdentitySeed, ObjectKind,
    ObjectSeed, ObjectVersionSeed, Redacted, SecretSeed, Seed, TimeSpec, VaultSeed, VersionIds,
    VersionSeed, DEFAULT_TENANT_ID,
};

/// Client id of the demo seed's app registration (used by `keyrot demo`).
pub const DEMO_CLIENT_ID: &str = "0d3f5c1e-7a2b-4c8d-9e10-6b5a4c3d2e1f";
/// The demo client's secret: a throwaway login for the local demo, not a real credential.
pub const DEMO_CLIENT_SECRET: &str = "keyrot-demo-local-only~not-a-real-secret";

/// The login the emulator offers its users (`keyrot emulator` prints it as `AZURE_CLIENT_ID`
/// and `AZURE_CLIENT_SECRET`): see [`Emulator::client_login`].
#[derive(Clone, Debug)]
pub struct ClientLogin {
    pub client_id: String,
    /// `None` when the client has no secret the token endpoint accepts right now.
    pub secret: Option<Redacted>,
}

/// How to start an emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub seed: Seed,
    /// Address to listen on (default 127.0.0.1).
    pub bind: IpAddr,
    /// 0 = any free port.
    pub port: u16,
    /// Where to write `ca.pem`; `None` = a temporary directory kept for the emulator's lifetime.
    pub state_dir: Option<PathBuf>,
}

impl EmulatorConfig {
    pub fn new(seed: Seed) -> Self {
        EmulatorConfig {
            seed,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            state_dir: None,
        }
    }
}

/// One request as the emulator saw it (admin requests are not recorded).
///
/// `Debug` hides credentials (`Authorization`, `X-IDENTITY-HEADER` and bodies), since the log
/// holds client secrets and tokens verbatim.
#[derive(Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The `Host` header as sent (with port).
    pub host: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Status sent; 0 when the connection was dropped by a fault.
    pub status: u16,
    pub route: String,
    /// When the emulator had read the request's head (before faults, body and handling).
    pub received_at: std::time::SystemTime,
}

impl RecordedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let secret = k.eq_ignore_ascii_case("authorization")
                    || k.eq_ignore_ascii_case("x-identity-header");
                (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("host", &self.host)
            .field("path_and_query", &self.path_and_query)
            .field("headers", &headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("status", &self.status)
            .field("route", &self.route)
            .field("received_at", &self.received_at)
            .finish()
    }
}

/// One password credential of an application, as Graph reports it plus when it replicates;
/// never the secret text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppPassword {
    pub key_id: String,
    pub display_name: Option<String>,
    /// `startDateTime`.
    pub start: time::OffsetDateTime,
    /// `endDateTime`; `None` for a seeded secret without an end.
    pub end: Option<time::OffsetDateTime>,
    /// First three characters of the secret.
    pub hint: String,
    /// From this instant the token endpoint accepts it (if also between start and end).
    pub replicated_at: time::OffsetDateTime,
}

/// One secret version, as [`Emulator::secret_versions`] shows it to tests.
#[derive(Clone, Debug)]
pub struct SecretVersionView {
    pub version: String,
    /// Redacted in `Debug`; `.expose()` gives the value.
    pub value: Option<seed::Redacted>,
    pub content_type: Option<String>,
    pub enabled: bool,
    /// Unix seconds, as Key Vault stamps them.
    pub created: i64,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub tags: std::collections::BTreeMap<String, String>,
}

/// A running emulator. Dropping it stops the server; [`Emulator::shutdown`] also waits.
pub struct Emulator {
    shared: Arc<state::Shared>,
    ca_pem: String,
    server_tls: Arc<rustls::ServerConfig>,
    ca_path: PathBuf,
    org_path: String,
    /// The seed's first `[[client]]`, whose login [`Emulator::client_login`] offers.
    first_client: Option<String>,
    _temp_dir: Option<tempfile::TempDir>,
    shutdown_tx: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("port", &self.shared.port)
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Generates the CA, binds the port and starts serving.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        let tls = tls::generate()?;
        let (ca_path, temp_dir) = match &config.state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating state dir {}", dir.display()))?;
                (dir.join("ca.pem"), None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("keyrot-emulator-")
                    .tempdir()
                    .context("creating a temporary directory for the CA")?;
                (t.path().join("ca.pem"), Some(t))
            }
        };
        std::fs::write(&ca_path, &tls.ca_pem)
            .with_context(|| format!("writing {}", ca_path.display()))?;

        let listener = tokio::net::TcpListener::bind(SocketAddr::new(config.bind, config.port))
            .await
            .with_context(|| format!("binding {}:{}", config.bind, config.port))?;
        let port = listener.local_addr()?.port();
        let start = state::now();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(state::Shared {
            port,
            tenant_id: config.seed.tenant_id.clone(),
            start,
            state: Mutex::new(state::State::from_seed(&config.seed, start)),
            eventgrid: eventgrid::Publisher::new(port, shutdown_rx.clone()),
        });
        tokio::spawn(eventgrid::run_scans(shared.clone(), shutdown_rx.clone()));
        let org_path = {
            let (org, project) = config
                .seed
                .azure_pipelines
                .as_ref()
                .map_or(("keyrot", "keyrot"), |p| {
                    (p.organization.as_str(), p.project.as_str())
                });
            format!(
                "/_ado/{org}/{}/_apis/distributedtask/hubs/build/plans/{}/jobs/{}/oidctoken",
                state::derived_guid(project),
                state::derived_guid("plan"),
                state::derived_guid("job")
            )
        };
        let ctx = Arc::new(server::ServerCtx {
            shared: shared.clone(),
            ca_path: ca_path.display().to_string(),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config.clone());
        let task = tokio::spawn(server::run(listener, acceptor, ctx, shutdown_rx));
        tracing::info!(port, "keyrot emulator listening");
        Ok(Emulator {
            shared,
            ca_pem: tls.ca_pem,
            server_tls: tls.server_config,
            ca_path,
            org_path,
            first_client: config.seed.clients.first().map(|c| c.client_id.clone()),
            _temp_dir: temp_dir,
            shutdown_tx,
            task: Mutex::new(Some(task)),
        })
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// PEM of the emulator's CA; clients must trust it.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// File holding [`Emulator::ca_pem`].
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// The emulator's TLS server configuration (its certificate for `localhost` and
    /// `*.localhost`, issued by [`Emulator::ca_pem`]), for a test that stands up another server
    /// this emulator's clients already trust: a foreign host, a hostile proxy.
    pub fn tls_server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_tls.clone()
    }

    /// `https://{name}.vault.localhost:{port}`
    pub fn vault_url(&self, name: &str) -> String {
        self.shared.vault_base(name)
    }

    /// `https://login.localhost:{port}` (for `AZURE_AUTHORITY_HOST`).
    pub fn authority_host(&self) -> String {
        self.shared.login_base()
    }

    pub fn tenant_id(&self) -> &str {
        &self.shared.tenant_id
    }

    /// `https://graph.localhost:{port}` (Microsoft Graph; paths start with `/v1.0`).
    pub fn graph_url(&self) -> String {
        self.shared.graph_base()
    }

    /// The password credentials of the application with this `appId` (client id) or object
    /// id, oldest first; empty for an unknown application.
    pub fn application_passwords(&self, app: &str) -> Vec<AppPassword> {
        let st = self.shared.lock();
        st.client_by_any_id(app)
            .map(|c| {
                c.secrets
                    .iter()
                    .map(|s| AppPassword {
                        key_id: s.key_id.clone(),
                        display_name: s.display_name.clone(),
                        start: s.start,
                        end: s.end,
                        hint: s.hint(),
                        replicated_at: s.usable_from,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The login to offer a user: the seed's first `[[client]]` (seed order is the only order a
    /// user can predict) with the first of its secrets, oldest first, that the token endpoint
    /// accepts at this moment (started, not expired, replicated). `None` for a seed without
    /// clients.
    pub fn client_login(&self) -> Option<ClientLogin> {
        let client_id = self.first_client.clone()?;
        let now = time::OffsetDateTime::now_utc();
        let st = self.shared.lock();
        let secret = st.client_by_any_id(&client_id).and_then(|client| {
            client
                .secrets
                .iter()
                .find(|s| entra::secret_accepted(s, now))
                .map(|s| s.value.clone())
        });
        Some(ClientLogin { client_id, secret })
    }

    /// Whether the token endpoint would issue a token for this client secret right now (the
    /// same check as `POST /{tenant}/oauth2/v2.0/token`, without issuing anything).
    pub fn token_works(&self, client_id: &str, secret: &str) -> bool {
        entra::check_client_secret(&self.shared, client_id, secret).is_ok()
    }

    /// The AADSTS code the token endpoint would answer for this client secret right now
    /// (7000215 invalid or not yet replicated/started, 7000222 expired, 700016 unknown client),
    /// or `None` when it would issue a token.
    pub fn client_secret_error(&self, client_id: &str, secret: &str) -> Option<u32> {
        entra::check_client_secret(&self.shared, client_id, secret)
            .err()
            .map(|(_, _, code, _)| code)
    }

    /// Every version of a secret as the emulator holds it, oldest first, values included: for
    /// tests that judge what a client wrote (keyrot's rotation tests use it to check that the
    /// latest enabled version still works). Not reachable over HTTP.
    pub fn secret_versions(&self, vault: &str, name: &str) -> Vec<SecretVersionView> {
        let st = self.shared.lock();
        let Some(vault) = st.vaults.get(&vault.to_ascii_lowercase()) else {
            return Vec::new();
        };
        vault
            .secrets
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .flat_map(|(_, item)| item.versions.iter())
            .map(|v| SecretVersionView {
                version: v.id.clone(),
                value: v.value.clone(),
                content_type: v.content_type.clone(),
                enabled: v.enabled,
                created: v.created,
                nbf: v.nbf,
                exp: v.exp,
                tags: v.tags.clone(),
            })
            .collect()
    }

    /// Changes `[keyvault] version_ids` for versions written from now on.
    pub fn set_version_ids(&self, mode: VersionIds) {
        self.shared.lock().version_ids = mode;
    }

    /// Changes `[graph] replication_delay_seconds` for passwords added from now on.
    pub fn set_graph_replication_delay(&self, seconds: u64) {
        self.shared.lock().graph_replication_delay = seconds;
    }

    /// Value for `ACTIONS_ID_TOKEN_REQUEST_URL` (clients append `&audience=…`).
    pub fn github_oidc_request_url(&self) -> String {
        format!(
            "{}/_github/idtoken?api-version=2.0",
            self.shared.login_base()
        )
    }

    /// Value for `SYSTEM_OIDCREQUESTURI` (clients append `api-version` and `serviceConnectionId`).
    pub fn azure_pipelines_oidc_url(&self) -> String {
        format!("{}{}", self.shared.login_base(), self.org_path)
    }

    /// Value for `IDENTITY_ENDPOINT` (App Service managed identity).
    pub fn msi_endpoint(&self) -> String {
        format!("{}/msi/token", self.shared.login_base())
    }

    /// `https://localhost:{port}/_admin`
    pub fn admin_url(&self) -> String {
        format!("https://localhost:{}/_admin", self.shared.port)
    }

    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.lock().faults.add(rule);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Every non-admin request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// An OIDC token (valid 10 minutes, `aud` = `api://AzureADTokenExchange`) that the token
    /// endpoint accepts as `client_assertion` for a client federated with `subject`; write it to
    /// the file named by `AZURE_FEDERATED_TOKEN_FILE`.
    pub fn mint_federated_token(&self, subject: &str) -> String {
        let issuer = format!("{}/_federation", self.shared.login_base());
        entra::mint_oidc(
            &self.shared,
            &issuer,
            subject,
            entra::EXCHANGE_AUDIENCE,
            serde_json::json!({}),
        )
    }

    /// Stops accepting, closes open connections and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}
