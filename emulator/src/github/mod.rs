//! The emulated GitHub REST API (`api.github.localhost`): Actions secrets of repositories,
//! environments and organizations ([`secrets`]), workflows, dispatches and runs ([`actions`]),
//! issues ([`issues`]) and GitHub Apps ([`apps`]). Web links point at `https://github.localhost`.
//!
//! Each repository, environment and organization has its own X25519 key pair; `GET
//! …/secrets/public-key` hands out the public half with a numeric-looking `key_id`, and `PUT
//! …/secrets/{name}` opens the libsodium sealed box in `encrypted_value` with the private half
//! and stores the value (201 when created, 204 when updated). Reads give `name`, `created_at`
//! and `updated_at`, never a value; tests read values through [`Emulator::github_secret`] or
//! `GET /_admin/github/secret`.
//!
//! | route | request |
//! |---|---|
//! | `github.publickey.get` | `GET /repos/{o}/{r}/actions/secrets/public-key`, `…/environments/{env}/secrets/public-key`, `/orgs/{org}/actions/secrets/public-key` |
//! | `github.secrets.list` | `GET …/secrets` |
//! | `github.secrets.get` / `github.secrets.put` / `github.secrets.delete` | `GET` / `PUT` / `DELETE …/secrets/{name}` |
//! | `github.workflows.list` / `github.workflows.get` | `GET /repos/{o}/{r}/actions/workflows[/{id or file}]` |
//! | `github.workflows.dispatch` | `POST /repos/{o}/{r}/actions/workflows/{id or file}/dispatches` |
//! | `github.runs.list` / `github.runs.get` | `GET …/workflows/{id or file}/runs` (`actor`, `branch`, `event`, `created`, `per_page`, `page`), `GET /repos/{o}/{r}/actions/runs/{id}` |
//! | `github.issues.create` / `github.issues.list` | `POST` / `GET /repos/{o}/{r}/issues` |
//! | `github.app.get` / `github.app.token` | `GET /app`, `POST /app/installations/{id}/access_tokens` (App JWT) |
//! | `github.installation.get` | `GET /repos/{o}/{r}/installation`, `GET /orgs/{org}/installation` (App JWT) |
//! | `github.user.get` | `GET /user` |
//! | `github.repos.get` | `GET /repos/{o}/{r}` |
//! | `github.unknown` | any other path on `api.github.localhost` |
//!
//! Errors carry GitHub's body `{"message","documentation_url","status"}` (`status` a string).
//! No token → 401 "Requires authentication"; an unknown token → 401 "Bad credentials"; a
//! workflow's `GITHUB_TOKEN` (`kind = "workflow"`) → 403 "Resource not accessible by
//! integration" on secrets (it may dispatch workflows and create issues). App routes take the
//! App's RS256 JWT (`iss` = App id, at most 10 minutes between `iat` and `exp`), verified
//! against the key the emulator generated for it; other routes refuse a JWT. A `status` fault
//! of 403 or 429 answers GitHub's secondary-rate-limit message.
//!
//! Dispatches check, in this order: the workflow exists (404), `return_run_details` on a
//! `ghes = true` repository (400, as GHES ≤ 3.20), `ref` given and a known branch (`No ref
//! found for: x`), the `workflow_dispatch` trigger, unexpected inputs (`Unexpected inputs
//! provided: ["x"]`), required inputs (`Required input 'x' not provided`); then a run is
//! created (200 with `workflow_run_id`, `run_url`, `html_url` when `return_run_details` is
//! true, else 204) recording the secrets visible to it.
//!
//! Known deviations: the 422 messages for a wrong `key_id` and for a box that does not open are
//! the emulator's wording (no capture of the real ones was available); secret names are
//! upper-cased as GitHub does, but their character rules are not checked; secrets and issue
//! lists are not paged; runs stay `queued` forever; installation tokens do not expire and
//! carry every permission.

