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
use crate::service::now;

/// Reminders handled per transaction when materializing.
const MATERIALIZE_BATCH: i64 = 500;
/// Finished deliveries are kept this long for the ledger.
const KEEP_DELIVERIES_DAYS: i64 = 30;

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
                scheduled_jobs::status.eq("pending"),
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
                .eq("pending")
                .or(scheduled_jobs::status.eq("running").and(scheduled_jobs::lease_until.lt(now))),
        ),
    )
    .set((
        scheduled_jobs::status.eq("running"),
        scheduled_jobs::lease_until.eq(Some(now + chrono::Duration::minutes(5))),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}

fn finish(conn: &mut DbConnection, name: &str, scheduled_for: NaiveDateTime, now: NaiveDateTime) -> Result<(), Error> {
    let key = job_key(name, scheduled_for);
    diesel::update(scheduled_jobs::table.find(key))
        .set((scheduled_jobs::status.eq("done"), scheduled_jobs::finished_at.eq(Some(now))))
        .execute(conn)?;
    // Old job rows are only bookkeeping.
    diesel::delete(
        scheduled_jobs::table
            .filter(scheduled_jobs::status.eq("done"))
            .filter(scheduled_jobs::scheduled_for.lt(now - chrono::Duration::days(2))),
    )
    .execute(conn)?;
    Ok(())
}

/// Materializes every due reminder (in batches) for the tick at `scheduled_for`.
pub async fn run_materialize(ctx: &JobContext, scheduled_for: NaiveDateTime) -> Result<usize, Error> {
    if !ctx.db.write(move |conn| take(conn, "materialize", scheduled_for, now())).await? {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        let templates = ctx.templates.clone();
        let handled =
            ctx.db.write(move |conn| materialize::due_reminders(conn, &templates, now(), MATERIALIZE_BATCH)).await?;
        total += handled;
        if handled < MATERIALIZE_BATCH as usize {
            break;
        }
    }
    ctx.db.write(move |conn| finish(conn, "materialize", scheduled_for, now())).await?;
    Ok(total)
}

/// Sends the scheduled notices whose time has come, for the tick at `scheduled_for`.
pub async fn run_notices(ctx: &JobContext, scheduled_for: NaiveDateTime) -> Result<usize, Error> {
    if !ctx.db.write(move |conn| take(conn, "notices", scheduled_for, now())).await? {
        return Ok(0);
    }
    let (templates, planning) = (ctx.templates.clone(), ctx.planning.clone());
    let sent = ctx
        .db
        .write(move |conn| {
            let names = |conn: &mut crate::db::DbConnection, code: &str| {
                crate::service::municipalities::display_name(conn, &planning, code)
            };
            crate::service::notices::send_scheduled(
                conn,
                &templates,
                &names,
                crate::domain::dates::tokyo_today(),
                now(),
            )
        })
        .await?;
    ctx.db.write(move |conn| finish(conn, "notices", scheduled_for, now())).await?;
    Ok(sent)
}

/// Opens the drafts of tasks whose window opened by the calendar (the last week, so a missed
/// day catches up), one family per transaction.
pub async fn run_drafts(ctx: &JobContext, scheduled_for: NaiveDateTime) -> Result<usize, Error> {
    if !ctx.db.write(move |conn| take(conn, "drafts", scheduled_for, now())).await? {
        return Ok(0);
    }
    let today = crate::domain::dates::tokyo_today();
    let planning = ctx.planning.clone();
    let families = ctx
        .db
        .read(move |conn| crate::service::drafts::families_with_opened_windows(conn, &planning, today, 7))
        .await?;
    let count = families.len();
    for family in families {
        let (keys, planning) = (ctx.keys.clone(), ctx.planning.clone());
        ctx.db
            .write(move |conn| crate::service::drafts::sync_family(conn, &keys, &planning, &family, today, now()))
            .await?;
    }
    ctx.db.write(move |conn| finish(conn, "drafts", scheduled_for, now())).await?;
    Ok(count)
}

async fn run_purge(ctx: &JobContext, scheduled_for: NaiveDateTime) -> Result<usize, Error> {
    if !ctx.db.write(move |conn| take(conn, "purge", scheduled_for, now())).await? {
        return Ok(0);
    }
    let purged = ctx.db.write(|conn| outbox::purge(conn, now() - chrono::Duration::days(KEEP_DELIVERIES_DAYS))).await?;
    ctx.db.write(move |conn| finish(conn, "purge", scheduled_for, now())).await?;
    Ok(purged)
}

/// Starts the ticks: materialize every `materialize_every_seconds`, purge daily at 03:00 UTC,
/// open the day's drafts daily at 00:05 Asia/Tokyo (15:05 UTC).
pub async fn start(ctx: JobContext) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    let every = ctx.settings.materialize_every_seconds;
    let materialize_ctx = ctx.clone();
    scheduler
        .add(Job::new_async(format!("*/{every} * * * * *"), move |_, _| {
            let ctx = materialize_ctx.clone();
            Box::pin(async move {
                let tick = tick_instant(Utc::now(), every);
                if let Err(e) = run_materialize(&ctx, tick).await {
                    tracing::error!(error = %e, "materializing due reminders failed");
                }
                if let Err(e) = run_notices(&ctx, tick).await {
                    tracing::error!(error = %e, "sending scheduled notices failed");
                }
                if let Err(e) = super::webhooks::run_once(&ctx).await {
                    tracing::error!(error = %e, "sending municipal webhooks failed");
                }
            })
        })?)
        .await?;
    let drafts_ctx = ctx.clone();
    scheduler
        .add(Job::new_async("0 5 15 * * *", move |_, _| {
            let ctx = drafts_ctx.clone();
            Box::pin(async move {
                if let Err(e) = run_drafts(&ctx, tick_instant(Utc::now(), 60)).await {
                    tracing::error!(error = %e, "opening drafts failed");
                }
            })
        })?)
        .await?;
    scheduler
        .add(Job::new_async("0 0 3 * * *", move |_, _| {
            let ctx = ctx.clone();
            Box::pin(async move {
                if let Err(e) = run_purge(&ctx, tick_instant(Utc::now(), 60)).await {
                    tracing::error!(error = %e, "purging old deliveries failed");
                }
            })
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
}
