//! 二要素認証: an optional time-based one-time code (TOTP, RFC 6238: SHA-1, 6 digits, 30 s, one
//! step of drift allowed) for a console account. The secret is sealed; each code is accepted once
//! (the last step used is kept). The time is the application's clock, passed in.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use rand::RngCore;
use totp_rs::{Builder, Secret, Totp};

use crate::crypto::KeyRing;
use crate::db::schema::staff_logins;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::error::Error;

/// A new secret, base32 as authenticator apps take it.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    Secret::from(bytes).to_base32()
}

/// The `otpauth://` URI an authenticator app reads (typed in, or as a QR code by another tool).
pub fn otpauth_uri(secret: &str, login: &str) -> String {
    format!("otpauth://totp/nonstop:{login}?secret={secret}&issuer=nonstop&algorithm=SHA1&digits=6&period=30")
}

fn totp(secret: &str) -> Result<Totp, Error> {
    let secret = Secret::try_from_base32(secret).map_err(|_| Error::field("secret", "is not a base32 secret"))?;
    Builder::new().with_secret(secret).with_skew(1).build().map_err(|e| Error::internal(format!("totp: {e:?}")))
}

/// The time step `code` matches at `now`, if it does.
fn step_of(secret: &str, code: &str, now: NaiveDateTime) -> Result<Option<i64>, Error> {
    let unix = u64::try_from(now.and_utc().timestamp()).unwrap_or(0);
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(totp(secret)?.check(&code, unix).map(|step| step as i64))
}

/// Turns the code on for the account, once a code from the new secret proves the app has it.
pub fn enable(
    conn: &mut DbConnection,
    keys: &KeyRing,
    staff_id: &str,
    secret: &str,
    code: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let Some(step) = step_of(secret, code, now)? else {
        return Err(Error::field("code", "does not match: check the app's time and try the next code"));
    };
    diesel::update(staff_logins::table.find(staff_id))
        .set((
            staff_logins::totp_secret.eq(Some(keys.seal(sealed::STAFF_LOGINS_TOTP_SECRET, secret)?)),
            staff_logins::totp_last_step.eq(Some(step)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Turns the code off (the member with their password, or the administrator for a member who
/// lost their app).
pub fn disable(conn: &mut DbConnection, staff_id: &str) -> Result<(), Error> {
    diesel::update(staff_logins::table.find(staff_id))
        .set((staff_logins::totp_secret.eq(None::<String>), staff_logins::totp_last_step.eq(None::<i64>)))
        .execute(conn)?;
    Ok(())
}

/// Whether the account asks for a code at sign-in.
pub fn enabled(conn: &mut DbConnection, staff_id: &str) -> Result<bool, Error> {
    let secret: Option<String> = staff_logins::table.find(staff_id).select(staff_logins::totp_secret).first(conn)?;
    Ok(secret.is_some())
}

/// At sign-in: true when the account has no code, or `code` is right and not used before (it is
/// then used up).
pub fn passes(
    conn: &mut DbConnection,
    keys: &KeyRing,
    staff_id: &str,
    code: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, Error> {
    let (secret, last_step): (Option<String>, Option<i64>) = staff_logins::table
        .find(staff_id)
        .select((staff_logins::totp_secret, staff_logins::totp_last_step))
        .first(conn)?;
    let Some(secret) = secret else { return Ok(true) };
    let secret = keys.open(sealed::STAFF_LOGINS_TOTP_SECRET, &secret)?;
    let Some(step) = code.map(|code| step_of(&secret, code, now)).transpose()?.flatten() else { return Ok(false) };
    if last_step.is_some_and(|last| step <= last) {
        return Ok(false);
    }
    diesel::update(staff_logins::table.find(staff_id))
        .set(staff_logins::totp_last_step.eq(Some(step)))
        .execute(conn)?;
    Ok(true)
}

/// The code an app shows at `now` (for the tests, which play the authenticator app).
pub fn code_at(secret: &str, now: NaiveDateTime) -> Result<String, Error> {
    let unix = u64::try_from(now.and_utc().timestamp()).unwrap_or(0);
    Ok(totp(secret)?.generate(unix).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vector_and_drift_of_one_step() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s → 94287082 (8 digits); its
        // last 6 digits are the 6-digit code.
        let secret = Secret::from(*b"12345678901234567890").to_base32();
        let at = |s: i64| chrono::DateTime::from_timestamp(s, 0).expect("time").naive_utc();
        assert_eq!(code_at(&secret, at(59)).expect("code"), "287082");
        assert_eq!(step_of(&secret, "287082", at(59)).expect("check"), Some(1));
        assert_eq!(step_of(&secret, "287 082", at(89)).expect("check"), Some(1), "one step late is fine");
        assert_eq!(step_of(&secret, "287082", at(150)).expect("check"), None, "three steps late is not");
        assert!(new_secret().len() >= 32);
        assert!(otpauth_uri(&secret, "sato").starts_with("otpauth://totp/nonstop:sato?secret="));
    }
}
