//! A server killed with SIGKILL in the middle of a 10,000-delivery fan-out, then restarted,
//! delivers every one: none lost, and duplicates only for deliveries in flight at the kill.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nonstop::clock::Clock;
use nonstop::config::Settings;
use nonstop::crypto::KeyRing;
use nonstop::service::devices::{self, DeviceInput};
use nonstop::service::inbox::{self, EntryKind, NewEntry};
use nonstop::service::{families, principals, push_credentials};
use nonstop::templates::{TemplateValue, Templates};

use crate::helpers::fresh_database_url;
use crate::mocks::WebPushMock;

const FAMILIES: usize = 500;
const DEVICES_PER_FAMILY: usize = 20;
const BATCH: i64 = 200;
/// Deliveries a worker holds at once (claimed, not yet recorded): two batches. They are what a
/// kill can leave sent and unrecorded, to be sent again.
const HELD: usize = 400;

/// A `nonstop serve` process, killed when dropped: a failing test leaves nothing running.
struct Server(Child);

impl Server {
    /// Starts the server with its clock at the test clock's present instant (it runs on from
    /// there), so that the process lives at the hour the test is about.
    fn start(config: &std::path::Path, clock: &Clock) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_nonstop"))
            .args(["serve", "--config"])
            .arg(config)
            .env_remove("DATABASE_URL")
            .env("NONSTOP__LOG__LEVEL", "error")
            .env("NONSTOP__CLOCK__START_AT", clock.now_utc().to_rfc3339())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        Self(child)
    }

    fn signal(&mut self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.0.id().to_string()]).status().expect("kill");
        assert!(sent.success());
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A server's settings file on a fresh database (`sections` are added after the database and
/// key sections), with the settings, keys and a migrated pool the test itself uses. Bind `_dir` by
/// name: the database lives in it, and `..` would drop it at the end of the `let`.
struct Configured {
    config: std::path::PathBuf,
    settings: Settings,
    keys: KeyRing,
    db: nonstop::db::Db,
    port: u16,
    _dir: tempfile::TempDir,
}

fn configured(sections: &str) -> Configured {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database_url(dir.path());
    let key = KeyRing::generate_key_base64();
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let config = dir.path().join("nonstop.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nport = {port}\n[database]\nurl = \"{url}\"\n[encryption]\nactive_key_id = \"k\"\n[encryption.keys]\nk = \"{key}\"\n{sections}"
        ),
    )
    .expect("config");
    let settings = Settings::load(Some(&config)).expect("settings");
    let keys = settings.key_ring().expect("keys");
    let db = nonstop::db::Db::connect(settings.database_location().expect("location"), 2, 5_000).expect("db");
    db.migrate().expect("migrate");
    Configured { config, settings, keys, db, port, _dir: dir }
}

/// How many deliveries are still to be sent.
fn unsent(db: &nonstop::db::Db) -> i64 {
    use diesel::prelude::*;
    use nonstop::db::schema::deliveries;
    let mut conn = db.get().expect("conn");
    deliveries::table.filter(deliveries::status.ne("sent")).count().get_result(&mut *conn).expect("count")
}

/// The deliveries not sent, as (status, attempts, last error, next attempt): what a failure shows.
fn not_sent(db: &nonstop::db::Db) -> Vec<(String, i32, Option<String>, chrono::NaiveDateTime)> {
    use diesel::prelude::*;
    use nonstop::db::schema::deliveries;
    let mut conn = db.get().expect("conn");
    deliveries::table
        .filter(deliveries::status.ne("sent"))
        .select((deliveries::status, deliveries::attempts, deliveries::last_error, deliveries::next_attempt_at))
        .limit(20)
        .load(&mut *conn)
        .expect("not sent")
}

