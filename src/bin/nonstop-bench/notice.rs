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

    let started = Instant::now();
    write_transaction(&mut conn, |c| {
        let uc = bench.use_case(&std::sync::Arc::new(nonstop::domain::planner::PlanningContext::shipped()));
        notices::send(c, &uc, &code, "千代田区", &notice.id)
    })?;
    drop(conn);
    let recorded = started.elapsed().as_secs_f64();
    println!("notice: {families_n} inbox entries recorded in {recorded:.2} s");
    bench.deliver_all(2)?;
    let pushed = started.elapsed().as_secs_f64();
    println!(
        "notice: {} deliveries handed to the push service {pushed:.2} s after sending began",
        bench.received.load(Ordering::Relaxed)
    );
    println!("notice: peak memory {:.1} MiB", super::peak_memory_mib());
    Ok(())
}
