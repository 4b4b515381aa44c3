//! 送信ペース: how many sends are in flight to each push-service host, decided per host from
//! its answers, so that the round trip does not set the rate and one host's trouble stays its
//! own.
//!
//! - **Adaptive sends in flight (AIMD)**: each host starts at `jobs.concurrency` sends at once;
//!   every fast, well-answered send adds one (doubling per round trip) until the first sign of
//!   trouble, then one per round trip's worth of answers. A 429, a 5xx, a timeout, a reset or an
//!   answer slower than [`SLOW_ANSWER`] halves it, at most once per round trip (the answers to
//!   sends made before the cut say nothing new). Capped by `jobs.max_in_flight`, the process's
//!   memory bound.
//! - **Throttling per host**: a 429's `Retry-After` pauses new sends to that host only until
//!   then; deliveries to it claimed meanwhile are put back for then without spending an attempt.
//! - **Circuit breaker**: [`BREAKER_FAILURES`] hard failures in a row (5xx, timeouts, resets)
//!   open the host's circuit for [`BREAKER_COOLDOWN`] (doubling on each failed probe, up to
//!   [`BREAKER_MAX_COOLDOWN`]); deliveries to it are put back without spending an attempt, and
//!   when the cooldown ends one send probes the host: an answer closes the circuit, a failure
//!   opens it again. So a host failing hard costs one probe per cooldown, not every delivery's
//!   retry budget.
//!
//! The rules are pure ([`HostPace`] takes the instant as an input); [`Pacer`] shares them
//! between the sends of a process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::SendOutcome;

/// An answer slower than this says the host is queueing: the host's sends in flight shrink.
pub const SLOW_ANSWER: Duration = Duration::from_secs(2);
/// Hard failures in a row that open a host's circuit.
pub const BREAKER_FAILURES: u32 = 10;
/// How long an opened circuit stays open before its first probe.
pub const BREAKER_COOLDOWN: Duration = Duration::from_secs(5);
/// The longest an opened circuit stays open before a probe.
pub const BREAKER_MAX_COOLDOWN: Duration = Duration::from_secs(300);
/// How long a delivery waits for the probe of a half-open circuit to be answered.
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// What an answer says about its host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The host answered (sent, or a refusal about the message, the device or the app).
    Answered,
    /// The host asked to slow down (429), for `after` when it said so.
    Throttled { after: Option<Duration> },
    /// The host failed (5xx, a timeout, a reset connection).
    Failed,
    /// Nothing about the host (our own failure before sending).
    Nothing,
}

impl Signal {
    pub fn of(outcome: &SendOutcome) -> Self {
        match outcome {
            SendOutcome::Sent { .. }
            | SendOutcome::DeadToken { .. }
            | SendOutcome::ConfigError { .. }
            | SendOutcome::Failed { .. } => Self::Answered,
            SendOutcome::Retry { class, after } if class == "rate_limited" => Self::Throttled { after: *after },
            SendOutcome::Retry { class, .. }
                if class == "timeout" || class == "network" || class.starts_with("provider_5") =>
            {
                Self::Failed
            }
            SendOutcome::Retry { .. } | SendOutcome::Deferred { .. } => Self::Nothing,
        }
    }
}

/// Whether a send may go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go: one more send in flight, to be `finish`ed.
    Go,
    /// Wait for a send in flight to finish.
    Wait,
    /// Not before `after`: the host is paused (`Retry-After`) or its circuit is open.
    Defer { after: Duration, class: &'static str },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Breaker {
    Closed,
    Open {
        until: Instant,
        cooldown: Duration,
    },
    /// One send is probing the host.
    Probing {
        cooldown: Duration,
    },
}

/// One host's pace.
#[derive(Debug)]
pub struct HostPace {
    limit: f64,
    /// Below it the limit grows by one per answer (slow start), above by one per round trip.
    threshold: f64,
    ceiling: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
    last_cut: Option<Instant>,
    /// Smoothed answer time: how long "one round trip" is.
    round_trip: Duration,
    failures_in_row: u32,
    breaker: Breaker,
}

