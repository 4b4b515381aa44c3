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
pub mod overrides;
pub mod periods;
pub mod planner;
pub mod postal_code;
pub mod push_target;
pub mod quiet_hours;
pub mod text;

pub use language::LanguageTag;
pub use municipality::MunicipalityCode;
pub use postal_code::PostalCode;
pub use quiet_hours::QuietHours;

/// Declares a closed set of values stored as snake_case text, with its JSON form, its
/// OpenAPI schema and the conversions to and from the database column.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

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

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
