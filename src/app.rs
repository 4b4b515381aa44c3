//! Builds the running service: settings → database → HTTP server (and, as they arrive,
//! background workers), sharing one `AppState`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use utoipa_actix_web::AppExt;

use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::KeyRing;
use crate::db::rows::FamilyRow;
use crate::db::{Db, DbConnection};
use crate::domain::overrides::MunicipalityOverride;
use crate::domain::planner::PlanningContext;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::access;
use crate::service::audit::{self, Actor, Event};
use crate::service::family_changed::family_changed;
use crate::service::municipalities::{self, SettingsReplaced};
use crate::service::notices::{self, Notice, NoticeAct, NoticeRef};
use crate::service::principals::Principal;
use crate::service::replan::Replanner;
use crate::service::UseCase;
use crate::telemetry::Metrics;
use crate::templates::Templates;

/// What every request handler may use.
pub struct AppState {
    pub db: Db,
    pub keys: Arc<KeyRing>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    /// The catalog, the calendar and the shipped municipality settings.
    pub planning: Arc<PlanningContext>,
    /// Every word sent to a parent.
    pub templates: Arc<Templates>,
    /// Verifies the parents' signatures against the pinned trust anchors.
    pub verifier: Arc<crate::jpki::Verifier>,
    /// Where every handler reads the time (see `crate::clock`).
    pub clock: Clock,
    /// Each credential's request budget.
    pub rate_limits: crate::api::rate_limit::RateLimits,
    /// Audience counts made lately, reused for a short while.
    pub audience_counts: notices::AudienceCounts,
    /// Turns of the expensive reads (`limits.expensive_reads_at_once` at once).
    pub expensive_reads: tokio::sync::Semaphore,
    /// What stands before a console password is checked: each client's budget, the count of
    /// guesses and the few checks run at once.
    pub sign_in_guard: crate::console::guard::SignInGuard,
}

