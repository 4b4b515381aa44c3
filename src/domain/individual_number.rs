//! 個人番号 (マイナンバー): nonstop never stores one (番号法 limits who may hold it). This
//! recognizes a 12-digit number with a valid check digit so that one typed into a free-text
//! field is refused instead of stored.

/// 検査用数字 (平成26年総務省令第85号 第5条): weights 6,5,4,3,2,7,6,5,4,3,2 from the left;
/// 11 − (sum mod 11), or 0 when the remainder is 0 or 1.
pub fn check_digit(first_eleven: &[u8; 11]) -> u8 {
    const WEIGHTS: [u32; 11] = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    let sum: u32 = first_eleven.iter().zip(WEIGHTS).map(|(d, w)| u32::from(*d) * w).sum();
    match sum % 11 {
        0 | 1 => 0,
        r => (11 - r) as u8,
    }
}

/// Whether these twelve digits are a valid individual number.
pub fn is_valid(digits: &[u8]) -> bool {
    if digits.len() != 12 {
        return false;
    }
    let mut first = [0u8; 11];
    first.copy_from_slice(&digits[..11]);
    check_digit(&first) == digits[11]
}

/// Whether `text` contains an individual number: twelve digits (half- or full-width), alone or
/// as consecutive groups joined by a space or hyphen (as on the card: 1234 5678 9018), with a
/// valid check digit.
pub fn appears_in(text: &str) -> bool {
    // Chains of digit groups: groups joined by a single separator belong to one chain.
    let mut chains: Vec<Vec<Vec<u8>>> = vec![vec![Vec::new()]];
    let mut after_separator = false;
    for c in text.chars() {
        let digit = match c {
            '0'..='9' => Some(c as u8 - b'0'),
            '０'..='９' => Some((c as u32 - '０' as u32) as u8),
            _ => None,
        };
        let chain = chains.last_mut().expect("a chain");
        match digit {
            Some(d) => {
                chain.last_mut().expect("a group").push(d);
                after_separator = false;
            }
            None if matches!(c, ' ' | '-' | '　' | '－' | '‐')
                && !after_separator
                && chain.last().is_some_and(|g| !g.is_empty()) =>
            {
                chain.push(Vec::new());
                after_separator = true;
            }
            None => {
                chains.push(vec![Vec::new()]);
                after_separator = false;
            }
        }
    }
    chains.iter().any(|chain| {
        let groups: Vec<&Vec<u8>> = chain.iter().filter(|g| !g.is_empty()).collect();
        (0..groups.len()).any(|start| {
            let mut digits = Vec::new();
            groups[start..].iter().any(|group| {
                digits.extend_from_slice(group);
                digits.len() == 12 && is_valid(&digits)
            })
        })
    })
}

/// The problem to report for a field that holds one.
pub const REFUSAL: &str = "must not contain an individual number (マイナンバー): nonstop never stores one";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_examples_of_the_ordinance() {
        assert_eq!(check_digit(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]), 8);
        assert_eq!(check_digit(&[6, 2, 1, 4, 9, 8, 3, 2, 0, 2, 5]), 7);
        assert!(is_valid(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 8]));
        assert!(!is_valid(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]));
    }

    #[test]
    fn finds_a_number_however_it_is_written() {
        for text in [
            "123456789018",
            "番号は1234 5678 9018です",
            "１２３４－５６７８－９０１８",
            "621498320257",
            "千代田1-1-1 1234 5678 9018",
        ] {
            assert!(appears_in(text), "{text}");
        }
    }

    #[test]
    fn leaves_other_numbers_alone() {
        for text in [
            "123456789012",
            "千代田1-1-1",
            "090-1234-5678",
            "1234567890180",
            "2026-11-22",
            "12345678901",
            "91234567890180",
        ] {
            assert!(!appears_in(text), "{text}");
        }
    }
}
