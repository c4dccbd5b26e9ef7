//! The emulated GitHub REST API (`api.github.localhost`): Actions secrets of repositories,
//! environments and organizations.
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
//! | `github.unknown` | any other path on `api.github.localhost` |
//!
//! Errors carry GitHub's body `{"message","documentation_url","status"}` (`status` a string).
//! No token → 401 "Requires authentication"; an unknown token → 401 "Bad credentials"; a
//! workflow's `GITHUB_TOKEN` (`kind = "workflow"`) → 403 "Resource not accessible by
//! integration". A `status` fault of 403 or 429 answers GitHub's secondary-rate-limit message.
//!
//! Known deviations: the 422 messages for a wrong `key_id` and for a box that does not open are
//! the emulator's wording (no capture of the real ones was available); secret names are
//! upper-cased as GitHub does, but their character rules are not checked; lists are not paged.

mod seed;

use std::collections::BTreeMap;

use base64::Engine as _;
use crypto_box::aead::OsRng;
use rand::Rng as _;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::http::{Req, Resp, JSON_UTF8};
use crate::seed::Redacted;
use crate::state::{new_uuid, Shared};
use crate::Emulator;

pub use seed::{
    GithubEnvironmentSeed, GithubOrganizationSeed, GithubRepositorySeed, GithubSecretSeed,
    GithubSeed, GithubTokenKind, GithubTokenSeed,
};

const DOCS: &str = "https://docs.github.com/rest/actions/secrets";

/// The emulated GitHub's state (one field of the emulator's state).
#[derive(Default)]
pub struct GithubState {
    tokens: Vec<GithubTokenSeed>,
    /// Keyed by lower-case login.
    organizations: BTreeMap<String, Organization>,
    /// Keyed by lower-case `owner/name`.
    repositories: BTreeMap<String, Repository>,
}

struct Organization {
    store: SecretStore,
}

struct Repository {
    id: u64,
    store: SecretStore,
    /// Keyed by lower-case environment name.
    environments: BTreeMap<String, SecretStore>,
}

/// The key pair and secrets of one repository, environment or organization.
struct SecretStore {
    key_id: String,
    key: crypto_box::SecretKey,
    /// Keyed by upper-case name (GitHub stores names upper-cased).
    secrets: BTreeMap<String, Secret>,
}

struct Secret {
    name: String,
    value: Redacted,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    visibility: Option<String>,
    selected_repository_ids: Vec<u64>,
}

impl SecretStore {
    fn new(seeded: &[GithubSecretSeed], now: OffsetDateTime) -> SecretStore {
        let secrets = seeded
            .iter()
            .map(|s| {
                let name = s.name.to_ascii_uppercase();
                let secret = Secret {
                    name: name.clone(),
                    value: s.value.clone(),
                    created_at: now,
                    updated_at: now,
                    visibility: s.visibility.clone(),
                    selected_repository_ids: s.selected_repository_ids.clone(),
                };
                (name, secret)
            })
            .collect();
        SecretStore {
            // GitHub's key ids are long decimal numbers sent as strings.
            key_id: rand::rng()
                .random_range(100_000_000_000_000_000u64..1_000_000_000_000_000_000)
                .to_string(),
            key: crypto_box::SecretKey::generate(&mut OsRng),
            secrets,
        }
    }
}

impl GithubState {
    pub fn from_seed(seed: &GithubSeed, start: i64) -> GithubState {
        let now = crate::state::utc(start);
        let organizations = seed
            .organizations
            .iter()
            .map(|o| {
                let org = Organization {
                    store: SecretStore::new(&o.secrets, now),
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
                            SecretStore::new(&e.secrets, now),
                        )
                    })
                    .collect();
                let repo = Repository {
                    id: r.id.unwrap_or_else(|| derived_id(&r.full_name)),
                    store: SecretStore::new(&r.secrets, now),
                    environments,
                };
                (r.full_name.to_ascii_lowercase(), repo)
            })
            .collect();
        GithubState {
            tokens: seed.tokens.clone(),
            organizations,
            repositories,
        }
    }

    fn store(&self, scope: &Scope) -> Option<&SecretStore> {
        match scope {
            Scope::Repository(repo) => self.repositories.get(repo).map(|r| &r.store),
            Scope::Environment(repo, env) => self.repositories.get(repo)?.environments.get(env),
            Scope::Organization(org) => self.organizations.get(org).map(|o| &o.store),
        }
    }

    fn store_mut(&mut self, scope: &Scope) -> Option<&mut SecretStore> {
        match scope {
            Scope::Repository(repo) => self.repositories.get_mut(repo).map(|r| &mut r.store),
            Scope::Environment(repo, env) => {
                self.repositories.get_mut(repo)?.environments.get_mut(env)
            }
            Scope::Organization(org) => self.organizations.get_mut(org).map(|o| &mut o.store),
        }
    }
}

