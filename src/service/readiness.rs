//! 準備状況: for the next bundle or drafts a family will face, the values still missing, why
//! each is asked, and where a vendor can give it ahead, so that an app can ask for them early,
//! one at a time, instead of all at once in the days after a birth.

use serde::Serialize;
use utoipa::ToSchema;

use super::drafts::{self, prefill, Content, DraftStatus, FamilyProfile, Origin};
use crate::db::rows::FamilyRow;
use crate::db::DbConnection;
use crate::domain::catalog::Names;
use crate::domain::enums::ChildStatus;
use crate::domain::forms::{Form, Source, BIRTH_BUNDLE};
use crate::domain::planner;
use crate::error::Error;
use crate::service::{planning, UseCase};
use crate::text_enum;

text_enum! {
    /// Where a missing value can be given before the form asks for it.
    pub enum GivenWith {
        /// A family fact: `PATCH /v1/families/{id}` with `api_field` (`paperwork.registered_domicile`).
        Family => "family",
        /// A guardian's fact: `PATCH …/guardians/{guardian_id}` with `api_field` (`phone`).
        Guardian => "guardian",
        /// A standing consent: `POST …/consents` with `api_field` as the purpose.
        Consent => "consent",
        /// A child's fact: `PATCH …/children/{child_id}` with `api_field`.
        Child => "child",
        /// A fact of the birth itself: the `birth` event's `api_field`.
        BirthEvent => "birth_event",
        /// Only on the form itself (the draft or bundle).
        Form => "form",
    }
}

text_enum! {
    /// Whether the forms are open now or open at the expected child's birth.
    pub enum Opens {
        /// A draft or bundle the parent can fill now.
        Now => "now",
        /// The birth bundle of an expected child, prepared ahead: it opens when the birth is
        /// recorded.
        AtBirth => "at_birth",
    }
}

/// A value a form will ask for and nonstop does not have yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct MissingValue {
    /// The form field (`honseki`, `applicant.phone`).
    pub field_id: String,
    pub label: Names,
    /// Why the form asks it, in words for the parent.
    pub why: Names,
    pub given_with: GivenWith,
    /// The field of the API that gives it ahead (absent for `form`).
    pub api_field: Option<String>,
    /// The guardian whose fact it is, for `guardian`.
    pub guardian_id: Option<String>,
    /// The forms that carry it.
    pub forms: Vec<String>,
}

/// A value already filled, for the parent to look over ahead.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilledValue {
    pub field_id: String,
    pub label: Names,
    #[schema(value_type = Value)]
    pub value: serde_json::Value,
    pub origin: Origin,
    /// Derived or suggested: the parent is asked to check it.
    pub check: bool,
}

/// The next bundle or draft, and what it still lacks.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessItem {
    /// The bundle (一括申請) or draft, once it exists.
    pub bundle_id: Option<String>,
    pub draft_id: Option<String>,
    pub child_id: Option<String>,
    pub opens: Opens,
    pub forms: Vec<String>,
    /// The values still missing, in the order an app best asks them: household facts first,
    /// then guardians', consents, the child's, the birth's own, and what only the form asks.
    pub missing: Vec<MissingValue>,
    /// The values already filled (for a bundle prepared ahead; an open one shows its own).
    pub filled: Vec<FilledValue>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub items: Vec<ReadinessItem>,
}

