//! Request extractors: the caller's identity and JSON bodies that fail with the field named.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::every_problem::{self, Reading};
use crate::app::AppState;
use crate::error::{Error, FieldErrors};
use crate::service::audit::Actor;
use crate::service::principals::{self, Principal};
use crate::telemetry::RequestId;

/// The largest JSON body accepted.
const BODY_LIMIT: usize = 256 * 1024;

/// A JSON body whose errors name every offending field (`children[0].birth_date`) and the
/// problem with each.
pub struct ValidJson<T>(pub T);

/// A JSON body that matches the document, with the values that break a rule beyond it (a
/// check digit) named rather than refused, so that the operation's own checks run too and one
/// 422 names every problem. `rule_problems` not empty means stand-ins are in the value: the
/// operation must refuse (merge them into its `FieldCheck`, which it finishes before writing).
pub struct JsonWithRuleProblems<T> {
    pub value: T,
    pub rule_problems: FieldErrors,
}

impl<T: DeserializeOwned + 'static> FromRequest for ValidJson<T> {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = body_of(req, payload);
        Box::pin(async move { parse(&body.await?).map(ValidJson) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonWithRuleProblems<T> {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = body_of(req, payload);
        Box::pin(async move {
            match read(&body.await?)? {
                Reading::Read(value) => Ok(Self { value, rule_problems: FieldErrors::new() }),
                Reading::WithRuleProblems { value, rules } => Ok(Self { value, rule_problems: rules }),
                Reading::Refused { schema, rules } => Err(refusal(schema, rules)),
            }
        })
    }
}

/// The bytes of a JSON body, within the size limit.
fn body_of(req: &HttpRequest, payload: &mut Payload) -> impl Future<Output = Result<web::BytesMut, Error>> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        });
    // Compressed bodies are refused outright: decompressing before the size limit applies is
    // how RUSTSEC-2026-0447 exhausts memory.
    let compressed = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    let mut payload = payload.take();
    async move {
        if compressed {
            return Err(Error::UnsupportedMediaType("compressed request bodies are not accepted: send plain JSON"));
        }
        if !is_json {
            return Err(Error::UnsupportedMediaType("the body must be JSON, sent with Content-Type: application/json"));
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| invalid_body("the body could not be read", FieldErrors::new()))?;
            if body.len() + chunk.len() > BODY_LIMIT {
                return Err(invalid_body(&format!("the body exceeds {BODY_LIMIT} bytes"), FieldErrors::new()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Parses JSON, naming every field at fault and the problem with each.
///
/// A body that does not match the documented schema (type, required field, enum, pattern,
/// range) is `invalid_body` (400); one that matches it but breaks a rule the schema cannot
/// state (a check digit, see `domain::beyond_schema`) is `validation_failed` (422).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    match read(body)? {
        Reading::Read(value) => Ok(value),
        Reading::WithRuleProblems { rules, .. } => Err(Error::Validation(rules)),
        Reading::Refused { schema, rules } => Err(refusal(schema, rules)),
    }
}

/// Reads the JSON, then every problem of its values (`every_problem`).
fn read<T: DeserializeOwned>(body: &[u8]) -> Result<Reading<T>, Error> {
    let mut value = unique_keys::read(body).map_err(|e| {
        let message = strip_position(&e.to_string());
        match message.strip_prefix(unique_keys::DUPLICATE) {
            Some(field) => {
                let problem = "is given more than once: name each field once".to_owned();
                invalid_body(&format!("{field}: {problem}"), FieldErrors::from([(field.to_owned(), problem)]))
            }
            None => invalid_body(&format!("the body is not valid JSON: {message}"), FieldErrors::new()),
        }
    })?;
    whole_numbers_as_integers(&mut value);
    Ok(every_problem::read(value, body.len()))
}

/// 400 naming each field that is not what the document describes, and with them any that
/// break a rule beyond it; 422 when only rules are broken.
fn refusal(schema: FieldErrors, rules: FieldErrors) -> Error {
    if schema.is_empty() {
        return Error::Validation(rules);
    }
    let message = schema.iter().map(|(field, problem)| format!("{field}: {problem}")).collect::<Vec<_>>().join("; ");
    let mut fields = rules;
    fields.extend(schema);
    invalid_body(&message, fields)
}

/// JSON read into a `Value` with every object's keys distinct. serde_json keeps the last of a
/// key given twice, so `{"municipality_code":"131016","municipality_code":"271004"}` would
/// register the family where the second says, while a proxy or a log that reads the first sees
/// another; a body that names a field twice is refused instead, at any depth.
mod unique_keys {
    use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    /// What the error message starts with when a key is repeated; the field's path follows.
    pub const DUPLICATE: &str = "duplicate key: ";

    pub fn read(body: &[u8]) -> Result<Value, serde_json::Error> {
        let mut reader = serde_json::Deserializer::from_slice(body);
        let value = Checked { path: String::new() }.deserialize(&mut reader)?;
        reader.end()?;
        Ok(value)
    }

    /// A value at `path` (`children[0].birth_date`; empty at the top).
    struct Checked {
        path: String,
    }

    impl Checked {
        fn field(&self, key: &str) -> Self {
            Self { path: if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) } }
        }
    }

    impl<'de> DeserializeSeed<'de> for Checked {
        type Value = Value;
        fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Checked {
        type Value = Value;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(Checked { path: format!("{}[{}]", self.path, items.len()) })? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut fields = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let at = self.field(&key);
                if fields.contains_key(&key) {
                    return Err(A::Error::custom(format!("{DUPLICATE}{}", at.path)));
                }
                let value = map.next_value_seed(at)?;
                fields.insert(key, value);
            }
            Ok(Value::Object(fields))
        }
    }
}