#[actix_web::test]
async fn a_killed_server_delivers_every_delivery_after_restart() {
    // Noon in Japan, when pushes may go out; the test and both server processes share it.
    let clock = Clock::starting_at(crate::helpers::pinned_instant());
    let now = || clock.now();
    let web = WebPushMock::start().await;
    let hosts: Vec<String> =
        Settings::default().push.web_push_allowed_hosts.into_iter().chain(["127.0.0.1:*".to_owned()]).collect();
    let Configured { config, keys, db, _dir, .. } = configured(&format!(
        "[push]\nweb_push_allowed_hosts = {hosts:?}\n[jobs]\nscheduler = false\nbatch_size = {BATCH}\nmax_in_flight = {HELD}\nconcurrency = 32\nlease_seconds = 5\npoll_interval_ms = 50\n"
    ));

    // 10,000 deliveries, all due: 500 families × 20 subscriptions, one reminder each.
    let mut conn = db.get().expect("conn");
    let (app_id, _) =
        nonstop::db::write_transaction(&mut conn, |c| principals::create_app(c, "crash", now())).expect("app");
    nonstop::db::write_transaction(&mut conn, |c| {
        let input = push_credentials::WebPushCredentialsInput {
            subject: "mailto:push@nonstop-test.jp".into(),
            private_key: None,
        };
        push_credentials::set_web_push(c, &keys, &app_id, input, now())
    })
    .expect("credentials");
    let templates = Templates::built_in().expect("templates");
    let today = clock.today();
    let values = [
        ("opens_on", TemplateValue::Date(today)),
        ("due", TemplateValue::Date(today)),
        ("days_left", TemplateValue::Integer(3)),
        ("online", TemplateValue::Boolean(false)),
    ];
    let rendered = templates
        .render("reminder_birth_registration", "ja", &values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        .expect("render");
    let mut subscriptions = Vec::new();
    for _ in 0..FAMILIES {
        let devices: Vec<DeviceInput> = (0..DEVICES_PER_FAMILY)
            .map(|_| {
                let (id, body) = web.subscribe();
                subscriptions.push(id);
                serde_json::from_value(body).expect("device")
            })
            .collect();
        nonstop::db::write_transaction(&mut conn, |c| {
            let input = serde_json::from_value(serde_json::json!({ "municipality_code": "131016" })).expect("family");
            let family = families::create(c, &keys, &app_id, input, today, now())?;
            for device in devices {
                devices::register(c, &keys, &family.id, device, &hosts, now())?;
            }
            let row = nonstop::db::schema::families::table
                .find(&family.id)
                .select(nonstop::db::rows::FamilyRow::as_select())
                .first(c)?;
            let key = format!("crash/{}", family.id);
            inbox::record(
                c,
                &row,
                NewEntry {
                    dedupe_key: &key,
                    kind: EntryKind::Reminder,
                    rendered: &rendered,
                    task_id: None,
                    collapse_key: None,
                },
                now(),
            )?;
            Ok(())
        })
        .expect("family");
    }
    drop(conn);
    let total = FAMILIES * DEVICES_PER_FAMILY;

    // Start, and kill without warning once a part has been delivered.
    let mut first = Server::start(&config, &clock);
    let received = web.wait_for(Duration::from_secs(120), |r| r.len() >= total / 5).await;
    assert!(received.len() >= total / 5 && received.len() < total, "killed mid fan-out ({} received)", received.len());
    first.signal("-KILL");
    let at_kill = web.received().len();

    // Restart: leases of the killed process expire and every delivery goes out.
    let mut second = Server::start(&config, &clock);
    // Under a loaded machine the mock's answers can be slow enough for the host's circuit to
    // open (`push::pace`, at most 5 minutes closed): the wait allows for one full opening.
    let started = Instant::now();
    while unsent(&db) > 0 && started.elapsed() < Duration::from_secs(420) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.signal("-TERM");
    assert_eq!(unsent(&db), 0, "every delivery recorded sent within the wait; not sent: {:?}", not_sent(&db));

    let received = web.received();
    let mut per_subscription: HashMap<&str, usize> = HashMap::new();
    for r in &received {
        *per_subscription.entry(r.subscription.as_str()).or_default() += 1;
    }
    assert_eq!(per_subscription.len(), total, "none lost: every subscription received its push");
    assert!(subscriptions.iter().all(|s| per_subscription.contains_key(s.as_str())));
    let duplicates: usize = per_subscription.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= HELD,
        "duplicates only for the deliveries held at the kill ({duplicates} > {HELD}; {at_kill} received at the kill)"
    );
    let mut conn = db.get().expect("conn");
    use diesel::prelude::*;
    let statuses: Vec<String> = nonstop::db::schema::deliveries::table
        .select(nonstop::db::schema::deliveries::status)
        .load(&mut *conn)
        .expect("statuses");
    assert_eq!(statuses.len(), total);
    assert!(statuses.iter().all(|s| s == "sent"), "every delivery recorded as sent");
}

/// Families a notice is sent to while the server is killed: several recording batches.
const NOTICE_FAMILIES: usize = 6_000;

