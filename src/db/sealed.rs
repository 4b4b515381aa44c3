//! 暗号化列: every sealed column, named once. Each name is the AES-256-GCM associated data of
//! its column's values (`KeyRing::seal`/`open`), so a value copied into another column does not
//! open there, and a typo cannot make data that never decrypts: the compiler checks the name.

pub const CHILDREN_FULL_NAME: &str = "children.full_name";
pub const CHILDREN_FULL_NAME_KANA: &str = "children.full_name_kana";
pub const CHILDREN_BIRTH_DETAILS: &str = "children.birth_details";
pub const CHILDREN_BIRTH_WEIGHT: &str = "children.birth_weight_sealed";
pub const DEVICES_AUTH_SECRET: &str = "devices.auth_secret";
pub const DEVICES_P256DH: &str = "devices.p256dh";
pub const DEVICES_TOKEN: &str = "devices.token";
pub const DRAFT_BUNDLES_DOCUMENT: &str = "draft_bundles.document";
pub const DRAFTS_CONTENT: &str = "drafts.content";
pub const DRAFTS_DOCUMENT: &str = "drafts.document";
pub const FAMILIES_ADDRESS: &str = "families.address";
pub const FAMILIES_PAPERWORK: &str = "families.paperwork";
pub const FAMILIES_POSTAL_CODE: &str = "families.postal_code_sealed";
pub const GUARDIANS_FULL_NAME: &str = "guardians.full_name";
pub const GUARDIANS_FULL_NAME_KANA: &str = "guardians.full_name_kana";
pub const GUARDIANS_BIRTH_DATE: &str = "guardians.birth_date_sealed";
pub const GUARDIANS_PHONE: &str = "guardians.phone";
pub const MUNICIPAL_WEBHOOKS_SECRET: &str = "municipal_webhooks.secret";
pub const APP_WEBHOOKS_SECRET: &str = "app_webhooks.secret";
pub const NOTICE_REPLIES_FREE_TEXT: &str = "notice_replies.free_text";
pub const PUSH_CREDENTIALS_SECRET: &str = "push_credentials.secret";
pub const STAFF_LOGINS_TOTP_SECRET: &str = "staff_logins.totp_secret";
pub const SIGNATURES_CERTIFICATE: &str = "signatures.certificate";
pub const SIGNATURES_HOLDER_NAME: &str = "signatures.holder_name";
pub const SIGNATURES_SIGNED_DOCUMENT: &str = "signatures.signed_document";
pub const SUBMISSION_EVENTS_COMMENTS: &str = "submission_events.comments";
pub const SUBMISSION_NOTES_BODY: &str = "submission_notes.body";
/// 処分通知: the decision document (a PDF, as base64).
pub const SUBMISSION_DECISION_DOCUMENTS_DOCUMENT: &str = "submission_decision_documents.document";
pub const SUBMISSIONS_DOCUMENT: &str = "submissions.document";
pub const WEBHOOK_DELIVERIES_PAYLOAD: &str = "webhook_deliveries.payload";
pub const IDEMPOTENCY_KEYS_RESPONSE: &str = "idempotency_keys.response";
/// The canary of each key (`db::canary`), checked on its own: a retired key's canary may stay
/// until a start sees nothing sealed under it.
pub const KEY_CANARIES_SEALED: &str = "key_canaries.sealed";

/// Every sealed column of personal data and credentials (what a start and `nonstop db copy`
/// sample to check the keys open them).
pub const ALL: &[&str] = &[
    CHILDREN_FULL_NAME,
    CHILDREN_FULL_NAME_KANA,
    CHILDREN_BIRTH_DETAILS,
    CHILDREN_BIRTH_WEIGHT,
    DEVICES_AUTH_SECRET,
    DEVICES_TOKEN,
    DRAFT_BUNDLES_DOCUMENT,
    DRAFTS_CONTENT,
    DRAFTS_DOCUMENT,
    FAMILIES_ADDRESS,
    FAMILIES_PAPERWORK,
    FAMILIES_POSTAL_CODE,
    GUARDIANS_FULL_NAME,
    GUARDIANS_FULL_NAME_KANA,
    GUARDIANS_BIRTH_DATE,
    GUARDIANS_PHONE,
    IDEMPOTENCY_KEYS_RESPONSE,
    MUNICIPAL_WEBHOOKS_SECRET,
    APP_WEBHOOKS_SECRET,
    NOTICE_REPLIES_FREE_TEXT,
    PUSH_CREDENTIALS_SECRET,
    STAFF_LOGINS_TOTP_SECRET,
    SIGNATURES_CERTIFICATE,
    SIGNATURES_HOLDER_NAME,
    SIGNATURES_SIGNED_DOCUMENT,
    SUBMISSION_EVENTS_COMMENTS,
    SUBMISSION_NOTES_BODY,
    SUBMISSION_DECISION_DOCUMENTS_DOCUMENT,
    SUBMISSIONS_DOCUMENT,
    WEBHOOK_DELIVERIES_PAYLOAD,
];
