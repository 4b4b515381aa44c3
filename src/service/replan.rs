//! 再計画: after a municipality's settings change, every resident family is re-planned under
//! them (its tasks, drafts and standing notices), a batch of families per transaction
//! (`service::batches`): the settings are saved at once, and a municipality of 100,000 families
//! never holds the write lock for more than one batch. Changed again meanwhile, the work starts
//! again from the first family under the newest settings.

use std::sync::Arc;

use chrono::Duration;

use super::batches::{self, BatchWork, Page, Runner, Step};
use super::family_changed::family_changed_under;
use super::planning::{self, PlanDiff};
use super::{municipalities, UseCase};
use crate::clock::Clock;
use crate::crypto::KeyRing;
use crate::db::{Db, DbConnection};
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::templates::Templates;

/// Families re-planned per batch: each is planned, its drafts synced and its standing notices
/// delivered, about a millisecond each on SQLite on a 2-core machine: 100 keep a batch near
/// 100 ms.
pub const REPLAN_BATCH: i64 = 100;

/// What re-planning needs.
#[derive(Clone)]
pub struct Replanner {
    pub db: Db,
    pub keys: Arc<KeyRing>,
    pub planning: Arc<PlanningContext>,
    pub templates: Arc<Templates>,
    pub clock: Clock,
    pub lease: Duration,
}

/// Starts re-planning the municipality's residents (in the transaction that saved its settings).
pub fn start(conn: &mut DbConnection, code: &str, now: chrono::NaiveDateTime) -> Result<(), Error> {
    batches::start(conn, BatchWork::Replan, code, now)
}

/// Re-plans the next batch of the municipality's residents (at most `limit`), as `owner`, in
/// the caller's transaction; the result is the families re-planned and what changed.
pub fn replan_batch(
    conn: &mut DbConnection,
    replanner: &Replanner,
    code: &str,
    owner: &str,
    limit: i64,
) -> Result<Step<(usize, PlanDiff)>, Error> {
    let uc = UseCase::at(&replanner.keys, &replanner.planning, &replanner.templates, &replanner.clock);
    let body = |conn: &mut DbConnection, after: &str| -> Result<((usize, PlanDiff), Page), Error> {
        let residents = batches::residents_after(conn, code, after, limit)?;
        // The settings in force now: a later change restarts the work, never mixes with it.
        let settings = planning::resolved_settings(conn, &uc.planning, code)?;
        let name = municipalities::display_name(conn, &uc.planning, code)?;
        let mut changes = PlanDiff::default();
        for family in &residents {
            changes += family_changed_under(conn, &uc, family, &settings, &name)?;
        }
        let page = Page { read: residents.len(), last_read: residents.last().map(|f| f.id.clone()) };
        Ok(((residents.len(), changes), page))
    };
    batches::step(conn, BatchWork::Replan, code, owner, (uc.now, replanner.lease), body, limit as usize)
}

impl Replanner {
    fn runner(&self) -> Runner {
        Runner { db: self.db.clone(), clock: self.clock.clone(), lease: self.lease }
    }

    fn batch_of(
        &self,
        code: String,
    ) -> impl Fn(&mut DbConnection, &str) -> Result<Step<(usize, PlanDiff)>, Error> + Clone + Send {
        let replanner = self.clone();
        move |conn: &mut DbConnection, owner: &str| replan_batch(conn, &replanner, &code, owner, REPLAN_BATCH)
    }

    /// Re-plans the municipality's residents to the end if this process can take the work;
    /// returns the families re-planned here and what changed.
    pub async fn replan(&self, code: &str) -> Result<(usize, PlanDiff), Error> {
        let batches = self.runner().run(BatchWork::Replan, code, self.batch_of(code.to_owned())).await?;
        Ok(total(batches))
    }

    /// Finishes every re-planning left unfinished (its process stopped, or it was never taken).
    pub async fn resume(&self) -> Result<(usize, PlanDiff), Error> {
        Ok(total(self.runner().resume(BatchWork::Replan, |code| self.batch_of(code)).await?))
    }
}

fn total(batches: Vec<(usize, PlanDiff)>) -> (usize, PlanDiff) {
    batches.into_iter().fold((0, PlanDiff::default()), |(n, mut all), (m, diff)| {
        all += diff;
        (n + m, all)
    })
}
