//! お知らせ: notices a municipality's staff write for the families resident there, approved by
//! a second staff member, fanned out through the same inbox and outbox as reminders, and
//! measured without counting a family twice.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::utc;
use crate::db::rows::NoticeRow;
use crate::db::DbConnection;
use crate::domain::{text, LanguageTag};
use crate::error::{Error, FieldCheck};
use crate::text_enum;

mod approval;
pub use approval::{approve, changes_since_shown, content_digest, NoticeChange};

mod acts;
mod audience;
mod figures;
mod lifecycle;
pub mod recording;
mod replies;
mod send;
pub mod starters;

pub use acts::{act, NoticeAct, NoticeRef};
pub use audience::{
    audience_size, audience_size_walked, reach, Audience, AudienceCounts, AudienceSize, DateRange, MonthRange, Reach,
};
pub use figures::{figures, progress, NoticeFigures, Progress};
pub use lifecycle::{cancel, create, create_audited, get, list, page, update, NoticePage};
pub use recording::{Recorder, RECORDING_BATCH};
pub use replies::{replies, reply, set_consent, ChoiceCount, RepliesSummary, ReplyInput, ReplyView};
pub use send::{deliver_standing, due_scheduled, render, schedule, send, send_scheduled};

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
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    #[schema(min_length = 1, max_length = 10000)]
    pub body: String,
}

/// A link or attachment.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeLink {
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    /// An https URL.
    #[schema(max_length = 2048)]
    pub url: String,
    #[schema(minimum = 0)]
    pub size_bytes: Option<i64>,
    /// SHA-256 of the file, hex.
    #[schema(pattern = "^[0-9A-Fa-f]{64}$")]
    pub sha256: Option<String>,
}

/// The most links a notice carries.
pub const MAX_LINKS: usize = 10;

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
    #[schema(min_length = 1, max_length = 100)]
    pub question: String,
    pub kind: AnswerKind,
    /// 2 to 20 choices.
    #[schema(min_items = 2, max_items = 20)]
    pub choices: Vec<String>,
    /// Whether a free-text answer is accepted.
    #[serde(default)]
    pub free_text: bool,
    /// Replies are taken (and may be changed) until then.
    pub reply_deadline: Option<DateTime<Utc>>,
}

/// A notice to write (or a replacement of a draft's contents).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeInput {
    pub category: NoticeCategory,
    /// Language tag → title and body; Japanese (`ja`) is required.
    pub texts: BTreeMap<String, NoticeText>,
    #[serde(default)]
    #[schema(max_items = 10)]
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
    /// SHA-256 of the contents as they are now (category, texts, links, questionnaire,
    /// audience, expiry, standing). Approving names it: an approval of contents that changed
    /// after they were read is refused (`approval_stale`).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub content_digest: String,
    /// SHA-256 of the contents the approver approved. A notice is sent or scheduled only while
    /// its contents still have this digest; any edit returns it to draft.
    pub approved_digest: Option<String>,
    /// For a draft approved before and edited since: what differs from the contents last
    /// approved, so the next approver reads the changes. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes_since_approval: Option<Vec<NoticeChange>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
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
        } else if let Err(problem) = text::readable(&t.body, text::Lines::Many) {
            check.fail(&format!("texts.{language}.body"), problem);
        } else if crate::domain::individual_number::appears_in(&t.body) {
            check.fail(&format!("texts.{language}.body"), crate::domain::individual_number::REFUSAL);
        }
    }
    if input.links.len() > MAX_LINKS {
        check.fail("links", format!("at most {MAX_LINKS} links"));
    }
    for (i, link) in input.links.iter().enumerate() {
        check.check(&format!("links[{i}].title"), text::name(&link.title).map_err(|e| e.replace("a name", "a title")));
        if link.size_bytes.is_some_and(|n| n < 0) {
            check.fail(&format!("links[{i}].size_bytes"), "must not be negative");
        }
        if link.url.len() > 2048
            || !url::Url::parse(&link.url).is_ok_and(|u| u.scheme() == "https")
            || text::readable(&link.url, text::Lines::One).is_err()
        {
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
    input.audience.check(&mut check, "audience.");
    check.finish()
}

/// A notice as staff read it: `view`, with the digest of its latest approval.
fn present(conn: &mut DbConnection, row: NoticeRow) -> Result<Notice, Error> {
    let approved_digest =
        if row.approver_staff_id.is_some() { approval::approved_digest(conn, &row.id)? } else { None };
    let changes_since_approval =
        if row.status == NoticeStatus::Draft.as_str() { approval::changes_since_approval(conn, &row)? } else { None };
    Ok(Notice { approved_digest, changes_since_approval, ..view(row)? })
}

fn view(row: NoticeRow) -> Result<Notice, Error> {
    let content_digest = approval::content_digest(&row);
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
        content_digest,
        approved_digest: None,
        changes_since_approval: None,
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

/// The staff who wrote a notice's contents: its author, then each editor.
fn editors_of(row: &NoticeRow) -> Result<Vec<String>, Error> {
    let editors: Vec<String> =
        serde_json::from_str(&row.editors).map_err(|e| Error::unreadable("notices.editors", &e))?;
    // Rows from before editors were kept name their author only through `author_staff_id`.
    Ok(if editors.is_empty() { vec![row.author_staff_id.clone()] } else { editors })
}

fn editors_json(editors: &[String]) -> Result<String, Error> {
    serde_json::to_string(editors).map_err(|e| Error::internal(e.to_string()))
}
