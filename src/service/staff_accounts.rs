//! 職員アカウント: municipal staff who sign in to the console as people, with a login and a
//! password (argon2id), rather than with an API key. An account is a member of staff
//! (`staff_members`), so notices, approvals and the audit trail name the person the same way
//! whether they acted through the console or the API; revoking the member ends both.

use argon2::{Argon2, PasswordHash, PasswordHasher};
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

/// How long a console session lasts (an office day), whatever is done in it.
pub const SESSION_HOURS: i64 = 9;
/// The shortest password staff may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A new account: the one-time password is shown once, to be changed at the first sign-in.
pub struct NewAccount {
    pub staff_id: String,
    pub one_time_password: String,
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
            staff_logins::password_hash.eq(hash_password(&one_time_password)?),
            staff_logins::must_change_password.eq(true),
            staff_logins::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(NewAccount { staff_id: row.id, one_time_password })
}

/// What a sign-in checks the password against.
#[derive(Clone, Debug)]
pub struct Login {
    pub staff_id: String,
    pub password_hash: String,
    /// The municipality whose trail records the account's sign-ins.
    pub municipality_code: String,
}

/// The account of `login`, unless its member of staff is revoked.
pub fn find_login(conn: &mut DbConnection, login: &str) -> Result<Option<Login>, Error> {
    let found: Option<(String, String, String)> = staff_logins::table
        .inner_join(staff_members::table)
        .filter(staff_logins::login.eq(login))
        .filter(staff_members::revoked_at.is_null())
        .select((staff_logins::staff_id, staff_logins::password_hash, staff_members::municipality_code))
        .first(conn)
        .optional()?;
    Ok(found.map(|(staff_id, password_hash, municipality_code)| Login { staff_id, password_hash, municipality_code }))
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

/// Opens a session after a good password; returns its cookie token.
pub fn open_session(conn: &mut DbConnection, staff_id: &str, now: NaiveDateTime) -> Result<String, Error> {
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

/// A console account as the municipality's administrator sees it.
#[derive(Debug, serde::Serialize)]
pub struct AccountView {
    pub staff_id: String,
    pub name: String,
    pub login: String,
    pub two_step: bool,
    pub must_change_password: bool,
}

/// The municipality's console accounts (not revoked), by name.
pub fn accounts(conn: &mut DbConnection, municipality: &MunicipalityCode) -> Result<Vec<AccountView>, Error> {
    let rows: Vec<(String, String, String, Option<String>, bool)> = staff_logins::table
        .inner_join(staff_members::table)
        .filter(staff_members::municipality_code.eq(municipality.as_str()))
        .filter(staff_members::revoked_at.is_null())
        .order((staff_members::name.asc(), staff_logins::login.asc()))
        .select((
            staff_members::id,
            staff_members::name,
            staff_logins::login,
            staff_logins::totp_secret,
            staff_logins::must_change_password,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(staff_id, name, login, secret, must_change_password)| AccountView {
            staff_id,
            name,
            login,
            two_step: secret.is_some(),
            must_change_password,
        })
        .collect())
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
    hash_password(new)
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

fn check_login(login: &str) -> Result<String, String> {
    let ok = (3..=64).contains(&login.len())
        && login.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
    if ok {
        Ok(login.to_owned())
    } else {
        Err("3 to 64 characters: lower-case letters, digits and . _ - @".into())
    }
}

/// A new password's rules: long enough, and not the current one.
pub fn check_new_password(new: &str, current: &str) -> Result<(), String> {
    if new.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if new == current {
        return Err("must differ from the current password".into());
    }
    Ok(())
}

/// argon2id with its default parameters (19 MiB, two passes): slow on purpose, so callers run it
/// off the request threads and, in the console, in one of the guard's few turns.
pub fn hash_password(password: &str) -> Result<String, Error> {
    let hashed: PasswordHash =
        Argon2::default().hash_password(password.as_bytes()).map_err(|e| Error::internal(format!("argon2: {e}")))?;
    Ok(hashed.to_string())
}

fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).ok().and_then(|stored| verify_in_place(password, &stored)).unwrap_or(false)
}

thread_local! {
    /// argon2id's working memory (19 MiB), kept by the thread for its next check. Allocated and
    /// freed at each check, glibc keeps the freed 19 MiB in the thread's arena after the first
    /// (its mmap threshold rises to that size), so a crowd of sign-ins left the process hundreds
    /// of MiB larger for good; reused, a checking thread holds one buffer.
    static WORKING_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What `Argon2::verify_password` does, in this thread's working memory; `None` when the stored
/// hash is not one argon2 reads.
fn verify_in_place(password: &str, stored: &PasswordHash) -> Option<bool> {
    let params = argon2::Params::try_from(stored).ok()?;
    let algorithm = argon2::Algorithm::try_from(stored.algorithm.as_str()).ok()?;
    let version = argon2::Version::try_from(stored.version.unwrap_or(0x13)).ok()?;
    let (salt, expected) = (stored.salt.as_ref()?, stored.hash.as_ref()?);
    let mut computed = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    WORKING_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        memory.resize(params.block_count(), argon2::Block::default());
        argon.hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut computed, &mut memory[..]).ok()
    })?;
    // Output compares in constant time.
    Some(argon2::password_hash::phc::Output::try_from(computed.as_slice()).ok()? == *expected)
}

/// An argon2id hash of a password nobody has, verified against when the login is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0bzZ0YbqGzE7G3l2nI6GG1e0fTYwA7l3P2t0m3sXz3Q";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash_password("correct horse battery").expect("hash");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn the_check_in_reused_memory_agrees_with_the_crate_s_own() {
        use argon2::PasswordVerifier;
        let stored = hash_password("correct horse battery").expect("hash");
        for (password, right) in [("correct horse battery", true), ("correct horse batterY", false), ("", false)] {
            let crate_says = Argon2::default().verify_password(password.as_bytes(), stored.as_str()).is_ok();
            assert_eq!((verify(password, &stored), crate_says), (right, right), "{password:?}");
        }
        // A second check on the same thread reuses the memory and still tells right from wrong.
        assert!(verify("correct horse battery", &stored) && !verify("wrong", &stored));
    }

    #[test]
    fn an_unknown_login_is_checked_at_the_cost_of_a_real_one() {
        // The same algorithm and parameters: the answer to an unknown login takes as long.
        let real = hash_password("a long enough password").expect("hash");
        let (real, dummy) = (PasswordHash::new(&real).expect("real"), PasswordHash::new(DUMMY_HASH).expect("dummy"));
        assert_eq!(real.algorithm, dummy.algorithm);
        assert_eq!(real.version, dummy.version);
        assert_eq!(real.params.to_string(), dummy.params.to_string());
        assert_eq!(real.hash.map(|h| h.len()), dummy.hash.map(|h| h.len()));
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