/// What the family's next forms still lack: each open bundle or draft, and the birth bundle of
/// each expected child.
pub fn of_family(conn: &mut DbConnection, uc: &UseCase, family: &FamilyRow) -> Result<Readiness, Error> {
    let ctx = &uc.planning;
    let profile = FamilyProfile::load(conn, &uc.keys, ctx, family)?;
    let guardians = profile.guardians();
    let mut items: Vec<ReadinessItem> = Vec::new();
    let open = drafts::list(conn, &uc.keys, ctx, &family.id)?.into_iter().filter(|d| d.status == DraftStatus::Open);
    for draft in open {
        let form = drafts::form_of(ctx, &draft.form_id)?;
        let item = match draft.bundle_id.clone() {
            Some(bundle) => match items.iter_mut().position(|i| i.bundle_id.as_deref() == Some(&bundle)) {
                Some(at) => &mut items[at],
                None => {
                    items.push(item(Some(bundle), None, draft.child_id.clone(), Opens::Now));
                    items.last_mut().expect("just pushed")
                }
            },
            None => {
                items.push(item(None, Some(draft.id.clone()), draft.child_id.clone(), Opens::Now));
                items.last_mut().expect("just pushed")
            }
        };
        item.forms.push(form.id.clone());
        for id in &draft.to_fill {
            add_missing(item, form, id, false, guardians);
        }
    }
    let facts = planning::facts(conn, &uc.keys, family)?;
    let settings = planning::resolved_settings(conn, ctx, &family.municipality_code)?;
    for child in facts.children.iter().filter(|c| c.status == ChildStatus::Expected) {
        let Some(due) = child.due_date else { continue };
        // The forms the birth will bring: the plan as it would be on the due date, had the child
        // been born then (the weight unknown, so no 低体重児届 is assumed).
        let mut born = facts.clone();
        if let Some(c) = born.children.iter_mut().find(|c| c.id == child.id) {
            c.status = ChildStatus::Born;
            c.birth_date = Some(due.max(uc.today));
        }
        let on = due.max(uc.today);
        let plan = planner::plan(&born, ctx, &settings, on);
        let mut ahead = item(None, None, Some(child.id.clone()), Opens::AtBirth);
        let values = profile.values(Some(&child.id));
        for form_id in BIRTH_BUNDLE {
            let planned =
                plan.tasks.iter().any(|t| t.procedure.id == form_id && t.child_id.as_ref() == Some(&child.id));
            let Some(form) = ctx.forms.get(form_id).filter(|_| planned) else { continue };
            ahead.forms.push(form.id.clone());
            let mut content = Content::default();
            prefill(form, &values, &mut content, on);
            for id in drafts::missing_fields(form, &content, "").keys() {
                add_missing(&mut ahead, form, id, true, guardians);
            }
            for def in &form.fields {
                let Some(entry) = content.values.get(&def.id) else { continue };
                if entry.origin == Origin::System || ahead.filled.iter().any(|f| f.field_id == def.id) {
                    continue;
                }
                ahead.filled.push(FilledValue {
                    field_id: def.id.clone(),
                    label: def.label.clone(),
                    value: entry.value.clone(),
                    origin: entry.origin,
                    check: def.check || entry.origin == Origin::Default,
                });
            }
        }
        if !ahead.forms.is_empty() {
            items.push(ahead);
        }
    }
    for item in &mut items {
        item.missing.sort_by_key(|m| GivenWith::ALL.iter().position(|g| *g == m.given_with));
    }
    Ok(Readiness { items })
}

fn item(bundle_id: Option<String>, draft_id: Option<String>, child_id: Option<String>, opens: Opens) -> ReadinessItem {
    ReadinessItem { bundle_id, draft_id, child_id, opens, forms: Vec::new(), missing: Vec::new(), filled: Vec::new() }
}

fn add_missing(
    item: &mut ReadinessItem,
    form: &Form,
    field_id: &str,
    before_birth: bool,
    guardians: &[crate::service::guardians::Guardian],
) {
    if let Some(seen) = item.missing.iter_mut().find(|m| m.field_id == field_id) {
        seen.forms.push(form.id.clone());
        return;
    }
    let Some(def) = form.field(field_id) else { return };
    let (given_with, api_field, guardian_id) = match &def.source {
        Source::Profile(path) => given_with(path, before_birth, guardians),
        _ => (GivenWith::Form, None, None),
    };
    item.missing.push(MissingValue {
        field_id: def.id.clone(),
        label: def.label.clone(),
        why: def.why.clone(),
        given_with,
        api_field,
        guardian_id,
        forms: vec![form.id.clone()],
    });
}

/// Where the profile value at `path` is given through the API.
fn given_with(
    path: &str,
    before_birth: bool,
    guardians: &[crate::service::guardians::Guardian],
) -> (GivenWith, Option<String>, Option<String>) {
    let (prefix, name) = path.split_once('.').unwrap_or((path, ""));
    let field = |s: &str| Some(s.to_owned());
    match prefix {
        "family" => match name {
            "address" | "postal_code" | "health_insurance" => (GivenWith::Family, field(name), None),
            "insurance_enrolment_pending"
            | "insurer_number"
            | "registered_domicile"
            | "family_register_head"
            | "household_main_work"
            | "use_public_benefit_account" => (GivenWith::Family, Some(format!("paperwork.{name}")), None),
            // Counted from the birth date among the family's children.
            "other_children_count" if before_birth => (GivenWith::BirthEvent, field("date"), None),
            _ => (GivenWith::Form, None, None),
        },
        "consent" => (GivenWith::Consent, field(name), None),
        "applicant" | "mother" | "father" | "spouse" => {
            match crate::service::profile::guardian_for(prefix, guardians) {
                Some(g) => (GivenWith::Guardian, field(name), Some(g.id.clone())),
                None => (GivenWith::Form, None, None),
            }
        }
        "birth" if before_birth => (GivenWith::BirthEvent, Some(format!("birth_{name}")), None),
        "child" if before_birth => match name {
            "legitimacy" => (GivenWith::Family, field("paperwork.parents_married"), None),
            "birth_date" | "born_in_census_year" => (GivenWith::BirthEvent, field("date"), None),
            "gestation_weeks" => (GivenWith::Child, field("due_date"), None),
            // Derived: the surname's part of the name's kana, the order from the sex.
            "surname_kana" => (GivenWith::BirthEvent, field("full_name_kana"), None),
            "birth_order" => (GivenWith::BirthEvent, field("sex"), None),
            other => (GivenWith::BirthEvent, field(other), None),
        },
        "child" => (GivenWith::Child, field(name), None),
        _ => (GivenWith::Form, None, None),
    }
}
