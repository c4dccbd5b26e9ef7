//! The emulated GitHub Actions secrets API over HTTPS: public keys, sealed-box writes (201 then
//! 204), reads without values, GitHub's errors, and the shapes of the REST description's
//! examples (`tests/fixtures/github/`, see `tests/fixtures/PROVENANCE.md`).

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use crypto_box::aead::OsRng;
use keyrot_emulator::{FaultRule, GithubSecretScope, Seed};
use serde_json::{json, Value};

const PAT: &str = "ghp_emulator_test_pat";
const WORKFLOW_TOKEN: &str = "ghs_workflow_own_token";
const PLANTED: &str = "planted-value-7c1e0b9a";

macro_rules! fixture {
    ($p:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!("../../tests/fixtures/github/", $p)))
            .expect($p)
    };
}

fn seed() -> Seed {
    Seed::from_toml_str(&format!(
        r#"
[[github.token]]
token = "{PAT}"
login = "octocat"

[[github.token]]
token = "{WORKFLOW_TOKEN}"
login = "github-actions[bot]"
kind = "workflow"

[[github.organization]]
login = "contoso"
secrets = [{{ name = "ORG_WIDE", value = "org-seeded", visibility = "private" }}]

[[github.repository]]
full_name = "contoso/billing"
id = 1296269
secrets = [{{ name = "EXISTING", value = "seeded" }}]

branches = ["main", "release"]

[[github.repository.environment]]
name = "prod/eu"
secrets = [{{ name = "EXISTING", value = "env-override" }}]

[[github.repository.workflow]]
id = 161335
path = ".github/workflows/deploy.yml"
name = "Deploy"
environment = "prod/eu"
inputs = {{ reason = {{ required = true }}, dry = {{ default = "false" }} }}

[[github.repository.workflow]]
path = ".github/workflows/ci.yml"
dispatch = false

[[github.repository]]
full_name = "contoso/legacy"
ghes = true

[[github.repository.workflow]]
path = ".github/workflows/deploy.yml"

[[github.app]]
id = 1001
slug = "keyrot-rotator"
installation = [{{ id = 2002, account = "contoso" }}]
"#
    ))
    .expect("seed")
}

