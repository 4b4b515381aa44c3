//! 様式: the application forms nonstop pre-fills, loaded from `catalog/forms.toml`.
//!
//! A form lists fields defined once for all forms, so a field shared by several forms (the
//! child's name, the applicant's address) means the same everywhere and is entered once in
//! the birth bundle. Each field says where its value comes from and how a typed value is
//! checked.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::catalog::{Catalog, Names};
use super::{text, PostalCode};

/// The forms of the post-birth bundle (一括申請), in the order a parent reviews them.
pub const BIRTH_BUNDLE: [&str; 7] = [
    "birth_registration",
    "child_allowance_claim",
    "kokuho_enrollment",
    "infant_medical_subsidy",
    "birth_notification_card",
    "low_birth_weight_notification",
    "newborn_my_number_card",
];

crate::text_enum! {
    /// How a field's value is typed and checked.
    pub enum FieldType {
        Text => "text",
        Name => "name",
        Kana => "kana",
        /// `YYYY-MM-DD`.
        Date => "date",
        /// `YYYY-MM`.
        YearMonth => "year_month",
        /// `HH:MM`, 24-hour.
        Time => "time",
        Phone => "phone",
        PostalCode => "postal_code",
        Address => "address",
        /// One of `options`.
        Enum => "enum",
        Bool => "bool",
        Integer => "integer",
        /// ASCII digits (bank and branch codes, account numbers, insurer numbers).
        Digits => "digits",
        /// 個人番号: never filled by nonstop (the municipality obtains it).
        IndividualNumber => "individual_number",
    }
}

/// Where a field's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The parent supplies it.
    Parent,
    /// A value of the family profile (`applicant.full_name`, `child.birth_date`, …).
    Profile(String),
    /// The day the draft is confirmed.
    Today,
    /// A suggested value the parent may change.
    Default,
    /// A value the parent may not change (the reason on a 国保 form: 出生).
    Fixed,
    /// Left for the municipality to obtain through its own channels (個人番号).
    Municipality,
}

impl Source {
    fn parse(from: Option<&str>) -> Self {
        match from {
            None => Self::Parent,
            Some("system.today") => Self::Today,
            Some("default") => Self::Default,
            Some("fixed") => Self::Fixed,
            Some("municipality") => Self::Municipality,
            Some(path) => Self::Profile(path.to_owned()),
        }
    }

    /// The parent may type over it.
    pub fn editable(&self) -> bool {
        matches!(self, Self::Parent | Self::Profile(_) | Self::Default)
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Parent => "parent".into(),
            Self::Profile(path) => path.clone(),
            Self::Today => "system.today".into(),
            Self::Default => "default".into(),
            Self::Fixed => "fixed".into(),
            Self::Municipality => "municipality".into(),
        }
    }
}

