//! Periodic jobs with tokio-cron-scheduler. A tick only enqueues a job keyed by its name and
//! scheduled instant (`materialize:2026-11-22T09:00:15`), then runs it if it can take the job's
//! lease: several replicas ticking together produce one job and one run per tick.

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use diesel::prelude::*;
use tokio_cron_scheduler::{Job, JobScheduler};

use super::{materialize, outbox, JobContext};
use crate::db::schema::scheduled_jobs;
use crate::db::DbConnection;
use crate::error::Error;
use crate::service::audit::Actor;
use crate::service::{principals, submissions};

/// Reminders handled per transaction when materializing.
const MATERIALIZE_BATCH: i64 = 500;
/// Finished deliveries are kept this long for the ledger.
const KEEP_DELIVERIES_DAYS: i64 = 30;
/// Expired or revoked staff keys are kept this long, so their rows still explain the audit trail.
const KEEP_REVOKED_STAFF_KEYS_DAYS: i64 = 90;

crate::text_enum! {
    /// Where one periodic job (one name, one tick) stands.
    pub enum JobStatus {
        /// Enqueued by the first replica that ticked; not yet taken.
        Pending => "pending",
        /// Taken under a lease; another replica may take it once the lease has run out.
        Running => "running",
        Done => "done",
    }
}

/// The instant a tick stands for: `at` floored to the period, so every replica agrees.
pub fn tick_instant(at: DateTime<Utc>, every_seconds: u32) -> NaiveDateTime {
    let at = at.naive_utc().with_nanosecond(0).unwrap_or(at.naive_utc());
    let second = at.second() - at.second() % every_seconds.max(1);
    at.with_second(second).unwrap_or(at)
}

/// `materialize:2026-11-22T09:00:15`: the same for every replica ticking at that instant.
fn job_key(name: &str, scheduled_for: NaiveDateTime) -> String {
    format!("{name}:{}", scheduled_for.format("%Y-%m-%dT%H:%M:%S%.f"))
}

