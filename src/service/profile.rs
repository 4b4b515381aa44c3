//! The family profile as the forms read it: `applicant.full_name`, `child.birth_date`, …
//! (the paths `catalog/forms.toml` names in `from`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::children::Child;
use super::guardians::Guardian;
use super::paperwork::Paperwork;
use crate::domain::enums::{ConsentPurpose, HealthInsurance, HouseholdMainWork, Legitimacy, Relationship, Sex};

/// Everything a form may copy, for one family and (optionally) one child.
pub struct ProfileInput<'a> {
    pub guardians: &'a [Guardian],
    pub child: Option<&'a Child>,
    /// Every child of the family (the claim counts the others).
    pub children: &'a [Child],
    pub address: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    pub health_insurance: Option<HealthInsurance>,
    /// ひとり親: the household said it has no spouse.
    pub single_parent: bool,
    /// The municipality's name (千代田区), for the 宛先.
    pub municipality_name: &'a str,
    pub paperwork: &'a Paperwork,
    /// The standing consents in force.
    pub consents: &'a [ConsentPurpose],
}

/// The profile values that are known; a path absent from the map has no value yet.
pub fn values(input: &ProfileInput<'_>) -> BTreeMap<&'static str, Value> {
    let mut out = BTreeMap::new();
    let applicant = guardian_for("applicant", input.guardians);
    let spouse = guardian_for("spouse", input.guardians);
    for prefix in GUARDIAN_ROLES {
        let Some(g) = guardian_for(prefix, input.guardians) else { continue };
        put(&mut out, prefix, "full_name", Some(Value::from(g.full_name.clone())));
        put(&mut out, prefix, "full_name_kana", g.full_name_kana.clone().map(Value::from));
        put(&mut out, prefix, "birth_date", g.birth_date.map(|d| Value::from(d.to_string())));
        put(&mut out, prefix, "phone", g.phone.clone().map(Value::from));
        put(&mut out, prefix, "nationality", g.nationality.clone().map(Value::from));
    }
    // 国籍法 第2条: a Japanese parent makes the child Japanese and it enters that parent's 戸籍.
    // Only when every guardian's nationality is known and none is Japanese is the answer no.
    let all_foreign = crate::domain::text::no_japanese_parent(input.guardians.iter().map(|g| g.nationality.as_deref()));
    out.insert("family.japanese_parent", Value::Bool(!all_foreign));
    if let Some(g) = applicant {
        let relationship = match g.relationship {
            Relationship::Mother => "母",
            Relationship::Father => "父",
            Relationship::Other => "その他",
        };
        out.insert("applicant.relationship_to_child", Value::from(relationship));
    }
    // 配偶者: the other guardian; or, with only one registered, married parents have one (the
    // father of a married couple need not be registered for the mother to name him), and a
    // single-parent household has none. Otherwise it is asked, never pre-filled as "none".
    let married = input.paperwork.parents_married == Some(true);
    let spouse_exists = if spouse.is_some() || married { Some(true) } else { input.single_parent.then_some(false) };
    put(&mut out, "spouse", "exists", spouse_exists.map(Value::Bool));
    // A married couple's 戸籍 is headed by one of the two: when its 筆頭者 is not the applicant,
    // the 筆頭者 is the applicant's spouse.
    let head = input.paperwork.family_register_head.as_deref();
    if spouse.is_none() && married {
        let head = head.filter(|head| applicant.is_none_or(|a| !same_name(&a.full_name, head)));
        put(&mut out, "spouse", "full_name", head.map(Value::from));
    }
    if let Some(c) = input.child {
        put(&mut out, "child", "full_name", c.full_name.clone().map(Value::from));
        put(&mut out, "child", "full_name_kana", c.full_name_kana.clone().map(Value::from));
        put(&mut out, "child", "birth_date", c.birth_date.map(|d| Value::from(d.to_string())));
        put(&mut out, "child", "due_date", c.due_date.map(|d| Value::from(d.to_string())));
        put(&mut out, "child", "birth_weight_grams", c.birth_weight_grams.map(Value::from));
        let sex = c.sex.map(|s| match s {
            Sex::Female => "女",
            Sex::Male => "男",
        });
        put(&mut out, "child", "sex", sex.map(Value::from));
        // 在胎週数 is health information: offered only under the family's consent to keep it.
        let health = input.consents.contains(&ConsentPurpose::HealthInformation);
        put(&mut out, "child", "gestation_weeks", gestation_weeks(c).filter(|_| health).map(Value::from));
        let details = &c.birth_details;
        put(&mut out, "birth", "time", details.birth_time.clone().map(Value::from));
        put(&mut out, "birth", "place", details.birth_place.clone().map(Value::from));
        // Given with the birth, or else from whether the parents are married (never guessed).
        let legitimacy = details.legitimacy.or(match input.paperwork.parents_married {
            Some(true) => Some(Legitimacy::BornInMarriage),
            Some(false) => Some(Legitimacy::BornOutsideMarriage),
            None => None,
        });
        let legitimacy = legitimacy.map(|l| match l {
            Legitimacy::BornInMarriage => "嫡出子",
            Legitimacy::BornOutsideMarriage => "嫡出でない子",
        });
        put(&mut out, "child", "legitimacy", legitimacy.map(Value::from));
        put(&mut out, "child", "born_in_census_year", c.birth_date.map(|d| Value::Bool(born_in_census_year(d))));
        // 氏のよみかた: the kana before the space that separates surname and given name.
        let surname = c.full_name_kana.as_deref().and_then(|k| k.split([' ', '\u{3000}']).next().filter(|s| *s != k));
        put(&mut out, "child", "surname_kana", surname.map(Value::from));
        put(&mut out, "child", "birth_order", birth_order(c, legitimacy, input.children).map(Value::from));
        if let Some(born) = c.birth_date {
            // The other children the claim lists: born, and not past the 31 March after turning 18.
            let others = input
                .children
                .iter()
                .filter(|o| o.id != c.id)
                .filter_map(|o| o.birth_date)
                .filter(|&b| b <= born && born <= crate::domain::periods::first_march_31_after_reaching(b, 18))
                .count();
            out.insert("family.other_children_count", Value::from(others));
        }
    }
    put(&mut out, "family", "address", input.address.map(Value::from));
    put(&mut out, "family", "postal_code", input.postal_code.map(Value::from));
    out.insert("family.addressee", Value::from(format!("{}長", input.municipality_name)));
    let (insurance, pension) = match input.health_insurance {
        Some(HealthInsurance::National) => (Some("国民健康保険"), Some("非被用者（国民年金）")),
        Some(HealthInsurance::Employee) => (Some("被用者保険（健保・共済）"), Some("被用者（厚生年金等）")),
        None => (None, None),
    };
    put(&mut out, "family", "health_insurance", insurance.map(Value::from));
    put(&mut out, "family", "pension", pension.map(Value::from));
    let facts = input.paperwork;
    put(&mut out, "family", "registered_domicile", facts.registered_domicile.clone().map(Value::from));
    put(&mut out, "family", "family_register_head", facts.family_register_head.clone().map(Value::from));
    put(&mut out, "family", "household_main_work", facts.household_main_work.map(|w| Value::from(main_work_option(w))));
    put(&mut out, "family", "use_public_benefit_account", facts.use_public_benefit_account.map(Value::from));
    put(&mut out, "family", "insurer_number", facts.insurer_number.clone().map(Value::from));
    put(&mut out, "family", "insurance_enrolment_pending", facts.insurance_pending().map(Value::from));
    for purpose in input.consents {
        out.insert(crate::service::consents::profile_path(*purpose), Value::Bool(true));
    }
    out
}

/// Whether two written names are the same person's name, spaces aside (山田 太郎 = 山田太郎).
fn same_name(a: &str, b: &str) -> bool {
    let bare = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    bare(a) == bare(b)
}

/// The roles a form names guardians by.
pub const GUARDIAN_ROLES: [&str; 4] = ["applicant", "mother", "father", "spouse"];

/// The guardian a form means by `role`: the applicant is the first guardian registered; the
/// spouse, the other one; the mother and father by their relationship.
pub fn guardian_for<'a>(role: &str, guardians: &'a [Guardian]) -> Option<&'a Guardian> {
    match role {
        "applicant" => guardians.first(),
        "spouse" => guardians.get(1),
        "mother" => guardians.iter().find(|g| g.relationship == Relationship::Mother),
        "father" => guardians.iter().find(|g| g.relationship == Relationship::Father),
        _ => None,
    }
}

