//! What the delivery benchmarks share: a loopback Web Push service, a database of their own (a
//! SQLite file in a temporary folder, or a new database on the PostgreSQL server `--database`
//! names), a vendor app with VAPID credentials, and the delivery workers.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use diesel::{Connection, RunQueryDsl};

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nonstop::clock::Clock;
use nonstop::config::{Secret, Settings};
use nonstop::crypto::KeyRing;
use nonstop::db::{write_transaction, Db};
use nonstop::jobs::{self, JobContext};
use nonstop::service::devices::{DeviceInput, WebPushDevice, WebPushKeys};
use nonstop::service::principals;
use nonstop::service::push_credentials::{self, WebPushCredentialsInput};
use nonstop::telemetry::Metrics;
use nonstop::templates::Templates;

impl BenchEnv {
    /// The use-case context at the benchmark clock's present instant.
    pub fn use_case(&self, planning: &Arc<nonstop::domain::planner::PlanningContext>) -> nonstop::service::UseCase {
        nonstop::service::UseCase::at(&self.keys, planning, &self.templates, &self.clock)
    }
}

/// Where a benchmark runs: its clock (`--at`) and the PostgreSQL server it makes its database on
/// (`--database`; SQLite in a temporary folder without it).
#[derive(Clone)]
pub struct Place {
    pub clock: Clock,
    pub database: Option<String>,
}

impl Place {
    /// The benchmark's world, with a loopback push service on one thread.
    pub fn env(self) -> anyhow::Result<BenchEnv> {
        BenchEnv::start(self.clock, self.database.as_deref(), 1)
    }

    /// The benchmark's world, with the push service that behaves like the real ones (TLS,
    /// HTTP/2, `options`' round trip) on two threads.
    pub fn env_with_service(self, options: super::push_service::Options) -> anyhow::Result<BenchEnv> {
        BenchEnv::start_with(self.clock, self.database.as_deref(), PushService::Realistic(options))
    }
}

/// The push service a benchmark sends to.
pub enum PushService {
    /// Plain HTTP on loopback, answering at once, on this many threads.
    Loopback(usize),
    /// `nonstop-bench push-service`'s: TLS, HTTP/2, a round trip, faults.
    Realistic(super::push_service::Options),
}

pub struct BenchEnv {
    pub settings: Settings,
    pub db: Db,
    pub keys: Arc<KeyRing>,
    pub templates: Arc<Templates>,
    pub app_id: String,
    /// The benchmark's clock, pinned by `--at`.
    pub clock: Clock,
    /// What the loopback push service accepted.
    pub pushes: Arc<PushCounter>,
    /// What the realistic push service took, when the benchmark runs against it.
    pub service: Option<Arc<super::push_service::Stats>>,
    /// `http://127.0.0.1:port` or, for the realistic service, `https://…`.
    origin: String,
    dir: PathBuf,
    /// The PostgreSQL database made for this run, dropped with it (after the pool: fields drop
    /// in order).
    pub postgres: Option<PostgresDatabase>,
    p256dh: String,
    auth: String,
}

/// What the loopback push service received: every push, and each subscription once, so that a
/// push sent twice to the same subscription shows as a double.
#[derive(Default)]
pub struct PushCounter {
    received: AtomicUsize,
    seen: Mutex<HashSet<String>>,
}

impl PushCounter {
    fn count(&self, subscription: String) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(subscription);
        }
    }

    /// Pushes received.
    pub fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }

    /// Subscriptions that received at least one push.
    pub fn distinct(&self) -> usize {
        self.seen.lock().map_or(0, |seen| seen.len())
    }

    /// Forgets what was received, for the next run on the same subscriptions.
    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        if let Ok(mut seen) = self.seen.lock() {
            seen.clear();
        }
    }
}

