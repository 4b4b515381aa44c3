//! Benchmarks that print their figures (they assert nothing: see the tests for behaviour).
//!
//! `nonstop-bench plan --families N` plans N synthetic families, streaming (each family is
//! generated, planned and dropped), on every core, and prints families/s and peak memory.
//!
//! `nonstop-bench notice --families N` sends one notice to N resident families with a device
//! each and prints the time until every inbox entry is recorded and every delivery handed to a
//! loopback Web Push service, with peak memory. With `--replicas 1,2,3` (and `--database`) it
//! starts that many `nonstop serve` processes on one PostgreSQL database instead, makes the
//! staff's send call to the first, and prints for each count the time to all recorded and to
//! all pushed, the pushes that arrived twice, each process's peak memory and the database
//! connections the replicas held.
//!
//! `nonstop-bench api --rates 500,1000,2000` serves the real application and loads
//! its most used reads and two writes at each rate (open loop), printing p50/p99 latency
//! (`--only "life event"` loads one of them).
//!
//! `nonstop-bench replan --families N` changes a municipality's settings with N resident
//! families and re-plans them a batch per transaction, printing each write transaction's time.
//!
//! `nonstop-bench fanout --families N --devices-per-family K` runs the real delivery pipeline
//! (inbox entries, deliveries, claims with leases, aes128gcm encryption, VAPID, outcomes) on
//! SQLite against a loopback Web Push service, and prints deliveries/s, the time from due to
//! sent (p50, p99) and peak memory; with `--compare-npm` it also runs the npm `web-push`
//! library against the same service and prints both rates.
//!
//! `nonstop-bench sign-in --attempts N` starts `nonstop serve` and makes N sign-ins at once for
//! unknown logins, each from its own address, while a vendor reads a family ten times a second;
//! it prints how the crowd was answered, the server's peak and settled memory and the vendor's
//! latency meanwhile.
//!
//! `nonstop-bench audience --families N` serves the real application (shipped limits) with N
//! resident families of one municipality and prints one audience count made by walking every
//! family and by the counting query, then another tenant's read latency alone and while a
//! member of staff previews audiences faster than their budget allows.
//!
//! `--database postgres://user@host/postgres` runs any benchmark on a new database of that server
//! (dropped afterwards) instead of SQLite in a temporary folder.
//!
//! Time is an input: every benchmark runs on a clock pinned to `--at` (by default 12:00 in Japan
//! on today's date, inside the hours pushes may be sent) and prints the instant it ran at.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{Days, NaiveDate};
use clap::{Parser, Subcommand};
use nonstop::clock::Clock;
use nonstop::domain::catalog::Circumstance;
use nonstop::domain::enums::{ChildStatus, HealthInsurance, Relationship};
use nonstop::domain::overrides::ResolvedOverride;
use nonstop::domain::planner::{plan, ChildFacts, FamilyFacts, PlanningContext};
use nonstop::domain::series::Dose;
use nonstop::domain::QuietHours;

#[derive(Parser)]
#[command(name = "nonstop-bench", about = "nonstop benchmarks; each prints its figures")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The instant the benchmark runs at (RFC 3339, e.g. 2026-12-01T12:00:00+09:00); its clock
    /// runs on from there. Default: 12:00 in Japan today, when pushes may be sent.
    #[arg(long, global = true)]
    at: Option<String>,
    /// Run on a new database of this PostgreSQL server (`postgres://user@host:port/postgres`),
    /// dropped afterwards, instead of SQLite in a temporary folder.
    #[arg(long, global = true)]
    database: Option<String>,
}

