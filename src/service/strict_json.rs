//! Reading a request's JSON exactly as the OpenAPI document describes it.
//!
//! serde's derived structs also read themselves from an array of their fields in order
//! (`"quiet_hours": ["20:00", "09:00"]`), which the document does not allow and no client means.
//! This deserializer over a parsed `serde_json::Value` is the same as serde_json's own, except
//! that a struct is read only from an object, at every depth.

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde_json::Value;

/// Deserializes `T` from `value`, tracking the path of a bad field.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize(Strict(value))
}

struct Strict(Value);

impl<'de> Deserializer<'de> for Strict {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => {
                let length = items.len();
                let mut seq = Items(items.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                match seq.0.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(length, &"fewer elements in the array")),
                }
            }
            Value::Object(fields) => visitor.visit_map(Fields { iter: fields.into_iter(), value: None }),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Strict(other)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(_) => Err(de::Error::invalid_type(Unexpected::Seq, &"an object")),
            other => Strict(other).deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    /// The API's enums are texts (`text_enum!`); tagged bodies choose their variant themselves
    /// (`service::tagged`) and read it through `from_value`.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct Items(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Items {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|item| seed.deserialize(Strict(item))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields {
    iter: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for Fields {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.iter.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(Value::String(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("a value without its key"))?;
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Span {
        start: String,
        end: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        span: Option<Span>,
        spans: Vec<Span>,
        weight: Option<i32>,
    }

    #[test]
    fn a_struct_reads_from_an_object_only_at_every_depth() {
        let object = json!({ "span": { "start": "20:00", "end": "09:00" }, "spans": [], "weight": 3000 });
        let body: Body = super::from_value(object).expect("an object reads");
        assert_eq!(body.span, Some(Span { start: "20:00".into(), end: "09:00".into() }));
        for (value, path) in [
            (json!(["20:00", "09:00"]), "."),
            (json!({ "span": ["20:00", "09:00"], "spans": [] }), "span"),
            (json!({ "span": null, "spans": [["20:00", "09:00"]] }), "spans[0]"),
        ] {
            let refused = super::from_value::<Body>(value).expect_err("an array is not a struct");
            assert_eq!(refused.path().to_string(), path);
            assert!(refused.inner().to_string().contains("expected an object"), "{refused}");
        }
    }

    #[test]
    fn everything_else_reads_as_serde_json_reads_it() {
        let body: Body = super::from_value(json!({ "span": null, "spans": [], "weight": null })).expect("reads");
        assert_eq!(body, Body { span: None, spans: vec![], weight: None });
        assert!(super::from_value::<Body>(json!({ "spans": [], "weight": 1.5 })).is_err());
        assert!(super::from_value::<Body>(json!({ "spans": [] })).is_ok(), "a missing Option is None");
        let any: serde_json::Value = super::from_value(json!({ "a": [1, { "b": null }] })).expect("any value");
        assert_eq!(any, json!({ "a": [1, { "b": null }] }));
    }
}