/// Enqueues the job of this tick (once, whoever ticks first) and takes it if no one else has.
/// Returns whether this process should run it.
pub fn take(
    conn: &mut DbConnection,
    name: &str,
    scheduled_for: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, Error> {
    let key = job_key(name, scheduled_for);
    let exists: i64 = scheduled_jobs::table.filter(scheduled_jobs::dedupe_key.eq(&key)).count().get_result(conn)?;
    if exists == 0 {
        let inserted = diesel::insert_into(scheduled_jobs::table)
            .values((
                scheduled_jobs::dedupe_key.eq(&key),
                scheduled_jobs::name.eq(name),
                scheduled_jobs::scheduled_for.eq(scheduled_for),
                scheduled_jobs::status.eq(JobStatus::Pending),
                scheduled_jobs::created_at.eq(now),
            ))
            .execute(conn);
        // Another replica inserted it between our check and our insert: that is fine.
        if let Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) =
            inserted
        {
            return Ok(false);
        }
        inserted?;
    }
    let taken = diesel::update(
        scheduled_jobs::table.filter(scheduled_jobs::dedupe_key.eq(&key)).filter(
            scheduled_jobs::status
                .eq(JobStatus::Pending)
                .or(scheduled_jobs::status.eq(JobStatus::Running).and(scheduled_jobs::lease_until.lt(now))),
        ),
    )
    .set((
        scheduled_jobs::status.eq(JobStatus::Running),
        scheduled_jobs::lease_until.eq(Some(now + chrono::Duration::minutes(5))),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}

fn finish(conn: &mut DbConnection, name: &str, scheduled_for: NaiveDateTime, now: NaiveDateTime) -> Result<(), Error> {
    let key = job_key(name, scheduled_for);
    diesel::update(scheduled_jobs::table.find(key))
        .set((scheduled_jobs::status.eq(JobStatus::Done), scheduled_jobs::finished_at.eq(Some(now))))
        .execute(conn)?;
    // Old job rows are only bookkeeping.
    diesel::delete(
        scheduled_jobs::table
            .filter(scheduled_jobs::status.eq(JobStatus::Done))
            .filter(scheduled_jobs::scheduled_for.lt(now - chrono::Duration::days(2))),
    )
    .execute(conn)?;
    Ok(())
}

/// Runs the job `name` of the tick at `scheduled_for` with `work`, if this process takes it
/// (every replica ticks; one runs each job), and marks it done. Returns what `work` counted, or
/// 0 when another process had the job.
async fn run_job<F, Fut>(
    ctx: &JobContext,
    name: &'static str,
    scheduled_for: NaiveDateTime,
    work: F,
) -> Result<usize, Error>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<usize, Error>>,
{
    let clock = ctx.clock.clone();
    if !ctx.db.write(move |conn| take(conn, name, scheduled_for, clock.now())).await? {
        return Ok(0);
    }
    let counted = work().await?;
    let now = ctx.clock.now();
    ctx.db.write(move |conn| finish(conn, name, scheduled_for, now)).await?;
    Ok(counted)
}

/// Materializes every due reminder (in batches) for the tick at `scheduled_for`.
pub async fn run_materialize(ctx: &JobContext, scheduled_for: NaiveDateTime) -> Result<usize, Error> {
    run_job(ctx, "materialize", scheduled_for, || async {
        let mut total = 0;
        loop {
            let (templates, planning, now) = (ctx.templates.clone(), ctx.planning.clone(), ctx.clock.now());
            let handled = ctx
                .db
                .write(move |conn| materialize::due_reminders(conn, &templates, &planning, now, MATERIALIZE_BATCH))
                .await?;
            total += handled;
            if handled < MATERIALIZE_BATCH as usize {
                return Ok(total);
            }
        }
    })
    .await
}

/// Sends the scheduled notices whose time has come, each in a transaction of its own, then
/// records the audiences of every notice sent and not yet recorded (these, and any a stopped
/// process left half done), for the tick at `scheduled_for`.
pub async fn run_notices(ctx: &JobContext, scheduled_for: NaiveDateTime) -> Result<usize, Error> {
    run_job(ctx, "notices", scheduled_for, || async {
        let now = ctx.clock.now();
        let due = ctx.db.read(move |conn| crate::service::notices::due_scheduled(conn, now)).await?;
        let mut sent = 0;
        for id in due {
            let now = ctx.clock.now();
            if ctx.db.write(move |conn| crate::service::notices::send_scheduled(conn, &id, now)).await? {
                sent += 1;
            }
        }
        ctx.recorder().resume().await?;
        Ok(sent)
    })
    .await
}

/// Finishes re-planning the residents of municipalities whose settings changed, where the
/// process that started it stopped, for the tick at `scheduled_for`.
pub async fn run_replans(ctx: &JobContext, scheduled_for: NaiveDateTime) -> Result<usize, Error> {
    run_job(ctx, "replans", scheduled_for, || async { Ok(ctx.replanner().resume().await?.0) }).await
}

/// A new day changes the families whose task windows opened by the calendar (the last week,
/// so a missed day catches up): each gets what follows a change (`family_changed`: re-planned,
/// its drafts opened, standing notices), one family per transaction.
pub async fn run_drafts(ctx: &JobContext, scheduled_for: NaiveDateTime) -> Result<usize, Error> {
    run_job(ctx, "drafts", scheduled_for, || async {
        let today = ctx.clock.today();
        let planning = ctx.planning.clone();
        let families = ctx
            .db
            .read(move |conn| crate::service::drafts::families_with_opened_windows(conn, &planning, today, 7))
            .await?;
        let count = families.len();
        for family in families {
            let uc = ctx.use_case();
            ctx.db.write(move |conn| crate::service::family_changed::family_changed(conn, &uc, &family)).await?;
        }
        Ok(count)
    })
    .await
}

async fn run_purge(ctx: &JobContext, scheduled_for: NaiveDateTime) -> Result<usize, Error> {
    run_job(ctx, "purge", scheduled_for, || async {
        let (planning, now) = (ctx.planning.clone(), ctx.clock.now());
        ctx.db
            .write(move |conn| {
                let deliveries = outbox::purge(conn, now - chrono::Duration::days(KEEP_DELIVERIES_DAYS))?;
                let (sessions, staff_keys) =
                    principals::purge_expired(conn, chrono::Duration::days(KEEP_REVOKED_STAFF_KEYS_DAYS), now)?;
                let submissions = submissions::purge_retained(conn, &planning, &Actor::system("purge"), now)?;
                let attempts = crate::service::sign_in_attempts::purge(conn, now)?;
                let retries = crate::service::idempotency::purge(conn, now)?;
                // Health information is kept until the child's first birthday (consents.rs).
                let a_year_ago = crate::domain::dates::tokyo_date(now.and_utc()) - chrono::Months::new(12);
                let health = crate::service::consents::erase_health_information(conn, None, Some(a_year_ago))?;
                Ok(deliveries + sessions + staff_keys + submissions + health + attempts + retries)
            })
            .await
    })
    .await
}

/// The latest instant at or before `now` that reads `hour:minute` in Japan: the instant a
/// daily job stands for. Every replica agrees on it, and a day missed (the service was down at
/// that time) is caught up at the next tick.
pub fn last_daily_instant(now: DateTime<Utc>, hour: u32, minute: u32) -> NaiveDateTime {
    let today = crate::domain::dates::tokyo_date(now);
    let at = |date: chrono::NaiveDate| {
        date.and_hms_opt(hour, minute, 0)
            .and_then(|local| local.and_local_timezone(chrono_tz::Asia::Tokyo).single())
            .map(|local| local.naive_utc())
            .unwrap_or_else(|| now.naive_utc())
    };
    let candidate = at(today);
    if candidate <= now.naive_utc() {
        candidate
    } else {
        at(today - chrono::Days::new(1))
    }
}

/// One tick of the periodic work, at the application clock's present instant: due reminders,
/// scheduled notices and webhooks every tick; the daily jobs (the day's drafts at 00:05 in
/// Japan; at 03:00 the purge of old deliveries, expired sessions and staff keys, and the
/// submissions of deleted families whose retention ended) once their time of day has come. Cron only paces the ticks; what
/// is due is always decided by the clock, so a test or a rehearsal that moves the clock moves
/// the jobs with it.
pub async fn tick(ctx: &JobContext) {
    let now = ctx.clock.now_utc();
    let every = ctx.settings.materialize_every_seconds;
    let tick = tick_instant(now, every);
    if let Err(e) = run_materialize(ctx, tick).await {
        tracing::error!(error = %e, "materializing due reminders failed");
    }
    if let Err(e) = run_notices(ctx, tick).await {
        tracing::error!(error = %e, "sending scheduled notices failed");
    }
    if let Err(e) = run_replans(ctx, tick).await {
        tracing::error!(error = %e, "re-planning residents after a settings change failed");
    }
    if let Err(e) = super::webhooks::run_once(ctx).await {
        tracing::error!(error = %e, "sending webhooks failed");
    }
    if let Err(e) = run_drafts(ctx, last_daily_instant(now, 0, 5)).await {
        tracing::error!(error = %e, "opening drafts failed");
    }
    if let Err(e) = run_purge(ctx, last_daily_instant(now, 3, 0)).await {
        tracing::error!(error = %e, "purging old deliveries, expired credentials and retained submissions failed");
    }
}

/// Starts the ticks, every `materialize_every_seconds`.
pub async fn start(ctx: JobContext) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    let every = ctx.settings.materialize_every_seconds;
    scheduler
        .add(Job::new_async(format!("*/{every} * * * * *"), move |_, _| {
            let ctx = ctx.clone();
            Box::pin(async move { tick(&ctx).await })
        })?)
        .await?;
    scheduler.start().await?;
    Ok(scheduler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn replicas_agree_on_the_tick() {
        let a = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 16).single().expect("instant");
        let b = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 29).single().expect("instant");
        assert_eq!(tick_instant(a, 15), tick_instant(b, 15));
        assert_eq!(tick_instant(a, 15).second(), 15);
    }

    #[test]
    fn a_daily_job_stands_for_its_last_time_of_day_in_japan() {
        let utc = |d, h, m| Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).single().expect("instant");
        // 00:05 JST on 23 November is 15:05 UTC on 22 November.
        assert_eq!(last_daily_instant(utc(22, 15, 5), 0, 5), utc(22, 15, 5).naive_utc());
        assert_eq!(last_daily_instant(utc(23, 15, 4), 0, 5), utc(22, 15, 5).naive_utc(), "not yet today's");
        assert_eq!(last_daily_instant(utc(23, 15, 6), 0, 5), utc(23, 15, 5).naive_utc());
        // 03:00 JST is 18:00 UTC the day before.
        assert_eq!(last_daily_instant(utc(23, 12, 0), 3, 0), utc(22, 18, 0).naive_utc());
    }
}
