//! The notice benchmark: one notice to N resident families through the real pipeline.

use std::sync::atomic::Ordering;
use std::time::Instant;

use nonstop::db::write_transaction;
use nonstop::domain::MunicipalityCode;
use nonstop::service::notices::{self, NoticeInput};

use super::batches::{residents, Timed};
use super::env::BenchEnv;

pub fn run(place: super::env::Place, families_n: usize, compare_npm: bool) -> anyhow::Result<()> {
    let bench = place.env()?;
    let code = MunicipalityCode::parse("131016").map_err(anyhow::Error::msg)?;
    let setup = Instant::now();
    residents(&bench, &code, families_n, false)?;
    let mut conn = bench.db.get()?;
    let input: NoticeInput = serde_json::from_value(serde_json::json!({
        "category": "checkup",
        "texts": { "ja": { "title": "1歳6か月児健診のご案内", "body": "日程と会場をご確認ください。" } }
    }))?;
    let notice = write_transaction(&mut conn, |c| notices::create(c, &code, "bench-author", input, bench.clock.now()))?;
    write_transaction(&mut conn, |c| {
        notices::approve(c, &code, &notice.id, "bench-approver", &notice.content_digest, bench.clock.now())
    })?;
    println!(
        "notice: set up {families_n} resident families with a device each in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // The staff's send: the notice is taken for sending in one short transaction, then its
    // audience is recorded a batch per transaction, exactly as `Recorder::record` does, while
    // two delivery workers push what each committed batch queued, as a serving process does.
    let recording_done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let pushing = scope.spawn(|| bench.deliver_until(2, &recording_done));
        let started = Instant::now();
        let recording = record(&bench, &mut conn, &code, &notice.id);
        // The workers stop once nothing is due, whether the recording finished or failed.
        recording_done.store(true, Ordering::Release);
        let pushed_result = pushing.join().map_err(|_| anyhow::anyhow!("the delivery workers panicked"))?;
        let (seconds, recorded, timed) = recording?;
        pushed_result?;
        println!(
            "notice: {recorded} inbox entries recorded in {seconds:.2} s ({:.0} families/s)",
            recorded as f64 / seconds
        );
        timed.print("notice", notices::RECORDING_BATCH);
        let pushed = started.elapsed().as_secs_f64();
        let received = bench.pushes.received();
        let rate = received as f64 / pushed;
        println!("notice: {received} deliveries handed to the push service {pushed:.2} s after sending began");
        println!(
            "notice: end to end {rate:.0} pushes/s (recording done after {seconds:.2} s; the last push {:.2} s later)",
            pushed - seconds
        );
        println!("notice: peak memory {:.1} MiB", super::peak_memory_mib());
        if compare_npm {
            super::fanout::compare_with_npm("notice", &bench, received, rate);
        }
        Ok(())
    })?;
    Ok(())
}

/// Sends the notice and records its audience; returns the seconds it took, the families
/// recorded and the timed write transactions.
fn record(
    bench: &BenchEnv,
    conn: &mut nonstop::db::DbConnection,
    code: &MunicipalityCode,
    notice_id: &str,
) -> anyhow::Result<(f64, usize, Timed)> {
    let started = Instant::now();
    let planning = std::sync::Arc::new(nonstop::domain::planner::PlanningContext::shipped());
    let mut timed = Timed::new(&bench.db);
    timed.write(conn, |c| notices::send(c, &bench.use_case(&planning), code, notice_id))?;
    let recorder = notices::Recorder {
        db: bench.db.clone(),
        templates: bench.templates.clone(),
        planning: planning.clone(),
        clock: bench.clock.clone(),
        lease: chrono::Duration::seconds(60),
    };
    let owner = "bench-recorder";
    write_transaction(conn, |c| notices::recording::claim(c, notice_id, owner, &recorder))?;
    let recorded: usize = timed
        .batches(conn, |c| notices::recording::record_batch(c, &recorder, notice_id, owner, notices::RECORDING_BATCH))?
        .into_iter()
        .sum();
    Ok((started.elapsed().as_secs_f64(), recorded, timed))
}
