//! A family's consent to official notifications, and its answers to a notice's questionnaire.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lifecycle::find;
use super::{view, AnswerKind};
use crate::db::rows::{FamilyRow, NoticeRow};
use crate::db::schema::{guardians, notice_consents, notice_recipients, notice_replies, notices};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::{Error, FieldCheck};
use crate::service::utc;

/// Records a family's consent (or its withdrawal) to official notifications of its municipality.
pub fn set_consent(
    conn: &mut DbConnection,
    family: &FamilyRow,
    consented: bool,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::delete(notice_consents::table.find((&family.id, &family.municipality_code))).execute(conn)?;
    diesel::insert_into(notice_consents::table)
        .values((
            notice_consents::family_id.eq(&family.id),
            notice_consents::municipality_code.eq(&family.municipality_code),
            notice_consents::consented.eq(consented),
            notice_consents::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A family's answer to a notice's questionnaire.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyInput {
    /// Indices of the chosen answers (exactly one for a single-choice question).
    #[schema(schema_with = choice_indices)]
    pub choices: Vec<usize>,
    #[schema(max_length = 2000)]
    pub free_text: Option<String>,
}

/// 1 to 20 indices of a questionnaire's choices (it has 2 to 20).
fn choice_indices() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(19)))
        .min_items(Some(1))
        .max_items(Some(20))
        .build()
}

/// How many families chose each answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChoiceCount {
    pub choice: String,
    pub count: i64,
}

/// One family's reply, with its guardians' names (shown only for families that answered).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyView {
    pub guardian_names: Vec<String>,
    pub choices: Vec<String>,
    pub free_text: Option<String>,
    pub replied_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The replies to a notice: the counts of all of them, and a page of the replies themselves
