//! Who may touch which family. A vendor sees only its own families and a parent only the one
//! family of its session; anything else is "not found", so that ids of other vendors'
//! families cannot be probed. Municipal staff never read family records.

use diesel::prelude::*;

use super::principals::Principal;
use crate::db::rows::FamilyRow;
use crate::db::schema::families;
use crate::db::DbConnection;
use crate::error::Error;

const STAFF_REFUSED: Error = Error::Forbidden("municipal staff keys cannot read or change family records");

/// Loads the family if the caller may read and change it.
///
/// One query of one shape for every caller (the owner is checked after loading), so that its
/// prepared statement is cached: this runs on every family-scoped request.
pub fn family_for(conn: &mut DbConnection, principal: &Principal, family_id: &str) -> Result<FamilyRow, Error> {
    match principal {
        Principal::Staff { .. } => return Err(STAFF_REFUSED),
        Principal::Parent { family_id: own, .. } if own != family_id => return Err(Error::NotFound("family")),
        Principal::App { .. } | Principal::Parent { .. } => {}
    }
    let family = family_row(conn, family_id)?;
    match principal {
        Principal::App { app_id, .. } if *app_id != family.app_id => Err(Error::NotFound("family")),
        _ => Ok(family),
    }
}

/// A family by id, for jobs and tools that act for nonstop itself (no caller to check).
pub fn family_row(conn: &mut DbConnection, family_id: &str) -> Result<FamilyRow, Error> {
    families::table
        .find(family_id)
        .select(FamilyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("family"))
}

/// The vendor app behind a caller that may create families or mint sessions.
pub fn vendor_app(principal: &Principal) -> Result<&str, Error> {
    match principal {
        Principal::App { app_id, .. } => Ok(app_id),
        Principal::Parent { .. } => {
            Err(Error::Forbidden("this operation is for the vendor's backend, not a parent session"))
        }
        Principal::Staff { .. } => Err(STAFF_REFUSED),
    }
}
