//! お知らせ: notices a municipality's staff write for the families resident there, approved by
//! a second staff member, fanned out through the same inbox and outbox as reminders, and
//! measured without counting a family twice.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::{self, Actor, AuditAction, Event};
use super::inbox::{self, EntryKind, NewEntry};
use super::planning::TaskStatus;
use super::{new_id, utc};
use crate::db::rows::{ChildRow, FamilyRow, NoticeRow};
use crate::db::schema::{
    children, deliveries, families, guardians, inbox_entries, notice_consents, notice_recipients, notice_replies,
    notices, tasks,
};
use crate::db::DbConnection;
use crate::domain::enums::{ChildStatus, HealthInsurance};
use crate::domain::{periods, text, LanguageTag, MunicipalityCode};
use crate::error::{Error, FieldCheck};
use crate::templates::{TemplateValue, Templates};
use crate::text_enum;

mod approval;
pub use approval::{approve, content_digest};

/// Families read per query while resolving an audience: memory stays bounded.
const BATCH: i64 = 1_000;

text_enum! {
    /// What a notice is about.
    pub enum NoticeCategory {
        Checkup => "checkup",
        Vaccination => "vaccination",
        Benefit => "benefit",
        Event => "event",
        Emergency => "emergency",
        /// 公的な通知: reaches only families who consented to electronic notification; the
        /// others are counted as needing paper.
        OfficialNotification => "official_notification",
    }
}

text_enum! {
    /// Where a notice stands.
    pub enum NoticeStatus {
        Draft => "draft",
        Approved => "approved",
        /// Approved and waiting for its `send_at`.
        Scheduled => "scheduled",
        Sent => "sent",
        Cancelled => "cancelled",
    }
}

/// A notice's title and body in one language.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeText {
    pub title: String,
    pub body: String,
}

/// A link or attachment.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeLink {
    pub title: String,
    /// An https URL.
    pub url: String,
    pub size_bytes: Option<i64>,
    /// SHA-256 of the file, hex.
    pub sha256: Option<String>,
}

text_enum! {
    /// Whether a questionnaire takes one choice or several.
    pub enum AnswerKind {
        Single => "single",
        Multiple => "multiple",
    }
}

/// An optional questionnaire on a notice.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    pub question: String,
    pub kind: AnswerKind,
    /// 2 to 20 choices.
    pub choices: Vec<String>,
    /// Whether a free-text answer is accepted.
    #[serde(default)]
    pub free_text: bool,
    /// Replies are taken (and may be changed) until then.
    pub reply_deadline: Option<DateTime<Utc>>,
}

