//! A crowd at the console's front door: `nonstop serve` (its own process, so that its memory is
//! its own) takes N sign-ins at once, each for an unknown login from an address of its own (the
//! operator's proxy on loopback names them), while another tenant, a vendor, reads a family ten
//! times a second. Printed: how the crowd was answered, the server's peak and settled memory,
//! and the vendor's latency during the crowd.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nonstop::domain::MunicipalityCode;
use nonstop::service::principals;

use super::batches::residents;
use super::env::Place;
use super::fanout::percentile;
use super::replicas::Replica;

pub fn run(place: Place, attempts: usize) -> anyhow::Result<()> {
    let bench = place.env()?;
    let code = MunicipalityCode::parse("131016").map_err(anyhow::Error::msg)?;
    residents(&bench, &code, 10, true)?;
    let family: String = {
        use diesel::prelude::*;
        let mut conn = bench.db.get()?;
        nonstop::db::schema::families::table.select(nonstop::db::schema::families::id).first(&mut *conn)?
    };
    let api_key = {
        let mut conn = bench.db.get()?;
        nonstop::db::write_transaction(&mut conn, |c| principals::create_app_key(c, &bench.app_id, bench.clock.now()))?
            .api_key
    };
    // An HTTP worker a core, as `serve` starts by default; the password checks at once and the
    // per-address budget as shipped.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server =
        Replica::start_with(&bench, 0, &format!("workers = {workers}\ntrusted_proxies = [\"127.0.0.1\"]"), "")?;
    let base = format!("http://127.0.0.1:{}", server.port);
    println!(
        "sign-in: {attempts} sign-ins at once for unknown logins, each from its own address, against `nonstop serve` on {} ({workers} HTTP workers, as many cores)",
        bench.backend(),
    );
    let before = server.memory_mib();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    // The other tenant reads from a thread, runtime and connection of its own: what it waits
    // for is the server, not the crowd's client.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (base, done) = (base.clone(), done.clone());
        std::thread::spawn(move || -> anyhow::Result<Vec<Option<f64>>> {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            Ok(runtime.block_on(read_steadily(reqwest::Client::new(), base, family, api_key, done)))
        })
    };
    let (answers, seconds) = runtime.block_on(async {
        // Let the reader's steady state show before the crowd.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let crowd: Vec<_> = (0..attempts).map(|i| tokio::spawn(attempt(client.clone(), base.clone(), i))).collect();
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        for handle in crowd {
            let answer = handle.await.unwrap_or_else(|e| format!("task failed: {e}"));
            *answers.entry(answer).or_default() += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_millis(500)).await;
        (answers, seconds)
    });
    done.store(true, Ordering::Relaxed);
    let reads = reader.join().map_err(|_| anyhow::anyhow!("the reader panicked"))??;
    let answered: Vec<String> = answers.iter().map(|(status, n)| format!("{n} × {status}")).collect();
    println!("sign-in: the crowd answered in {seconds:.1} s: {}", answered.join(", "));
    println!(
        "sign-in: server memory {before:.1} MiB before, peak {:.1} MiB, {:.1} MiB after",
        server.peak_memory_mib(),
        server.memory_mib()
    );
    let mut latencies: Vec<f64> = reads.iter().filter_map(|r| *r).collect();
    latencies.sort_by(f64::total_cmp);
    let failed = reads.iter().filter(|r| r.is_none()).count();
    println!(
        "sign-in: another tenant's reads meanwhile (10/s): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} answered, {failed} failed)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        latencies.len()
    );
    Ok(())
}

/// One stranger: the sign-in page (for its form token), then a guess. Returns the status.
async fn attempt(client: reqwest::Client, base: String, i: usize) -> String {
    let address = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    let page = match client.get(format!("{base}/console/sign-in")).header("x-forwarded-for", &address).send().await {
        Ok(page) => page,
        Err(e) => return format!("page failed ({e})"),
    };
    let token = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("nonstop_sign_in=").and_then(|rest| rest.split(';').next()))
        .unwrap_or_default()
        .to_owned();
    let login = format!("stranger{i}");
    let sent = client
        .post(format!("{base}/console/sign-in"))
        .header("x-forwarded-for", &address)
        .header("cookie", format!("nonstop_sign_in={token}"))
        .form(&[("login", login.as_str()), ("password", "a guess at a password"), ("token", token.as_str())])
        .send()
        .await;
    match sent {
        Ok(response) => response.status().as_u16().to_string(),
        Err(e) => format!("failed ({e})"),
    }
}

/// A vendor reading one family ten times a second until `done`: each read's latency in ms,
/// `None` for a failed one.
async fn read_steadily(
    client: reqwest::Client,
    base: String,
    family: String,
    api_key: String,
    done: Arc<AtomicBool>,
) -> Vec<Option<f64>> {
    let mut latencies = Vec::new();
    let mut next = tokio::time::Instant::now();
    while !done.load(Ordering::Relaxed) {
        tokio::time::sleep_until(next).await;
        next += Duration::from_millis(100);
        let started = Instant::now();
        let read = client.get(format!("{base}/v1/families/{family}")).bearer_auth(&api_key).send().await;
        latencies.push(match read {
            Ok(response) if response.status().is_success() => Some(started.elapsed().as_secs_f64() * 1_000.0),
            _ => None,
        });
    }
    latencies
}
