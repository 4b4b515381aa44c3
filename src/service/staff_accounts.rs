//! 職員アカウント: municipal staff who sign in to the console as people, with a login and a
//! password (argon2id), rather than with an API key. An account is a member of staff
//! (`staff_members`), so notices, approvals and the audit trail name the person the same way
//! whether they acted through the console or the API; revoking the member ends both.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::new_id;
use super::principals::Principal;
use crate::crypto::{new_secret, sha256_hex};
use crate::db::rows::StaffRow;
use crate::db::schema::{console_sessions, staff_logins, staff_members};
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::Error;

/// Failures in a row before the account locks.
pub const LOCK_AFTER_FAILURES: i32 = 5;
/// How long a locked account stays locked.
pub const LOCK_MINUTES: i64 = 15;
/// How long a console session lasts (an office day), whatever is done in it.
pub const SESSION_HOURS: i64 = 9;
/// The shortest password staff may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A new account: the one-time password is shown once, to be changed at the first sign-in.
pub struct NewAccount {
    pub staff_id: String,
    pub one_time_password: String,
}

/// Why a sign-in was refused. The page says the same for an unknown login and a wrong
/// password, so that logins cannot be guessed one by one.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown login or wrong password; `delay_ms` slows the next answer.
    Wrong { delay_ms: u64 },
    /// Too many failures: locked until then.
    Locked { until: NaiveDateTime },
}

/// A signed-in member of staff, as a console page needs them.
#[derive(Clone, Debug)]
pub struct ConsoleSession {
    pub principal: Principal,
    pub staff_id: String,
    pub staff_name: String,
    pub municipality: MunicipalityCode,
    pub csrf_token: String,
    pub must_change_password: bool,
}

