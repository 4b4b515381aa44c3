//! The fan-out benchmark: the real delivery pipeline against a loopback Web Push service.

use std::collections::BTreeMap;
use std::time::Instant;

use diesel::prelude::*;
use nonstop::db::schema::deliveries;
use nonstop::service::families::FamilyInput;
use nonstop::service::inbox::{self, EntryKind, NewEntry};
use nonstop::service::{devices, families};
use nonstop::templates::TemplateValue;

use super::env::tempfile_dir;

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs the fan-out against the loopback service, or, with `rtts`, against the push service that
/// behaves like the real ones at each round trip in turn, and prints each rate against the first.
pub fn run(
    place: super::env::Place,
    families_n: usize,
    per_family: usize,
    workers: usize,
    compare_npm: bool,
    rtts: &[u64],
) -> anyhow::Result<()> {
    if rtts.is_empty() {
        return run_one(place.env()?, families_n, per_family, workers, compare_npm).map(|_| ());
    }
    let mut rates = Vec::new();
    for &rtt_ms in rtts {
        println!("fanout: push service over TLS and HTTP/2 with a round trip of {rtt_ms} ms");
        let options = super::push_service::Options { rtt_ms, max_streams: 100, threads: 2, ..Default::default() };
        let rate = run_one(place.clone().env_with_service(options)?, families_n, per_family, workers, compare_npm)?;
        rates.push((rtt_ms, rate));
    }
    if let Some((first_rtt, first)) = rates.first().copied() {
        for (rtt_ms, rate) in &rates[1..] {
            println!(
                "fanout: at {rtt_ms} ms round trip {rate:.0} deliveries/s, {:.0}% of the rate at {first_rtt} ms",
                rate / first * 100.0
            );
        }
    }
    Ok(())
}

