//! Actions secrets of repositories, environments and organizations: key pairs, sealed-box
//! writes, metadata reads.

use std::collections::BTreeMap;

use base64::Engine as _;
use crypto_box::aead::OsRng;
use rand::Rng as _;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{error, timestamp, GithubSecretSeed, GithubState};
use crate::http::Resp;
use crate::seed::Redacted;

const DOCS: &str = "https://docs.github.com/rest/actions/secrets";

/// The key pair and secrets of one repository, environment or organization.
pub struct SecretStore {
    key_id: String,
    key: crypto_box::SecretKey,
    /// Keyed by upper-case name (GitHub stores names upper-cased).
    pub secrets: BTreeMap<String, Secret>,
}

pub struct Secret {
    pub name: String,
    pub value: Redacted,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub visibility: Option<String>,
    pub selected_repository_ids: Vec<u64>,
}

impl SecretStore {
    pub fn new(seeded: &[GithubSecretSeed], now: OffsetDateTime) -> SecretStore {
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

/// Where a secret lives; names lower-cased for lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `owner/name`
    Repository(String),
    Environment(String, String),
    Organization(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    PublicKey(Scope),
    List(Scope),
    Get(Scope, String),
    Put(Scope, String),
    Delete(Scope, String),
}

impl Op {
    pub fn parse(method: &str, s: &[&str]) -> Option<Op> {
        let (scope, rest) = match s {
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
            _ => return None,
        };
        Some(match (method, rest) {
            ("GET", []) => Op::List(scope),
            ("GET", ["public-key"]) => Op::PublicKey(scope),
            ("GET", [name]) if !name.is_empty() => Op::Get(scope, name.to_ascii_uppercase()),
            ("PUT", [name]) if !name.is_empty() => Op::Put(scope, name.to_ascii_uppercase()),
            ("DELETE", [name]) if !name.is_empty() => Op::Delete(scope, name.to_ascii_uppercase()),
            _ => return None,
        })
    }

    pub fn route(&self) -> &'static str {
        match self {
            Op::PublicKey(_) => "github.publickey.get",
            Op::List(_) => "github.secrets.list",
            Op::Get(..) => "github.secrets.get",
            Op::Put(..) => "github.secrets.put",
            Op::Delete(..) => "github.secrets.delete",
        }
    }

    pub fn docs(&self) -> String {
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

impl GithubState {
    pub(super) fn store(&self, scope: &Scope) -> Option<&SecretStore> {
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

/// Body of a secret PUT; every field optional here so a missing one gets GitHub's 422.
#[derive(Deserialize)]
struct PutBody {
    encrypted_value: Option<String>,
    key_id: Option<String>,
    visibility: Option<String>,
    selected_repository_ids: Option<Vec<u64>>,
}

pub fn handle(gh: &mut GithubState, op: Op, body: &[u8], api_base: &str) -> Resp {
    let now = super::now();
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
                    .map(|s| secret_json(s, &scope, api_base))
                    .collect();
                Resp::json(
                    200,
                    &json!({"total_count": secrets.len(), "secrets": secrets}),
                )
            }
            None => not_found(),
        },
        Op::Get(scope, name) => match gh.store(&scope).and_then(|s| s.secrets.get(&name)) {
            Some(secret) => Resp::json(200, &secret_json(secret, &scope, api_base)),
            None => not_found(),
        },
        Op::Delete(scope, name) => match gh.store_mut(&scope).and_then(|s| s.secrets.remove(&name))
        {
            Some(_) => Resp::empty(204),
            None => not_found(),
        },
        Op::Put(scope, name) => {
            let Some(store) = gh.store_mut(&scope) else {
                return not_found();
            };
            put(store, &scope, name, body, now, &docs)
        }
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
    let plain = into_value(plain);
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

/// The opened box as the stored value; bytes that are not UTF-8 are kept lossily (runners
/// hand secrets to workflows as text).
fn into_value(plain: Vec<u8>) -> Redacted {
    let value = String::from_utf8(plain)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Redacted(value)
}

fn secret_json(s: &Secret, scope: &Scope, api_base: &str) -> Value {
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
                "{api_base}/orgs/{org}/actions/secrets/{}/repositories",
                s.name
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_with_encoded_environment_names() {
        assert_eq!(
            Op::parse(
                "GET",
                &[
                    "repos",
                    "o",
                    "r",
                    "environments",
                    "prod/eu",
                    "secrets",
                    "public-key"
                ]
            ),
            Some(Op::PublicKey(Scope::Environment(
                "o/r".into(),
                "prod/eu".into()
            )))
        );
        assert_eq!(
            Op::parse("PUT", &["orgs", "Contoso", "actions", "secrets", "db_pass"]),
            Some(Op::Put(
                Scope::Organization("contoso".into()),
                "DB_PASS".into()
            ))
        );
        assert_eq!(
            Op::parse("POST", &["repos", "o", "r", "actions", "secrets", "X"]),
            None
        );
    }

    #[test]
    fn a_sealed_box_opens_and_a_foreign_one_does_not() {
        let mut store = SecretStore::new(&[], OffsetDateTime::now_utc());
        let scope = Scope::Repository("o/r".into());
        let key_id = store.key_id.clone();
        let sealed = store.key.public_key().seal(&mut OsRng, b"planted").unwrap();
        let other = crypto_box::SecretKey::generate(&mut OsRng);
        let foreign = other.public_key().seal(&mut OsRng, b"x").unwrap();
        let mut statuses = Vec::new();
        for (sealed, key_id) in [
            (&sealed, key_id.as_str()),
            (&sealed, key_id.as_str()),
            (&foreign, key_id.as_str()),
        ] {
            let body = json!({
                "encrypted_value": base64::engine::general_purpose::STANDARD.encode(sealed),
                "key_id": key_id,
            });
            let now = OffsetDateTime::now_utc();
            statuses.push(
                put(
                    &mut store,
                    &scope,
                    "X".into(),
                    body.to_string().as_bytes(),
                    now,
                    "",
                )
                .status,
            );
        }
        assert_eq!(statuses, [201, 204, 422]);
        assert_eq!(store.secrets["X"].value.expose(), "planted");
        let now = OffsetDateTime::now_utc();
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
