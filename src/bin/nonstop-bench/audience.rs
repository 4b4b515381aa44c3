//! A member of staff previewing audiences at the limit of their budget in a large municipality,
//! and another tenant's reads meanwhile (issue 29, item 4): N resident families of one
//! municipality (0–3 children each, some expected, planned as registration plans them), a
//! vendor of another municipality reading one of its families at a steady rate, and the staff's
//! key asking for the audience of different conditions each time (so that no count is reused)
//! faster than its budget allows. The server is the real application with the shipped limits.
//! Printed: one count made by walking every family (as before) and by the counting query, then
//! the tenant's latency alone and while the staff preview, and what the previews got.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nonstop::app::Application;
use nonstop::db::write_transaction;
use nonstop::domain::planner::PlanningContext;
use nonstop::domain::MunicipalityCode;
use nonstop::service::family_changed::family_changed;
use nonstop::service::notices::{self, Audience};
use nonstop::service::{families, principals};

use super::env::{BenchEnv, Place};
use super::fanout::percentile;
use super::SplitMix;

/// How the run is made: families, the staff's asking rate, the tenant's reading rate, seconds.
pub struct Load {
    pub families: usize,
    pub previews_per_second: u32,
    pub reads_per_second: u32,
    pub seconds: u64,
}

pub fn run(place: Place, load: Load) -> anyhow::Result<()> {
    let bench = Arc::new(place.env()?);
    let code = MunicipalityCode::parse("131016").map_err(anyhow::Error::msg)?;
    let planning = Arc::new(PlanningContext::shipped());
    let started = Instant::now();
    residents(&bench, &planning, &code, load.families)?;
    println!(
        "audience: {} resident families of {code} (0–3 children each, a fifth of them expected; planned) on {}, set up in {:.0} s",
        load.families,
        bench.backend(),
        started.elapsed().as_secs_f64()
    );

    // Another tenant: a vendor whose families live elsewhere, and its key.
    let mut conn = bench.db.get()?;
    let now = bench.clock.now();
    let (tenant_app, tenant_key) = write_transaction(&mut conn, |c| principals::create_app(c, "another vendor", now))?;
    let other = MunicipalityCode::parse("271004").map_err(anyhow::Error::msg)?;
    let tenant_families: Vec<String> = write_transaction(&mut conn, |c| {
        (0..100)
            .map(|i| {
                let input = serde_json::from_value(family_body(&other, i, bench.clock.today()))
                    .map_err(|e| nonstop::error::Error::internal(e.to_string()))?;
                Ok(families::create(c, &bench.keys, &tenant_app, input, bench.clock.today(), now)?.id)
            })
            .collect()
    })?;
    let grant = bench.settings.sessions.staff_grant(false);
    let (_, staff_key) =
        write_transaction(&mut conn, |c| principals::create_staff(c, &code, "保健センター", grant, now))?;

    // One count, both ways, on the database alone (the median of three).
    let today = bench.clock.today();
    for (name, audience) in [
        ("every resident", Audience::default()),
        ("17–19 months", conditions(17, 19)),
        ("0–276 months, single parent", Audience { single_parent: Some(true), ..conditions(0, 276) }),
        (
            "open checkup_18_months",
            Audience { open_procedure: Some("checkup_18_months".into()), ..Audience::default() },
        ),
    ] {
        let time = |walk: bool, conn: &mut nonstop::db::DbConnection| -> anyhow::Result<(f64, i64)> {
            let mut runs = Vec::new();
            let mut count = 0;
            for _ in 0..3 {
                let started = Instant::now();
                count = if walk {
                    notices::audience_size_walked(conn, &code, &audience, today)?
                } else {
                    notices::audience_size(conn, &code, &audience, today)?
                };
                runs.push(started.elapsed().as_secs_f64() * 1_000.0);
            }
            runs.sort_by(f64::total_cmp);
            Ok((runs[1], count))
        };
        let (walked, walked_count) = time(true, &mut conn)?;
        let (counted, count) = time(false, &mut conn)?;
        anyhow::ensure!(count == walked_count, "{name}: counted {count}, walked {walked_count}");
        println!("audience: count of {name:<30} {count:>7} families: walking {walked:>8.1} ms, counting query {counted:>6.1} ms");
    }
    drop(conn);

    let mut settings = bench.settings.clone();
    settings.server.port = 0;
    settings.server.workers = Some(2);
    settings.jobs.enabled = false;
    let limits = settings.limits.clone();
    let app = Application::build_with_clock(settings, bench.clock.clone())?;
    let base = format!("http://127.0.0.1:{}", app.port());
    std::thread::spawn(move || actix_web::rt::System::new().block_on(app.run_until_stopped()));
    println!(
        "audience: nonstop on {}, 2 HTTP workers, each key {}/s with a burst of {}, a count costing {}; {} s per phase",
        bench.backend(),
        limits.requests_per_second,
        limits.burst,
        limits.expensive_read_cost,
        load.seconds
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(1_024).build()?;
    let tenant = Caller { client: client.clone(), base: base.clone(), key: tenant_key.api_key };
    let staff = Caller { client, base, key: staff_key };
    let seconds = Duration::from_secs(load.seconds);
    runtime.block_on(async {
        let alone = tenant.read_steadily(&tenant_families, load.reads_per_second, seconds).await;
        report(&format!("another tenant's reads alone ({}/s)", load.reads_per_second), &alone);
        let path = format!("/v1/municipalities/{code}/notices/audience-preview");
        for wide in [false, true] {
            let kind = if wide { "wide conditions (0–276 months, single parent or not)" } else { "age ranges of 1–24 months" };
            let (reads, previews) = tokio::join!(
                tenant.read_steadily(&tenant_families, load.reads_per_second, seconds),
                staff.preview_steadily(&path, load.previews_per_second, seconds, wide),
            );
            report(
                &format!(
                    "another tenant's reads ({}/s) while the staff preview {kind} ({}/s asked)",
                    load.reads_per_second, load.previews_per_second
                ),
                &reads,
            );
            let answered: Vec<f64> =
                previews.iter().filter_map(|(status, ms)| (*status == 200).then_some(*ms)).collect();
            let refused = previews.iter().filter(|(status, _)| *status == 429).count();
            let other = previews.len() - answered.len() - refused;
            let mut sorted = answered.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "audience: the staff's previews: {} counted ({:.1}/s), {refused} refused with 429, {other} otherwise; answered in p50 {:.1} ms, p99 {:.1} ms",
                answered.len(),
                answered.len() as f64 / load.seconds as f64,
                percentile(&sorted, 0.5),
                percentile(&sorted, 0.99),
            );
            // The next phase starts with the staff's budget refilled, as the first did.
            tokio::time::sleep(Duration::from_secs(11)).await;
        }
    });
    println!("audience: peak memory {:.1} MiB (the benchmark and the server)", super::peak_memory_mib());
    Ok(())
}

