//! 自治体ごとの設定: what a municipality does differently from the catalog's defaults: extra
//! closed days, its own windows and deadlines, procedures it does not run, and its offices.
//!
//! Settings layer from the widest to the narrowest: the prefecture (2-digit key), the 政令市 a
//! ward belongs to, the municipality itself. Defaults apply where a municipality says nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::calendar::MonthDay;
use super::catalog::{parse_month_day, Catalog, Channel, DateRule, Procedure, Rule, Trigger};
use super::text;
use crate::error::FieldErrors;

/// A municipality's settings, as its staff write them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MunicipalityOverride {
    /// 団体名, e.g. `千代田区`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// Days closed every year besides the national ones, `MM-DD` (沖縄県 `06-23`).
    #[serde(default)]
    #[schema(max_items = 40)]
    pub extra_closed_days: Vec<String>,
    /// Per procedure id: what differs from the catalog.
    #[serde(default)]
    pub procedures: BTreeMap<String, ProcedureOverride>,
    /// 保存年限: whole years a submission is kept, counted from its submission, once the family
    /// that made it has been deleted (default 5, 1 to 30). Until then it stays with the
    /// municipality however the family's vendor deletes its data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 30)]
    pub submission_retention_years: Option<u8>,
}

/// Years a deleted family's submissions are kept when the municipality set nothing: the
/// 保存年限 most municipal 文書管理規程 give to benefit applications (児童手当 claims are
/// 5-year records; the 時効 of the benefit itself is 2 years).
pub const DEFAULT_RETENTION_YEARS: u8 = 5;

/// How a municipality runs one procedure.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcedureOverride {
    /// `false` when the municipality does not run it (e.g. no 9–10 month checkup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens: Option<DateRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes: Option<DateRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<Office>,
    /// How this municipality takes the filing (e.g. `["online", "counter"]` where it accepts
    /// 出生届 online); replaces the catalog's channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 4)]
    pub channels: Option<Vec<Channel>>,
}

/// 窓口: where to file, with the contact a parent needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Office {
    #[schema(example = "千代田区役所 戸籍住民課", min_length = 1, max_length = 100)]
    pub name: String,
    /// An https URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 24)]
    pub phone: Option<String>,
}

/// Extra closed days one layer of settings may name. Japan has about 243 weekdays a year that
/// are neither national holidays nor 年末年始; 40 more closed days still leave 200 open ones.
pub const MAX_EXTRA_CLOSED_DAYS: usize = 40;

impl MunicipalityOverride {
    /// Checks the settings against the catalog; each problem is named by its path
    /// (`procedures.checkup_3_years.deadline`).
    /// Years a deleted family's submissions are kept.
    pub fn retention_years(&self) -> u8 {
        self.submission_retention_years.unwrap_or(DEFAULT_RETENTION_YEARS)
    }

