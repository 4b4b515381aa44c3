//! 全国地方公共団体コード: the 6-digit code of a municipality (JIS X 0401/0402 + 検査数字).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A municipality (市区町村) code whose check digit is right, e.g. `131016` for 千代田区.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "131016", pattern = "^[0-9]{6}$")]
pub struct MunicipalityCode(String);

/// The check digit of a 5-digit code: `(11 − (6a+5b+4c+3d+2e) mod 11) mod 10`.
pub fn check_digit(first_five: &[u8; 5]) -> u8 {
    let sum: u32 = first_five.iter().zip([6u32, 5, 4, 3, 2]).map(|(d, w)| u32::from(*d) * w).sum();
    ((11 - sum % 11) % 10) as u8
}

const SHAPE: &str = "must be the 6-digit 全国地方公共団体コード (5-digit code and check digit), e.g. 131016";

impl MunicipalityCode {
    pub fn parse(input: &str) -> Result<Self, String> {
        let text = input.trim();
        if !text.bytes().all(|b| b.is_ascii_digit()) || !(text.len() == 5 || text.len() == 6) {
            return Err(SHAPE.into());
        }
        let digits: Vec<u8> = text.bytes().map(|b| b - b'0').collect();
        let mut first_five = [0u8; 5];
        first_five.copy_from_slice(&digits[..5]);
        let expected = check_digit(&first_five);
        if text.len() == 5 {
            return Err(format!("{text} lacks its check digit: the 6-digit code is {text}{expected}"));
        }
        let prefecture = digits[0] * 10 + digits[1];
        if !(1..=47).contains(&prefecture) {
            return Err(format!("prefecture code {prefecture:02} does not exist (01–47)"));
        }
        if digits[2..5] == [0, 0, 0] {
            return Err("is a prefecture's own code: give the municipality (市区町村) code".into());
        }
        if digits[5] != expected {
            return Err(format!("check digit is wrong: {} takes {expected} ({}{expected})", &text[..5], &text[..5]));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 都道府県コード: the first two digits (13 for 東京都).
    pub fn prefecture(&self) -> &str {
        &self.0[..2]
    }
}

impl TryFrom<String> for MunicipalityCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        // The API takes exactly its documented pattern, six digits (no spaces around them);
        // the prefecture, the check digit and a prefecture's own code are rules beyond it.
        let six_digits = value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit());
        match Self::parse(&value) {
            Ok(code) if six_digits => Ok(code),
            Ok(_) => Err(SHAPE.into()),
            Err(e) if six_digits => Err(super::beyond_schema(e)),
            Err(e) => Err(e),
        }
    }
}

impl From<MunicipalityCode> for String {
    fn from(code: MunicipalityCode) -> String {
        code.0
    }
}

impl std::fmt::Display for MunicipalityCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_codes_are_accepted() {
        // 千代田区, 札幌市, 札幌市中央区 (remainder 0), 渋谷区 (remainder 1), 神戸市, 大阪市, 横浜市
        for code in ["131016", "011002", "011011", "131130", "281000", "271004", "141003"] {
            assert!(MunicipalityCode::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn check_digit_follows_the_worked_example() {
        assert_eq!(check_digit(&[1, 3, 1, 0, 1]), 6);
        assert_eq!(check_digit(&[0, 1, 1, 0, 1]), 1);
        assert_eq!(check_digit(&[1, 3, 1, 1, 3]), 0);
    }

    #[test]
    fn wrong_codes_say_what_is_wrong() {
        assert!(MunicipalityCode::parse("131017").unwrap_err().contains("takes 6 (131016)"));
        assert!(MunicipalityCode::parse("13101").unwrap_err().contains("131016"));
        assert!(MunicipalityCode::parse("481001").unwrap_err().contains("prefecture code 48"));
        assert!(MunicipalityCode::parse("130001").unwrap_err().contains("prefecture's own code"));
        assert!(MunicipalityCode::parse("13-101").is_err());
        assert!(MunicipalityCode::parse("").is_err());
    }
}
