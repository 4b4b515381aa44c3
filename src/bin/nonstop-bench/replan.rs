//! The re-planning benchmark: a municipality of N families, each with a two-month-old child,
//! changes its settings; every resident is re-planned a batch per transaction, as the service
//! does after `PUT …/settings`.

use std::time::Instant;

use nonstop::domain::MunicipalityCode;
use nonstop::service::batches::{self, BatchWork};
use nonstop::service::{municipalities, replan};

use super::batches::{residents, Timed};

pub fn run(place: super::env::Place, families_n: usize) -> anyhow::Result<()> {
    let bench = place.env()?;
    let code = MunicipalityCode::parse("131016").map_err(anyhow::Error::msg)?;
    let setup = Instant::now();
    residents(&bench, &code, families_n, true)?;
    println!(
        "replan: set up {families_n} resident families with a child each in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let planning = std::sync::Arc::new(nonstop::domain::planner::PlanningContext::shipped());
    let replanner = replan::Replanner {
        db: bench.db.clone(),
        keys: bench.keys.clone(),
        planning: planning.clone(),
        templates: bench.templates.clone(),
        clock: bench.clock.clone(),
        lease: chrono::Duration::seconds(60),
    };
    // The 3–4 month checkup moves to the counter only, and a local closed day is added.
    let settings = serde_json::from_value(serde_json::json!({
        "extra_closed_days": ["06-23"],
        "procedures": { "checkup_3_4_months": { "channels": ["counter"] } }
    }))?;
    let mut conn = bench.db.get()?;
    let started = Instant::now();
    let mut timed = Timed::new(&bench.db);
    timed
        .write(&mut conn, |c| municipalities::replace(c, &bench.use_case(&planning), &code, settings, "bench-staff"))?;
    let owner = "bench-replanner";
    timed.write(&mut conn, |c| {
        batches::claim(c, BatchWork::Replan, code.as_str(), owner, bench.clock.now(), replanner.lease)
    })?;
    let done = timed
        .batches(&mut conn, |c| replan::replan_batch(c, &replanner, code.as_str(), owner, replan::REPLAN_BATCH))?;
    let seconds = started.elapsed().as_secs_f64();
    let families: usize = done.iter().map(|(n, _)| n).sum();
    let notifications: usize = done.iter().map(|(_, d)| d.notifications_rescheduled + d.notifications_new).sum();
    println!(
        "replan: {families} families re-planned in {seconds:.2} s ({:.0} families/s; {notifications} reminders re-timed)",
        families as f64 / seconds
    );
    timed.print("replan", replan::REPLAN_BATCH);
    println!("replan: peak memory {:.1} MiB", super::peak_memory_mib());
    Ok(())
}
