//! Every code the API answers in `ErrorBody.error`, as data: the status it comes with, what it
//! means, and the operations that can answer it. The OpenAPI document is made from this list
//! (the `ErrorCode` enum, and each operation's `x-error-codes`), and the service may answer
//! no code missing from it (a test reads the sources; debug builds check every answer).

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// One code the API answers.
pub struct ErrorCode {
    pub code: &'static str,
    pub status: u16,
    pub meaning: &'static str,
    pub scope: Scope,
}

/// The operations that can answer a code.
pub enum Scope {
    Every,
    /// Every POST (they take `Idempotency-Key`).
    Posts,
    /// These operations, by id.
    Only(&'static [&'static str]),
}

const fn any(code: &'static str, status: u16, meaning: &'static str) -> ErrorCode {
    ErrorCode { code, status, meaning, scope: Scope::Every }
}

const fn at(code: &'static str, status: u16, operations: &'static [&'static str], meaning: &'static str) -> ErrorCode {
    ErrorCode { code, status, meaning, scope: Scope::Only(operations) }
}

/// Where a signature or a signing certificate is checked (`jpki::Refusal`).
const SIGNING: &[&str] = &["sign_draft", "sign_bundle", "register_signing_certificate"];
/// Where a signature over a confirmed document is checked.
const SIGNATURE: &[&str] = &["sign_draft", "sign_bundle"];
/// Where a child's birth weight (要配慮個人情報) may be given.
const BIRTH_WEIGHT: &[&str] =
    &["create_family", "create_child", "update_child", "record_life_event", "update_draft", "update_bundle"];

/// The PATCH operations that take `If-Match` (their resource has a GET whose `ETag` it names).
pub const IF_MATCH: &[&str] = &["update_family", "update_draft", "update_bundle"];

/// Every code, generic ones first.
pub const ALL: &[ErrorCode] = &[
    any("invalid_body", 400, "the body or query is not what the document describes; `fields` names every culprit"),
    any("unauthorized", 401, "no credential, or one that is unknown, revoked or expired"),
    any("forbidden", 403, "the caller's role may not do this"),
    any("not_found", 404, "not there, or not the caller's to see"),
    any("method_not_allowed", 405, "the path does not take this method (`Allow` lists those it does)"),
    any("unsupported_media_type", 415, "the body is not JSON, or is compressed"),
    any("validation_failed", 422, "a value breaks a rule the document cannot state; `fields` names every one"),
    any("rate_limited", 429, "too many requests with this credential; retry after `Retry-After` seconds"),
    any("internal_error", 500, "a fault of nonstop's, logged under the answer's `X-Request-Id`"),
    any(
        "unavailable",
        503,
        "nonstop could not take the request in time (every database connection busy); nothing was done: \
         retry after `Retry-After` seconds",
    ),
    // Retries (`Idempotency-Key`).
    ErrorCode {
        code: "idempotency_key_in_use",
        status: 409,
        meaning: "the first request with this `Idempotency-Key` is still running: retry shortly",
        scope: Scope::Posts,
    },
    ErrorCode {
        code: "idempotency_key_reused",
        status: 422,
        meaning: "this `Idempotency-Key` was first used for another request (method, path or body)",
        scope: Scope::Posts,
    },
    at("precondition_failed", 412, IF_MATCH, "the resource changed since the ETag given in `If-Match`"),
    // Caps (409).
    at("too_many_guardians", 409, &["create_guardian"], "the family already has 4 guardians"),
    at("too_many_children", 409, &["create_child", "record_life_event"], "the family already has 20 children"),
    at("too_many_devices", 409, &["register_device"], "the family already has 20 active devices"),
    at("too_many_events", 409, &["record_life_event"], "the family's life events reached their cap"),
    at("too_many_keys", 409, &["create_app_key"], "the app already has 5 active keys"),
    at("too_many_sessions", 409, &["create_session"], "the family already has 20 active sessions"),
    // Family records (409).
    at(
        "child_not_expected",
        409,
        &["record_life_event"],
        "a pregnancy can end only for an expected child (a born child's death is `child_died`)",
    ),
    at("child_already_born", 409, &["record_life_event"], "the event contradicts a birth already recorded"),
    at(
        "child_not_born",
        409,
        &["record_vaccination", "record_life_event"],
        "a vaccination, or a child's death, is recorded for a born child only",
    ),
    at("dose_already_recorded", 409, &["record_vaccination"], "that dose is recorded: delete it to correct it"),
    at(
        "health_information_consent_required",
        409,
        BIRTH_WEIGHT,
        "a birth weight needs the parent's `health_information` consent",
    ),
    at("task_cancelled", 409, &["update_task"], "the task no longer applies"),
    // Drafts, bundles and signatures (409).
    at("draft_not_open", 409, &["update_draft", "confirm_draft"], "the draft is confirmed, signed or closed"),
    at("draft_not_confirmed", 409, &["reopen_draft", "sign_draft"], "the draft is not confirmed"),
    at("reopen_the_bundle", 409, &["reopen_draft"], "the draft is part of a confirmed bundle: reopen the bundle"),
    at("sign_the_bundle", 409, &["sign_draft"], "the draft is part of a bundle: sign the bundle"),
    at("bundle_not_open", 409, &["update_bundle", "confirm_bundle"], "the bundle is confirmed or signed"),
    at("bundle_empty", 409, &["confirm_bundle"], "no open form is left in the bundle"),
    at("bundle_not_confirmed", 409, &["reopen_bundle", "sign_bundle"], "the bundle is not confirmed"),
    at("already_signed", 409, SIGNATURE, "it was signed meanwhile"),
    // Notices (409).
    at("notice_not_editable", 409, &["update_notice"], "the notice is sent or cancelled"),
    at("notice_not_draft", 409, &["approve_notice"], "only a draft is approved"),
    at(
        "approval_stale",
        409,
        &["approve_notice"],
        "the contents changed after they were read; `fields` names each part that changed",
    ),
    at("approval_by_author", 409, &["approve_notice"], "an editor of the notice may not approve it"),
    at("notice_changed", 409, &["approve_notice"], "the notice changed while it was being approved"),
    at("notice_not_approved", 409, &["send_notice", "schedule_notice"], "the notice is not approved"),
    at("approval_outdated", 409, &["send_notice", "schedule_notice"], "the notice changed after its approval"),
    at("notice_too_long", 409, &["send_notice"], "a language's push would exceed the providers' size limit"),
    at("notice_not_cancellable", 409, &["cancel_notice"], "the notice is sent or cancelled"),
    at("no_questionnaire", 409, &["update_notice_reply"], "the notice asks nothing"),
    at("reply_deadline_passed", 409, &["update_notice_reply"], "the reply deadline has passed"),
    at("template_refused", 409, &["preview_template"], "the template does not render with these values"),
    // Submissions (409).
    at("invalid_transition", 409, &["update_submission_status"], "the status cannot move there from where it is"),
    at("status_changed", 409, &["update_submission_status"], "the status changed since it was read"),
    at("family_deleted", 409, &["update_submission_status"], "the family was deleted; the submission is read-only"),
    // Console only (no API operation answers it).
    at("login_taken", 409, &[], "the console login is taken (municipal console)"),
    // Signatures and signing certificates (422, `jpki::Refusal`).
    at("malformed_certificate", 422, SIGNING, "the certificate cannot be read"),
    at("malformed_signature", 422, SIGNATURE, "the signature cannot be read"),
    at("weak_algorithm", 422, SIGNING, "not RSA-2048 or larger with SHA-256"),
    at("untrusted_issuer", 422, SIGNING, "not issued by a trusted J-LIS signing root"),
    at("client_supplied_root", 422, SIGNING, "chains only to a certificate sent with the request"),
    at("certificate_expired", 422, SIGNING, "the certificate has expired"),
    at("certificate_not_yet_valid", 422, SIGNING, "the certificate is not valid yet"),
    at("key_usage", 422, SIGNING, "the certificate is not for signing (nonRepudiation, 署名用)"),
    at("certificate_policy", 422, SIGNING, "the certificate policy is not accepted"),
    at("unknown_critical_extension", 422, SIGNING, "the certificate has an unknown critical extension"),
    at("bad_signature", 422, SIGNATURE, "the signature does not verify with the certificate's key"),
    at("document_changed", 422, SIGNATURE, "the signature is over another document than the one confirmed"),
    at("wrong_signer", 422, SIGNATURE, "the card's holder is not a guardian of this family"),
    at("not_the_applicant", 422, SIGNATURE, "the card's holder is not the applicant the form names"),
    at("not_the_guardians_card", 422, &["register_signing_certificate"], "the card's 生年月日 is not the guardian's"),
    at(
        "guardian_birth_date_missing",
        422,
        &["register_signing_certificate"],
        "the guardian's birth date is needed to match the card",
    ),
];

/// Whether `code` is one of [`ALL`].
pub fn is_listed(code: &str) -> bool {
    ALL.iter().any(|c| c.code == code)
}

/// The codes the operation `operation_id` (a POST or not) can answer with `status`.
pub fn of_operation(operation_id: &str, post: bool, status: u16) -> Vec<&'static str> {
    ALL.iter()
        .filter(|c| c.status == status)
        .filter(|c| match c.scope {
            Scope::Every => true,
            Scope::Posts => post,
            Scope::Only(ops) => ops.contains(&operation_id),
        })
        .map(|c| c.code)
        .collect()
}

