//! A minimal response type shared by every area, plus query-string helpers.

use bytes::Bytes;

/// A response before it becomes a hyper response; headers are added by the area (Key Vault,
/// Entra, admin) so each carries its own service's header set.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

pub const JSON_UTF8: &str = "application/json; charset=utf-8";

impl Resp {
    pub fn json(status: u16, value: &impl serde::Serialize) -> Resp {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Resp {
            status,
            headers: vec![("Content-Type".into(), JSON_UTF8.into())],
            body: Bytes::from(body),
        }
    }

    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn text(status: u16, content_type: &str, body: impl Into<String>) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Bytes::from(body.into()),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }
}

/// Decoded query pairs, in order.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

pub fn query_get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A request as the area handlers see it, with the body already read.
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub peer: std::net::SocketAddr,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        query_get(&self.query, name)
    }
}
