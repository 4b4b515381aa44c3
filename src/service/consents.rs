//! 同意: standing consents, given once per purpose and reused by every form that asks for the
//! same consent. Each is recorded with the words agreed to and when; a withdrawal ends it and
//! is kept, so the family's history of consent can be shown.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{new_id, utc};
use crate::db::schema::standing_consents;
use crate::db::DbConnection;
use crate::domain::enums::ConsentPurpose;
use crate::domain::forms::{FormCatalog, Source};
use crate::domain::LanguageTag;
use crate::error::Error;

/// A consent the parent gave, in force until withdrawn.
#[derive(Debug, Serialize, ToSchema)]
pub struct StandingConsent {
    pub id: String,
    pub purpose: ConsentPurpose,
    /// The words the parent agreed to, as nonstop showed them.
    pub wording: String,
    /// The language of `wording`.
    pub language: String,
    pub given_at: DateTime<Utc>,
    /// When the parent withdrew it; from then on each form asks again.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// A consent to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StandingConsentInput {
    pub purpose: ConsentPurpose,
    /// The language the wording was shown in: Japanese (`ja`, the default) or English (`en`).
    #[serde(default)]
    pub language: LanguageTag,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = standing_consents)]
struct ConsentRow {
    id: String,
    family_id: String,
    purpose: String,
    language: String,
    wording: String,
    given_at: NaiveDateTime,
    withdrawn_at: Option<NaiveDateTime>,
}

/// The words of a consent: the label of the form field that asks for it, so that the consent
/// given once is exactly the one each form would have asked.
pub fn wording(
    forms: &FormCatalog,
    purpose: ConsentPurpose,
    language: &LanguageTag,
) -> Result<(String, String), Error> {
    let path = profile_path(purpose);
    let field = forms
        .all()
        .flat_map(|form| form.fields.iter())
        .find(|f| f.source == Source::Profile(path.into()))
        .ok_or_else(|| Error::internal(format!("no form field asks for the consent '{path}'")))?;
    Ok(if language.as_str().split('-').next() == Some("en") {
        ("en".into(), field.label.en.clone())
    } else {
        ("ja".into(), field.label.ja.clone())
    })
}

/// The profile value a consent fills.
pub fn profile_path(purpose: ConsentPurpose) -> &'static str {
    match purpose {
        ConsentPurpose::PublicRecordsCheck => "consent.public_records_check",
        ConsentPurpose::HealthInformation => "consent.health_information",
    }
}

/// Records the consent; one already in force for the purpose is returned as it is.
pub fn give(
    conn: &mut DbConnection,
    forms: &FormCatalog,
    family_id: &str,
    input: StandingConsentInput,
    now: NaiveDateTime,
) -> Result<(StandingConsent, bool), Error> {
    if let Some(row) = in_force(conn, family_id, input.purpose)? {
        return Ok((view(row)?, false));
    }
    let (language, wording) = wording(forms, input.purpose, &input.language)?;
    let row = ConsentRow {
        id: new_id(),
        family_id: family_id.to_owned(),
        purpose: input.purpose.as_str().to_owned(),
        language,
        wording,
        given_at: now,
        withdrawn_at: None,
    };
    diesel::insert_into(standing_consents::table).values(&row).execute(conn)?;
    Ok((view(row)?, true))
}

/// Withdraws the consent in force for the purpose; withdrawing `health_information` erases
/// what it allowed nonstop to keep.
pub fn withdraw(
    conn: &mut DbConnection,
    family_id: &str,
    purpose: ConsentPurpose,
    now: NaiveDateTime,
) -> Result<StandingConsent, Error> {
    let mut row = in_force(conn, family_id, purpose)?.ok_or(Error::NotFound("consent"))?;
    diesel::update(standing_consents::table.find(&row.id))
        .set(standing_consents::withdrawn_at.eq(Some(now)))
        .execute(conn)?;
    row.withdrawn_at = Some(now);
    if purpose == ConsentPurpose::HealthInformation {
        erase_health_information(conn, Some(family_id), None)?;
    }
    view(row)
}

/// Every consent the family gave, in force or withdrawn, oldest first.
/// A page of a family's consents, in force or withdrawn, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentPage {
    pub items: Vec<StandingConsent>,
    /// Pass as `cursor` for the next (newer) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of a family's consents, oldest first: `limit` consents after `cursor`. A withdrawal
