//! The family profile as the forms read it: `applicant.full_name`, `child.birth_date`, …
//! (the paths `catalog/forms.toml` names in `from`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::children::Child;
use super::guardians::Guardian;
use crate::domain::enums::{HealthInsurance, Relationship, Sex};

/// Everything a form may copy, for one family and (optionally) one child.
pub struct ProfileInput<'a> {
    pub guardians: &'a [Guardian],
    pub child: Option<&'a Child>,
    pub address: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    pub health_insurance: Option<HealthInsurance>,
    /// The municipality's name (千代田区), for the 宛先.
    pub municipality_name: &'a str,
}

/// The profile values that are known; a path absent from the map has no value yet.
pub fn values(input: &ProfileInput<'_>) -> BTreeMap<&'static str, Value> {
    let mut out = BTreeMap::new();
    // The applicant is the first guardian registered; the spouse, the other one.
    let applicant = input.guardians.first();
    let spouse = input.guardians.get(1);
    let mother = input.guardians.iter().find(|g| g.relationship == Relationship::Mother);
    let father = input.guardians.iter().find(|g| g.relationship == Relationship::Father);
    for (prefix, guardian) in [("applicant", applicant), ("mother", mother), ("father", father), ("spouse", spouse)] {
        let Some(g) = guardian else { continue };
        put(&mut out, prefix, "full_name", Some(Value::from(g.full_name.clone())));
        put(&mut out, prefix, "full_name_kana", g.full_name_kana.clone().map(Value::from));
        put(&mut out, prefix, "birth_date", g.birth_date.map(|d| Value::from(d.to_string())));
        put(&mut out, prefix, "phone", g.phone.clone().map(Value::from));
    }
    if let Some(g) = applicant {
        let relationship = match g.relationship {
            Relationship::Mother => "母",
            Relationship::Father => "父",
            Relationship::Other => "その他",
        };
        out.insert("applicant.relationship_to_child", Value::from(relationship));
    }
    out.insert("spouse.exists", Value::Bool(spouse.is_some()));
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
    out
}

fn put(out: &mut BTreeMap<&'static str, Value>, prefix: &str, name: &str, value: Option<Value>) {
    let Some(value) = value else { return };
    // The paths are the fixed list of `forms::PROFILE_PATHS`; look the static one up.
    let path = format!("{prefix}.{name}");
    if let Some(known) = crate::domain::forms::PROFILE_PATHS.iter().find(|p| **p == path) {
        out.insert(known, value);
    }
}