impl AppState {
    /// Runs `f` on the family if the caller may see it (read-only connection).
    pub async fn read_family<R, F>(&self, principal: Principal, family_id: String, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut DbConnection, &UseCase, FamilyRow) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        let uc = self.use_case();
        self.db
            .read(move |conn| {
                let family = access::family_for(conn, &principal, &family_id)?;
                f(conn, &uc, family)
            })
            .await
    }

    /// Runs `f` on the family, in one transaction, if the caller may change it, then does what
    /// follows a change (`family_changed`) in the same transaction: every change upstream flows
    /// into its tasks, drafts and standing notices.
    pub async fn write_family<R, F>(&self, principal: Principal, family_id: String, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut DbConnection, &UseCase, FamilyRow) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        self.write_family_unplanned(principal, family_id, move |conn, uc, family| {
            let id = family.id.clone();
            let result = f(conn, uc, family)?;
            family_changed(conn, uc, &id)?;
            Ok(result)
        })
        .await
    }

    /// Runs `f` on the family if the caller may change it, in one write transaction, without
    /// what follows a change of the family: for writes nothing planned reads (its devices), so
    /// an app registering its device at every start costs one insert, not a re-plan.
    pub async fn write_family_unplanned<R, F>(&self, principal: Principal, family_id: String, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut DbConnection, &UseCase, FamilyRow) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        let uc = self.use_case();
        self.db
            .write(move |conn| {
                let family = access::family_for(conn, &principal, &family_id)?;
                f(conn, &uc, family)
            })
            .await
    }

    /// Runs `f` in one write transaction and records the event it returns in the audit trail,
    /// in that same transaction: an act is committed with its record or not at all.
    pub async fn write_audited<R, F>(&self, actor: Actor, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut DbConnection, &UseCase) -> Result<(R, Event), Error> + Send + 'static,
        R: Send + 'static,
    {
        let uc = self.use_case();
        self.db
            .write(move |conn| {
                let (result, event) = f(conn, &uc)?;
                audit::record(conn, &actor, event, uc.now)?;
                Ok(result)
            })
            .await
    }

    /// Spends an expensive read's cost (`limits.expensive_read_cost`) from the caller's budget,
    /// the request its extractor already took included; 429 when the budget cannot pay it.
    pub fn pay_expensive_read(&self, principal: &Principal) -> Result<(), Error> {
        self.rate_limits.check_cost(principal, self.settings.limits.expensive_read_cost.saturating_sub(1))
    }

    /// Waits for an expensive read's turn: at most `limits.expensive_reads_at_once` (half the
    /// cores unless set) run at once, so however many are asked for, the other tenants' requests
    /// keep cores and database connections of their own. Held until dropped.
    pub async fn expensive_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Error> {
        self.expensive_reads.acquire().await.map_err(|_| Error::internal("expensive reads closed"))
    }

    /// An expensive read paid for (`pay_expensive_read`), once its turn has come.
    pub async fn expensive_read(&self, principal: &Principal) -> Result<tokio::sync::SemaphorePermit<'_>, Error> {
        self.pay_expensive_read(principal)?;
        self.expensive_turn().await
    }

    /// How many resident families of the municipality `audience` reaches, as staff may see it
    /// (API and console alike): a count made for the same conditions less than
    /// `notices.audience_count_cache_seconds` ago is reused, a new one waits for an expensive
    /// read's turn, and one below `notices.audience_count_threshold` is shown as "fewer than".
    /// The caller has paid for it (`pay_expensive_read`).
    pub async fn audience_size(
        &self,
        code: MunicipalityCode,
        audience: notices::Audience,
    ) -> Result<notices::AudienceSize, Error> {
        let mut check = crate::error::FieldCheck::default();
        audience.check(&mut check, "");
        check.finish()?;
        let (today, now) = (self.clock.today(), self.clock.now());
        let count = match self.audience_counts.get(&code, &audience, today, now) {
            Some(count) => count,
            None => {
                let (lookup, conditions) = (code.clone(), audience.clone());
                let _turn = self.expensive_turn().await?;
                let count = self.db.read(move |conn| notices::audience_size(conn, &lookup, &conditions, today)).await?;
                self.audience_counts.put(&code, &audience, today, now, count);
                count
            }
        };
        Ok(notices::AudienceSize::shown(count, self.settings.notices.audience_count_threshold))
    }

    /// What a member of staff does to a notice (API or console), recorded in the audit trail;
    /// a notice sent now then reaches its audience, a batch per transaction, before the answer.
    pub async fn act_on_notice(&self, actor: Actor, target: NoticeRef, act: NoticeAct) -> Result<Notice, Error> {
        let sending = matches!(act, NoticeAct::Send);
        let lookup = (target.code.clone(), target.id.clone());
        let notice = self.write_audited(actor, move |conn, uc| notices::act(conn, uc, &target, act)).await?;
        if !sending {
            return Ok(notice);
        }
        self.recorder().record(&notice.id).await?;
        self.db.read(move |conn| notices::get(conn, &lookup.0, &lookup.1)).await
    }

    /// Changes the municipality's settings as `staff_id` (`edit` turns the settings in force into
    /// the new ones, in the transaction that stores them, so a concurrent change is not lost),
    /// recorded in the audit trail; then re-plans its residents, a batch per transaction, before
    /// the answer, which counts them.
    pub async fn replace_settings<F>(
        &self,
        actor: Actor,
        code: MunicipalityCode,
        staff_id: String,
        edit: F,
    ) -> Result<SettingsReplaced, Error>
    where
        F: FnOnce(MunicipalityOverride) -> MunicipalityOverride + Send + 'static,
    {
        let (planning, subject) = (self.planning.clone(), code.clone());
        let mut replaced = self
            .write_audited(actor, move |conn, uc| {
                let current = municipalities::get(conn, &planning, &code)?.settings;
                municipalities::replace_audited(conn, uc, &code, edit(current), &staff_id)
            })
            .await?;
        (replaced.families_replanned, replaced.changes) = self.replanner().replan(subject.as_str()).await?;
        Ok(replaced)
    }

    /// Re-plans residents after a settings change under a lease as long as a delivery's.
    pub fn replanner(&self) -> Replanner {
        Replanner {
            db: self.db.clone(),
            keys: self.keys.clone(),
            planning: self.planning.clone(),
            templates: self.templates.clone(),
            clock: self.clock.clone(),
            lease: chrono::Duration::seconds(self.settings.jobs.lease_seconds),
        }
    }

    /// Records sent notices' audiences under a lease as long as a delivery's.
    pub fn recorder(&self) -> notices::Recorder {
        notices::Recorder {
            db: self.db.clone(),
            templates: self.templates.clone(),
            planning: self.planning.clone(),
            clock: self.clock.clone(),
            lease: chrono::Duration::seconds(self.settings.jobs.lease_seconds),
        }
    }

    /// The use-case context of a request, at the clock's present instant.
    pub fn use_case(&self) -> UseCase {
        UseCase::at(&self.keys, &self.planning, &self.templates, &self.clock)
    }
}

