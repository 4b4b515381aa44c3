//! One error envelope for every failure the API reports:
//! `{"error": "snake_case_code", "message": "…", "fields": {"field": "problem"}}`.
//!
//! Bad input is always a 4xx naming the field. Internal causes are logged (without personal
//! data) and never sent to the client.

use std::collections::BTreeMap;
use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// The problems found in a request, by field path (`children[0].birth_date`).
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug)]
pub enum Error {
    /// The body is not the JSON the operation takes (syntax, type, unknown or missing field).
    InvalidBody { message: String, fields: FieldErrors },
    /// The body parsed but a value breaks a rule (a check digit, a date in the future, …).
    Validation(FieldErrors),
    /// No credentials, or credentials that are unknown, revoked or expired.
    Unauthorized(&'static str),
    /// The caller is known but its role may not do this.
    Forbidden(&'static str),
    /// The body is not in a form the API reads (not JSON, or compressed).
    UnsupportedMediaType(&'static str),
    /// Not there, or not the caller's to see: the two are indistinguishable on purpose.
    NotFound(&'static str),
    /// The request conflicts with what is stored.
    Conflict { code: &'static str, message: String },
    /// The request was made on a version of a record that has changed since; `fields` names
    /// each part that changed.
    Changed { code: &'static str, message: String, fields: FieldErrors },
    /// `If-Match` named a version of the resource that is no longer the stored one.
    PreconditionFailed(&'static str),
    /// The request is well formed but refused for a reason with its own code (a signature
    /// that does not verify, a certificate that is not trusted, …).
    Refused { code: &'static str, message: String },
    /// A path of the API, with a method it does not take; `allow` lists those it does.
    MethodNotAllowed { allow: String },
    /// The caller's key made more requests than its rate allows; it may retry after the delay.
    RateLimited { retry_after_seconds: u64 },
    /// nonstop could not take the request in time (no database connection came free while it
    /// waited): nothing was done, and the same request may be sent again after the delay.
    Unavailable { retry_after_seconds: u64 },
    /// A fault of ours; the cause goes to the log only.
    Internal(String),
}

impl Error {
    pub fn internal(cause: impl Into<String>) -> Self {
        Self::Internal(cause.into())
    }

    /// Stored JSON that does not read back: the position only, never the text (serde's
    /// message may quote a sealed value that was just opened).
    pub fn unreadable(column: &str, e: &serde_json::Error) -> Self {
        Self::Internal(format!(
            "{column}: unreadable JSON ({:?} at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    }

    /// A single-field validation failure.
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        let mut fields = FieldErrors::new();
        fields.insert(field.into(), problem.into());
        Self::Validation(fields)
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody { .. } => "invalid_body",
            Self::Validation(_) => "validation_failed",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::NotFound(_) => "not_found",
            Self::Conflict { code, .. } | Self::Changed { code, .. } | Self::Refused { code, .. } => code,
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::PreconditionFailed(_) => "precondition_failed",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::InvalidBody { message, .. } => message.clone(),
            Self::Validation(fields) => {
                let names: Vec<&str> = fields.keys().map(String::as_str).collect();
                format!("invalid value for {}", names.join(", "))
            }
            Self::Unauthorized(why)
            | Self::Forbidden(why)
            | Self::UnsupportedMediaType(why)
            | Self::PreconditionFailed(why) => (*why).to_owned(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::Conflict { message, .. } | Self::Changed { message, .. } | Self::Refused { message, .. } => {
                message.clone()
            }
            Self::MethodNotAllowed { allow } => format!("this path takes {allow}"),
            Self::RateLimited { retry_after_seconds } => {
                format!("too many requests with this credential; retry after {retry_after_seconds} s")
            }
            Self::Unavailable { retry_after_seconds } => {
                format!("nonstop is too busy to take this request now; retry after {retry_after_seconds} s")
            }
            Self::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
        }
    }

    pub fn fields(&self) -> FieldErrors {
        match self {
            Self::InvalidBody { fields, .. } | Self::Validation(fields) | Self::Changed { fields, .. } => {
                fields.clone()
            }
            _ => FieldErrors::new(),
        }
    }

    /// The seconds after which the same request may be sent again, for the answers that say
    /// so (`Retry-After`).
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_seconds } | Self::Unavailable { retry_after_seconds } => {
                Some(*retry_after_seconds)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for Error {}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound("record"),
            // Messages from the database name tables and constraints, never values.
            other => Self::Internal(format!("database: {other}")),
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code (`ErrorCode` lists every one; each error response of an operation
    /// lists those it can be, in `x-error-codes`).
    #[schema(value_type = crate::error_codes::ErrorCodeSchema, example = "validation_failed")]
    pub error: String,
    /// What went wrong, for a developer to read.
    pub message: String,
    /// The offending fields and the problem with each (empty when no field is at fault).
    #[schema(example = json!({"municipality_code": "check digit should be 6 (131016)"}))]
    pub fields: BTreeMap<String, String>,
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidBody { .. } => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } | Self::Changed { .. } => StatusCode::CONFLICT,
            Self::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // A code missing from the list would reach vendors undocumented (`error_codes`).
        debug_assert!(crate::error_codes::is_listed(self.code()), "unlisted error code {}", self.code());
        if let Self::Internal(cause) = self {
            tracing::error!(cause = %cause, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unauthorized(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Self::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, allow.clone()));
        }
        if let Some(seconds) = self.retry_after_seconds() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(ErrorBody { error: self.code().to_owned(), message: self.message(), fields: self.fields() })
    }
}

/// Collects the problems of several fields so one response names all of them.
#[derive(Default)]
pub struct FieldCheck {
    prefix: String,
    errors: FieldErrors,
}

impl FieldCheck {
    /// Field names get `prefix` in front: `guardians[0].` + `full_name`.
    pub fn under(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into(), errors: FieldErrors::new() }
    }

    /// Records the problem of `field`, if any, and passes the value through.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|problem| self.errors.insert(format!("{}{field}", self.prefix), problem)).ok()
    }

    /// Like [`FieldCheck::check`] for an optional input.
    pub fn check_opt<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        rule: impl FnOnce(T) -> Result<U, String>,
    ) -> Option<U> {
        value.and_then(|v| self.check(field, rule(v)))
    }

    pub fn fail(&mut self, field: &str, problem: impl Into<String>) {
        self.errors.insert(format!("{}{field}", self.prefix), problem.into());
    }

    /// Takes in the problems another check found (already prefixed).
    pub fn merge(&mut self, errors: FieldErrors) {
        self.errors.extend(errors);
    }

    pub fn into_errors(self) -> FieldErrors {
        self.errors
    }

    /// `Ok` when nothing was wrong, else the validation error naming every field.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod unreadable_tests {
    use super::Error;

    /// serde's own message quotes the value; the logged one must not.
    #[test]
    fn unreadable_json_is_reported_without_its_text() {
        let e = serde_json::from_str::<u32>(r#""山田 花子""#).unwrap_err();
        assert!(e.to_string().contains("山田"), "serde quotes it: {e}");
        let Error::Internal(logged) = Error::unreadable("drafts.content", &e) else { panic!("internal") };
        assert!(!logged.contains("山田"), "{logged}");
        assert!(logged.starts_with("drafts.content: unreadable JSON"), "{logged}");
    }
}