/// PROFILE paths a field may name (checked when the forms load).
pub const PROFILE_PATHS: [&str; 46] = [
    "applicant.full_name",
    "applicant.full_name_kana",
    "applicant.birth_date",
    "applicant.phone",
    "applicant.relationship_to_child",
    "mother.full_name",
    "mother.full_name_kana",
    "mother.birth_date",
    "mother.phone",
    "mother.nationality",
    "father.full_name",
    "father.full_name_kana",
    "father.birth_date",
    "father.phone",
    "father.nationality",
    "spouse.exists",
    "spouse.full_name",
    "spouse.birth_date",
    "child.full_name",
    "child.full_name_kana",
    "child.birth_date",
    "child.due_date",
    "child.sex",
    "child.birth_weight_grams",
    "child.gestation_weeks",
    "birth.time",
    "birth.place",
    "child.legitimacy",
    "child.born_in_census_year",
    "child.surname_kana",
    "child.birth_order",
    "family.address",
    "family.postal_code",
    "family.addressee",
    "family.health_insurance",
    "family.pension",
    "family.registered_domicile",
    "family.family_register_head",
    "family.household_main_work",
    "family.use_public_benefit_account",
    "family.insurer_number",
    "family.insurance_enrolment_pending",
    "family.japanese_parent",
    "family.other_children_count",
    "consent.public_records_check",
    "consent.health_information",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    ja: String,
    en: String,
    /// Why the form asks it, in words for the parent.
    why: Names,
    #[serde(rename = "type")]
    kind: FieldType,
    from: Option<String>,
    value: Option<Value>,
    #[serde(default)]
    check: bool,
    #[serde(default)]
    options: Vec<String>,
    min: Option<i64>,
    max: Option<i64>,
    length: Option<usize>,
    min_length: Option<usize>,
    max_length: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormFile {
    id: String,
    version: u32,
    name: Names,
    legal_basis: String,
    source: String,
    fields: Vec<String>,
    required: Vec<String>,
    #[serde(default)]
    required_when: Vec<RequiredWhen>,
    #[serde(default)]
    own_fields: BTreeMap<String, FieldFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormsFile {
    field: BTreeMap<String, FieldFile>,
    form: Vec<FormFile>,
}

/// Fields that become required when another field has a value.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequiredWhen {
    pub when: String,
    #[schema(value_type = Value)]
    pub is: Value,
    pub fields: Vec<String>,
}

/// One field of a form.
#[derive(Clone, Debug)]
pub struct FieldDef {
    pub id: String,
    pub label: Names,
    /// Why the form asks it, for the parent (shown where nonstop asks for a missing value).
    pub why: Names,
    pub kind: FieldType,
    pub source: Source,
    /// The value of a `default` or `fixed` field.
    pub value: Option<Value>,
    /// Ask the parent to confirm a derived value.
    pub check: bool,
    pub options: Vec<String>,
    min: Option<i64>,
    max: Option<i64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
}

/// One form, at one version.
#[derive(Clone, Debug)]
pub struct Form {
    /// The procedure it is filed for (the same id).
    pub id: String,
    pub version: u32,
    pub name: Names,
    pub legal_basis: String,
    pub source: String,
    pub fields: Vec<FieldDef>,
    required: BTreeSet<String>,
    required_when: Vec<RequiredWhen>,
}

impl Form {
    pub fn field(&self, id: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.id == id)
    }

    /// Whether `field` must have a value, given the other values.
    pub fn is_required(&self, field: &str, values: &BTreeMap<String, Value>) -> bool {
        self.required.contains(field)
            || self
                .required_when
                .iter()
                .any(|r| r.fields.iter().any(|f| f == field) && values.get(&r.when) == Some(&r.is))
    }
}

/// Every form nonstop knows, by procedure id.
#[derive(Clone, Debug)]
pub struct FormCatalog {
    forms: BTreeMap<String, Form>,
}

impl FormCatalog {
    /// The forms built into the binary.
    pub fn shipped(catalog: &Catalog) -> Self {
        Self::from_toml(include_str!("../../catalog/forms.toml"), catalog)
            .unwrap_or_else(|e| panic!("catalog/forms.toml: {e}"))
    }

    /// Parses and checks the forms; errors name the form and the field.
    pub fn from_toml(text: &str, catalog: &Catalog) -> Result<Self, String> {
        let file: FormsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut forms = BTreeMap::new();
        for form in file.form {
            let id = form.id.clone();
            let built = build_form(form, &file.field, catalog).map_err(|e| format!("form '{id}': {e}"))?;
            if forms.insert(id.clone(), built).is_some() {
                return Err(format!("form '{id}' appears twice"));
            }
        }
        Ok(Self { forms })
    }

    pub fn get(&self, id: &str) -> Option<&Form> {
        self.forms.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.forms.keys().map(String::as_str)
    }

    pub fn all(&self) -> impl Iterator<Item = &Form> {
        self.forms.values()
    }
}

