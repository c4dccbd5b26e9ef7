//! The emulated YAML pipeline runs and classic releases: parameters and queue-time variables
//! checked as the service does, the Build and release lists that find a run after a crash,
//! and the variable-group values each run and release captured when it was created.

mod common;

use base64::Engine as _;
use keyrot_emulator::{FaultRule, Seed};
use serde_json::{json, Value};

const PAT: &str = "pat-pipelines-planted";
const OTHER_PAT: &str = "pat-someone-else";

fn seed() -> Seed {
    Seed::from_toml_str(
        r#"
[[devops.identity]]
id = "5a1c0c3e-0000-4000-8000-00000000000a"
display_name = "keyrot"
unique_name = "keyrot@contoso.com"

[[devops.identity]]
display_name = "Someone"
unique_name = "someone@contoso.com"

[[devops.pat]]
token = "pat-pipelines-planted"
identity = "keyrot@contoso.com"

[[devops.pat]]
token = "pat-someone-else"
identity = "someone@contoso.com"

[[devops.organization]]
name = "contoso"

[[devops.organization.project]]
name = "payments"

[[devops.organization.project.variable_group]]
id = 1
name = "billing-prod"
variables = { BILLING_CLIENT_SECRET = { value = "old-value", secret = true } }

[[devops.organization.project.pipeline]]
id = 12
name = "billing-deploy"
parameters = ["reason"]
settable_variables = ["ROTATION_ID"]
variable_groups = ["billing-prod"]

[[devops.organization.project.release_definition]]
id = 3
name = "billing-cd"
variable_groups = ["billing-prod"]
environments = ["Dev", "Prod"]
artifacts = [{ alias = "_billing", default_version = "20260101.1" }]

[[devops.organization.project.release_definition]]
id = 4
name = "no-defaults"
artifacts = [{ alias = "_other" }]
"#,
    )
    .expect("seed")
}

fn basic(pat: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(":{pat}"))
    )
}