#[actix_web::test]
async fn a_server_killed_while_recording_a_notice_finishes_it_after_restart_with_no_family_skipped_or_twice() {
    use diesel::prelude::*;
    use nonstop::db::schema::{batch_runs, inbox_entries, notice_recipients};

    let clock = Clock::starting_at(crate::helpers::pinned_instant());
    let now = || clock.now();
    // The scheduler ticks every second, so a recording whose process died is taken over as soon
    // as its 5-second lease runs out.
    let Configured { config, settings, keys, db, port, _dir, .. } = configured(
        "[jobs]\nscheduler = true\nmaterialize_every_seconds = 1\nlease_seconds = 5\npoll_interval_ms = 50\n",
    );

    // Resident families, a staff key, and a notice approved by a second member of staff.
    let mut conn = db.get().expect("conn");
    let (app_id, _) =
        nonstop::db::write_transaction(&mut conn, |c| principals::create_app(c, "crash", now())).expect("app");
    let today = clock.today();
    for chunk in (0..NOTICE_FAMILIES).collect::<Vec<_>>().chunks(1_000) {
        nonstop::db::write_transaction(&mut conn, |c| {
            for _ in chunk {
                let input =
                    serde_json::from_value(serde_json::json!({ "municipality_code": "131016" })).expect("family");
                families::create(c, &keys, &app_id, input, today, now())?;
            }
            Ok(())
        })
        .expect("families");
    }
    let code = nonstop::domain::MunicipalityCode::parse("131016").expect("code");
    let grant = settings.sessions.staff_grant(false);
    let (_, staff_key) =
        nonstop::db::write_transaction(&mut conn, |c| principals::create_staff(c, &code, "窓口 担当", grant, now()))
            .expect("staff");
    let input = serde_json::from_value(serde_json::json!({
        "category": "checkup",
        "texts": { "ja": { "title": "健診のご案内", "body": "日程と会場をご確認ください。" } }
    }))
    .expect("notice");
    let notice = nonstop::db::write_transaction(&mut conn, |c| {
        let notice = nonstop::service::notices::create(c, &code, "author", input, now())?;
        nonstop::service::notices::approve(c, &code, &notice.id, "approver", &notice.content_digest, now())
    })
    .expect("approved");
    drop(conn);
    let recorded = |db: &nonstop::db::Db| -> i64 {
        let mut conn = db.get().expect("conn");
        notice_recipients::table
            .filter(notice_recipients::notice_id.eq(&notice.id))
            .count()
            .get_result(&mut *conn)
            .expect("count")
    };
    let done = |db: &nonstop::db::Db| -> bool {
        let mut conn = db.get().expect("conn");
        batch_runs::table
            .find(("notice_recording", &notice.id))
            .select(batch_runs::done_at)
            .first::<Option<chrono::NaiveDateTime>>(&mut *conn)
            .optional()
            .expect("recording")
            .flatten()
            .is_some()
    };

    // Staff send it; the server is killed while the audience is being recorded.
    let mut first = Server::start(&config, &clock);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/readyz")).send().await.is_err() && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let send = tokio::spawn(
        client
            .post(format!("{base}/v1/municipalities/131016/notices/{}/send", notice.id))
            .bearer_auth(&staff_key)
            .send(),
    );
    let started = Instant::now();
    while recorded(&db) == 0 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.signal("-KILL");
    let at_kill = recorded(&db);
    assert!(at_kill > 0 && at_kill < NOTICE_FAMILIES as i64 && !done(&db), "killed mid-recording ({at_kill} recorded)");
    assert!(send.await.expect("joined").is_err(), "the killed server never answered");

    // Restart: the recording is taken over where its last committed batch ended.
    let mut second = Server::start(&config, &clock);
    let started = Instant::now();
    while !done(&db) && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.signal("-TERM");
    assert!(done(&db), "the recording was finished after the restart");
    assert_eq!(recorded(&db), NOTICE_FAMILIES as i64, "no family skipped");
    let mut conn = db.get().expect("conn");
    let entries: i64 = inbox_entries::table
        .filter(inbox_entries::dedupe_key.like(format!("notice:{}:%", notice.id)))
        .count()
        .get_result(&mut *conn)
        .expect("entries");
    assert_eq!(entries, NOTICE_FAMILIES as i64, "one inbox entry per family: none twice");
}