/// Creates a member of staff who signs in with `login`.
pub fn create(
    conn: &mut DbConnection,
    municipality: &MunicipalityCode,
    name: &str,
    login: &str,
    admin: bool,
    now: NaiveDateTime,
) -> Result<NewAccount, Error> {
    let name = crate::domain::text::name(name).map_err(|e| Error::field("name", e))?;
    let login = check_login(login).map_err(|e| Error::field("login", e))?;
    let taken: i64 = staff_logins::table.filter(staff_logins::login.eq(&login)).count().get_result(conn)?;
    if taken > 0 {
        return Err(Error::Conflict { code: "login_taken", message: format!("the login '{login}' is taken") });
    }
    let row = StaffRow {
        id: new_id(),
        municipality_code: municipality.as_str().to_owned(),
        name,
        // A key never issued: the account has no API key.
        key_hash: sha256_hex(&new_secret("unissued_")),
        created_at: now,
        revoked_at: None,
        expires_at: None,
        is_admin: admin,
    };
    diesel::insert_into(staff_members::table).values(&row).execute(conn)?;
    let one_time_password = new_secret("").chars().take(16).collect::<String>();
    diesel::insert_into(staff_logins::table)
        .values((
            staff_logins::staff_id.eq(&row.id),
            staff_logins::login.eq(&login),
            staff_logins::password_hash.eq(hash(&one_time_password)?),
            staff_logins::must_change_password.eq(true),
            staff_logins::failed_attempts.eq(0),
            staff_logins::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(NewAccount { staff_id: row.id, one_time_password })
}

/// What a sign-in checks the password against.
pub struct Login {
    pub staff_id: String,
    pub password_hash: String,
    pub locked_until: Option<NaiveDateTime>,
}

/// The account of `login`, unless its member of staff is revoked.
pub fn find_login(conn: &mut DbConnection, login: &str) -> Result<Option<Login>, Error> {
    let found: Option<(String, String, Option<NaiveDateTime>)> = staff_logins::table
        .inner_join(staff_members::table)
        .filter(staff_logins::login.eq(login))
        .filter(staff_members::revoked_at.is_null())
        .select((staff_logins::staff_id, staff_logins::password_hash, staff_logins::locked_until))
        .first(conn)
        .optional()?;
    Ok(found.map(|(staff_id, password_hash, locked_until)| Login { staff_id, password_hash, locked_until }))
}

/// Whether `password` is the one `login` was given (`None`: no such account). Slow on purpose
/// (argon2id): call it outside any transaction. An unknown login costs the same work.
pub fn password_matches(login: Option<&Login>, password: &str) -> bool {
    match login {
        Some(login) => verify(password, &login.password_hash),
        None => {
            let _ = verify(password, DUMMY_HASH);
            false
        }
    }
}

/// Counts a failed sign-in; the fifth in a row locks the account.
pub fn record_failure(conn: &mut DbConnection, staff_id: &str, now: NaiveDateTime) -> Result<Refusal, Error> {
    let failures: i32 = diesel::update(staff_logins::table.find(staff_id))
        .set(staff_logins::failed_attempts.eq(staff_logins::failed_attempts + 1))
        .returning(staff_logins::failed_attempts)
        .get_result(conn)?;
    if failures < LOCK_AFTER_FAILURES {
        // Each failure in a row waits longer: 0.5 s, 1 s, 1.5 s, 2 s.
        return Ok(Refusal::Wrong { delay_ms: 500 * failures as u64 });
    }
    let until = now + Duration::minutes(LOCK_MINUTES);
    diesel::update(staff_logins::table.find(staff_id))
        .set((staff_logins::failed_attempts.eq(0), staff_logins::locked_until.eq(Some(until))))
        .execute(conn)?;
    Ok(Refusal::Locked { until })
}

/// Opens a session after a good password; returns its cookie token.
pub fn open_session(conn: &mut DbConnection, staff_id: &str, now: NaiveDateTime) -> Result<String, Error> {
    diesel::update(staff_logins::table.find(staff_id))
        .set((staff_logins::failed_attempts.eq(0), staff_logins::locked_until.eq(None::<NaiveDateTime>)))
        .execute(conn)?;
    let token = new_secret("nsc_");
    diesel::insert_into(console_sessions::table)
        .values((
            console_sessions::id.eq(sha256_hex(&token)),
            console_sessions::staff_id.eq(staff_id),
            console_sessions::csrf_token.eq(new_secret("")),
            console_sessions::created_at.eq(now),
            console_sessions::expires_at.eq(now + Duration::hours(SESSION_HOURS)),
        ))
        .execute(conn)?;
    Ok(token)
}

/// The session a cookie token opens, while it lasts and its member of staff is not revoked.
pub fn session(conn: &mut DbConnection, token: &str, now: NaiveDateTime) -> Result<Option<ConsoleSession>, Error> {
    let found: Option<(String, StaffRow, bool)> = console_sessions::table
        .inner_join(staff_members::table.inner_join(staff_logins::table))
        .filter(console_sessions::id.eq(sha256_hex(token)))
        .filter(console_sessions::expires_at.gt(now))
        .filter(staff_members::revoked_at.is_null())
        .select((console_sessions::csrf_token, StaffRow::as_select(), staff_logins::must_change_password))
        .first(conn)
        .optional()?;
    let Some((csrf_token, staff, must_change_password)) = found else { return Ok(None) };
    let municipality = MunicipalityCode::parse(&staff.municipality_code).map_err(Error::internal)?;
    Ok(Some(ConsoleSession {
        principal: Principal::Staff {
            staff_id: staff.id.clone(),
            municipality: municipality.clone(),
            admin: staff.is_admin,
        },
        staff_id: staff.id,
        staff_name: staff.name,
        municipality,
        csrf_token,
        must_change_password,
    }))
}

/// Ends the session of a cookie token.
pub fn sign_out(conn: &mut DbConnection, token: &str) -> Result<(), Error> {
    diesel::delete(console_sessions::table.find(sha256_hex(token))).execute(conn)?;
    Ok(())
}

/// The account's login name.
pub fn login_of(conn: &mut DbConnection, staff_id: &str) -> Result<String, Error> {
    Ok(staff_logins::table.find(staff_id).select(staff_logins::login).first(conn)?)
}

/// The stored hash of an account's password.
pub fn password_hash(conn: &mut DbConnection, staff_id: &str) -> Result<String, Error> {
    staff_logins::table
        .find(staff_id)
        .select(staff_logins::password_hash)
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("staff account"))
}

/// A new password, checked and hashed (slow: outside any transaction). `current_ok` says
/// whether the current password given was right.
pub fn new_password_hash(current: &str, current_ok: bool, new: &str) -> Result<String, Error> {
    if !current_ok {
        return Err(Error::field("current_password", "is not the current password"));
    }
    check_new_password(new, current).map_err(|e| Error::field("new_password", e))?;
    hash(new)
}

/// Stores the new password; the account's other sessions end.
pub fn set_password(conn: &mut DbConnection, staff_id: &str, token: &str, hash: &str) -> Result<(), Error> {
    diesel::update(staff_logins::table.find(staff_id))
        .set((staff_logins::password_hash.eq(hash), staff_logins::must_change_password.eq(false)))
        .execute(conn)?;
    diesel::delete(
        console_sessions::table
            .filter(console_sessions::staff_id.eq(staff_id))
            .filter(console_sessions::id.ne(sha256_hex(token))),
    )
    .execute(conn)?;
    Ok(())
}

/// Whether `password` is the account's current one (slow).
pub fn verify_current(password: &str, stored: &str) -> bool {
    verify(password, stored)
}

fn check_login(login: &str) -> Result<String, String> {
    let ok = (3..=64).contains(&login.len())
        && login.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
    if ok {
        Ok(login.to_owned())
    } else {
        Err("3 to 64 characters: lower-case letters, digits and . _ - @".into())
    }
}

fn check_new_password(new: &str, current: &str) -> Result<(), String> {
    if new.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if new == current {
        return Err("must differ from the current password".into());
    }
    Ok(())
}

fn hash(password: &str) -> Result<String, Error> {
    let hashed: PasswordHash =
        Argon2::default().hash_password(password.as_bytes()).map_err(|e| Error::internal(format!("argon2: {e}")))?;
    Ok(hashed.to_string())
}

fn verify(password: &str, stored: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), stored).is_ok()
}

/// An argon2id hash of a password nobody has, verified against when the login is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0bzZ0YbqGzE7G3l2nI6GG1e0fTYwA7l3P2t0m3sXz3Q";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery").expect("hash");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn logins_and_new_passwords_are_checked() {
        assert!(check_login("sato.hanako@city").is_ok());
        for bad in ["ab", "Sato", "sato hanako", "佐藤"] {
            assert!(check_login(bad).is_err(), "{bad}");
        }
        assert!(check_new_password("short", "x").is_err());
        assert!(check_new_password("the same long one", "the same long one").is_err());
        assert!(check_new_password("a long enough one", "x").is_ok());
    }
}
