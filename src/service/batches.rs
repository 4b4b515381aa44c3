//! 分割処理: work over many families done a batch per transaction, so that it never holds the
//! database's write lock for long and survives the process that started it. Recording a sent
//! notice's audience and re-planning a municipality's residents after its settings change are
//! such work. Each piece (`batch_runs`: its kind and subject) keeps where it got to (`cursor`:
//! families are walked in id order) and who is doing it (`owner`, under a lease each batch
//! renews). A batch does its families and moves the cursor in one transaction: after a crash the
//! next owner starts where the last committed batch ended, so no family is skipped and none is
//! done twice. Work whose owner stopped is taken over once its lease has run out.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::clock::Clock;
use crate::db::rows::FamilyRow;
use crate::db::schema::{batch_runs, families};
use crate::db::{Db, DbConnection};
use crate::error::Error;
use crate::service::new_id;

crate::text_enum! {
    /// The kinds of batched work.
    pub enum BatchWork {
        /// 送信の記録: a sent notice's audience, each family's inbox entry and pushes (subject:
        /// the notice).
        NoticeRecording => "notice_recording",
        /// 再計画: every resident re-planned under the municipality's new settings (subject: the
        /// municipality code).
        Replan => "replan",
    }
}

/// What one batch did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// The batch's result; more remains.
    More(T),
    /// The batch's result, and the work is finished.
    Done(T),
    /// Another owner has the work (or it is finished, or it was started again): this one stops.
    NotMine,
}

/// Where a batch's page of families ended.
pub struct Page {
    /// Families read (fewer than the batch's limit: the last page).
    pub read: usize,
    /// The id of the last family read: the next batch starts after it.
    pub last_read: Option<String>,
}

/// The next `limit` resident families of a municipality after `after`, in id order: the page a
/// batch over its families works on.
pub fn residents_after(conn: &mut DbConnection, code: &str, after: &str, limit: i64) -> Result<Vec<FamilyRow>, Error> {
    Ok(families::table
        .filter(families::municipality_code.eq(code))
        .filter(families::id.gt(after))
        .order(families::id.asc())
        .limit(limit)
        .select(FamilyRow::as_select())
        .load(conn)?)
}

