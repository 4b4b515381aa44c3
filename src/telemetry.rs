//! Logs and metrics. Logs carry the route pattern (`/v1/families/{family_id}`), never the
//! body, query string, headers or personal values; metrics are Prometheus text.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
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
}

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
        })
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

/// Middleware: one log line and the metrics for every request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(req).await?;
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state.metrics.requests.with_label_values(&[method.as_str(), route.as_str(), &status.to_string()]).inc();
        state.metrics.latency.with_label_values(&[route.as_str()]).observe(elapsed.as_secs_f64());
    }
    tracing::info!(method = %method, route = %route, status, duration_ms = elapsed.as_millis() as u64, "request");
    Ok(response)
}