/// Who a notice is for: every condition given must hold (none: every resident family).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Audience {
    /// A child whose age in completed months lies in this range (inclusive).
    pub child_age_months: Option<MonthRange>,
    /// A child born in this range of dates (inclusive).
    pub child_born_between: Option<DateRange>,
    /// An expected child due in this range (inclusive).
    pub due_between: Option<DateRange>,
    /// A task of this procedure still open (e.g. `checkup_18_months`).
    pub open_procedure: Option<String>,
    pub health_insurance: Option<HealthInsurance>,
    pub single_parent: Option<bool>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthRange {
    pub min: i64,
    pub max: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A notice to write (or a replacement of a draft's contents).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeInput {
    pub category: NoticeCategory,
    /// Language tag → title and body; Japanese (`ja`) is required.
    pub texts: BTreeMap<String, NoticeText>,
    #[serde(default)]
    pub links: Vec<NoticeLink>,
    #[serde(default)]
    pub audience: Audience,
    pub questionnaire: Option<Questionnaire>,
    /// Also delivered to families who move into the municipality later (e.g. "welcome: your
    /// checkup schedule"), until it expires.
    #[serde(default)]
    pub standing: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Content {
    texts: BTreeMap<String, NoticeText>,
    links: Vec<NoticeLink>,
    #[serde(default)]
    questionnaire: Option<Questionnaire>,
}

/// A notice as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notice {
    pub id: String,
    pub municipality_code: String,
    pub category: NoticeCategory,
    pub status: NoticeStatus,
    pub texts: BTreeMap<String, NoticeText>,
    pub links: Vec<NoticeLink>,
    pub audience: Audience,
    pub questionnaire: Option<Questionnaire>,
    pub standing: bool,
    pub send_at: Option<DateTime<Utc>>,
    pub author_staff_id: String,
    /// Everyone who wrote its contents: the author, then each member of staff who edited it.
    pub editors: Vec<String>,
    pub approver_staff_id: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// SHA-256 of the contents the approver approved. A notice is sent or scheduled only while
    /// its contents still have this digest; any edit returns it to draft.
    pub approved_digest: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The figures of a sent notice. Each counts families, never a family twice.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct NoticeFigures {
    /// Who wrote it, who else changed it, and who approved what went out.
    pub author_staff_id: String,
    pub editors: Vec<String>,
    pub approver_staff_id: Option<String>,
    /// Families the notice was for.
    pub audience: i64,
    /// Recorded in their inbox.
    pub recorded: i64,
    /// At least one push accepted by a provider.
    pub pushed: i64,
    /// Per provider: families with a push accepted by it.
    pub delivered_by_provider: BTreeMap<String, i64>,
    /// Recorded, had devices, and no push accepted (all failed, expired or dead).
    pub failed: i64,
    /// Opened in the app.
    pub read: i64,
    /// Answered the questionnaire.
    pub replied: i64,
    /// Official notifications to families without consent: post them a letter.
    pub needs_paper: i64,
}

fn validate(input: &NoticeInput) -> Result<(), Error> {
    let mut check = FieldCheck::default();
    if !input.texts.contains_key("ja") {
        check.fail("texts.ja", "a notice needs its Japanese text");
    }
    for (language, t) in &input.texts {
        if LanguageTag::parse(language).is_err() {
            check.fail(&format!("texts.{language}"), "is not a language tag");
        }
        check.check(
            &format!("texts.{language}.title"),
            text::name(&t.title).map_err(|e| e.replace("a name", "a title")),
        );
        if t.body.trim().is_empty() || t.body.chars().count() > 10_000 {
            check.fail(&format!("texts.{language}.body"), "must be 1–10000 characters");
        } else if crate::domain::individual_number::appears_in(&t.body) {
            check.fail(&format!("texts.{language}.body"), crate::domain::individual_number::REFUSAL);
        }
    }
    for (i, link) in input.links.iter().enumerate() {
        if !url::Url::parse(&link.url).is_ok_and(|u| u.scheme() == "https") {
            check.fail(&format!("links[{i}].url"), "must be an https URL");
        }
        if link.sha256.as_ref().is_some_and(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit())) {
            check.fail(&format!("links[{i}].sha256"), "must be 64 hexadecimal characters");
        }
    }
    if let Some(q) = &input.questionnaire {
        check.check("questionnaire.question", text::name(&q.question).map_err(|e| e.replace("a name", "a question")));
        if !(2..=20).contains(&q.choices.len()) {
            check.fail("questionnaire.choices", "needs 2 to 20 choices");
        }
        for (i, choice) in q.choices.iter().enumerate() {
            check.check(
                &format!("questionnaire.choices[{i}]"),
                text::name(choice).map_err(|e| e.replace("a name", "a choice")),
            );
        }
    }
    if let Some(r) = input.audience.child_age_months {
        if r.min < 0 || r.max < r.min || r.max > 12 * 23 {
            check.fail("audience.child_age_months", "needs 0 <= min <= max <= 276");
        }
    }
    for (field, range) in [
        ("audience.child_born_between", input.audience.child_born_between),
        ("audience.due_between", input.audience.due_between),
    ] {
        if range.is_some_and(|r| r.to < r.from) {
            check.fail(field, "`to` must not be before `from`");
        }
    }
    check.finish()
}

/// A notice as staff read it: `view`, with the digest of its latest approval.
fn present(conn: &mut DbConnection, row: NoticeRow) -> Result<Notice, Error> {
    let approved = row.approver_staff_id.is_some();
    let id = row.id.clone();
    let mut notice = view(row)?;
    if approved {
        notice.approved_digest = approval::approved_digest(conn, &id)?;
    }
    Ok(notice)
}

fn view(row: NoticeRow) -> Result<Notice, Error> {
    let content: Content = serde_json::from_str(&row.content).map_err(|e| Error::unreadable("notices.content", &e))?;
    let editors = editors_of(&row)?;
    Ok(Notice {
        editors,
        category: NoticeCategory::from_stored(&row.category)?,
        status: NoticeStatus::from_stored(&row.status)?,
        texts: content.texts,
        links: content.links,
        questionnaire: content.questionnaire,
        standing: row.standing,
        send_at: row.send_at.map(utc),
        audience: serde_json::from_str(&row.audience).map_err(|e| Error::unreadable("notices.audience", &e))?,
        municipality_code: row.municipality_code,
        author_staff_id: row.author_staff_id,
        approver_staff_id: row.approver_staff_id,
        approved_at: row.approved_at.map(utc),
        approved_digest: None,
        sent_at: row.sent_at.map(utc),
        expires_at: row.expires_at.map(utc),
        created_at: utc(row.created_at),
        id: row.id,
    })
}

fn encode(input: &NoticeInput) -> Result<(String, String), Error> {
    let content =
        Content { texts: input.texts.clone(), links: input.links.clone(), questionnaire: input.questionnaire.clone() };
    Ok((
        serde_json::to_string(&content).map_err(|e| Error::internal(e.to_string()))?,
        serde_json::to_string(&input.audience).map_err(|e| Error::internal(e.to_string()))?,
    ))
}

pub fn create(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    staff_id: &str,
    input: NoticeInput,
    now: NaiveDateTime,
) -> Result<Notice, Error> {
    validate(&input)?;
    let (content, audience) = encode(&input)?;
    let row = NoticeRow {
        id: new_id(),
        municipality_code: code.to_string(),
        category: input.category.as_str().to_owned(),
        content,
        audience,
        status: NoticeStatus::Draft.as_str().to_owned(),
        author_staff_id: staff_id.to_owned(),
        editors: editors_json(&[staff_id.to_owned()])?,
        approver_staff_id: None,
        approved_at: None,
        sent_at: None,
        expires_at: input.expires_at.map(|t| t.naive_utc()),
        created_at: now,
        updated_at: now,
        send_at: None,
        standing: input.standing,
    };
    diesel::insert_into(notices::table).values(&row).execute(conn)?;
    view(row)
}

fn find(conn: &mut DbConnection, code: &MunicipalityCode, id: &str) -> Result<NoticeRow, Error> {
    notices::table
        .find(id)
        .filter(notices::municipality_code.eq(code.as_str()))
        .select(NoticeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("notice"))
}

pub fn get(conn: &mut DbConnection, code: &MunicipalityCode, id: &str) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    present(conn, row)
}

