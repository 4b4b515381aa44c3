//! 子の国籍: whether a newborn is Japanese at birth, as far as the family's facts tell
//! (国籍法 第2条・第3条).
//!
//! 第2条第1号: a child is Japanese when, at the birth, the father or the mother is Japanese. The
//! mother is the mother by the birth; a father is the legal father only through marriage to the
//! mother (嫡出) or an acknowledgment before the birth (胎児認知). An acknowledgment after the birth
//! does not make the child Japanese at birth: it opens a 届出 (第3条). So a Japanese father alone
//! settles nothing unless the parents are known to be married.

use super::enums::Relationship;

/// What the facts say of the child's nationality at birth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildNationality {
    /// A Japanese mother, or a Japanese father married to the mother.
    Japanese,
    /// Every guardian's nationality is known and none is Japanese.
    NotJapanese,
    /// The facts do not decide it: a nationality not given, a Japanese father whose marriage is
    /// not known (胎児認知 is never recorded), or a Japanese guardian who is not a parent.
    Unsure,
}

/// The child's nationality at birth from each guardian's relationship and nationality (ISO
/// 3166-1 alpha-2) and whether the parents are married to each other.
pub fn at_birth<'a>(
    guardians: impl IntoIterator<Item = (Relationship, Option<&'a str>)>,
    parents_married: Option<bool>,
) -> ChildNationality {
    let mut all_known_foreign = true;
    let mut any = false;
    for (relationship, nationality) in guardians {
        any = true;
        match (relationship, nationality) {
            (Relationship::Mother, Some("JP")) => return ChildNationality::Japanese,
            (Relationship::Father, Some("JP")) if parents_married == Some(true) => return ChildNationality::Japanese,
            (_, Some(code)) if code != "JP" => {}
            _ => all_known_foreign = false,
        }
    }
    if any && all_known_foreign {
        ChildNationality::NotJapanese
    } else {
        ChildNationality::Unsure
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Relationship::{Father, Mother, Other};

    #[test]
    fn a_japanese_mother_decides_and_a_japanese_father_only_through_marriage() {
        assert_eq!(at_birth([(Mother, Some("JP")), (Father, Some("VN"))], Some(false)), ChildNationality::Japanese);
        assert_eq!(at_birth([(Mother, Some("VN")), (Father, Some("JP"))], Some(true)), ChildNationality::Japanese);
        // Unmarried, or marriage not given: 胎児認知 would make the child Japanese, a later 認知 not.
        assert_eq!(at_birth([(Mother, Some("VN")), (Father, Some("JP"))], Some(false)), ChildNationality::Unsure);
        assert_eq!(at_birth([(Father, Some("JP"))], None), ChildNationality::Unsure);
        // A Japanese grandparent as guardian passes on nothing.
        assert_eq!(at_birth([(Mother, Some("PH")), (Other, Some("JP"))], Some(true)), ChildNationality::Unsure);
        assert_eq!(at_birth([(Mother, Some("VN")), (Father, None)], Some(true)), ChildNationality::Unsure);
        assert_eq!(at_birth([(Mother, Some("VN")), (Father, Some("PH"))], None), ChildNationality::NotJapanese);
        assert_eq!(at_birth([], None), ChildNationality::Unsure);
    }
}
