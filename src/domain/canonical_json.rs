//! RFC 8785 JSON Canonicalization Scheme (JCS): the one byte sequence a confirmed document
//! has, so that the parent's signature and its SHA-256 digest can be checked by anyone.
//!
//! Object members sorted by their names' UTF-16 code units; no whitespace; strings escaped
//! as ECMAScript's JSON.stringify does; numbers in ECMAScript's shortest form.

use serde_json::Value;

/// The canonical text of `value`. Fails only on numbers JSON cannot carry exactly.
pub fn canonicalize(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut String) -> Result<(), String> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write_value(item, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// ECMAScript Number::toString (ECMA-262 §6.1.6.1.20) for an IEEE 754 double.
fn write_number(n: &serde_json::Number, out: &mut String) -> Result<(), String> {
    let x = n.as_f64().ok_or("number out of range")?;
    if !x.is_finite() {
        return Err("NaN and Infinity have no JSON form".into());
    }
    if let (Some(i), true) = (n.as_i64(), n.is_i64() || n.is_u64()) {
        if i.unsigned_abs() > (1u64 << 53) {
            return Err(format!("integer {i} is beyond what a double holds exactly"));
        }
    }
    if x == 0.0 {
        out.push('0');
        return Ok(());
    }
    // Shortest round-trip digits and the decimal exponent, from Rust's `{:e}`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').ok_or("unexpected float format")?;
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().map_err(|_| "unexpected float exponent")?;
    let k = digits.len() as i32;
    let n_pos = exp + 1; // position of the decimal point relative to the digits
    if x < 0.0 {
        out.push('-');
    }
    if k <= n_pos && n_pos <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n_pos - k) as usize));
    } else if 0 < n_pos && n_pos <= 21 {
        out.push_str(&digits[..n_pos as usize]);
        out.push('.');
        out.push_str(&digits[n_pos as usize..]);
    } else if -6 < n_pos && n_pos <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n_pos) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n_pos > 0 { '+' } else { '-' });
        out.push_str(&(n_pos - 1).abs().to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8785 §3.2.2 and §3.2.3: the example input and its canonical output.
    #[test]
    fn reproduces_the_rfc_example() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            canonicalize(&value).unwrap(),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    /// RFC 8785 §3.2.3: members sorted by UTF-16 code units, not by code points or UTF-8.
    #[test]
    fn sorts_members_by_utf16_code_units() {
        let input = r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#;
        let value: Value = serde_json::from_str(input).unwrap();
        let out = canonicalize(&value).unwrap();
        let order: Vec<&str> =
            ["Carriage Return", "One", "Control", "Latin Small", "Euro Sign", "Emoji", "Hebrew"].into_iter().collect();
        let positions: Vec<usize> = order.iter().map(|s| out.find(s).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
    }

    /// Number forms from RFC 8785 Appendix B.
    #[test]
    fn formats_numbers_as_ecmascript_does() {
        for (bits, expected) in [
            (0x0000_0000_0000_0000u64, "0"),
            (0x8000_0000_0000_0000, "0"),
            (0x0000_0000_0000_0001, "5e-324"),
            (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
            (0x4340_0000_0000_0000, "9007199254740992"),
            (0x444b_1ae4_d6e2_ef50, "1e+21"),
            (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
            (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
            (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
            (0xc364_0000_0000_0000, "-45035996273704960"),
        ] {
            let value = Value::from(f64::from_bits(bits));
            assert_eq!(canonicalize(&value).unwrap(), expected, "{bits:016x}");
        }
        assert_eq!(canonicalize(&serde_json::json!(2500)).unwrap(), "2500");
        assert_eq!(canonicalize(&serde_json::json!(-7)).unwrap(), "-7");
    }
}