/// Replaces a notice's contents; an approved notice goes back to draft and needs approval again,
/// from someone who wrote none of it: `staff_id` joins its editors.
pub fn update(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    id: &str,
    input: NoticeInput,
    staff_id: &str,
    now: NaiveDateTime,
) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    let mut editors = editors_of(&row)?;
    if !editors.iter().any(|e| e == staff_id) {
        editors.push(staff_id.to_owned());
    }
    if !matches!(
        NoticeStatus::from_stored(&row.status)?,
        NoticeStatus::Draft | NoticeStatus::Approved | NoticeStatus::Scheduled
    ) {
        return Err(Error::Conflict {
            code: "notice_not_editable",
            message: "a sent or cancelled notice cannot be edited".into(),
        });
    }
    validate(&input)?;
    let (content, audience) = encode(&input)?;
    let updated = NoticeRow {
        category: input.category.as_str().to_owned(),
        content,
        audience,
        status: NoticeStatus::Draft.as_str().to_owned(),
        approver_staff_id: None,
        approved_at: None,
        send_at: None,
        standing: input.standing,
        expires_at: input.expires_at.map(|t| t.naive_utc()),
        editors: editors_json(&editors)?,
        updated_at: now,
        ..row
    };
    diesel::update(notices::table.find(&updated.id)).set(&updated).execute(conn)?;
    present(conn, updated)
}

