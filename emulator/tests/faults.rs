//! Fault injection through the Rust API, the admin HTTP API and the seed.

mod common;

use std::time::{Duration, Instant};

use common::*;
use keyrot_emulator::{FaultBody, FaultRule, Seed};
use serde_json::{json, Value};

fn rule(route: &str) -> FaultRule {
    FaultRule::new(route)
}

#[tokio::test]
async fn throttling_with_retry_after_then_recovery() {
    let env = start().await;
    let t = env.token().await;
    let url = format!("{}/secrets?api-version=7.5", env.vault("kv1"));
    env.emu.add_fault(FaultRule {
        status: Some(429),
        retry_after: Some(2),
        count: Some(2),
        ..rule("secrets.list")
    });
    for _ in 0..2 {
        let (s, h, e) = env.kv("GET", &url, Some(&t), None).await;
        assert_eq!(s, 429);
        assert_eq!(h["retry-after"], "2");
        assert_eq!(e["error"]["code"], "Throttled");
        assert!(h.contains_key("x-ms-request-id"));
    }
    let (s, _, _) = env.kv("GET", &url, Some(&t), None).await;
    assert_eq!(s, 200, "count expired");
    let statuses: Vec<u16> = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.route == "secrets.list")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![429, 429, 200]);
}

#[tokio::test]
async fn service_unavailable_only_on_matching_vault() {
    let env = start().await;
    let t = env.token().await;
    env.emu.add_fault(FaultRule {
        status: Some(503),
        vault: Some("locked".into()),
        ..rule("*")
    });
    let (s, _, e) = env
        .kv(
            "GET",
            &format!("{}/secrets/s1?api-version=7.5", env.vault("locked")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 503);
    assert_eq!(e["error"]["code"], "ServiceUnavailable");
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{}/secrets?api-version=7.5", env.vault("kv1")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
    env.emu.clear_faults();
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{}/secrets/s1?api-version=7.5", env.vault("locked")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn dropped_connection_html_and_truncated_bodies() {
    let env = start().await;
    let t = env.token().await;
    let url = format!("{}/secrets/seeded?api-version=7.5", env.vault("kv1"));

    env.emu.add_fault(FaultRule {
        drop: true,
        count: Some(1),
        ..rule("secrets.get")
    });
    let err = env.http.get(&url).bearer_auth(&t).send().await.unwrap_err();
    assert!(!err.is_status(), "{err}");
    assert_eq!(env.emu.requests().last().unwrap().status, 0);

    env.emu.add_fault(FaultRule {
        body: Some(FaultBody::Html),
        count: Some(1),
        ..rule("secrets.get")
    });
    let r = env.http.get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("<html>"));

    env.emu.add_fault(FaultRule {
        body: Some(FaultBody::Truncated),
        count: Some(1),
        ..rule("secrets.get")
    });
    let r = env.http.get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("{\"value\":"), "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err());

    let (s, _, v) = env.kv("GET", &url, Some(&t), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["value"], "seeded-value");
}

#[tokio::test]
async fn latency_and_token_faults() {
    let env = start().await;
    env.emu.add_fault(FaultRule {
        latency_ms: Some(300),
        count: Some(1),
        ..rule("token")
    });
    let started = Instant::now();
    let _ = env.token().await;
    assert!(started.elapsed() >= Duration::from_millis(300));

    env.emu.add_fault(FaultRule {
        status: Some(503),
        count: Some(1),
        ..rule("token")
    });
    let (s, v) = env
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
            ("scope", SCOPE),
        ])
        .await;
    assert_eq!(s, 503);
    assert!(v["error"].is_string());
}

#[tokio::test]
async fn admin_http_api() {
    let env = start().await;
    let admin = env.emu.admin_url();
    let r = env
        .http
        .post(format!("{admin}/faults"))
        .json(&json!({"route": "secrets.get", "status": 500, "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = env
        .http
        .post(format!("{admin}/faults"))
        .json(&json!({"route": "x", "bogus": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let t = env.token().await;
    let (s, _, _) = env
        .kv(
            "GET",
            &format!("{}/secrets/seeded?api-version=7.5", env.vault("kv1")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 500);

    let reqs: Vec<Value> = env
        .http
        .get(format!("{admin}/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reqs.len(), 2, "admin calls are not recorded: {reqs:?}");
    assert_eq!(reqs[0]["route"], "token");
    assert_eq!(reqs[1]["route"], "secrets.get");
    assert_eq!(reqs[1]["status"], 500);
    let r = env
        .http
        .delete(format!("{admin}/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(env.emu.requests().is_empty());
    let r = env
        .http
        .delete(format!("{admin}/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let info: Value = env
        .http
        .get(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["port"], env.emu.port());
    // The recorded request's Debug output hides the bearer token.
    let (_, _, _) = env
        .kv(
            "GET",
            &format!("{}/secrets?api-version=7.5", env.vault("kv1")),
            Some(&t),
            None,
        )
        .await;
    let dbg = format!("{:?}", env.emu.requests());
    assert!(!dbg.contains(&t));
}

#[tokio::test]
async fn faults_from_the_seed() {
    let toml = format!(
        "{}\n[[fault]]\nroute = \"secrets.list\"\nstatus = 429\nretry_after = 1\ncount = 1\n",
        seed_toml()
    );
    let env = start_with(Seed::from_toml_str(&toml).unwrap()).await;
    let t = env.token().await;
    let url = format!("{}/secrets?api-version=7.5", env.vault("kv1"));
    let (s, h, _) = env.kv("GET", &url, Some(&t), None).await;
    assert_eq!(s, 429);
    assert_eq!(h["retry-after"], "1");
    let (s, _, _) = env.kv("GET", &url, Some(&t), None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn ca_file_and_shutdown() {
    let env = start().await;
    let pem = std::fs::read_to_string(env.emu.ca_path()).unwrap();
    assert_eq!(pem, env.emu.ca_pem());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let port = env.emu.port();
    env.emu.shutdown().await;
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test]
async fn a_lost_answer_still_carries_the_write_out() {
    let env = start().await;
    let t = env.token().await;
    let url = format!("{}/secrets/lost-answer?api-version=7.5", env.vault("kv1"));
    env.emu.add_fault(FaultRule {
        drop_after: true,
        count: Some(1),
        ..rule("secrets.set")
    });
    let err = env
        .http
        .put(&url)
        .bearer_auth(&t)
        .json(&serde_json::json!({"value": "written"}))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err}");
    // The client saw nothing, but the version exists, and the log says what it answered.
    assert_eq!(env.emu.requests().last().unwrap().status, 200);
    let versions = env.emu.secret_versions("kv1", "lost-answer");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].value.as_ref().unwrap().expose(), "written");
}