impl HostPace {
    pub fn new(initial: usize, ceiling: usize) -> Self {
        let ceiling = ceiling.max(1) as f64;
        Self {
            limit: (initial.max(1) as f64).min(ceiling),
            threshold: ceiling,
            ceiling,
            in_flight: 0,
            paused_until: None,
            last_cut: None,
            round_trip: Duration::from_millis(100),
            failures_in_row: 0,
            breaker: Breaker::Closed,
        }
    }

    /// Sends allowed in flight now.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn admit(&mut self, now: Instant) -> Admission {
        if let Some(until) = self.paused_until.filter(|until| *until > now) {
            return Admission::Defer { after: until - now, class: "host_throttled" };
        }
        match self.breaker {
            Breaker::Open { until, .. } if until > now => {
                Admission::Defer { after: until - now, class: "host_unavailable" }
            }
            Breaker::Open { cooldown, .. } => {
                self.breaker = Breaker::Probing { cooldown };
                self.in_flight += 1;
                Admission::Go
            }
            Breaker::Probing { .. } => Admission::Defer { after: PROBE_WAIT, class: "host_unavailable" },
            Breaker::Closed if self.in_flight < self.limit() => {
                self.in_flight += 1;
                Admission::Go
            }
            Breaker::Closed => Admission::Wait,
        }
    }

    /// A send admitted with `Go` was answered after `took`, saying `signal`.
    pub fn finish(&mut self, signal: Signal, took: Duration, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if signal != Signal::Nothing {
            // 1/8 of each new answer time, as TCP smooths its round trip.
            self.round_trip = (self.round_trip * 7 + took) / 8;
        }
        match signal {
            Signal::Answered => {
                self.failures_in_row = 0;
                self.breaker = Breaker::Closed;
                if took >= SLOW_ANSWER {
                    self.cut(now);
                } else {
                    let step = if self.limit < self.threshold { 1.0 } else { 1.0 / self.limit };
                    self.limit = (self.limit + step).min(self.ceiling);
                }
            }
            Signal::Throttled { after } => {
                self.cut(now);
                if let Some(after) = after {
                    let until = now + after;
                    self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
                }
            }
            Signal::Failed => {
                self.cut(now);
                self.failures_in_row += 1;
                match self.breaker {
                    Breaker::Probing { cooldown } => {
                        let cooldown = (cooldown * 2).min(BREAKER_MAX_COOLDOWN);
                        self.breaker = Breaker::Open { until: now + cooldown, cooldown };
                    }
                    Breaker::Closed if self.failures_in_row >= BREAKER_FAILURES => {
                        self.breaker = Breaker::Open { until: now + BREAKER_COOLDOWN, cooldown: BREAKER_COOLDOWN };
                    }
                    _ => {}
                }
            }
            Signal::Nothing => {
                if let Breaker::Probing { cooldown } = self.breaker {
                    // The probe said nothing: probe again at once.
                    self.breaker = Breaker::Open { until: now, cooldown };
                }
            }
        }
    }

    /// Halves the limit, once per round trip.
    fn cut(&mut self, now: Instant) {
        if self.last_cut.is_some_and(|last| now.saturating_duration_since(last) < self.round_trip) {
            return;
        }
        self.last_cut = Some(now);
        self.limit = (self.limit / 2.0).max(1.0);
        self.threshold = self.limit;
    }
}

struct Host {
    pace: Mutex<HostPace>,
    freed: Notify,
}

/// The hosts' paces, shared by a process's sends.
pub struct Pacer {
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    initial: usize,
    ceiling: usize,
}

/// Hosts whose pace is kept: far more push services than exist; past it, idle hosts are
/// forgotten (a forgotten host starts again at the initial pace).
const HOSTS_KEPT: usize = 1_024;

/// A send admitted to its host; `finish` it with its outcome (dropped unfinished, it says
/// nothing).
pub struct Slot {
    host: Arc<Host>,
    started: Instant,
    finished: bool,
}

impl Slot {
    pub fn finish(mut self, outcome: &SendOutcome) {
        self.end(Signal::of(outcome));
    }