/// The staff who wrote a notice's contents.
fn editors_of(row: &NoticeRow) -> Result<Vec<String>, Error> {
    let editors: Vec<String> =
        serde_json::from_str(&row.editors).map_err(|e| Error::unreadable("notices.editors", &e))?;
    // Rows from before editors were kept name their author only through `author_staff_id`.
    Ok(if editors.is_empty() { vec![row.author_staff_id.clone()] } else { editors })
}

fn editors_json(editors: &[String]) -> Result<String, Error> {
    serde_json::to_string(editors).map_err(|e| Error::internal(e.to_string()))
}

/// Cancels a notice not yet sent.
pub fn cancel(conn: &mut DbConnection, code: &MunicipalityCode, id: &str, now: NaiveDateTime) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    if !matches!(
        NoticeStatus::from_stored(&row.status)?,
        NoticeStatus::Draft | NoticeStatus::Approved | NoticeStatus::Scheduled
    ) {
        return Err(Error::Conflict {
            code: "notice_not_cancellable",
            message: "a sent notice cannot be cancelled".into(),
        });
    }
    let updated = NoticeRow { status: NoticeStatus::Cancelled.as_str().to_owned(), updated_at: now, ..row };
    diesel::update(notices::table.find(&updated.id)).set(&updated).execute(conn)?;
    present(conn, updated)
}

/// Completed months of age on `today` (a child reaches N months at the end of 生後N月に至る日).
pub fn age_in_months(birth: NaiveDate, today: NaiveDate) -> i64 {
    if today <= birth {
        return 0;
    }
    let mut months = (i64::from(today.year()) - i64::from(birth.year())) * 12 + i64::from(today.month0())
        - i64::from(birth.month0());
    months = months.max(0) + 1;
    while months > 0 && periods::month_age_reached(birth, months) >= today {
        months -= 1;
    }
    months
}

fn matches(
    audience: &Audience,
    family: &FamilyRow,
    kids: &[ChildRow],
    open: &HashSet<String>,
    today: NaiveDate,
) -> bool {
    let born: Vec<NaiveDate> =
        kids.iter().filter(|c| c.status == ChildStatus::Born.as_str()).filter_map(|c| c.birth_date).collect();
    let due: Vec<NaiveDate> =
        kids.iter().filter(|c| c.status == ChildStatus::Expected.as_str()).filter_map(|c| c.due_date).collect();
    audience.child_age_months.is_none_or(|r| born.iter().any(|b| (r.min..=r.max).contains(&age_in_months(*b, today))))
        && audience.child_born_between.is_none_or(|r| born.iter().any(|b| (r.from..=r.to).contains(b)))
        && audience.due_between.is_none_or(|r| due.iter().any(|d| (r.from..=r.to).contains(d)))
        && (audience.open_procedure.is_none() || open.contains(&family.id))
        && audience.health_insurance.is_none_or(|h| family.health_insurance.as_deref() == Some(h.as_str()))
        && audience.single_parent.is_none_or(|s| family.single_parent == s)
}

