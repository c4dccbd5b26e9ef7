//! The emulated Azure DevOps variable groups: the real PUT semantics, authentication answers,
//! api-versions, paging, faults, and the shape of the service's own examples.

mod common;

use base64::Engine as _;
use keyrot_emulator::{FaultRule, Seed};
use serde_json::{json, Value};

const PAT: &str = "pat-7f3e-planted";
const JOB_TOKEN: &str = "job-token-91c2-planted";
const SECRET: &str = "seeded-secret-5d1e-planted";
const OTHER_SECRET: &str = "other-secret-a0b1-planted";
const SP: &str = "aaaaaaaa-0000-0000-0000-00000000d0d0";
const SP_SECRET: &str = "sp-secret-for-devops";

fn seed() -> Seed {
    Seed::from_toml_str(&format!(
        r#"
tenant_id = "{tenant}"

[[client]]
client_id = "{SP}"
secrets = [{{ value = "{SP_SECRET}" }}]

[[devops.identity]]
display_name = "Chuck Reinhart"
unique_name = "fabfiber@outlook.com"

[[devops.identity]]
id = "5a1c0c3e-0000-4000-8000-000000000002"
display_name = "keyrot-sp"
unique_name = "keyrot-sp"
client_id = "{SP}"

[[devops.pat]]
token = "{PAT}"
identity = "fabfiber@outlook.com"

[[devops.job_token]]
token = "{JOB_TOKEN}"
identity = "keyrot-sp"

[[devops.organization]]
name = "fabrikam"

[[devops.organization.project]]
name = "VGDemo"

[[devops.organization.project.variable_group]]
id = 1
name = "TestVariableGroup1"
description = "Updated variable group"
variables = {{ key1 = {{ value = "value1" }}, key2 = {{ value = "{SECRET}", secret = true }}, Other = {{ value = "{OTHER_SECRET}", secret = true }} }}

[[devops.organization.project.variable_group]]
id = 2
name = "TestVariableGroup2"
description = "A test variable group"
variables = {{ key1 = {{ value = "value1" }} }}

[[devops.organization.project.variable_group]]
id = 3
name = "linked"
type = "AzureKeyVault"
vault = "kv1"
variables = {{ db-password = {{ secret = true }} }}

[[devops.organization.project]]
name = "Other Project"

[[devops.organization.project.variable_group]]
name = "elsewhere"
"#,
        tenant = common::TENANT
    ))
    .expect("seed")
}

fn basic(pat: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("anyone:{pat}"))
    )
}

struct Ado {
    env: common::Env,
}

