//! The accept loop and per-request pipeline: host routing, fault injection, body reading,
//! area handlers, the service's headers and the request log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::faults::{FaultAction, FaultBody};
use crate::http::{query_pairs, Req, Resp};
use crate::state::Shared;
use crate::{admin, arm, devops, entra, github, graph, hooks, keyvault, RecordedRequest};

/// Largest request body read; Key Vault's own limit on a secret is 25 KiB.
const MAX_BODY: usize = 1024 * 1024;

/// Returned from the service to make hyper close the connection without a response.
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

pub struct ServerCtx {
    pub shared: Arc<Shared>,
    pub ca_path: String,
}

pub async fn run(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ctx: Arc<ServerCtx>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let ctx = ctx.clone();
                conns.spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    // Failed handshakes (clients that do not trust the CA) are the client's
                    // error to report; nothing to answer here.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let svc = service_fn(move |req| {
                        let ctx = ctx.clone();
                        async move { handle(ctx, peer, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        }
    }
    conns.abort_all();
}

enum Area {
    Admin,
    Login,
    Graph,
    Hooks,
    Github,
    Vault(String),
    /// `devops.localhost`, or with `vsrm` its Release Management host.
    Devops {
        vsrm: bool,
    },
    /// Azure Resource Manager and the data planes of its resources (see `arm`).
    Arm(arm::Host),
    Unknown,
}

fn classify(host: &str) -> Area {
    match host {
        "localhost" | "127.0.0.1" | "[::1]" | "::1" => Area::Admin,
        "login.localhost" => Area::Login,
        "graph.localhost" => Area::Graph,
        "hooks.localhost" => Area::Hooks,
        "devops.localhost" => Area::Devops { vsrm: false },
        "vsrm.devops.localhost" => Area::Devops { vsrm: true },
        "api.github.localhost" => Area::Github,
        h => match h.strip_suffix(".vault.localhost") {
            Some(v) if !v.is_empty() && !v.contains('.') => Area::Vault(v.to_owned()),
            _ => arm::classify(h).map_or(Area::Unknown, Area::Arm),
        },
    }
}

fn strip_port(host: &str) -> String {
    let h = if host.starts_with('[') {
        host.split_once(']')
            .map_or(host, |(a, _)| a)
            .trim_start_matches('[')
    } else {
        host.rsplit_once(':').map_or(host, |(a, _)| a)
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

async fn read_body(body: Incoming) -> Result<Bytes, Resp> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(Resp::text(
            413,
            "text/plain",
            "request body too large or unreadable",
        )),
    }
}

const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\n<body><h1>Service Unavailable</h1><p>The proxy could not reach the upstream service. Please try again later.</p></body></html>\n";

