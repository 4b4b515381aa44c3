//! Row structs: one per table, as stored. Sealed columns hold `KeyRing::seal` output; the
//! service layer opens them. Request and response types live elsewhere.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::*;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = apps)]
pub struct AppRow {
    pub id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = app_keys)]
pub struct AppKeyRow {
    pub id: String,
    pub app_id: String,
    pub key_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_members)]
pub struct StaffRow {
    pub id: String,
    pub municipality_code: String,
    pub name: String,
    pub key_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
    pub is_admin: bool,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = families, treat_none_as_null = true)]
pub struct FamilyRow {
    pub id: String,
    pub app_id: String,
    pub municipality_code: String,
    /// sealed
    pub address: Option<String>,
    pub preferred_language: String,
    pub quiet_hours_start: i32,
    pub quiet_hours_end: i32,
    pub health_insurance: Option<String>,
    pub single_parent: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// comma-separated `Circumstance` values
    pub circumstances: String,
    /// sealed JSON: `service::paperwork::Paperwork`
    pub paperwork: Option<String>,
    /// sealed: 郵便番号, `NNN-NNNN`
    pub postal_code_sealed: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = guardians, treat_none_as_null = true)]
pub struct GuardianRow {
    pub id: String,
    pub family_id: String,
    pub relationship: String,
    /// sealed
    pub full_name: String,
    /// sealed
    pub full_name_kana: Option<String>,
    /// sealed
    pub phone: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// ISO 3166-1 alpha-2, in the clear: the planner reads it for every plan, and a country
    /// alone does not name anyone.
    pub nationality: Option<String>,
    /// sealed: the date of birth, `YYYY-MM-DD`
    pub birth_date_sealed: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = children, treat_none_as_null = true)]
pub struct ChildRow {
    pub id: String,
    pub family_id: String,
    pub status: String,
    pub due_date: Option<NaiveDate>,
    pub birth_date: Option<NaiveDate>,
    /// sealed
    pub full_name: Option<String>,
    /// sealed
    pub full_name_kana: Option<String>,
    pub sex: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// sealed JSON: `service::children::BirthDetails`
    pub birth_details: Option<String>,
    /// sealed: the birth weight in grams (要配慮個人情報, kept only under the consent)
    pub birth_weight_sealed: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = devices, treat_none_as_null = true)]
pub struct DeviceRow {
    pub id: String,
    pub family_id: String,
    pub kind: String,
    /// sealed: the Web Push endpoint, or the APNs / FCM token
    pub token: String,
    pub token_hash: String,
    /// sealed
    pub p256dh: Option<String>,
    /// sealed
    pub auth_secret: Option<String>,
    pub apns_environment: Option<String>,
    pub created_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = life_events)]
pub struct LifeEventRow {
    pub id: String,
    pub family_id: String,
    pub child_id: Option<String>,
    pub kind: String,
    pub occurred_on: NaiveDate,
    /// JSON object of non-personal details (weights, municipality codes)
    pub details: String,
    pub recorded_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = parent_sessions)]
pub struct ParentSessionRow {
    pub id: String,
    pub family_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// The app key that minted it (none for sessions minted before this was kept).
    pub app_key_id: Option<String>,
}

/// Inserted with NULL for `None` (no column has a default): SQLite then takes many rows in one
/// statement, new ones and re-planned ones alike (`db::insert_tasks`, `db::rewrite_tasks`).
#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = tasks, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct TaskRow {
    pub id: String,
    pub family_id: String,
    pub task_key: String,
    pub procedure_id: String,
    pub child_id: Option<String>,
    pub municipality_code: String,
    pub occurrence: i32,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
    pub deadline_on: Option<NaiveDate>,
    pub raw_deadline_on: Option<NaiveDate>,
    /// JSON array of strings
    pub reasons: String,
    /// planned | done | dismissed | cancelled
    pub status: String,
    pub status_changed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserted with no column left to its default: SQLite then takes many rows in one statement.
#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = planned_notifications, treat_none_as_default_value = false)]
pub struct PlannedNotificationRow {
    pub id: String,
    pub family_id: String,
    pub task_id: String,
    pub notification_key: String,
    pub reminder_index: i32,
    pub local_date: NaiveDate,
    pub send_at: NaiveDateTime,
    /// planned | cancelled | sent
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = municipality_settings)]
pub struct MunicipalitySettingsRow {
    pub municipality_code: String,
    /// JSON of `MunicipalityOverride`
    pub document: String,
    pub updated_at: NaiveDateTime,
    /// the staff member's id
    pub updated_by: String,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = push_credentials, treat_none_as_null = true)]
