//! The notice benchmark: one notice to N resident families through the real pipeline.

use std::sync::atomic::Ordering;
use std::time::Instant;

use nonstop::db::write_transaction;
use nonstop::domain::MunicipalityCode;
use nonstop::service::notices::{self, NoticeInput};

use super::batches::{residents, Timed};
use super::env::BenchEnv;

pub fn run(clock: nonstop::clock::Clock, families_n: usize) -> anyhow::Result<()> {
    let bench = BenchEnv::start(clock)?;
    let code = MunicipalityCode::parse("131016").map_err(anyhow::Error::msg)?;
    let setup = Instant::now();
    residents(&bench, &code, families_n, false)?;
    let mut conn = bench.db.get()?;
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
    // audience is recorded a batch per transaction, exactly as `Recorder::record` does.
    let started = Instant::now();
    let planning = std::sync::Arc::new(nonstop::domain::planner::PlanningContext::shipped());
    let mut timed = Timed::default();
    timed.write(&mut conn, |c| notices::send(c, &bench.use_case(&planning), &code, &notice.id))?;
    let recorder = notices::Recorder {
        db: bench.db.clone(),
        templates: bench.templates.clone(),
        planning: planning.clone(),
        clock: bench.clock.clone(),
        lease: chrono::Duration::seconds(60),
    };
    let owner = "bench-recorder";
    write_transaction(&mut conn, |c| notices::recording::claim(c, &notice.id, owner, &recorder))?;
    let recorded: usize = timed
        .batches(&mut conn, |c| {
            notices::recording::record_batch(c, &recorder, &notice.id, owner, notices::RECORDING_BATCH)
        })?
        .into_iter()
        .sum();
    drop(conn);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "notice: {recorded} inbox entries recorded in {seconds:.2} s ({:.0} families/s)",
        recorded as f64 / seconds
    );
    timed.print("notice", notices::RECORDING_BATCH);
    bench.deliver_all(2)?;
    let pushed = started.elapsed().as_secs_f64();
    println!(
        "notice: {} deliveries handed to the push service {pushed:.2} s after sending began",
        bench.received.load(Ordering::Relaxed)
    );
    println!("notice: peak memory {:.1} MiB", super::peak_memory_mib());
    Ok(())
}
