//! Delivery at the pace of real push services (issue 32): against the benchmarks' push service
//! over TLS and HTTP/2, with faults, every push arrives exactly once, and one host's throttling
//! or failure stays its own.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{awake_quiet_hours, tokyo_day, TestApp};
use crate::push_service::PushService;
use nonstop::db::schema::deliveries;

/// An app trusting the push services' certificates, its key, and a family per service with
/// `devices` subscriptions to it, each family's birth registration reminder due now.
async fn families_on(app: &TestApp, key: &str, services: &[&PushService], devices: usize) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for service in services {
        let family = app
            .create_family(
                key,
                json!({ "municipality_code": "131016", "quiet_hours": awake_quiet_hours(),
                        "guardians": [{ "relationship": "mother", "full_name": "配信 試子" }],
                        "children": [{ "status": "born", "birth_date": tokyo_day(0), "full_name": "配信 赤子" }] }),
            )
            .await;
        let mut service_paths = Vec::new();
        for _ in 0..devices {
            let (path, device) = service.subscribe();
            let (status, body) = app.post(&format!("/v1/families/{family}/devices"), key, device).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            service_paths.push(path);
        }
        app.make_due(&family, "birth_registration").await;
        paths.push(service_paths);
    }
    paths
}

async fn app_trusting(services: &[&PushService], adjust: impl FnOnce(&mut nonstop::config::Settings)) -> TestApp {
    let roots: Vec<_> = services.iter().map(|s| s.certificate.clone()).collect();
    TestApp::spawn_with(move |s| {
        s.push.extra_root_certificates = roots;
        adjust(s);
    })
    .await
}

/// Polls the service's figures until `done` holds; fails after `limit`.
async fn stats_until(service: &PushService, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let stats = service.stats().await;
        if done(&stats) {
            return stats;
        }
        assert!(started.elapsed() < limit, "timed out: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn statuses(app: &TestApp) -> Vec<(String, i32, Option<String>)> {
    let mut conn = app.db.get().expect("conn");
    deliveries::table
        .select((deliveries::status, deliveries::attempts, deliveries::last_error))
        .load(&mut *conn)
        .expect("deliveries")
}

/// 10% of the answers are 429 (Retry-After: 1) and 1% of the streams are reset, over TLS and
/// HTTP/2: every push is taken exactly once, and each delivery is recorded sent.
#[actix_web::test]
async fn through_429s_and_resets_every_push_arrives_exactly_once() {
    let service = PushService::spawn(&["--rtt-ms", "20", "--faults", "429=10%,reset=1%", "--retry-after", "1"]);
    let app = app_trusting(&[&service], |_| {}).await;
    let key = app.push_ready_app("vendor").await;
    const PUSHES: u64 = 60;
    let paths = families_on(&app, &key, &[&service, &service, &service], 20).await;
    assert_eq!(paths.concat().len() as u64, PUSHES);
    let stats = stats_until(&service, Duration::from_secs(90), |s| s["taken"] == PUSHES).await;
    app.wait_until_settled().await;
    assert_eq!((stats["distinct"].as_u64(), stats["doubles"].as_u64()), (Some(PUSHES), Some(0)), "{stats}");
    let rows = statuses(&app);
    assert_eq!(rows.len() as u64, PUSHES);
    assert!(rows.iter().all(|(status, _, _)| status == "sent"), "{rows:?}");
    // Each refused or reset send was one attempt more, and no more than that.
    let attempts: u64 = rows.iter().map(|(_, attempts, _)| *attempts as u64).sum();
    let refused = stats["answers"]["429"].as_u64().unwrap_or(0) + stats["answers"]["reset"].as_u64().unwrap_or(0);
    assert!(attempts <= PUSHES + refused, "{attempts} attempts for {PUSHES} pushes and {refused} refusals");
    // Over TLS with HTTP/2 chosen by ALPN, several streams on a connection at once.
    assert!(stats["h2_connections"].as_u64() >= Some(1), "{stats}");
    assert_eq!(stats["h2_connections"], stats["connections"], "every connection spoke HTTP/2: {stats}");
    assert!(stats["most_in_flight"].as_u64() > Some(1), "sends multiplexed: {stats}");
}

/// A push service answering every send with 429 and Retry-After: 30 is paused as a whole after
/// its first answers (the other deliveries to it wait without spending an attempt), while
/// another push service takes all of its pushes at once.
#[actix_web::test]
async fn a_429_storm_on_one_host_does_not_slow_another() {
    let storm = PushService::spawn(&["--faults", "429=100%", "--retry-after", "30"]);
    let calm = PushService::spawn(&["--rtt-ms", "20"]);
    // Two sends at once to a host to begin with: the storm's first answers come back before
    // most of its deliveries were tried.
    let app = app_trusting(&[&storm, &calm], |s| s.jobs.concurrency = 2).await;
    let key = app.push_ready_app("vendor").await;
    let started = std::time::Instant::now();
    families_on(&app, &key, &[&storm, &calm], 20).await;
    let calm_stats = stats_until(&calm, Duration::from_secs(20), |s| s["taken"] == 20).await;
    assert_eq!(calm_stats["doubles"], 0);
    assert!(started.elapsed() < Duration::from_secs(15), "the calm host waited: {:?}", started.elapsed());
    let storm_stats = storm.stats().await;
    let tried = storm_stats["requests"].as_u64().unwrap_or(0);
    assert!((1..=4).contains(&tried), "the storm's host was paused after its first 429s: {storm_stats}");
    app.wait_until("the storm's deliveries put back", |conn| {
        deliveries::table
            .filter(deliveries::last_error.eq("host_throttled"))
            .filter(deliveries::attempts.eq(0))
            .filter(deliveries::status.eq("pending"))
            .count()
            .get_result::<i64>(conn)
            .expect("count")
            >= 16
    })
    .await;
}

/// A push service failing every send (503) has its circuit opened after ten failures in a row:
/// the other deliveries to it are put back without spending an attempt instead of each burning
/// its retries.
#[actix_web::test]
async fn a_host_failing_hard_is_paused_instead_of_burning_every_retry() {
    let failing = PushService::spawn(&["--faults", "503=100%"]);
    let app = app_trusting(&[&failing], |s| s.jobs.concurrency = 1).await;
    let key = app.push_ready_app("vendor").await;
    // Thirty deliveries: two families of fifteen devices (a family has at most twenty).
    families_on(&app, &key, &[&failing, &failing], 15).await;
    app.wait_until("the failing host's deliveries put back", |conn| {
        deliveries::table
            .filter(deliveries::last_error.eq("host_unavailable"))
            .filter(deliveries::attempts.eq(0))
            .count()
            .get_result::<i64>(conn)
            .expect("count")
            >= 15
    })
    .await;
    let stats = failing.stats().await;
    assert!(
        stats["requests"].as_u64() <= Some(u64::from(nonstop::push::pace::BREAKER_FAILURES) + 1),
        "no more than the failures that opened the circuit: {stats}"
    );
}