/// The `ErrorCode` schema: every code, as an enum, each explained in the description.
pub struct ErrorCodeSchema;

impl utoipa::PartialSchema for ErrorCodeSchema {
    fn schema() -> RefOr<Schema> {
        let meanings: Vec<String> =
            ALL.iter().map(|c| format!("- `{}` ({}): {}", c.code, c.status, c.meaning)).collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ALL.iter().map(|c| c.code)))
            .description(Some(format!(
                "Every code nonstop answers; each operation lists those it can answer in `x-error-codes` \
                 of each error response.\n\n{}",
                meanings.join("\n")
            )))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCodeSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code written in the sources (`code: "…"` in an error, a cap's code, a signature
    /// refusal's) is listed: a new code cannot reach vendors undocumented.
    #[test]
    fn every_code_in_the_sources_is_listed() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("src reads") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("source reads");
                    let literals = text.split("code: \"").skip(1).map(|p| ("", p));
                    let caps = text.split("\"too_many_").skip(1).map(|p| ("too_many_", p));
                    for (prefix, piece) in literals.chain(caps) {
                        let rest: String = piece.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                        found.push(format!("{prefix}{rest}"));
                    }
                    // `jpki::Refusal::code`: each arm's code.
                    if path.ends_with("jpki/mod.rs") {
                        let arms = text.split("pub fn code(&self)").nth(1).expect("Refusal::code");
                        let arms = arms.split("pub fn message").next().expect("its end");
                        found.extend(arms.split("=> \"").skip(1).map(|p| p.split('"').next().unwrap_or("").to_owned()));
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        let missing: Vec<&String> =
            found.iter().filter(|c| !c.is_empty() && c.as_str() != "too_many_" && !is_listed(c)).collect();
        assert!(found.len() > 40, "the scan found the codes: {found:?}");
        assert!(missing.is_empty(), "answered but not listed in error_codes::ALL: {missing:?}");
    }

    #[test]
    fn each_code_is_listed_once_with_an_error_status() {
        for (i, c) in ALL.iter().enumerate() {
            assert!(ALL[..i].iter().all(|earlier| earlier.code != c.code), "{} twice", c.code);
            assert!((400..600).contains(&c.status), "{}", c.code);
        }
    }
}
