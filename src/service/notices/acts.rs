//! What a member of staff does to a notice, as one use case: the act, and its record in the
//! audit trail, in the caller's transaction.

use chrono::NaiveDateTime;

use super::{approve, cancel, schedule, send, update, Notice, NoticeInput};
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::audit::{AuditAction, Event};
use crate::service::UseCase;

/// A notice of a municipality, and the member of its staff acting on it.
pub struct NoticeRef {
    pub code: MunicipalityCode,
    pub id: String,
    pub staff_id: String,
}

/// An act of staff on a notice.
pub enum NoticeAct {
    /// Replace the contents (the notice returns to draft; the writer becomes an editor).
    Update(NoticeInput),
    /// Approve as someone who wrote none of it, the contents whose digest (`content_digest`)
    /// the approver was shown.
    Approve {
        digest: String,
    },
    /// Send at this instant.
    Schedule(NaiveDateTime),
    /// Send now.
    Send,
    Cancel,
}

impl NoticeAct {
    fn audit_action(&self) -> AuditAction {
        match self {
            NoticeAct::Update(_) => AuditAction::NoticeUpdated,
            NoticeAct::Approve { .. } => AuditAction::NoticeApproved,
            NoticeAct::Schedule(_) => AuditAction::NoticeScheduled,
            NoticeAct::Send => AuditAction::NoticeSent,
            NoticeAct::Cancel => AuditAction::NoticeCancelled,
        }
    }
}

/// Does `act` to the notice; returns it with the audit event that records the act.
pub fn act(
    conn: &mut DbConnection,
    uc: &UseCase,
    target: &NoticeRef,
    act: NoticeAct,
) -> Result<(Notice, Event), Error> {
    let NoticeRef { code, id, staff_id } = target;
    let action = act.audit_action();
    let notice = match act {
        NoticeAct::Update(input) => update(conn, code, id, input, staff_id, uc.now)?,
        NoticeAct::Approve { digest } => approve(conn, code, id, staff_id, &digest, uc.now)?,
        NoticeAct::Schedule(send_at) => schedule(conn, code, id, send_at, uc.now)?,
        NoticeAct::Send => send(conn, uc, code, id)?,
        NoticeAct::Cancel => cancel(conn, code, id, uc.now)?,
    };
    let event = Event::new(action, "notice", notice.id.clone()).in_municipality(code.as_str());
    Ok((notice, event))
}
