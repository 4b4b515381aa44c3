//! The notice benchmark on replicas: N `nonstop serve` processes on one PostgreSQL database, the
//! staff's send call made to the first through the API, every replica's delivery worker pushing
//! to the loopback push service. For each N it prints the time until every family is recorded
//! and until every push has arrived, the pushes that arrived twice (there must be none), each
//! process's peak memory and the database connections the replicas held.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use nonstop::db::write_transaction;
use nonstop::domain::MunicipalityCode;
use nonstop::service::notices::{self, NoticeInput};
use nonstop::service::principals::{self, StaffGrant};

use super::batches::residents;
use super::env::{BenchEnv, Place};

/// Connections each replica's pool may open (`database.pool_size`, as OPERATIONS.md advises).
const POOL_SIZE: u32 = 8;
/// How long the pushes may stop arriving before a run is given up.
const STALL: Duration = Duration::from_secs(60);

pub fn run(place: Place, families_n: usize, counts: &[usize]) -> anyhow::Result<()> {
    if !place.database.as_deref().is_some_and(|d| d.starts_with("postgres")) {
        anyhow::bail!("--replicas needs --database postgres://… (replicas share one PostgreSQL database)");
    }
    // The replicas are separate processes: the push service gets both cores' worth of threads.
    let bench = BenchEnv::start(place.clock, place.database.as_deref(), 2)?;
    let code = MunicipalityCode::parse("131016").map_err(anyhow::Error::msg)?;
    let setup = Instant::now();
    residents(&bench, &code, families_n, false)?;
    let mut conn = bench.db.get()?;
    let grant = StaffGrant { admin: false, valid_for: chrono::Duration::days(1) };
    let (_, staff_key) =
        write_transaction(&mut conn, |c| principals::create_staff(c, &code, "bench", grant, bench.clock.now()))?;
    diesel::sql_query("VACUUM ANALYZE").execute(&mut *conn)?;
    println!(
        "replicas: set up {families_n} resident families with a device each on PostgreSQL in {:.0} s",
        setup.elapsed().as_secs_f64()
    );
    for &n in counts {
        // Each run starts from the same families and nothing sent.
        diesel::sql_query("TRUNCATE deliveries, inbox_entries, notice_recipients, batch_runs CASCADE")
            .execute(&mut *conn)?;
        bench.pushes.reset();
        let notice_id = approved_notice(&bench, &mut conn, &code)?;
        let replicas = (0..n).map(|i| Replica::start(&bench, i)).collect::<anyhow::Result<Vec<_>>>()?;
        let outcome = send_and_watch(&bench, &replicas, &code, &notice_id, &staff_key, families_n);
        let memory: Vec<String> = replicas.iter().map(|r| format!("{:.0}", r.peak_memory_mib())).collect();
        drop(replicas);
        let outcome = outcome?;
        println!(
            "replicas: {n}: {} recorded in {:.1} s; {} pushes arrived, the last {:.1} s after the send ({:.0}/s); \
             doubles {}; peak memory per process {} MiB; PostgreSQL connections of the replicas at most {} ({} in all)",
            outcome.recorded,
            outcome.recorded_after,
            outcome.distinct,
            outcome.pushed_after,
            outcome.distinct as f64 / outcome.pushed_after,
            outcome.doubles,
            memory.join(", "),
            outcome.replica_connections,
            outcome.all_connections,
        );
    }
    Ok(())
}

/// A checkup notice to every resident, written and approved (by two people, as the console asks).
fn approved_notice(
    bench: &BenchEnv,
    conn: &mut nonstop::db::DbConnection,
    code: &MunicipalityCode,
) -> anyhow::Result<String> {
    let input: NoticeInput = serde_json::from_value(serde_json::json!({
        "category": "checkup",
        "texts": { "ja": { "title": "1歳6か月児健診のご案内", "body": "日程と会場をご確認ください。" } }
    }))?;
    let notice = write_transaction(conn, |c| notices::create(c, code, "bench-author", input, bench.clock.now()))?;
    write_transaction(conn, |c| {
        notices::approve(c, code, &notice.id, "bench-approver", &notice.content_digest, bench.clock.now())
    })?;
    Ok(notice.id)
}

/// What one run measured.
struct Outcome {
    recorded: usize,
    recorded_after: f64,
    distinct: usize,
    pushed_after: f64,
    doubles: usize,
    replica_connections: usize,
    all_connections: usize,
}

