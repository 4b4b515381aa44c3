//! The use-case context: what every use case needs besides its connection.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};

use crate::crypto::KeyRing;
use crate::domain::planner::PlanningContext;
use crate::templates::Templates;

/// What the use cases need besides their connection, built once per request or job: the key
/// ring, the rulebook (catalog, calendar, forms, shipped settings), the templates, and the
/// instant they act at (read once from the application's clock).
#[derive(Clone)]
pub struct UseCase {
    pub keys: Arc<KeyRing>,
    pub planning: Arc<PlanningContext>,
    pub templates: Arc<Templates>,
    pub today: NaiveDate,
    pub now: NaiveDateTime,
}

impl UseCase {
    /// The context of one request or unit of work, at `clock`'s present instant.
    pub fn at(
        keys: &Arc<KeyRing>,
        planning: &Arc<PlanningContext>,
        templates: &Arc<Templates>,
        clock: &crate::clock::Clock,
    ) -> Self {
        Self {
            keys: keys.clone(),
            planning: planning.clone(),
            templates: templates.clone(),
            today: clock.today(),
            now: clock.now(),
        }
    }
}
