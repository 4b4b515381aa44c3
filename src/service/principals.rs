//! Who is calling: vendor apps, municipal staff, and parent sessions, and their credentials.
//!
//! Every credential is a random secret shown once; only its SHA-256 is stored. The prefix
//! tells which table to look in and lets secret scanners recognize a leaked key.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::{new_id, utc};
use crate::crypto::{new_secret, sha256_hex};
use crate::db::rows::{AppKeyRow, AppRow, ParentSessionRow, StaffRow};
use crate::db::schema::{app_keys, apps, families, parent_sessions, staff_members};
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::Error;

const APP_KEY_PREFIX: &str = "nsk_app_";
const STAFF_KEY_PREFIX: &str = "nsk_staff_";
const SESSION_PREFIX: &str = "nsp_";

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A vendor app's backend: sees only its own families.
    App { app_id: String, key_id: String },
    /// 自治体職員: staff of one municipality; never sees family records directly. An
    /// administrator also lists and revokes the municipality's staff keys.
    Staff { staff_id: String, municipality: MunicipalityCode, admin: bool },
    /// A parent's app, through a session minted by its vendor: sees one family only.
    Parent { family_id: String, app_id: String },
}

/// A credential just created: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKey {
    /// The id of the key, for listing and revoking it.
    pub key_id: String,
    /// The secret to send as `Authorization: Bearer …`. It is not stored and cannot be shown again.
    pub api_key: String,
}

/// An API key of the calling app, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppKey {
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A parent session token, scoped to one family.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParentSession {
    /// The bearer token for the parent's app. Shown once.
    pub token: String,
    pub family_id: String,
    pub expires_at: DateTime<Utc>,
}

/// Creates a vendor app with its first API key (operator, via the CLI).
pub fn create_app(conn: &mut DbConnection, name: &str, now: NaiveDateTime) -> Result<(String, IssuedKey), Error> {
    let name = crate::domain::text::name(name).map_err(|e| Error::field("name", e))?;
    let app = AppRow { id: new_id(), name, created_at: now, revoked_at: None };
    diesel::insert_into(apps::table).values(&app).execute(conn)?;
    let key = create_app_key(conn, &app.id, now)?;
    Ok((app.id, key))
}

/// Active API keys one app may hold: enough to rotate, few enough to audit.
pub const MAX_ACTIVE_KEYS_PER_APP: i64 = 5;
/// Unexpired parent sessions one family may hold (each phone or browser of its guardians).
pub const MAX_ACTIVE_SESSIONS_PER_FAMILY: i64 = 20;

/// Adds an API key to an app, e.g. to rotate keys without downtime.
pub fn create_app_key(conn: &mut DbConnection, app_id: &str, now: NaiveDateTime) -> Result<IssuedKey, Error> {
    crate::db::caps::lock_app(conn, app_id)?;
    let active: i64 = app_keys::table
        .filter(app_keys::app_id.eq(app_id))
        .filter(app_keys::revoked_at.is_null())
        .count()
        .get_result(conn)?;
    crate::db::caps::within(active, MAX_ACTIVE_KEYS_PER_APP, "too_many_keys", "active API keys per app (revoke one)")?;
    let secret = new_secret(APP_KEY_PREFIX);
    let row = AppKeyRow {
        id: new_id(),
        app_id: app_id.to_owned(),
        key_hash: sha256_hex(&secret),
        created_at: now,
        revoked_at: None,
    };
    diesel::insert_into(app_keys::table).values(&row).execute(conn)?;
    Ok(IssuedKey { key_id: row.id, api_key: secret })
}

/// A page of an app's API keys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppKeyPage {
    pub items: Vec<AppKey>,
    /// Pass as `cursor` for the next (newer) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of an app's keys, oldest first: `limit` keys after `cursor`. Revoked keys stay
/// listed, so the list grows with every rotation.
pub fn page_app_keys(
    conn: &mut DbConnection,
    app_id: &str,
    limit: i64,
    cursor: Option<&str>,
) -> Result<AppKeyPage, Error> {
    let mut query = app_keys::table
        .filter(app_keys::app_id.eq(app_id))
        .order(app_keys::id.asc())
        .limit(limit + 1)
        .select(AppKeyRow::as_select())
        .into_boxed();
    if let Some(cursor) = cursor {
        query = query.filter(app_keys::id.gt(cursor.to_owned()));
    }
    let (rows, next_cursor) = super::paging::cut(query.load(conn)?, limit, |r: &AppKeyRow| r.id.as_str());
    let items = rows
        .into_iter()
        .map(|r| AppKey { key_id: r.id, created_at: utc(r.created_at), revoked_at: r.revoked_at.map(utc) })
        .collect();
    Ok(AppKeyPage { items, next_cursor })
}