/// Makes the staff's send call to the first replica and waits for every push, sampling the
/// database's connections meanwhile.
fn send_and_watch(
    bench: &BenchEnv,
    replicas: &[Replica],
    code: &MunicipalityCode,
    notice_id: &str,
    staff_key: &str,
    families_n: usize,
) -> anyhow::Result<Outcome> {
    let (replica_peak, all_peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| -> anyhow::Result<Outcome> {
        scope.spawn(|| sample_connections(bench, &finished, &replica_peak, &all_peak));
        let started = Instant::now();
        // Any replica's scheduler may take the recording up (it is unowned until the one that
        // took the send claims it): the database says when it is done, whoever did it.
        let finished = &finished;
        let recording = scope.spawn(move || recording_done(bench, notice_id, started, finished));
        let sent = send(replicas[0].port, code, notice_id, staff_key);
        let waited = sent.and_then(|()| wait_for_pushes(bench, families_n, started));
        finished.store(true, Ordering::Release);
        let pushed_after = waited?;
        let recorded_after = recording.join().map_err(|_| anyhow::anyhow!("the recording watch panicked"))??;
        let recorded = recipients(bench, notice_id)?;
        let others = other_entries(bench)?;
        if others > 0 {
            anyhow::bail!("{others} inbox entries besides the notice's: their pushes would count as the notice's");
        }
        let distinct = bench.pushes.distinct();
        Ok(Outcome {
            recorded,
            recorded_after,
            distinct,
            pushed_after,
            doubles: bench.pushes.received() - distinct,
            replica_connections: replica_peak.load(Ordering::Relaxed),
            all_connections: all_peak.load(Ordering::Relaxed),
        })
    })
}

/// `POST …/send` as the staff would (it answers once every family is recorded).
fn send(port: u16, code: &MunicipalityCode, notice_id: &str, staff_key: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let url = format!("http://127.0.0.1:{port}/v1/municipalities/{}/notices/{notice_id}/send", code.as_str());
        let response = reqwest::Client::new().post(url).bearer_auth(staff_key).send().await?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("the send answered {status}: {}", response.text().await.unwrap_or_default());
        }
        Ok(())
    })
}

