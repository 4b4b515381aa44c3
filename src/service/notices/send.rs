//! Sending: now or at the scheduled time (only as approved), standing notices for families who
//! move in later, and each family's copy (an inbox entry and pushes, or a letter for an official
//! notification without consent).

use std::collections::{BTreeMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::audience::family_matches;
use super::lifecycle::{find, get};
use super::{approval, present, view, Notice, NoticeCategory, NoticeStatus};
use crate::db::rows::{FamilyRow, NoticeRecipientRow, NoticeRow};
use crate::db::schema::{notice_consents, notice_recipients, notices};
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::audit::{self, Actor, AuditAction, Event};
use crate::service::inbox::{self, EntryKind, NewEntry};
use crate::service::UseCase;
use crate::templates::{TemplateValue, Templates};

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
pub(super) fn take_for_sending(
    conn: &mut DbConnection,
    row: &NoticeRow,
    from: NoticeStatus,
    now: NaiveDateTime,
) -> Result<bool, Error> {
    let taken = diesel::update(notices::table.find(&row.id).filter(notices::status.eq(from.as_str())))
        .set((notices::status.eq(NoticeStatus::Sent), notices::sent_at.eq(Some(now)), notices::updated_at.eq(now)))
        .execute(conn)?;
    if taken == 1 {
        super::recording::start(conn, &row.id, now)?;
    }
    Ok(taken == 1)
}

/// Sends an approved notice now: taken for sending here, in the caller's transaction; its
/// audience is recorded after, a batch per transaction (`recording::Recorder`).
pub fn send(conn: &mut DbConnection, uc: &UseCase, code: &MunicipalityCode, id: &str) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    if row.status == NoticeStatus::Approved.as_str() {
        approval::ensure_approved_as_is(conn, &row)?;
    }
    if !take_for_sending(conn, &row, NoticeStatus::Approved, uc.now)? {
        return Err(Error::Conflict {
            code: "notice_not_approved",
            message: "a notice is sent once approved (and not cancelled or already sent)".into(),
        });
    }
    get(conn, code, id)
}

