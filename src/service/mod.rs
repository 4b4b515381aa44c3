//! Use cases. Each function owns what it reads and writes; callers run it inside
//! `Db::write` (one transaction) or `Db::read`. No network calls happen here.
//!
//! The input types (`…Input`, `…Patch`) and the views returned (`Family`, `Child`, …) are the
//! contract of each use case; the HTTP layer uses them as request and response bodies.

pub mod access;
pub mod app_events;
pub mod audit;
pub mod batches;
pub mod bundles;
pub mod children;
pub mod consents;
pub mod devices;
pub mod drafts;
pub mod families;
pub mod family_changed;
pub mod guardians;
pub mod idempotency;
pub mod inbox;
pub mod life_events;
pub mod municipalities;
pub mod notices;
pub mod paging;
pub mod paperwork;
pub mod patch;
pub mod plan_diff;
pub mod planning;
pub mod principals;
pub mod profile;
pub mod push_credentials;
pub mod readiness;
pub mod replan;
pub mod sign_in_attempts;
pub mod signing;
pub mod staff_accounts;
pub mod staff_totp;
pub mod strict_json;
pub mod submissions;
pub mod tagged;
pub mod tasks;
pub mod use_case;
pub mod vaccinations;
pub mod webhooks;

pub use use_case::UseCase;

use chrono::{DateTime, NaiveDateTime, Utc};

/// A new identifier: a UUIDv7, so that ids sort by creation time (stable paging).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A stored UTC timestamp, for responses.
pub fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}