/// The built-in templates, with the operator's overrides when they pass the same checks.
fn load_templates(settings: &Settings) -> anyhow::Result<Templates> {
    let (templates, refused) = Templates::with_overrides(settings.templates.override_dir.as_deref())
        .map_err(|e| anyhow::anyhow!("built-in templates: {e}"))?;
    if let Some(problem) = refused {
        tracing::error!(problem = %problem, "template overrides refused; the built-in templates stay in force");
    }
    Ok(templates)
}

/// The service, bound and ready to run.
pub struct Application {
    port: u16,
    db: Db,
    server: Server,
    background: Option<crate::jobs::Background>,
}

impl Application {
    /// Opens the database, runs migrations and binds the listener (port 0 picks a free one).
    /// Time comes from the system clock, or from `clock.start_at` when set.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let clock = settings.clock.clock().map_err(anyhow::Error::msg)?;
        Self::build_with_clock(settings, clock)
    }

    /// The same, on a clock the caller holds (a test that moves time).
    pub fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let location = settings.database_location().map_err(anyhow::Error::msg)?;
        let database = &settings.database;
        let pool_wait = std::time::Duration::from_millis(database.pool_wait_ms);
        let db = Db::connect_waiting(location, database.pool_size, database.sqlite_busy_timeout_ms, pool_wait)?;
        db.migrate()?;
        let keys = Arc::new(crate::db::canary::keys_for_serving(&settings, &db, clock.now())?);
        // What an older version kept in the clear is sealed now, with keys known to be right.
        crate::db::sealing::seal_clear_values(&mut *db.get()?, &keys)?;
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", settings.server.host, settings.server.port))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            db: db.clone(),
            keys,
            metrics: Arc::new(Metrics::new()?),
            settings: Arc::new(settings.clone()),
            planning: Arc::new(PlanningContext::shipped()),
            templates: Arc::new(load_templates(&settings)?),
            verifier: Arc::new(settings.signatures.verifier().map_err(anyhow::Error::msg)?),
            clock,
            rate_limits: crate::api::rate_limit::RateLimits::new(&settings.limits),
            audience_counts: notices::AudienceCounts::new(settings.notices.audience_count_cache_seconds),
            expensive_reads: tokio::sync::Semaphore::new(settings.limits.expensive_reads()),
            sign_in_guard: crate::console::guard::SignInGuard::new(&settings),
        });
        let background = if settings.jobs.enabled {
            let ctx = crate::jobs::JobContext {
                db: state.db.clone(),
                keys: state.keys.clone(),
                templates: state.templates.clone(),
                planning: state.planning.clone(),
                senders: Arc::new(crate::jobs::senders(&settings.push, &settings.jobs)?),
                metrics: state.metrics.clone(),
                settings: settings.jobs.clone(),
                clock: state.clock.clone(),
                webhooks: Arc::new(crate::jobs::webhooks::WebhookClient::new(&settings.webhooks)?),
            };
            Some(crate::jobs::Background::start(ctx)?)
        } else {
            None
        };
        let openapi = crate::api::openapi();
        let known_paths = web::Data::new(crate::api::routes::KnownPaths::from_document(&openapi));
        let document = web::Data::new(crate::api::OpenApiJson(openapi.to_pretty_json()?));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(document.clone())
                .app_data(known_paths.clone())
                .wrap(actix_web::middleware::from_fn(crate::api::etag::tag_answers))
                .wrap(actix_web::middleware::from_fn(crate::api::idempotency::idempotent))
                .wrap(crate::api::security_headers())
                .wrap(actix_web::middleware::from_fn(crate::telemetry::observe))
                .into_utoipa_app()
                .configure(crate::api::configure)
                .into_app()
                .configure(crate::console::configure)
                .configure(crate::api::configure_unlisted)
        })
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_timeout_seconds);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers);
        }
        Ok(Self { port, db, server: server.run(), background })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pool it serves from: a test holds its connections to see what a busy pool answers.
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// Serves until SIGINT/SIGTERM; in-flight requests get `shutdown_timeout_seconds` to finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // Stop taking deliveries once the HTTP server has stopped; a batch in flight finishes
        // (or its lease expires and another replica takes it).
        if let Some(background) = self.background {
            tokio::task::spawn_blocking(move || background.stop()).await.ok();
        }
        served
    }
}
