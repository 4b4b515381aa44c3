//! Sealing what older versions kept in the clear: a child's birth weight (要配慮個人情報), a
//! guardian's date of birth and a family's postal code moved to sealed columns (migration
//! `2026-12-06-000022_sealed_facts`). A migration cannot seal (it has no key), so the service
//! does it at start, once the keys are known to open the database's sealed data: each value is
//! sealed into its new column and the old column emptied, a page per transaction. A start that
//! finds nothing left does nothing. The old columns are dropped by a later migration.

use diesel::prelude::*;

use super::{sealed, write_transaction, DbConnection};
use crate::crypto::KeyRing;
use crate::error::Error;

/// The old clear columns beside their sealed successors (not in `schema.rs`: nothing else may
/// read them).
mod clear {
    diesel::table! {
        children (id) {
            id -> Text,
            birth_weight_grams -> Nullable<Integer>,
            birth_weight_sealed -> Nullable<Text>,
        }
    }
    diesel::table! {
        guardians (id) {
            id -> Text,
            birth_date -> Nullable<Date>,
            birth_date_sealed -> Nullable<Text>,
        }
    }
    diesel::table! {
        families (id) {
            id -> Text,
            postal_code -> Nullable<Text>,
            postal_code_sealed -> Nullable<Text>,
        }
    }
}

/// Values sealed per transaction.
const PAGE: i64 = 500;

/// Seals every value still in an old clear column; returns how many.
pub fn seal_clear_values(conn: &mut DbConnection, keys: &KeyRing) -> Result<usize, Error> {
    // On SQLite, the space an emptied value held is zeroed, not left in the page's free space.
    sqlite_pragma(conn, "PRAGMA secure_delete = ON")?;
    let sealed_count = seal_pages(conn, keys);
    sqlite_pragma(conn, "PRAGMA secure_delete = OFF")?;
    let sealed_count = sealed_count?;
    if sealed_count > 0 {
        // The write-ahead log still holds the pages as they were: copied into the database and
        // truncated, it holds nothing. (PostgreSQL keeps old row versions until VACUUM:
        // docs/OPERATIONS.md.)
        sqlite_pragma(conn, "PRAGMA wal_checkpoint(TRUNCATE)")?;
        tracing::info!(values = sealed_count, "values kept in the clear by an older version are now sealed");
    }
    Ok(sealed_count)
}

fn sqlite_pragma(conn: &mut DbConnection, pragma: &str) -> Result<(), Error> {
    if let DbConnection::Sqlite(c) = conn {
        diesel::connection::SimpleConnection::batch_execute(c, pragma)?;
    }
    Ok(())
}

fn seal_pages(conn: &mut DbConnection, keys: &KeyRing) -> Result<usize, Error> {
    let mut sealed_count = 0;
    loop {
        let done = write_transaction(conn, |conn| {
            use clear::children::dsl::*;
            let page: Vec<(String, i32)> = children
                .filter(birth_weight_grams.is_not_null())
                .select((id, birth_weight_grams.assume_not_null()))
                .limit(PAGE)
                .load(conn)?;
            for (child, grams) in &page {
                diesel::update(children.find(child))
                    .set((
                        birth_weight_sealed.eq(keys.seal_value(sealed::CHILDREN_BIRTH_WEIGHT, Some(grams))?),
                        birth_weight_grams.eq(None::<i32>),
                    ))
                    .execute(conn)?;
            }
            Ok(page.len())
        })?;
        sealed_count += done;
        if done == 0 {
            break;
        }
    }
    loop {
        let done = write_transaction(conn, |conn| {
            use clear::guardians::dsl::*;
            let page: Vec<(String, chrono::NaiveDate)> = guardians
                .filter(birth_date.is_not_null())
                .select((id, birth_date.assume_not_null()))
                .limit(PAGE)
                .load(conn)?;
            for (guardian, born) in &page {
                diesel::update(guardians.find(guardian))
                    .set((
                        birth_date_sealed.eq(keys.seal_value(sealed::GUARDIANS_BIRTH_DATE, Some(born))?),
                        birth_date.eq(None::<chrono::NaiveDate>),
                    ))
                    .execute(conn)?;
            }
            Ok(page.len())
        })?;
        sealed_count += done;
        if done == 0 {
            break;
        }
    }
    loop {
        let done = write_transaction(conn, |conn| {
            use clear::families::dsl::*;
            let page: Vec<(String, String)> = families
                .filter(postal_code.is_not_null())
                .select((id, postal_code.assume_not_null()))
                .limit(PAGE)
                .load(conn)?;
            for (family, code) in &page {
                diesel::update(families.find(family))
                    .set((
                        postal_code_sealed.eq(keys.seal_value(sealed::FAMILIES_POSTAL_CODE, Some(code))?),
                        postal_code.eq(None::<String>),
                    ))
                    .execute(conn)?;
            }
            Ok(page.len())
        })?;
        sealed_count += done;
        if done == 0 {
            break;
        }
    }
    Ok(sealed_count)
}

/// Writes values into the old clear columns, as an older version did (for the tests of the
/// upgrade).
pub fn write_as_older_version(
    conn: &mut DbConnection,
    child_weight: Option<(&str, i32)>,
    guardian_birth: Option<(&str, chrono::NaiveDate)>,
    family_postal: Option<(&str, &str)>,
) -> Result<(), Error> {
    if let Some((child, grams)) = child_weight {
        use clear::children::dsl::*;
        diesel::update(children.find(child))
            .set((birth_weight_grams.eq(Some(grams)), birth_weight_sealed.eq(None::<String>)))
            .execute(conn)?;
    }
    if let Some((guardian, born)) = guardian_birth {
        use clear::guardians::dsl::*;
        diesel::update(guardians.find(guardian))
            .set((birth_date.eq(Some(born)), birth_date_sealed.eq(None::<String>)))
            .execute(conn)?;
    }
    if let Some((family, code)) = family_postal {
        use clear::families::dsl::*;
        diesel::update(families.find(family))
            .set((postal_code.eq(Some(code)), postal_code_sealed.eq(None::<String>)))
            .execute(conn)?;
    }
    Ok(())
}
