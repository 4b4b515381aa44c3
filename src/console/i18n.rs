//! The console's languages. Japanese is the source text: every sentence is written in Japanese
//! in the page (`{{ t("設定") }}`) or the code (`i18n::text(lang, "…")`), and `i18n/en.toml`
//! gives its English. A sentence with values names them in braces (`{count}`), passed as
//! keyword arguments (`t("{count} 件", count=n)`), so a translation may put them where its
//! grammar wants. The choice is the staff member's, kept in a cookie; Japanese until they
//! choose.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use minijinja::value::{Kwargs, Value};
use minijinja::State;

use crate::domain::catalog::Names;

/// The cookie that keeps the chosen language.
pub const COOKIE: &str = "nonstop_console_lang";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::Ja => "ja",
            Self::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "ja" => Some(Self::Ja),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The language the request's cookie chose (Japanese without one).
    pub fn of(req: &HttpRequest) -> Self {
        req.cookie(COOKIE).and_then(|c| Self::parse(c.value())).unwrap_or_default()
    }

    /// The cookie that keeps this choice for a year (not a secret: readable by the page).
    pub fn cookie(self, secure: bool) -> Cookie<'static> {
        Cookie::build(COOKIE, self.code())
            .path("/console")
            .same_site(SameSite::Lax)
            .secure(secure)
            .max_age(actix_web::cookie::time::Duration::days(365))
            .finish()
    }

    /// A catalog name in this language.
    pub fn name(self, names: &Names) -> String {
        match self {
            Self::Ja => names.ja.clone(),
            Self::En => names.en.clone(),
        }
    }
}

impl actix_web::FromRequest for Lang {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(Self::of(req)))
    }
}

/// The English of every Japanese sentence, read once from the binary.
fn english() -> &'static HashMap<String, String> {
    static ENGLISH: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENGLISH.get_or_init(|| {
        // Checked by the tests: a broken file fails them, never a page.
        toml::from_str(include_str!("i18n/en.toml")).unwrap_or_default()
    })
}

/// `source` in `lang`; a sentence without a translation shows as written (a message from the
/// use cases, which are English already, passes through).
pub fn text(lang: Lang, source: &str) -> String {
    match lang {
        Lang::Ja => source.to_owned(),
        Lang::En => english().get(source).cloned().unwrap_or_else(|| source.to_owned()),
    }
}

/// `text`, with each `{name}` replaced by its value.
pub fn format(lang: Lang, source: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text(lang, source), |out, (name, value)| out.replace(&format!("{{{name}}}"), value))
}