fn build_form(form: FormFile, shared: &BTreeMap<String, FieldFile>, catalog: &Catalog) -> Result<Form, String> {
    if catalog.get(&form.id).is_none() {
        return Err("no procedure of the catalog has this id".into());
    }
    let mut fields = Vec::new();
    let mut seen = BTreeSet::new();
    for id in &form.fields {
        if !seen.insert(id.clone()) {
            return Err(format!("field '{id}' is listed twice"));
        }
        if shared.contains_key(id) && form.own_fields.contains_key(id) {
            return Err(format!("field '{id}' is both shared and the form's own"));
        }
        let def =
            form.own_fields.get(id).or_else(|| shared.get(id)).ok_or_else(|| format!("field '{id}' is not defined"))?;
        fields.push(build_field(id, def).map_err(|e| format!("field '{id}': {e}"))?);
    }
    if let Some(unused) = form.own_fields.keys().find(|id| !seen.contains(*id)) {
        return Err(format!("own field '{unused}' is not listed in fields"));
    }
    let required: BTreeSet<String> = form.required.into_iter().collect();
    let conditional = form.required_when.iter().flat_map(|r| r.fields.iter().chain(std::iter::once(&r.when)));
    if let Some(unknown) = required.iter().chain(conditional).find(|id| !seen.contains(*id)) {
        return Err(format!("'{unknown}' is required but not among the fields"));
    }
    if let Some(f) = fields.iter().find(|f| f.kind == FieldType::IndividualNumber && required.contains(&f.id)) {
        return Err(format!("'{}' is an individual number, which nonstop never fills, so it cannot be required", f.id));
    }
    Ok(Form {
        id: form.id,
        version: form.version,
        name: form.name,
        legal_basis: form.legal_basis,
        source: form.source,
        fields,
        required,
        required_when: form.required_when,
    })
}

fn build_field(id: &str, def: &FieldFile) -> Result<FieldDef, String> {
    let source = Source::parse(def.from.as_deref());
    if let Source::Profile(path) = &source {
        if !PROFILE_PATHS.contains(&path.as_str()) {
            return Err(format!("unknown profile value '{path}'"));
        }
    }
    if (def.kind == FieldType::Enum) == def.options.is_empty() {
        return Err("options are given for enum fields, and only for them".into());
    }
    if (def.kind == FieldType::IndividualNumber) != (source == Source::Municipality) {
        return Err("an individual number is left for the municipality, and only it".into());
    }
    let field = FieldDef {
        id: id.to_owned(),
        label: Names { ja: def.ja.clone(), en: def.en.clone() },
        why: def.why.clone(),
        kind: def.kind,
        source,
        value: def.value.clone(),
        check: def.check,
        options: def.options.clone(),
        min: def.min,
        max: def.max,
        min_length: def.length.or(def.min_length),
        max_length: def.length.or(def.max_length),
    };
    match (&field.source, &field.value) {
        (Source::Default | Source::Fixed, Some(value)) => {
            field.parse(value).map_err(|e| format!("value: {e}"))?;
        }
        (Source::Default | Source::Fixed, None) => return Err("a default or fixed field needs a value".into()),
        (_, Some(_)) => return Err("only default and fixed fields have a value".into()),
        _ => {}
    }
    Ok(field)
}

