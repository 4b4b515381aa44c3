//! The API under load: `nonstop serve` (the real application, on SQLite in a temporary folder)
//! answering the reads vendors make most (a family, its tasks, its inbox) and two writes (a life
//! event, a device registration) at fixed request rates. The load is open: each request starts
//! at its scheduled instant whether or not earlier ones have finished, as many independent apps
//! do, and its latency counts from that instant, so a server that falls behind shows it in p99.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nonstop::app::Application;
use nonstop::domain::MunicipalityCode;
use nonstop::service::principals;

use super::batches::residents;
use super::env::BenchEnv;
use super::fanout::percentile;

/// One kind of request, made for the `n`-th family.
struct Load {
    name: &'static str,
    method: reqwest::Method,
    path: fn(&str) -> String,
    body: fn(&BenchEnv, usize) -> Option<serde_json::Value>,
}

fn loads() -> Vec<Load> {
    vec![
        Load {
            name: "GET family",
            method: reqwest::Method::GET,
            path: |f| format!("/v1/families/{f}"),
            body: |_, _| None,
        },
        Load {
            name: "GET tasks",
            method: reqwest::Method::GET,
            path: |f| format!("/v1/families/{f}/tasks"),
            body: |_, _| None,
        },
        Load {
            name: "GET inbox",
            method: reqwest::Method::GET,
            path: |f| format!("/v1/families/{f}/inbox"),
            body: |_, _| None,
        },
        Load {
            name: "POST life event (pregnancy)",
            method: reqwest::Method::POST,
            path: |f| format!("/v1/families/{f}/events"),
            body: |bench, _| {
                let today = bench.clock.today();
                Some(
                    serde_json::json!({ "type": "pregnancy", "date": today - chrono::Days::new(60), "due_date": today + chrono::Days::new(150) }),
                )
            },
        },
        Load {
            name: "POST device",
            method: reqwest::Method::POST,
            path: |f| format!("/v1/families/{f}/devices"),
            body: |bench, i| serde_json::to_value(bench.device(&format!("load-{i}"))).ok(),
        },
    ]
}

pub fn run(
    place: super::env::Place,
    families_n: usize,
    rates: &[u32],
    seconds: u64,
    only: Option<&str>,
) -> anyhow::Result<()> {
    let bench = Arc::new(place.env()?);
    let code = MunicipalityCode::parse("131016").map_err(anyhow::Error::msg)?;
    residents(&bench, &code, families_n, true)?;
    let ids: Vec<String> = {
        use diesel::prelude::*;
        let mut conn = bench.db.get()?;
        nonstop::db::schema::families::table.select(nonstop::db::schema::families::id).load(&mut *conn)?
    };
    let api_key = {
        let mut conn = bench.db.get()?;
        nonstop::db::write_transaction(&mut conn, |c| principals::create_app_key(c, &bench.app_id, bench.clock.now()))?
            .api_key
    };
    let mut settings = bench.settings.clone();
    settings.server.port = 0;
    settings.server.workers = Some(2);
    // One vendor sends all of it: its request budget must not be what is measured.
    settings.limits.requests_per_second = 100_000;
    settings.limits.burst = 100_000;
    settings.jobs.enabled = false;
    let settings_pool = settings.database.pool_size;
    let app = Application::build_with_clock(settings, bench.clock.clone())?;
    let base = format!("http://127.0.0.1:{}", app.port());
    std::thread::spawn(move || actix_web::rt::System::new().block_on(app.run_until_stopped()));
    println!(
        "api: nonstop on {} with {families_n} families (a child each), 2 HTTP workers, {} database connections, \
         {seconds} s per rate",
        bench.backend(),
        settings_pool
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(1_024).build()?;
    let target = Target { client, base, api_key, bench, ids };
    for load in loads().into_iter().filter(|load| only.is_none_or(|only| load.name.contains(only))) {
        for &rate in rates {
            let (latencies, failed, unavailable) = runtime.block_on(target.fire(&load, rate, seconds));
            let mut sorted = latencies;
            sorted.sort_by(f64::total_cmp);
            println!(
                "api: {:<28} {rate:>5}/s: p50 {:>7.2} ms  p99 {:>8.2} ms  ({} answered, {failed} failed, \
                 {unavailable} of them 503)",
                load.name,
                percentile(&sorted, 0.5),
                percentile(&sorted, 0.99),
                sorted.len()
            );
        }
    }
    println!("api: peak memory {:.1} MiB (the benchmark and the server)", super::peak_memory_mib());
    Ok(())
}

/// The server under load, and who calls it.
struct Target {
    client: reqwest::Client,
    base: String,
    api_key: String,
    bench: Arc<BenchEnv>,
    /// The families the requests go round.
    ids: Vec<String>,
}

impl Target {
    /// `rate` requests a second for `seconds`, each at its instant; returns the latencies (ms)
    /// of the successful ones and how many failed, and of those how many were answered 503 (no
    /// database connection free in time).
    async fn fire(&self, load: &Load, rate: u32, seconds: u64) -> (Vec<f64>, usize, usize) {
        let total = rate as usize * seconds as usize;
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
        let started = Instant::now();
        let mut handles = Vec::with_capacity(total);
        for i in 0..total {
            let at = started + interval * i as u32;
            tokio::time::sleep_until(at.into()).await;
            let family = &self.ids[i % self.ids.len()];
            let url = format!("{}{}", self.base, (load.path)(family));
            let mut request = self.client.request(load.method.clone(), url).bearer_auth(&self.api_key);
            if let Some(body) = (load.body)(&self.bench, i) {
                request = request.json(&body);
            }
            handles.push(tokio::spawn(async move {
                let status = request.send().await.map(|r| r.status()).ok();
                (status, at.elapsed().as_secs_f64() * 1000.0)
            }));
        }
        let (mut latencies, mut failed, mut unavailable) = (Vec::with_capacity(total), 0, 0);
        for handle in handles {
            match handle.await {
                Ok((Some(status), ms)) if status.is_success() => latencies.push(ms),
                Ok((Some(reqwest::StatusCode::SERVICE_UNAVAILABLE), _)) => {
                    failed += 1;
                    unavailable += 1;
                }
                _ => failed += 1,
            }
        }
        (latencies, failed, unavailable)
    }
}
