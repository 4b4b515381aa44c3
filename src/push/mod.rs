//! 送信: one sender trait, three providers (Web Push, APNs, FCM HTTP v1).
//!
//! A sender turns a generic message and a device into one request to its provider and says
//! what the answer means (`SendOutcome`): sent, retry later, the token is dead, the app's
//! credentials are wrong, or a failure that retrying will not fix. Provider semantics follow
//! `shared/design/push-providers.md`. Every base URL is configurable, so tests aim at loopback
//! mocks while the code path stays the production one.

pub mod aes128gcm;
pub mod apns;
pub mod credentials;
pub mod documented;
pub mod fcm;
pub mod pace;
pub mod webpush;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use crate::domain::push_target::PushTarget;
use crate::templates::Urgency;
pub use credentials::AppCredentials;

/// What every push carries: generic texts from the template and two ids. No personal data:
/// the app fetches the details with its session.
#[derive(Clone, Debug)]
pub struct PushMessage {
    pub entry_id: String,
    pub task_id: Option<String>,
    pub title: String,
    pub body: String,
    pub urgency: Urgency,
    /// How long the provider may keep trying (the entry's remaining TTL).
    pub ttl: Duration,
    /// Replaces an older push with the same key (Web Push `Topic`, `apns-collapse-id`, FCM
    /// `collapse_key`).
    pub collapse_key: Option<String>,
    /// Groups pushes on iOS (one thread per child).
    pub thread_id: Option<String>,
}

/// The JSON the app receives (Web Push body; FCM and APNs carry the same fields).
#[derive(Serialize)]
pub struct PushPayload<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub entry_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<&'a str>,
}

impl PushMessage {
    pub fn payload(&self) -> PushPayload<'_> {
        PushPayload { title: &self.title, body: &self.body, entry_id: &self.entry_id, task_id: self.task_id.as_deref() }
    }

    /// The payload as bytes, refused when over the providers' limit.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, SendOutcome> {
        let bytes = serde_json::to_vec(&self.payload()).map_err(|_| SendOutcome::failed("payload_unserializable"))?;
        if bytes.len() > crate::templates::MAX_PUSH_PAYLOAD_BYTES {
            return Err(SendOutcome::failed("payload_too_large"));
        }
        Ok(bytes)
    }
}

/// What a provider's answer means for the delivery and the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted by the provider.
    Sent { message_id: Option<String> },
    /// Try again later: after `after` when the provider said so (Retry-After), else back off.
    Retry { after: Option<Duration>, class: String },
    /// The token or subscription is gone: disable the device, never send to it again.
    DeadToken { reason: String },
    /// The app's credentials were refused: report it on the app, keep the device.
    ConfigError { reason: String },
    /// A failure that retrying will not fix (payload refused, endpoint not allowed).
    Failed { class: String },
    /// Not sent: the push service's host is paused (its `Retry-After`, its circuit open) or the
    /// claim's lease is running out. Claimed again after `after`, without spending an attempt.
    Deferred { after: Duration, class: String },
}

impl SendOutcome {
    pub fn retry(class: impl Into<String>, after: Option<Duration>) -> Self {
        Self::Retry { after, class: class.into() }
    }
    pub fn failed(class: impl Into<String>) -> Self {
        Self::Failed { class: class.into() }
    }
    pub fn dead(reason: impl Into<String>) -> Self {
        Self::DeadToken { reason: reason.into() }
    }
    pub fn config(reason: impl Into<String>) -> Self {
        Self::ConfigError { reason: reason.into() }
    }

    /// A short class for the ledger and the metrics.
    pub fn class(&self) -> &str {
        match self {
            Self::Sent { .. } => "sent",
            Self::Retry { class, .. } | Self::Failed { class } | Self::Deferred { class, .. } => class,
            Self::DeadToken { .. } => "dead_token",
            Self::ConfigError { .. } => "config_error",
        }
    }
}

/// What an answer means when it says the service did not take the request but another try may
/// succeed: a 408 (the service, or a balancer in front of it, gave up reading the request; RFC
/// 9110 §15.5.9 lets the client repeat it), a 425 Too Early, or any 5xx. `None` for the others,
/// which each provider reads in its own way. A 408 is a timeout like ours, and is paced as one.
pub fn transient(status: u16, after: Option<Duration>) -> Option<SendOutcome> {
    match status {
        408 => Some(SendOutcome::retry("timeout", after)),
        425 | 500..=599 => Some(SendOutcome::retry(format!("provider_{status}"), after)),
        _ => None,
    }
}

/// A boxed future, so senders can sit behind one trait object.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = SendOutcome> + Send + 'a>>;

/// One push to send: a message, the device it goes to, and the app whose credentials send it.
#[derive(Clone, Copy)]
pub struct Push<'a> {
    pub app_id: &'a str,
    pub credentials: &'a AppCredentials,
    pub target: &'a PushTarget,
    pub message: &'a PushMessage,
}

/// One push provider.
pub trait Sender: Send + Sync {
    /// Sends one message to one device with the app's credentials for this provider.
    fn send<'a>(&'a self, push: Push<'a>) -> SendFuture<'a>;

    /// The push-service host a push to `target` goes to: what sends are paced by.
    fn host(&self, target: &PushTarget) -> String {
        target.kind().as_str().to_owned()
    }
}

/// The three senders, chosen by the device's kind.
pub struct Senders {
    pub web_push: Box<dyn Sender>,
    pub apns: Box<dyn Sender>,
    pub fcm: Box<dyn Sender>,
    /// The most one send may take, everything included (an OAuth token, then the push).
    pub deadline: Duration,
    /// Sends in flight per push-service host, throttling and circuit breakers.
    pub pacer: pace::Pacer,
}

