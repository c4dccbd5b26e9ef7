//! A scripted HTTP client and token credential for the ARM client's unit tests: each request is
//! recorded, and answered with the next scripted reply.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{AsyncRawResponse, Body, HttpClient, Request, StatusCode};

use super::resource_id::ResourceId;
use super::ArmClient;

pub(crate) const SUB: &str = "34adfa4f-cedf-4dc0-ba29-b6d1a69ab345";
pub(crate) const PUBLIC: &str = "https://management.azure.com";
pub(crate) const EMULATOR: &str = "https://management.localhost:8443";

pub(crate) fn id(rest: &str) -> ResourceId {
    ResourceId::parse(&format!(
        "/subscriptions/{SUB}/resourceGroups/rg1/providers/{rest}"
    ))
    .unwrap()
}

pub(crate) fn storage_id() -> ResourceId {
    id("Microsoft.Storage/storageAccounts/sto1")
}

pub(crate) fn fixture(path: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A request as the client sent it.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Sent {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<Sent>>>);

impl Log {
    pub fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

pub(crate) fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

#[derive(Debug)]
struct Scripted {
    replies: Mutex<VecDeque<Reply>>,
    log: Log,
}

#[async_trait]
impl HttpClient for Scripted {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let body = match request.body() {
            Body::Bytes(bytes) => bytes.to_vec(),
            #[allow(unreachable_patterns)]
            _ => Vec::new(),
        };
        self.log.0.lock().unwrap().push(Sent {
            method: request.method().to_string().to_uppercase(),
            url: request.url().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_str().to_owned()))
                .collect(),
            body,
        });
        let next = self
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("no scripted reply for {}", request.url()));
        let mut headers = Headers::new();
        for (name, value) in next.headers {
            headers.insert(
                HeaderName::from(name.to_lowercase()),
                HeaderValue::from(value),
            );
        }
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::from(next.status),
            headers,
            next.body,
        ))
    }
}

/// Answers every scope with `arm-token-for {scope}`.
#[derive(Debug)]
pub(crate) struct FixedToken;

#[async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken {
            token: Secret::new(format!("arm-token-for {}", scopes.join(" "))),
            expires_on: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        })
    }
}

/// Never has a token.
#[derive(Debug)]
pub(crate) struct NoToken;

#[async_trait]
impl TokenCredential for NoToken {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            "no credential in unit tests",
        ))
    }
}

pub(crate) fn scripted(arm_url: &str, replies: Vec<Reply>) -> (ArmClient, Log) {
    scripted_with(arm_url, replies, Arc::new(FixedToken))
}

pub(crate) fn scripted_with(
    arm_url: &str,
    replies: Vec<Reply>,
    credential: Arc<dyn TokenCredential>,
) -> (ArmClient, Log) {
    let log = Log::default();
    let http = Arc::new(Scripted {
        replies: Mutex::new(replies.into()),
        log: log.clone(),
    });
    (ArmClient::with_http(arm_url, credential, http), log)
}
