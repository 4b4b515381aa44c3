//! Pure types and rules of the domain: no I/O here.
//!
//! Types that validate on parse: a value of `MunicipalityCode`, `PostalCode`, `LanguageTag`,
//! … is valid by construction, so the rest of the code never re-checks it.

pub mod calendar;
pub mod canonical_json;
pub mod catalog;
pub mod dates;
pub mod enums;
pub mod forms;
pub mod individual_number;
pub mod language;
pub mod municipality;
pub mod nationality;
pub mod overrides;
pub mod periods;
pub mod planner;
pub mod postal_code;
pub mod push_target;
pub mod quiet_hours;
pub mod series;
pub mod text;

pub use language::LanguageTag;
pub use municipality::MunicipalityCode;
pub use postal_code::PostalCode;
pub use quiet_hours::QuietHours;

/// Marks a refusal by a rule the OpenAPI schema cannot state (a check digit, say), for a value
/// that matches the documented pattern: the API answers it with 422, not 400 (`api::extract`).
pub const BEYOND_SCHEMA: &str = "\u{1e}rule: ";

/// A refusal of a value that matches its documented pattern, by a rule beyond it.
pub fn beyond_schema(problem: impl std::fmt::Display) -> String {
    format!("{BEYOND_SCHEMA}{problem}")
}

/// Declares a closed set of values stored as snake_case text, with its JSON form, its
/// OpenAPI schema and the conversions to and from the database column.
#[macro_export]
macro_rules! text_enum {
    ($(#[doc = $doc:literal])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        // The schema is written here rather than derived: the derive does not read a `rename`
        // whose text comes through a macro variable, and documented the variants' Rust names.
        // These are the texts the API speaks and stores.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let description = [$($doc),*].iter().map(|line: &&str| line.trim()).collect::<Vec<_>>().join("\n");
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description((!description.is_empty()).then_some(description))
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Whether each variant's stored text is also its serde name and its name in the
            /// OpenAPI document (`rename_all` and the per-variant texts agree).
            pub fn wire_names_agree() -> bool {
                let schema = serde_json::to_value(<$name as utoipa::PartialSchema>::schema()).unwrap_or_default();
                let documented: Vec<&str> =
                    schema["enum"].as_array().map(|v| v.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
                Self::ALL.iter().all(|v| {
                    serde_json::to_value(v).ok().as_ref().and_then(|j| j.as_str()) == Some(v.as_str())
                        && documented.contains(&v.as_str())
                }) && documented.len() == Self::ALL.len()
            }

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads the stored text; unknown text means a corrupt row, reported as internal.
            pub fn from_stored(text: &str) -> Result<Self, $crate::error::Error> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::error::Error::internal(format!(
                        concat!("unknown ", stringify!($name), " '{}' in the database"), other
                    ))),
                }
            }
        }

        // A value of the set is written to SQL as its text, so queries compare and set a
        // column with the enum itself (`status.eq(NoticeStatus::Draft)`), never a literal.
        impl diesel::expression::AsExpression<diesel::sql_types::Text> for $name {
            type Expression =
                <&'static str as diesel::expression::AsExpression<diesel::sql_types::Text>>::Expression;
            fn as_expression(self) -> Self::Expression {
                <&'static str as diesel::expression::AsExpression<diesel::sql_types::Text>>::as_expression(self.as_str())
            }
        }

        impl diesel::expression::AsExpression<diesel::sql_types::Nullable<diesel::sql_types::Text>> for $name {
            type Expression = <&'static str as diesel::expression::AsExpression<
                diesel::sql_types::Nullable<diesel::sql_types::Text>,
            >>::Expression;
            fn as_expression(self) -> Self::Expression {
                <&'static str as diesel::expression::AsExpression<
                    diesel::sql_types::Nullable<diesel::sql_types::Text>,
                >>::as_expression(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