impl Ado {
    async fn start() -> Ado {
        Ado {
            env: common::start_with(seed()).await,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/fabrikam{path}", self.env.emu.devops_url())
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.env.http.request(m, self.url(path));
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let s = r.status().as_u16();
        let h = r.headers().clone();
        (s, h, r.text().await.unwrap())
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (s, _, text) = self.call(method, path, Some(&basic(PAT)), body).await;
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn group(&self, name: &str) -> keyrot_emulator::DevopsGroupView {
        self.env
            .emu
            .devops_variable_group("fabrikam", name)
            .expect("group")
    }
}

const GROUPS: &str = "/VGDemo/_apis/distributedtask/variablegroups";
const V: &str = "api-version=7.1";

fn refs() -> Value {
    json!([{"name": "TestVariableGroup1", "description": "", "projectReference": {"name": "VGDemo"}}])
}

/// Every key of `fixture` is in `actual` with the same JSON kind (null stays null), objects
/// and arrays compared recursively (arrays element by element over the shorter).
fn assert_shape(fixture: &Value, actual: &Value, at: &str) {
    match (fixture, actual) {
        (Value::Object(f), Value::Object(a)) => {
            for (k, fv) in f {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} missing in {actual}"));
                assert_shape(fv, av, &format!("{at}.{k}"));
            }
        }
        (Value::Array(f), Value::Array(a)) => {
            assert!(!a.is_empty() || f.is_empty(), "{at}: empty array");
            for (i, (fv, av)) in f.iter().zip(a).enumerate() {
                assert_shape(fv, av, &format!("{at}[{i}]"));
            }
        }
        (Value::Null, Value::Null)
        | (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (f, a) => panic!("{at}: fixture has {f}, emulator has {a}"),
    }
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "GET_VariableGroup" => {
            include_str!("../../tests/fixtures/azuredevops/GET_VariableGroup.json")
        }
        "GET_VariableGroupsByGroupName" => {
            include_str!("../../tests/fixtures/azuredevops/GET_VariableGroupsByGroupName.json")
        }
        "PUT_UpdateVariableGroup" => {
            include_str!("../../tests/fixtures/azuredevops/PUT_UpdateVariableGroup.json")
        }
        "POST_CreateVariableGroup" => {
            include_str!("../../tests/fixtures/azuredevops/POST_CreateVariableGroup.json")
        }
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn answers_have_the_shape_of_the_service_examples() {
    let ado = Ado::start().await;
    let (s, got) = ado.json("GET", &format!("{GROUPS}/1?{V}"), None).await;
    assert_eq!(s, 200, "{got}");
    let f = fixture("GET_VariableGroup");
    assert_shape(&f["responses"]["200"]["body"], &got, "get");
    assert_eq!(
        got["variables"]["key2"],
        json!({"value": null, "isSecret": true})
    );

    let (s, got) = ado
        .json(
            "GET",
            &format!("{GROUPS}?groupName=Test*&queryOrder=IdDescending&{V}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{got}");
    let f = fixture("GET_VariableGroupsByGroupName");
    assert_shape(&f["responses"]["200"]["body"], &got, "list");
    assert_eq!(got["count"], 2);
    assert_eq!(got["value"][0]["id"], 2, "idDescending");

    // The 7.1 PUT and POST are organization-level and need project references.
    let f = fixture("PUT_UpdateVariableGroup");
    let mut body = f["parameters"]["body"].clone();
    body["variableGroupProjectReferences"] = refs();
    let (s, got) = ado
        .json(
            "PUT",
            &format!("/_apis/distributedtask/variablegroups/1?{V}"),
            Some(body),
        )
        .await;
    assert_eq!(s, 200, "{got}");
    assert_shape(&f["responses"]["200"]["body"], &got, "put");

    let f = fixture("POST_CreateVariableGroup");
    let mut body = f["parameters"]["body"].clone();
    body["name"] = json!("Created");
    body["variableGroupProjectReferences"] =
        json!([{"name": "Created", "projectReference": {"name": "VGDemo"}}]);
    let (s, got) = ado
        .json(
            "POST",
            &format!("/_apis/distributedtask/variablegroups?{V}"),
            Some(body),
        )
        .await;
    assert_eq!(s, 200, "{got}");
    assert_shape(&f["responses"]["200"]["body"], &got, "post");
    assert_eq!(got["id"], 5, "the next id in the organization");
    let created = ado.group("Created");
    assert_eq!(created.variables["key2"].value.expose(), "value2");
}

#[tokio::test]
async fn put_deletes_unsent_keeps_null_secrets_and_overwrites_strings() {
    let ado = Ado::start().await;
    let before = ado.group("TestVariableGroup1");
    let body = json!({
        "name": "TestVariableGroup1", "type": "Vsts", "description": "d",
        "variableGroupProjectReferences": refs(),
        // `KEY2` differs in case: the same variable; `Other` is not sent: deleted.
        "variables": {"key1": {"value": "changed"}, "KEY2": {"isSecret": true}, "fresh": {"isSecret": true, "value": "new-secret"}},
    });
    let (s, got) = ado
        .json(
            "PUT",
            &format!("/_apis/distributedtask/variablegroups/1?{V}"),
            Some(body),
        )
        .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(
        got["variables"]["fresh"],
        json!({"value": null, "isSecret": true})
    );
    let after = ado.group("TestVariableGroup1");
    let names: Vec<&str> = after.variables.keys().map(String::as_str).collect();
    assert_eq!(names, ["KEY2", "fresh", "key1"]);
    assert_eq!(
        after.variables["KEY2"].value.expose(),
        SECRET,
        "a null secret keeps its value"
    );
    assert!(after.variables["KEY2"].secret);
    assert_eq!(after.variables["fresh"].value.expose(), "new-secret");
    assert_eq!(after.variables["key1"].value.expose(), "changed");
    assert_eq!(after.puts, before.puts + 1);
    assert!(after.modified_on >= before.modified_on);
    assert_eq!(
        after.modified_by,
        ado.env
            .emu
            .devops_variable_group("fabrikam", "1")
            .unwrap()
            .modified_by
    );

    // A string overwrites a secret, even the placeholder some clients echo.
    let body = json!({
        "name": "TestVariableGroup1", "variableGroupProjectReferences": refs(),
        "variables": {"KEY2": {"isSecret": true, "value": ""}},
    });
    let (s, _) = ado
        .json(
            "PUT",
            &format!("/_apis/distributedtask/variablegroups/1?{V}"),
            Some(body),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(ado.group("1").variables["KEY2"].value.expose(), "");
}

#[tokio::test]
async fn put_requires_project_references_and_known_groups() {
    let ado = Ado::start().await;
    let path = format!("/_apis/distributedtask/variablegroups/1?{V}");
    for refs in [
        json!(null),
        json!([]),
        json!([{"name": "x", "projectReference": {"name": "NoSuchProject"}}]),
        json!([{"projectReference": {"name": "VGDemo"}}]),
    ] {
        let body = json!({"name": "TestVariableGroup1", "variables": {}, "variableGroupProjectReferences": refs});
        let (s, got) = ado.json("PUT", &path, Some(body)).await;
        assert_eq!(s, 400, "{got}");
        assert_eq!(
            got["message"],
            "Project information name is not valid for variable group."
        );
        for k in [
            "$id",
            "innerException",
            "typeName",
            "typeKey",
            "errorCode",
            "eventId",
        ] {
            assert!(got.get(k).is_some(), "{k} in {got}");
        }
    }
    assert_eq!(ado.group("1").puts, 0, "a refused PUT changes nothing");
    assert_eq!(ado.group("1").variables.len(), 3);

    let body = json!({"name": "x", "variableGroupProjectReferences": refs()});
    let (s, got) = ado
        .json(
            "PUT",
            &format!("/_apis/distributedtask/variablegroups/99?{V}"),
            Some(body),
        )
        .await;
    assert_eq!(s, 404, "{got}");
    assert_eq!(got["typeKey"], "VariableGroupNotFoundException");
    let (s, _) = ado.json("GET", &format!("{GROUPS}/99?{V}"), None).await;
    assert_eq!(s, 404);
    // A group of another project is not found through this one.
    let other = ado.group("elsewhere").id;
    let (s, _) = ado
        .json("GET", &format!("{GROUPS}/{other}?{V}"), None)
        .await;
    assert_eq!(s, 404);
    let (s, got) = ado
        .json(
            "GET",
            &format!("/Other%20Project/_apis/distributedtask/variablegroups/{other}?{V}"),
            None,
        )
        .await;
    assert_eq!((s, got["name"].as_str()), (200, Some("elsewhere")));
}

#[tokio::test]
async fn bad_credentials_get_the_sign_in_page_or_tf400813() {
    let ado = Ado::start().await;
    let path = format!("{GROUPS}?{V}");
    for auth in [
        None,
        Some(basic("wrong")),
        Some("Bearer not-a-token".to_owned()),
    ] {
        let (s, h, body) = ado.call("GET", &path, auth.as_deref(), None).await;
        assert_eq!(s, 203);
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(body.contains("Sign In"), "{body}");
        let (s, _, _) = ado
            .call(
                "PUT",
                &format!("/_apis/distributedtask/variablegroups/1?{V}"),
                auth.as_deref(),
                Some(json!({})),
            )
            .await;
        assert_eq!(s, 203);
        let (s, _, body) = ado
            .call("PATCH", &path, auth.as_deref(), Some(json!([])))
            .await;
        assert_eq!(s, 401);
        assert!(body.contains("TF400813"), "{body}");
    }
    // The job token and an Entra token for Azure DevOps both work; a Key Vault token does not.
    let (s, _, _) = ado
        .call("GET", &path, Some(&format!("Bearer {JOB_TOKEN}")), None)
        .await;
    assert_eq!(s, 200);
    let token = ado
        .env
        .token_for(
            SP,
            SP_SECRET,
            "499b84ac-1321-427f-aa17-267ca6975798/.default",
        )
        .await;
    let (s, _, _) = ado
        .call("GET", &path, Some(&format!("Bearer {token}")), None)
        .await;
    assert_eq!(s, 200);
    let body = json!({"name": "TestVariableGroup2", "variableGroupProjectReferences": [{"name": "TestVariableGroup2", "projectReference": {"name": "VGDemo"}}]});
    let (s, _, _) = ado
        .call(
            "PUT",
            &format!("/_apis/distributedtask/variablegroups/2?{V}"),
            Some(&format!("Bearer {token}")),
            Some(body),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        ado.group("2").modified_by,
        "5a1c0c3e-0000-4000-8000-000000000002"
    );
    let kv = ado.env.token_for(SP, SP_SECRET, common::SCOPE).await;
    let (s, _, _) = ado
        .call("GET", &path, Some(&format!("Bearer {kv}")), None)
        .await;
    assert_eq!(s, 203);
}

#[tokio::test]
async fn api_versions_paging_and_filters() {
    let ado = Ado::start().await;
    for v in ["7.1", "7.1-preview", "7.1-preview.2"] {
        let (s, _) = ado
            .json("GET", &format!("{GROUPS}?api-version={v}"), None)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, _, _) = ado.call("GET", GROUPS, Some(&basic(PAT)), None).await;
    assert_eq!(s, 200, "a GET without api-version gets the latest");
    for v in ["6.0", "7.2-preview.1", "7.1-beta", "banana"] {
        let (s, got) = ado
            .json("GET", &format!("{GROUPS}?api-version={v}"), None)
            .await;
        assert_eq!(s, 400, "{v}: {got}");
        assert!(got["message"].as_str().unwrap().contains(v), "{got}");
    }
    // In the Accept header, as Microsoft's Python client sends it.
    let r = ado
        .env
        .http
        .get(ado.url(GROUPS))
        .header("authorization", basic(PAT))
        .header("accept", "application/json;api-version=7.1-preview.2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let (s, h, body) = ado
        .call(
            "GET",
            &format!("{GROUPS}?$top=2&queryOrder=idAscending&{V}"),
            Some(&basic(PAT)),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let page: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<u64> = page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);
    let next = h["x-ms-continuationtoken"].to_str().unwrap().to_owned();
    let (_, h, body) = ado
        .call(
            "GET",
            &format!("{GROUPS}?$top=2&queryOrder=idAscending&continuationToken={next}&{V}"),
            Some(&basic(PAT)),
            None,
        )
        .await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["value"][0]["id"], 3);
    assert_eq!(page["count"], 1);
    assert!(h.get("x-ms-continuationtoken").is_none());

    let (_, got) = ado
        .json("GET", &format!("{GROUPS}?groupIds=3,1&{V}"), None)
        .await;
    assert_eq!(got["count"], 2);
    let (_, got) = ado
        .json("GET", &format!("{GROUPS}?groupName=LINK*&{V}"), None)
        .await;
    assert_eq!(got["value"][0]["type"], "AzureKeyVault");
    assert_eq!(got["value"][0]["providerData"]["vault"], "kv1");
}

#[tokio::test]
async fn faults_answer_in_the_service_shape_and_secrets_stay_inside() {
    let ado = Ado::start().await;
    ado.env.emu.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(3),
        count: Some(1),
        ..FaultRule::new("devops.variablegroups.get")
    });
    let (s, h, body) = ado
        .call("GET", &format!("{GROUPS}/1?{V}"), Some(&basic(PAT)), None)
        .await;
    assert_eq!(s, 429);
    assert_eq!(h["retry-after"], "3");
    let got: Value = serde_json::from_str(&body).unwrap();
    assert!(got["message"].as_str().unwrap().starts_with("TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource"));
    let (s, _) = ado.json("GET", &format!("{GROUPS}/1?{V}"), None).await;
    assert_eq!(s, 200, "the fault was used up");
    ado.env.emu.add_fault(FaultRule {
        status: Some(500),
        count: Some(1),
        ..FaultRule::new("devops.variablegroups.put")
    });
    let (s, got) = ado
        .json(
            "PUT",
            &format!("/_apis/distributedtask/variablegroups/1?{V}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 500);
    assert_eq!(got["$id"], "1");

    // Every answer so far, and the list, never carry a seeded secret value.
    let (_, _, list) = ado
        .call("GET", &format!("{GROUPS}?{V}"), Some(&basic(PAT)), None)
        .await;
    assert!(!list.contains(SECRET) && !list.contains(OTHER_SECRET));
    let routes: Vec<String> = ado
        .env
        .emu
        .requests()
        .iter()
        .map(|r| r.route.clone())
        .collect();
    assert!(
        routes.contains(&"devops.variablegroups.list".to_owned()),
        "{routes:?}"
    );

    // The admin route shows values, for test suites in other languages.
    let admin: Value = ado
        .env
        .http
        .get(format!("{}/devops", ado.env.emu.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let group = &admin["fabrikam"]["variableGroups"][0];
    assert_eq!(group["variables"]["key2"]["value"], SECRET);
}

#[test]
fn seed_mistakes_are_named() {
    for (bad, says) in [
        ("[[devops.pat]]\ntoken = \"t\"\nidentity = \"ghost\"\n", "ghost"),
        ("[[devops.organization]]\nname = \"o\"\n[[devops.organization.project]]\nname = \"p\"\n[[devops.organization.project.variable_group]]\nname = \"g\"\nvault = \"kv\"\n", "vault"),
        ("[[devops.organization]]\nname = \"o\"\n[[devops.organization.project]]\nname = \"p\"\nsurprise = 1\n", "surprise"),
    ] {
        let e = Seed::from_toml_str(bad).unwrap_err();
        assert!(format!("{e:#}").contains(says), "{e:#}");
    }
}