/// The household's main work that a 出生届 option names.
pub fn main_work_of_option(option: &str) -> Option<HouseholdMainWork> {
    HouseholdMainWork::ALL.iter().copied().find(|w| main_work_option(*w) == option)
}

/// The 出生届's option for the household's main work.
fn main_work_option(work: HouseholdMainWork) -> &'static str {
    match work {
        HouseholdMainWork::Farming => "1 農業",
        HouseholdMainWork::SelfEmployed => "2 自営業",
        HouseholdMainWork::EmployeeSmallEmployer => "3 勤労者（従業者1〜99人）",
        HouseholdMainWork::EmployeeOther => "4 勤労者（3以外）・役員",
        HouseholdMainWork::OtherWork => "5 その他の仕事",
        HouseholdMainWork::NoOneWorking => "6 仕事をしている者のいない世帯",
    }
}

/// 父母との続き柄 as the 出生届 writes it: for a child born in marriage, its place among the
/// family's children of the same sex born before it (長男, 二女, …; the parent checks it, since a
/// family's children need not share both parents); otherwise 男 or 女.
fn birth_order(child: &Child, legitimacy: Option<&str>, children: &[Child]) -> Option<String> {
    const ORDINALS: [&str; 5] = ["長", "二", "三", "四", "五"];
    let sex = child.sex?;
    let word = match sex {
        Sex::Male => "男",
        Sex::Female => "女",
    };
    match legitimacy? {
        "嫡出子" => {
            let born = child.birth_date?;
            let older = children
                .iter()
                .filter(|o| o.id != child.id && o.sex == Some(sex) && o.birth_date.is_some_and(|b| b < born))
                .count();
            ORDINALS.get(older).map(|ordinal| format!("{ordinal}{word}"))
        }
        _ => Some(word.to_owned()),
    }
}

