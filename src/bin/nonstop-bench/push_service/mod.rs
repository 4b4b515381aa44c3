//! A push service that behaves like the real ones, for the benchmarks and the tests: TLS with
//! HTTP/2 chosen by ALPN (HTTP/1.1 for clients that ask for it, as npm `web-push` does), a
//! round trip (`--rtt-ms`) before every answer and two for a new connection's handshakes, a cap
//! of streams at once per connection (`--max-streams`, as FCM and APNs have), and faults on
//! demand (`--faults 429=10%,reset=1%,503=2%,500=1%,slow=1%`). It answers Web Push (a POST to
//! any other path: a subscription), FCM HTTP v1 (`/v1/projects/<id>/messages:send`) and the
//! OAuth2 token endpoint (`/token`), and counts what it took per message (`GET /stats`), so a
//! test can prove every push arrived exactly once. APNs is not served: `a2` 0.10 cannot be
//! aimed at another endpoint (see docs/OPERATIONS.md).
//!
//! A connection whose first byte is not a TLS handshake is served plain HTTP/1.1: `gcp_auth`
//! fetches FCM tokens with a client of its own that trusts only the public roots.

mod faults;
mod stats;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

pub use faults::{Fault, Faults};
pub use stats::Stats;

/// How the service behaves.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Options {
    /// The round trip each answer waits for (a new connection waits two more: TCP and TLS).
    #[arg(long, default_value_t = 0)]
    pub rtt_ms: u64,
    /// Streams at once per HTTP/2 connection (FCM allows 100 and APNs about 1,000).
    #[arg(long, default_value_t = 100)]
    pub max_streams: u32,
    /// Faults and their shares of requests: `429=10%,reset=1%,503=2%,500=1%,slow=1%`.
    #[arg(long, default_value = "")]
    pub faults: Faults,
    /// The `Retry-After` of a 429, in seconds.
    #[arg(long, default_value_t = 1)]
    pub retry_after: u64,
    /// The further delay of a slow answer.
    #[arg(long, default_value_t = 2_000)]
    pub slow_ms: u64,
    /// The port (0: any free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Threads answering.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// A running push service.
pub struct Running {
    pub port: u16,
    /// Its certificate, for `push.extra_root_certificates`.
    pub certificate_pem: String,
    pub stats: Arc<Stats>,
}

struct State {
    options: Options,
    stats: Arc<Stats>,
}

/// Starts the service on threads of its own; it runs until the process ends.
pub fn start(options: Options) -> anyhow::Result<Running> {
    let (certificate_pem, acceptor) = tls::acceptor()?;
    let stats = Arc::new(Stats::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .thread_name("push-service")
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", options.port)))?;
    let port = listener.local_addr()?.port();
    let state = Arc::new(State { options, stats: stats.clone() });
    std::thread::Builder::new().name("push-service".into()).spawn(move || {
        runtime.block_on(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, state.clone(), acceptor.clone()));
            }
        })
    })?;
    Ok(Running { port, certificate_pem, stats })
}

/// `nonstop-bench push-service`: starts the service, prints `{"port", "certificate_pem", …}` on
/// one line, and serves until its standard input closes (the test or benchmark that started
/// it ended).
pub fn run_command(options: Options) -> anyhow::Result<()> {
    let description = serde_json::json!({
        "rtt_ms": options.rtt_ms,
        "max_streams": options.max_streams,
        "faults": options.faults.to_string(),
        "retry_after": options.retry_after,
    });
    let running = start(options)?;
    let mut line = description;
    line["port"] = running.port.into();
    line["certificate_pem"] = running.certificate_pem.into();
    println!("{line}");
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    Ok(())
}

