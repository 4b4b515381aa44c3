//! A value the parent corrected on a form, offered back to the profile: only when the parent
//! asks (`save_to_profile: true`), never silently. Each value goes where the profile keeps it
//! (a guardian's phone, the family's address or 本籍, the child's name), through the same use
//! case as a direct edit, so it is checked the same way; the family's other forms then follow.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::db::rows::FamilyRow;
use crate::db::DbConnection;
use crate::domain::forms::{Form, Source};
use crate::domain::PostalCode;
use crate::error::Error;
use crate::service::children::{self, ChildPatch};
use crate::service::families::{self, FamilyPatch};
use crate::service::guardians::{self, GuardianPatch};
use crate::service::paperwork::PaperworkPatch;
use crate::service::{profile, UseCase};

/// Saves to the profile each value of `values` whose field the profile fills. `carrier` finds
/// the form that defines a field; `child_id` is the child the forms are about.
pub fn save<'f>(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    child_id: Option<&str>,
    carrier: impl Fn(&str) -> Option<&'f Form>,
    values: &BTreeMap<String, Option<Value>>,
) -> Result<(), Error> {
    let mut family_change = FamilyPatch::default();
    let mut paperwork = PaperworkPatch::default();
    let mut child_change = ChildPatch::default();
    let mut guardian_changes: BTreeMap<String, GuardianPatch> = BTreeMap::new();
    let current_guardians = guardians::list(conn, &uc.keys, &family.id)?;
    for (id, value) in values {
        let Some(value) = value else { continue };
        let Some(Source::Profile(path)) = carrier(id).and_then(|f| f.field(id)).map(|d| d.source.clone()) else {
            continue;
        };
        let text = || value.as_str().map(str::to_owned);
        let (prefix, name) = path.split_once('.').unwrap_or((&path, ""));
        match (prefix, name) {
            ("family", "address") => family_change.address = Some(text()),
            ("family", "postal_code") => {
                family_change.postal_code = Some(text().as_deref().map(PostalCode::parse).transpose().ok().flatten())
            }
            ("family", "registered_domicile") => paperwork.registered_domicile = Some(text()),
            ("family", "family_register_head") => paperwork.family_register_head = Some(text()),
            ("family", "household_main_work") => {
                paperwork.household_main_work = Some(text().as_deref().and_then(profile::main_work_of_option))
            }
            ("family", "use_public_benefit_account") => paperwork.use_public_benefit_account = Some(value.as_bool()),
            ("family", "insurer_number") => paperwork.insurer_number = Some(text()),
            ("family", "insurance_enrolment_pending") => paperwork.insurance_enrolment_pending = Some(value.as_bool()),
            ("child", "full_name") => child_change.full_name = Some(text()),
            ("child", "full_name_kana") => child_change.full_name_kana = Some(text()),
            (role, "phone" | "full_name_kana") => {
                let Some(guardian) = profile::guardian_for(role, &current_guardians) else { continue };
                let change = guardian_changes.entry(guardian.id.clone()).or_default();
                if name == "phone" {
                    change.phone = Some(text());
                } else {
                    change.full_name_kana = Some(text());
                }
            }
            _ => {}
        }
    }
    for (guardian_id, change) in guardian_changes {
        guardians::update(conn, uc, &family.id, &guardian_id, change)?;
    }
    if let (Some(child_id), true) =
        (child_id, child_change.full_name.is_some() || child_change.full_name_kana.is_some())
    {
        children::update(conn, uc, &family.id, child_id, child_change)?;
    }
    if !paperwork.is_empty() {
        family_change.paperwork = Some(paperwork);
    }
    if family_change.address.is_some() || family_change.postal_code.is_some() || family_change.paperwork.is_some() {
        families::update(conn, &uc.keys, family.clone(), family_change, uc.now)?;
    }
    // The forms follow the profile now, so the answer shows them as they are.
    let family = crate::service::access::family_row(conn, &family.id)?;
    super::sync(conn, &uc.keys, &uc.planning, &family, uc.today, uc.now)
}