/// A stable, positive repository id for a seed without one.
fn derived_id(full_name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    full_name.to_ascii_lowercase().hash(&mut h);
    h.finish() % 1_000_000_000 + 1
}

/// Where a secret lives; names lower-cased for lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Scope {
    /// `owner/name`
    Repository(String),
    Environment(String, String),
    Organization(String),
}

#[derive(Debug, PartialEq, Eq)]
enum Op {
    PublicKey(Scope),
    List(Scope),
    Get(Scope, String),
    Put(Scope, String),
    Delete(Scope, String),
    Unknown,
}

impl Op {
    fn parse(method: &str, path: &str) -> Op {
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(crate::graph::percent_decode)
            .collect();
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (scope, rest) = match s.as_slice() {
            ["repos", o, r, "actions", "secrets", rest @ ..] => (
                Scope::Repository(format!("{o}/{r}").to_ascii_lowercase()),
                rest,
            ),
            ["repos", o, r, "environments", env, "secrets", rest @ ..] => (
                Scope::Environment(
                    format!("{o}/{r}").to_ascii_lowercase(),
                    env.to_ascii_lowercase(),
                ),
                rest,
            ),
            ["orgs", org, "actions", "secrets", rest @ ..] => {
                (Scope::Organization(org.to_ascii_lowercase()), rest)
            }
            _ => return Op::Unknown,
        };
        match (method, rest) {
            ("GET", []) => Op::List(scope),
            ("GET", ["public-key"]) => Op::PublicKey(scope),
            ("GET", [name]) if !name.is_empty() => Op::Get(scope, name.to_ascii_uppercase()),
            ("PUT", [name]) if !name.is_empty() => Op::Put(scope, name.to_ascii_uppercase()),
            ("DELETE", [name]) if !name.is_empty() => Op::Delete(scope, name.to_ascii_uppercase()),
            _ => Op::Unknown,
        }
    }

    fn route(&self) -> &'static str {
        match self {
            Op::PublicKey(_) => "github.publickey.get",
            Op::List(_) => "github.secrets.list",
            Op::Get(..) => "github.secrets.get",
            Op::Put(..) => "github.secrets.put",
            Op::Delete(..) => "github.secrets.delete",
            Op::Unknown => "github.unknown",
        }
    }

    fn docs(&self) -> String {
        let anchor = match self {
            Op::PublicKey(Scope::Repository(_)) => "#get-a-repository-public-key",
            Op::PublicKey(Scope::Environment(..)) => "#get-an-environment-public-key",
            Op::PublicKey(Scope::Organization(_)) => "#get-an-organization-public-key",
            Op::Put(Scope::Repository(_), _) => "#create-or-update-a-repository-secret",
            Op::Put(Scope::Environment(..), _) => "#create-or-update-an-environment-secret",
            Op::Put(Scope::Organization(_), _) => "#create-or-update-an-organization-secret",
            _ => "",
        };
        format!("{DOCS}{anchor}")
    }
}

/// The route name of a request to `api.github.localhost` (faults and the request log).
pub fn route_of(method: &str, path: &str) -> &'static str {
    Op::parse(method, path).route()
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

/// Body of a secret PUT; every field optional here so a missing one gets GitHub's 422.
#[derive(Deserialize)]
struct PutBody {
    encrypted_value: Option<String>,
    key_id: Option<String>,
    visibility: Option<String>,
    selected_repository_ids: Option<Vec<u64>>,
}