mod actions;
mod apps;
mod issues;
mod secrets;
mod seed;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::http::{Req, Resp, JSON_UTF8};
use crate::seed::Redacted;
use crate::state::{new_uuid, Shared};
use crate::Emulator;

pub use seed::{
    GithubAppSeed, GithubEnvironmentSeed, GithubInputSeed, GithubInstallationSeed,
    GithubOrganizationSeed, GithubRepositorySeed, GithubSecretSeed, GithubSeed, GithubTokenKind,
    GithubTokenSeed, GithubWorkflowSeed,
};

/// Where the emulated GitHub's web pages would be (`html_url`s).
const WEB: &str = "https://github.localhost";

/// The emulated GitHub's state (one field of the emulator's state).
#[derive(Default)]
pub struct GithubState {
    tokens: Vec<GithubTokenSeed>,
    /// Keyed by lower-case login.
    organizations: BTreeMap<String, Organization>,
    /// Keyed by lower-case `owner/name`.
    repositories: BTreeMap<String, Repository>,
    apps: Vec<apps::App>,
    next_run_id: u64,
}

struct Organization {
    store: secrets::SecretStore,
}

struct Repository {
    id: u64,
    full_name: String,
    created_at: OffsetDateTime,
    store: secrets::SecretStore,
    /// Keyed by lower-case environment name.
    environments: BTreeMap<String, secrets::SecretStore>,
    branches: Vec<String>,
    ghes: bool,
    workflows: Vec<actions::Workflow>,
    runs: Vec<actions::Run>,
    issues: Vec<issues::Issue>,
}

impl GithubState {
    pub fn from_seed(seed: &GithubSeed, start: i64) -> GithubState {
        let now = crate::state::utc(start);
        let organizations = seed
            .organizations
            .iter()
            .map(|o| {
                let org = Organization {
                    store: secrets::SecretStore::new(&o.secrets, now),
                };
                (o.login.to_ascii_lowercase(), org)
            })
            .collect();
        let repositories = seed
            .repositories
            .iter()
            .map(|r| {
                let environments = r
                    .environments
                    .iter()
                    .map(|e| {
                        (
                            e.name.to_ascii_lowercase(),
                            secrets::SecretStore::new(&e.secrets, now),
                        )
                    })
                    .collect();
                let workflows = r
                    .workflows
                    .iter()
                    .map(|w| actions::Workflow {
                        id: w
                            .id
                            .unwrap_or_else(|| derived_id(&format!("{}:{}", r.full_name, w.path))),
                        seed: w.clone(),
                    })
                    .collect();
                let repo = Repository {
                    id: r.id.unwrap_or_else(|| derived_id(&r.full_name)),
                    full_name: r.full_name.clone(),
                    created_at: now,
                    store: secrets::SecretStore::new(&r.secrets, now),
                    environments,
                    branches: r.branches.clone(),
                    ghes: r.ghes,
                    workflows,
                    runs: Vec::new(),
                    issues: Vec::new(),
                };
                (r.full_name.to_ascii_lowercase(), repo)
            })
            .collect();
        let apps = seed
            .apps
            .iter()
            .filter_map(|a| match apps::App::new(a, now) {
                Ok(app) => Some(app),
                Err(e) => {
                    tracing::error!("GitHub App {} left out: {e}", a.id);
                    None
                }
            })
            .collect();
        GithubState {
            tokens: seed.tokens.clone(),
            organizations,
            repositories,
            apps,
            // Run ids look like GitHub's (large, increasing).
            next_run_id: 7_000_000_000,
        }
    }
}

/// A stable, positive id for a seed without one.
fn derived_id(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.to_ascii_lowercase().hash(&mut h);
    h.finish() % 1_000_000_000 + 1
}

