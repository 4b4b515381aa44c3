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
    super::strict_json::from_value(Value::Object(body)).map_err(|e| {
        let path = e.path().to_string();
        E::custom(format!("{AT}{path}`: {}", e.into_inner()))
    })
}

/// The error for a tag naming no variant.
pub fn unknown<E: de::Error>(tag: &str, found: &str, expected: &[&str]) -> E {
    E::custom(format!("{AT}{tag}`: unknown variant `{found}`, expected one of {}", expected.join(", ")))
}

/// One variant of a tagged body, for its OpenAPI schema: the tag's value, the component name
/// the variant is documented under, and the schema of its fields (and of what they refer to).
pub struct SchemaVariant {
    pub tag_value: &'static str,
    pub component: &'static str,
    pub fields: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    pub description: &'static str,
}

/// The schema of a body tagged by `tag`: `oneOf` references to one component per variant, with
/// a `discriminator` mapping each tag value to its component. Each component is the variant's
/// fields plus the tag (required, one value), so every branch can be satisfied on its own,
/// however strict the variant's fields are about unknown ones.
pub fn union_schema(
    tag: &str,
    description: &str,
    variants: &[(&'static str, &'static str)],
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{Discriminator, OneOfBuilder};
    use utoipa::openapi::Ref;
    let mapping = variants.iter().map(|(value, component)| (*value, format!("#/components/schemas/{component}")));
    let mut one_of = OneOfBuilder::new()
        .description(Some(description))
        .discriminator(Some(Discriminator::with_mapping(tag, mapping)));
    for (_, component) in variants {
        one_of = one_of.item(Ref::from_schema_name(*component));
    }
    one_of.into()
}

/// The component of one variant: its fields plus the tag.
pub fn variant_component(
    tag: &str,
    variant: SchemaVariant,
) -> (String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;
    let tag_schema = ObjectBuilder::new().schema_type(Type::String).enum_values(Some([variant.tag_value]));
    let schema = match variant.fields {
        RefOr::T(Schema::Object(mut object)) => {
            object.properties.insert(tag.to_owned(), tag_schema.into());
            object.required.insert(0, tag.to_owned());
            object.description = Some(variant.description.to_owned());
            RefOr::T(Schema::Object(object))
        }
        // Variants are structs; anything else is documented as the tag alone.
        _ => ObjectBuilder::new().property(tag, tag_schema).required(tag).into(),
    };
    (variant.component.to_owned(), schema)
}

/// Writes `PartialSchema` and `ToSchema` for a tagged body enum: `tagged_schema!(DeviceInput,
/// "kind", "A device to register, by `kind`.", [("web_push", "WebPushDeviceInput",
/// WebPushDevice, "…"), …])`.
#[macro_export]
macro_rules! tagged_schema {
    ($name:ident, $tag:literal, $description:literal, [$(($value:literal, $component:literal, $fields:ty, $doc:literal)),+ $(,)?]) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::service::tagged::union_schema($tag, $description, &[$(($value, $component)),+])
            }
        }

        impl utoipa::ToSchema for $name {
            fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                $(
                    schemas.push($crate::service::tagged::variant_component(
                        $tag,
                        $crate::service::tagged::SchemaVariant {
                            tag_value: $value,
                            component: $component,
                            fields: <$fields as utoipa::PartialSchema>::schema(),
                            description: $doc,
                        },
                    ));
                    <$fields as utoipa::ToSchema>::schemas(schemas);
                )+
            }
        }
    };
}
