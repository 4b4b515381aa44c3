//! 監査記録: the audit trail. Who (a kind and an id, never a secret) did what to which record,
//! when, and in which request. Rows are only ever added (the database refuses updates and
//! deletions by trigger), and hold ids and codes only: no name, token or postal address. The
//! console's sign-in events name the network address the attempt came from, as a municipality's
//! security officer needs to tell its own offices from someone else.
//!
//! An event is written in the transaction of the act it records, so an act that is rolled back
//! leaves no event and an act that is committed always has one. A refused signature is the
//! exception: the refusal rolls its transaction back, so it is recorded in a transaction of its
//! own.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::principals::Principal;
use super::{new_id, utc};
use crate::db::rows::AuditEventRow;
use crate::db::schema::audit_events;
use crate::db::DbConnection;
use crate::error::Error;

crate::text_enum! {
    /// Who acted.
    pub enum ActorKind {
        /// A vendor app's backend (the id is the API key's).
        App => "app",
        /// A member of a municipality's staff (the id is the staff key's).
        Staff => "staff",
        /// A parent, through a session of their family (the id is the family's).
        Parent => "parent",
        /// The operator, on the command line.
        Operator => "operator",
        /// Someone not signed in, known by their client address only (a refused console sign-in).
        Client => "client",
        /// nonstop itself (the daily jobs).
        System => "system",
    }
}

crate::text_enum! {
    /// What was done.
    pub enum AuditAction {
        NoticeCreated => "notice.created",
        NoticeUpdated => "notice.updated",
        NoticeApproved => "notice.approved",
        NoticeScheduled => "notice.scheduled",
        /// Sent by staff, or by the scheduler at its time (the detail is `scheduled`).
        NoticeSent => "notice.sent",
        /// A scheduled notice whose contents were no longer those approved, returned to draft.
        NoticeApprovalOutdated => "notice.approval_outdated",
        NoticeCancelled => "notice.cancelled",
        /// The detail is the new status and the 受付番号: `accepted 2026-000123`.
        SubmissionStatusChanged => "submission.status_changed",
        /// A member of staff took the submission (担当; the detail is `taken`) or gave it back
        /// (`released`).
        SubmissionAssigned => "submission.assigned",
        /// A note for the other members of staff (its text stays with the submission, sealed).
        SubmissionNoteAdded => "submission.note_added",
        /// Submissions of one form exported as CSV for the 基幹 system (the record is the form;
        /// the detail is the form, the rows, the encoding and the conditions:
        /// `child_allowance_claim rows=12 shift_jis from=2026-12-01 status=accepted`).
        SubmissionsExported => "submissions.exported",
        MunicipalitySettingsReplaced => "municipality.settings_replaced",
        WebhookSet => "webhook.set",
        WebhookDeleted => "webhook.deleted",
        AppCreated => "app.created",
        AppRevoked => "app.revoked",
        AppKeyCreated => "app_key.created",
        AppKeyRevoked => "app_key.revoked",
        StaffKeyCreated => "staff_key.created",
        StaffAccountCreated => "staff_account.created",
        StaffKeyRevoked => "staff_key.revoked",
        /// A console sign-in (the detail is the client address).
        StaffSignedIn => "staff_account.signed_in",
        /// A wrong password or code at sign-in (the actor is the client address; the detail is
        /// `password` or `code`).
        StaffSignInFailed => "staff_account.sign_in_failed",
        /// The failure that locked the account for that client address (as above).
        StaffSignInLocked => "staff_account.sign_in_locked",
        /// The administrator unlocked the account (the detail is how many client addresses
        /// were locked out).
        StaffAccountUnlocked => "staff_account.unlocked",
        /// The detail is the client address.
        StaffPasswordChanged => "staff_account.password_changed",
        StaffTwoStepEnabled => "staff_account.two_step_enabled",
        /// Turned off by the member of staff themselves, with their password.
        StaffTwoStepDisabled => "staff_account.two_step_disabled",
        /// Turned off by the municipality's administrator, for a member who lost their app.
        StaffTwoStepReset => "staff_account.two_step_reset",
        SessionCreated => "session.created",
        /// A parent logged out.
        SessionEnded => "session.ended",
        /// The vendor ended every session of a family (the detail is how many).
        SessionsRevoked => "sessions.revoked",
        SigningCertificateRegistered => "signing_certificate.registered",
        /// A card refused for a guardian (the detail is the refusal's code).
        SigningCertificateRefused => "signing_certificate.refused",
        /// The detail is how the signer was matched.
        SignatureAccepted => "signature.accepted",
        /// The detail is the refusal's code (`wrong_signer`, `bad_signature`, …).
        SignatureRefused => "signature.refused",
        /// The detail is how many submissions the municipality keeps.
        FamilyDeleted => "family.deleted",
        /// Kept submissions of deleted families removed after their retention (the detail is how many).
        SubmissionsPurged => "submissions.purged",
    }
}

/// Who acts, in which request: built once per request from the caller's credential.
#[derive(Clone, Debug)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
    pub request_id: Option<String>,
}