/// is kept, so each consent given again after one adds to the list.
pub fn page(conn: &mut DbConnection, family_id: &str, limit: i64, cursor: Option<&str>) -> Result<ConsentPage, Error> {
    let mut query = standing_consents::table
        .filter(standing_consents::family_id.eq(family_id))
        .order(standing_consents::id.asc())
        .limit(limit + 1)
        .select(ConsentRow::as_select())
        .into_boxed();
    if let Some(cursor) = cursor {
        query = query.filter(standing_consents::id.gt(cursor.to_owned()));
    }
    let (rows, next_cursor) = super::paging::cut(query.load(conn)?, limit, |r: &ConsentRow| r.id.as_str());
    Ok(ConsentPage { items: rows.into_iter().map(view).collect::<Result<_, _>>()?, next_cursor })
}

/// Health information (要配慮個人情報: birth weight, weeks of gestation) is kept only while the
/// family's consent to it is in force (個人情報保護法 第20条第2項: obtained with prior consent).
pub fn require_for_health_information(conn: &mut DbConnection, family_id: &str, field: &str) -> Result<(), Error> {
    if in_force(conn, family_id, ConsentPurpose::HealthInformation)?.is_some() {
        return Ok(());
    }
    Err(Error::Conflict {
        code: "health_information_consent_required",
        message: format!(
            "{field} is health information (要配慮個人情報): record the parent's consent first \
             (POST /v1/families/{{family_id}}/consents with purpose health_information, or `consents` when creating the family)"
        ),
    })
}

/// Erases the family's health information: on withdrawal of the consent, and for children past
/// their first birthday (the last procedure that asks the birth weight, 未熟児養育医療, ends
/// there). Birth events recorded before 2026-12 carried the weight in their details too.
pub fn erase_health_information(
    conn: &mut DbConnection,
    family_id: Option<&str>,
    born_before: Option<chrono::NaiveDate>,
) -> Result<usize, Error> {
    use crate::db::schema::{children, life_events};
    // A page at a time: the first purge after an upgrade may find many children, more than one
    // statement can bind.
    const PAGE: i64 = 1_000;
    let mut erased = 0;
    loop {
        let mut query = children::table.filter(children::birth_weight_sealed.is_not_null()).into_boxed();
        if let Some(family) = family_id {
            query = query.filter(children::family_id.eq(family.to_owned()));
        }
        if let Some(day) = born_before {
            query = query.filter(children::birth_date.lt(day));
        }
        let ids: Vec<String> = query.select(children::id).limit(PAGE).load(conn)?;
        if ids.is_empty() {
            return Ok(erased);
        }
        erased += ids.len();
        diesel::update(children::table.filter(children::id.eq_any(&ids)))
            .set(children::birth_weight_sealed.eq(None::<String>))
            .execute(conn)?;
        let event_children: Vec<Option<String>> = ids.into_iter().map(Some).collect();
        diesel::update(
            life_events::table
                .filter(life_events::child_id.eq_any(&event_children))
                .filter(life_events::details.like("%birth_weight_grams%")),
        )
        .set(life_events::details.eq("{}"))
        .execute(conn)?;
    }
}

/// The forms built into the binary, whose labels are the consents' wording.
pub fn shipped_forms() -> &'static FormCatalog {
    static FORMS: std::sync::LazyLock<FormCatalog> =
        std::sync::LazyLock::new(|| FormCatalog::shipped(&crate::domain::catalog::Catalog::shipped()));
    &FORMS
}

/// The purposes the family has consented to and not withdrawn.
pub fn purposes_in_force(conn: &mut DbConnection, family_id: &str) -> Result<Vec<ConsentPurpose>, Error> {
    standing_consents::table
        .filter(standing_consents::family_id.eq(family_id))
        .filter(standing_consents::withdrawn_at.is_null())
        .select(standing_consents::purpose)
        .load::<String>(conn)?
        .iter()
        .map(|p| ConsentPurpose::from_stored(p))
        .collect()
}

fn in_force(conn: &mut DbConnection, family_id: &str, purpose: ConsentPurpose) -> Result<Option<ConsentRow>, Error> {
    Ok(standing_consents::table
        .filter(standing_consents::family_id.eq(family_id))
        .filter(standing_consents::purpose.eq(purpose.as_str()))
        .filter(standing_consents::withdrawn_at.is_null())
        .select(ConsentRow::as_select())
        .first(conn)
        .optional()?)
}

fn view(row: ConsentRow) -> Result<StandingConsent, Error> {
    Ok(StandingConsent {
        purpose: ConsentPurpose::from_stored(&row.purpose)?,
        wording: row.wording,
        language: row.language,
        given_at: utc(row.given_at),
        withdrawn_at: row.withdrawn_at.map(utc),
        id: row.id,
    })
}