/// Starts the work on `subject`, or starts it again from the first family (settings changed
/// again while residents were being re-planned): whoever was doing it stops at its next batch.
pub fn start(conn: &mut DbConnection, work: BatchWork, subject: &str, now: NaiveDateTime) -> Result<(), Error> {
    diesel::delete(batch_runs::table.find((work, subject))).execute(conn)?;
    diesel::insert_into(batch_runs::table)
        .values((batch_runs::work.eq(work), batch_runs::subject.eq(subject), batch_runs::started_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Takes the work on `subject` for `owner` when it is unfinished, and unowned or its owner's
/// lease has run out.
pub fn claim(
    conn: &mut DbConnection,
    work: BatchWork,
    subject: &str,
    owner: &str,
    now: NaiveDateTime,
    lease: Duration,
) -> Result<bool, Error> {
    let claimed = diesel::update(
        batch_runs::table
            .find((work, subject))
            .filter(batch_runs::done_at.is_null())
            .filter(batch_runs::lease_until.is_null().or(batch_runs::lease_until.lt(now))),
    )
    .set((batch_runs::owner.eq(Some(owner)), batch_runs::lease_until.eq(Some(now + lease))))
    .execute(conn)?;
    Ok(claimed == 1)
}

/// The oldest unfinished work of this kind free to take (unowned, or its lease ran out).
pub fn unfinished(conn: &mut DbConnection, work: BatchWork, now: NaiveDateTime) -> Result<Option<String>, Error> {
    Ok(batch_runs::table
        .filter(batch_runs::work.eq(work))
        .filter(batch_runs::done_at.is_null())
        .filter(batch_runs::lease_until.is_null().or(batch_runs::lease_until.lt(now)))
        .order(batch_runs::started_at.asc())
        .select(batch_runs::subject)
        .first(conn)
        .optional()?)
}

/// One batch, in the caller's transaction: renews `owner`'s lease (the transaction's first
/// statement, so the row is this batch's: PostgreSQL locks it, SQLite's write lock covers the
/// transaction, and a second owner waits and then finds itself not the owner), hands `body` the
/// cursor, and moves the cursor to where `body`'s page ended.
pub fn step<T>(
    conn: &mut DbConnection,
    work: BatchWork,
    subject: &str,
    owner: &str,
    (now, lease): (NaiveDateTime, Duration),
    body: impl FnOnce(&mut DbConnection, &str) -> Result<(T, Page), Error>,
    limit: usize,
) -> Result<Step<T>, Error> {
    let mine = batch_runs::table
        .find((work, subject))
        .filter(batch_runs::owner.eq(owner))
        .filter(batch_runs::done_at.is_null());
    if diesel::update(mine).set(batch_runs::lease_until.eq(Some(now + lease))).execute(conn)? == 0 {
        return Ok(Step::NotMine);
    }
    let after: Option<String> = batch_runs::table.find((work, subject)).select(batch_runs::cursor).first(conn)?;
    let (result, page) = body(conn, after.as_deref().unwrap_or_default())?;
    let cursor = page.last_read.or(after);
    let row = batch_runs::table.find((work, subject));
    if page.read < limit {
        diesel::update(row)
            .set((
                batch_runs::cursor.eq(cursor),
                batch_runs::done_at.eq(Some(now)),
                batch_runs::owner.eq(None::<String>),
                batch_runs::lease_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        Ok(Step::Done(result))
    } else {
        diesel::update(row).set(batch_runs::cursor.eq(cursor)).execute(conn)?;
        Ok(Step::More(result))
    }
}

/// Runs batched work from a process: claims it, then one transaction per batch.
#[derive(Clone)]
pub struct Runner {
    pub db: Db,
    pub clock: Clock,
    pub lease: Duration,
}

impl Runner {
    /// Does the work on `subject` to the end if this process can claim it; returns each batch's
    /// result (none when another process has it). `batch` does one batch as `owner` (with
    /// `step`).
    pub async fn run<T, F>(&self, work: BatchWork, subject: &str, batch: F) -> Result<Vec<T>, Error>
    where
        T: Send + 'static,
        F: Fn(&mut DbConnection, &str) -> Result<Step<T>, Error> + Clone + Send + 'static,
    {
        let owner = new_id();
        let (id, me, now, lease) = (subject.to_owned(), owner.clone(), self.clock.now(), self.lease);
        let mut results = Vec::new();
        if !self.db.write(move |conn| claim(conn, work, &id, &me, now, lease)).await? {
            return Ok(results);
        }
        loop {
            let (batch, owner) = (batch.clone(), owner.clone());
            match self.db.write(move |conn| batch(conn, &owner)).await? {
                Step::More(result) => results.push(result),
                Step::Done(result) => {
                    results.push(result);
                    return Ok(results);
                }
                Step::NotMine => return Ok(results),
            }
        }
    }

    /// Finishes the unfinished work of this kind that nobody is doing (its process stopped, or
    /// it was never taken), one subject at a time; `batch_of` makes a subject's batch.
    pub async fn resume<T, F>(&self, work: BatchWork, batch_of: impl Fn(String) -> F) -> Result<Vec<T>, Error>
    where
        T: Send + 'static,
        F: Fn(&mut DbConnection, &str) -> Result<Step<T>, Error> + Clone + Send + 'static,
    {
        let (mut results, mut seen) = (Vec::new(), std::collections::HashSet::new());
        loop {
            let now = self.clock.now();
            let Some(subject) = self.db.read(move |conn| unfinished(conn, work, now)).await? else {
                return Ok(results);
            };
            // One look at each: work another process took meanwhile is theirs to finish.
            if !seen.insert(subject.clone()) {
                return Ok(results);
            }
            results.extend(self.run(work, &subject, batch_of(subject.clone())).await?);
        }
    }
}