/// The benchmark's clock: `--at`, or noon in Japan today.
fn bench_clock(at: Option<&str>) -> anyhow::Result<Clock> {
    let at = match at {
        Some(at) => chrono::DateTime::parse_from_rfc3339(at)
            .map_err(|e| anyhow::anyhow!("--at: '{at}' is not an RFC 3339 instant ({e})"))?
            .to_utc(),
        None => {
            let noon = Clock::system().today().and_hms_opt(12, 0, 0).ok_or_else(|| anyhow::anyhow!("noon"))?;
            noon.and_local_timezone(chrono_tz::Asia::Tokyo)
                .single()
                .ok_or_else(|| anyhow::anyhow!("noon in Japan"))?
                .to_utc()
        }
    };
    println!(
        "clock: runs at {} ({} in Japan)",
        at.to_rfc3339(),
        at.with_timezone(&chrono_tz::Asia::Tokyo).format("%Y-%m-%d %H:%M")
    );
    Ok(Clock::starting_at(at))
}

#[derive(Subcommand)]
enum Command {
    /// Plan N synthetic families with the real planner and catalog.
    Plan {
        #[arg(long, default_value_t = 100_000)]
        families: usize,
        /// Worker threads (default: the number of cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Send one municipal notice to N resident families (one device each) through the real
    /// pipeline.
    Notice {
        #[arg(long, default_value_t = 100_000)]
        families: usize,
        /// Also run the npm `web-push` library against the same push service.
        #[arg(long)]
        compare_npm: bool,
        /// Send through N `nonstop serve` processes on one PostgreSQL database (`--database`),
        /// each N in turn (e.g. `1,2,3`), instead of in this process.
        #[arg(long, value_delimiter = ',')]
        replicas: Vec<usize>,
    },
    /// The API under open-loop load at fixed request rates: reads (family, tasks, inbox) and
    /// writes (a life event, a device), p50/p99 each.
    Api {
        #[arg(long, default_value_t = 1_000)]
        families: usize,
        /// Requests per second, each rate in turn.
        #[arg(long, value_delimiter = ',', default_values_t = [500, 1_000, 2_000])]
        rates: Vec<u32>,
        /// Seconds at each rate.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Only the loads whose name contains this (e.g. `life event`).
        #[arg(long)]
        only: Option<String>,
    },
    /// A member of staff previewing audiences at their limit in a municipality of N families,
    /// and another tenant's reads meanwhile.
    Audience {
        #[arg(long, default_value_t = 100_000)]
        families: usize,
        /// Previews the staff's key asks for a second (more than its budget pays for).
        #[arg(long, default_value_t = 50)]
        previews: u32,
        /// Reads of the other tenant a second.
        #[arg(long, default_value_t = 20)]
        reads: u32,
        /// Seconds of each phase (the tenant alone, then with the staff previewing).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Change a municipality's settings with N resident families (a child each) and re-plan
    /// them, a batch per transaction.
    Replan {
        #[arg(long, default_value_t = 100_000)]
        families: usize,
    },
    /// Correct, confirm, sign (with a generated JPKI-shaped card) and submit the 児童手当 draft of N
    /// families through the real services.
    Sign {
        #[arg(long, default_value_t = 2_000)]
        families: usize,
    },
    /// Make a JPKI-shaped test authority and one card, as files: `root.pem` (for
    /// `signatures.trust_anchor_files`), `card.b64` (the signing certificate, DER in base64, as
    /// the API takes it) and `card-key.pem` (to sign with `openssl dgst -sha256 -sign`). For
    /// rehearsals and CI against a running nonstop; never a real card.
    Card {
        /// 氏名 as on the card, e.g. "山田 花子".
        #[arg(long)]
        name: String,
        /// 生年月日, YYYY-MM-DD.
        #[arg(long)]
        birth_date: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// N console sign-ins at once for unknown logins (each from its own address) against a
    /// `nonstop serve` process, while another tenant reads.
    SignIn {
        #[arg(long, default_value_t = 1_000)]
        attempts: usize,
    },
    /// A push service that behaves like the real ones (TLS, HTTP/2, a round trip, streams per
    /// connection, faults), for tests and rehearsals: prints its port and certificate on one
    /// JSON line, then serves until its standard input closes.
    PushService(push_service::Options),
    /// Fan one reminder out to every device of N families through the real pipeline.
    Fanout {
        #[arg(long, default_value_t = 2_000)]
        families: usize,
        #[arg(long, default_value_t = 5)]
        devices_per_family: usize,
        /// Delivery workers running at once (as several replicas would).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Also run the npm `web-push` library (installed with npm into a temporary folder).
        #[arg(long)]
        compare_npm: bool,
        /// Send to the push service that behaves like the real ones (TLS, HTTP/2, 100 streams
        /// a connection) at each of these round trips in turn (e.g. `0,80`), instead of the
        /// loopback one that answers at once.
        #[arg(long, value_delimiter = ',')]
        rtt_ms: Vec<u64>,
    },
}

/// Writes a test authority's root and one card's certificate and key (`Command::Card`).
fn write_card(clock: &Clock, name: &str, birth_date: &str, out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    chrono::NaiveDate::parse_from_str(birth_date, "%Y-%m-%d").context("--birth-date must be YYYY-MM-DD")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let ca = jpki_ca::TestCa::new("JPKI", clock.now_utc());
    let card = ca.issue(&jpki_ca::Holder::new(name, birth_date));
    std::fs::write(out.join("root.pem"), ca.root_pem())?;
    std::fs::write(out.join("card.b64"), card.certificate_base64())?;
    std::fs::write(out.join("card-key.pem"), card.key_pem())?;
    Ok(())
}

mod api;
mod audience;
mod batches;
mod env;
mod fanout;
mod jpki_ca;
mod notice;
mod push_service;
mod replan;
mod replicas;
mod sign;
mod sign_in;

const MUNICIPALITIES: [&str; 8] = ["131016", "131130", "141003", "472018", "341011", "011002", "271004", "281000"];

fn main() {
    let cli = Cli::parse();
    let clock = match bench_clock(cli.at.as_deref()) {
        Ok(clock) => clock,
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(2);
        }
    };
    let place = env::Place { clock: clock.clone(), database: cli.database };
    match cli.command {
        Command::Plan { families, threads } => bench_plan(clock.today(), families, threads),
        Command::Sign { families } => {
            if let Err(e) = sign::run(place, families) {
                eprintln!("sign: {e:#}");
                std::process::exit(2);
            }
        }
        Command::Notice { families, compare_npm, replicas } => {
            let result = if replicas.is_empty() {
                notice::run(place, families, compare_npm)
            } else {
                replicas::run(place, families, &replicas)
            };
            if let Err(e) = result {
                eprintln!("notice: {e:#}");
                std::process::exit(2);
            }
        }
        Command::Api { families, rates, seconds, only } => {
            if let Err(e) = api::run(place, families, &rates, seconds, only.as_deref()) {
                eprintln!("api: {e:#}");
                std::process::exit(2);
            }
        }
        Command::Audience { families, previews, reads, seconds } => {
            let load = audience::Load { families, previews_per_second: previews, reads_per_second: reads, seconds };
            if let Err(e) = audience::run(place, load) {
                eprintln!("audience: {e:#}");
                std::process::exit(2);
            }
        }
        Command::Replan { families } => {
            if let Err(e) = replan::run(place, families) {
                eprintln!("replan: {e:#}");
                std::process::exit(2);
            }
        }
        Command::SignIn { attempts } => {
            if let Err(e) = sign_in::run(place, attempts) {
                eprintln!("sign-in: {e:#}");
                std::process::exit(2);
            }
        }
        Command::Card { name, birth_date, out } => {
            if let Err(e) = write_card(&clock, &name, &birth_date, &out) {
                eprintln!("card: {e:#}");
                std::process::exit(2);
            }
        }
        Command::PushService(options) => {
            if let Err(e) = push_service::run_command(options) {
                eprintln!("push-service: {e:#}");
                std::process::exit(2);
            }
        }
        Command::Fanout { families, devices_per_family, workers, compare_npm, rtt_ms } => {
            if let Err(e) = fanout::run(place, families, devices_per_family, workers, compare_npm, &rtt_ms) {
                eprintln!("fanout: {e:#}");
                std::process::exit(2);
            }
        }
    }
}

/// A small, fast, deterministic generator (SplitMix64), so every run plans the same families.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn synthetic_family(index: usize, today: NaiveDate) -> FamilyFacts {
    let mut rng = SplitMix(index as u64);
    let children = (0..rng.below(4))
        .map(|c| {
            if rng.below(5) == 0 {
                ChildFacts {
                    id: format!("c{c}"),
                    status: ChildStatus::Expected,
                    due_date: Some(today + Days::new(rng.below(280))),
                    birth_date: None,
                    birth_weight_grams: None,
                    sex: None,
                    doses: vec![],
                    ending: None,
                    recorded_on: None,
                }
            } else {
                let born = today - Days::new(rng.below(365 * 8));
                // Half the children have their first five-in-one dose recorded at 2 months.
                let doses = if rng.below(2) == 0 {
                    vec![Dose { procedure: "vaccine_5in1".to_owned(), given_on: born + Days::new(61), product: None }]
                } else {
                    vec![]
                };
                ChildFacts {
                    id: format!("c{c}"),
                    status: ChildStatus::Born,
                    due_date: None,
                    birth_date: Some(born),
                    birth_weight_grams: Some(1_800 + rng.below(2_400) as i32),
                    sex: None,
                    doses,
                    ending: None,
                    recorded_on: None,
                }
            }
        })
        .collect();
    let single_parent = rng.below(10) == 0;
    FamilyFacts {
        family_id: format!("family-{index}"),
        municipality_code: MUNICIPALITIES[rng.below(MUNICIPALITIES.len() as u64) as usize].to_owned(),
        health_insurance: Some(if rng.below(3) == 0 { HealthInsurance::National } else { HealthInsurance::Employee }),
        single_parent,
        circumstances: if single_parent { vec![Circumstance::ReceivesChildSupportAllowance] } else { vec![] },
        guardian_nationalities: vec![Some("JP".to_owned())],
        guardian_relationships: vec![Relationship::Mother],
        parents_married: None,
        quiet_hours: QuietHours::default(),
        moved_on: (rng.below(20) == 0).then(|| today - Days::new(rng.below(30))),
        planned_move_out_on: None,
        moved_within_municipality: false,
        children,
        closed: BTreeMap::new(),
    }
}

/// Peak resident memory of this process (VmHWM), in MiB.
pub fn peak_memory_mib() -> f64 {
    peak_memory_mib_of("self")
}

/// Peak resident memory (VmHWM) of process `pid` (or `self`), in MiB.
pub fn peak_memory_mib_of(pid: &str) -> f64 {
    memory_mib_of(pid, "VmHWM:")
}

/// A memory figure of `/proc/{pid}/status` (`VmHWM:`, `VmRSS:`), in MiB.
pub fn memory_mib_of(pid: &str, figure: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(figure)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn bench_plan(today: NaiveDate, families: usize, threads: Option<usize>) {
    let ctx = PlanningContext::shipped();
    let settings: BTreeMap<&str, ResolvedOverride> =
        MUNICIPALITIES.iter().map(|m| (*m, ctx.resolve(m, None))).collect();
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let next = AtomicUsize::new(0);
    let (tasks, reminders) = (AtomicUsize::new(0), AtomicUsize::new(0));
    const CHUNK: usize = 1_000;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let (mut t, mut r) = (0, 0);
                loop {
                    let first = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if first >= families {
                        break;
                    }
                    for index in first..(first + CHUNK).min(families) {
                        let facts = synthetic_family(index, today);
                        let planned = plan(&facts, &ctx, &settings[facts.municipality_code.as_str()], today);
                        t += planned.tasks.len();
                        r += planned.notifications.len();
                    }
                }
                tasks.fetch_add(t, Ordering::Relaxed);
                reminders.fetch_add(r, Ordering::Relaxed);
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    println!("plan: {families} families on {threads} threads in {elapsed:.2} s");
    println!("plan: {:.0} families/s", families as f64 / elapsed);
    println!("plan: {} tasks, {} reminders planned", tasks.into_inner(), reminders.into_inner());
    println!("plan: peak memory {:.1} MiB", peak_memory_mib());
}