/// in the order they first came (a changed reply keeps its place).
#[derive(Debug, Serialize, ToSchema)]
pub struct RepliesSummary {
    /// Families that replied (each once), over every page.
    pub replied: i64,
    /// Per choice, over every page.
    pub counts: Vec<ChoiceCount>,
    pub items: Vec<ReplyView>,
    /// Pass as `cursor` for the next (later) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Records (or changes, until the deadline) a family's reply to a notice it received.
pub fn reply(
    conn: &mut DbConnection,
    keys: &crate::crypto::KeyRing,
    family: &FamilyRow,
    notice_id: &str,
    input: ReplyInput,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let received: Option<Option<String>> = notice_recipients::table
        .find((notice_id, &family.id))
        .select(notice_recipients::entry_id)
        .first(conn)
        .optional()?;
    if !matches!(received, Some(Some(_))) {
        return Err(Error::NotFound("notice"));
    }
    let row: NoticeRow = notices::table.find(notice_id).select(NoticeRow::as_select()).first(conn)?;
    let notice = view(row)?;
    let questionnaire = notice
        .questionnaire
        .ok_or(Error::Conflict { code: "no_questionnaire", message: "this notice asks nothing".into() })?;
    if questionnaire.reply_deadline.is_some_and(|deadline| deadline.naive_utc() < now) {
        return Err(Error::Conflict { code: "reply_deadline_passed", message: "the reply deadline has passed".into() });
    }
    let mut check = FieldCheck::default();
    let mut choices = input.choices.clone();
    choices.sort_unstable();
    choices.dedup();
    if choices.is_empty() || choices.iter().any(|&c| c >= questionnaire.choices.len()) {
        check.fail("choices", format!("must name choices between 0 and {}", questionnaire.choices.len() - 1));
    } else if questionnaire.kind == AnswerKind::Single && choices.len() != 1 {
        check.fail("choices", "this question takes exactly one choice");
    }
    match &input.free_text {
        Some(_) if !questionnaire.free_text => check.fail("free_text", "this question takes no free text"),
        Some(t) if t.chars().count() > 2_000 => check.fail("free_text", "must be at most 2000 characters"),
        Some(t) => {
            if let Err(problem) = crate::domain::text::readable(t, crate::domain::text::Lines::Many) {
                check.fail("free_text", problem);
            } else if crate::domain::individual_number::appears_in(t) {
                check.fail("free_text", crate::domain::individual_number::REFUSAL);
            }
        }
        None => {}
    }
    check.finish()?;
    let first: Option<NaiveDateTime> = notice_replies::table
        .find((notice_id, &family.id))
        .select(notice_replies::replied_at)
        .first(conn)
        .optional()?;
    diesel::delete(notice_replies::table.find((notice_id, &family.id))).execute(conn)?;
    diesel::insert_into(notice_replies::table)
        .values((
            notice_replies::notice_id.eq(notice_id),
            notice_replies::family_id.eq(&family.id),
            notice_replies::choices.eq(serde_json::to_string(&choices).map_err(|e| Error::internal(e.to_string()))?),
            notice_replies::free_text.eq(keys.seal_opt(sealed::NOTICE_REPLIES_FREE_TEXT, input.free_text.as_deref())?),
            notice_replies::replied_at.eq(first.unwrap_or(now)),
            notice_replies::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Counts per choice over every reply, and a page of `limit` replies after `cursor` with the
/// names of each family's guardians, in the order they first came (ties by family).
pub fn replies(
    conn: &mut DbConnection,
    keys: &crate::crypto::KeyRing,
    code: &MunicipalityCode,
    id: &str,
    limit: i64,
    cursor: Option<&str>,
) -> Result<RepliesSummary, Error> {
    let notice = view(find(conn, code, id)?)?;
    let choices = notice.questionnaire.map(|q| q.choices).unwrap_or_default();
    let mut counts = vec![0i64; choices.len()];
    let every: Vec<String> = notice_replies::table
        .filter(notice_replies::notice_id.eq(&notice.id))
        .select(notice_replies::choices)
        .load(conn)?;
    for chosen in &every {
        for c in chosen_of(chosen)? {
            if let Some(count) = counts.get_mut(c) {
                *count += 1;
            }
        }
    }
    let mut query = notice_replies::table
        .filter(notice_replies::notice_id.eq(&notice.id))
        .order((notice_replies::replied_at.asc(), notice_replies::family_id.asc()))
        .limit(limit + 1)
        .select((
            notice_replies::family_id,
            notice_replies::choices,
            notice_replies::free_text,
            notice_replies::replied_at,
            notice_replies::updated_at,
        ))
        .into_boxed();
    if let Some(cursor) = cursor {
        let (at, family_id) = ReplyCursor::read(cursor)?;
        query = query.filter(
            notice_replies::replied_at
                .gt(at)
                .or(notice_replies::replied_at.eq(at).and(notice_replies::family_id.gt(family_id))),
        );
    }
    let rows: Vec<(String, String, Option<String>, NaiveDateTime, NaiveDateTime)> = query.load(conn)?;
    let (rows, more) = crate::service::paging::cut(rows, limit, |row| row.0.as_str());
    let next_cursor = more.and_then(|_| rows.last().map(|row| ReplyCursor::of(row.3, &row.0)));
    let mut items = Vec::with_capacity(rows.len());
    for (family_id, chosen, free_text, replied_at, updated_at) in rows {
        let chosen = chosen_of(&chosen)?;
        let names: Vec<String> =
            guardians::table.filter(guardians::family_id.eq(&family_id)).select(guardians::full_name).load(conn)?;
        items.push(ReplyView {
            guardian_names: names
                .iter()
                .map(|n| keys.open(sealed::GUARDIANS_FULL_NAME, n))
                .collect::<Result<_, _>>()?,
            choices: chosen.iter().filter_map(|&c| choices.get(c).cloned()).collect(),
            free_text: keys.open_opt(sealed::NOTICE_REPLIES_FREE_TEXT, free_text.as_deref())?,
            replied_at: utc(replied_at),
            updated_at: utc(updated_at),
        });
    }
    Ok(RepliesSummary {
        replied: every.len() as i64,
        counts: choices.into_iter().zip(counts).map(|(choice, count)| ChoiceCount { choice, count }).collect(),
        items,
        next_cursor,
    })
}

/// The indices a stored reply chose.
fn chosen_of(stored: &str) -> Result<Vec<usize>, Error> {
    serde_json::from_str(stored).map_err(|e| Error::unreadable("notice_replies.choices", &e))
}

/// Where a page of replies ended: the first reply's time and the family of the last reply read
/// (`<time>~<family id>`), since replies are in the order they came, not in id order.
struct ReplyCursor;

impl ReplyCursor {
    const FORMAT: &'static str = "%Y-%m-%dT%H:%M:%S%.f";

    fn of(replied_at: NaiveDateTime, family_id: &str) -> String {
        format!("{}~{family_id}", replied_at.format(Self::FORMAT))
    }

    fn read(cursor: &str) -> Result<(NaiveDateTime, String), Error> {
        cursor
            .split_once('~')
            .and_then(|(at, family)| Some((NaiveDateTime::parse_from_str(at, Self::FORMAT).ok()?, family.to_owned())))
            .ok_or_else(|| Error::field("cursor", "must be the next_cursor of a previous page"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reply_cursor_reads_back_what_it_wrote() {
        let at = chrono::NaiveDate::from_ymd_opt(2027, 1, 2).and_then(|d| d.and_hms_micro_opt(3, 4, 5, 60_007));
        let at = at.expect("a time");
        let cursor = super::ReplyCursor::of(at, "0190-family");
        assert_eq!(super::ReplyCursor::read(&cursor).ok(), Some((at, "0190-family".to_owned())));
        assert!(super::ReplyCursor::read("0190-family").is_err());
    }
}