/// Revokes one key of an app. Revoking the key in use is allowed: the caller is locked out.
pub fn revoke_app_key(conn: &mut DbConnection, app_id: &str, key_id: &str, now: NaiveDateTime) -> Result<(), Error> {
    let changed = diesel::update(app_keys::table.filter(app_keys::id.eq(key_id)).filter(app_keys::app_id.eq(app_id)))
        .set(app_keys::revoked_at.eq(Some(now)))
        .execute(conn)?;
    if changed == 0 {
        return Err(Error::NotFound("API key"));
    }
    Ok(())
}

/// Revokes an app and every key it has (operator). Its families stay stored.
pub fn revoke_app(conn: &mut DbConnection, app_id: &str, now: NaiveDateTime) -> Result<(), Error> {
    let changed = diesel::update(apps::table.find(app_id)).set(apps::revoked_at.eq(Some(now))).execute(conn)?;
    if changed == 0 {
        return Err(Error::NotFound("app"));
    }
    diesel::update(app_keys::table.filter(app_keys::app_id.eq(app_id)).filter(app_keys::revoked_at.is_null()))
        .set(app_keys::revoked_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}

/// A municipality's staff key as its administrator sees it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffKey {
    pub staff_id: String,
    /// The member of staff the key was made for.
    pub name: String,
    /// Whether the key may list and revoke the municipality's staff keys.
    pub admin: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a new staff key may do, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct StaffGrant {
    pub admin: bool,
    pub valid_for: Duration,
}

/// Creates a staff key scoped to one municipality (operator, via the CLI); returns its id and
/// secret. It expires after `grant.valid_for`.
pub fn create_staff(
    conn: &mut DbConnection,
    municipality: &MunicipalityCode,
    name: &str,
    grant: StaffGrant,
    now: NaiveDateTime,
) -> Result<(String, String), Error> {
    let name = crate::domain::text::name(name).map_err(|e| Error::field("name", e))?;
    let secret = new_secret(STAFF_KEY_PREFIX);
    let row = StaffRow {
        id: new_id(),
        municipality_code: municipality.as_str().to_owned(),
        name,
        key_hash: sha256_hex(&secret),
        created_at: now,
        revoked_at: None,
        expires_at: Some(now + grant.valid_for),
        is_admin: grant.admin,
    };
    diesel::insert_into(staff_members::table).values(&row).execute(conn)?;
    Ok((row.id, secret))
}

/// A page of a municipality's staff keys, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffKeyPage {
    pub items: Vec<StaffKey>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of the municipality's staff keys, newest first: `limit` keys older than `cursor`.
pub fn page_staff(
    conn: &mut DbConnection,
    municipality: &MunicipalityCode,
    limit: i64,
    cursor: Option<&str>,
) -> Result<StaffKeyPage, Error> {
    let mut query = staff_members::table
        .filter(staff_members::municipality_code.eq(municipality.as_str()))
        .order(staff_members::id.desc())
        .limit(limit + 1)
        .select(StaffRow::as_select())
        .into_boxed();
    if let Some(cursor) = cursor {
        query = query.filter(staff_members::id.lt(cursor.to_owned()));
    }
    let (rows, next_cursor) = super::paging::cut(query.load(conn)?, limit, |r: &StaffRow| r.id.as_str());
    let items = rows
        .into_iter()
        .map(|r| StaffKey {
            staff_id: r.id,
            name: r.name,
            admin: r.is_admin,
            created_at: utc(r.created_at),
            expires_at: r.expires_at.map(utc),
            revoked_at: r.revoked_at.map(utc),
        })
        .collect();
    Ok(StaffKeyPage { items, next_cursor })
}

/// Revokes a staff key; with `municipality`, only a key of that municipality (an administrator
/// revokes its own municipality's keys only). Returns the key's municipality.
pub fn revoke_staff(
    conn: &mut DbConnection,
    staff_id: &str,
    municipality: Option<&MunicipalityCode>,
    now: NaiveDateTime,
) -> Result<String, Error> {
    let mut query = staff_members::table.filter(staff_members::id.eq(staff_id)).into_boxed();
    if let Some(code) = municipality {
        query = query.filter(staff_members::municipality_code.eq(code.as_str()));
    }
    let code: String =
        query.select(staff_members::municipality_code).first(conn).optional()?.ok_or(Error::NotFound("staff key"))?;
    diesel::update(staff_members::table.find(staff_id).filter(staff_members::revoked_at.is_null()))
        .set(staff_members::revoked_at.eq(Some(now)))
        .execute(conn)?;
    Ok(code)
}

/// Deletes what can no longer be used: expired parent sessions, and staff keys expired or
/// revoked more than `keep_revoked` ago (the audit trail keeps their ids). Returns how many of each.
pub fn purge_expired(
    conn: &mut DbConnection,
    keep_revoked: Duration,
    now: NaiveDateTime,
) -> Result<(usize, usize), Error> {
    let sessions = diesel::delete(parent_sessions::table.filter(parent_sessions::expires_at.le(now))).execute(conn)?;
    let cutoff = now - keep_revoked;
    let staff = diesel::delete(
        staff_members::table.filter(staff_members::expires_at.le(cutoff).or(staff_members::revoked_at.le(cutoff))),
    )
    .execute(conn)?;
    Ok((sessions, staff))
}

/// Mints a parent session for a family the app owns (the caller checked ownership).
pub fn create_session(
    conn: &mut DbConnection,
    family_id: &str,
    app_key_id: &str,
    ttl: Duration,
    now: NaiveDateTime,
) -> Result<ParentSession, Error> {
    crate::db::caps::lock_family(conn, family_id)?;
    let active: i64 = parent_sessions::table
        .filter(parent_sessions::family_id.eq(family_id))
        .filter(parent_sessions::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    crate::db::caps::within(
        active,
        MAX_ACTIVE_SESSIONS_PER_FAMILY,
        "too_many_sessions",
        "unexpired sessions per family",
    )?;
    let token = new_secret(SESSION_PREFIX);
    let row = ParentSessionRow {
        id: new_id(),
        family_id: family_id.to_owned(),
        token_hash: sha256_hex(&token),
        created_at: now,
        expires_at: now + ttl,
        app_key_id: Some(app_key_id.to_owned()),
    };
    diesel::insert_into(parent_sessions::table).values(&row).execute(conn)?;
    Ok(ParentSession { token, family_id: row.family_id, expires_at: utc(row.expires_at) })
}

/// Ends the parent session whose token this is (logging out).
pub fn end_session(conn: &mut DbConnection, token: &str) -> Result<(), Error> {
    diesel::delete(parent_sessions::table.filter(parent_sessions::token_hash.eq(sha256_hex(token)))).execute(conn)?;
    Ok(())
}

/// Ends every session of the family (a lost phone, a guardian who left); returns how many.
pub fn end_family_sessions(conn: &mut DbConnection, family_id: &str) -> Result<usize, Error> {
    Ok(diesel::delete(parent_sessions::table.filter(parent_sessions::family_id.eq(family_id))).execute(conn)?)
}

/// Resolves a bearer credential to its principal; unknown, revoked and expired credentials
/// are all refused alike.
pub fn authenticate(conn: &mut DbConnection, bearer: &str, now: NaiveDateTime) -> Result<Principal, Error> {
    const REFUSED: Error = Error::Unauthorized("the credential is unknown, revoked or expired");
    let hash = sha256_hex(bearer);
    if bearer.starts_with(APP_KEY_PREFIX) {
        let found: Option<(String, String)> = app_keys::table
            .inner_join(apps::table)
            .filter(app_keys::key_hash.eq(&hash))
            .filter(app_keys::revoked_at.is_null())
            .filter(apps::revoked_at.is_null())
            .select((app_keys::id, apps::id))
            .first(conn)
            .optional()?;
        return found.map(|(key_id, app_id)| Principal::App { app_id, key_id }).ok_or(REFUSED);
    }
    if bearer.starts_with(STAFF_KEY_PREFIX) {
        let found: Option<(String, String, bool)> = staff_members::table
            .filter(staff_members::key_hash.eq(&hash))
            .filter(staff_members::revoked_at.is_null())
            .filter(staff_members::expires_at.is_null().or(staff_members::expires_at.gt(now)))
            .select((staff_members::id, staff_members::municipality_code, staff_members::is_admin))
            .first(conn)
            .optional()?;
        let (staff_id, code, admin) = found.ok_or(REFUSED)?;
        let municipality = MunicipalityCode::parse(&code).map_err(Error::internal)?;
        return Ok(Principal::Staff { staff_id, municipality, admin });
    }
    if bearer.starts_with(SESSION_PREFIX) {
        // A session ends with the key that minted it.
        let found: Option<(String, String)> = parent_sessions::table
            .inner_join(families::table.inner_join(apps::table))
            .left_join(app_keys::table.on(app_keys::id.nullable().eq(parent_sessions::app_key_id)))
            .filter(parent_sessions::token_hash.eq(&hash))
            .filter(parent_sessions::expires_at.gt(now))
            .filter(apps::revoked_at.is_null())
            .filter(app_keys::revoked_at.nullable().is_null())
            .select((parent_sessions::family_id, families::app_id))
            .first(conn)
            .optional()?;
        return found.map(|(family_id, app_id)| Principal::Parent { family_id, app_id }).ok_or(REFUSED);
    }
    Err(REFUSED)
}