impl Senders {
    /// Sends one message, isolated: a send that outlives the deadline is a retry (`timeout`),
    /// and a sender that panics fails this delivery alone (`sender_panicked`, not retried),
    /// so one tenant's credentials or device can never stop the worker for the others.
    pub async fn send_isolated(&self, push: Push<'_>) -> SendOutcome {
        use futures_util::FutureExt;
        let send = std::panic::AssertUnwindSafe(self.for_target(push.target).send(push));
        match tokio::time::timeout(self.deadline, send.catch_unwind()).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_panic)) => {
                // The panic's own message went to stderr through the hook; it names code, not people.
                tracing::error!(
                    app_id = push.app_id,
                    provider = push.target.kind().as_str(),
                    "a push sender panicked; the delivery failed"
                );
                SendOutcome::failed("sender_panicked")
            }
            Err(_elapsed) => SendOutcome::retry("timeout", None),
        }
    }

    /// Sends one message when its host allows (`pace`), isolated as `send_isolated`; a send
    /// that cannot start before `not_after` (its lease is running out) or whose host is paused
    /// is `Deferred`.
    pub async fn send_paced(&self, push: Push<'_>, not_after: tokio::time::Instant) -> SendOutcome {
        let host = self.for_target(push.target).host(push.target);
        let slot = match self.pacer.admit(&host, not_after).await {
            Ok(slot) => slot,
            Err(deferred) => return deferred,
        };
        let outcome = self.send_isolated(push).await;
        slot.finish(&outcome);
        outcome
    }

    pub fn for_target(&self, target: &PushTarget) -> &dyn Sender {
        match target {
            PushTarget::WebPush { .. } => self.web_push.as_ref(),
            PushTarget::Apns { .. } => self.apns.as_ref(),
            PushTarget::Fcm { .. } => self.fcm.as_ref(),
        }
    }
}

/// Provider clients built once per key (app, credentials version, …) and shared: building one
/// parses keys and, for APNs, opens a connection Apple wants kept open. Bounded: past
/// `CLIENT_CACHE_CAPACITY` the oldest is dropped (it is rebuilt if needed), so credentials
/// replaced again and again cannot grow memory.
pub struct ClientCache<K, V> {
    inner: std::sync::Mutex<CacheInner<K, V>>,
    capacity: usize,
}

struct CacheInner<K, V> {
    clients: std::collections::HashMap<K, std::sync::Arc<V>>,
    /// Keys, oldest first.
    order: std::collections::VecDeque<K>,
}

/// Clients kept per sender: far more than the apps with pushes in one batch.
pub const CLIENT_CACHE_CAPACITY: usize = 1_024;

impl<K: std::hash::Hash + Eq + Clone, V> Default for ClientCache<K, V> {
    fn default() -> Self {
        Self::with_capacity(CLIENT_CACHE_CAPACITY)
    }
}

impl<K: std::hash::Hash + Eq + Clone, V> ClientCache<K, V> {
    pub fn with_capacity(capacity: usize) -> Self {
        let inner = CacheInner { clients: std::collections::HashMap::new(), order: std::collections::VecDeque::new() };
        Self { inner: std::sync::Mutex::new(inner), capacity: capacity.max(1) }
    }

    /// The cached client for `key`, or the one `build` makes (kept only when it succeeds).
    pub fn get_or_build(
        &self,
        key: K,
        build: impl FnOnce() -> Result<V, SendOutcome>,
    ) -> Result<std::sync::Arc<V>, SendOutcome> {
        let mut inner = self.inner.lock().map_err(|_| SendOutcome::retry("internal", None))?;
        if let Some(client) = inner.clients.get(&key) {
            return Ok(client.clone());
        }
        let client = std::sync::Arc::new(build()?);
        while inner.clients.len() >= self.capacity {
            let Some(oldest) = inner.order.pop_front() else { break };
            inner.clients.remove(&oldest);
        }
        inner.clients.insert(key.clone(), client.clone());
        inner.order.push_back(key);
        Ok(client)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |inner| inner.clients.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A few HTTP clients used in turn: each keeps one HTTP/2 connection per host, and a push
/// service caps the streams of one connection (FCM at 100), so more sends in flight to one
/// host than a connection carries take several connections.
pub struct HttpClients {
    clients: Vec<reqwest::Client>,
    next: std::sync::atomic::AtomicUsize,
}

impl HttpClients {
    pub fn new(clients: Vec<reqwest::Client>) -> Self {
        Self { clients, next: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// The next client in turn.
    pub fn pick(&self) -> &reqwest::Client {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.clients[i % self.clients.len()]
    }
}

/// Parses a `Retry-After` header given in seconds (HTTP dates are rare from push services and
/// fall back to the backoff).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Reads at most `limit` bytes of a response body: a hostile endpoint cannot make us buffer a
/// huge body (RUSTSEC-2025-0015).
pub async fn bounded_body(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_cache_keeps_at_most_its_capacity() {
        let cache: ClientCache<u32, u32> = ClientCache::with_capacity(2);
        let builds = std::cell::Cell::new(0);
        let get = |key: u32| {
            cache
                .get_or_build(key, || {
                    builds.set(builds.get() + 1);
                    Ok(key * 10)
                })
                .map(|v| *v)
        };
        assert_eq!(get(1), Ok(10));
        assert_eq!(get(1), Ok(10));
        assert_eq!(builds.get(), 1, "built once, then shared");
        get(2).ok();
        get(3).ok();
        assert_eq!(cache.len(), 2);
        assert_eq!(get(1), Ok(10));
        assert_eq!(builds.get(), 4, "the oldest was dropped and is built again");
    }
}