/// Streams the resident families matching the audience to `each`, a batch at a time.
fn for_each_recipient(
    conn: &mut DbConnection,
    code: &str,
    audience: &Audience,
    today: NaiveDate,
    mut each: impl FnMut(&mut DbConnection, &FamilyRow) -> Result<(), Error>,
) -> Result<i64, Error> {
    let mut after = String::new();
    let mut count = 0;
    loop {
        let batch: Vec<FamilyRow> = families::table
            .filter(families::municipality_code.eq(code))
            .filter(families::id.gt(&after))
            .order(families::id.asc())
            .limit(BATCH)
            .select(FamilyRow::as_select())
            .load(conn)?;
        let Some(last) = batch.last() else { break };
        after = last.id.clone();
        let ids: Vec<&str> = batch.iter().map(|f| f.id.as_str()).collect();
        let kids: Vec<ChildRow> =
            children::table.filter(children::family_id.eq_any(&ids)).select(ChildRow::as_select()).load(conn)?;
        let open: HashSet<String> = match &audience.open_procedure {
            Some(procedure) => tasks::table
                .filter(tasks::family_id.eq_any(&ids))
                .filter(tasks::procedure_id.eq(procedure))
                .filter(tasks::status.eq(TaskStatus::Planned.as_str()))
                .select(tasks::family_id)
                .load::<String>(conn)?
                .into_iter()
                .collect(),
            None => HashSet::new(),
        };
        for family in &batch {
            let own: Vec<ChildRow> = kids.iter().filter(|c| c.family_id == family.id).cloned().collect();
            if matches(audience, family, &own, &open, today) {
                count += 1;
                each(conn, family)?;
            }
        }
    }
    Ok(count)
}

/// How many resident families the audience reaches (never who).
pub fn audience_size(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    audience: &Audience,
    today: NaiveDate,
) -> Result<i64, Error> {
    for_each_recipient(conn, code.as_str(), audience, today, |_, _| Ok(()))
}

/// Schedules an approved notice for `send_at`; the scheduler sends it then (once, whatever the
/// number of replicas), each family's pushes waiting for its allowed hours.
pub fn schedule(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    id: &str,
    send_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    if row.status != NoticeStatus::Approved.as_str() {
        return Err(Error::Conflict {
            code: "notice_not_approved",
            message: "only an approved notice is scheduled".into(),
        });
    }
    if send_at < now {
        return Err(Error::field("send_at", "must not be in the past"));
    }
    approval::ensure_approved_as_is(conn, &row)?;
    let updated = NoticeRow {
        status: NoticeStatus::Scheduled.as_str().to_owned(),
        send_at: Some(send_at),
        updated_at: now,
        ..row
    };
    diesel::update(notices::table.find(&updated.id)).set(&updated).execute(conn)?;
    present(conn, updated)
}