/// The scheduled notices whose time has come, oldest first.
pub fn due_scheduled(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Vec<String>, Error> {
    Ok(notices::table
        .filter(notices::status.eq(NoticeStatus::Scheduled))
        .filter(notices::send_at.le(now))
        .order(notices::send_at.asc())
        .select(notices::id)
        .load(conn)?)
}

/// Sends one due scheduled notice as the scheduler, in a transaction of its own: only as
/// approved (otherwise it returns to draft, and that is recorded). Returns whether it was taken
/// for sending; its audience is recorded after, like a notice sent now.
pub fn send_scheduled(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, Error> {
    let row = super::lifecycle::find_by_id(conn, id)?;
    if row.status != NoticeStatus::Scheduled.as_str() || row.send_at.is_none_or(|at| at > now) {
        return Ok(false);
    }
    if approval::ensure_approved_as_is(conn, &row).is_err() {
        // Not what was approved: back to draft, for a second person to read again.
        tracing::warn!(notice_id = %row.id, "a scheduled notice's contents differ from its approval; returned to draft");
        diesel::update(notices::table.find(&row.id).filter(notices::status.eq(NoticeStatus::Scheduled)))
            .set((notices::status.eq(NoticeStatus::Draft), notices::updated_at.eq(now)))
            .execute(conn)?;
        let event = Event::new(AuditAction::NoticeApprovalOutdated, "notice", row.id.clone())
            .in_municipality(row.municipality_code.clone());
        audit::record(conn, &Actor::system("notices"), event, now)?;
        return Ok(false);
    }
    if !take_for_sending(conn, &row, NoticeStatus::Scheduled, now)? {
        return Ok(false);
    }
    let event = Event::new(AuditAction::NoticeSent, "notice", row.id.clone())
        .in_municipality(row.municipality_code.clone())
        .detail("scheduled");
    audit::record(conn, &Actor::system("notices"), event, now)?;
    Ok(true)
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
        .filter(notices::status.eq(NoticeStatus::Sent))
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

/// One family's copy of a notice: an inbox entry (and pushes), or, for an official
/// notification without consent, a mark that a letter is needed.
pub(super) fn deliver(
    conn: &mut DbConnection,
    templates: &Templates,
    notice: &Notice,
    municipality_name: &str,
    family: &FamilyRow,
    now: NaiveDateTime,
) -> Result<(), Error> {
    deliver_to_page(conn, templates, notice, municipality_name, &[family], now)
}

/// Each family's copy of a notice, as `deliver`, for a page of families in a few statements
/// whatever its size (recording a notice to a million families is a thousand such pages). The
/// notice reads the same to every family of one language, so it is rendered once per language.
pub(super) fn deliver_to_page(
    conn: &mut DbConnection,
    templates: &Templates,
    notice: &Notice,
    municipality_name: &str,
    families: &[&FamilyRow],
    now: NaiveDateTime,
) -> Result<(), Error> {
    let consented: HashSet<String> = if notice.category == NoticeCategory::OfficialNotification {
        let ids: Vec<&str> = families.iter().map(|f| f.id.as_str()).collect();
        notice_consents::table
            .filter(notice_consents::municipality_code.eq(&notice.municipality_code))
            .filter(notice_consents::family_id.eq_any(&ids))
            .filter(notice_consents::consented.eq(true))
            .select(notice_consents::family_id)
            .load(conn)?
            .into_iter()
            .collect()
    } else {
        families.iter().map(|f| f.id.clone()).collect()
    };
    let mut rendered = BTreeMap::new();
    for family in families.iter().filter(|f| consented.contains(&f.id)) {
        if !rendered.contains_key(&family.preferred_language) {
            let text = render(templates, notice, municipality_name, &family.preferred_language)?;
            rendered.insert(family.preferred_language.clone(), text);
        }
    }
    let keys: Vec<String> = families.iter().map(|f| format!("notice:{}:{}", notice.id, f.id)).collect();
    // Each consenting family's entry, with its place in the page so that its id goes back there.
    let (places, entries): (Vec<usize>, Vec<_>) = families
        .iter()
        .zip(&keys)
        .enumerate()
        .filter(|(_, (family, _))| consented.contains(&family.id))
        .filter_map(|(place, (family, key))| {
            let rendered = rendered.get(&family.preferred_language)?;
            let entry =
                NewEntry { dedupe_key: key, kind: EntryKind::Notice, rendered, task_id: None, collapse_key: None };
            Some((place, (*family, entry)))
        })
        .unzip();
    let mut entry_ids = vec![None; families.len()];
    for (place, id) in places.into_iter().zip(inbox::record_many(conn, entries, now)?) {
        entry_ids[place] = id;
    }
    let recipients: Vec<NoticeRecipientRow> = families
        .iter()
        .zip(entry_ids)
        .map(|(family, entry_id)| NoticeRecipientRow {
            notice_id: notice.id.clone(),
            family_id: family.id.clone(),
            entry_id,
            needs_paper: !consented.contains(&family.id),
        })
        .collect();
    crate::db::insert_notice_recipients(conn, &recipients)?;
    Ok(())
}

/// The push and inbox entry a family reading `language` gets (the Japanese text where the
/// notice has none in that language): what is sent, and what the console previews.
pub fn render(
    templates: &Templates,
    notice: &Notice,
    municipality_name: &str,
    language: &str,
) -> Result<crate::templates::Rendered, Error> {
    let text = notice
        .texts
        .get(language)
        .or_else(|| notice.texts.get("ja"))
        .ok_or_else(|| Error::internal("notice without ja"))?;
    let values = BTreeMap::from([
        ("municipality_name".to_owned(), TemplateValue::Text(municipality_name.to_owned())),
        ("notice_title".to_owned(), TemplateValue::Text(text.title.clone())),
    ]);
    let rendered = templates
        .render("municipal_notice", language, &values)
        .map_err(|e| Error::Conflict { code: "notice_too_long", message: e.0 })?;
    Ok(crate::templates::Rendered { inbox_text: format!("{}\n\n{}", text.title, text.body), ..rendered })
}
