//! The HTTP side of `keyrot serve`: routes, authentication, body limits and the answers'
//! shapes. TLS is terminated upstream (Functions, Container Apps ingress).
//!
//! | route | what |
//! |---|---|
//! | `POST /events` | Event Grid deliveries, both schemas; the Event Grid validation handshake |
//! | `OPTIONS /events` | the CloudEvents abuse-protection handshake |
//! | `GET /healthz` | liveness (no key) |
//! | `POST /keyrot-events` | the Functions host's invocation of the Event Grid trigger |
//! | `POST /keyrot-sweep` | the Functions host's invocation of the timer trigger (or a manual sweep) |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::auth::Gate;
use super::engine::{Answer, Engine, Worker};
use super::events::{self, Delivery};
use super::{envelope, log};

/// Event Grid's largest delivery (1 MB per event and per batch), with room for its framing.
pub const BODY_LIMIT: usize = 1024 * 1024 + 64 * 1024;

/// The origin Event Grid's CloudEvents handshake names.
const RATE: &str = "120";

/// Everything a request needs.
pub struct Server<W: Worker> {
    pub engine: Arc<Engine<W>>,
    pub gate: Gate,
    pub sweeper: Arc<dyn Sweeper>,
}

/// Runs one sweep (check and rotate over the whole config).
#[async_trait::async_trait]
pub trait Sweeper: Send + Sync {
    /// Whether every credential is in order, and what to log.
    async fn sweep(&self) -> (bool, Value);
}

/// Serves until `stop` turns true; connections in progress finish on their own.
pub async fn serve<W: Worker>(
    server: Arc<Server<W>>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                let server = server.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(handle(server, peer, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        }
    }
}

async fn handle<W: Worker>(
    server: Arc<Server<W>>,
    _peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (path.as_str(), method) {
        ("/healthz", Method::GET | Method::HEAD) => json_response(
            StatusCode::OK,
            &json!({"status": "ok", "working": server.engine.tasks().count()}),
        ),
        ("/healthz", _) => not_allowed("GET, HEAD"),
        ("/events", Method::OPTIONS) => handshake(&server, &req).await,
        ("/events", Method::POST) => events(&server, req).await,
        ("/events", _) => not_allowed("POST, OPTIONS"),
        ("/keyrot-events", Method::POST) => function_events(&server, req).await,
        ("/keyrot-sweep", Method::POST) => function_sweep(&server, req).await,
        ("/keyrot-events" | "/keyrot-sweep", _) => not_allowed("POST"),
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "no such endpoint: keyrot serves /events, /healthz, /keyrot-events and /keyrot-sweep"}),
        ),
    }
}

/// The gate's verdict on a request, as a 401 when refused.
async fn admit<W: Worker>(
    server: &Server<W>,
    req: &Request<Incoming>,
) -> Result<(), Response<Full<Bytes>>> {
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    match server
        .gate
        .admit(req.uri().query(), authorization, OffsetDateTime::now_utc())
        .await
    {
        Ok(()) => Ok(()),
        Err(why) => {
            log::refused(req.uri().path(), &why);
            Err(json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": why}),
            ))
        }
    }
}

/// CloudEvents 1.0 abuse protection: allow the origin that asks, at a stated rate.
async fn handshake<W: Worker>(
    server: &Server<W>,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    // Under Entra protection, Event Grid's OPTIONS may come without a token; answering it
    // changes nothing and reveals only that the endpoint takes events.
    let entra_without_token = matches!(server.gate, Gate::Entra(_))
        && req.headers().get(hyper::header::AUTHORIZATION).is_none();
    if !entra_without_token {
        if let Err(refused) = admit(server, req).await {
            return refused;
        }
    }
    let origin = req
        .headers()
        .get("webhook-request-origin")
        .and_then(|o| o.to_str().ok())
        .map(str::trim)
        .filter(|o| !o.is_empty() && o.len() <= 253 && o.bytes().all(|b| b.is_ascii_graphic()));
    let Some(origin) = origin else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "OPTIONS /events is the CloudEvents handshake: it needs WebHook-Request-Origin"}),
        );
    };
    log::handshake("cloudevents", origin);
    let mut response = Response::new(Full::new(Bytes::new()));
    let headers = response.headers_mut();
    headers.insert(
        "webhook-allowed-origin",
        HeaderValue::from_str(origin).unwrap_or(HeaderValue::from_static("*")),
    );
    headers.insert("webhook-allowed-rate", HeaderValue::from_static(RATE));
    headers.insert(ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    response
}