impl Actor {
    /// The actor a credential stands for. A key's id is recorded, never its secret.
    pub fn of(principal: &Principal, request_id: Option<String>) -> Self {
        let (kind, id) = match principal {
            Principal::App { key_id, .. } => (ActorKind::App, key_id.clone()),
            Principal::Staff { staff_id, .. } => (ActorKind::Staff, staff_id.clone()),
            Principal::Parent { family_id, .. } => (ActorKind::Parent, family_id.clone()),
        };
        Actor { kind, id, request_id }
    }

    /// The operator at the command line (the id names the command).
    pub fn operator(command: &str) -> Self {
        Actor { kind: ActorKind::Operator, id: command.to_owned(), request_id: None }
    }

    /// Someone not signed in, by the network address they came from.
    pub fn client(address: &str, request_id: Option<String>) -> Self {
        Actor { kind: ActorKind::Client, id: address.to_owned(), request_id }
    }

    /// nonstop's own jobs.
    pub fn system(job: &str) -> Self {
        Actor { kind: ActorKind::System, id: job.to_owned(), request_id: None }
    }
}

/// One event to record: the action, its target and what else identifies it.
#[derive(Clone, Debug)]
pub struct Event {
    pub action: AuditAction,
    pub target_kind: &'static str,
    pub target_id: String,
    pub municipality: Option<String>,
    pub detail: Option<String>,
}

impl Event {
    pub fn new(action: AuditAction, target_kind: &'static str, target_id: impl Into<String>) -> Self {
        Event { action, target_kind, target_id: target_id.into(), municipality: None, detail: None }
    }

    /// Makes the event readable by that municipality's staff.
    pub fn in_municipality(mut self, code: impl Into<String>) -> Self {
        self.municipality = Some(code.into());
        self
    }

    /// A code that completes the action (a status, a refusal): never free text.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Records an event in the caller's transaction.
pub fn record(conn: &mut DbConnection, actor: &Actor, event: Event, now: NaiveDateTime) -> Result<(), Error> {
    let row = AuditEventRow {
        id: new_id(),
        occurred_at: now,
        actor_kind: actor.kind.as_str().to_owned(),
        actor_id: actor.id.clone(),
        action: event.action.as_str().to_owned(),
        target_kind: event.target_kind.to_owned(),
        target_id: event.target_id,
        municipality_code: event.municipality,
        detail: event.detail,
        request_id: actor.request_id.clone(),
    };
    diesel::insert_into(audit_events::table).values(&row).execute(conn)?;
    Ok(())
}

/// Records an event about one family's records, readable by the staff of the municipality the
/// family lives in (a refused signature or card: the municipality should see them, not only the
/// operator).
pub fn record_for_family(
    conn: &mut DbConnection,
    actor: &Actor,
    event: Event,
    family_id: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    use crate::db::schema::families;
    let municipality: Option<String> =
        families::table.find(family_id).select(families::municipality_code).first(conn).optional()?;
    let event = match municipality {
        Some(code) => event.in_municipality(code),
        None => event,
    };
    record(conn, actor, event, now)
}

/// An event as staff and operators read it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub action: AuditAction,
    pub target_kind: String,
    pub target_id: String,
    pub municipality_code: Option<String>,
    pub detail: Option<String>,
    /// nonstop's id of the request that did it, as answered in its `X-Request-Id` (a caller's own
    /// id is logged beside it, never recorded instead).
    pub request_id: Option<String>,
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Deprecated: the same as `next_cursor`, for clients that page with `before`.
    pub next_before: Option<String>,
}

/// Which events to read.
#[derive(Debug, Default)]
pub struct AuditFilter {
    /// Only this municipality's events (staff always read their own only).
    pub municipality: Option<String>,
    pub action: Option<AuditAction>,
    /// Only events on this kind of record (`staff_account`: the console's sign-ins).
    pub target_kind: Option<&'static str>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    /// Events older than this event id (the previous page's `next_before`).
    pub before: Option<String>,
    pub limit: i64,
}

/// Reads events, newest first.
pub fn list(conn: &mut DbConnection, filter: &AuditFilter) -> Result<AuditPage, Error> {
    let mut query = audit_events::table.select(AuditEventRow::as_select()).into_boxed();
    if let Some(code) = &filter.municipality {
        query = query.filter(audit_events::municipality_code.eq(code.clone()));
    }
    if let Some(action) = filter.action {
        query = query.filter(audit_events::action.eq(action.as_str()));
    }
    if let Some(kind) = filter.target_kind {
        query = query.filter(audit_events::target_kind.eq(kind));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_events::occurred_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::occurred_at.lt(until));
    }
    if let Some(before) = &filter.before {
        query = query.filter(audit_events::id.lt(before.clone()));
    }
    let mut rows: Vec<AuditEventRow> = query.order(audit_events::id.desc()).limit(filter.limit + 1).load(conn)?;
    let next_before = if rows.len() as i64 > filter.limit {
        rows.truncate(filter.limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(AuditEvent {
                occurred_at: utc(r.occurred_at),
                actor_kind: ActorKind::from_stored(&r.actor_kind)?,
                action: AuditAction::from_stored(&r.action)?,
                id: r.id,
                actor_id: r.actor_id,
                target_kind: r.target_kind,
                target_id: r.target_id,
                municipality_code: r.municipality_code,
                detail: r.detail,
                request_id: r.request_id,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(AuditPage { items, next_cursor: next_before.clone(), next_before })
}
