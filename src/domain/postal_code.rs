//! 郵便番号: the 7-digit Japanese postal code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A postal code, always shown as `NNN-NNNN`. Accepts `1000001`, `100-0001` and the full-width
/// forms people type on phones (`１００－０００１`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "100-0001", pattern = "^[0-9０-９]{3}[-－‐−ー]?[0-9０-９]{4}$")]
pub struct PostalCode(String);

impl PostalCode {
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut digits = String::with_capacity(7);
        let mut hyphens = 0;
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                '０'..='９' => digits.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
                '-' | '－' | '‐' | '−' | 'ー' if digits.len() == 3 => hyphens += 1,
                _ => return Err("must be 7 digits, written 1000001 or 100-0001".into()),
            }
        }
        if digits.len() != 7 || hyphens > 1 {
            return Err("must be 7 digits, written 1000001 or 100-0001".into());
        }
        Ok(Self(format!("{}-{}", &digits[..3], &digits[3..])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PostalCode {
    type Error = String;
    /// The API takes the documented pattern exactly: no spaces around the code.
    fn try_from(value: String) -> Result<Self, String> {
        if value.trim() != value {
            return Err("must be 7 digits, written 1000001 or 100-0001, without spaces".into());
        }
        Self::parse(&value)
    }
}

impl From<PostalCode> for String {
    fn from(code: PostalCode) -> String {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_spellings() {
        for input in ["1000001", "100-0001", " 100-0001 ", "１００－０００１", "１０００００１"] {
            assert_eq!(PostalCode::parse(input).map(|p| p.0), Ok("100-0001".to_owned()), "{input}");
        }
    }

    #[test]
    fn refuses_anything_else() {
        for input in ["100001", "10000011", "10-00001", "100--0001", "〒100-0001", "abc-defg", ""] {
            assert!(PostalCode::parse(input).is_err(), "{input}");
        }
    }
}
