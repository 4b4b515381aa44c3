//! What the batched-work benchmarks share: resident families to work over, and the timing of
//! every write transaction (none may hold the write lock for long).

use std::time::Instant;

use nonstop::db::{write_transaction, Db, DbConnection};
use nonstop::domain::MunicipalityCode;
use nonstop::error::Error;
use nonstop::service::batches::Step;
use nonstop::service::{devices, families};

use super::env::BenchEnv;

/// N resident families of `code`, each with a device, and with `child` (a child born two
/// months ago) when given; 1,000 per transaction, on two connections at once on PostgreSQL
/// (SQLite takes one writer at a time).
pub fn residents(bench: &BenchEnv, code: &MunicipalityCode, n: usize, child: bool) -> anyhow::Result<()> {
    let writers = if bench.backend() == "postgres" { 2 } else { 1 };
    let born = bench.clock.today() - chrono::Months::new(2);
    let mut body = serde_json::json!({ "municipality_code": code.as_str() });
    if child {
        body["children"] = serde_json::json!([{ "status": "born", "birth_date": born, "birth_weight_grams": 3000 }]);
        body["consents"] = serde_json::json!(["health_information"]);
    }
    let chunks: Vec<std::ops::Range<usize>> =
        (0..n).step_by(1_000).map(|first| first..(first + 1_000).min(n)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let (chunks, body) = (&chunks, &body);
                scope.spawn(move || -> anyhow::Result<()> {
                    let mut conn = bench.db.get()?;
                    for chunk in chunks.iter().skip(writer).step_by(writers) {
                        write_transaction(&mut conn, |c| {
                            for i in chunk.clone() {
                                resident(c, bench, body, i)?;
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

/// The `i`-th resident family and its device (named `i` at the push service).
fn resident(c: &mut DbConnection, bench: &BenchEnv, body: &serde_json::Value, i: usize) -> Result<(), Error> {
    let input = serde_json::from_value(body.clone()).map_err(|e| Error::internal(e.to_string()))?;
    let family = families::create(c, &bench.keys, &bench.app_id, input, bench.clock.today(), bench.clock.now())?;
    let allowed = &bench.settings.push.web_push_allowed_hosts;
    devices::register(c, &bench.keys, &family.id, bench.device(&i.to_string()), allowed, bench.clock.now())?;
    Ok(())
}

/// Write transactions, each timed (milliseconds) from its start to its commit, once it is this
/// process's turn to write, as the service's transactions take it (`Db::write`): on SQLite,
/// how long each holds the one writer.
pub struct Timed {
    db: Db,
    pub writes: Vec<f64>,
}

impl Timed {
    pub fn new(db: &Db) -> Self {
        Self { db: db.clone(), writes: Vec::new() }
    }

    /// Runs `f` in a write transaction of its own, timing it.
    pub fn write<T>(
        &mut self,
        conn: &mut DbConnection,
        f: impl FnOnce(&mut DbConnection) -> Result<T, Error>,
    ) -> anyhow::Result<T> {
        let _turn = self.db.wait_to_write();
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