async fn call(
    env: &common::Env,
    method: &str,
    url: &str,
    pat: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = env.http.request(m, url).header("authorization", basic(pat));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn web(env: &common::Env, path: &str) -> String {
    format!("{}/contoso/payments/_apis/{path}", env.emu.devops_url())
}

fn vsrm(env: &common::Env, path: &str) -> String {
    format!(
        "https://vsrm.devops.localhost:{}/contoso/payments/_apis/{path}",
        env.emu.port()
    )
}

#[tokio::test]
async fn a_new_run_sees_the_new_value_and_an_old_release_keeps_the_old_one() {
    let env = common::start_with(seed()).await;
    let (s, release) = call(
        &env,
        "POST",
        &vsrm(&env, "release/releases?api-version=7.1"),
        PAT,
        Some(json!({"definitionId": 3})),
    )
    .await;
    assert_eq!(s, 200, "{release}");
    assert_eq!(release["name"], "Release-1");
    assert_eq!(release["environments"].as_array().unwrap().len(), 2);
    assert!(release["_links"]["web"]["href"]
        .as_str()
        .unwrap()
        .contains("_release?releaseId=1"));

    // The group changes (as keyrot's propagation would change it).
    let body = json!({"name": "billing-prod", "variables": {"BILLING_CLIENT_SECRET": {"isSecret": true, "value": "new-value"}},
        "variableGroupProjectReferences": [{"name": "billing-prod", "projectReference": {"name": "payments"}}]});
    let (s, _) = call(
        &env,
        "PUT",
        &format!(
            "{}/contoso/_apis/distributedtask/variablegroups/1?api-version=7.1",
            env.emu.devops_url()
        ),
        PAT,
        Some(body),
    )
    .await;
    assert_eq!(s, 200);

    let run = json!({"resources": {"repositories": {"self": {"refName": "refs/heads/release"}}}, "templateParameters": {"reason": "credential-rotation"}});
    let (s, got) = call(
        &env,
        "POST",
        &web(&env, "pipelines/12/runs?api-version=7.1"),
        PAT,
        Some(run),
    )
    .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["state"], "inProgress");
    assert_eq!(
        got["resources"]["repositories"]["self"]["refName"],
        "refs/heads/release"
    );
    assert_eq!(got["templateParameters"]["reason"], "credential-rotation");
    assert!(got["_links"]["web"]["href"]
        .as_str()
        .unwrap()
        .ends_with(&format!("_build/results?buildId={}", got["id"])));
    let (s, release2) = call(
        &env,
        "POST",
        &vsrm(&env, "release/releases?api-version=7.1"),
        PAT,
        Some(json!({"definitionId": 3})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        release2["artifacts"][0]["definitionReference"]["version"]["id"],
        "20260101.1"
    );

    let runs = env.emu.devops_runs("contoso");
    assert_eq!(runs.len(), 3);
    let value = |i: usize| {
        runs[i].variable_groups["billing-prod"]["BILLING_CLIENT_SECRET"]
            .expose()
            .to_owned()
    };
    assert!(
        runs[0].release && value(0) == "old-value",
        "the first release captured the old value"
    );
    assert!(
        !runs[1].release && value(1) == "new-value",
        "a new run sees the new value"
    );
    assert!(
        runs[2].release && value(2) == "new-value",
        "a new release sees it too"
    );
    assert_eq!(runs[1].by, "5a1c0c3e-0000-4000-8000-00000000000a");
    // No secret value in any answer.
    for v in [&release, &got, &release2] {
        assert!(!v.to_string().contains("new-value") && !v.to_string().contains("old-value"));
    }
}

#[tokio::test]
async fn undeclared_parameters_and_unsettable_variables_are_refused_by_name() {
    let env = common::start_with(seed()).await;
    let url = web(&env, "pipelines/12/runs?api-version=7.1");
    let (s, got) = call(
        &env,
        "POST",
        &url,
        PAT,
        Some(json!({"templateParameters": {"reason": "x", "colour": "red"}})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(got["message"], "Unexpected parameter 'colour'");
    let (s, got) = call(
        &env,
        "POST",
        &url,
        PAT,
        Some(json!({"variables": {"ROTATION_ID": {"value": "1"}, "Branch": {"value": "x"}}})),
    )
    .await;
    assert_eq!(s, 400);
    let message = got["message"].as_str().unwrap();
    assert!(message.starts_with("See https://aka.ms/AzPipelines/SettingVariablesAtQueueTime - You can't set the following variables (Branch)."), "{message}");
    let (s, got) = call(
        &env,
        "POST",
        &url,
        PAT,
        Some(json!({"variables": {"ROTATION_ID": {"value": "1"}}})),
    )
    .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(
        got["resources"]["repositories"]["self"]["refName"], "refs/heads/main",
        "the default branch"
    );
    let (s, _) = call(
        &env,
        "POST",
        &web(&env, "pipelines/99/runs?api-version=7.1"),
        PAT,
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(env.emu.devops_runs("contoso").len(), 1);

    let (s, got) = call(
        &env,
        "POST",
        &vsrm(&env, "release/releases?api-version=7.1"),
        PAT,
        Some(json!({"definitionId": 4})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        got["message"].as_str().unwrap().contains("VS402881")
            && got["message"].as_str().unwrap().contains("_other"),
        "{got}"
    );
    let given = json!({"definitionId": 4, "artifacts": [{"alias": "_other", "instanceReference": {"id": "7", "name": null}}]});
    let (s, got) = call(
        &env,
        "POST",
        &vsrm(&env, "release/releases?api-version=7.1"),
        PAT,
        Some(given),
    )
    .await;
    assert_eq!(s, 200, "{got}");
    let (s, _) = call(
        &env,
        "POST",
        &vsrm(&env, "release/releases?api-version=7.1"),
        PAT,
        Some(json!({"definitionId": 77})),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn runs_and_releases_are_found_by_pipeline_creator_and_time() {
    let env = common::start_with(seed()).await;
    let before = "2000-01-01T00:00:00Z";
    call(
        &env,
        "POST",
        &web(&env, "pipelines/12/runs?api-version=7.1"),
        OTHER_PAT,
        Some(json!({})),
    )
    .await;
    let (_, mine) = call(
        &env,
        "POST",
        &web(&env, "pipelines/12/runs?api-version=7.1"),
        PAT,
        Some(json!({})),
    )
    .await;
    let (s, builds) = call(&env, "GET", &web(&env, &format!("build/builds?definitions=12&requestedFor=keyrot@contoso.com&minTime={before}&api-version=7.1")), PAT, None).await;
    assert_eq!(s, 200, "{builds}");
    assert_eq!(builds["count"], 1);
    assert_eq!(builds["value"][0]["id"], mine["id"]);
    assert_eq!(
        builds["value"][0]["requestedFor"]["uniqueName"],
        "keyrot@contoso.com"
    );
    let (_, later) = call(
        &env,
        "GET",
        &web(
            &env,
            "build/builds?definitions=12&minTime=2999-01-01T00:00:00Z&api-version=7.1",
        ),
        PAT,
        None,
    )
    .await;
    assert_eq!(later["count"], 0);
    let (_, runs) = call(
        &env,
        "GET",
        &web(&env, "pipelines/12/runs?api-version=7.1"),
        PAT,
        None,
    )
    .await;
    assert_eq!(runs["count"], 2);
    let (s, one) = call(
        &env,
        "GET",
        &web(
            &env,
            &format!("pipelines/12/runs/{}?api-version=7.1", mine["id"]),
        ),
        PAT,
        None,
    )
    .await;
    assert_eq!((s, &one["id"]), (200, &mine["id"]));
    let (_, pipelines) = call(
        &env,
        "GET",
        &web(&env, "pipelines?api-version=7.1"),
        PAT,
        None,
    )
    .await;
    assert_eq!(pipelines["value"][0]["name"], "billing-deploy");

    call(
        &env,
        "POST",
        &vsrm(&env, "release/releases?api-version=7.1"),
        OTHER_PAT,
        Some(json!({"definitionId": 3})),
    )
    .await;
    let (_, mine) = call(
        &env,
        "POST",
        &vsrm(&env, "release/releases?api-version=7.1"),
        PAT,
        Some(json!({"definitionId": 3})),
    )
    .await;
    let (s, list) = call(&env, "GET", &vsrm(&env, &format!("release/releases?definitionId=3&createdBy=5a1c0c3e-0000-4000-8000-00000000000a&minCreatedTime={before}&api-version=7.1")), PAT, None).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["count"], 1);
    assert_eq!(list["value"][0]["id"], mine["id"]);
    let (_, definitions) = call(
        &env,
        "GET",
        &vsrm(&env, "release/definitions?api-version=7.1"),
        PAT,
        None,
    )
    .await;
    assert_eq!(definitions["count"], 2);
    let (s, got) = call(
        &env,
        "GET",
        &vsrm(
            &env,
            &format!("release/releases/{}?api-version=7.1", mine["id"]),
        ),
        PAT,
        None,
    )
    .await;
    assert_eq!(
        (s, &got["releaseDefinition"]["name"]),
        (200, &json!("billing-cd"))
    );

    env.emu.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(2),
        count: Some(1),
        ..FaultRule::new("devops.runs.post")
    });
    let (s, got) = call(
        &env,
        "POST",
        &web(&env, "pipelines/12/runs?api-version=7.1"),
        PAT,
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 429);
    assert!(got["message"].as_str().unwrap().starts_with("TF400733"));
    assert_eq!(
        env.emu
            .devops_runs("contoso")
            .iter()
            .filter(|r| !r.release)
            .count(),
        2,
        "a throttled run did not start"
    );
}