async fn read_body(
    req: Request<Incoming>,
) -> Result<(Option<String>, Bytes), Response<Full<Bytes>>> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    match Limited::new(req.into_body(), BODY_LIMIT).collect().await {
        Ok(body) => Ok((content_type, body.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let mut response = json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"error": format!("a delivery is at most {BODY_LIMIT} bytes")}),
            );
            // The rest of the body is not read: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
            Err(response)
        }
        Err(_) => Err(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "the body could not be read"}),
        )),
    }
}

async fn events<W: Worker>(server: &Server<W>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if let Err(refused) = admit(server, &req).await {
        return refused;
    }
    let (content_type, body) = match read_body(req).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    match events::parse(content_type.as_deref(), &body) {
        Err(malformed) => {
            log::malformed("/events", &malformed.0);
            json_response(StatusCode::BAD_REQUEST, &json!({"error": malformed.0}))
        }
        Ok(Delivery::Validation { code, .. }) => {
            log::handshake("eventgrid", "subscription validation");
            json_response(StatusCode::OK, &json!({"validationResponse": code}))
        }
        Ok(Delivery::Events(events)) => {
            let answer = server.engine.deliver(events).await;
            log::answered(&answer);
            answer_response(&answer, summary(&answer))
        }
    }
}

async fn function_events<W: Worker>(
    server: &Server<W>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if let Err(refused) = admit(server, &req).await {
        return refused;
    }
    let (_, body) = match read_body(req).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let delivery = envelope::event_body(&body)
        .map_err(events::Malformed)
        .and_then(|event| events::parse(None, &event));
    match delivery {
        Err(malformed) => {
            log::malformed("/keyrot-events", &malformed.0);
            json_response(
                StatusCode::BAD_REQUEST,
                &envelope::response(
                    std::slice::from_ref(&malformed.0),
                    json!({"error": malformed.0}),
                ),
            )
        }
        // The host answers Event Grid's handshake itself; one here is answered all the same.
        Ok(Delivery::Validation { code, .. }) => json_response(
            StatusCode::OK,
            &envelope::response(&[], json!({"validationResponse": code})),
        ),
        Ok(Delivery::Events(events)) => {
            let answer = server.engine.deliver(events).await;
            log::answered(&answer);
            let logs: Vec<String> = answer
                .events
                .iter()
                .map(|e| format!("{} {}: {}", e.id, e.outcome, e.message))
                .collect();
            answer_response(&answer, envelope::response(&logs, summary(&answer)))
        }
    }
}

async fn function_sweep<W: Worker>(
    server: &Server<W>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if let Err(refused) = admit(server, &req).await {
        return refused;
    }
    // The timer's envelope says nothing keyrot needs; it is read only to finish the request.
    if let Err(response) = read_body(req).await {
        return response;
    }
    let (ok, summary) = server.sweeper.sweep().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    json_response(status, &envelope::response(&[], summary))
}

fn summary(answer: &Answer) -> Value {
    json!({
        "events": answer.events.iter().map(|e| json!({
            "id": e.id,
            "credential": e.credential,
            "outcome": e.outcome,
            "message": e.message,
        })).collect::<Vec<_>>(),
    })
}

fn answer_response(answer: &Answer, body: Value) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, &body);
    if let Some(after) = answer.retry_after {
        let seconds = after.as_secs().max(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
    }
    response
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": format!("method not allowed; use {allow}")}),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