/// Takes a notice from `from` to sent, if no one else did: one conditional update decides.
fn take_for_sending(
    conn: &mut DbConnection,
    row: &NoticeRow,
    from: NoticeStatus,
    now: NaiveDateTime,
) -> Result<bool, Error> {
    let taken = diesel::update(notices::table.find(&row.id).filter(notices::status.eq(from.as_str())))
        .set((
            notices::status.eq(NoticeStatus::Sent.as_str()),
            notices::sent_at.eq(Some(now)),
            notices::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(taken == 1)
}

/// Sends an approved notice now.
pub fn send(
    conn: &mut DbConnection,
    templates: &Templates,
    code: &MunicipalityCode,
    municipality_name: &str,
    id: &str,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    if row.status == NoticeStatus::Approved.as_str() {
        approval::ensure_approved_as_is(conn, &row)?;
    }
    if !take_for_sending(conn, &row, NoticeStatus::Approved, now)? {
        return Err(Error::Conflict {
            code: "notice_not_approved",
            message: "a notice is sent once approved (and not cancelled or already sent)".into(),
        });
    }
    let notice = view(row)?;
    for_each_recipient(conn, code.as_str(), &notice.audience, today, |conn, family| {
        deliver(conn, templates, &notice, municipality_name, family, now)
    })?;
    get(conn, code, id)
}

/// Sends every scheduled notice whose time has come (the scheduler's job).
pub fn send_scheduled(
    conn: &mut DbConnection,
    templates: &Templates,
    names: &dyn Fn(&mut DbConnection, &str) -> Result<String, Error>,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<usize, Error> {
    let due: Vec<NoticeRow> = notices::table
        .filter(notices::status.eq(NoticeStatus::Scheduled.as_str()))
        .filter(notices::send_at.le(now))
        .select(NoticeRow::as_select())
        .load(conn)?;
    let mut sent = 0;
    for row in due {
        if approval::ensure_approved_as_is(conn, &row).is_err() {
            // Not what was approved: back to draft, for a second person to read again.
            tracing::warn!(notice_id = %row.id, "a scheduled notice's contents differ from its approval; returned to draft");
            diesel::update(notices::table.find(&row.id).filter(notices::status.eq(NoticeStatus::Scheduled.as_str())))
                .set((notices::status.eq(NoticeStatus::Draft.as_str()), notices::updated_at.eq(now)))
                .execute(conn)?;
            let event = Event::new(AuditAction::NoticeApprovalOutdated, "notice", row.id.clone())
                .in_municipality(row.municipality_code.clone());
            audit::record(conn, &Actor::system("notices"), event, now)?;
            continue;
        }
        if !take_for_sending(conn, &row, NoticeStatus::Scheduled, now)? {
            continue;
        }
        let event = Event::new(AuditAction::NoticeSent, "notice", row.id.clone())
            .in_municipality(row.municipality_code.clone())
            .detail("scheduled");
        audit::record(conn, &Actor::system("notices"), event, now)?;
        let name = names(conn, &row.municipality_code)?;
        let code = row.municipality_code.clone();
        let notice = view(row)?;
        for_each_recipient(conn, &code, &notice.audience, today, |conn, family| {
            deliver(conn, templates, &notice, &name, family, now)
        })?;
        sent += 1;
    }
    Ok(sent)
}

/// Delivers a sent standing notice of the family's (new) municipality that it has not had yet.
pub fn deliver_standing(
    conn: &mut DbConnection,
    templates: &Templates,
    family: &FamilyRow,
    municipality_name: &str,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<usize, Error> {
    let standing: Vec<NoticeRow> = notices::table
        .filter(notices::municipality_code.eq(&family.municipality_code))
        .filter(notices::status.eq(NoticeStatus::Sent.as_str()))
        .filter(notices::standing.eq(true))
        .filter(notices::expires_at.is_null().or(notices::expires_at.gt(now)))
        .select(NoticeRow::as_select())
        .load(conn)?;
    let mut delivered = 0;
    for row in standing {
        let had: i64 = notice_recipients::table.find((&row.id, &family.id)).count().get_result(conn)?;
        if had > 0 {
            continue;
        }
        let notice = view(row)?;
        if family_matches(conn, &notice.audience, family, today)? {
            deliver(conn, templates, &notice, municipality_name, family, now)?;
            delivered += 1;
        }
    }
    Ok(delivered)
}

fn family_matches(
    conn: &mut DbConnection,
    audience: &Audience,
    family: &FamilyRow,
    today: NaiveDate,
) -> Result<bool, Error> {
    let kids: Vec<ChildRow> =
        children::table.filter(children::family_id.eq(&family.id)).select(ChildRow::as_select()).load(conn)?;
    let open: HashSet<String> = match &audience.open_procedure {
        Some(procedure) => tasks::table
            .filter(tasks::family_id.eq(&family.id))
            .filter(tasks::procedure_id.eq(procedure))
            .filter(tasks::status.eq(TaskStatus::Planned.as_str()))
            .select(tasks::family_id)
            .load::<String>(conn)?
            .into_iter()
            .collect(),
        None => HashSet::new(),
    };
    Ok(matches(audience, family, &kids, &open, today))
}

/// One family's copy of a notice: an inbox entry (and pushes), or, for an official
/// notification without consent, a mark that a letter is needed.
fn deliver(
    conn: &mut DbConnection,
    templates: &Templates,
    notice: &Notice,
    municipality_name: &str,
    family: &FamilyRow,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let consented = notice.category != NoticeCategory::OfficialNotification
        || notice_consents::table
            .find((&family.id, &notice.municipality_code))
            .select(notice_consents::consented)
            .first::<bool>(conn)
            .optional()?
            .unwrap_or(false);
    let entry_id = if consented {
        let text = notice
            .texts
            .get(&family.preferred_language)
            .or_else(|| notice.texts.get("ja"))
            .ok_or_else(|| Error::internal("notice without ja"))?;
        let values = BTreeMap::from([
            ("municipality_name".to_owned(), TemplateValue::Text(municipality_name.to_owned())),
            ("notice_title".to_owned(), TemplateValue::Text(text.title.clone())),
        ]);
        let rendered = templates
            .render("municipal_notice", &family.preferred_language, &values)
            .map_err(|e| Error::Conflict { code: "notice_too_long", message: e.0 })?;
        let rendered =
            crate::templates::Rendered { inbox_text: format!("{}\n\n{}", text.title, text.body), ..rendered };
        let key = format!("notice:{}:{}", notice.id, family.id);
        inbox::record(
            conn,
            family,
            NewEntry {
                dedupe_key: &key,
                kind: EntryKind::Notice,
                rendered: &rendered,
                task_id: None,
                collapse_key: None,
            },
            now,
        )?
    } else {
        None
    };
    diesel::insert_into(notice_recipients::table)
        .values((
            notice_recipients::notice_id.eq(&notice.id),
            notice_recipients::family_id.eq(&family.id),
            notice_recipients::entry_id.eq(entry_id),
            notice_recipients::needs_paper.eq(!consented),
        ))
        .execute(conn)?;
    Ok(())
}

/// The figures of a notice, counting families.
pub fn figures(conn: &mut DbConnection, code: &MunicipalityCode, id: &str) -> Result<NoticeFigures, Error> {
    let row = find(conn, code, id)?;
    let recipients = notice_recipients::table.filter(notice_recipients::notice_id.eq(&row.id));
    let audience: i64 = recipients.count().get_result(conn)?;
    let needs_paper: i64 = recipients.filter(notice_recipients::needs_paper.eq(true)).count().get_result(conn)?;
    let recorded: i64 = recipients.filter(notice_recipients::entry_id.is_not_null()).count().get_result(conn)?;
    let read: i64 = notice_recipients::table
        .inner_join(inbox_entries::table.on(inbox_entries::id.nullable().eq(notice_recipients::entry_id)))
        .filter(notice_recipients::notice_id.eq(&row.id))
        .filter(inbox_entries::read_at.is_not_null())
        .count()
        .get_result(conn)?;
    let outcomes: Vec<(String, String, String)> = notice_recipients::table
        .inner_join(deliveries::table.on(deliveries::entry_id.nullable().eq(notice_recipients::entry_id)))
        .filter(notice_recipients::notice_id.eq(&row.id))
        .select((notice_recipients::family_id, deliveries::provider, deliveries::status))
        .load(conn)?;
    let replied: i64 = notice_replies::table.filter(notice_replies::notice_id.eq(&row.id)).count().get_result(conn)?;
    let mut figures = NoticeFigures {
        editors: editors_of(&row)?,
        author_staff_id: row.author_staff_id.clone(),
        approver_staff_id: row.approver_staff_id.clone(),
        audience,
        recorded,
        read,
        replied,
        needs_paper,
        ..Default::default()
    };
    let mut pushed: HashSet<&str> = HashSet::new();
    let mut by_provider: BTreeMap<String, HashSet<&str>> = BTreeMap::new();
    let mut settled_without: HashSet<&str> = HashSet::new();
    for (family, provider, status) in &outcomes {
        if status == "sent" {
            pushed.insert(family);
            by_provider.entry(provider.clone()).or_default().insert(family);
        } else if status != "pending" {
            settled_without.insert(family);
        }
    }
    figures.pushed = pushed.len() as i64;
    figures.failed = settled_without.iter().filter(|f| !pushed.contains(*f)).count() as i64;
    figures.delivered_by_provider = by_provider.into_iter().map(|(p, f)| (p, f.len() as i64)).collect();
    Ok(figures)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn ages_in_months_follow_the_municipal_reading() {
        // Born 5/10: reaches 1 month at the end of 6/9, so is 1 month old on 6/10.
        assert_eq!(age_in_months(d("2026-05-10"), d("2026-06-09")), 0);
        assert_eq!(age_in_months(d("2026-05-10"), d("2026-06-10")), 1);
        assert_eq!(age_in_months(d("2025-05-10"), d("2026-11-22")), 18);
        assert_eq!(age_in_months(d("2026-07-31"), d("2026-10-01")), 2, "reached 2 months at the end of 9/30");
        assert_eq!(age_in_months(d("2026-11-22"), d("2026-11-22")), 0);
    }
}

/// A family's answer to a notice's questionnaire.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyInput {
    /// Indices of the chosen answers (exactly one for a single-choice question).
    pub choices: Vec<usize>,
    pub free_text: Option<String>,
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

/// The replies to a notice.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepliesSummary {
    /// Families that replied (each once).
    pub replied: i64,
    pub counts: Vec<ChoiceCount>,
    pub replies: Vec<ReplyView>,
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
        Some(t) if crate::domain::individual_number::appears_in(t) => {
            check.fail("free_text", crate::domain::individual_number::REFUSAL)
        }
        _ => {}
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
            notice_replies::free_text.eq(keys.seal_opt("notice_replies.free_text", input.free_text.as_deref())?),
            notice_replies::replied_at.eq(first.unwrap_or(now)),
            notice_replies::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Counts per choice and each reply with the names of the family's guardians.
pub fn replies(
    conn: &mut DbConnection,
    keys: &crate::crypto::KeyRing,
    code: &MunicipalityCode,
    id: &str,
) -> Result<RepliesSummary, Error> {
    let notice = view(find(conn, code, id)?)?;
    let choices = notice.questionnaire.map(|q| q.choices).unwrap_or_default();
    let rows: Vec<(String, String, Option<String>, NaiveDateTime, NaiveDateTime)> = notice_replies::table
        .filter(notice_replies::notice_id.eq(&notice.id))
        .order(notice_replies::replied_at.asc())
        .select((
            notice_replies::family_id,
            notice_replies::choices,
            notice_replies::free_text,
            notice_replies::replied_at,
            notice_replies::updated_at,
        ))
        .load(conn)?;
    let mut counts = vec![0i64; choices.len()];
    let mut replies = Vec::with_capacity(rows.len());
    for (family_id, chosen, free_text, replied_at, updated_at) in rows {
        let chosen: Vec<usize> =
            serde_json::from_str(&chosen).map_err(|e| Error::unreadable("notice_replies.choices", &e))?;
        for &c in &chosen {
            if let Some(count) = counts.get_mut(c) {
                *count += 1;
            }
        }
        let names: Vec<String> =
            guardians::table.filter(guardians::family_id.eq(&family_id)).select(guardians::full_name).load(conn)?;
        replies.push(ReplyView {
            guardian_names: names.iter().map(|n| keys.open("guardians.full_name", n)).collect::<Result<_, _>>()?,
            choices: chosen.iter().filter_map(|&c| choices.get(c).cloned()).collect(),
            free_text: keys.open_opt("notice_replies.free_text", free_text.as_deref())?,
            replied_at: utc(replied_at),
            updated_at: utc(updated_at),
        });
    }
    Ok(RepliesSummary {
        replied: replies.len() as i64,
        counts: choices.into_iter().zip(counts).map(|(choice, count)| ChoiceCount { choice, count }).collect(),
        replies,
    })
}

/// The municipality's notices, newest first (at most `limit`).
pub fn list(conn: &mut DbConnection, code: &MunicipalityCode, limit: i64) -> Result<Vec<Notice>, Error> {
    notices::table
        .filter(notices::municipality_code.eq(code.as_str()))
        .order(notices::id.desc())
        .limit(limit)
        .select(NoticeRow::as_select())
        .load(conn)?
        .into_iter()
        .map(view)
        .collect()
}