async fn call(
    env: &Env,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = format!("{}{path}", env.emu.github_api_url());
    let mut req = env
        .http
        .request(method.parse().unwrap(), url)
        .header("accept", "application/vnd.github+json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn sealed_for(env: &Env, key_path: &str, value: &str) -> Value {
    let (status, _, key) = call(env, "GET", key_path, Some(PAT), None).await;
    assert_eq!(status, 200, "{key}");
    let raw: [u8; 32] = STANDARD
        .decode(key["key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let sealed = crypto_box::PublicKey::from(raw)
        .seal(&mut OsRng, value.as_bytes())
        .unwrap();
    json!({"encrypted_value": STANDARD.encode(sealed), "key_id": key["key_id"]})
}

#[tokio::test]
async fn public_key_has_the_examples_shape() {
    let env = start_with(seed()).await;
    let example = fixture!("actions-get-repo-public-key.json");
    let example = &example["responses"]["200"]["example"];
    for path in [
        "/repos/contoso/billing/actions/secrets/public-key",
        "/repos/contoso/billing/environments/prod%2Feu/secrets/public-key",
        "/orgs/contoso/actions/secrets/public-key",
    ] {
        let (status, headers, key) = call(&env, "GET", path, Some(PAT), None).await;
        assert_eq!(status, 200, "{path}: {key}");
        for field in example.as_object().unwrap().keys() {
            assert!(key[field].is_string(), "{path}: {field} missing in {key}");
        }
        assert!(key["key_id"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit()));
        assert_eq!(
            STANDARD.decode(key["key"].as_str().unwrap()).unwrap().len(),
            32
        );
        assert_eq!(headers["x-github-api-version-selected"], "2022-11-28");
    }
    // Each scope has its own key pair.
    let (_, _, a) = call(
        &env,
        "GET",
        "/repos/contoso/billing/actions/secrets/public-key",
        Some(PAT),
        None,
    )
    .await;
    let (_, _, b) = call(
        &env,
        "GET",
        "/orgs/contoso/actions/secrets/public-key",
        Some(PAT),
        None,
    )
    .await;
    assert_ne!(a["key"], b["key"]);
}

#[tokio::test]
async fn sealed_write_creates_then_updates_and_reads_never_show_the_value() {
    let env = start_with(seed()).await;
    let example = fixture!("actions-create-or-update-repo-secret.json");
    let required: Vec<&str> = example["requestBody"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let body = sealed_for(
        &env,
        "/repos/contoso/billing/actions/secrets/public-key",
        PLANTED,
    )
    .await;
    for field in &required {
        assert!(body.get(*field).is_some(), "our request lacks {field}");
    }
    let path = "/repos/contoso/billing/actions/secrets/new_one";
    let (status, _, _) = call(&env, "PUT", path, Some(PAT), Some(body.clone())).await;
    assert_eq!(status, 201);
    let seen = env
        .emu
        .github_secret(GithubSecretScope::Repository("contoso/billing"), "NEW_ONE")
        .expect("stored");
    assert_eq!(seen.value.expose(), PLANTED);
    assert_eq!(seen.name, "NEW_ONE");

    let body = sealed_for(
        &env,
        "/repos/contoso/billing/actions/secrets/public-key",
        "second",
    )
    .await;
    let (status, _, _) = call(&env, "PUT", path, Some(PAT), Some(body)).await;
    assert_eq!(status, 204);
    let seen = env
        .emu
        .github_secret(GithubSecretScope::Repository("contoso/billing"), "new_one")
        .unwrap();
    assert_eq!(seen.value.expose(), "second");

    let (status, _, got) = call(&env, "GET", path, Some(PAT), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "NEW_ONE");
    assert!(got["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(got["updated_at"].is_string());
    let (status, _, list) = call(
        &env,
        "GET",
        "/repos/contoso/billing/actions/secrets",
        Some(PAT),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["total_count"], 2);
    // No answer, and no log entry, carries a value.
    for r in env.emu.requests() {
        assert!(!format!("{r:?}").contains(PLANTED));
        assert!(!String::from_utf8_lossy(&r.body).contains(PLANTED));
    }
    assert!(!list.to_string().contains("second") && !got.to_string().contains("second"));
    assert!(!format!("{seen:?}").contains("second"));
}

#[tokio::test]
async fn environment_and_organization_secrets() {
    let env = start_with(seed()).await;
    let body = sealed_for(
        &env,
        "/repos/contoso/billing/environments/prod%2Feu/secrets/public-key",
        PLANTED,
    )
    .await;
    let (status, _, _) = call(
        &env,
        "PUT",
        "/repos/contoso/billing/environments/prod%2Feu/secrets/DB",
        Some(PAT),
        Some(body),
    )
    .await;
    assert_eq!(status, 201);
    let scope = GithubSecretScope::Environment {
        repository: "contoso/billing",
        environment: "prod/eu",
    };
    assert_eq!(
        env.emu.github_secret(scope, "db").unwrap().value.expose(),
        PLANTED
    );
    // The repository's own key does not open for the environment.
    let wrong = sealed_for(
        &env,
        "/repos/contoso/billing/actions/secrets/public-key",
        "x",
    )
    .await;
    let (status, _, err) = call(
        &env,
        "PUT",
        "/repos/contoso/billing/environments/prod%2Feu/secrets/DB",
        Some(PAT),
        Some(wrong),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["status"], "422");

    let mut body = sealed_for(&env, "/orgs/contoso/actions/secrets/public-key", PLANTED).await;
    let (status, _, err) = call(
        &env,
        "PUT",
        "/orgs/contoso/actions/secrets/SHARED",
        Some(PAT),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 422, "visibility is required: {err}");
    assert!(err["message"].as_str().unwrap().contains("visibility"));
    body["visibility"] = json!("selected");
    body["selected_repository_ids"] = json!([1296269]);
    let (status, _, _) = call(
        &env,
        "PUT",
        "/orgs/contoso/actions/secrets/SHARED",
        Some(PAT),
        Some(body),
    )
    .await;
    assert_eq!(status, 201);
    let seen = env
        .emu
        .github_secret(GithubSecretScope::Organization("contoso"), "SHARED")
        .unwrap();
    assert_eq!(seen.value.expose(), PLANTED);
    assert_eq!(seen.selected_repository_ids, vec![1296269]);
    let (_, _, got) = call(
        &env,
        "GET",
        "/orgs/contoso/actions/secrets/SHARED",
        Some(PAT),
        None,
    )
    .await;
    assert_eq!(got["visibility"], "selected");
    assert!(got["selected_repositories_url"]
        .as_str()
        .unwrap()
        .ends_with("/orgs/contoso/actions/secrets/SHARED/repositories"));

    // The admin route gives test suites in other languages the value.
    let (status, _, admin) = {
        let r = env
            .http
            .get(format!(
                "{}/github/secret?organization=contoso&name=shared",
                env.emu.admin_url()
            ))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), (), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(admin["value"], PLANTED);
}

#[tokio::test]
async fn errors_are_githubs() {
    let env = start_with(seed()).await;
    let key = "/repos/contoso/billing/actions/secrets/public-key";
    let (status, _, err) = call(&env, "GET", key, None, None).await;
    assert_eq!(
        (status, err["message"].as_str()),
        (401, Some("Requires authentication"))
    );
    let (status, _, err) = call(&env, "GET", key, Some("ghp_unknown"), None).await;
    assert_eq!(
        (status, err["message"].as_str()),
        (401, Some("Bad credentials"))
    );
    assert_eq!(err["status"], "401");
    let body = sealed_for(&env, key, PLANTED).await;
    let (status, _, err) = call(
        &env,
        "PUT",
        "/repos/contoso/billing/actions/secrets/X",
        Some(WORKFLOW_TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        (status, err["message"].as_str()),
        (403, Some("Resource not accessible by integration"))
    );
    assert!(err["documentation_url"]
        .as_str()
        .unwrap()
        .contains("create-or-update-a-repository-secret"));

    let (status, _, err) = call(
        &env,
        "PUT",
        "/repos/contoso/billing/actions/secrets/X",
        Some(PAT),
        Some(json!({"encrypted_value": body["encrypted_value"]})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        err["message"],
        "Invalid request.\n\n\"key_id\" wasn't supplied."
    );
    let (status, _, _) = call(
        &env,
        "PUT",
        "/repos/contoso/billing/actions/secrets/X",
        Some(PAT),
        Some(json!({"encrypted_value": body["encrypted_value"], "key_id": "1"})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = call(
        &env,
        "PUT",
        "/repos/contoso/billing/actions/secrets/X",
        Some(PAT),
        Some(json!({"encrypted_value": "not base64!", "key_id": body["key_id"]})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, err) = call(
        &env,
        "GET",
        "/repos/contoso/nope/actions/secrets/public-key",
        Some(PAT),
        None,
    )
    .await;
    assert_eq!((status, err["message"].as_str()), (404, Some("Not Found")));
    assert!(env
        .emu
        .github_secret(GithubSecretScope::Repository("contoso/billing"), "X")
        .is_none());
}

#[tokio::test]
async fn status_faults_answer_the_secondary_rate_limit() {
    let env = start_with(seed()).await;
    env.emu.add_fault(FaultRule {
        status: Some(403),
        retry_after: Some(7),
        count: Some(1),
        ..FaultRule::new("github.publickey.get")
    });
    let key = "/repos/contoso/billing/actions/secrets/public-key";
    let (status, headers, err) = call(&env, "GET", key, Some(PAT), None).await;
    assert_eq!(status, 403);
    assert_eq!(headers["retry-after"], "7");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit"),
        "{err}"
    );
    let (status, _, _) = call(&env, "GET", key, Some(PAT), None).await;
    assert_eq!(status, 200);
    let routes: Vec<String> = env.emu.requests().iter().map(|r| r.route.clone()).collect();
    assert_eq!(routes, ["github.publickey.get", "github.publickey.get"]);
}

#[tokio::test]
async fn dispatches_create_runs_that_record_the_secrets_they_see() {
    let env = start_with(seed()).await;
    let path = "/repos/contoso/billing/actions/workflows/deploy.yml/dispatches";
    let (status, _, details) = call(
        &env,
        "POST",
        path,
        Some(PAT),
        Some(json!({"ref": "main", "inputs": {"reason": "rotation"}, "return_run_details": true})),
    )
    .await;
    assert_eq!(status, 200, "{details}");
    let run_id = details["workflow_run_id"].as_u64().unwrap();
    assert!(details["run_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/repos/contoso/billing/actions/runs/{run_id}")));
    assert_eq!(
        details["html_url"],
        format!("https://github.localhost/contoso/billing/actions/runs/{run_id}")
    );

    // A new value, then a plain dispatch (204): the second run sees it, the first does not.
    let body = sealed_for(
        &env,
        "/repos/contoso/billing/actions/secrets/public-key",
        PLANTED,
    )
    .await;
    let (status, _, _) = call(
        &env,
        "PUT",
        "/repos/contoso/billing/actions/secrets/DB",
        Some(PAT),
        Some(body),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, _) = call(
        &env,
        "POST",
        "/repos/contoso/billing/actions/workflows/161335/dispatches",
        Some(WORKFLOW_TOKEN),
        Some(json!({"ref": "refs/heads/release", "inputs": {"reason": "r", "dry": "true"}})),
    )
    .await;
    assert_eq!(status, 204);
    let runs = env.emu.github_runs("contoso/billing");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, run_id);
    assert!(!runs[0].secrets.contains_key("DB"));
    assert_eq!(runs[1].secrets["DB"].expose(), PLANTED);
    // Organization secrets are visible; the environment's override the repository's.
    assert_eq!(runs[1].secrets["ORG_WIDE"].expose(), "org-seeded");
    assert_eq!(runs[1].secrets["EXISTING"].expose(), "env-override");
    assert_eq!(runs[0].inputs["dry"], "false", "the default applies");
    assert_eq!(runs[1].inputs["dry"], "true");
    assert_eq!(
        (runs[0].actor.as_str(), runs[1].actor.as_str()),
        ("octocat", "github-actions[bot]")
    );
    assert_eq!(runs[1].head_branch, "release");

    // The runs list filters by actor and creation time, newest first.
    let since = env.emu.github_runs("contoso/billing")[0].created_at;
    let since = since
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let list_path = format!("/repos/contoso/billing/actions/workflows/deploy.yml/runs?event=workflow_dispatch&actor=octocat&created=%3E%3D{since}");
    let (status, _, list) = call(&env, "GET", &list_path, Some(PAT), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total_count"], 1);
    let run = &list["workflow_runs"][0];
    assert_eq!(run["id"], run_id);
    assert_eq!(run["actor"]["login"], "octocat");
    assert_eq!(run["event"], "workflow_dispatch");
    assert_eq!(run["head_branch"], "main");
    assert!(run["created_at"].is_string() && run["html_url"].is_string());
    let (_, _, all) = call(
        &env,
        "GET",
        "/repos/contoso/billing/actions/workflows/161335/runs",
        Some(PAT),
        None,
    )
    .await;
    assert_eq!(
        all["workflow_runs"][0]["actor"]["login"],
        "github-actions[bot]"
    );
    let (status, _, one) = call(
        &env,
        "GET",
        &format!("/repos/contoso/billing/actions/runs/{run_id}"),
        Some(PAT),
        None,
    )
    .await;
    assert_eq!(
        (status, one["path"].as_str()),
        (200, Some(".github/workflows/deploy.yml"))
    );
    // No answer carries a secret value.
    assert!(!list.to_string().contains(PLANTED) && !one.to_string().contains(PLANTED));
}

#[tokio::test]
async fn dispatch_errors_are_the_real_ones() {
    let env = start_with(seed()).await;
    let path = "/repos/contoso/billing/actions/workflows/deploy.yml/dispatches";
    for (body, status, message) in [
        (
            json!({"ref": "nope", "inputs": {"reason": "x"}}),
            422,
            "No ref found for: nope",
        ),
        (
            json!({"ref": "main", "inputs": {"reason": "x", "x": "1"}}),
            422,
            "Unexpected inputs provided: [\"x\"]",
        ),
        (
            json!({"ref": "main"}),
            422,
            "Required input 'reason' not provided",
        ),
        (
            json!({"inputs": {}}),
            422,
            "Invalid request.\n\n\"ref\" wasn't supplied.",
        ),
    ] {
        let (got, _, err) = call(&env, "POST", path, Some(PAT), Some(body.clone())).await;
        assert_eq!(
            (got, err["message"].as_str()),
            (status, Some(message)),
            "{body}"
        );
    }
    let (got, _, err) = call(
        &env,
        "POST",
        "/repos/contoso/billing/actions/workflows/ci.yml/dispatches",
        Some(PAT),
        Some(json!({"ref": "main"})),
    )
    .await;
    assert_eq!(
        (got, err["message"].as_str()),
        (
            422,
            Some("Workflow does not have 'workflow_dispatch' trigger")
        )
    );
    let (got, _, _) = call(
        &env,
        "POST",
        "/repos/contoso/billing/actions/workflows/nope.yml/dispatches",
        Some(PAT),
        Some(json!({"ref": "main"})),
    )
    .await;
    assert_eq!(got, 404);
    // GHES <= 3.20 refuses return_run_details; the plain form works.
    let legacy = "/repos/contoso/legacy/actions/workflows/deploy.yml/dispatches";
    let (got, _, err) = call(
        &env,
        "POST",
        legacy,
        Some(PAT),
        Some(json!({"ref": "main", "return_run_details": true})),
    )
    .await;
    assert_eq!(got, 400, "{err}");
    let (got, _, _) = call(
        &env,
        "POST",
        legacy,
        Some(PAT),
        Some(json!({"ref": "main"})),
    )
    .await;
    assert_eq!(got, 204);
    assert!(env.emu.github_runs("contoso/billing").is_empty());
    assert_eq!(env.emu.github_runs("contoso/legacy").len(), 1);
}

#[tokio::test]
async fn issues_are_created_and_listed() {
    let env = start_with(seed()).await;
    let (status, headers, issue) = call(
        &env,
        "POST",
        "/repos/contoso/billing/issues",
        Some(WORKFLOW_TOKEN),
        Some(json!({"title": "keyrot: rotation failed", "body": "details", "labels": ["keyrot"]})),
    )
    .await;
    assert_eq!(status, 201, "{issue}");
    assert_eq!(issue["number"], 1);
    assert_eq!(
        issue["html_url"],
        "https://github.localhost/contoso/billing/issues/1"
    );
    assert!(headers["location"]
        .to_str()
        .unwrap()
        .ends_with("/repos/contoso/billing/issues/1"));
    let (status, _, err) = call(
        &env,
        "POST",
        "/repos/contoso/billing/issues",
        Some(PAT),
        Some(json!({"body": "no title"})),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    let (_, _, list) = call(
        &env,
        "GET",
        "/repos/contoso/billing/issues",
        Some(PAT),
        None,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["labels"][0]["name"], "keyrot");
    let seen = env.emu.github_issues("contoso/billing");
    assert_eq!(
        (seen[0].title.as_str(), seen[0].author.as_str()),
        ("keyrot: rotation failed", "github-actions[bot]")
    );
}

/// An RS256 JWT for the App, signed with the key the emulator hands out.
fn app_jwt(env: &Env, app_id: u64, iat_offset: i64, lifetime: i64) -> String {
    let pem = env.emu.github_app_private_key(app_id).expect("app key");
    let b64: String = pem
        .expose()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(b64).unwrap();
    let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + iat_offset;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!(
        "{}.{}",
        url.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string()),
        url.encode(json!({"iss": app_id, "iat": now - 60, "exp": now + lifetime}).to_string())
    );
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{signed}.{}", url.encode(sig))
}

#[tokio::test]
async fn app_jwts_get_installation_tokens_that_write_secrets() {
    let env = start_with(seed()).await;
    let jwt = app_jwt(&env, 1001, 0, 540);
    let (status, _, app) = call(&env, "GET", "/app", Some(&jwt), None).await;
    assert_eq!(
        (status, app["slug"].as_str()),
        (200, Some("keyrot-rotator"))
    );
    let (status, _, inst) = call(
        &env,
        "GET",
        "/repos/contoso/billing/installation",
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!((status, inst["id"].as_u64()), (200, Some(2002)), "{inst}");
    let (status, _, inst) = call(&env, "GET", "/orgs/contoso/installation", Some(&jwt), None).await;
    assert_eq!(
        (status, inst["account"]["login"].as_str()),
        (200, Some("contoso"))
    );
    let (status, _, _) = call(&env, "GET", "/orgs/other/installation", Some(&jwt), None).await;
    assert_eq!(status, 404);
    let (status, _, token) = call(
        &env,
        "POST",
        "/app/installations/2002/access_tokens",
        Some(&jwt),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{token}");
    let token = token["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ghs_"));
    let (status, _, _) = call(
        &env,
        "GET",
        "/repos/contoso/billing/actions/secrets/public-key",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        &env,
        "POST",
        "/repos/contoso/billing/issues",
        Some(&token),
        Some(json!({"title": "t"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        env.emu.github_issues("contoso/billing")[0].author,
        "keyrot-rotator[bot]"
    );

    // A JWT is no token for other routes, a token is no JWT, and bad JWTs are refused.
    let (status, _, _) = call(
        &env,
        "GET",
        "/repos/contoso/billing/actions/secrets/public-key",
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&env, "GET", "/app", Some(PAT), None).await;
    assert_eq!(status, 401);
    let (status, _, err) = call(
        &env,
        "GET",
        "/app",
        Some(&app_jwt(&env, 1001, 0, 3600)),
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("too far in the future"),
        "{err}"
    );
    let (status, _, _) = call(
        &env,
        "GET",
        "/app",
        Some(&app_jwt(&env, 1001, -3600, 540)),
        None,
    )
    .await;
    assert_eq!(status, 401, "expired");
    let mut forged = jwt.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    let (status, _, _) = call(&env, "GET", "/app", Some(&forged), None).await;
    assert_eq!(status, 401, "a bad signature");
}
