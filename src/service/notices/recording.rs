//! 送信の記録: a sent notice reaches its audience a batch of families at a time, each batch in a
//! transaction of its own (`service::batches`), so that a notice to a million families never
//! holds the database's write lock for more than one batch, and a process killed mid-send
//! leaves work another takes over.

use std::sync::Arc;

use chrono::Duration;
use diesel::prelude::*;

use super::audience::recipients_after;
use super::lifecycle::find_by_id;
use super::send::deliver_to_page;
use super::view;
use crate::clock::Clock;
use crate::db::rows::FamilyRow;
use crate::db::schema::notice_recipients;
use crate::db::{Db, DbConnection};
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::service::batches::{self, BatchWork, Page, Runner, Step};
use crate::service::municipalities;
use crate::templates::Templates;

/// Families read per batch: a handful of statements (`send::deliver_to_page`). On SQLite on the
/// 2-core benchmark machine a batch of 1,000 took 40–90 ms alone, and up to about 300 ms while
/// the delivery workers' transactions shared the one writer; 500 keeps each under 200 ms
/// (README, `nonstop-bench notice`).
pub const RECORDING_BATCH: i64 = 500;

/// What recording needs: the database, the words, the catalog (for the municipality's name),
/// the clock, and how long a lease lasts.
#[derive(Clone)]
pub struct Recorder {
    pub db: Db,
    pub templates: Arc<Templates>,
    pub planning: Arc<PlanningContext>,
    pub clock: Clock,
    pub lease: Duration,
}

/// Starts the recording of a notice just taken for sending (in that transaction, so a notice
/// is never sent without its recording).
pub(super) fn start(conn: &mut DbConnection, id: &str, now: chrono::NaiveDateTime) -> Result<(), Error> {
    batches::start(conn, BatchWork::NoticeRecording, id, now)
}

/// Takes the recording of notice `id` for `owner` (see `batches::claim`).
pub fn claim(conn: &mut DbConnection, id: &str, owner: &str, recorder: &Recorder) -> Result<bool, Error> {
    batches::claim(conn, BatchWork::NoticeRecording, id, owner, recorder.clock.now(), recorder.lease)
}

/// Records the next batch of notice `id`'s audience (at most `limit` families read), as
/// `owner`, in the caller's transaction; the result is the families recorded.
pub fn record_batch(
    conn: &mut DbConnection,
    recorder: &Recorder,
    id: &str,
    owner: &str,
    limit: i64,
) -> Result<Step<usize>, Error> {
    let (today, now) = (recorder.clock.today(), recorder.clock.now());
    let body = |conn: &mut DbConnection, after: &str| -> Result<(usize, Page), Error> {
        let row = find_by_id(conn, id)?;
        let name = municipalities::display_name(conn, &recorder.planning, &row.municipality_code)?;
        let notice = view(row)?;
        let page = recipients_after(conn, &notice.municipality_code, &notice.audience, today, after, limit)?;
        // A family that moved in meanwhile may have had this standing notice already.
        let ids: Vec<&str> = page.families.iter().map(|f| f.id.as_str()).collect();
        let had: std::collections::HashSet<String> = notice_recipients::table
            .filter(notice_recipients::notice_id.eq(id))
            .filter(notice_recipients::family_id.eq_any(&ids))
            .select(notice_recipients::family_id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        let new: Vec<&FamilyRow> = page.families.iter().filter(|f| !had.contains(&f.id)).collect();
        deliver_to_page(conn, &recorder.templates, &notice, &name, &new, now)?;
        Ok((new.len(), Page { read: page.read, last_read: page.last_read }))
    };
    batches::step(conn, BatchWork::NoticeRecording, id, owner, (now, recorder.lease), body, limit as usize)
}

impl Recorder {
    fn runner(&self) -> Runner {
        Runner { db: self.db.clone(), clock: self.clock.clone(), lease: self.lease }
    }

    fn batch_of(&self, id: String) -> impl Fn(&mut DbConnection, &str) -> Result<Step<usize>, Error> + Clone + Send {
        let recorder = self.clone();
        move |conn: &mut DbConnection, owner: &str| record_batch(conn, &recorder, &id, owner, RECORDING_BATCH)
    }

    /// Records notice `id` to the end if this process can take it, a batch per transaction.
    /// Returns the families recorded here (0 when another process has it).
    pub async fn record(&self, id: &str) -> Result<usize, Error> {
        let batches = self.runner().run(BatchWork::NoticeRecording, id, self.batch_of(id.to_owned())).await?;
        Ok(batches.into_iter().sum())
    }

    /// Finishes every recording left unfinished (its process stopped, or it was never taken).
    pub async fn resume(&self) -> Result<usize, Error> {
        let batches = self.runner().resume(BatchWork::NoticeRecording, |id| self.batch_of(id)).await?;
        Ok(batches.into_iter().sum())
    }
}