/// The templates' `t(source, name=value, …)`: the page's `lang` decides.
pub fn template_function(state: &State, source: String, values: Kwargs) -> Result<String, minijinja::Error> {
    let lang = state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::parse)).unwrap_or_default();
    let mut out = text(lang, &source);
    for name in values.args() {
        let value: Value = values.get(name)?;
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    values.assert_all_used()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_english_file_reads() {
        let parsed: Result<HashMap<String, String>, _> = toml::from_str(include_str!("i18n/en.toml"));
        let parsed = parsed.expect("i18n/en.toml is TOML of strings");
        assert!(parsed.len() > 100, "{}", parsed.len());
        assert!(parsed.values().all(|v| !v.trim().is_empty()), "no empty translation");
    }

    fn is_japanese(c: char) -> bool {
        matches!(c, '\u{3001}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}')
    }

    /// The string literals of Rust or template expression text (`"…"` with `\` escapes), skipping
    /// `'"'` character literals and `//` comments.
    fn literals(text: &str) -> Vec<(usize, String)> {
        let (mut found, mut chars) = (Vec::new(), text.char_indices().peekable());
        while let Some((at, c)) = chars.next() {
            match c {
                '/' if chars.peek().map(|(_, c)| *c) == Some('/') => {
                    chars.by_ref().find(|(_, c)| *c == '\n');
                }
                '\'' => {
                    // A char literal ('"', '\'') is skipped whole; a lifetime has no closing quote.
                    let rest = &text[at + 1..];
                    if let Some(end) = rest.char_indices().skip(1).take(3).find(|(_, c)| *c == '\'').map(|(i, _)| i) {
                        if !rest[..end].contains(char::is_whitespace) {
                            for _ in 0..rest[..=end].chars().count() {
                                chars.next();
                            }
                        }
                    }
                }
                '"' => {
                    let mut literal = String::new();
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, escaped)) = chars.next() {
                                    literal.push(escaped);
                                }
                            }
                            '"' => break,
                            other => literal.push(other),
                        }
                    }
                    found.push((at, literal));
                }
                _ => {}
            }
        }
        found
    }

    fn placeholders(text: &str) -> std::collections::BTreeSet<String> {
        text.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(name, _)| name.to_owned())).collect()
    }

    fn files(dir: &std::path::Path, ending: &str, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("console folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                files(&path, ending, out);
            } else if path.to_string_lossy().ends_with(ending) {
                out.push((path.display().to_string(), std::fs::read_to_string(&path).expect("readable")));
            }
        }
    }

    /// The template's expressions (`{{ … }}` and `{% … %}`), where its literals are.
    fn expressions(text: &str) -> Vec<&str> {
        let mut found = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{").into_iter().chain(rest.find("{%")).min() {
            let close = if rest[start..].starts_with("{{") { "}}" } else { "%}" };
            let Some(end) = rest[start..].find(close) else { break };
            found.push(&rest[start..start + end + 2]);
            rest = &rest[start + end + 2..];
        }
        found
    }

    /// The literals handed to `t` in a template expression (`t("…")`, not `default("…")`).
    fn translated(expression: &str) -> Vec<String> {
        literals(expression)
            .into_iter()
            .filter(|(at, _)| {
                let before = &expression[..*at];
                before.ends_with("t(")
                    && !before[..before.len() - 2].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
            })
            .map(|(_, literal)| literal)
            .collect()
    }

    fn templates() -> Vec<(String, String)> {
        let mut found = Vec::new();
        files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console/templates"), ".html", &mut found);
        found
    }

    /// Every Japanese sentence of the console, with where it was found: the `t("…")` literals of
    /// the templates, and the Japanese literals of the console's code (outside its tests).
    fn sentences() -> Vec<(String, String)> {
        let mut code = Vec::new();
        files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console"), ".rs", &mut code);
        let mut found = Vec::new();
        for (path, text) in templates() {
            for expression in expressions(&text) {
                found.extend(translated(expression).into_iter().map(|literal| (path.clone(), literal)));
            }
        }
        for (path, text) in code {
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
            for (_, literal) in literals(text) {
                if literal.chars().any(is_japanese) {
                    found.push((path.clone(), literal));
                }
            }
        }
        found
    }

    #[test]
    fn every_japanese_sentence_has_its_english_with_the_same_values() {
        let english = english();
        let mut problems = Vec::new();
        let found = sentences();
        for (path, sentence) in &found {
            match english.get(sentence) {
                None => problems.push(format!("{path}: no English for {sentence:?}")),
                Some(translation) if placeholders(translation) != placeholders(sentence) => {
                    problems.push(format!("{path}: {sentence:?} and {translation:?} name different values"))
                }
                Some(_) => {}
            }
        }
        for key in english.keys() {
            if !found.iter().any(|(_, sentence)| sentence == key) {
                problems.push(format!("en.toml: {key:?} is no longer used"));
            }
        }
        assert!(found.len() > 250, "{}", found.len());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn no_japanese_in_a_page_escapes_translation() {
        let mut problems = Vec::new();
        for (path, text) in templates() {
            // Outside expressions no Japanese at all; inside them, only in literals given to `t`.
            let mut rest = text.clone();
            for expression in expressions(&text) {
                let mut kept = expression.to_owned();
                for literal in translated(expression) {
                    kept = kept.replacen(&literal, "", 1);
                }
                rest = rest.replacen(expression, &kept, 1);
            }
            for line in rest.lines().filter(|l| l.chars().any(is_japanese)) {
                problems.push(format!("{path}: {}", line.trim()));
            }
        }
        assert!(problems.is_empty(), "Japanese outside t(…): {problems:#?}");
    }

    /// Words staff should not have to learn: the catalog, a bare "n", 常設, bytes, and
    /// "given-up" sends (issue 30 item 13), in Japanese and in the English.
    const JARGON_JA: &[&str] = &["カタログ", "常設", "バイト", "あきらめ"];
    const JARGON_EN: &[&str] = &["catalog", "standing", "byte", "given up", "gave up"];

    /// The words of `text` (letters and digits, split at everything else); a value's name in
    /// braces (`{n}`) is no word: the value stands there.
    fn words(text: &str) -> Vec<String> {
        let mut shown = String::new();
        let mut rest = text;
        while let Some((before, after)) = rest.split_once('{') {
            shown.push_str(before);
            rest = after.split_once('}').map_or("", |(_, after)| after);
        }
        shown.push_str(rest);
        shown
            .split(|c: char| !c.is_alphanumeric() || is_japanese(c))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    /// The text of a template a person reads outside its expressions (tags and attributes
    /// removed).
    fn page_text(template: &str) -> String {
        let mut rest = template.to_owned();
        for expression in expressions(template) {
            rest = rest.replacen(expression, " ", 1);
        }
        let mut text = String::new();
        let mut in_tag = false;
        for c in rest.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    text.push(' ');
                }
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text
    }

    #[test]
    fn staff_read_plain_words_not_the_systems() {
        let mut problems = Vec::new();
        let english = english();
        let mut said: Vec<(String, String)> = sentences();
        said.extend(english.values().map(|v| ("en.toml".to_owned(), v.clone())));
        said.extend(templates().into_iter().map(|(path, text)| (path, page_text(&text))));
        for (path, text) in &said {
            let lower = text.to_lowercase();
            for word in JARGON_JA.iter().chain(JARGON_EN) {
                if lower.contains(word) {
                    problems.push(format!("{path}: {word:?} in {text:?}"));
                }
            }
            if words(text).iter().any(|w| w == "n") {
                problems.push(format!("{path}: a bare \"n\" in {text:?}"));
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
        // The scan reads what it should: the words it looks for are found where they are.
        assert!(words("数え方（n = 3）").contains(&"n".to_owned()));
        assert!(words("受付番号 {n}").is_empty());
        assert!(page_text("<label for=\"x_n\">n</label>{{ t(\"カタログ\") }}").trim() == "n");
    }

    #[test]
    fn a_sentence_keeps_its_values_where_the_translation_puts_them() {
        assert_eq!(text(Lang::Ja, "設定"), "設定");
        assert_eq!(text(Lang::En, "設定"), "Settings");
        assert_eq!(text(Lang::En, "must be an https URL"), "must be an https URL");
        assert_eq!(
            format(
                Lang::En,
                "失敗が続いたため、この端末からのサインインは {until} まで止めています。",
                &[("until", "09:15")]
            ),
            "After repeated failures, sign-in from this device is paused until 09:15."
        );
    }
}