/// JSON has one kind of number, and JSON Schema counts `3000.0` as an integer: whole numbers
/// written with a fraction are read as the integers they are (serde would refuse them).
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) {
                // Exactly representable: within ±2^53 every whole f64 is an integer as written.
                if f.abs() <= 9_007_199_254_740_992.0 {
                    *n = serde_json::Number::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

fn invalid_body(message: &str, fields: FieldErrors) -> Error {
    Error::InvalidBody { message: message.to_owned(), fields }
}

/// serde_json appends " at line 1 column 42", which means nothing to an API user.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The credential of `Authorization: Bearer …`.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|v| v.trim().to_owned())
}

impl FromRequest for Principal {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let bearer = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let bearer =
                bearer.ok_or(Error::Unauthorized("send the API key or session token as Authorization: Bearer …"))?;
            let state = state.ok_or_else(|| Error::internal("application state missing"))?;
            let now = state.clock.now();
            let principal = state.db.read(move |conn| principals::authenticate(conn, &bearer, now)).await?;
            state.rate_limits.check(&principal)?;
            Ok(principal)
        })
    }
}

/// The caller as the audit trail names it: its principal and the request's id.
pub struct Caller {
    pub principal: Principal,
    pub actor: Actor,
}

impl FromRequest for Caller {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        let principal = Principal::from_request(req, payload);
        Box::pin(async move {
            let principal = principal.await?;
            let actor = Actor::of(&principal, request_id);
            Ok(Caller { principal, actor })
        })
    }
}

/// Turns actix's own extractor failures (path, query) into the error envelope.
pub fn query_error(err: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let problem = strip_position(&err.to_string());
    let field = problem.split('`').nth(1).filter(|_| problem.contains("field `")).unwrap_or("query").to_owned();
    Error::InvalidBody {
        message: format!("invalid query string: {problem}"),
        fields: FieldErrors::from([(field, problem)]),
    }
    .into()
}

pub fn path_error(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    Error::NotFound("resource").into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(default)]
        inner: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        date: chrono::NaiveDate,
    }

    fn fields_of(body: &str) -> Vec<String> {
        match parse::<Outer>(body.as_bytes()) {
            Err(Error::InvalidBody { fields, .. }) => fields.into_keys().collect(),
            other => panic!("expected invalid body, got {other:?}"),
        }
    }

    #[test]
    fn names_the_offending_field() {
        assert_eq!(fields_of(r#"{"inner":[]}"#), ["name"]);
        assert_eq!(fields_of(r#"{"name":"a","nmae":"b"}"#), ["nmae"]);
        assert_eq!(fields_of(r#"{"name":"a","inner":[{"date":"2026-02-30"}]}"#), ["inner[0].date"]);
        assert_eq!(fields_of(r#"{"name":"a","inner":[{"date":"2026-02-01","x":1}]}"#), ["inner[0].x"]);
        assert_eq!(fields_of(r#"{"name":5}"#), ["name"]);
    }

    /// One answer names every problem, wherever it is and whatever its kind.
    #[test]
    fn names_every_offending_field_at_once() {
        assert_eq!(
            fields_of(r#"{"nmae":"b","inner":[{"date":"2026-02-30"},{"x":1}]}"#),
            ["inner[0].date", "inner[1].date", "inner[1].x", "name", "nmae"]
        );
        // A value of the wrong type and a missing field in the same object.
        assert_eq!(fields_of(r#"{"inner":[{"date":5}]}"#), ["inner[0].date", "name"]);
        // The whole body of the wrong type is one problem, not one per field it lacks.
        assert_eq!(fields_of("[]"), ["body"]);
    }

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth() {
        assert_eq!(fields_of(r#"{"name":"a","name":"b"}"#), ["name"]);
        assert_eq!(
            fields_of(r#"{"name":"a","inner":[{"date":"2026-02-01"},{"date":"2026-02-01","date":"2026-02-02"}]}"#),
            ["inner[1].date"]
        );
        // Keys of different objects, and equal values in a list, are not repeats.
        assert!(
            parse::<Outer>(r#"{"name":"a","inner":[{"date":"2026-02-01"},{"date":"2026-02-01"}]}"#.as_bytes()).is_ok()
        );
        // Numbers and nesting read as before.
        let value: serde_json::Value = parse(br#"{"a":[1,-2,2.5,{"b":null,"c":true}],"d":"x"}"#).expect("value");
        assert_eq!(value, serde_json::json!({ "a": [1, -2, 2.5, { "b": null, "c": true }], "d": "x" }));
    }

    #[test]
    fn syntax_errors_name_no_field() {
        match parse::<Outer>(b"{\"name\":") {
            Err(Error::InvalidBody { fields, message }) => {
                assert!(fields.is_empty());
                assert!(message.contains("not valid JSON") && !message.contains("line"), "{message}");
            }
            other => panic!("expected invalid body, got {other:?}"),
        }
    }
}
