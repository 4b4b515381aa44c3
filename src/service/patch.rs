//! PATCH semantics: a field left out keeps its value; `null` clears a field that may be empty.

use serde::{Deserialize, Deserializer};

/// For `Option<Option<T>>` fields with `#[serde(default, deserialize_with = "patch::nullable")]`:
/// absent → `None` (keep), `null` → `Some(None)` (clear), a value → `Some(Some(v))` (set).
pub fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Applies a nullable patch field to the stored value.
pub fn apply<T>(current: &mut Option<T>, change: Option<Option<T>>) {
    if let Some(value) = change {
        *current = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct P {
        #[serde(default, deserialize_with = "nullable")]
        x: Option<Option<u8>>,
    }

    #[test]
    fn distinguishes_absent_null_and_value() {
        let parse = |s: &str| serde_json::from_str::<P>(s).expect("json").x;
        assert_eq!(parse("{}"), None);
        assert_eq!(parse(r#"{"x":null}"#), Some(None));
        assert_eq!(parse(r#"{"x":3}"#), Some(Some(3)));
        let mut stored = Some(1);
        apply(&mut stored, Some(None));
        assert_eq!(stored, None);
        apply(&mut stored, None);
        assert_eq!(stored, None);
    }
}
