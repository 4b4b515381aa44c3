//! ワンスオンリー: the facts the forms ask that nobody but the family knows, given once (often
//! during the pregnancy) and reused by every form that needs them. All optional: a fact not
//! given is asked on the draft, as before.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::patch;
use crate::crypto::KeyRing;
use crate::db::sealed;
use crate::domain::enums::HouseholdMainWork;
use crate::domain::text;
use crate::error::{Error, FieldCheck};

/// What the family has told nonstop once for its paperwork. Kept sealed; copied only into the
/// forms that carry each item.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Paperwork {
    /// 本籍: where the parents' family register (戸籍) is kept; the 出生届 enters the child there.
    #[schema(example = "東京都千代田区千代田1番", min_length = 1, max_length = 200)]
    pub registered_domicile: Option<String>,
    /// 筆頭者の氏名: the person named first in that family register.
    #[schema(example = "山田 太郎", min_length = 1, max_length = 100)]
    pub family_register_head: Option<String>,
    /// 世帯のおもな仕事 (出生届): the household's main work, in the form's six classes.
    pub household_main_work: Option<HouseholdMainWork>,
    /// 公金受取口座を利用する: benefits are paid to the account registered with the Digital
    /// Agency, so no bank details are asked.
    pub use_public_benefit_account: Option<bool>,
    /// 保険者番号 of the health insurance the child joins (6 digits for 国保, 8 for others).
    #[schema(example = "06130012", pattern = "^[0-9]{6,8}$")]
    pub insurer_number: Option<String>,
    /// The child's enrolment in that insurance is still being applied for (加入手続中); the
    /// 資格確認書 follows later. Taken as `false` when an insurer number is given.
    pub insurance_enrolment_pending: Option<bool>,
    /// Whether the child's parents are married to each other, for the 出生届's 父母との続き柄
    /// (嫡出子 or not). Ask it only for that purpose, in neutral words, and leave it out when the
    /// parent prefers to answer on the form; a `birth` event's `legitimacy` takes precedence.
    pub parents_married: Option<bool>,
}

/// Corrections to the paperwork facts; a field left out keeps its value, `null` clears it.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaperworkPatch {
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub registered_domicile: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub family_register_head: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<HouseholdMainWork>)]
    pub household_main_work: Option<Option<HouseholdMainWork>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<bool>)]
    pub use_public_benefit_account: Option<Option<bool>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6,8}$")]
    pub insurer_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<bool>)]
    pub insurance_enrolment_pending: Option<Option<bool>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<bool>)]
    pub parents_married: Option<Option<bool>>,
}

impl PaperworkPatch {
    /// Whether the patch changes nothing: applied to no facts and to every fact, it changes
    /// neither (so a field added later cannot be forgotten here).
    pub fn is_empty(&self) -> bool {
        Paperwork::default().patched_ref(self) == Paperwork::default()
            && Paperwork::full().patched_ref(self) == Paperwork::full()
    }
}

impl Paperwork {
    /// Every fact given (to tell a patch that sets values from one that sets none).
    fn full() -> Self {
        Self {
            registered_domicile: Some(String::new()),
            family_register_head: Some(String::new()),
            household_main_work: Some(HouseholdMainWork::OtherWork),
            use_public_benefit_account: Some(true),
            insurer_number: Some(String::new()),
            insurance_enrolment_pending: Some(true),
            parents_married: Some(true),
        }
    }

    fn patched_ref(&self, change: &PaperworkPatch) -> Self {
        self.clone().patched(change.clone())
    }

    /// The facts with `change` applied (not yet checked).
    pub fn patched(mut self, change: PaperworkPatch) -> Self {
        let PaperworkPatch {
            registered_domicile,
            family_register_head,
            household_main_work,
            use_public_benefit_account,
            insurer_number,
            insurance_enrolment_pending,
            parents_married,
        } = change;
        patch::apply(&mut self.registered_domicile, registered_domicile);
        patch::apply(&mut self.family_register_head, family_register_head);
        patch::apply(&mut self.household_main_work, household_main_work);
        patch::apply(&mut self.use_public_benefit_account, use_public_benefit_account);
        patch::apply(&mut self.insurer_number, insurer_number);
        patch::apply(&mut self.insurance_enrolment_pending, insurance_enrolment_pending);
        patch::apply(&mut self.parents_married, parents_married);
        self
    }

