//! One lease for every outbox (push deliveries, municipal webhooks): a worker leases the due
//! rows with one conditional UPDATE tagged with a token of its own (`lease_owner`), then reads
//! back the rows carrying that token. Two workers, two replicas or two processes on one SQLite
//! file never lease the same row at once; a crashed worker's lease runs out and the row is
//! leased again.

/// Leases up to `$limit` rows of outbox table `$table` that are `$pending`, due by `$now` and
/// not leased (or whose lease ran out), for `$lease`. Evaluates to the lease's token, or `None`
/// when nothing was due. The table has `id`, `status`, `next_attempt_at`, `lease_owner` and
/// `lease_until` columns. (A macro, since diesel's columns are types of their own table.)
macro_rules! lease_due {
    ($conn:expr, $table:ident, $pending:expr, $now:expr, $lease:expr, $limit:expr) => {{
        use diesel::prelude::*;
        use $crate::db::schema::$table as outbox;
        let (now, pending) = ($now, $pending);
        let free = || outbox::lease_until.is_null().or(outbox::lease_until.lt(now));
        let candidates: Vec<String> = outbox::table
            .filter(outbox::status.eq(pending))
            .filter(outbox::next_attempt_at.le(now))
            .filter(free())
            .order(outbox::next_attempt_at.asc())
            .limit($limit)
            .select(outbox::id)
            .load($conn)?;
        if candidates.is_empty() {
            None
        } else {
            let owner = $crate::service::new_id();
            diesel::update(
                outbox::table.filter(outbox::id.eq_any(&candidates)).filter(outbox::status.eq(pending)).filter(free()),
            )
            .set((outbox::lease_owner.eq(Some(&owner)), outbox::lease_until.eq(Some(now + $lease))))
            .execute($conn)?;
            Some(owner)
        }
    }};
}

pub(crate) use lease_due;