/// A loopback push service on `workers` threads that accepts everything (it skips decryption:
/// the benchmarks measure the sender), counting what it receives. Returns its port.
fn start_mock(counter: Arc<PushCounter>, workers: usize) -> anyhow::Result<u16> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let counter = web::Data::new(counter);
            let server = HttpServer::new(move || {
                App::new().app_data(counter.clone()).route(
                    "/push/{id}",
                    web::post().to(
                        |counter: web::Data<Arc<PushCounter>>, id: web::Path<String>, _body: web::Bytes| async move {
                            counter.count(id.into_inner());
                            HttpResponse::Created().finish()
                        },
                    ),
                )
            })
            .workers(workers)
            .bind(("127.0.0.1", 0));
            match server {
                Ok(server) => {
                    let _ = tx.send(server.addrs()[0].port());
                    let _ = server.run().await;
                }
                Err(e) => eprintln!("mock: {e}"),
            }
        });
    });
    Ok(rx.recv()?)
}

pub fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("nonstop-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A database made for one run on a PostgreSQL server, dropped with this value (also when the
/// run fails before it starts).
pub struct PostgresDatabase {
    server: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    /// A new, empty database on the server `server` (a URL ending in `/database`, optionally
    /// with `?parameters`, which the new database's URL keeps).
    fn create(server: &str) -> anyhow::Result<Self> {
        let (path, query) = server.split_once('?').map_or((server, None), |(p, q)| (p, Some(q)));
        let (base, _) = path
            .rsplit_once('/')
            .filter(|(base, _)| base.contains("//"))
            .ok_or_else(|| anyhow::anyhow!("--database must end in /database (postgres://user@host:port/postgres)"))?;
        let name = format!("nonstop_bench_{}", uuid::Uuid::new_v4().simple());
        let url = match query {
            Some(query) => format!("{base}/{name}?{query}"),
            None => format!("{base}/{name}"),
        };
        let mut admin = diesel::PgConnection::establish(server)
            .map_err(|e| anyhow::anyhow!("--database: cannot connect to the PostgreSQL server: {e}"))?;
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
        Ok(Self { server: server.to_owned(), name, url })
    }

    /// The database's URL with `name=value` added to its query.
    pub fn url_with(&self, parameter: &str) -> String {
        let joiner = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{joiner}{parameter}", self.url)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // FORCE: a pool's connections may still be open.
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.server) {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut admin);
        }
    }
}

impl BenchEnv {
    /// The benchmark's world, on SQLite in a temporary folder, or on a new database of the
    /// PostgreSQL server `database` (`postgres://…/postgres`) when given.
    pub fn start(clock: Clock, database: Option<&str>, mock_workers: usize) -> anyhow::Result<Self> {
        Self::start_with(clock, database, PushService::Loopback(mock_workers))
    }

    /// The benchmark's world with the push service `service`.
    pub fn start_with(clock: Clock, database: Option<&str>, service: PushService) -> anyhow::Result<Self> {
        let pushes = Arc::new(PushCounter::default());
        let dir = tempfile_dir()?;
        let mut settings = Settings::default();
        let (origin, stats) = match service {
            PushService::Loopback(workers) => {
                let port = start_mock(pushes.clone(), workers)?;
                (format!("http://127.0.0.1:{port}"), None)
            }
            PushService::Realistic(options) => {
                let running = super::push_service::start(options)?;
                let certificate = dir.join("push-service.pem");
                std::fs::write(&certificate, &running.certificate_pem)?;
                settings.push.extra_root_certificates.push(certificate);
                (format!("https://127.0.0.1:{}", running.port), Some(running.stats))
            }
        };
        let postgres = match database {
            Some(server) if server.starts_with("postgres") => {
                let database = PostgresDatabase::create(server)?;
                settings.database.url = Secret::new(database.url.clone());
                Some(database)
            }
            Some(other) => anyhow::bail!("--database takes a postgres:// server URL, not '{other}'"),
            None => {
                settings.database.url = Secret::new(format!("sqlite://{}/bench.sqlite3", dir.display()));
                None
            }
        };
        settings.encryption.active_key_id = "bench".into();
        settings.encryption.keys = BTreeMap::from([("bench".to_owned(), Secret::new(KeyRing::generate_key_base64()))]);
        settings.push.web_push_allowed_hosts.push("127.0.0.1:*".into());
        settings.jobs.batch_size = 500;
        settings.jobs.concurrency = 64;
        // An idle worker looks again soon: the benchmark times the last push.
        settings.jobs.poll_interval_ms = 10;
        let db = Db::connect(settings.database_location().map_err(anyhow::Error::msg)?, 8, 5_000)?;
        db.migrate()?;
        let keys = Arc::new(settings.key_ring()?);
        let templates = Arc::new(Templates::built_in().map_err(|e| anyhow::anyhow!("{e}"))?);
        let mut conn = db.get()?;
        let (app_id, _) = write_transaction(&mut conn, |c| principals::create_app(c, "bench", clock.now()))?;
        write_transaction(&mut conn, |c| {
            let input = WebPushCredentialsInput { subject: "mailto:bench@nonstop-bench.jp".into(), private_key: None };
            push_credentials::set_web_push(c, &keys, &app_id, input, clock.now())
        })?;
        // One subscriber key pair serves every device: the sender encrypts per message anyway.
        let subscriber = jwt_simple::prelude::ES256KeyPair::generate();
        let p256dh = URL_SAFE_NO_PAD.encode(
            jwt_simple::prelude::ECDSAP256PublicKeyLike::public_key(&subscriber.public_key()).to_bytes_uncompressed(),
        );
        Ok(Self {
            settings,
            db,
            keys,
            templates,
            app_id,
            clock,
            pushes,
            service: stats,
            origin,
            dir,
            postgres,
            p256dh,
            auth: URL_SAFE_NO_PAD.encode([7u8; 16]),
        })
    }

