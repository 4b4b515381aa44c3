//! Bodies tagged by a field (`"kind": "apns"`, `"type": "birth"`).
//!
//! serde's own internally tagged enums buffer the body before choosing the variant, which
//! loses the path of a bad field (`keys.p256dh` would be reported as the whole body). These
//! helpers choose the variant first and then deserialize it with its path tracked; the path
//! travels in the message as "at `path`: problem", which the HTTP layer unfolds into a field
//! name (see `api::extract::parse`).

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The prefix of a message that carries the path of the field at fault.
pub const AT: &str = "at `";

/// Reads the body as an object and takes out its tag.
pub fn split<'de, D: Deserializer<'de>>(
    deserializer: D,
    tag: &'static str,
) -> Result<(String, Map<String, Value>), D::Error> {
    let mut body = Map::<String, Value>::deserialize(deserializer)?;
    match body.remove(tag) {
        Some(Value::String(name)) => Ok((name, body)),
        Some(_) => Err(de::Error::custom(format!("{AT}{tag}`: must be a string"))),
        None => Err(de::Error::custom(format!("missing field `{tag}`"))),
    }
}

/// Deserializes the chosen variant, keeping the path of a bad field in the message.
pub fn variant<T: DeserializeOwned, E: de::Error>(body: Map<String, Value>) -> Result<T, E> {
    serde_path_to_error::deserialize(Value::Object(body)).map_err(|e| {
        let path = e.path().to_string();
        E::custom(format!("{AT}{path}`: {}", e.into_inner()))
    })
}

/// The error for a tag naming no variant.
pub fn unknown<E: de::Error>(tag: &str, found: &str, expected: &[&str]) -> E {
    E::custom(format!("{AT}{tag}`: unknown variant `{found}`, expected one of {}", expected.join(", ")))
}