/// Now, in whole seconds as GitHub stamps times.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn timestamp(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// GitHub's "simple user".
fn user_json(login: &str, api: &str) -> Value {
    let id = derived_id(login);
    let user = format!("{api}/users/{login}");
    let bot = login.ends_with("[bot]");
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_kgDO{id}"),
        "avatar_url": format!("https://avatars.github.localhost/u/{id}?v=4"),
        "gravatar_id": "",
        "url": user,
        "html_url": format!("{WEB}/{login}"),
        "followers_url": format!("{user}/followers"),
        "following_url": format!("{user}/following{{/other_user}}"),
        "gists_url": format!("{user}/gists{{/gist_id}}"),
        "starred_url": format!("{user}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{user}/subscriptions"),
        "organizations_url": format!("{user}/orgs"),
        "repos_url": format!("{user}/repos"),
        "events_url": format!("{user}/events{{/privacy}}"),
        "received_events_url": format!("{user}/received_events"),
        "type": if bot { "Bot" } else { "User" },
        "site_admin": false,
        "user_view_type": "public",
    })
}

/// One request, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Call {
    Secrets(secrets::Op),
    Actions(actions::Op),
    Issues(issues::Op),
    Apps(apps::Op),
    User,
    /// `GET /repos/{owner}/{repo}`
    Repo(String),
    Unknown,
}

impl Call {
    fn parse(method: &str, path: &str) -> Call {
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .map(crate::graph::percent_decode)
            .collect();
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        if let Some(op) = secrets::Op::parse(method, &s) {
            Call::Secrets(op)
        } else if let Some(op) = actions::Op::parse(method, &s) {
            Call::Actions(op)
        } else if let Some(op) = issues::Op::parse(method, &s) {
            Call::Issues(op)
        } else if let Some(op) = apps::Op::parse(method, &s) {
            Call::Apps(op)
        } else if (method, s.as_slice()) == ("GET", ["user"].as_slice()) {
            Call::User
        } else if let ("GET", ["repos", o, r]) = (method, s.as_slice()) {
            Call::Repo(format!("{o}/{r}").to_ascii_lowercase())
        } else {
            Call::Unknown
        }
    }

    fn route(&self) -> &'static str {
        match self {
            Call::Secrets(op) => op.route(),
            Call::Actions(op) => op.route(),
            Call::Issues(op) => op.route(),
            Call::Apps(op) => op.route(),
            Call::User => "github.user.get",
            Call::Repo(_) => "github.repos.get",
            Call::Unknown => "github.unknown",
        }
    }
}

/// The route name of a request to `api.github.localhost` (faults and the request log).
pub fn route_of(method: &str, path: &str) -> &'static str {
    Call::parse(method, path).route()
}

/// GitHub's error body.
fn error(status: u16, message: &str, documentation_url: &str) -> Resp {
    Resp::json(
        status,
        &json!({
            "message": message,
            "documentation_url": documentation_url,
            "status": status.to_string(),
        }),
    )
}

/// The answer to a `status` fault: GitHub's secondary-rate-limit message for 403 and 429.
pub fn fault_body(status: u16) -> Resp {
    match status {
        403 | 429 => error(
            status,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
            "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
        ),
        401 => error(401, "Bad credentials", "https://docs.github.com/rest"),
        404 => error(404, "Not Found", "https://docs.github.com/rest"),
        s if s >= 500 => error(s, "Server Error", "https://docs.github.com/rest"),
        s => error(s, "Bad Request", "https://docs.github.com/rest"),
    }
}

/// GitHub's response headers, on every answer from `api.github.localhost`.
pub fn decorate(mut r: Resp) -> Resp {
    let mut add = |k: &str, v: String| {
        if !r.has_header(k) {
            r.headers.push((k.to_owned(), v));
        }
    };
    add("x-github-api-version-selected", "2022-11-28".into());
    add("x-github-media-type", "github.v3; format=json".into());
    add(
        "x-github-request-id",
        new_uuid().replace('-', "").to_ascii_uppercase()[..20].to_owned(),
    );
    add("x-ratelimit-limit", "5000".into());
    add("x-ratelimit-resource", "core".into());
    r
}