/// One fan-out; returns deliveries/s.
fn run_one(
    bench: super::env::BenchEnv,
    families_n: usize,
    per_family: usize,
    workers: usize,
    compare_npm: bool,
) -> anyhow::Result<f64> {
    let (db, keys, templates, app_id) = (&bench.db, &bench.keys, &bench.templates, &bench.app_id);
    let rendered = templates
        .render(
            "reminder_birth_registration",
            "ja",
            &BTreeMap::from([
                ("opens_on".into(), TemplateValue::Date(bench.clock.today())),
                ("due".into(), TemplateValue::Date(bench.clock.today())),
                ("days_left".into(), TemplateValue::Integer(3)),
                ("online".into(), TemplateValue::Boolean(false)),
            ]),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // Families and devices, written the way the API writes them.
    let setup = Instant::now();
    let mut conn = db.get()?;
    let allowed = bench.settings.push.web_push_allowed_hosts.clone();
    let mut family_rows = Vec::with_capacity(families_n);
    for chunk in (0..families_n).collect::<Vec<_>>().chunks(200) {
        nonstop::db::write_transaction(&mut conn, |c| {
            for i in chunk {
                let input: FamilyInput = serde_json::from_value(serde_json::json!({ "municipality_code": "131016" }))
                    .map_err(|e| nonstop::error::Error::internal(e.to_string()))?;
                let family = families::create(c, keys, app_id, input, bench.clock.today(), bench.clock.now())?;
                for d in 0..per_family {
                    devices::register(
                        c,
                        keys,
                        &family.id,
                        bench.device(&format!("{i}-{d}")),
                        &allowed,
                        bench.clock.now(),
                    )?;
                }
                family_rows.push(family.id);
            }
            Ok(())
        })?;
    }
    let rows: Vec<nonstop::db::rows::FamilyRow> = {
        use nonstop::db::schema::families as f;
        f::table.select(nonstop::db::rows::FamilyRow::as_select()).load(&mut *conn)?
    };
    println!("fanout: set up {} families × {per_family} devices in {:.1} s", rows.len(), setup.elapsed().as_secs_f64());

    // One reminder per family, due now: entries and deliveries recorded.
    let due = Instant::now();
    for chunk in rows.chunks(500) {
        nonstop::db::write_transaction(&mut conn, |c| {
            for family in chunk {
                let key = format!("bench/{}", family.id);
                inbox::record(
                    c,
                    family,
                    NewEntry {
                        dedupe_key: &key,
                        kind: EntryKind::Reminder,
                        rendered: &rendered,
                        task_id: None,
                        collapse_key: None,
                    },
                    bench.clock.now(),
                )?;
            }
            Ok(())
        })?;
    }
    drop(conn);
    let total = rows.len() * per_family;
    let recorded = due.elapsed();
    println!("fanout: {total} deliveries recorded in {:.2} s", recorded.as_secs_f64());

    // Deliver with the real senders on a runtime of their own, as `nonstop serve` does.
    let started = Instant::now();
    bench.deliver_all(workers)?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut conn = db.get()?;
    let timings: Vec<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> = deliveries::table
        .filter(deliveries::status.eq("sent"))
        .select((deliveries::due_at, deliveries::sent_at))
        .load(&mut *conn)?;
    let mut latencies: Vec<f64> =
        timings.iter().filter_map(|(due, sent)| sent.map(|s| (s - *due).num_milliseconds() as f64 / 1000.0)).collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let sent = latencies.len();
    let rate = sent as f64 / elapsed;
    let received = bench.service.as_ref().map_or(bench.pushes.received() as u64, |stats| stats.taken().0);
    println!(
        "fanout: {sent} of {total} sent ({received} received by the mock) in {elapsed:.2} s with {workers} workers"
    );
    if let Some(stats) = &bench.service {
        let figures = stats.snapshot();
        println!(
            "fanout: the push service saw {} connections ({} HTTP/2), at most {} requests at once, {} doubles",
            figures["connections"], figures["h2_connections"], figures["most_in_flight"], figures["doubles"]
        );
    }
    println!("fanout: {rate:.0} deliveries/s (encryption, VAPID, claims and outcomes included)");
    println!("fanout: due → sent p50 {:.2} s, p99 {:.2} s", percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    println!("fanout: peak memory {:.1} MiB", super::peak_memory_mib());
    if compare_npm {
        compare_with_npm("fanout", &bench, total, rate);
    }
    Ok(rate)
}

/// Runs the npm `web-push` library against the benchmark's push service and prints nonstop's
/// `rate` (deliveries/s) against it.
pub fn compare_with_npm(label: &str, bench: &super::env::BenchEnv, total: usize, rate: f64) {
    let (p256dh, auth) = bench.subscription_keys();
    match npm_rate(bench.origin(), bench.certificate(), total.min(5_000), p256dh, auth) {
        Ok(npm) => println!(
            "{label}: npm web-push {npm:.0} deliveries/s against the same service; nonstop is {:.1}× that",
            rate / npm
        ),
        Err(e) => println!("{label}: npm web-push not measured: {e}"),
    }
}

/// Installs the npm `web-push` library in a temporary folder and sends `count` pushes with it
/// (64 in flight, as nonstop's worker had before it paced hosts) to the same service. Returns
/// deliveries/s.
fn npm_rate(
    origin: &str,
    certificate: Option<&std::path::Path>,
    count: usize,
    p256dh: &str,
    auth: &str,
) -> anyhow::Result<f64> {
    let dir = tempfile_dir()?;
    let install = std::process::Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "web-push@3"])
        .current_dir(&dir)
        .output()?;
    if !install.status.success() {
        anyhow::bail!("npm install web-push failed: {}", String::from_utf8_lossy(&install.stderr));
    }
    let script = format!(
        r#"
// The npm library always speaks https (HTTP/1.1, 64 sockets as nonstop's old worker had in
// flight). The loopback mock speaks http, so its requests go through http.request; the
// realistic service speaks TLS with its own certificate.
const http = require('http'), https = require('https'), fs = require('fs');
const certificate = {certificate};
if (certificate) {{
  https.globalAgent = new https.Agent({{ keepAlive: true, maxSockets: 64, ca: fs.readFileSync(certificate) }});
}} else {{
  const httpAgent = new http.Agent({{ keepAlive: true, maxSockets: 64 }});
  https.request = (options, callback) => http.request(Object.assign({{}}, options, {{ protocol: 'http:', agent: httpAgent }}), callback);
}}
const webpush = require('web-push');
const keys = webpush.generateVAPIDKeys();
webpush.setVapidDetails('mailto:bench@nonstop-bench.jp', keys.publicKey, keys.privateKey);
const payload = JSON.stringify({{ title: '出生届：期限まであと3日', body: '出生届の期限は令和8年12月1日（火）です。', entry_id: '01a2012c-93b7-7238-92a3-a8848e4da0f0' }});
const total = {count};
let next = 0, done = 0;
const started = process.hrtime.bigint();
function one() {{
  if (next >= total) return Promise.resolve();
  const i = next++;
  const sub = {{ endpoint: '{origin}/push/npm-' + i, keys: {{ p256dh: '{p256dh}', auth: '{auth}' }} }};
  return webpush.sendNotification(sub, payload, {{ TTL: 86400, urgency: 'normal' }}).then(() => {{ done++; return one(); }});
}}
Promise.all(Array.from({{ length: 64 }}, one)).then(() => {{
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(done / seconds);
}}).catch(e => {{ console.error(e); process.exit(1); }});
"#,
        certificate = certificate.map_or("null".to_owned(), |c| format!("{:?}", c.display().to_string())),
    );
    std::fs::write(dir.join("bench.js"), script)?;
    let run = std::process::Command::new("node").arg("bench.js").current_dir(&dir).output()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !run.status.success() {
        anyhow::bail!("node failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    Ok(String::from_utf8_lossy(&run.stdout).trim().parse()?)
}