/// Whether a birth falls in a 国勢調査 year's fiscal year (1 April of a year divisible by 5 to
/// the next 31 March), when the 出生届 asks the parents' occupations (人口動態調査令施行細則).
pub fn born_in_census_year(birth: chrono::NaiveDate) -> bool {
    use chrono::Datelike;
    let fiscal_year = if birth.month() >= 4 { birth.year() } else { birth.year() - 1 };
    fiscal_year % 5 == 0
}

/// 在胎週数 (満週数) from the due date: the due date is 40 weeks 0 days (280 days), so a birth
/// `n` days before it is at 280 − n days. Only a plausible count (20–45 weeks) is offered, and the
/// form asks the parent to check it.
pub fn gestation_weeks(child: &Child) -> Option<i64> {
    let days = 280 - (child.due_date? - child.birth_date?).num_days();
    let weeks = days.div_euclid(7);
    (20..=45).contains(&weeks).then_some(weeks)
}

fn put(out: &mut BTreeMap<&'static str, Value>, prefix: &str, name: &str, value: Option<Value>) {
    let Some(value) = value else { return };
    // The paths are the fixed list of `forms::PROFILE_PATHS`; look the static one up.
    let path = format!("{prefix}.{name}");
    if let Some(known) = crate::domain::forms::PROFILE_PATHS.iter().find(|p| **p == path) {
        out.insert(known, value);
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::enums::ChildStatus;

    fn child(due: &str, born: &str) -> Child {
        Child {
            id: "c".into(),
            status: ChildStatus::Born,
            due_date: Some(due.parse::<NaiveDate>().expect("date")),
            birth_date: Some(born.parse::<NaiveDate>().expect("date")),
            birth_weight_grams: None,
            full_name: None,
            full_name_kana: None,
            sex: None,
            birth_details: Default::default(),
            created_at: Default::default(),
            updated_at: Default::default(),
        }
    }

    #[test]
    fn gestation_counts_completed_weeks_back_from_the_due_date() {
        assert_eq!(gestation_weeks(&child("2027-03-01", "2027-03-01")), Some(40), "on the due date: 40w0d");
        assert_eq!(gestation_weeks(&child("2027-03-01", "2027-02-23")), Some(39), "6 days early: 274 days, 39w1d");
        assert_eq!(gestation_weeks(&child("2027-03-01", "2027-02-22")), Some(39), "7 days early: 39w0d");
        assert_eq!(gestation_weeks(&child("2027-03-01", "2027-02-21")), Some(38), "8 days early: 38w6d");
        assert_eq!(gestation_weeks(&child("2027-03-01", "2027-03-08")), Some(41), "a week late");
        assert_eq!(gestation_weeks(&child("2027-03-01", "2026-10-01")), None, "implausible: not offered");
    }

    #[test]
    fn the_parents_occupations_are_asked_for_births_in_a_census_fiscal_year() {
        // 2025 and 2030 are 国勢調査 years: births from 1 April to the next 31 March.
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        assert!(!born_in_census_year(day("2025-03-31")));
        assert!(born_in_census_year(day("2025-04-01")));
        assert!(born_in_census_year(day("2026-03-31")));
        assert!(!born_in_census_year(day("2026-04-01")));
        assert!(born_in_census_year(day("2030-12-24")));
    }

    fn guardian(relationship: Relationship, nationality: Option<&str>) -> Guardian {
        Guardian {
            id: format!("{relationship:?}"),
            relationship,
            full_name: "山田 花子".into(),
            full_name_kana: None,
            birth_date: None,
            phone: None,
            nationality: nationality.map(Into::into),
            created_at: Default::default(),
            updated_at: Default::default(),
        }
    }

    fn profile<'a>(
        guardians: &'a [Guardian],
        child: &'a Child,
        children: &'a [Child],
        paperwork: &'a Paperwork,
    ) -> BTreeMap<&'static str, Value> {
        profile_of(guardians, child, children, paperwork, false)
    }

    fn profile_of<'a>(
        guardians: &'a [Guardian],
        child: &'a Child,
        children: &'a [Child],
        paperwork: &'a Paperwork,
        single_parent: bool,
    ) -> BTreeMap<&'static str, Value> {
        values(&ProfileInput {
            guardians,
            child: Some(child),
            children,
            address: None,
            postal_code: None,
            health_insurance: None,
            single_parent,
            municipality_name: "千代田区",
            paperwork,
            consents: &[],
        })
    }

    #[test]
    fn the_birth_registration_and_the_claim_read_nationality_order_reading_and_siblings_from_the_profile() {
        let married = Paperwork { parents_married: Some(true), ..Default::default() };
        let mut older = child("2022-06-01", "2022-06-01");
        older.id = "older".into();
        older.sex = Some(Sex::Female);
        let mut baby = child("2027-03-01", "2027-02-20");
        baby.sex = Some(Sex::Female);
        baby.full_name_kana = Some("ヤマダ サクラ".into());
        let family = [older, baby];
        let baby = &family[1];
        // 国籍法 第2条: one Japanese parent, or one whose nationality is not known, asks for 本籍.
        let mixed = [guardian(Relationship::Mother, Some("VN")), guardian(Relationship::Father, Some("JP"))];
        let foreign = [guardian(Relationship::Mother, Some("VN")), guardian(Relationship::Father, Some("PH"))];
        let unknown = [guardian(Relationship::Mother, Some("VN")), guardian(Relationship::Father, None)];
        assert_eq!(profile(&mixed, baby, &family, &married)["family.japanese_parent"], Value::Bool(true));
        assert_eq!(profile(&unknown, baby, &family, &married)["family.japanese_parent"], Value::Bool(true));
        let values = profile(&foreign, baby, &family, &married);
        assert_eq!(values["family.japanese_parent"], Value::Bool(false));
        assert_eq!(values["mother.nationality"], Value::from("VN"));
        // 続き柄: the second daughter of married parents; 氏のよみかた from the name's kana.
        assert_eq!(values["child.birth_order"], Value::from("二女"));
        assert_eq!(values["child.surname_kana"], Value::from("ヤマダ"));
        assert_eq!(values["family.other_children_count"], Value::from(1));
        assert_eq!(values["child.born_in_census_year"], Value::Bool(false), "2026-04 to 2027-03 is not a census year");
        let unmarried = Paperwork { parents_married: Some(false), ..Default::default() };
        assert_eq!(profile(&foreign, baby, &family, &unmarried)["child.birth_order"], Value::from("女"));
    }

    #[test]
    fn the_spouse_follows_the_profile_and_is_never_guessed_away() {
        let children = [child("2027-03-01", "2027-02-20")];
        let baby = &children[0];
        let mother = [guardian(Relationship::Mother, Some("JP"))];
        let mut father = guardian(Relationship::Father, Some("JP"));
        father.full_name = "山田 太郎".into();
        let father = [father];
        let head_is_father = |married| Paperwork {
            parents_married: married,
            family_register_head: Some("山田太郎".into()),
            ..Default::default()
        };
        // Married, the 筆頭者 the father, only the mother registered: she has a spouse, him.
        let values = profile(&mother, baby, &children, &head_is_father(Some(true)));
        assert_eq!(values["spouse.exists"], Value::Bool(true));
        assert_eq!(values["spouse.full_name"], Value::from("山田太郎"));
        // The father applies and is the 筆頭者: he has a spouse, whose name is not his.
        let values = profile(&father, baby, &children, &head_is_father(Some(true)));
        assert_eq!(values["spouse.exists"], Value::Bool(true));
        assert!(!values.contains_key("spouse.full_name"));
        // Not known to be married: asked, not pre-filled as "none".
        let values = profile(&mother, baby, &children, &head_is_father(None));
        assert!(!values.contains_key("spouse.exists") && !values.contains_key("spouse.full_name"));
        // A single-parent household has none.
        let single = profile_of(&mother, baby, &children, &head_is_father(None), true);
        assert_eq!(single["spouse.exists"], Value::Bool(false));
    }

    #[test]
    fn every_household_main_work_is_an_option_of_the_birth_registration_and_back() {
        for work in HouseholdMainWork::ALL {
            assert_eq!(main_work_of_option(main_work_option(*work)), Some(*work));
        }
        assert_eq!(main_work_of_option("7 その他"), None);
    }
}