fn bearer(req: &Req) -> Option<&str> {
    let value = req.header("authorization")?.trim();
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

/// Who is calling.
enum Caller {
    Token {
        login: String,
        kind: GithubTokenKind,
    },
    App(u64),
}

pub fn handle(shared: &Shared, req: &Req) -> Resp {
    let call = Call::parse(&req.method, &req.path);
    if call == Call::Unknown {
        return error(404, "Not Found", "https://docs.github.com/rest");
    }
    let api = github_api_base(shared);
    let mut st = shared.lock();
    let gh = &mut st.github_api;
    let Some(token) = bearer(req) else {
        return error(
            401,
            "Requires authentication",
            "https://docs.github.com/rest",
        );
    };
    let caller = if let Some(t) = gh.tokens.iter().find(|t| t.token.expose() == token) {
        Caller::Token {
            login: t.login.clone(),
            kind: t.kind,
        }
    } else if token.matches('.').count() == 2 {
        match apps::verify_jwt(&gh.apps, token, now().unix_timestamp()) {
            Ok(app) => Caller::App(app),
            Err(message) => return apps::jwt_refused(message),
        }
    } else {
        return error(401, "Bad credentials", "https://docs.github.com/rest");
    };
    match (call, caller) {
        (Call::Apps(op), Caller::App(app)) => apps::handle(gh, op, app, &api),
        (Call::Apps(_), Caller::Token { .. }) => {
            apps::jwt_refused("A JSON web token could not be decoded")
        }
        (_, Caller::App(_)) => error(401, "Bad credentials", "https://docs.github.com/rest"),
        (
            Call::Secrets(op),
            Caller::Token {
                kind: GithubTokenKind::Workflow,
                ..
            },
        ) => error(403, "Resource not accessible by integration", &op.docs()),
        (Call::Secrets(op), Caller::Token { .. }) => secrets::handle(gh, op, &req.body, &api),
        (Call::Actions(op), Caller::Token { login, .. }) => {
            actions::handle(gh, op, req, &login, &api)
        }
        (Call::Issues(op), Caller::Token { login, .. }) => {
            issues::handle(gh, op, req, &login, &api)
        }
        (Call::User, Caller::Token { login, kind }) => {
            if kind == GithubTokenKind::Workflow || login.ends_with("[bot]") {
                error(
                    403,
                    "Resource not accessible by integration",
                    "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                )
            } else {
                Resp::json(200, &user_json(&login, &api))
            }
        }
        (Call::Repo(repo), Caller::Token { .. }) => match gh.repositories.get(&repo) {
            Some(r) => Resp::json(200, &repository_json(r, &api)),
            None => error(
                404,
                "Not Found",
                "https://docs.github.com/rest/repos/repos#get-a-repository",
            ),
        },
        (Call::Unknown, _) => error(404, "Not Found", "https://docs.github.com/rest"),
    }
}

/// A repository as `GET /repos/{owner}/{repo}` answers it (the fields clients read).
fn repository_json(r: &Repository, api: &str) -> Value {
    let (owner, name) = r.full_name.split_once('/').unwrap_or((&r.full_name, ""));
    let url = format!("{api}/repos/{}", r.full_name);
    json!({
        "id": r.id,
        "node_id": format!("R_kgDO{}", r.id),
        "name": name,
        "full_name": r.full_name,
        "private": true,
        "visibility": "private",
        "owner": user_json(owner, api),
        "html_url": format!("{WEB}/{}", r.full_name),
        "url": url,
        "default_branch": r.branches.first().map_or("main", String::as_str),
        "created_at": timestamp(r.created_at),
        "updated_at": timestamp(r.created_at),
        "pushed_at": timestamp(r.created_at),
        "archived": false,
        "disabled": false,
        "fork": false,
        "secrets_url": format!("{url}/actions/secrets"),
        "issues_url": format!("{url}/issues{{/number}}"),
    })
}

fn github_api_base(shared: &Shared) -> String {
    format!("https://api.github.localhost:{}", shared.port)
}

/// `GET /_admin/github/secret?name=N&repository=o/r[&environment=e]` or `?name=N&organization=o`:
/// one secret with its value, for test suites in other languages (the service itself never
/// answers a value).
pub fn admin(shared: &Shared, req: &Req) -> Resp {
    let path = req.path.trim_end_matches('/');
    if req.method == "GET" && path == "/_admin/github/runs" {
        return admin_runs(shared, req);
    }
    if req.method != "GET" || path != "/_admin/github/secret" {
        return Resp::json(
            404,
            &json!({"error": "GET /_admin/github/secret?name=…&repository=…[&environment=…] or &organization=…, or GET /_admin/github/runs?repository=…"}),
        );
    }
    let scope = match (
        req.query("repository"),
        req.query("environment"),
        req.query("organization"),
    ) {
        (Some(r), None, None) => GithubSecretScope::Repository(r),
        (Some(r), Some(e), None) => GithubSecretScope::Environment {
            repository: r,
            environment: e,
        },
        (None, None, Some(o)) => GithubSecretScope::Organization(o),
        _ => {
            return Resp::json(
                400,
                &json!({"error": "name the secret's repository (and environment) or organization"}),
            )
        }
    };
    let Some(name) = req.query("name") else {
        return Resp::json(400, &json!({"error": "name is required"}));
    };
    match secret_view(shared, &scope, name) {
        Some(s) => Resp::json(
            200,
            &json!({
                "name": s.name,
                "value": s.value.expose(),
                "created_at": timestamp(s.created_at),
                "updated_at": timestamp(s.updated_at),
                "visibility": s.visibility,
                "selected_repository_ids": s.selected_repository_ids,
            }),
        ),
        None => Resp::text(404, JSON_UTF8, "{\"error\":\"no such secret\"}"),
    }
}

/// `GET /_admin/github/runs?repository=o/r`: every run with the secret values it saw.
fn admin_runs(shared: &Shared, req: &Req) -> Resp {
    let Some(repository) = req.query("repository") else {
        return Resp::json(400, &json!({"error": "repository is required"}));
    };
    let runs = runs_view(shared, repository);
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            let secrets: BTreeMap<&str, &str> = r
                .secrets
                .iter()
                .map(|(k, v)| (k.as_str(), v.expose()))
                .collect();
            json!({
                "id": r.id,
                "workflow_path": r.workflow_path,
                "head_branch": r.head_branch,
                "actor": r.actor,
                "created_at": timestamp(r.created_at),
                "inputs": r.inputs,
                "secrets": secrets,
            })
        })
        .collect();
    Resp::json(200, &runs)
}

