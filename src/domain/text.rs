//! Free-text personal fields: names, kana, phone numbers, addresses.

/// A person's name as written (漢字, kana or Latin letters): 1–100 characters, no control
/// characters. Surrounding spaces are trimmed.
pub fn name(input: &str) -> Result<String, String> {
    bounded_text(input, 100, "a name")
}

/// An address line (町名・番地・建物名): 1–200 characters, no control characters, and no
/// individual number typed into it by mistake.
pub fn address(input: &str) -> Result<String, String> {
    let text = bounded_text(input, 200, "an address")?;
    no_individual_number(text)
}

/// Refuses a text that holds a 個人番号 (see `individual_number`).
pub fn no_individual_number(text: String) -> Result<String, String> {
    if super::individual_number::appears_in(&text) {
        Err(super::individual_number::REFUSAL.to_owned())
    } else {
        Ok(text)
    }
}

fn bounded_text(input: &str, max: usize, what: &str) -> Result<String, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if text.chars().count() > max {
        return Err(format!("{what} must be at most {max} characters"));
    }
    readable(text, Lines::One).map_err(|problem| format!("{what} {problem}"))?;
    Ok(text.to_owned())
}

/// Whether a text may hold line breaks and tabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// A name, a title, an address, a link: one line.
    One,
    /// A notice's body, a comment, an answer: newlines (LF, CRLF) and tabs are allowed.
    Many,
}

/// The bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they
/// make a text display in another order than it is stored (U+202E turns `exe.pdf` into
/// `fdp.exe`; a notice's sender or link would read as another), so no text a person reads may
/// hold one.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a text a person will read (a parent, staff, a municipality's system): no control
/// character (NUL, escape, …; line breaks and tabs only in a text of `Lines::Many`) and no
/// bidirectional control. Returns what is wrong, to follow the field's name.
pub fn readable(text: &str, lines: Lines) -> Result<(), String> {
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\r' | '\t');
    if let Some(c) = text.chars().find(|&c| c.is_control() && !allowed(c)) {
        let kind = if lines == Lines::Many {
            "control characters other than line breaks and tabs"
        } else {
            "control characters"
        };
        return Err(format!("must not contain {kind} (U+{:04X} found)", u32::from(c)));
    }
    if let Some(c) = text.chars().find(|&c| is_bidi_control(c)) {
        return Err(format!(
            "must not contain bidirectional controls such as U+202E, which show a text in another order than it is written (U+{:04X} found)",
            u32::from(c)
        ));
    }
    Ok(())
}

/// フリガナ: a reading in hiragana or katakana (spaces, ー and ・ allowed), as the forms take it.
pub fn kana(input: &str) -> Result<String, String> {
    let text = name(input).map_err(|e| e.replace("a name", "a reading"))?;
    let is_kana = |c: char| matches!(c, '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | 'ー' | '・' | ' ' | '\u{3000}' | 'ゝ' | 'ゞ' | 'ヽ' | 'ヾ');
    if !text.chars().all(is_kana) {
        return Err("a reading must be written in hiragana or katakana".into());
    }
    Ok(text)
}

/// A nationality as an ISO 3166-1 alpha-2 country code (`JP`, `VN`, `BR`, …).
pub fn country(input: &str) -> Result<String, String> {
    if input.len() == 2 && input.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(input.to_owned())
    } else {
        Err("must be a country code of two capital letters (ISO 3166-1 alpha-2), such as JP or VN".into())
    }
}

/// Whether the parents' nationalities show that none is Japanese (国籍法 第2条: a child of a
/// Japanese parent is Japanese): every one known, at least one, and none `JP`.
pub fn no_japanese_parent<'a>(nationalities: impl IntoIterator<Item = Option<&'a str>>) -> bool {
    let mut any = false;
    for nationality in nationalities {
        match nationality {
            Some(code) if code != "JP" => any = true,
            _ => return false,
        }
    }
    any
}