async fn connection(stream: tokio::net::TcpStream, state: Arc<State>, acceptor: tokio_rustls::TlsAcceptor) {
    let mut first = [0u8; 1];
    if !matches!(stream.peek(&mut first).await, Ok(1)) {
        return;
    }
    let answering = state.clone();
    let service = hyper::service::service_fn(move |request| answer(answering.clone(), request));
    // 0x16: a TLS handshake record.
    if first[0] != 0x16 {
        state.stats.connection(false);
        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        return;
    }
    // TCP's handshake and TLS 1.3's: two round trips before the first request.
    tokio::time::sleep(Duration::from_millis(state.options.rtt_ms * 2)).await;
    let Ok(stream) = acceptor.accept(stream).await else { return };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    state.stats.connection(h2);
    let io = TokioIo::new(stream);
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .max_concurrent_streams(state.options.max_streams)
            .serve_connection(io, service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
    }
}

/// The error that resets a request's stream.
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reset on demand")
    }
}

impl std::error::Error for Reset {}

type Answer = Result<Response<Full<Bytes>>, Reset>;

fn reply(status: u16, body: serde_json::Value, headers: &[(&str, String)]) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status).header("content-type", "application/json");
    for (name, value) in headers {
        response = response.header(*name, value.as_str());
    }
    response.body(Full::new(Bytes::from(body.to_string()))).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn answer(state: Arc<State>, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    if request.method() == Method::GET && path == "/stats" {
        return Ok(reply(200, state.stats.snapshot(), &[]));
    }
    let stats = &state.stats;
    let _counted = stats.request();
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Reset)?.to_bytes();
    tokio::time::sleep(Duration::from_millis(state.options.rtt_ms)).await;
    if path == "/token" {
        stats.token();
        let token =
            serde_json::json!({ "access_token": "push-service-token", "expires_in": 3600, "token_type": "Bearer" });
        return Ok(reply(200, token, &[]));
    }
    let fcm = path.starts_with("/v1/projects/") && path.ends_with("/messages:send");
    match state.options.faults.draw() {
        Some(Fault::Reset) => {
            stats.answered("reset");
            return Err(Reset);
        }
        Some(Fault::Status(status)) => {
            stats.answered(status.to_string());
            return Ok(fault(status, fcm, state.options.retry_after));
        }
        Some(Fault::Slow) => tokio::time::sleep(Duration::from_millis(state.options.slow_ms)).await,
        None => {}
    }
    if parts.method != Method::POST {
        stats.answered("405");
        return Ok(reply(405, serde_json::Value::Null, &[]));
    }
    if fcm {
        let message: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let (Some(token), Some(entry)) =
            (message["message"]["token"].as_str(), message["message"]["data"]["entry_id"].as_str())
        else {
            stats.answered("400");
            return Ok(reply(400, serde_json::json!({ "error": { "code": 400, "status": "INVALID_ARGUMENT" } }), &[]));
        };
        stats.take(format!("fcm/{token}/{entry}"));
        stats.answered("200");
        let project = path.trim_start_matches("/v1/projects/").trim_end_matches("/messages:send");
        let name = format!("projects/{project}/messages/{}", uuid::Uuid::new_v4().simple());
        return Ok(reply(200, serde_json::json!({ "name": name }), &[]));
    }
    // Web Push: an encrypted (aes128gcm) body with a VAPID authorization, as RFC 8030/8291/8292 ask.
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if header("content-encoding") != "aes128gcm" || body.len() < 86 || !header("authorization").starts_with("vapid ") {
        stats.answered("400");
        return Ok(reply(400, serde_json::json!("not an aes128gcm push with VAPID"), &[]));
    }
    stats.take(format!("web{path}"));
    stats.answered("201");
    let location = format!("{path}/messages/{}", uuid::Uuid::new_v4().simple());
    Ok(reply(201, serde_json::Value::Null, &[("location", location)]))
}

/// A fault's answer, as the real services word it.
fn fault(status: u16, fcm: bool, retry_after: u64) -> Response<Full<Bytes>> {
    let headers = if status == 429 { vec![("retry-after", retry_after.to_string())] } else { vec![] };
    let body = match (fcm, status) {
        (true, 429) => {
            serde_json::json!({ "error": { "code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED",
            "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "QUOTA_EXCEEDED" }] } })
        }
        (true, _) => {
            serde_json::json!({ "error": { "code": status, "message": "unavailable", "status": "UNAVAILABLE" } })
        }
        (false, _) => serde_json::Value::Null,
    };
    reply(status, body, &headers)
}
