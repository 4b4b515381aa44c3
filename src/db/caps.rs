//! Caps that hold under concurrency. A cap is checked by counting and then inserting; two
//! PostgreSQL transactions doing that at once would both see room. Each check therefore first
//! takes the owner's row lock (an UPDATE that changes nothing), held to the end of the
//! transaction: writers to one family, or one app, take turns. SQLite's writers take turns
//! already (`BEGIN IMMEDIATE`); the same statement is harmless there.

use diesel::prelude::*;

use super::schema::{apps, families};
use super::DbConnection;
use crate::error::Error;

/// Takes the family's row lock until the transaction ends.
pub fn lock_family(conn: &mut DbConnection, family_id: &str) -> Result<(), Error> {
    diesel::update(families::table.find(family_id)).set(families::id.eq(families::id)).execute(conn)?;
    Ok(())
}

/// Takes the app's row lock until the transaction ends.
pub fn lock_app(conn: &mut DbConnection, app_id: &str) -> Result<(), Error> {
    diesel::update(apps::table.find(app_id)).set(apps::id.eq(apps::id)).execute(conn)?;
    Ok(())
}

/// Refuses one more when `count` already reached `cap` (409 with `code`).
pub fn within(count: i64, cap: i64, code: &'static str, what: &str) -> Result<(), Error> {
    if count >= cap {
        return Err(Error::Conflict { code, message: format!("at most {cap} {what}: remove one first") });
    }
    Ok(())
}