/// A Japanese phone number: 10 or 11 digits starting with 0, or +81 followed by the number
/// without its leading 0; hyphens, spaces and parentheses are allowed and kept out (24
/// characters at most in all).
pub fn phone(input: &str) -> Result<String, String> {
    const HINT: &str = "must be a Japanese phone number such as 03-1234-5678 or 090-1234-5678";
    let mut digits = String::new();
    let text = input.trim();
    if text.chars().count() > 24 {
        return Err(HINT.into());
    }
    let rest = text.strip_prefix("+81").inspect(|_r| {
        digits.push('0');
    });
    for c in rest.unwrap_or(text).chars() {
        match c {
            '0'..='9' => digits.push(c),
            '-' | ' ' | '(' | ')' => {}
            _ => return Err(HINT.into()),
        }
    }
    if digits.starts_with("00") || !digits.starts_with('0') || !(10..=11).contains(&digits.len()) {
        return Err(HINT.into());
    }
    Ok(digits)
}

/// A 保険者番号: 6 digits (国民健康保険) or 8 (被用者保険), as printed on the card.
pub fn insurer_number(input: &str) -> Result<String, String> {
    if (6..=8).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_digit()) {
        Ok(input.to_owned())
    } else {
        Err("must be the insurer number as printed, 6 to 8 digits (06130012)".into())
    }
}

/// A time of day as `HH:MM` (00:00–23:59), as the 出生届 records the time of birth.
pub fn time_of_day(input: &str) -> Result<String, String> {
    const HINT: &str = "must be a time of day as HH:MM (00:00 to 23:59)";
    let (h, m) = input.split_once(':').ok_or(HINT)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) || h > "23" || m > "59" {
        return Err(HINT.into());
    }
    Ok(input.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("  山田 花子 "), Ok("山田 花子".to_owned()));
        assert!(name("   ").is_err());
        assert!(name(&"あ".repeat(101)).is_err());
        assert!(name("山田\n花子").is_err());
    }

    #[test]
    fn texts_people_read_hold_no_control_and_no_bidirectional_control() {
        for bad in ["山田\u{0}花子", "invoice\u{202E}fdp.exe", "a\u{2066}b", "\u{1b}[31mred"] {
            assert!(name(bad).is_err(), "{bad:?}");
            assert!(address(bad).is_err(), "{bad:?}");
            assert!(readable(bad, Lines::Many).is_err(), "{bad:?}");
        }
        assert!(name("invoice\u{202E}fdp.exe").unwrap_err().contains("U+202E"));
        assert!(readable("一行目\r\n二行目\n\t三行目", Lines::Many).is_ok());
        assert!(readable("一行目\n二行目", Lines::One).is_err());
        // Right-to-left text itself is welcome; only the controls are refused.
        assert!(name("مريم").is_ok());
    }

    #[test]
    fn readings_must_be_kana() {
        assert!(kana("やまだ はなこ").is_ok());
        assert!(kana("ヤマダ　ハナコ").is_ok());
        assert!(kana("ヤマダ・ジョー").is_ok());
        assert!(kana("山田").unwrap_err().contains("hiragana or katakana"));
        assert!(kana("yamada").is_err());
    }

    #[test]
    fn an_address_with_an_individual_number_is_refused() {
        assert!(address("千代田1-1-1").is_ok());
        assert!(address("千代田1-1-1 1234 5678 9018").unwrap_err().contains("マイナンバー"));
    }

    #[test]
    fn phones_are_normalized_to_digits() {
        assert_eq!(phone("03-1234-5678"), Ok("0312345678".to_owned()));
        assert_eq!(phone("+81 90-1234-5678"), Ok("09012345678".to_owned()));
        assert!(phone("1234").is_err());
        assert!(phone("090-1234-56789").is_err());
        assert!(phone("tel:0312345678").is_err());
    }

    #[test]
    fn insurer_numbers_and_times_of_day() {
        assert!(insurer_number("138156").is_ok());
        assert!(insurer_number("06130012").is_ok());
        for bad in ["12345", "123456789", "0613-0012", "０６１３００１２"] {
            assert!(insurer_number(bad).is_err(), "{bad}");
        }
        assert_eq!(time_of_day("09:05").as_deref(), Ok("09:05"));
        assert!(time_of_day("23:59").is_ok());
        for bad in ["24:00", "9:05", "12:60", "1205", "12:5a"] {
            assert!(time_of_day(bad).is_err(), "{bad}");
        }
    }
}
