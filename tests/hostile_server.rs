//! Answers keyrot must not obey: a next-page link to another host, a next-page link to itself,
//! a page that never ends. The real binary runs against the emulator (whose `next_link` fault
//! plays a tampering proxy) and against a small hostile HTTPS server in this file, which holds
//! the emulator's certificate (`*.localhost`), so keyrot trusts it like any emulated host.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Harness, Run, CLIENT_ID, CLIENT_SECRET};
use keyrot_emulator::FaultRule;

/// One request as the hostile server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    authorization: bool,
}

/// What the hostile server answers.
enum Reply {
    Json {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// `200` and a Key Vault list page that never ends (chunked), until the client hangs up.
    EndlessPage,
}

/// A blocking HTTPS/1.1 server on loopback, a thread per connection.
struct Hostile {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Body bytes written to clients so far.
    sent: Arc<AtomicU64>,
}

impl Hostile {
    fn start(
        tls: Arc<rustls::ServerConfig>,
        answer: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let answer = Arc::new(answer);
        let (log, count) = (seen.clone(), sent.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (tls, log, count, answer) =
                    (tls.clone(), log.clone(), count.clone(), answer.clone());
                std::thread::spawn(move || {
                    let _ = serve(tcp, tls, &log, &count, &*answer);
                });
            }
        });
        Hostile { port, seen, sent }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    log: &Mutex<Vec<Seen>>,
    sent: &AtomicU64,
    answer: &dyn Fn(&Seen) -> Reply,
) -> std::io::Result<()> {
    let connection = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut stream = BufReader::new(rustls::StreamOwned::new(connection, tcp));
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let (mut authorization, mut length) = (false, 0usize);
        loop {
            let mut line = String::new();
            stream.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            if name.eq_ignore_ascii_case("authorization") {
                authorization = true;
            }
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body)?;
        let request = Seen {
            method,
            path,
            authorization,
        };
        log.lock().unwrap().push(request.clone());
        let out = stream.get_mut();
        match answer(&request) {
            Reply::Json {
                status,
                headers,
                body,
            } => {
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                out.write_all(format!("{head}\r\n{body}").as_bytes())?;
                out.flush()?;
            }
            Reply::EndlessPage => {
                out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n")?;
                let item = r#"{"id":"https://huge.vault.localhost/secrets/endless","attributes":{"enabled":true}},"#;
                let mut chunk = String::from(r#"{"value":["#);
                while chunk.len() < 256 * 1024 {
                    chunk.push_str(item);
                }
                loop {
                    out.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())?;
                    sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    chunk.truncate(0);
                    while chunk.len() < 256 * 1024 {
                        chunk.push_str(item);
                    }
                }
            }
        }
    }
}

/// The emulator's requests for one route.
fn requests_for(h: &Harness, route: &str) -> usize {
    h.emulator
        .requests()
        .iter()
        .filter(|r| r.route == route)
        .count()
}

