//! What the batched-work benchmarks share: resident families to work over, and the timing of
//! every write transaction (none may hold the write lock for long).

use std::time::Instant;

use nonstop::db::{write_transaction, DbConnection};
use nonstop::domain::MunicipalityCode;
use nonstop::error::Error;
use nonstop::service::batches::Step;
use nonstop::service::{devices, families};

use super::env::BenchEnv;

/// N resident families of `code`, each with a device, and with `child` (a child born two
/// months ago) when given; 1,000 per transaction.
pub fn residents(bench: &BenchEnv, code: &MunicipalityCode, n: usize, child: bool) -> anyhow::Result<()> {
    let mut conn = bench.db.get()?;
    let allowed = bench.settings.push.web_push_allowed_hosts.clone();
    let born = bench.clock.today() - chrono::Months::new(2);
    let mut body = serde_json::json!({ "municipality_code": code.as_str() });
    if child {
        body["children"] = serde_json::json!([{ "status": "born", "birth_date": born, "birth_weight_grams": 3000 }]);
        body["consents"] = serde_json::json!(["health_information"]);
    }
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        write_transaction(&mut conn, |c| {
            for i in chunk {
                let input = serde_json::from_value(body.clone()).map_err(|e| Error::internal(e.to_string()))?;
                let family =
                    families::create(c, &bench.keys, &bench.app_id, input, bench.clock.today(), bench.clock.now())?;
                devices::register(
                    c,
                    &bench.keys,
                    &family.id,
                    bench.device(&i.to_string()),
                    &allowed,
                    bench.clock.now(),
                )?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Write transactions, each timed (milliseconds).
#[derive(Default)]
pub struct Timed {
    pub writes: Vec<f64>,
}

impl Timed {
    /// Runs `f` in a write transaction of its own, timing it.
    pub fn write<T>(
        &mut self,
        conn: &mut DbConnection,
        f: impl FnOnce(&mut DbConnection) -> Result<T, Error>,
    ) -> anyhow::Result<T> {
        let started = Instant::now();
        let result = write_transaction(conn, f)?;
        self.writes.push(started.elapsed().as_secs_f64() * 1000.0);
        Ok(result)
    }

    /// Runs batches of one piece of work until it is done, each in a timed transaction of its
    /// own; returns each batch's result.
    pub fn batches<T>(
        &mut self,
        conn: &mut DbConnection,
        mut batch: impl FnMut(&mut DbConnection) -> Result<Step<T>, Error>,
    ) -> anyhow::Result<Vec<T>> {
        let mut results = Vec::new();
        loop {
            match self.write(conn, &mut batch)? {
                Step::More(result) => results.push(result),
                Step::Done(result) => {
                    results.push(result);
                    return Ok(results);
                }
                Step::NotMine => anyhow::bail!("the work was taken over"),
            }
        }
    }

    /// `label: N write transactions of at most `per` families: p50, p99, longest`.
    pub fn print(&self, label: &str, per: i64) {
        let mut sorted = self.writes.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "{label}: {} write transactions of at most {per} families: p50 {:.1} ms, p99 {:.1} ms, longest {:.1} ms",
            sorted.len(),
            super::fanout::percentile(&sorted, 0.5),
            super::fanout::percentile(&sorted, 0.99),
            sorted.last().copied().unwrap_or_default()
        );
    }
}
