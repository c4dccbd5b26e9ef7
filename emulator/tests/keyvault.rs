//! Key Vault data plane behaviour, checked over real HTTPS.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn challenge_is_sent_before_the_body_is_read() {
    let env = start().await;
    let url = format!("{}/secrets/x?api-version=7.5", env.vault("kv1"));
    let r = env
        .http
        .put(&url)
        .header("x-ms-client-request-id", "cid-1")
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(
        www,
        format!(
            "Bearer authorization=\"https://login.localhost:{}/{TENANT}\", resource=\"https://vault.localhost\"",
            env.emu.port()
        )
    );
    assert_eq!(r.headers()["x-ms-client-request-id"], "cid-1");
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert!(r.headers().contains_key("x-ms-request-id"));
    assert!(r.headers().contains_key("x-ms-keyvault-service-version"));
    assert_eq!(r.headers()["x-ms-keyvault-region"], "westeurope");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})
    );
    let reqs = env.emu.requests();
    let last = reqs.last().unwrap();
    assert_eq!(last.route, "challenge");
    assert_eq!(last.status, 401);

    // A challenged request with a body still gets the 401 (body not needed).
    let r = env
        .http
        .put(&url)
        .json(&json!({"value": "v"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // and the secret was not created
    let t = env.token().await;
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{}/secrets/x?api-version=7.5", env.vault("kv1")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn set_get_latest_and_versions() {
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");
    let (s, h, v1) = env
        .kv(
            "PUT",
            &format!("{base}/secrets/app-pw?api-version=7.5"),
            Some(&t),
            Some(json!({"value": "one", "contentType": "text/plain", "attributes": {"exp": 32503680000i64}, "tags": {"a": "b"}})),
        )
        .await;
    assert_eq!(s, 200, "{v1}");
    assert_eq!(h["content-type"], "application/json; charset=utf-8");
    assert_eq!(v1["value"], "one");
    assert_eq!(v1["contentType"], "text/plain");
    assert_eq!(v1["tags"], json!({"a": "b"}));
    assert_eq!(v1["attributes"]["exp"], 32503680000i64);
    assert_eq!(v1["attributes"]["enabled"], true);
    assert_eq!(
        v1["attributes"]["recoveryLevel"],
        "CustomizedRecoverable+Purgeable"
    );
    assert_eq!(v1["attributes"]["recoverableDays"], 7);
    let id1 = v1["id"].as_str().unwrap().to_owned();
    let ver1 = id1.rsplit('/').next().unwrap().to_owned();
    assert_eq!(ver1.len(), 32);
    assert!(id1.starts_with(&format!("{base}/secrets/app-pw/")));

    let (_, _, v2) = env
        .kv(
            "PUT",
            &format!("{base}/secrets/app-pw?api-version=7.5"),
            Some(&t),
            Some(json!({"value": "two"})),
        )
        .await;
    for path in ["secrets/app-pw", "secrets/app-pw/", "secrets/APP-PW"] {
        let (s, _, got) = env
            .kv(
                "GET",
                &format!("{base}/{path}?api-version=7.5"),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(got["value"], "two", "{path}");
        assert_eq!(got["id"], v2["id"]);
    }
    let (s, _, old) = env
        .kv(
            "GET",
            &format!("{base}/secrets/app-pw/{ver1}?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(old["value"], "one");

    // PATCH: no value in the response, attributes updated.
    let (s, _, upd) = env
        .kv(
            "PATCH",
            &format!("{base}/secrets/app-pw/{ver1}?api-version=7.5"),
            Some(&t),
            Some(json!({"attributes": {"enabled": false}, "tags": {"x": "y"}})),
        )
        .await;
    assert_eq!(s, 200, "{upd}");
    assert!(upd.get("value").is_none());
    assert_eq!(upd["attributes"]["enabled"], false);
    assert_eq!(upd["tags"], json!({"x": "y"}));

    let (s, _, versions) = env
        .kv(
            "GET",
            &format!("{base}/secrets/app-pw/versions?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let items = versions["value"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i.get("value").is_none()));
    assert_eq!(versions["nextLink"], Value::Null);

    // Missing version.
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/secrets/app-pw/0123456789abcdef0123456789abcdef?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "SecretNotFound");

    // Seeded multi-version secret: latest is the newest.
    let (_, _, m) = env
        .kv(
            "GET",
            &format!("{base}/secrets/multi?api-version=2025-07-01"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(m["value"], "new");
}

#[tokio::test]
async fn paging_with_maxresults_one_has_empty_pages() {
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");
    for n in ["p-a", "p-b", "p-c"] {
        env.kv(
            "PUT",
            &format!("{base}/secrets/{n}?api-version=7.5"),
            Some(&t),
            Some(json!({"value": "v"})),
        )
        .await;
    }
    let (s, _, _) = env
        .kv(
            "DELETE",
            &format!("{base}/secrets/p-b?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);

    let mut url = format!("{base}/secrets?api-version=7.5&maxresults=1");
    let mut names = Vec::new();
    let mut empty_pages = 0;
    let mut pages = 0;
    loop {
        let (s, _, page) = env.kv("GET", &url, Some(&t), None).await;
        assert_eq!(s, 200, "{page}");
        pages += 1;
        let items = page["value"].as_array().unwrap();
        assert!(items.len() <= 1);
        if items.is_empty() {
            empty_pages += 1;
        }
        for i in items {
            assert!(i.get("value").is_none(), "list items never carry value");
            names.push(
                i["id"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        }
        match &page["nextLink"] {
            Value::Null => break,
            Value::String(next) => {
                assert!(
                    next.starts_with(&format!(
                        "https://kv1.vault.localhost:{}/secrets?api-version=7.5&$skiptoken=",
                        env.emu.port()
                    )),
                    "{next}"
                );
                assert!(next.ends_with("&maxresults=1"), "{next}");
                url = next.clone();
            }
            other => panic!("nextLink {other}"),
        }
        assert!(pages < 20);
    }
    assert!(page_has_key(&names, "p-a") && page_has_key(&names, "p-c"));
    assert!(!page_has_key(&names, "p-b"));
    assert!(
        empty_pages >= 1,
        "the soft-deleted row yields an empty page"
    );
    // No duplicates.
    let mut sorted = names.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());

    for bad in ["0", "26", "abc"] {
        let (s, _, e) = env
            .kv(
                "GET",
                &format!("{base}/secrets?api-version=7.5&maxresults={bad}"),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(s, 400);
        assert_eq!(e["error"]["code"], "BadParameter");
    }
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/secrets?api-version=7.5&$skiptoken=garbage"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 400, "{e}");
}

fn page_has_key(names: &[String], n: &str) -> bool {
    names.iter().any(|x| x == n)
}

#[tokio::test]
async fn disabled_secret_is_forbidden_and_missing_is_404() {
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/secrets/disabled-one/?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        e,
        json!({"error": {"code": "Forbidden", "message": "Operation get is not allowed on a disabled secret.", "innererror": {"code": "SecretDisabled"}}})
    );
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/secrets/nothing-here?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        e,
        json!({"error": {"code": "SecretNotFound", "message": "A secret with (name/id) nothing-here was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"}})
    );
    // DELETE of a missing secret is the same 404.
    let (s, _, e2) = env
        .kv(
            "DELETE",
            &format!("{base}/secrets/nothing-here?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(e2, e);
    // Expired secrets are still readable.
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{base}/secrets/seeded?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    // Invalid names.
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/secrets/bad_name?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["code"], "BadParameter");
}

#[tokio::test]
async fn api_version_is_required_and_checked() {
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");
    for v in [
        "7.4",
        "7.5",
        "7.6",
        "2025-07-01",
        "2026-04-01",
        "7.4-preview.1",
    ] {
        let (s, _, _) = env
            .kv(
                "GET",
                &format!("{base}/secrets?api-version={v}"),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/secrets?api-version=9.9"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        e,
        json!({"error": {"code": "BadParameter", "message": "The specified version (9.9) is not recognized. Consider using the latest supported version (2025-07-01)."}})
    );
    let (s, _, e) = env
        .kv("GET", &format!("{base}/secrets"), Some(&t), None)
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["code"], "BadParameter");
}

#[tokio::test]
async fn access_policy_denials_name_the_caller() {
    let env = start().await;
    let limited = env.token_for(LIMITED, LIMITED_SECRET, SCOPE).await;
    let base = env.vault("locked");
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{base}/secrets/s1?api-version=7.5"),
            Some(&limited),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/secrets?api-version=7.5"),
            Some(&limited),
            None,
        )
        .await;
    assert_eq!(s, 403);
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!(
            "The user, group or application 'appid={LIMITED};oid="
        )),
        "{msg}"
    );
    assert!(msg.contains(&format!(";iss=https://sts.windows.net/{TENANT}/' does not have secrets list permission on key vault 'locked;location=northeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287")), "{msg}");
    assert_eq!(e["error"]["code"], "Forbidden");
    assert_eq!(e["error"]["innererror"]["code"], "AccessDenied");

    let app = env.token().await;
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{base}/secrets?api-version=7.5"),
            Some(&app),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/keys?api-version=7.5"),
            Some(&app),
            None,
        )
        .await;
    assert_eq!(s, 403);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not have keys list permission"));
}

#[tokio::test]
async fn tokens_are_validated() {
    let env = start().await;
    let base = env.vault("kv1");
    let url = format!("{base}/secrets?api-version=7.5");
    let (s, h, e) = env.kv("GET", &url, Some("not-a-jwt"), None).await;
    assert_eq!(s, 401);
    assert!(h.contains_key("www-authenticate"));
    assert_eq!(e["error"]["code"], "Unauthorized");
    // A token for another resource is issued but refused by the vault.
    let wrong = env
        .token_for(APP, APP_SECRET, "https://vault.azure.net/.default")
        .await;
    let (s, _, e) = env.kv("GET", &url, Some(&wrong), None).await;
    assert_eq!(s, 401);
    assert_eq!(
        e["error"]["message"],
        "AKV10022: Invalid audience. Expected https://vault.localhost, found: https://vault.azure.net."
    );
}

#[tokio::test]
async fn soft_delete_recover_purge() {
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");
    let (s, _, d) = env
        .kv(
            "DELETE",
            &format!("{base}/secrets/seeded?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(d["recoveryId"], format!("{base}/deletedsecrets/seeded"));
    let deleted = d["deletedDate"].as_i64().unwrap();
    assert_eq!(
        d["scheduledPurgeDate"].as_i64().unwrap(),
        deleted + 7 * 86400
    );
    assert!(d.get("value").is_none());

    let (s, _, e) = env
        .kv(
            "PUT",
            &format!("{base}/secrets/seeded?api-version=7.5"),
            Some(&t),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"]["code"], "Conflict");
    assert_eq!(
        e["error"]["innererror"]["code"],
        "ObjectIsDeletedButRecoverable"
    );

    let (s, _, g) = env
        .kv(
            "GET",
            &format!("{base}/deletedsecrets/seeded?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(g["recoveryId"], d["recoveryId"]);
    let (s, _, l) = env
        .kv(
            "GET",
            &format!("{base}/deletedsecrets?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(l["value"].as_array().unwrap().len(), 1);
    assert_eq!(l["value"][0]["id"], format!("{base}/secrets/seeded"));

    let (s, _, r) = env
        .kv(
            "POST",
            &format!("{base}/deletedsecrets/seeded/recover?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(r.get("value").is_none());
    let (s, _, got) = env
        .kv(
            "GET",
            &format!("{base}/secrets/seeded?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(got["value"], "seeded-value");

    env.kv(
        "DELETE",
        &format!("{base}/secrets/seeded?api-version=7.5"),
        Some(&t),
        None,
    )
    .await;
    let (s, _, body) = env
        .kv(
            "DELETE",
            &format!("{base}/deletedsecrets/seeded?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(body, Value::Null);
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/deletedsecrets/seeded?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "SecretNotFound");
    let (s, _, _) = env
        .kv(
            "PUT",
            &format!("{base}/secrets/seeded?api-version=7.5"),
            Some(&t),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(s, 200);

    let (s, _, b) = env
        .kv(
            "POST",
            &format!("{base}/secrets/seeded/backup?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(b["value"].as_str().unwrap().len() > 20);
}

#[tokio::test]
async fn certificates_and_keys() {
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");
    let (s, _, l) = env
        .kv(
            "GET",
            &format!("{base}/certificates?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let c = &l["value"][0];
    assert_eq!(c["id"], format!("{base}/certificates/tls-cert"));
    assert!(c["x5t"].is_string());
    assert!(c["attributes"]["exp"].is_i64());
    let (s, _, full) = env
        .kv(
            "GET",
            &format!("{base}/certificates/tls-cert/?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(full["cer"].is_string());
    assert!(full["kid"].as_str().unwrap().contains("/keys/tls-cert/"));
    assert_eq!(full["policy"]["x509_props"]["subject"], "CN=tls-cert");
    let (s, _, v) = env
        .kv(
            "GET",
            &format!("{base}/certificates/tls-cert/versions?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 1);

    let (s, _, l) = env
        .kv(
            "GET",
            &format!("{base}/keys?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(l["value"][0]["kid"], format!("{base}/keys/signing-key"));
    let (s, _, k) = env
        .kv(
            "GET",
            &format!("{base}/keys/signing-key?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(k["key"]["kty"], "EC");
    assert!(k["key"]["kid"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{base}/keys/signing-key/")));
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/keys/none?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "KeyNotFound");
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{base}/certificates/none?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "CertificateNotFound");
}

#[tokio::test]
async fn unknown_vault_is_a_named_404() {
    let env = start().await;
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{}/secrets?api-version=7.5", env.vault("nope")),
            None,
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert!(e["error"]["message"].as_str().unwrap().contains("'nope'"));
}

#[tokio::test]
async fn demo_seed_starts_and_demo_client_can_list() {
    let env = start_with(keyrot_emulator::Seed::demo()).await;
    let t = env
        .token_for(
            keyrot_emulator::DEMO_CLIENT_ID,
            keyrot_emulator::DEMO_CLIENT_SECRET,
            SCOPE,
        )
        .await;
    for (kind, min) in [("secrets", 8), ("certificates", 3), ("keys", 3)] {
        let (s, _, l) = env
            .kv(
                "GET",
                &format!("{}/{kind}?api-version=7.5", env.vault("demo")),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(s, 200);
        assert!(l["value"].as_array().unwrap().len() >= min, "{kind}: {l}");
    }
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{}/secrets?api-version=7.5", env.vault("payments")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn descending_version_ids_sort_against_the_write_order_and_the_last_write_is_served() {
    let env = start().await;
    let t = env.token().await;
    let base = env.vault("kv1");
    // Switched on through the admin API, as a test suite in another language would.
    let r = env
        .http
        .put(format!("{}/keyvault", env.emu.admin_url()))
        .json(&json!({"version_ids": "descending"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bad = env
        .http
        .put(format!("{}/keyvault", env.emu.admin_url()))
        .json(&json!({"version_ids": "sideways"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let mut written = Vec::new();
    for value in ["one", "two", "three", "four"] {
        let (s, _, v) = env
            .kv(
                "PUT",
                &format!("{base}/secrets/same-second?api-version=7.5"),
                Some(&t),
                Some(json!({"value": value})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let id = v["id"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        written.push((id, v["attributes"]["created"].as_i64().unwrap()));
    }
    // Every new id sorts before all earlier ones.
    for pair in written.windows(2) {
        assert!(pair[1].0 < pair[0].0, "{written:?}");
    }
    // The served version is the last written, whatever its id and created.
    let (s, _, current) = env
        .kv(
            "GET",
            &format!("{base}/secrets/same-second?api-version=7.5"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(current["value"], "four");
    assert!(current["id"].as_str().unwrap().ends_with(&written[3].0));
    // The emulator's own view lists them in write order.
    let versions: Vec<String> = env
        .emu
        .secret_versions("kv1", "same-second")
        .into_iter()
        .map(|v| v.version)
        .collect();
    let ids: Vec<String> = written.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(versions, ids);

    // Back to random ids from the seed's default.
    env.emu.set_version_ids(keyrot_emulator::VersionIds::Random);
    let seeded =
        keyrot_emulator::Seed::from_toml_str("[keyvault]\nversion_ids = \"descending\"\n").unwrap();
    assert_eq!(
        seeded.keyvault.version_ids,
        keyrot_emulator::VersionIds::Descending
    );
    assert!(keyrot_emulator::Seed::from_toml_str("[keyvault]\nversion_ids = \"up\"\n").is_err());
}