/// Seconds from `started` until the notice's recording is done (polled every 20 ms), unless the
/// run is `finished` first (it failed).
fn recording_done(bench: &BenchEnv, notice_id: &str, started: Instant, finished: &AtomicBool) -> anyhow::Result<f64> {
    use diesel::prelude::*;
    use nonstop::db::schema::batch_runs;
    let mut conn = bench.db.get()?;
    loop {
        // Read before the query: a run that finished had recorded everything first.
        let stop = finished.load(Ordering::Acquire);
        let done: Option<Option<chrono::NaiveDateTime>> = batch_runs::table
            .filter(batch_runs::subject.eq(notice_id))
            .select(batch_runs::done_at)
            .first(&mut *conn)
            .optional()?;
        if let Some(Some(_)) = done {
            return Ok(started.elapsed().as_secs_f64());
        }
        if stop {
            anyhow::bail!("the run stopped before the recording finished");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Inbox entries other than notices (a reminder would push too): there must be none.
fn other_entries(bench: &BenchEnv) -> anyhow::Result<i64> {
    use diesel::prelude::*;
    use nonstop::db::schema::inbox_entries;
    let mut conn = bench.db.get()?;
    Ok(inbox_entries::table.filter(inbox_entries::kind.ne("notice")).count().get_result(&mut *conn)?)
}

/// The families notice `notice_id` was recorded for.
fn recipients(bench: &BenchEnv, notice_id: &str) -> anyhow::Result<usize> {
    use diesel::prelude::*;
    use nonstop::db::schema::notice_recipients;
    let mut conn = bench.db.get()?;
    let n: i64 =
        notice_recipients::table.filter(notice_recipients::notice_id.eq(notice_id)).count().get_result(&mut *conn)?;
    Ok(n as usize)
}

/// Waits until every family's push has arrived (or none arrives for `STALL`); returns the
/// seconds since `started`.
fn wait_for_pushes(bench: &BenchEnv, families_n: usize, started: Instant) -> anyhow::Result<f64> {
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let distinct = bench.pushes.distinct();
        if distinct >= families_n {
            // A double would arrive with or after the last first push: give stragglers a moment.
            let at = started.elapsed().as_secs_f64();
            std::thread::sleep(Duration::from_secs(2));
            return Ok(at);
        }
        if distinct != last {
            (last, last_change) = (distinct, Instant::now());
        } else if last_change.elapsed() > STALL {
            anyhow::bail!("pushes stopped arriving at {distinct} of {families_n}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Samples the database's connections every 100 ms until `finished`: the replicas' (they name
/// themselves `nonstop-replica-N`) and all of them.
fn sample_connections(bench: &BenchEnv, finished: &AtomicBool, replica_peak: &AtomicUsize, all_peak: &AtomicUsize) {
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        replicas: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        all: i64,
    }
    let Ok(mut pooled) = bench.db.get() else { return };
    let nonstop::db::DbConnection::Postgresql(conn) = &mut *pooled else { return };
    while !finished.load(Ordering::Acquire) {
        let counts = diesel::sql_query(
            "SELECT count(*) FILTER (WHERE application_name LIKE 'nonstop-replica-%') AS replicas, count(*) AS all \
             FROM pg_stat_activity WHERE datname = current_database()",
        )
        .get_result::<Counts>(conn);
        if let Ok(counts) = counts {
            replica_peak.fetch_max(counts.replicas as usize, Ordering::Relaxed);
            all_peak.fetch_max(counts.all as usize, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One `nonstop serve` process on the benchmark's database, its clock at the benchmark's.
pub struct Replica {
    child: Child,
    pub port: u16,
    _config: SettingsFile,
}

impl Replica {
    fn start(bench: &BenchEnv, index: usize) -> anyhow::Result<Self> {
        Self::start_with(bench, index, "", "")
    }

    /// The same, with more settings of its `[server]` and `[limits]` sections (TOML lines).
    pub fn start_with(bench: &BenchEnv, index: usize, server: &str, limits: &str) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let settings = replica_settings(bench, index, port, server, limits);
        let config = SettingsFile::new(&format!("replica-{index}.toml"), &settings)?;
        let binary = std::env::current_exe()?.with_file_name("nonstop");
        if !binary.exists() {
            anyhow::bail!("{} not found: build it with `cargo build --release --bin nonstop`", binary.display());
        }
        let child = Command::new(&binary)
            .arg("--config")
            .arg(config.path())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let replica = Self { child, port, _config: config };
        replica.wait_ready()?;
        Ok(replica)
    }

    /// Waits for `/readyz` (the pool is up and migrations are done).
    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
                let mut answer = String::new();
                let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
                if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("replica on port {} was not ready within 30 s", self.port)
    }

    /// The process's peak resident memory (VmHWM), in MiB.
    pub fn peak_memory_mib(&self) -> f64 {
        super::peak_memory_mib_of(&self.child.id().to_string())
    }

    /// The process's resident memory now (VmRSS), in MiB.
    pub fn memory_mib(&self) -> f64 {
        super::memory_mib_of(&self.child.id().to_string(), "VmRSS:")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A replica's settings: the benchmark's database (named in `pg_stat_activity` on PostgreSQL),
/// keys and clock, the loopback push service allowed, the default delivery settings.
fn replica_settings(bench: &BenchEnv, index: usize, port: u16, server: &str, limits: &str) -> String {
    let url = bench.postgres.as_ref().map(|db| db.url_with(&format!("application_name=nonstop-replica-{index}")));
    let url = url.unwrap_or_else(|| bench.settings.database.url.expose().to_owned());
    let key = bench.settings.encryption.keys.get("bench").map(|k| k.expose()).unwrap_or_default();
    let at = bench.clock.now_utc().to_rfc3339();
    // One HTTP worker a replica, unless the caller says otherwise.
    let workers = if server.contains("workers") { "" } else { "workers = 1" };
    format!(
        r#"[server]
host = "127.0.0.1"
port = {port}
{workers}
{server}

[database]
url = "{url}"
pool_size = {POOL_SIZE}

[encryption]
active_key_id = "bench"
keys = {{ bench = "{key}" }}

[push]
web_push_allowed_hosts = ["127.0.0.1:*"]

[clock]
start_at = "{at}"

[log]
level = "warn"

[limits]
requests_per_second = 100000
burst = 100000
{limits}
"#
    )
}

/// A replica's settings file in the temporary folder, readable by this user only (it holds the
/// benchmark's encryption key), removed with its value.
struct SettingsFile(std::path::PathBuf);

impl SettingsFile {
    fn new(name: &str, contents: &str) -> anyhow::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = std::env::temp_dir().join(format!("nonstop-bench-{}-{name}", uuid::Uuid::new_v4().simple()));
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        file.write_all(contents.as_bytes())?;
        Ok(Self(path))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for SettingsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