async fn handle(
    ctx: Arc<ServerCtx>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    // As early as the emulator can know: the request head has just been read.
    let received_at = std::time::SystemTime::now();
    let shared = &ctx.shared;
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let hostname = strip_port(&host);
    let path = parts.uri.path().to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.to_string());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut req = Req {
        method,
        path,
        query: query_pairs(parts.uri.query()),
        headers,
        body: Bytes::new(),
        peer,
    };

    let area = classify(&hostname);
    if let Area::Admin = area {
        // The admin API is not part of the emulated services: no faults, no recording.
        if crate::eventgrid::is_eventgrid_path(&req.path) {
            req.body = match read_body(body).await {
                Ok(b) => b,
                Err(r) => return Ok(to_hyper(r)),
            };
            return Ok(to_hyper(crate::eventgrid::handle(shared, &req).await));
        }
        if !req.path.starts_with("/_admin") {
            return Ok(to_hyper(Resp::text(
                404,
                "text/plain",
                "keyrot emulator: admin API is under /_admin\n",
            )));
        }
        req.body = match read_body(body).await {
            Ok(b) => b,
            Err(r) => return Ok(to_hyper(r)),
        };
        return Ok(to_hyper(admin::handle(shared, &ctx.ca_path, &req)));
    }

    // Route name first: faults and the log are keyed by it.
    let (route, vault, location): (&'static str, Option<String>, Option<String>) = match &area {
        Area::Login => (entra::route_of(&req.path), None, None),
        Area::Graph => (graph::route_of(&req.path), None, None),
        Area::Hooks => (hooks::route_of(&req.method, &req.path), None, None),
        Area::Devops { vsrm } => (devops::route_of(&req.method, &req.path, *vsrm), None, None),
        Area::Github => (github::route_of(&req.method, &req.path), None, None),
        Area::Arm(h) => (arm::route_of(h, &req.method, &req), None, None),
        Area::Vault(v) => {
            let location = shared
                .lock()
                .vaults
                .get(&v.to_ascii_lowercase())
                .map(|x| x.location.clone());
            let route = if location.is_none() {
                "vault-not-found"
            } else if keyvault::bearer(&req.headers).is_none() {
                "challenge"
            } else {
                keyvault::Op::parse(&req.method, &req.path).route()
            };
            (route, Some(v.clone()), location)
        }
        _ => ("unknown-host", None, None),
    };

    let decision = shared.lock().faults.decide(route, vault.as_deref());
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }

    let record = |req: &Req, status: u16| {
        let rec = RecordedRequest {
            method: req.method.clone(),
            host: host.clone(),
            path_and_query: path_and_query.clone(),
            headers: req.headers.clone(),
            body: req.body.to_vec(),
            status,
            route: route.to_owned(),
            received_at,
        };
        // A webhook's path is its secret: the sink logs the route alone.
        let path = if matches!(area, Area::Hooks) {
            ""
        } else {
            req.path.as_str()
        };
        tracing::debug!(method = %rec.method, host = %rec.host, path, status, route, "emulator request");
        shared.lock().requests.push(rec);
    };

    // The challenge is answered before the body is read, as the service does; every other
    // request is read so the log holds what the client sent.
    if route != "challenge" {
        req.body = match read_body(body).await {
            Ok(b) => b,
            Err(r) => {
                record(&req, r.status);
                return Ok(to_hyper(r));
            }
        };
    } else {
        drop(body);
    }

    let mut body_fault = None;
    let mut next_link = None;
    let drop_after = decision.action == Some(FaultAction::DropAfter);
    let resp = match decision.action {
        Some(FaultAction::Drop) => {
            record(&req, 0);
            return Err(DropConnection);
        }
        Some(FaultAction::Status {
            status,
            retry_after,
        }) => {
            let r = match &area {
                Area::Vault(_) => keyvault::errors::fault_body(status),
                Area::Graph => graph::fault_body(shared, &req, status),
                Area::Hooks => hooks::fault_body(shared, &req, status),
                Area::Devops { .. } => devops::fault_body(status),
                Area::Github => github::fault_body(status),
                Area::Arm(h) => arm::fault_body(h, status),
                _ => entra::aad_error(
                    shared,
                    &req,
                    status,
                    "temporarily_unavailable",
                    90033,
                    "A transient error has occurred. Please try again.",
                ),
            };
            match retry_after {
                Some(s) => r.header("Retry-After", s.to_string()),
                None => r,
            }
        }
        other => {
            match other {
                Some(FaultAction::Body(b)) => body_fault = Some(b),
                Some(FaultAction::NextLink(link)) => next_link = Some(link),
                _ => {}
            }
            match &area {
                Area::Login => entra::handle(shared, route, &req),
                Area::Graph => graph::handle(shared, &req),
                Area::Hooks => hooks::handle(shared, &req),
                Area::Devops { vsrm } => devops::handle(shared, &req, *vsrm),
                Area::Github => github::handle(shared, &req),
                Area::Arm(h) => arm::handle(shared, h, &req),
                Area::Vault(v) => match route {
                    "vault-not-found" => keyvault::vault_not_found(v),
                    "challenge" => keyvault::challenge(shared),
                    _ => keyvault::handle(shared, v, &req),
                },
                _ => Resp::text(
                    404,
                    "text/plain",
                    format!("keyrot emulator: no service at host {hostname:?}; use login.localhost, graph.localhost or {{vault}}.vault.localhost\n"),
                ),
            }
        }
    };

    let mut resp = match body_fault {
        None => resp,
        Some(FaultBody::Html) => Resp::text(200, "text/html; charset=utf-8", HTML_PAGE),
        Some(FaultBody::Truncated) => {
            let cut = resp.body.slice(..resp.body.len() / 2);
            Resp {
                status: 200,
                headers: resp.headers,
                body: cut,
            }
        }
    };
    if let Some(link) = next_link {
        let field = match area {
            Area::Graph => "@odata.nextLink",
            _ => "nextLink",
        };
        resp = with_next_link(resp, field, &link);
    }
    resp = match &area {
        Area::Vault(_) => keyvault::decorate(resp, &req.headers, location.as_deref(), peer),
        Area::Login => entra::decorate(resp, &req),
        Area::Graph => graph::decorate(resp, &req),
        Area::Devops { .. } => devops::decorate(resp),
        Area::Github => github::decorate(resp),
        Area::Arm(h) => arm::decorate(resp, h, &req),
        _ => resp,
    };
    record(&req, resp.status);
    if drop_after {
        return Err(DropConnection);
    }
    Ok(to_hyper(resp))
}

/// A successful list answer with its next-page link replaced; any other answer unchanged.
fn with_next_link(resp: Resp, field: &str, link: &str) -> Resp {
    if resp.status != 200 {
        return resp;
    }
    match serde_json::from_slice::<serde_json::Value>(&resp.body) {
        Ok(serde_json::Value::Object(mut page)) if page.contains_key("value") => {
            page.insert(field.to_owned(), serde_json::Value::from(link));
            Resp {
                body: Bytes::from(serde_json::to_vec(&page).unwrap_or_default()),
                ..resp
            }
        }
        _ => resp,
    }
}

fn to_hyper(r: Resp) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(r.body)).unwrap_or_else(|_| {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"invalid response")));
        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}