    pub fn validate(&self, catalog: &Catalog) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.submission_retention_years.is_some_and(|y| !(1..=30).contains(&y)) {
            errors.insert("submission_retention_years".into(), "must be between 1 and 30 years".into());
        }
        if let Some(name) = &self.name {
            if let Err(e) = text::name(name) {
                errors.insert("name".into(), e);
            }
        }
        for (i, day) in self.extra_closed_days.iter().enumerate() {
            if let Err(e) = parse_month_day(day) {
                errors.insert(format!("extra_closed_days[{i}]"), e);
            }
        }
        if self.extra_closed_days.len() > MAX_EXTRA_CLOSED_DAYS {
            errors.insert(
                "extra_closed_days".into(),
                format!(
                    "at most {MAX_EXTRA_CLOSED_DAYS} days a year besides weekends and national holidays: \
                     offices must stay open on about 200 days a year ({} given)",
                    self.extra_closed_days.len()
                ),
            );
        }
        for (id, setting) in &self.procedures {
            let path = format!("procedures.{id}");
            let Some(procedure) = catalog.get(id) else {
                errors.insert(path, format!("'{id}' is not a procedure of the catalog"));
                continue;
            };
            for (part, rule) in
                [("opens", &setting.opens), ("closes", &setting.closes), ("deadline", &setting.deadline)]
            {
                if let Some(rule) = rule {
                    let problem = rule.validate().err().or_else(|| {
                        ((rule.rule == Rule::MonthDay) != (procedure.trigger == Trigger::Yearly))
                            .then(|| "month_day rules go with yearly procedures, and only they".to_owned())
                    });
                    if let Some(problem) = problem {
                        errors.insert(format!("{path}.{part}"), problem);
                    }
                }
            }
            if let Some(channels) = &setting.channels {
                let distinct: std::collections::HashSet<_> = channels.iter().collect();
                if channels.is_empty() || distinct.len() != channels.len() {
                    errors.insert(format!("{path}.channels"), "must name each way of filing once, at least one".into());
                }
            }
            if let Some(office) = &setting.office {
                if let Err(e) = text::name(&office.name) {
                    errors.insert(format!("{path}.office.name"), e.replace("a name", "an office name"));
                }
                if let Some(url) = &office.url {
                    if url.len() > 2048
                        || !url::Url::parse(url).is_ok_and(|u| u.scheme() == "https")
                        || text::readable(url, text::Lines::One).is_err()
                    {
                        errors.insert(
                            format!("{path}.office.url"),
                            "must be an https URL (2048 characters at most)".into(),
                        );
                    }
                }
                if let Some(phone) = &office.phone {
                    if let Err(e) = text::phone(phone) {
                        errors.insert(format!("{path}.office.phone"), e);
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The settings in force for one municipality, all layers merged.
#[derive(Clone, Debug, Default)]
pub struct ResolvedOverride {
    pub extra_closed: Vec<MonthDay>,
    pub procedures: BTreeMap<String, ProcedureOverride>,
}

impl ResolvedOverride {
    /// Merges layers from the widest to the narrowest; a narrower layer wins field by field.
    pub fn merge<'a>(layers: impl IntoIterator<Item = &'a MunicipalityOverride>) -> Self {
        let mut resolved = Self::default();
        for layer in layers {
            for day in &layer.extra_closed_days {
                if let Ok(day) = parse_month_day(day) {
                    if !resolved.extra_closed.contains(&day) {
                        resolved.extra_closed.push(day);
                    }
                }
            }
            for (id, setting) in &layer.procedures {
                let merged = resolved.procedures.entry(id.clone()).or_default();
                // Destructured whole, so that a new setting cannot be left out of the merge.
                let ProcedureOverride { enabled, opens, closes, deadline, office, channels } = setting;
                merged.enabled = enabled.or(merged.enabled);
                merged.opens = opens.clone().or(merged.opens.take());
                merged.closes = closes.clone().or(merged.closes.take());
                merged.deadline = deadline.clone().or(merged.deadline.take());
                merged.office = office.clone().or(merged.office.take());
                merged.channels = channels.clone().or(merged.channels.take());
            }
        }
        resolved
    }

    pub fn procedure(&self, id: &str) -> Option<&ProcedureOverride> {
        self.procedures.get(id)
    }

    /// How the municipality takes a procedure's filing: its settings, else the catalog's.
    pub fn channels<'a>(&'a self, procedure: &'a Procedure) -> &'a [Channel] {
        self.procedure(&procedure.id).and_then(|s| s.channels.as_deref()).unwrap_or(&procedure.channels)
    }
}

/// The municipality settings shipped in `catalog/municipalities.toml`, by key.
#[derive(Clone, Debug, Default)]
pub struct ShippedOverrides(pub BTreeMap<String, MunicipalityOverride>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideFile {
    municipality: BTreeMap<String, MunicipalityOverride>,
}

impl ShippedOverrides {
    pub fn shipped(catalog: &Catalog) -> Self {
        Self::from_toml(include_str!("../../catalog/municipalities.toml"), catalog)
            .unwrap_or_else(|e| panic!("catalog/municipalities.toml: {e}"))
    }

    pub fn from_toml(text: &str, catalog: &Catalog) -> Result<Self, String> {
        let file: OverrideFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for (code, setting) in &file.municipality {
            if !(code.len() == 2 || code.len() == 6) || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("'{code}' is neither a prefecture (2 digits) nor a municipality (6 digits)"));
            }
            setting.validate(catalog).map_err(|errors| format!("{code}: {errors:?}"))?;
        }
        Ok(Self(file.municipality))
    }

    /// The shipped layers for a municipality, widest first: prefecture, 政令市 of a ward, itself.
    pub fn layers(&self, code: &str) -> Vec<&MunicipalityOverride> {
        let mut keys = vec![code.get(..2).unwrap_or_default().to_owned()];
        if let Some(city) = designated_city_of_ward(code) {
            keys.push(city);
        }
        keys.push(code.to_owned());
        keys.iter().filter_map(|k| self.0.get(k)).collect()
    }
}

/// The 政令市 of a ward (行政区): ward codes are PP1CW (third digit 1), the city's is PP1C0.
fn designated_city_of_ward(code: &str) -> Option<String> {
    let digits = code.as_bytes();
    if digits.len() != 6 || digits[2] != b'1' || digits[4] == b'0' {
        return None;
    }
    let first_five = format!("{}0", &code[..4]);
    let mut five = [0u8; 5];
    for (slot, b) in five.iter_mut().zip(first_five.bytes()) {
        *slot = b - b'0';
    }
    Some(format!("{first_five}{}", super::municipality::check_digit(&five)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_merge_from_prefecture_to_ward() {
        let catalog = Catalog::shipped();
        let shipped = ShippedOverrides::shipped(&catalog);
        // 那覇市 (472018) gets 沖縄県's 慰霊の日; 広島市中区 (341011) its city's 平和記念日.
        assert_eq!(ResolvedOverride::merge(shipped.layers("472018")).extra_closed, vec![(6, 23)]);
        assert_eq!(designated_city_of_ward("341011").as_deref(), Some("341002"));
        assert_eq!(ResolvedOverride::merge(shipped.layers("341011")).extra_closed, vec![(8, 6)]);
        assert!(ResolvedOverride::merge(shipped.layers("131016")).extra_closed.is_empty());
        assert_eq!(designated_city_of_ward("132012"), None, "八王子市 is no ward");
    }

    #[test]
    fn a_narrower_layer_wins_field_by_field() {
        let wide: MunicipalityOverride =
            toml::from_str("[procedures.checkup_3_years]\nenabled = false\noffice = { name = \"県\" }\n")
                .expect("toml");
        let narrow: MunicipalityOverride =
            toml::from_str("[procedures.checkup_3_years]\nenabled = true\n").expect("toml");
        let merged = ResolvedOverride::merge([&wide, &narrow]);
        let setting = merged.procedure("checkup_3_years").expect("merged");
        assert_eq!(setting.enabled, Some(true));
        assert_eq!(setting.office.as_ref().map(|o| o.name.as_str()), Some("県"));
    }

    #[test]
    fn bad_settings_are_named_by_path() {
        let catalog = Catalog::shipped();
        let bad: MunicipalityOverride = serde_json::from_value(serde_json::json!({
            "extra_closed_days": ["13-01"],
            "procedures": {
                "no_such_thing": {},
                "checkup_3_years": { "deadline": { "rule": "month_day", "on": "06-01" }, "office": { "name": "", "url": "http://x" } },
                "birth_registration": { "deadline": { "rule": "koseki_days", "n": 0 }, "office": { "name": "窓口", "phone": "1" } }
            }
        }))
        .expect("shape");
        let errors = bad.validate(&catalog).unwrap_err();
        let paths: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "extra_closed_days[0]",
                "procedures.birth_registration.deadline",
                "procedures.birth_registration.office.phone",
                "procedures.checkup_3_years.deadline",
                "procedures.checkup_3_years.office.name",
                "procedures.checkup_3_years.office.url",
                "procedures.no_such_thing",
            ]
        );
    }
}
