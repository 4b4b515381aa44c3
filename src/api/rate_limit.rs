//! Per-credential rate limits: a token bucket (GCRA) per app key, staff key and family's
//! sessions, in this process's memory, and one more that all of an app's sessions share, so that
//! a vendor cannot multiply its budget by minting sessions for many families. A tenant that calls
//! too fast gets 429 with `Retry-After`; the others never notice.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitSettings;
use crate::error::Error;
use crate::service::principals::Principal;

/// Checks between two sweeps of idle buckets: keeps the map as large as the active callers.
const SWEEP_EVERY: u64 = 10_000;

pub struct RateLimits {
    buckets: DefaultKeyedRateLimiter<String>,
    /// Per app, what its parent sessions spend together (none for limits keyed otherwise).
    app_sessions: Option<Box<RateLimits>>,
    checks: AtomicU64,
}

fn per_second(rate: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    pub fn new(settings: &LimitSettings) -> Self {
        let app_sessions = Self::with_quota(per_second(settings.app_sessions_per_second, settings.app_sessions_burst));
        Self {
            app_sessions: Some(Box::new(app_sessions)),
            ..Self::with_quota(per_second(settings.requests_per_second, settings.burst))
        }
    }

    /// `per_minute` requests a minute for each key, all of them at once at most.
    pub fn per_minute(per_minute: u32) -> Self {
        let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self::with_quota(Quota::per_minute(rate))
    }

    fn with_quota(quota: Quota) -> Self {
        Self { buckets: RateLimiter::keyed(quota), app_sessions: None, checks: AtomicU64::new(0) }
    }

    /// Takes one request from the caller's bucket (and, for a parent session, from the budget
    /// its app's sessions share), or says how long to wait.
    pub fn check(&self, principal: &Principal) -> Result<(), Error> {
        self.check_key(bucket(principal))?;
        match (principal, &self.app_sessions) {
            (Principal::Parent { app_id, .. }, Some(app_sessions)) => {
                app_sessions.check_key(format!("app-sessions:{app_id}"))
            }
            _ => Ok(()),
        }
    }

    /// Takes `cost` requests from the caller's bucket at once (an expensive read counts as
    /// several), or says how long to wait; takes nothing when refused. A cost above the burst
    /// takes the whole burst.
    pub fn check_cost(&self, principal: &Principal, cost: u32) -> Result<(), Error> {
        let Some(cost) = NonZeroU32::new(cost) else { return Ok(()) };
        let key = bucket(principal);
        self.sweep_now_and_then();
        let taken = match self.buckets.check_key_n(&key, cost) {
            Ok(taken) => taken,
            Err(governor::InsufficientCapacity(burst)) => {
                let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
                self.buckets.check_key_n(&key, burst).unwrap_or(Ok(()))
            }
        };
        taken.map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// Takes one request from `key`'s bucket (a credential, a client address), or says how
    /// long to wait.
    pub fn check_key(&self, key: String) -> Result<(), Error> {
        self.sweep_now_and_then();
        self.buckets
            .check_key(&key)
            .map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// Drops idle buckets every `SWEEP_EVERY` checks.
    fn sweep_now_and_then(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.buckets.retain_recent();
            self.buckets.shrink_to_fit();
        }
    }
}

/// 429, retrying after `wait` rounded up to whole seconds.
fn too_many(wait: std::time::Duration) -> Error {
    Error::RateLimited { retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0) }
}

/// One bucket per credential: the app key (not the app: each key of a rotation pair has its
/// own), the staff key, or the family whose sessions call.
fn bucket(principal: &Principal) -> String {
    match principal {
        Principal::App { key_id, .. } => format!("app-key:{key_id}"),
        Principal::Staff { staff_id, .. } => format!("staff:{staff_id}"),
        Principal::Parent { family_id, .. } => format!("family:{family_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_for_its_credential_only() {
        let limits = RateLimits::new(&LimitSettings { requests_per_second: 1, burst: 3, ..LimitSettings::default() });
        let a = Principal::App { app_id: "a".into(), key_id: "ka".into() };
        let b = Principal::App { app_id: "b".into(), key_id: "kb".into() };
        for _ in 0..3 {
            assert!(limits.check(&a).is_ok());
        }
        match limits.check(&a) {
            Err(Error::RateLimited { retry_after_seconds }) => assert_eq!(retry_after_seconds, 1),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(limits.check(&b).is_ok(), "another credential is not slowed");
    }

    #[test]
    fn an_apps_sessions_share_one_budget_beside_each_familys_own() {
        let limits = RateLimits::new(&LimitSettings {
            requests_per_second: 1,
            burst: 2,
            app_sessions_per_second: 1,
            app_sessions_burst: 3,
            ..LimitSettings::default()
        });
        let parent = |family: &str, app: &str| Principal::Parent { family_id: family.into(), app_id: app.into() };
        assert!(limits.check(&parent("f1", "a")).is_ok());
        assert!(limits.check(&parent("f1", "a")).is_ok());
        assert!(limits.check(&parent("f1", "a")).is_err(), "the family's own bucket");
        assert!(limits.check(&parent("f2", "a")).is_ok());
        assert!(limits.check(&parent("f3", "a")).is_err(), "the app's sessions spent their budget together");
        assert!(limits.check(&parent("f4", "b")).is_ok(), "another app's sessions are not slowed");
        let key = Principal::App { app_id: "a".into(), key_id: "ka".into() };
        assert!(limits.check(&key).is_ok(), "the app's key keeps its own budget");
    }

    #[test]
    fn an_expensive_read_spends_its_cost_at_once_or_nothing() {
        let limits = RateLimits::new(&LimitSettings { requests_per_second: 1, burst: 10, ..LimitSettings::default() });
        let code = crate::domain::MunicipalityCode::parse("131016").expect("code");
        let staff = Principal::Staff { staff_id: "s".into(), municipality: code.clone(), admin: false };
        assert!(limits.check_cost(&staff, 8).is_ok());
        match limits.check_cost(&staff, 8) {
            Err(Error::RateLimited { retry_after_seconds }) => assert_eq!(retry_after_seconds, 6, "6 more tokens"),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(limits.check(&staff).is_ok() && limits.check(&staff).is_ok(), "the refused read took nothing");
        assert!(limits.check(&staff).is_err());
        // A cost above the burst takes the whole burst: slow, never impossible.
        let other = Principal::Staff { staff_id: "t".into(), municipality: code, admin: false };
        assert!(limits.check_cost(&other, 50).is_ok());
        assert!(limits.check(&other).is_err());
    }
}
