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

[[github.repository.environment]]
name = "prod/eu"
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