    /// A Web Push subscription to the loopback service.
    pub fn device(&self, name: &str) -> DeviceInput {
        DeviceInput::WebPush(WebPushDevice {
            endpoint: format!("{}/push/{name}", self.origin),
            keys: WebPushKeys { p256dh: self.p256dh.clone(), auth: self.auth.clone() },
            expiration_time: None,
        })
    }

    /// Where the push service is: `http://127.0.0.1:port` or `https://…`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The realistic push service's certificate file, if the benchmark runs against it.
    pub fn certificate(&self) -> Option<&std::path::Path> {
        self.settings.push.extra_root_certificates.first().map(PathBuf::as_path)
    }

    pub fn subscription_keys(&self) -> (&str, &str) {
        (&self.p256dh, &self.auth)
    }

    /// Runs `workers` delivery workers, as replicas of `nonstop serve` would, until nothing is due.
    pub fn deliver_all(&self, workers: usize) -> anyhow::Result<()> {
        self.deliver_until(workers, &AtomicBool::new(true))
    }

    /// Runs `workers` delivery workers alongside other work, as a serving process does: an
    /// idle worker looks again shortly, until `finished` is set and nothing is due.
    pub fn deliver_until(&self, workers: usize, finished: &AtomicBool) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let ctx = JobContext {
            db: self.db.clone(),
            keys: self.keys.clone(),
            templates: self.templates.clone(),
            planning: Arc::new(nonstop::domain::planner::PlanningContext::shipped()),
            senders: Arc::new(jobs::senders(&self.settings.push, &self.settings.jobs)?),
            metrics: Arc::new(Metrics::new()?),
            settings: self.settings.jobs.clone(),
            clock: self.clock.clone(),
            webhooks: Arc::new(jobs::webhooks::WebhookClient::new(&self.settings.webhooks)?),
        };
        runtime.block_on(async {
            // Each worker runs the delivery pipeline, as `nonstop serve` does, until `finished`
            // is set and nothing is due.
            let (stop, watcher) = tokio::sync::watch::channel(false);
            let workers = futures_util::future::join_all(
                (0..workers).map(|_| jobs::pipeline::run(ctx.clone(), watcher.clone(), true)),
            );
            let signal = async {
                while !finished.load(Ordering::Acquire) {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                let _ = stop.send(true);
            };
            futures_util::future::join(workers, signal).await;
        });
        Ok(())
    }
}

impl BenchEnv {
    /// The database's kind, as the figures name it.
    pub fn backend(&self) -> &'static str {
        self.db.location().backend_name()
    }
}

impl Drop for BenchEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
