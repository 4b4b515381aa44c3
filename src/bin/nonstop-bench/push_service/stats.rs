//! What the push service received, per message, so that a test can prove each push arrived
//! exactly once, and how it was reached (connections, HTTP/2, streams at once).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Stats {
    requests: AtomicU64,
    connections: AtomicU64,
    h2_connections: AtomicU64,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
    tokens: AtomicU64,
    /// Answers by status, and `reset` for streams reset.
    answers: Mutex<BTreeMap<String, u64>>,
    /// Pushes taken (answered 201/200), per message: a Web Push subscription's path, or an FCM
    /// token with the push's `entry_id`.
    taken: Mutex<HashMap<String, u32>>,
}

/// A request being answered; counted out when dropped (also when its stream is reset).
pub struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Stats {
    pub fn connection(&self, h2: bool) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        if h2 {
            self.h2_connections.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn request(&self) -> InFlight<'_> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    pub fn token(&self) {
        self.tokens.fetch_add(1, Ordering::Relaxed);
    }

    pub fn answered(&self, what: impl Into<String>) {
        if let Ok(mut answers) = self.answers.lock() {
            *answers.entry(what.into()).or_default() += 1;
        }
    }

    pub fn take(&self, message: String) {
        if let Ok(mut taken) = self.taken.lock() {
            *taken.entry(message).or_default() += 1;
        }
    }

    /// Pushes taken, messages taken at least once, and pushes taken again.
    pub fn taken(&self) -> (u64, u64, u64) {
        self.taken.lock().map_or((0, 0, 0), |taken| {
            let total: u64 = taken.values().map(|n| u64::from(*n)).sum();
            (total, taken.len() as u64, total - taken.len() as u64)
        })
    }

    /// The figures as JSON (`GET /stats`).
    pub fn snapshot(&self) -> serde_json::Value {
        let (taken, distinct, doubles) = self.taken();
        let answers = self.answers.lock().map(|a| a.clone()).unwrap_or_default();
        serde_json::json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "taken": taken,
            "distinct": distinct,
            "doubles": doubles,
            "answers": answers,
            "connections": self.connections.load(Ordering::Relaxed),
            "h2_connections": self.h2_connections.load(Ordering::Relaxed),
            "most_in_flight": self.most_in_flight.load(Ordering::Relaxed),
            "tokens": self.tokens.load(Ordering::Relaxed),
        })
    }
}