    /// Checks each text fact, naming the field under `paperwork.`.
    pub fn checked(self, check: &mut FieldCheck) -> Self {
        let Self {
            registered_domicile,
            family_register_head,
            household_main_work,
            use_public_benefit_account,
            insurer_number,
            insurance_enrolment_pending,
            parents_married,
        } = self;
        Self {
            registered_domicile: check
                .check_opt("paperwork.registered_domicile", registered_domicile, |a| text::address(&a)),
            family_register_head: check
                .check_opt("paperwork.family_register_head", family_register_head, |n| text::name(&n)),
            household_main_work,
            use_public_benefit_account,
            insurer_number: check.check_opt("paperwork.insurer_number", insurer_number, |n| text::insurer_number(&n)),
            insurance_enrolment_pending,
            parents_married,
        }
    }

    /// The stored form: sealed JSON, or nothing when no fact is given.
    pub fn seal(&self, keys: &KeyRing) -> Result<Option<String>, Error> {
        keys.seal_facts(sealed::FAMILIES_PAPERWORK, self)
    }

    pub fn open(keys: &KeyRing, stored: Option<&str>) -> Result<Self, Error> {
        keys.open_facts(sealed::FAMILIES_PAPERWORK, stored)
    }

    /// Whether the child's insurance is still being applied for: as given, or `false` once an
    /// insurer number is known.
    pub fn insurance_pending(&self) -> Option<bool> {
        self.insurance_enrolment_pending.or(self.insurer_number.as_ref().map(|_| false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_sets_clears_and_keeps() {
        let stored = Paperwork {
            registered_domicile: Some("東京都千代田区千代田1番".into()),
            insurer_number: Some("06130012".into()),
            ..Paperwork::default()
        };
        let change: PaperworkPatch =
            serde_json::from_str(r#"{"insurer_number": null, "parents_married": true}"#).expect("json");
        let patched = stored.patched(change);
        assert_eq!(patched.registered_domicile.as_deref(), Some("東京都千代田区千代田1番"), "left out: kept");
        assert_eq!(patched.insurer_number, None, "null: cleared");
        assert_eq!(patched.parents_married, Some(true), "given: set");
    }

    #[test]
    fn a_patch_is_empty_only_when_it_names_no_field() {
        let parse = |json: &str| serde_json::from_str::<PaperworkPatch>(json).expect("json");
        assert!(parse("{}").is_empty());
        assert!(!parse(r#"{"parents_married": true}"#).is_empty(), "a value set");
        assert!(!parse(r#"{"insurer_number": null}"#).is_empty(), "a value cleared");
    }

    #[test]
    fn an_insurer_number_means_the_enrolment_is_not_pending_unless_said() {
        let mut facts = Paperwork { insurer_number: Some("06130012".into()), ..Paperwork::default() };
        assert_eq!(facts.insurance_pending(), Some(false));
        facts.insurance_enrolment_pending = Some(true);
        assert_eq!(facts.insurance_pending(), Some(true));
        assert_eq!(Paperwork::default().insurance_pending(), None);
    }

    #[test]
    fn each_bad_fact_is_named() {
        let mut check = FieldCheck::default();
        let facts = Paperwork {
            registered_domicile: Some(String::new()),
            insurer_number: Some("12-34".into()),
            family_register_head: Some("山田 太郎".into()),
            ..Paperwork::default()
        }
        .checked(&mut check);
        let errors = check.into_errors();
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["paperwork.insurer_number", "paperwork.registered_domicile"]);
        assert_eq!(facts.family_register_head.as_deref(), Some("山田 太郎"));
    }
}
