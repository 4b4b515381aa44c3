//! Logs and metrics. Logs carry the route pattern (`/v1/families/{family_id}`), never the
//! body, query string, headers or personal values; metrics are Prometheus text.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use tracing_subscriber::EnvFilter;

use crate::app::AppState;
use crate::config::LogSettings;

/// Installs the global log subscriber. `RUST_LOG`, when set, overrides `log.level`.
pub fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests build several apps in one process) is harmless: keep the first.
    let _ = if settings.format == "json" { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}

/// The service's Prometheus registry and the instruments in it.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    deliveries: IntCounterVec,
    pub queue_depth: IntGauge,
    pub oldest_due_seconds: IntGauge,
    /// When the queue figures were last read from the database (monotonic): `/metrics` reads
    /// them at most every few seconds, however often it is scraped.
    queue_figures_read: std::sync::Mutex<Option<Instant>>,
    /// When the delivery worker last finished a pass (the application clock's instant, in
    /// microseconds since the epoch; `i64::MIN` before the first): `/readyz` fails when it is old.
    worker_progress: std::sync::atomic::AtomicI64,
}

/// How long the queue figures of `/metrics` are reused before being read again.
const QUEUE_FIGURES_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("nonstop".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route pattern and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route pattern"),
            &["route"],
        )?;
        let pool_connections = IntGauge::new("db_pool_connections", "Open database connections")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Idle database connections")?;
        let deliveries = IntCounterVec::new(
            Opts::new("push_deliveries_total", "Push attempts by provider, outcome class and resulting status"),
            &["provider", "outcome", "status"],
        )?;
        let queue_depth = IntGauge::new("push_queue_depth", "Deliveries due now and not yet sent")?;
        let oldest_due_seconds =
            IntGauge::new("push_oldest_due_seconds", "Age of the oldest delivery due and not yet sent")?;
        registry.register(Box::new(deliveries.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(oldest_due_seconds.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            deliveries,
            queue_depth,
            oldest_due_seconds,
            queue_figures_read: std::sync::Mutex::new(None),
            worker_progress: std::sync::atomic::AtomicI64::new(i64::MIN),
        })
    }

    /// Whether the queue figures are due for a fresh read; marks them read when they are.
    pub fn queue_figures_due(&self) -> bool {
        let Ok(mut read) = self.queue_figures_read.lock() else { return true };
        if read.is_some_and(|at| at.elapsed() < QUEUE_FIGURES_TTL) {
            return false;
        }
        *read = Some(Instant::now());
        true
    }

    /// The delivery worker finished a pass at `at`.
    pub fn worker_progressed(&self, at: chrono::NaiveDateTime) {
        let micros = at.and_utc().timestamp_micros();
        self.worker_progress.store(micros, std::sync::atomic::Ordering::Relaxed);
    }

    /// When the delivery worker last finished a pass, if it has.
    pub fn worker_last_progress(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self.worker_progress.load(std::sync::atomic::Ordering::Relaxed) {
            i64::MIN => None,
            micros => chrono::DateTime::from_timestamp_micros(micros),
        }
    }

    /// Counts one push attempt.
    pub fn delivery(&self, provider: &str, outcome: &str, status: &str) {
        self.deliveries.with_label_values(&[provider, outcome, status]).inc();
    }

    /// The text exposition, with the pool gauges read now.
    pub fn render(&self, pool: (u32, u32)) -> String {
        self.pool_connections.set(i64::from(pool.0));
        self.pool_idle.set(i64::from(pool.1));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The method as a metrics label, from a closed set: a client inventing methods (`M1`, `M2`…)
/// must not create a series each.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The id of one request: nonstop's own, always new. It is answered in `X-Request-Id`, logged
/// as `request_id`, and recorded with every audit event.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The caller's own `X-Request-Id`, when it is a plain token: kept beside nonstop's id, never
/// instead of it (a caller could otherwise give its requests, and the acts the audit trail
/// records, the id of someone else's). Logged as `client_request_id` and answered in
/// `X-Client-Request-Id`, so a vendor finds its own request in nonstop's logs.
#[derive(Clone, Debug)]
pub struct ClientRequestId(pub String);

impl RequestId {
    const HEADER: &'static str = "x-request-id";
}

impl ClientRequestId {
    const HEADER: &'static str = "x-client-request-id";

    fn of(req: &ServiceRequest) -> Option<Self> {
        req.headers()
            .get(RequestId::HEADER)
            .and_then(|v| v.to_str().ok())
            // Only what is safe to log and to answer: a caller's id must not smuggle text into either.
            .filter(|v| {
                (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            })
            .map(|v| Self(v.to_owned()))
    }
}

/// Middleware: the request's id, one log line and the metrics for every request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let request_id = RequestId(crate::service::new_id());
    let client_request_id = ClientRequestId::of(&req);
    req.extensions_mut().insert(request_id.clone());
    let mut response = next.call(req).await?;
    let answered =
        [(RequestId::HEADER, Some(&request_id.0)), (ClientRequestId::HEADER, client_request_id.as_ref().map(|c| &c.0))];
    for (name, id) in answered {
        if let Some(value) = id.and_then(|id| actix_web::http::header::HeaderValue::from_str(id).ok()) {
            response.headers_mut().insert(actix_web::http::header::HeaderName::from_static(name), value);
        }
    }
    // A route pattern of ours, or "unmatched": never the path a client invented.
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state.metrics.requests.with_label_values(&[method, route.as_str(), &status.to_string()]).inc();
        state.metrics.latency.with_label_values(&[route.as_str()]).observe(elapsed.as_secs_f64());
    }
    let client_request_id = client_request_id.as_ref().map(|c| c.0.as_str());
    tracing::info!(request_id = %request_id.0, client_request_id, method = %method, route = %route, status, duration_ms = elapsed.as_millis() as u64, "request");
    Ok(response)
}