fn assert_stderr_has(run: &Run, expected: &str) {
    assert!(
        run.stderr.contains(expected),
        "expected {expected:?} in stderr:\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_next_link_to_another_host_stops_the_check_and_never_gets_the_token() {
    let h = Harness::start(&common::standard_seed()).await;
    let foreign = Hostile::start(h.emulator.tls_server_config(), |_| {
        Reply::Json {
        status: 200,
        headers: vec![],
        body: r#"{"value":[{"id":"https://evil.localhost/secrets/foreign-item","attributes":{"enabled":true}}]}"#.into(),
    }
    });
    let link = format!(
        "https://evil.localhost:{}/secrets?api-version=2025-07-01&$skiptoken=x",
        foreign.port
    );
    h.emulator.add_fault(FaultRule {
        vault: Some("clean".into()),
        next_link: Some(link.clone()),
        ..FaultRule::new("secrets.list")
    });
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &h.vault("clean"), "--format", "json"],
        )
        .await;
    run.expect_code(3);
    assert_stderr_has(&run, &link);
    assert_stderr_has(&run, "leads to another origin");
    // The link was refused before it was followed: the foreign host saw nothing at all, so
    // certainly no Authorization header, and none of its items reached a report.
    assert!(foreign.seen().is_empty(), "{:?}", foreign.seen());
    assert!(!run.stdout.contains("foreign-item") && !run.stderr.contains("foreign-item"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_next_link_to_itself_ends_the_check_at_once() {
    let h = Harness::start(&common::standard_seed()).await;
    // The first page's own URL: a valid request, so every answer names it again.
    let link = format!("{}/secrets?api-version=2025-07-01", h.vault("clean"));
    h.emulator.add_fault(FaultRule {
        vault: Some("clean".into()),
        next_link: Some(link.clone()),
        ..FaultRule::new("secrets.list")
    });
    let started = Instant::now();
    let run = h
        .run(
            h.client_secret_env(),
            &["check", "--vault", &h.vault("clean")],
        )
        .await;
    run.expect_code(3);
    assert_stderr_has(&run, "repeats an earlier one");
    assert_stderr_has(&run, &link);
    // The first page, then the link once; its answer names it again and the listing ends.
    assert_eq!(requests_for(&h, "secrets.list"), 2);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_next_link_to_itself_ends_a_rotation_at_once() {
    let seed = format!(
        r#"
[[client]]
client_id = "{CLIENT_ID}"
secrets = [{{ value = "{CLIENT_SECRET}" }}]

[[vault]]
name = "rot"

[[vault.secret]]
name = "db-password"
value = "old-value"
exp = "+3d"
"#
    );
    let h = Harness::start(&seed).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keyrot.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nvault = \"{}\"\nrotate_within = \"30d\"\n\n[[credential]]\nname = \"db-password\"\ngenerator = \"random\"\n",
            h.vault("rot")
        ),
    )
    .unwrap();
    let link = format!(
        "{}/secrets/db-password/versions?api-version=2025-07-01",
        h.vault("rot")
    );
    h.emulator.add_fault(FaultRule {
        next_link: Some(link.clone()),
        ..FaultRule::new("secrets.versions")
    });
    let started = Instant::now();
    let run = h
        .run(
            h.client_secret_env(),
            &[
                "rotate",
                "--config",
                &config.display().to_string(),
                "--lock-settle",
                "1s",
                "--format",
                "json",
            ],
        )
        .await;
    // The plan could not read the credential: a failure before any work began, exit 3.
    assert_eq!(
        run.code, 3,
        "exit {}:\n{}\n{}",
        run.code, run.stdout, run.stderr
    );
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("repeats an earlier one") && said.contains(&link),
        "{said}"
    );
    assert!(
        requests_for(&h, "secrets.versions") <= 6,
        "{} version listings",
        requests_for(&h, "secrets.versions")
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // Nothing was rotated on the strength of a listing that never ended.
    assert_eq!(h.emulator.secret_versions("rot", "db-password").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_never_ends_stops_at_the_response_cap() {
    let h = Harness::start(&common::standard_seed()).await;
    // A vault of its own: the 401 challenge sends keyrot to the emulator for a token, then
    // the listing's answer never ends.
    let challenge = format!(
        "Bearer authorization=\"{}/{}\", resource=\"https://vault.localhost\"",
        h.emulator.authority_host(),
        h.emulator.tenant_id()
    );
    let vault = Hostile::start(h.emulator.tls_server_config(), move |seen| {
        if seen.authorization {
            Reply::EndlessPage
        } else {
            Reply::Json {
                status: 401,
                headers: vec![("WWW-Authenticate", challenge.clone())],
                body: r#"{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}"#.into(),
            }
        }
    });
    let url = format!("https://huge.vault.localhost:{}", vault.port);
    let started = Instant::now();
    let run = h
        .run(h.client_secret_env(), &["check", "--vault", &url])
        .await;
    run.expect_code(3);
    assert_stderr_has(&run, "larger than keyrot's limit of 32 MiB on a response");
    assert_stderr_has(&run, "huge.vault.localhost");
    let listed = vault.seen();
    assert!(
        listed
            .iter()
            .any(|s| s.method == "GET" && s.path.starts_with("/secrets") && s.authorization),
        "{listed:?}"
    );
    // keyrot read no more than the cap: what the server got out before keyrot hung up is the
    // cap plus what socket buffers hold, not the endless rest.
    let sent = vault.sent.load(Ordering::Relaxed);
    assert!(sent < 48 << 20, "the server sent {sent} bytes");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
