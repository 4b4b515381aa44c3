//! A family's preferred language, as a BCP 47 language tag.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A well-formed BCP 47 tag in canonical case (`ja`, `en`, `zh-Hans`, `pt-BR`, `ja-x-easy`).
/// Whether nonstop has texts in it is the templates' business: unknown languages fall back to
/// Japanese there, so any well-formed tag is accepted here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "ja", pattern = "^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,7}$")]
pub struct LanguageTag(String);

impl Default for LanguageTag {
    fn default() -> Self {
        Self("ja".into())
    }
}

const HINT: &str = "must be a BCP 47 language tag such as ja, en, zh-Hans, pt-BR or vi";

impl LanguageTag {
    pub fn parse(input: &str) -> Result<Self, String> {
        let text = input.trim().replace('_', "-");
        // A language and at most 7 subtags of 1–8 characters, as the documented pattern says.
        if text.split('-').count() > 8 {
            return Err(HINT.into());
        }
        let mut parts = text.split('-');
        let language = parts.next().unwrap_or_default();
        if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(HINT.into());
        }
        let mut canonical = vec![language.to_ascii_lowercase()];
        let mut private_use = false;
        for (index, part) in parts.enumerate() {
            if part.is_empty() || part.len() > 8 || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(HINT.into());
            }
            let alphabetic = part.chars().all(|c| c.is_ascii_alphabetic());
            let shaped = if private_use {
                part.to_ascii_lowercase()
            } else if index == 0 && part.len() == 4 && alphabetic {
                // script: Title case (Hans, Latn)
                let lower = part.to_ascii_lowercase();
                lower[..1].to_ascii_uppercase() + &lower[1..]
            } else if part.len() == 2 && alphabetic {
                part.to_ascii_uppercase() // region: BR, JP
            } else {
                if part.eq_ignore_ascii_case("x") {
                    private_use = true;
                }
                part.to_ascii_lowercase()
            };
            canonical.push(shaped);
        }
        if canonical.last().map(String::as_str) == Some("x") {
            return Err(HINT.into());
        }
        Ok(Self(canonical.join("-")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LanguageTag {
    type Error = String;
    /// The API takes the documented pattern exactly: no spaces around the tag.
    fn try_from(value: String) -> Result<Self, String> {
        if value.trim() != value {
            return Err(HINT.into());
        }
        // `ja-x` matches the pattern; a private-use `x` with nothing after it is a rule beyond it.
        let ends_in_private_use = value.rsplit(['-', '_']).next().is_some_and(|t| t.eq_ignore_ascii_case("x"));
        Self::parse(&value).map_err(|e| if ends_in_private_use { super::beyond_schema(e) } else { e })
    }
}

impl From<LanguageTag> for String {
    fn from(tag: LanguageTag) -> String {
        tag.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalizes_well_formed_tags() {
        for (input, canonical) in [
            ("ja", "ja"),
            ("EN", "en"),
            ("zh-hans", "zh-Hans"),
            ("pt-br", "pt-BR"),
            ("pt_BR", "pt-BR"),
            ("ja-x-easy", "ja-x-easy"),
            ("es-419", "es-419"),
            ("fil", "fil"),
        ] {
            assert_eq!(LanguageTag::parse(input).map(|t| t.0), Ok(canonical.to_owned()), "{input}");
        }
    }

    #[test]
    fn refuses_malformed_tags() {
        for input in ["", "j", "japanese", "ja-", "ja--JP", "日本語", "en-x", "ja-toolongsubtag"] {
            assert!(LanguageTag::parse(input).is_err(), "{input}");
        }
    }
}