/// A child aged `min` to `max` months.
fn conditions(min: i64, max: i64) -> Audience {
    serde_json::from_value(serde_json::json!({ "child_age_months": { "min": min, "max": max } })).unwrap_or_default()
}

/// The `i`-th family: 0–3 children, each born in the last eight years or (one in five) expected;
/// one in ten a single parent, a third on national health insurance.
fn family_body(code: &MunicipalityCode, i: usize, today: chrono::NaiveDate) -> serde_json::Value {
    let mut rng = SplitMix(i as u64 ^ 0xA0D1_E4CE);
    let children: Vec<serde_json::Value> = (0..rng.below(4))
        .map(|_| {
            if rng.below(5) == 0 {
                serde_json::json!({ "status": "expected", "due_date": today + chrono::Days::new(1 + rng.below(270)) })
            } else {
                let born = today - chrono::Days::new(rng.below(365 * 8));
                serde_json::json!({ "status": "born", "birth_date": born, "birth_weight_grams": 3000 })
            }
        })
        .collect();
    serde_json::json!({
        "municipality_code": code.as_str(),
        "single_parent": rng.below(10) == 0,
        "health_insurance": if rng.below(3) == 0 { "national" } else { "employee" },
        "children": children,
        "consents": ["health_information"],
    })
}