fn runs_view(shared: &Shared, repository: &str) -> Vec<GithubRunView> {
    let st = shared.lock();
    let Some(repo) = st
        .github_api
        .repositories
        .get(&repository.to_ascii_lowercase())
    else {
        return Vec::new();
    };
    repo.runs
        .iter()
        .map(|run| GithubRunView {
            id: run.id,
            workflow_path: repo
                .workflows
                .iter()
                .find(|w| w.id == run.workflow_id)
                .map(|w| w.seed.path.clone())
                .unwrap_or_default(),
            head_branch: run.head_branch.clone(),
            actor: run.actor.clone(),
            created_at: run.created_at,
            inputs: run.inputs.clone(),
            secrets: run.secrets.clone(),
        })
        .collect()
}

/// Where a secret lives, for the inspection API.
#[derive(Clone, Copy, Debug)]
pub enum GithubSecretScope<'a> {
    /// `owner/name`
    Repository(&'a str),
    Environment {
        repository: &'a str,
        environment: &'a str,
    },
    Organization(&'a str),
}

impl GithubSecretScope<'_> {
    fn scope(&self) -> secrets::Scope {
        use secrets::Scope;
        match self {
            GithubSecretScope::Repository(r) => Scope::Repository(r.to_ascii_lowercase()),
            GithubSecretScope::Environment {
                repository,
                environment,
            } => Scope::Environment(
                repository.to_ascii_lowercase(),
                environment.to_ascii_lowercase(),
            ),
            GithubSecretScope::Organization(o) => Scope::Organization(o.to_ascii_lowercase()),
        }
    }
}