    fn end(&mut self, signal: Signal) {
        if self.finished {
            return;
        }
        self.finished = true;
        let now = Instant::now();
        if let Ok(mut pace) = self.host.pace.lock() {
            pace.finish(signal, now - self.started, now);
        }
        self.host.freed.notify_one();
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.end(Signal::Nothing);
    }
}

impl Pacer {
    /// Hosts start at `initial` sends in flight and never pass `ceiling`.
    pub fn new(initial: usize, ceiling: usize) -> Self {
        Self { hosts: Mutex::new(HashMap::new()), initial, ceiling }
    }

    fn host(&self, name: &str) -> Arc<Host> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(host) = hosts.get(name) {
            return host.clone();
        }
        if hosts.len() >= HOSTS_KEPT {
            hosts.retain(|_, host| Arc::strong_count(host) > 1);
        }
        let host = Arc::new(Host { pace: Mutex::new(HostPace::new(self.initial, self.ceiling)), freed: Notify::new() });
        hosts.insert(name.to_owned(), host.clone());
        host
    }

    /// Waits for a send to `host` to be allowed, until `not_after`: a slot, or how long the
    /// delivery must wait (also when `not_after` passed first: its lease is running out).
    pub async fn admit(&self, host: &str, not_after: Instant) -> Result<Slot, SendOutcome> {
        let host = self.host(host);
        loop {
            let freed = host.freed.notified();
            let admission = host.pace.lock().map(|mut pace| pace.admit(Instant::now())).unwrap_or(Admission::Wait);
            match admission {
                Admission::Go => {
                    // Others may fit too (the limit grew): pass the word on.
                    host.freed.notify_one();
                    return Ok(Slot { host: host.clone(), started: Instant::now(), finished: false });
                }
                Admission::Defer { after, class } => {
                    host.freed.notify_one();
                    return Err(SendOutcome::Deferred { after, class: class.to_owned() });
                }
                Admission::Wait => {
                    if tokio::time::timeout_at(not_after, freed).await.is_err() {
                        return Err(SendOutcome::Deferred { after: Duration::ZERO, class: "lease_ending".into() });
                    }
                }
            }
        }
    }

    /// The sends in flight allowed to `host` now (for the metrics and tests).
    pub fn limit(&self, host: &str) -> usize {
        self.host(host).pace.lock().map_or(0, |pace| pace.limit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn sent() -> Signal {
        Signal::Answered
    }

    /// Admits `n` sends and answers each after `took` with `signal`, all at `at`.
    fn round(pace: &mut HostPace, n: usize, signal: Signal, took: Duration, at: Instant) {
        for _ in 0..n {
            assert_eq!(pace.admit(at), Admission::Go);
        }
        for _ in 0..n {
            pace.finish(signal, took, at + took);
        }
    }

    #[test]
    fn fast_answers_grow_the_sends_in_flight_and_trouble_halves_them() {
        let t0 = Instant::now();
        let mut pace = HostPace::new(64, 2_000);
        assert_eq!(pace.limit(), 64);
        // Slow start: each answer adds one, so a round trip of 64 answers doubles it.
        round(&mut pace, 64, sent(), 80 * MS, t0);
        assert_eq!(pace.limit(), 128);
        for _ in 0..128 {
            assert_eq!(pace.admit(t0), Admission::Go);
        }
        assert_eq!(pace.admit(t0), Admission::Wait, "no more than the limit at once");
        // A 429 halves it; the other answers to sends made before the cut do not cut again.
        pace.finish(Signal::Throttled { after: None }, 80 * MS, t0 + 80 * MS);
        assert_eq!(pace.limit(), 64);
        for _ in 0..5 {
            pace.finish(Signal::Failed, 80 * MS, t0 + 81 * MS);
        }
        assert_eq!(pace.limit(), 64, "one cut per round trip");
        // After the cut, growth is one per round trip's worth of answers (64 answers: +1).
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..122 {
            pace.finish(sent(), 80 * MS, t1);
        }
        assert_eq!(pace.limit(), 65);
        // A slow answer is a sign of queueing too.
        let t2 = t1 + Duration::from_secs(1);
        round(&mut pace, 1, sent(), SLOW_ANSWER, t2);
        assert_eq!(pace.limit(), 32);
    }

    #[test]
    fn a_retry_after_pauses_the_host_until_then() {
        let t0 = Instant::now();
        let mut pace = HostPace::new(8, 100);
        assert_eq!(pace.admit(t0), Admission::Go);
        pace.finish(Signal::Throttled { after: Some(Duration::from_secs(3)) }, 10 * MS, t0);
        assert_eq!(
            pace.admit(t0 + Duration::from_secs(1)),
            Admission::Defer { after: Duration::from_secs(2), class: "host_throttled" }
        );
        assert_eq!(pace.admit(t0 + Duration::from_secs(3)), Admission::Go, "sends resume when the time given ends");
    }

    #[test]
    fn a_host_failing_hard_is_paused_then_probed_by_one_send() {
        let t0 = Instant::now();
        let mut pace = HostPace::new(64, 100);
        for i in 0..BREAKER_FAILURES {
            assert_eq!(pace.admit(t0), Admission::Go, "send {i} goes: the circuit is closed");
            pace.finish(Signal::Failed, 10 * MS, t0);
        }
        assert_eq!(pace.admit(t0), Admission::Defer { after: BREAKER_COOLDOWN, class: "host_unavailable" });
        // The cooldown over, one send probes; the others wait for its answer.
        let t1 = t0 + BREAKER_COOLDOWN;
        assert_eq!(pace.admit(t1), Admission::Go);
        assert_eq!(pace.admit(t1), Admission::Defer { after: PROBE_WAIT, class: "host_unavailable" });
        // A failed probe opens the circuit again for twice as long.
        pace.finish(Signal::Failed, 10 * MS, t1);
        assert_eq!(pace.admit(t1), Admission::Defer { after: BREAKER_COOLDOWN * 2, class: "host_unavailable" });
        // A probe answered closes it.
        let t2 = t1 + BREAKER_COOLDOWN * 2;
        assert_eq!(pace.admit(t2), Admission::Go);
        pace.finish(sent(), 10 * MS, t2);
        assert_eq!(pace.admit(t2), Admission::Go);
        assert_eq!(pace.admit(t2), Admission::Go, "closed: sends go up to the limit again");
    }

    #[test]
    fn each_outcome_says_what_it_says_about_its_host() {
        assert_eq!(Signal::of(&SendOutcome::Sent { message_id: None }), Signal::Answered);
        assert_eq!(Signal::of(&SendOutcome::dead("gone")), Signal::Answered);
        let after = Some(Duration::from_secs(4));
        assert_eq!(Signal::of(&SendOutcome::retry("rate_limited", after)), Signal::Throttled { after });
        for class in ["provider_503", "provider_500", "timeout", "network"] {
            assert_eq!(Signal::of(&SendOutcome::retry(class, None)), Signal::Failed, "{class}");
        }
        assert_eq!(Signal::of(&SendOutcome::retry("internal", None)), Signal::Nothing);
    }

    /// One host's 429 storm leaves another host's pace as it was.
    #[tokio::test]
    async fn hosts_are_paced_apart() {
        let pacer = Pacer::new(4, 100);
        let far = Instant::now() + Duration::from_secs(5);
        let slot = pacer.admit("storm.example:443", far).await.expect("admitted");
        slot.finish(&SendOutcome::retry("rate_limited", Some(Duration::from_secs(30))));
        let refused = pacer.admit("storm.example:443", far).await.err();
        assert!(matches!(refused, Some(SendOutcome::Deferred { class, .. }) if class == "host_throttled"));
        let calm: Vec<Slot> = futures_util::future::join_all((0..4).map(|_| pacer.admit("calm.example:443", far)))
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("the calm host admits its four");
        assert_eq!(pacer.limit("calm.example:443"), 4);
        // A fifth waits for one of the four; when its lease nears its end, it is put back.
        let soon = Instant::now() + 50 * MS;
        let waited = pacer.admit("calm.example:443", soon).await.err();
        assert!(matches!(waited, Some(SendOutcome::Deferred { class, .. }) if class == "lease_ending"));
        drop(calm);
        assert!(pacer.admit("calm.example:443", far).await.is_ok(), "a slot freed is taken");
    }
}