pub fn handle(shared: &Shared, req: &Req) -> Resp {
    let op = Op::parse(&req.method, &req.path);
    if op == Op::Unknown {
        return error(404, "Not Found", "https://docs.github.com/rest");
    }
    let mut st = shared.lock();
    let gh = &mut st.github_api;
    let Some(token) = bearer(req) else {
        return error(
            401,
            "Requires authentication",
            "https://docs.github.com/rest",
        );
    };
    let Some(caller) = gh.tokens.iter().find(|t| t.token.expose() == token) else {
        return error(401, "Bad credentials", "https://docs.github.com/rest");
    };
    if caller.kind == GithubTokenKind::Workflow {
        return error(403, "Resource not accessible by integration", &op.docs());
    }
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let docs = op.docs();
    let not_found = || error(404, "Not Found", &docs);
    match op {
        Op::PublicKey(scope) => match gh.store(&scope) {
            Some(store) => Resp::json(
                200,
                &json!({
                    "key_id": store.key_id,
                    "key": base64::engine::general_purpose::STANDARD.encode(store.key.public_key().as_bytes()),
                }),
            ),
            None => not_found(),
        },
        Op::List(scope) => match gh.store(&scope) {
            Some(store) => {
                let secrets: Vec<Value> = store
                    .secrets
                    .values()
                    .map(|s| secret_json(s, &scope, shared))
                    .collect();
                Resp::json(
                    200,
                    &json!({"total_count": secrets.len(), "secrets": secrets}),
                )
            }
            None => not_found(),
        },
        Op::Get(scope, name) => match gh.store(&scope).and_then(|s| s.secrets.get(&name)) {
            Some(secret) => Resp::json(200, &secret_json(secret, &scope, shared)),
            None => not_found(),
        },
        Op::Delete(scope, name) => {
            match gh.store_mut(&scope).and_then(|s| s.secrets.remove(&name)) {
                Some(_) => Resp::empty(204),
                None => not_found(),
            }
        }
        Op::Put(scope, name) => {
            let Some(store) = gh.store_mut(&scope) else {
                return not_found();
            };
            put(store, &scope, name, &req.body, now, &docs)
        }
        Op::Unknown => not_found(),
    }
}

fn put(
    store: &mut SecretStore,
    scope: &Scope,
    name: String,
    body: &[u8],
    now: OffsetDateTime,
    docs: &str,
) -> Resp {
    let invalid = |why: &str| error(422, &format!("Invalid request.\n\n{why}"), docs);
    let Ok(body) = serde_json::from_slice::<PutBody>(body) else {
        return error(400, "Problems parsing JSON", docs);
    };
    let Some(encrypted) = body.encrypted_value else {
        return invalid("\"encrypted_value\" wasn't supplied.");
    };
    let Some(key_id) = body.key_id else {
        return invalid("\"key_id\" wasn't supplied.");
    };
    let org = matches!(scope, Scope::Organization(_));
    let visibility = match (org, body.visibility) {
        (false, _) => None,
        (true, None) => return invalid("\"visibility\" wasn't supplied."),
        (true, Some(v)) if matches!(v.as_str(), "all" | "private" | "selected") => Some(v),
        (true, Some(v)) => {
            return invalid(&format!(
                "For 'properties/visibility', {} is not a member of [\"all\", \"private\", \"selected\"].",
                Value::from(v)
            ))
        }
    };
    if key_id != store.key_id {
        return invalid(
            "key_id does not match the current public key; fetch the public key again.",
        );
    }
    let Ok(sealed) = base64::engine::general_purpose::STANDARD.decode(encrypted.as_bytes()) else {
        return invalid("encrypted_value is not valid base64.");
    };
    let Ok(plain) = store.key.unseal(&sealed) else {
        return invalid("encrypted_value could not be decrypted with the public key.");
    };
    let plain = zeroize_to_string(plain);
    let selected = body.selected_repository_ids.unwrap_or_default();
    match store.secrets.get_mut(&name) {
        Some(secret) => {
            secret.value = plain;
            secret.updated_at = now;
            if visibility.is_some() {
                secret.visibility = visibility;
                secret.selected_repository_ids = selected;
            }
            Resp::empty(204)
        }
        None => {
            store.secrets.insert(
                name.clone(),
                Secret {
                    name,
                    value: plain,
                    created_at: now,
                    updated_at: now,
                    visibility,
                    selected_repository_ids: selected,
                },
            );
            Resp::json(201, &json!({}))
        }
    }
}