/// One secret as the emulator holds it, value included (redacted in `Debug`).
#[derive(Clone, Debug)]
pub struct GithubSecretView {
    pub name: String,
    pub value: Redacted,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Organization secrets: `all`, `private` or `selected`.
    pub visibility: Option<String>,
    pub selected_repository_ids: Vec<u64>,
}

fn secret_view(
    shared: &Shared,
    scope: &GithubSecretScope<'_>,
    name: &str,
) -> Option<GithubSecretView> {
    let st = shared.lock();
    let s = st
        .github_api
        .store(&scope.scope())?
        .secrets
        .get(&name.to_ascii_uppercase())?;
    Some(GithubSecretView {
        name: s.name.clone(),
        value: s.value.clone(),
        created_at: s.created_at,
        updated_at: s.updated_at,
        visibility: s.visibility.clone(),
        selected_repository_ids: s.selected_repository_ids.clone(),
    })
}

/// One workflow run as the emulator holds it.
#[derive(Clone, Debug)]
pub struct GithubRunView {
    pub id: u64,
    pub workflow_path: String,
    pub head_branch: String,
    /// Login of whoever dispatched it.
    pub actor: String,
    pub created_at: OffsetDateTime,
    pub inputs: BTreeMap<String, String>,
    /// The secrets visible to the run when it was created, by upper-case name.
    pub secrets: BTreeMap<String, Redacted>,
}

/// One issue as the emulator holds it.
#[derive(Clone, Debug)]
pub struct GithubIssueView {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub labels: Vec<String>,
    pub author: String,
}

/// The emulated GitHub, for tests.
impl Emulator {
    /// `https://api.github.localhost:{port}` (for `GITHUB_API_URL`).
    pub fn github_api_url(&self) -> String {
        github_api_base(&self.shared)
    }

    /// A secret with its decrypted value and timestamps; `None` when it does not exist. Not
    /// reachable through the emulated API (which, like GitHub, never answers a value).
    pub fn github_secret(
        &self,
        scope: GithubSecretScope<'_>,
        name: &str,
    ) -> Option<GithubSecretView> {
        secret_view(&self.shared, &scope, name)
    }

    /// Every run of a repository's workflows, oldest first, with the secret values each saw.
    pub fn github_runs(&self, repository: &str) -> Vec<GithubRunView> {
        runs_view(&self.shared, repository)
    }

    /// Every issue of a repository, oldest first.
    pub fn github_issues(&self, repository: &str) -> Vec<GithubIssueView> {
        let st = self.shared.lock();
        st.github_api
            .repositories
            .get(&repository.to_ascii_lowercase())
            .map(|r| {
                r.issues
                    .iter()
                    .map(|i| GithubIssueView {
                        number: i.number,
                        title: i.title.clone(),
                        body: i.body.clone(),
                        labels: i.labels.clone(),
                        author: i.author.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The private key (PKCS#8 PEM) generated at start for the seeded GitHub App `app_id`.
    pub fn github_app_private_key(&self, app_id: u64) -> Option<Redacted> {
        let st = self.shared.lock();
        st.github_api
            .apps
            .iter()
            .find(|a| a.id == app_id)
            .map(|a| a.private_pem.clone())
    }

    /// The repository's numeric id (seeded or derived from its name).
    pub fn github_repository_id(&self, full_name: &str) -> Option<u64> {
        let st = self.shared.lock();
        st.github_api
            .repositories
            .get(&full_name.to_ascii_lowercase())
            .map(|r| r.id)
    }
}
