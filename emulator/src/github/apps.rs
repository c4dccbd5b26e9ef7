//! GitHub Apps: an RSA key per App generated at start, RS256 JWTs verified against it, and
//! installation tokens that then work like any other token.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::KeyPair as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{
    error, timestamp, user_json, GithubAppSeed, GithubState, GithubTokenKind, GithubTokenSeed,
};
use crate::http::Resp;
use crate::seed::Redacted;

const DOCS: &str = "https://docs.github.com/rest/apps/apps";
const JWT_DOCS: &str = "https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app";

pub struct App {
    pub id: u64,
    pub slug: String,
    /// PKCS#1 `RSAPublicKey` DER.
    public_key: Vec<u8>,
    /// The private key (PKCS#8 PEM) handed to tests, as GitHub hands it to the App's owner.
    pub private_pem: Redacted,
    pub installations: Vec<(u64, String)>,
    pub created_at: OffsetDateTime,
}

impl App {
    pub fn new(seed: &GithubAppSeed, now: OffsetDateTime) -> anyhow::Result<App> {
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("generating the RSA key of GitHub App {}", seed.id))?;
        let der = key
            .as_der()
            .map_err(|_| anyhow::anyhow!("encoding the RSA key of GitHub App {}", seed.id))?;
        let b64 = STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(App {
            id: seed.id,
            slug: seed
                .slug
                .clone()
                .unwrap_or_else(|| format!("keyrot-app-{}", seed.id)),
            public_key: key.public_key().as_ref().to_vec(),
            private_pem: Redacted(pem),
            installations: seed
                .installations
                .iter()
                .map(|i| (i.id, i.account.clone()))
                .collect(),
            created_at: now,
        })
    }

    fn login(&self) -> String {
        format!("{}[bot]", self.slug)
    }
}

/// The App a JWT is from, or GitHub's 401 message.
pub fn verify_jwt(apps: &[App], token: &str, now: i64) -> Result<u64, &'static str> {
    const UNDECODABLE: &str = "A JSON web token could not be decoded";
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(UNDECODABLE);
    };
    let decode = |p: &str| {
        URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .map_err(|_| UNDECODABLE)
    };
    let header: Value = serde_json::from_slice(&decode(h)?).map_err(|_| UNDECODABLE)?;
    let claims: Value = serde_json::from_slice(&decode(c)?).map_err(|_| UNDECODABLE)?;
    if header["alg"] != "RS256" {
        return Err(UNDECODABLE);
    }
    let iss = match &claims["iss"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or("'Issuer' claim ('iss') must be an Integer")?;
    let app = apps.iter().find(|a| a.id == iss).ok_or(UNDECODABLE)?;
    let signed = format!("{h}.{c}");
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &app.public_key,
    )
    .verify(signed.as_bytes(), &decode(sig)?)
    .map_err(|_| UNDECODABLE)?;
    let iat = claims["iat"].as_i64().ok_or("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")?;
    let exp = claims["exp"].as_i64().filter(|e| *e > now).ok_or(
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
    )?;
    if iat > now + 60 {
        return Err("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued");
    }
    if exp - iat > 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future");
    }
    Ok(iss)
}

pub fn jwt_refused(message: &str) -> Resp {
    error(401, message, JWT_DOCS)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    GetApp,
    AccessToken(u64),
    RepoInstallation(String),
    OrgInstallation(String),
}

impl Op {
    pub fn parse(method: &str, s: &[&str]) -> Option<Op> {
        Some(match (method, s) {
            ("GET", ["app"]) => Op::GetApp,
            ("POST", ["app", "installations", id, "access_tokens"]) => {
                Op::AccessToken(id.parse().ok()?)
            }
            ("GET", ["repos", o, r, "installation"]) => {
                Op::RepoInstallation(format!("{o}/{r}").to_ascii_lowercase())
            }
            ("GET", ["orgs", o, "installation"]) => Op::OrgInstallation(o.to_ascii_lowercase()),
            _ => return None,
        })
    }

    pub fn route(&self) -> &'static str {
        match self {
            Op::GetApp => "github.app.get",
            Op::AccessToken(_) => "github.app.token",
            Op::RepoInstallation(_) | Op::OrgInstallation(_) => "github.installation.get",
        }
    }
}

pub fn handle(gh: &mut GithubState, op: Op, app_id: u64, api: &str) -> Resp {
    let Some(app) = gh.apps.iter().find(|a| a.id == app_id) else {
        return jwt_refused("A JSON web token could not be decoded");
    };
    let not_found = |docs: &str| error(404, "Not Found", docs);
    match op {
        Op::GetApp => Resp::json(
            200,
            &json!({
                "id": app.id,
                "slug": app.slug,
                "node_id": format!("A_kwDO{}", app.id),
                "name": app.slug,
                "description": "",
                "external_url": super::WEB,
                "html_url": format!("{}/apps/{}", super::WEB, app.slug),
                "owner": app.installations.first().map(|(_, acct)| user_json(acct, api)),
                "created_at": timestamp(app.created_at),
                "updated_at": timestamp(app.created_at),
                "permissions": permissions(),
                "events": [],
            }),
        ),
        Op::RepoInstallation(repo) => {
            let owner = repo.split('/').next().unwrap_or_default();
            let found = gh
                .repositories
                .contains_key(&repo)
                .then(|| installation_on(app, owner, api))
                .flatten();
            found.map_or_else(
                || {
                    not_found(&format!(
                        "{DOCS}#get-a-repository-installation-for-the-authenticated-app"
                    ))
                },
                |v| Resp::json(200, &v),
            )
        }
        Op::OrgInstallation(org) => installation_on(app, &org, api).map_or_else(
            || {
                not_found(&format!(
                    "{DOCS}#get-an-organization-installation-for-the-authenticated-app"
                ))
            },
            |v| Resp::json(200, &v),
        ),
        Op::AccessToken(id) => {
            if !app.installations.iter().any(|(i, _)| *i == id) {
                return not_found(&format!(
                    "{DOCS}#create-an-installation-access-token-for-an-app"
                ));
            }
            let token = format!("ghs_{}", crate::state::random_hex(18));
            let login = app.login();
            let expires = super::now() + time::Duration::hours(1);
            gh.tokens.push(GithubTokenSeed {
                token: Redacted(token.clone()),
                login,
                kind: GithubTokenKind::Pat,
            });
            Resp::json(
                201,
                &json!({
                    "token": token,
                    "expires_at": timestamp(expires),
                    "permissions": permissions(),
                    "repository_selection": "all",
                }),
            )
        }
    }
}

fn permissions() -> Value {
    json!({"actions": "write", "secrets": "write", "environments": "write", "issues": "write", "metadata": "read"})
}

fn installation_on(app: &App, account: &str, api: &str) -> Option<Value> {
    let (id, login) = app
        .installations
        .iter()
        .find(|(_, a)| a.eq_ignore_ascii_case(account))?;
    Some(json!({
        "id": id,
        "account": user_json(login, api),
        "access_tokens_url": format!("{api}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{api}/installation/repositories"),
        "html_url": format!("{}/organizations/{login}/settings/installations/{id}", super::WEB),
        "app_id": app.id,
        "app_slug": app.slug,
        "target_id": 1,
        "target_type": "Organization",
        "permissions": permissions(),
        "events": [],
        "repository_selection": "all",
        "created_at": timestamp(app.created_at),
        "updated_at": timestamp(app.created_at),
    }))
}