/// The opened box as the stored value; bytes that are not UTF-8 are kept lossily (GitHub's
/// runners hand secrets to workflows as text).
fn zeroize_to_string(plain: Vec<u8>) -> Redacted {
    let value = String::from_utf8(plain)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Redacted(value)
}

fn timestamp(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn secret_json(s: &Secret, scope: &Scope, shared: &Shared) -> Value {
    let mut v = json!({
        "name": s.name,
        "created_at": timestamp(s.created_at),
        "updated_at": timestamp(s.updated_at),
    });
    if let Scope::Organization(org) = scope {
        let visibility = s.visibility.as_deref().unwrap_or("all");
        v["visibility"] = Value::from(visibility);
        if visibility == "selected" {
            v["selected_repositories_url"] = Value::from(format!(
                "{}/orgs/{org}/actions/secrets/{}/repositories",
                github_api_base(shared),
                s.name
            ));
        }
    }
    v
}

fn github_api_base(shared: &Shared) -> String {
    format!("https://api.github.localhost:{}", shared.port)
}

/// `GET /_admin/github/secret?name=N&repository=o/r[&environment=e]` or `?name=N&organization=o`:
/// one secret with its value, for test suites in other languages (the service itself never
/// answers a value).
pub fn admin(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" || req.path.trim_end_matches('/') != "/_admin/github/secret" {
        return Resp::json(
            404,
            &json!({"error": "GET /_admin/github/secret?name=…&repository=…[&environment=…] or &organization=…"}),
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
    fn scope(&self) -> Scope {
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

    /// The repository's numeric id (seeded or derived from its name).
    pub fn github_repository_id(&self, full_name: &str) -> Option<u64> {
        let st = self.shared.lock();
        st.github_api
            .repositories
            .get(&full_name.to_ascii_lowercase())
            .map(|r| r.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_with_encoded_environment_names() {
        assert_eq!(
            Op::parse(
                "GET",
                "/repos/o/r/environments/prod%2Feu/secrets/public-key"
            ),
            Op::PublicKey(Scope::Environment("o/r".into(), "prod/eu".into()))
        );
        assert_eq!(
            Op::parse("PUT", "/orgs/Contoso/actions/secrets/db_pass"),
            Op::Put(Scope::Organization("contoso".into()), "DB_PASS".into())
        );
        assert_eq!(
            Op::parse("POST", "/repos/o/r/actions/secrets/X"),
            Op::Unknown
        );
        assert_eq!(
            Op::parse("GET", "/repos/o/r/actions/secrets/public-key").route(),
            "github.publickey.get"
        );
    }

    #[test]
    fn a_sealed_box_opens_and_a_foreign_one_does_not() {
        let mut store = SecretStore::new(&[], OffsetDateTime::now_utc());
        let sealed = store.key.public_key().seal(&mut OsRng, b"planted").unwrap();
        let body = json!({
            "encrypted_value": base64::engine::general_purpose::STANDARD.encode(&sealed),
            "key_id": store.key_id,
        });
        let key_id = store.key_id.clone();
        let now = OffsetDateTime::now_utc();
        let scope = Scope::Repository("o/r".into());
        let r = put(
            &mut store,
            &scope,
            "X".into(),
            body.to_string().as_bytes(),
            now,
            "",
        );
        assert_eq!(r.status, 201);
        assert_eq!(store.secrets["X"].value.expose(), "planted");
        let r = put(
            &mut store,
            &scope,
            "X".into(),
            body.to_string().as_bytes(),
            now,
            "",
        );
        assert_eq!(r.status, 204);

        let other = crypto_box::SecretKey::generate(&mut OsRng);
        let foreign = other.public_key().seal(&mut OsRng, b"x").unwrap();
        let body = json!({
            "encrypted_value": base64::engine::general_purpose::STANDARD.encode(&foreign),
            "key_id": key_id,
        });
        let r = put(
            &mut store,
            &scope,
            "X".into(),
            body.to_string().as_bytes(),
            now,
            "",
        );
        assert_eq!(r.status, 422);
        let r = put(
            &mut store,
            &scope,
            "X".into(),
            br#"{"encrypted_value":"c2VjcmV0"}"#,
            now,
            "",
        );
        assert_eq!(r.status, 422);
        let text = String::from_utf8_lossy(&r.body).into_owned();
        assert!(
            text.contains("key_id") && text.contains("\"status\":\"422\""),
            "{text}"
        );
    }
}
