//! Pre-filling: each field's value from the family profile (or the system, a default, a fixed
//! text), as the form's definition says.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::Value;

use super::{Content, Entry, Origin};
use crate::crypto::KeyRing;
use crate::db::rows::FamilyRow;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::enums::ConsentPurpose;
use crate::domain::enums::HealthInsurance;
use crate::domain::forms::{Form, Source};
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::service::paperwork::Paperwork;
use crate::service::{children, consents, guardians, profile};

/// Fills every field nonstop fills from `profile`, leaving what the parent typed alone.
/// Returns whether anything changed.
pub fn prefill(form: &Form, profile: &BTreeMap<&'static str, Value>, content: &mut Content, today: NaiveDate) -> bool {
    let mut changed = false;
    for def in &form.fields {
        if let Some(typed) = content.values.get(&def.id).filter(|e| e.origin == Origin::Parent) {
            let differs = match &def.source {
                Source::Profile(path) => {
                    profile.get(path.as_str()).and_then(|v| def.parse(v).ok()).filter(|v| *v != typed.value)
                }
                _ => None,
            };
            let before = content.profile_values.get(&def.id).cloned();
            if before != differs {
                changed = true;
                match differs {
                    Some(v) => content.profile_values.insert(def.id.clone(), v),
                    None => content.profile_values.remove(&def.id),
                };
            }
            continue;
        }
        if content.profile_values.remove(&def.id).is_some() {
            changed = true;
        }
        let fresh = match &def.source {
            Source::Profile(path) => profile
                .get(path.as_str())
                .and_then(|v| def.parse(v).ok())
                .map(|value| Entry { value, origin: Origin::of_profile_path(path) }),
            Source::Today => Some(Entry { value: Value::from(today.to_string()), origin: Origin::System }),
            Source::Default => def.value.clone().map(|value| Entry { value, origin: Origin::Default }),
            Source::Fixed => def.value.clone().map(|value| Entry { value, origin: Origin::Fixed }),
            Source::Parent | Source::Municipality => None,
        };
        let current = content.values.get(&def.id).map(|e| (&e.value, e.origin));
        if current != fresh.as_ref().map(|e| (&e.value, e.origin)) {
            changed = true;
            match fresh {
                Some(entry) => content.values.insert(def.id.clone(), entry),
                None => content.values.remove(&def.id),
            };
        }
    }
    changed
}

/// The family as the forms read it, loaded (and opened) once for all its drafts.
pub struct FamilyProfile {
    guardians: Vec<crate::service::guardians::Guardian>,
    children: Vec<crate::service::children::Child>,
    address: Option<String>,
    postal_code: Option<String>,
    insurance: Option<HealthInsurance>,
    single_parent: bool,
    municipality_name: String,
    paperwork: Paperwork,
    consents: Vec<ConsentPurpose>,
}

impl FamilyProfile {
    pub fn load(
        conn: &mut DbConnection,
        keys: &KeyRing,
        ctx: &PlanningContext,
        family: &FamilyRow,
    ) -> Result<Self, Error> {
        Ok(Self {
            guardians: guardians::list(conn, keys, &family.id)?,
            children: children::list(conn, keys, &family.id)?,
            address: keys.open_opt(sealed::FAMILIES_ADDRESS, family.address.as_deref())?,
            postal_code: crate::service::families::postal_code(keys, family)?.map(String::from),
            insurance: family.health_insurance.as_deref().map(HealthInsurance::from_stored).transpose()?,
            single_parent: family.single_parent,
            municipality_name: crate::service::municipalities::display_name(conn, ctx, &family.municipality_code)?,
            paperwork: Paperwork::open(keys, family.paperwork.as_deref())?,
            consents: consents::purposes_in_force(conn, &family.id)?,
        })
    }

    /// The guardians, as loaded for the profile.
    pub fn guardians(&self) -> &[crate::service::guardians::Guardian] {
        &self.guardians
    }

    /// The profile values for a draft about `child_id`.
    pub fn values(&self, child_id: Option<&str>) -> BTreeMap<&'static str, Value> {
        profile::values(&profile::ProfileInput {
            guardians: &self.guardians,
            child: child_id.and_then(|id| self.children.iter().find(|c| c.id == id)),
            children: &self.children,
            address: self.address.as_deref(),
            postal_code: self.postal_code.as_deref(),
            health_insurance: self.insurance,
            single_parent: self.single_parent,
            municipality_name: &self.municipality_name,
            paperwork: &self.paperwork,
            consents: &self.consents,
        })
    }
}
