//! Dates and amounts the way each language writes them. Deadlines always show the weekday.

use chrono::{Datelike, NaiveDate, Weekday};

/// A Japanese era (元号) and the day it began.
const ERAS: [(&str, (i32, u32, u32)); 4] =
    [("令和", (2019, 5, 1)), ("平成", (1989, 1, 8)), ("昭和", (1926, 12, 25)), ("大正", (1912, 7, 30))];

/// 令和8年 (or 令和元年 in an era's first year).
pub fn japanese_era_year(date: NaiveDate) -> String {
    for (name, (y, m, d)) in ERAS {
        if NaiveDate::from_ymd_opt(y, m, d).is_some_and(|start| date >= start) {
            let year = date.year() - y + 1;
            return if year == 1 { format!("{name}元年") } else { format!("{name}{year}年") };
        }
    }
    format!("{}年", date.year())
}

fn weekday_index(date: NaiveDate) -> usize {
    date.weekday().num_days_from_monday() as usize
}

const JA_WEEKDAYS: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];

/// A date as the family's language writes it. Unknown languages get ISO dates with the
/// English weekday.
pub fn date(language: &str, date: NaiveDate) -> String {
    let (y, m, d, w) = (date.year(), date.month(), date.day(), weekday_index(date));
    match language {
        // 令和8年12月1日（火）
        "ja" => format!("{}{m}月{d}日（{}）", japanese_era_year(date), JA_WEEKDAYS[w]),
        // やさしい日本語: Western years are easier to read than the era.
        "ja-x-easy" => format!("{y}年{m}月{d}日（{}）", JA_WEEKDAYS[w]),
        "en" => date.format("%a %-d %b %Y").to_string(),
        "zh-Hans" => format!("{y}年{m}月{d}日（{}）", ["周一", "周二", "周三", "周四", "周五", "周六", "周日"][w]),
        "ko" => format!("{y}년 {m}월 {d}일 ({})", ["월", "화", "수", "목", "금", "토", "일"][w]),
        "vi" => format!(
            "{}, {d:02}/{m:02}/{y}",
            ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"][w]
        ),
        "pt-BR" => format!("{}, {d:02}/{m:02}/{y}", ["seg.", "ter.", "qua.", "qui.", "sex.", "sáb.", "dom."][w]),
        "tl" => {
            const MONTHS: [&str; 12] = [
                "Enero",
                "Pebrero",
                "Marso",
                "Abril",
                "Mayo",
                "Hunyo",
                "Hulyo",
                "Agosto",
                "Setyembre",
                "Oktubre",
                "Nobyembre",
                "Disyembre",
            ];
            let day = ["Lunes", "Martes", "Miyerkoles", "Huwebes", "Biyernes", "Sabado", "Linggo"][w];
            format!("{day}, {} {d}, {y}", MONTHS[m as usize - 1])
        }
        "ne" => {
            format!("{y}-{m:02}-{d:02} ({})", ["सोमबार", "मंगलबार", "बुधबार", "बिहीबार", "शुक्रबार", "शनिबार", "आइतबार"][w])
        }
        _ => format!("{} {}", date.format("%Y-%m-%d"), weekday_en(date.weekday())),
    }
}

fn weekday_en(w: Weekday) -> &'static str {
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][w.num_days_from_monday() as usize]
}

/// A whole number with thousands separators (1,234,567).
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// An amount of yen: 50,000円 in Japanese, ¥50,000 elsewhere.
pub fn yen(language: &str, amount: i64) -> String {
    match language {
        "ja" | "ja-x-easy" => format!("{}円", grouped(amount)),
        _ => format!("¥{}", grouped(amount)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn japanese_dates_carry_the_era_and_weekday() {
        assert_eq!(date("ja", d(2026, 12, 1)), "令和8年12月1日（火）");
        assert_eq!(date("ja", d(2019, 4, 30)), "平成31年4月30日（火）");
        assert_eq!(date("ja", d(2019, 5, 1)), "令和元年5月1日（水）");
        assert_eq!(date("ja", d(1989, 1, 7)), "昭和64年1月7日（土）");
        assert_eq!(date("ja", d(1989, 1, 8)), "平成元年1月8日（日）");
    }

    #[test]
    fn every_weekday_in_every_language() {
        // 2026-11-30 is a Monday.
        let expected = [
            ("ja", ["月", "火", "水", "木", "金", "土", "日"]),
            ("en", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
            ("zh-Hans", ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]),
            ("ko", ["(월)", "(화)", "(수)", "(목)", "(금)", "(토)", "(일)"]),
            ("vi", ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]),
            ("pt-BR", ["seg.", "ter.", "qua.", "qui.", "sex.", "sáb.", "dom."]),
            ("tl", ["Lunes", "Martes", "Miyerkoles", "Huwebes", "Biyernes", "Sabado", "Linggo"]),
            ("ne", ["सोमबार", "मंगलबार", "बुधबार", "बिहीबार", "शुक्रबार", "शनिबार", "आइतबार"]),
            ("ja-x-easy", ["（月）", "（火）", "（水）", "（木）", "（金）", "（土）", "（日）"]),
        ];
        for (language, days) in expected {
            for (offset, day) in days.iter().enumerate() {
                let shown = date(language, d(2026, 11, 30) + chrono::Days::new(offset as u64));
                assert!(shown.contains(day), "{language}: '{shown}' lacks '{day}'");
            }
        }
    }

    #[test]
    fn english_and_others_write_the_date_their_way() {
        assert_eq!(date("en", d(2026, 12, 1)), "Tue 1 Dec 2026");
        assert_eq!(date("zh-Hans", d(2026, 12, 1)), "2026年12月1日（周二）");
        assert_eq!(date("ko", d(2026, 12, 1)), "2026년 12월 1일 (화)");
        assert_eq!(date("vi", d(2026, 12, 1)), "Thứ Ba, 01/12/2026");
        assert_eq!(date("pt-BR", d(2026, 12, 1)), "ter., 01/12/2026");
        assert_eq!(date("tl", d(2026, 12, 1)), "Martes, Disyembre 1, 2026");
        assert_eq!(date("ja-x-easy", d(2026, 12, 1)), "2026年12月1日（火）");
    }

    #[test]
    fn yen_amounts_have_separators() {
        assert_eq!(yen("ja", 500_000), "500,000円");
        assert_eq!(yen("en", 50_000), "¥50,000");
        assert_eq!(yen("en", 999), "¥999");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-1_000), "-1,000");
    }
}
