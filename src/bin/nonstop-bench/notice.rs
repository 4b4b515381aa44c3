//! The notice benchmark: one notice to N resident families through the real pipeline.

use std::sync::atomic::Ordering;
use std::time::Instant;

use nonstop::db::write_transaction;
use nonstop::domain::MunicipalityCode;
use nonstop::service::notices::{self, NoticeInput};
use nonstop::service::{devices, families};

use super::env::BenchEnv;

pub fn run(clock: nonstop::clock::Clock, families_n: usize) -> anyhow::Result<()> {
    let bench = BenchEnv::start(clock)?;
    let keys = &bench.keys;
    let code = MunicipalityCode::parse("131016").map_err(anyhow::Error::msg)?;
    let setup = Instant::now();
    let mut conn = bench.db.get()?;
    let allowed = bench.settings.push.web_push_allowed_hosts.clone();
    for chunk in (0..families_n).collect::<Vec<_>>().chunks(1_000) {
        write_transaction(&mut conn, |c| {
            for i in chunk {
                let input = serde_json::from_value(serde_json::json!({ "municipality_code": code.as_str() }))
                    .map_err(|e| nonstop::error::Error::internal(e.to_string()))?;
                let family = families::create(c, keys, &bench.app_id, input, bench.clock.today(), bench.clock.now())?;
                devices::register(c, keys, &family.id, bench.device(&i.to_string()), &allowed, bench.clock.now())?;
            }
            Ok(())
        })?;
    }
    let input: NoticeInput = serde_json::from_value(serde_json::json!({
        "category": "checkup",
        "texts": { "ja": { "title": "1歳6か月児健診のご案内", "body": "日程と会場をご確認ください。" } }
    }))?;
    let notice = write_transaction(&mut conn, |c| notices::create(c, &code, "bench-author", input, bench.clock.now()))?;
    write_transaction(&mut conn, |c| notices::approve(c, &code, &notice.id, "bench-approver", bench.clock.now()))?;
    println!(
        "notice: set up {families_n} resident families with a device each in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // The staff's send: the notice is taken for sending in one short transaction, then its
    // audience is recorded a batch per transaction, exactly as `Recorder::record` does; each
    // transaction is timed here, since no write may hold the lock for long.
    let started = Instant::now();
    let planning = std::sync::Arc::new(nonstop::domain::planner::PlanningContext::shipped());
    let mut writes: Vec<f64> = Vec::new();
    let timed = |writes: &mut Vec<f64>,
                 conn: &mut nonstop::db::DbConnection,
                 f: &mut dyn FnMut(&mut nonstop::db::DbConnection) -> Result<notices::Batch, nonstop::error::Error>|
     -> anyhow::Result<notices::Batch> {
        let t = Instant::now();
        let batch = write_transaction(conn, |c| f(c))?;
        writes.push(t.elapsed().as_secs_f64() * 1000.0);
        Ok(batch)
    };
    timed(&mut writes, &mut conn, &mut |c| {
        notices::send(c, &bench.use_case(&planning), &code, &notice.id).map(|_| notices::Batch::More(0))
    })?;
    let recorder = notices::Recorder {
        db: bench.db.clone(),
        templates: bench.templates.clone(),
        planning: planning.clone(),
        clock: bench.clock.clone(),
        lease: chrono::Duration::seconds(60),
    };
    let owner = "bench-recorder";
    write_transaction(&mut conn, |c| {
        notices::recording::claim(c, &notice.id, owner, bench.clock.now(), recorder.lease).map(|_| ())
    })?;
    let mut recorded_families = 0;
    loop {
        let batch = timed(&mut writes, &mut conn, &mut |c| {
            notices::recording::record_batch(c, &recorder, &notice.id, owner, notices::RECORDING_BATCH)
        })?;
        match batch {
            notices::Batch::More(n) => recorded_families += n,
            notices::Batch::Done(n) => {
                recorded_families += n;
                break;
            }
            notices::Batch::NotMine => anyhow::bail!("the recording was taken over"),
        }
    }
    drop(conn);
    let recorded = started.elapsed().as_secs_f64();
    println!(
        "notice: {recorded_families} inbox entries recorded in {recorded:.2} s ({:.0} families/s)",
        recorded_families as f64 / recorded
    );
    let mut sorted = writes.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "notice: {} write transactions of {} families at most: p50 {:.1} ms, p99 {:.1} ms, longest {:.1} ms",
        sorted.len(),
        notices::RECORDING_BATCH,
        super::fanout::percentile(&sorted, 0.5),
        super::fanout::percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or_default()
    );
    bench.deliver_all(2)?;
    let pushed = started.elapsed().as_secs_f64();
    println!(
        "notice: {} deliveries handed to the push service {pushed:.2} s after sending began",
        bench.received.load(Ordering::Relaxed)
    );
    println!("notice: peak memory {:.1} MiB", super::peak_memory_mib());
    Ok(())
}