/// N families of `code`, registered and planned as the API registers them, 1,000 per
/// transaction, on two connections at once on PostgreSQL.
fn residents(
    bench: &BenchEnv,
    planning: &Arc<PlanningContext>,
    code: &MunicipalityCode,
    n: usize,
) -> anyhow::Result<()> {
    let writers = if bench.backend() == "postgres" { 2 } else { 1 };
    let chunks: Vec<std::ops::Range<usize>> =
        (0..n).step_by(1_000).map(|first| first..(first + 1_000).min(n)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let chunks = &chunks;
                scope.spawn(move || -> anyhow::Result<()> {
                    let mut conn = bench.db.get()?;
                    let uc = bench.use_case(planning);
                    for chunk in chunks.iter().skip(writer).step_by(writers) {
                        write_transaction(&mut conn, |c| {
                            for i in chunk.clone() {
                                let input = serde_json::from_value(family_body(code, i, uc.today))
                                    .map_err(|e| nonstop::error::Error::internal(e.to_string()))?;
                                let family = families::create(c, &uc.keys, &bench.app_id, input, uc.today, uc.now)?;
                                family_changed(c, &uc, &family.id)?;
                            }
                            Ok(())
                        })?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("a writer panicked"))?)
    })
}

fn report(what: &str, latencies: &[Option<f64>]) {
    let mut answered: Vec<f64> = latencies.iter().flatten().copied().collect();
    answered.sort_by(f64::total_cmp);
    let failed = latencies.len() - answered.len();
    println!(
        "audience: {what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} answered, {failed} failed)",
        percentile(&answered, 0.5),
        percentile(&answered, 0.99),
        answered.last().copied().unwrap_or(f64::NAN),
        answered.len()
    );
}

/// Someone calling the server with a key.
struct Caller {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Caller {
    /// Reads the families in turn, `rate` a second for `seconds`, each at its instant (open
    /// loop: latency counts from the instant it was due); `None` for a failed read.
    async fn read_steadily(&self, families: &[String], rate: u32, seconds: Duration) -> Vec<Option<f64>> {
        let total = (f64::from(rate) * seconds.as_secs_f64()) as usize;
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
        let started = Instant::now();
        let mut handles = Vec::with_capacity(total);
        for i in 0..total {
            let at = started + interval * i as u32;
            tokio::time::sleep_until(at.into()).await;
            let request = self
                .client
                .get(format!("{}/v1/families/{}", self.base, families[i % families.len()]))
                .bearer_auth(&self.key);
            handles.push(tokio::spawn(async move {
                let ok = request.send().await.is_ok_and(|r| r.status().is_success());
                ok.then(|| at.elapsed().as_secs_f64() * 1_000.0)
            }));
        }
        let mut latencies = Vec::with_capacity(total);
        for handle in handles {
            latencies.push(handle.await.ok().flatten());
        }
        latencies
    }

    /// Asks for the audience of different conditions each time (none asked twice in a run of
    /// up to 1,152), `rate` a second for `seconds`: age ranges of 1 to 24 months, or (`wide`)
    /// nearly the widest, a child of 0–23 to 253–276 months in a single-parent family or not
    /// (each count reads most of the municipality's children); each answer's status and
    /// latency.
    async fn preview_steadily(&self, path: &str, rate: u32, seconds: Duration, wide: bool) -> Vec<(u16, f64)> {
        let total = (f64::from(rate) * seconds.as_secs_f64()) as usize;
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
        let started = Instant::now();
        let mut handles = Vec::with_capacity(total);
        for i in 0..total {
            let at = started + interval * i as u32;
            tokio::time::sleep_until(at.into()).await;
            let body = if wide {
                let (min, max) = ((i % 24) as i64, 276 - ((i / 24) % 24) as i64);
                serde_json::json!({ "child_age_months": { "min": min, "max": max }, "single_parent": (i / 576) % 2 == 0 })
            } else {
                let min = (i % 60) as i64;
                let max = min + 1 + ((i / 60) % 24) as i64;
                serde_json::json!({ "child_age_months": { "min": min, "max": max } })
            };
            let request = self.client.post(format!("{}{path}", self.base)).bearer_auth(&self.key).json(&body);
            handles.push(tokio::spawn(async move {
                let status = request.send().await.map_or(0, |r| r.status().as_u16());
                (status, at.elapsed().as_secs_f64() * 1_000.0)
            }));
        }
        let mut answers = Vec::with_capacity(total);
        for handle in handles {
            answers.push(handle.await.unwrap_or((0, f64::NAN)));
        }
        answers
    }
}
