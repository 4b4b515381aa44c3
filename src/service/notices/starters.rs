//! ひな形: starting texts for the notices a 子育て支援課 writes most often (健診, 予防接種,
//! 子育て広場), from `catalog/notice_starters.toml`. A starter only fills the composer: the parts
//! in ［ ］ are the office's to write, and a text that still holds one is not saved.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::{NoticeCategory, NoticeText};

/// Opens a part of a starter's text that staff must write over (e.g. ［会場名と住所］).
pub const BLANK_OPEN: char = '［';
/// Closes it.
pub const BLANK_CLOSE: char = '］';

/// One starting text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Starter {
    pub id: String,
    pub category: NoticeCategory,
    /// What the composer calls it, per language of the console.
    pub name: BTreeMap<String, String>,
    /// The notice's texts, per language of the family; `ja` always.
    pub texts: BTreeMap<String, NoticeText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    starter: Vec<Starter>,
}

/// Every starter, in the file's order.
pub fn starters() -> &'static [Starter] {
    static STARTERS: OnceLock<Vec<Starter>> = OnceLock::new();
    STARTERS.get_or_init(|| {
        // Checked by the tests below: the file ships inside the binary.
        toml::from_str::<File>(include_str!("../../../catalog/notice_starters.toml"))
            .map(|file| file.starter)
            .unwrap_or_default()
    })
}

/// The starter with this id.
pub fn starter(id: &str) -> Option<&'static Starter> {
    starters().iter().find(|s| s.id == id)
}

/// Whether `text` still holds a part of a starter to write over.
pub fn has_blank(text: &str) -> bool {
    text.find(BLANK_OPEN).is_some_and(|open| text[open..].contains(BLANK_CLOSE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starters_are_the_common_notices_in_japanese_and_english() {
        let ids: Vec<&str> = starters().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["checkup", "vaccination", "play_space"]);
        for s in starters() {
            for language in ["ja", "en"] {
                assert!(s.name.get(language).is_some_and(|n| !n.is_empty()), "{}: name in {language}", s.id);
                let text = s.texts.get(language).unwrap_or_else(|| panic!("{}: texts in {language}", s.id));
                assert!(text.title.chars().count() <= 100 && text.body.chars().count() <= 10_000);
                // Each leaves the office something to write: the date, the place, the vaccine.
                assert!(has_blank(&text.body), "{} {language}: a blank to write over", s.id);
            }
        }
        assert_eq!(starter("checkup").map(|s| s.category), Some(NoticeCategory::Checkup));
        assert!(starter("nothing").is_none());
    }

    #[test]
    fn a_blank_is_an_opened_and_closed_bracket() {
        assert!(has_blank("会場：［会場名と住所］"));
        assert!(!has_blank("会場：中央保健センター"));
        assert!(!has_blank("］だけ［"));
        // 【】 is ordinary Japanese typography, not a blank.
        assert!(!has_blank("【重要】健診のご案内"));
    }
}