pub struct PushCredentialsRow {
    pub app_id: String,
    pub provider: String,
    /// sealed JSON
    pub secret: String,
    pub public_info: String,
    pub config_error: Option<String>,
    pub config_error_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

/// One family's copy of a sent notice: its inbox entry, or the mark that it needs a letter.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = notice_recipients)]
pub struct NoticeRecipientRow {
    pub notice_id: String,
    pub family_id: String,
    pub entry_id: Option<String>,
    pub needs_paper: bool,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = inbox_entries)]
pub struct InboxEntryRow {
    pub id: String,
    pub family_id: String,
    pub dedupe_key: String,
    /// reminder | status | notice
    pub kind: String,
    pub template_id: String,
    pub language: String,
    pub title: String,
    pub body: String,
    pub inbox_text: String,
    pub task_id: Option<String>,
    pub urgency: String,
    pub collapse_key: Option<String>,
    pub recorded_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = deliveries)]
pub struct DeliveryRow {
    pub id: String,
    pub entry_id: String,
    pub device_id: String,
    pub provider: String,
    /// pending | sent | dead | expired | failed
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub due_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = notices, treat_none_as_null = true)]
pub struct NoticeRow {
    pub id: String,
    pub municipality_code: String,
    pub category: String,
    /// JSON of `NoticeContent`
    pub content: String,
    /// JSON of `Audience`
    pub audience: String,
    /// draft | approved | sent | cancelled
    pub status: String,
    pub author_staff_id: String,
    pub approver_staff_id: Option<String>,
    pub approved_at: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When a scheduled notice goes out.
    pub send_at: Option<NaiveDateTime>,
    /// Still delivered to families who move in after it was sent.
    pub standing: bool,
    /// JSON list of the staff ids who wrote its contents (author and editors).
    pub editors: String,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = draft_bundles)]
pub struct DraftBundleRow {
    pub id: String,
    pub family_id: String,
    pub kind: String,
    pub child_id: String,
    pub status: String,
    pub document: Option<String>,
    pub digest: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = drafts)]
pub struct DraftRow {
    pub id: String,
    pub family_id: String,
    pub draft_key: String,
    pub form_id: String,
    pub form_version: i32,
    pub task_id: Option<String>,
    pub child_id: Option<String>,
    pub bundle_id: Option<String>,
    pub status: String,
    pub content: String,
    pub corrects_submission_id: Option<String>,
    pub document: Option<String>,
    pub digest: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = signatures)]
pub struct SignatureRow {
    pub id: String,
    pub family_id: String,
    pub signed_document: String,
    pub signed_digest: String,
    pub signature_value: String,
    pub certificate: String,
    pub certificate_sha256: String,
    pub signer_guardian_id: String,
    pub verification: String,
    pub created_at: NaiveDateTime,
    /// How the signer was matched (`SignerMatch`).
    pub signer_match: String,
    /// 氏名 as printed on the card (sealed).
    pub holder_name: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = submissions)]
pub struct SubmissionRow {
    pub id: String,
    pub family_id: String,
    pub signature_id: String,
    pub draft_id: String,
    pub bundle_id: Option<String>,
    pub municipality_code: String,
    pub form_id: String,
    pub form_version: i32,
    pub task_id: Option<String>,
    pub corrects_submission_id: Option<String>,
    pub document: String,
    pub digest: String,
    pub status: String,
    pub submitted_at: NaiveDateTime,
    pub status_changed_at: NaiveDateTime,
    pub family_deleted_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = submission_events)]
pub struct SubmissionEventRow {
    pub id: String,
    pub submission_id: String,
    pub status: String,
    pub comments: Option<String>,
    pub staff_id: Option<String>,
    pub created_at: NaiveDateTime,
}

/// One entry of the audit trail (監査記録).
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEventRow {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub municipality_code: Option<String>,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

/// One vendor event queued for its app's webhook (`service::app_events`).
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = app_event_deliveries)]
pub struct AppEventDeliveryRow {
    pub id: String,
    pub app_id: String,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}