impl FieldDef {
    /// Checks a value for this field and returns it as stored (trimmed, normalized).
    pub fn parse(&self, value: &Value) -> Result<Value, String> {
        let as_str = || value.as_str().ok_or_else(|| "must be a string".to_owned());
        let parsed = match self.kind {
            FieldType::Text => {
                let s = as_str()?.trim().to_owned();
                if s.is_empty() || s.chars().count() > 200 {
                    return Err("must be 1 to 200 characters".into());
                }
                text::readable(&s, text::Lines::One)?;
                Value::String(text::no_individual_number(s)?)
            }
            FieldType::Name => Value::String(text::no_individual_number(text::name(as_str()?)?)?),
            FieldType::Kana => Value::String(text::kana(as_str()?)?),
            FieldType::Address => Value::String(text::address(as_str()?)?),
            FieldType::Phone => Value::String(text::phone(as_str()?)?),
            FieldType::PostalCode => Value::String(PostalCode::parse(as_str()?)?.as_str().to_owned()),
            FieldType::Date => {
                let s = as_str()?;
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "must be a date as YYYY-MM-DD")?;
                Value::String(s.to_owned())
            }
            FieldType::YearMonth => {
                let s = as_str()?;
                chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
                    .map_err(|_| "must be a year and month as YYYY-MM")?;
                Value::String(s.to_owned())
            }
            FieldType::Time => {
                let s = as_str()?;
                if s.len() != 5 || chrono::NaiveTime::parse_from_str(s, "%H:%M").is_err() {
                    return Err("must be a time as HH:MM (24-hour)".into());
                }
                Value::String(s.to_owned())
            }
            FieldType::Enum => {
                let s = as_str()?;
                if !self.options.iter().any(|o| o == s) {
                    return Err(format!("must be one of: {}", self.options.join(", ")));
                }
                Value::String(s.to_owned())
            }
            FieldType::Bool => Value::Bool(value.as_bool().ok_or("must be true or false")?),
            FieldType::Integer => {
                let n = value.as_i64().ok_or("must be a whole number")?;
                if self.min.is_some_and(|m| n < m) || self.max.is_some_and(|m| n > m) {
                    return Err(format!(
                        "must be between {} and {}",
                        self.min.unwrap_or(i64::MIN),
                        self.max.unwrap_or(i64::MAX)
                    ));
                }
                Value::from(n)
            }
            FieldType::Digits => {
                let s: String = as_str()?
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '-'))
                    .map(|c| match c {
                        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                        c => c,
                    })
                    .collect();
                let (min, max) = (self.min_length.unwrap_or(1), self.max_length.unwrap_or(20));
                if !s.chars().all(|c| c.is_ascii_digit()) || s.len() < min || s.len() > max {
                    return Err(if min == max {
                        format!("must be {min} digits")
                    } else {
                        format!("must be {min} to {max} digits")
                    });
                }
                Value::String(s)
            }
            FieldType::IndividualNumber => {
                return Err(
                    "nonstop does not collect or keep a 個人番号 (番号法 第20条); the municipality obtains it".into()
                )
            }
        };
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms() -> FormCatalog {
        FormCatalog::shipped(&Catalog::shipped())
    }

    #[test]
    fn the_forms_ask_what_the_law_asks_in_each_case() {
        let forms = forms();
        let values = |pairs: &[(&str, Value)]| -> BTreeMap<String, Value> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
        };
        // 出生届: 本籍 for a child of a Japanese parent; 国籍 in its place when neither is Japanese
        // (戸籍法施行規則 第55条); 父母の職業 only in a 国勢調査 year; 続き柄 and 氏のよみかた always.
        let birth = forms.get("birth_registration").expect("出生届");
        let japanese = values(&[("japanese_parent", Value::Bool(true)), ("census_year", Value::Bool(false))]);
        let foreign = values(&[("japanese_parent", Value::Bool(false)), ("census_year", Value::Bool(true))]);
        assert!(birth.is_required("honseki", &japanese) && !birth.is_required("mother.nationality", &japanese));
        assert!(!birth.is_required("honseki", &foreign) && birth.is_required("mother.nationality", &foreign));
        assert!(!birth.is_required("father_occupation", &japanese) && birth.is_required("mother_occupation", &foreign));
        for always in ["birth_order", "surname_kana", "legitimacy"] {
            assert!(birth.is_required(always, &japanese), "{always}");
        }
        // 児童手当: the other children, the 多子加算 count, 1月1日の住所 after a move, and the
        // ゆうちょ 記号・番号 next to the 7-digit account.
        let claim = forms.get("child_allowance_claim").expect("児童手当");
        let plain =
            values(&[("moved_since_january_1", Value::Bool(false)), ("payment.bank_code", Value::from("0005"))]);
        let moved_yucho =
            values(&[("moved_since_january_1", Value::Bool(true)), ("payment.bank_code", Value::from("9900"))]);
        for field in ["other_children", "young_adults_supported", "moved_since_january_1"] {
            assert!(claim.is_required(field, &plain), "{field}");
        }
        assert!(
            !claim.is_required("address_on_january_1", &plain)
                && claim.is_required("address_on_january_1", &moved_yucho)
        );
        assert!(
            !claim.is_required("payment.yucho_symbol", &plain)
                && claim.is_required("payment.yucho_number", &moved_yucho)
        );
        // 出生連絡票: 里帰り先 when the family is away.
        let card = forms.get("birth_notification_card").expect("出生連絡票");
        let away = values(&[("homecoming", Value::Bool(true))]);
        assert!(
            card.is_required("homecoming_address", &away) && !card.is_required("homecoming_address", &BTreeMap::new())
        );
    }

    #[test]
    fn the_shipped_forms_load_and_cover_the_issue_list() {
        let forms = forms();
        for id in [
            "birth_registration",
            "child_allowance_claim",
            "kokuho_enrollment",
            "infant_medical_subsidy",
            "birth_notification_card",
            "low_birth_weight_notification",
            "child_allowance_status_report",
            "child_support_allowance_status_report",
            "pregnancy_notification",
            "newborn_my_number_card",
        ] {
            assert!(forms.get(id).is_some(), "{id}");
        }
        for id in BIRTH_BUNDLE {
            assert!(forms.get(id).is_some(), "{id}");
        }
    }

    #[test]
    fn shared_fields_are_the_same_in_every_form() {
        let forms = forms();
        let a = forms.get("child_allowance_claim").unwrap().field("child.name").unwrap().clone();
        let b = forms.get("kokuho_enrollment").unwrap().field("child.name").unwrap().clone();
        assert_eq!((a.label, a.kind, a.source), (b.label, b.kind, b.source));
    }

    #[test]
    fn a_broken_forms_file_is_refused_naming_the_form_and_field() {
        let catalog = Catalog::shipped();
        let text = include_str!("../../catalog/forms.toml");
        let unknown_field = text.replacen(
            "\"filed_on\", \"addressee\", \"consent.public_records\",",
            "\"filed_on\", \"addressee\", \"nope\",",
            1,
        );
        let err = FormCatalog::from_toml(&unknown_field, &catalog).unwrap_err();
        assert!(err.contains("child_allowance_claim") && err.contains("'nope'"), "{err}");
        let required_number = text.replacen("\"applicant.birth_date\", \"applicant.relationship\", \"applicant.phone\", \"pension\",", "\"applicant.birth_date\", \"applicant.relationship\", \"applicant.phone\", \"pension\", \"applicant.individual_number\",", 1);
        let err = FormCatalog::from_toml(&required_number, &catalog).unwrap_err();
        assert!(err.contains("individual number"), "{err}");
        let bad_profile = text.replacen("from = \"child.full_name\"", "from = \"child.nickname\"", 1);
        assert!(FormCatalog::from_toml(&bad_profile, &catalog).unwrap_err().contains("child.nickname"));
    }

    #[test]
    fn values_are_checked_by_type() {
        let forms = forms();
        let form = forms.get("child_allowance_claim").unwrap();
        let field = |id: &str| form.field(id).unwrap();
        assert_eq!(field("payment.account_number").parse(&"１２３-４５６７".into()).unwrap(), Value::from("1234567"));
        assert_eq!(field("payment.account_number").parse(&"123456".into()).unwrap_err(), "must be 7 digits");
        assert!(field("payment.account_type").parse(&"貯蓄".into()).unwrap_err().contains("普通"));
        assert!(field("applicant.individual_number").parse(&"123456789018".into()).is_err());
        assert!(field("payment.bank_name").parse(&"123456789018".into()).unwrap_err().contains("individual number"));
        assert!(field("child.birth_date").parse(&"2026-02-30".into()).is_err());
        assert!(field("consent.public_records").parse(&"yes".into()).is_err());
    }

    #[test]
    fn conditions_make_fields_required() {
        let forms = forms();
        let form = forms.get("child_allowance_claim").unwrap();
        let mut values = BTreeMap::new();
        assert!(!form.is_required("payment.account_number", &values));
        values.insert("payment.use_public_account".to_owned(), Value::Bool(false));
        assert!(form.is_required("payment.account_number", &values));
        values.insert("payment.use_public_account".to_owned(), Value::Bool(true));
        assert!(!form.is_required("payment.account_number", &values));
    }
}
