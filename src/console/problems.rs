//! 入力の問題: the problems a form's values met (the console's own reading, or the use case's
//! validation through the API's field names), said in the console's language next to the field
//! they concern, and listed in a summary that links to each field. The use cases speak English
//! (the API's messages); the sentences they can say in the console are matched here to the
//! console's Japanese, with their values (`{max}`), and from there go through `i18n` like every
//! other sentence, so both languages come from one table.

use std::collections::BTreeMap;

use serde::Serialize;

use super::i18n::{self, Lang};
use crate::error::FieldErrors;

/// Where a form shows a problem: the use case's field (or its prefix: `links` covers
/// `links[2].url`), the id of the form's element, and the field's label in Japanese. The first
/// entry that covers a field wins, so a specific name comes before its prefix.
pub type FieldMap<'a> = &'a [(&'a str, &'a str, &'a str)];

/// The problems of one form, as its page shows them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Problems {
    /// The message under each element, by its id (several problems of one element are joined).
    pub fields: BTreeMap<String, String>,
    /// Every problem in the order of the form's fields, for the summary that takes focus.
    pub summary: Vec<SummaryLine>,
    /// The summary's heading.
    pub heading: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SummaryLine {
    /// The element to go to (`None`: a problem of the whole form).
    pub input: Option<String>,
    pub text: String,
}

impl Problems {
    pub fn is_empty(&self) -> bool {
        self.summary.is_empty()
    }

    /// One problem of the whole form (a refusal that names no field).
    pub fn whole(lang: Lang, message: &str) -> Self {
        let mut problems = Self::default();
        problems.summary.push(SummaryLine { input: None, text: translate(lang, message) });
        problems.heading = heading(lang, 1);
        problems
    }
}

fn heading(lang: Lang, count: usize) -> String {
    i18n::format(lang, "入力を確かめてください（{count} 件）", &[("count", &count.to_string())])
}

/// `errors` placed on the form's elements by `map`, in `lang`.
pub fn at_fields(lang: Lang, errors: &FieldErrors, map: FieldMap<'_>) -> Problems {
    let labelled: Vec<(String, String, String)> = map
        .iter()
        .map(|(key, input, label)| ((*key).to_owned(), (*input).to_owned(), i18n::text(lang, label)))
        .collect();
    at_fields_labelled(lang, errors, &labelled)
}

/// `at_fields`, with labels already in `lang` (a form's own labels, from the catalog).
pub fn at_fields_labelled(lang: Lang, errors: &FieldErrors, map: &[(String, String, String)]) -> Problems {
    let covers = |key: &str, field: &str| {
        field == key || field.strip_prefix(key).is_some_and(|rest| rest.starts_with(['.', '[']))
    };
    let mut placed: Vec<(usize, Option<String>, String)> = Vec::new();
    for (field, message) in errors {
        let message = translate(lang, message);
        match map.iter().position(|(key, _, _)| covers(key, field)) {
            Some(at) => {
                let (_, input, label) = &map[at];
                placed.push((at, Some(input.clone()), format!("{label}: {message}")));
            }
            None => placed.push((map.len(), None, message)),
        }
    }
    placed.sort_by_key(|(at, _, _)| *at);
    let mut problems = Problems { heading: heading(lang, placed.len()), ..Problems::default() };
    for (_, input, text) in placed {
        if let Some(input) = &input {
            let message = text.split_once(": ").map_or(text.as_str(), |(_, m)| m).to_owned();
            problems
                .fields
                .entry(input.clone())
                .and_modify(|kept| {
                    kept.push(' ');
                    kept.push_str(&message);
                })
                .or_insert(message);
        }
        problems.summary.push(SummaryLine { input, text });
    }
    problems
}

/// The use cases' sentences the console can meet, as patterns of their English (`{name}` a
/// value), with the console's Japanese for each. A pattern matches the end of a message: what
/// comes before is the subject the use case named ("a title must not be empty"), which the
/// field's label says instead.
const SENTENCES: &[(&str, &str)] = &[
    (
        "a decision document comes with accepted, rejected or completed only",
        "決定通知書は、受理・却下・完了のときだけ添付できます。",
    ),
    (
        "the PDF is {size} bytes; at most {max} bytes are accepted",
        "PDF が大きすぎます。上限より小さいファイルを選んでください。",
    ),
    ("not a PDF (a PDF starts with %PDF-)", "PDF ではありません。PDF のファイルを選んでください。"),
    ("must not be empty", "入力してください。"),
    ("must be at most {max} characters", "{max} 文字以内で入力してください。"),
    ("must be 1–10000 characters", "1〜10000 文字で入力してください。"),
    ("must not contain {kind} (U+{code} found)", "使えない文字（U+{code}）が含まれています。"),
    ("must be an https URL", "https:// で始まる URL を入力してください。"),
    ("must be an absolute URL", "https:// で始まる URL を、省略せずに入力してください。"),
    ("must name a host", "URL にホスト名を含めてください。"),
    (
        "must not carry credentials; the HMAC signature authenticates nonstop",
        "URL に利用者名やパスワードを含めないでください（送信には署名が付きます）。",
    ),
    ("must be a public host name, not an internal one", "庁内のホスト名ではなく、公開されたホスト名にしてください。"),
    ("must be a host name, not an IP address", "IP アドレスではなく、ホスト名にしてください。"),
    ("at most {count} links", "リンク・添付は {count} 件までです。"),
    ("needs 2 to 20 choices", "選択肢は 2〜20 個にしてください。"),
    ("needs 0 <= min <= max <= 276", "月齢は 0〜276 で、「から」を「まで」以下にしてください。"),
    ("a notice needs its Japanese text", "日本語の件名と本文を入力してください。"),
    ("must not be in the past", "過去の日時は選べません。"),
    ("'{day}' is not a day of the year written MM-DD", "「{day}」は MM-DD の形の日付ではありません（例: 06-23）。"),
    ("a rejection gives its reason", "却下のときは、保護者に理由を書いてください。"),
    (
        "a correction request names at least one field to correct",
        "補正依頼では、直してほしい項目に少なくとも1つコメントを書いてください。",
    ),
    ("only a correction request comments on fields", "項目ごとのコメントは、補正依頼のときだけ書けます。"),
    ("must be 1 to {max} characters", "1〜{max} 文字で入力してください。"),
    ("write the note", "メモを書いてください。"),
    ("must be at least {min} characters", "{min} 文字以上にしてください。"),
    ("must differ from the current password", "現在のパスワードとは違うものにしてください。"),
    ("a note is at most {max} characters", "メモは {max} 文字までです。"),
    ("the status changed meanwhile; reload it", "ほかの職員がこの間に状態を変えました。ページを読み直してください。"),
    (
        "a notice is sent once approved (and not cancelled or already sent)",
        "承認されたお知らせだけを送信できます（取り消したものや送信済みのものは送れません）。",
    ),
    ("only an approved notice is scheduled", "承認されたお知らせだけを予約できます。"),
];

/// A message of the use cases or of the console, in `lang`: the console's own Japanese through
/// `i18n`; a use case's English through `SENTENCES`; one not listed as it came (English).
pub fn translate(lang: Lang, message: &str) -> String {
    for (pattern, ja) in SENTENCES {
        if let Some(values) = matched(pattern, message) {
            let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            return i18n::format(lang, ja, &values);
        }
    }
    i18n::text(lang, message)
}

/// The values of `pattern`'s `{name}`s when it matches the end of `message`.
fn matched(pattern: &str, message: &str) -> Option<Vec<(String, String)>> {
    // The pattern as literal pieces between names: lit0 {a} lit1 {b} lit2 …
    let mut literals = vec![String::new()];
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        literals.last_mut()?.push_str(&rest[..open]);
        names.push(rest[open + 1..close].to_owned());
        literals.push(String::new());
        rest = &rest[close + 1..];
    }
    literals.last_mut()?.push_str(rest);
    let starts = message.char_indices().map(|(i, _)| i).filter(|i| *i == 0 || message[..*i].ends_with(' '));
    'start: for start in starts {
        let mut text = &message[start..];
        let Some(after) = text.strip_prefix(literals[0].as_str()) else { continue };
        text = after;
        let mut values = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let literal = &literals[i + 1];
            let last = i + 1 == names.len();
            let end = if last {
                if !text.ends_with(literal.as_str()) || text.len() < literal.len() {
                    continue 'start;
                }
                text.len() - literal.len()
            } else {
                match text.find(literal.as_str()) {
                    Some(end) => end,
                    None => continue 'start,
                }
            };
            if end == 0 {
                continue 'start;
            }
            values.push((name.clone(), text[..end].to_owned()));
            text = &text[end + literal.len()..];
        }
        if text.is_empty() {
            return Some(values);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_use_cases_sentences_are_said_in_the_consoles_language_with_their_values() {
        assert_eq!(translate(Lang::Ja, "a title must be at most 100 characters"), "100 文字以内で入力してください。");
        assert_eq!(translate(Lang::En, "a title must be at most 100 characters"), "Must be at most 100 characters.");
        assert_eq!(translate(Lang::Ja, "must be an https URL"), "https:// で始まる URL を入力してください。");
        assert_eq!(
            translate(Lang::Ja, "'13-01' is not a day of the year written MM-DD"),
            "「13-01」は MM-DD の形の日付ではありません（例: 06-23）。"
        );
        assert_eq!(translate(Lang::Ja, "a question must not be empty"), "入力してください。");
        // The console's own sentences go through i18n; an unknown English one is kept.
        assert_eq!(translate(Lang::En, "数字で入力してください"), "enter a number");
        assert_eq!(translate(Lang::Ja, "something nobody listed"), "something nobody listed");
    }

    #[test]
    fn each_problem_lands_on_its_element_and_the_summary_keeps_the_forms_order() {
        let map: FieldMap<'_> = &[
            ("texts.ja.title", "ja_title", "件名（日本語）"),
            ("texts.ja", "ja_title", "件名（日本語）"),
            ("links", "links", "リンク・添付"),
        ];
        let errors: FieldErrors = [
            ("links[1].url".to_owned(), "must be an https URL".to_owned()),
            ("texts.ja.title".to_owned(), "a title must not be empty".to_owned()),
            ("mystery".to_owned(), "must be an https URL".to_owned()),
        ]
        .into_iter()
        .collect();
        let problems = at_fields(Lang::Ja, &errors, map);
        assert_eq!(problems.fields["ja_title"], "入力してください。");
        assert_eq!(problems.fields["links"], "https:// で始まる URL を入力してください。");
        let order: Vec<Option<&str>> = problems.summary.iter().map(|l| l.input.as_deref()).collect();
        assert_eq!(order, [Some("ja_title"), Some("links"), None]);
        assert_eq!(problems.summary[0].text, "件名（日本語）: 入力してください。");
        assert_eq!(problems.heading, "入力を確かめてください（3 件）");
        let english = at_fields(Lang::En, &errors, map);
        assert_eq!(english.summary[0].text, "Title (Japanese): Enter a value.");
    }
}
