//! A vendor app's push credentials: set, rotated and shown (without secrets) through the API.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::KeyRing;
use crate::db::rows::PushCredentialsRow;
use crate::db::schema::push_credentials;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::enums::DeviceKind;
use crate::error::{Error, FieldCheck};
use crate::push::credentials::{
    generate_vapid_keys, vapid_public_key, vapid_subject, ApnsCredentials, ApnsPublic, AppCredentials, FcmCredentials,
    FcmPublic, PushCredentialsView, WebPushCredentials, WebPushPublic,
};

/// VAPID credentials: nonstop generates a key pair unless one is supplied.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebPushCredentialsInput {
    /// `mailto:` or `https:` contact for the push services (VAPID `sub`).
    #[schema(example = "mailto:push@example-childcare.jp")]
    pub subject: String,
    /// A raw P-256 private key, base64url; left out, nonstop generates a new pair.
    pub private_key: Option<String>,
}

/// APNs token authentication.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApnsCredentialsInput {
    /// The .p8 key as PEM (`-----BEGIN PRIVATE KEY-----`).
    pub key_pem: String,
    /// The 10-character key id.
    pub key_id: String,
    /// The 10-character team id.
    pub team_id: String,
    /// The bundle id (apns-topic), such as `jp.example.kosodate`: letters, digits and hyphens
    /// in dot-separated parts.
    pub topic: String,
}

/// An FCM service account: the JSON file Google issues, sent as it is. Only `project_id`,
/// `client_email` and `private_key` are kept; Google's other fields are accepted and dropped.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FcmCredentialsInput {
    /// `service_account` (the only kind FCM takes).
    #[serde(rename = "type")]
    pub account_type: Option<String>,
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    /// Google's token endpoint, as in the file; nonstop always uses the one its operator set
    /// (Google's), so any other value is refused.
    pub token_uri: Option<String>,
    /// Part of Google's file; not used.
    pub private_key_id: Option<String>,
    /// Part of Google's file; not used.
    pub client_id: Option<String>,
    /// Part of Google's file; not used.
    pub auth_uri: Option<String>,
    /// Part of Google's file; not used.
    pub auth_provider_x509_cert_url: Option<String>,
    /// Part of Google's file; not used.
    pub client_x509_cert_url: Option<String>,
    /// Part of Google's file; not used.
    pub universe_domain: Option<String>,
}

/// Stores an app's credentials of one provider: the secret part sealed, the public part (what
/// the vendor reads back) as it is.
fn store<S: Serialize, P: Serialize>(
    conn: &mut DbConnection,
    keys: &KeyRing,
    app_id: &str,
    provider: DeviceKind,
    (secret, public): (&S, &P),
    now: NaiveDateTime,
) -> Result<(), Error> {
    let row = PushCredentialsRow {
        app_id: app_id.to_owned(),
        provider: provider.as_str().to_owned(),
        secret: keys.seal(
            "push_credentials.secret",
            &serde_json::to_string(secret).map_err(|e| Error::internal(e.to_string()))?,
        )?,
        public_info: serde_json::to_string(public).map_err(|e| Error::internal(e.to_string()))?,
        config_error: None,
        config_error_at: None,
        updated_at: now,
    };
    diesel::delete(push_credentials::table.find((app_id, provider.as_str()))).execute(conn)?;
    diesel::insert_into(push_credentials::table).values(&row).execute(conn)?;
    Ok(())
}

pub fn set_web_push(
    conn: &mut DbConnection,
    keys: &KeyRing,
    app_id: &str,
    input: WebPushCredentialsInput,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let mut check = FieldCheck::default();
    let subject = check.check("subject", vapid_subject(&input.subject));
    let pair = match input.private_key {
        Some(private) => check.check("private_key", vapid_public_key(&private)).map(|public| (private, public)),
        None => Some(generate_vapid_keys()),
    };
    check.finish()?;
    let (Some(subject), Some((private_key, public_key))) = (subject, pair) else {
        return Err(Error::internal("validated credentials missing"));
    };
    let credentials = WebPushCredentials { private_key, public_key: public_key.clone(), subject: subject.clone() };
    store(
        conn,
        keys,
        app_id,
        DeviceKind::WebPush,
        (&credentials, &serde_json::json!({ "public_key": public_key, "subject": subject })),
        now,
    )
}

pub fn set_apns(
    conn: &mut DbConnection,
    keys: &KeyRing,
    app_id: &str,
    input: ApnsCredentialsInput,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let mut check = FieldCheck::default();
    if !is_apns_token_key(&input.key_pem) {
        check.fail("key_pem", "must be the .p8 key in PEM (-----BEGIN PRIVATE KEY-----): a P-256 private key");
    }
    let ten = |v: &str| v.len() == 10 && v.bytes().all(|b| b.is_ascii_alphanumeric());
    if !ten(&input.key_id) {
        check.fail("key_id", "must be the 10-character key id");
    }
    if !ten(&input.team_id) {
        check.fail("team_id", "must be the 10-character team id");
    }
    if !is_bundle_id(&input.topic) {
        check.fail(
            "topic",
            "must be the app's bundle id, as in Xcode: letters, digits and hyphens in dot-separated parts, \
             such as jp.example.kosodate (155 characters at most)",
        );
    }
    check.finish()?;
    let public = serde_json::json!({ "key_id": input.key_id, "team_id": input.team_id, "topic": input.topic });
    let credentials =
        ApnsCredentials { key_pem: input.key_pem, key_id: input.key_id, team_id: input.team_id, topic: input.topic };
    store(conn, keys, app_id, DeviceKind::Apns, (&credentials, &public), now)
}

/// Whether `topic` has the shape of a bundle id (Apple: A–Z, a–z, 0–9, hyphen and period,
/// reverse-DNS), with a suffix such as `.voip` allowed as it has the same shape. It becomes the
/// `apns-topic` header of every push, so nothing else may pass.
fn is_bundle_id(topic: &str) -> bool {
    let parts: Vec<&str> = topic.split('.').collect();
    topic.len() <= 155
        && parts.len() >= 2
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Whether the text is what Apple issues for token authentication: a P-256 private key in
/// PKCS#8 PEM. Checked when set, so that a wrong file is the vendor's 422 now rather than
/// failed deliveries later.
fn is_apns_token_key(pem: &str) -> bool {
    pem.contains("-----BEGIN PRIVATE KEY-----")
        && openssl::pkey::PKey::private_key_from_pem(pem.as_bytes())
            .and_then(|key| key.ec_key())
            .is_ok_and(|ec| ec.group().curve_name() == Some(openssl::nid::Nid::X9_62_PRIME256V1))
}

/// Stores an app's FCM service account. `token_uri` is the operator's token endpoint
/// (`push.fcm_token_uri`): the token request goes there whatever the vendor sent, so a vendor
/// cannot aim nonstop at a host of its choosing; a file naming another endpoint is refused.
pub fn set_fcm(
    conn: &mut DbConnection,
    keys: &KeyRing,
    app_id: &str,
    input: FcmCredentialsInput,
    token_uri: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let mut check = FieldCheck::default();
    if input.project_id.is_empty() || !input.project_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        check.fail("project_id", "must be the Firebase project id");
    }
    if !input.client_email.contains('@') {
        check.fail("client_email", "must be the service account's email");
    }
    if !input.private_key.contains("-----BEGIN PRIVATE KEY-----") {
        check.fail("private_key", "must be the service account's private key in PEM");
    }
    if input.account_type.as_deref().is_some_and(|kind| kind != "service_account") {
        check.fail("type", "must be service_account: FCM takes a service account's key file");
    }
    if input.token_uri.as_deref().is_some_and(|given| given != token_uri) {
        check.fail("token_uri", format!("must be Google's token endpoint {token_uri} (or left out)"));
    }
    check.finish()?;
    let public = serde_json::json!({ "project_id": input.project_id, "client_email": input.client_email });
    let credentials = FcmCredentials {
        project_id: input.project_id,
        client_email: input.client_email,
        private_key: input.private_key,
        token_uri: token_uri.to_owned(),
    };
    store(conn, keys, app_id, DeviceKind::Fcm, (&credentials, &public), now)
}

fn rows(conn: &mut DbConnection, app_id: &str) -> Result<Vec<PushCredentialsRow>, Error> {
    Ok(push_credentials::table
        .filter(push_credentials::app_id.eq(app_id))
        .select(PushCredentialsRow::as_select())
        .load(conn)?)
}

/// What the app may see: public parts and the last configuration error.
pub fn view(conn: &mut DbConnection, app_id: &str) -> Result<PushCredentialsView, Error> {
    let mut view = PushCredentialsView::default();
    for row in rows(conn, app_id)? {
        let public: serde_json::Value =
            serde_json::from_str(&row.public_info).map_err(|e| Error::internal(e.to_string()))?;
        let text = |k: &str| public[k].as_str().unwrap_or_default().to_owned();
        match DeviceKind::from_stored(&row.provider)? {
            DeviceKind::WebPush => {
                view.web_push = Some(WebPushPublic {
                    public_key: text("public_key"),
                    subject: text("subject"),
                    config_error: row.config_error,
                })
            }
            DeviceKind::Apns => {
                view.apns = Some(ApnsPublic {
                    key_id: text("key_id"),
                    team_id: text("team_id"),
                    topic: text("topic"),
                    config_error: row.config_error,
                })
            }
            DeviceKind::Fcm => {
                view.fcm = Some(FcmPublic {
                    project_id: text("project_id"),
                    client_email: text("client_email"),
                    config_error: row.config_error,
                })
            }
        }
    }
    Ok(view)
}

/// The app's credentials, opened for sending.
pub fn load(conn: &mut DbConnection, keys: &KeyRing, app_id: &str) -> Result<AppCredentials, Error> {
    let mut credentials = AppCredentials::default();
    let mut versions = Vec::new();
    for row in rows(conn, app_id)? {
        let secret = keys.open(sealed::PUSH_CREDENTIALS_SECRET, &row.secret)?;
        let parse_err = |e: serde_json::Error| Error::unreadable("push_credentials.secret", &e);
        versions.push(format!("{}@{}", row.provider, row.updated_at));
        match DeviceKind::from_stored(&row.provider)? {
            DeviceKind::WebPush => credentials.web_push = Some(serde_json::from_str(&secret).map_err(parse_err)?),
            DeviceKind::Apns => credentials.apns = Some(serde_json::from_str(&secret).map_err(parse_err)?),
            DeviceKind::Fcm => credentials.fcm = Some(serde_json::from_str(&secret).map_err(parse_err)?),
        }
    }
    credentials.version = versions.join(",");
    Ok(credentials)
}

/// Records a configuration error a provider reported, for the vendor to see.
pub fn report_config_error(
    conn: &mut DbConnection,
    app_id: &str,
    provider: DeviceKind,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(push_credentials::table.find((app_id, provider.as_str())))
        .set((push_credentials::config_error.eq(Some(reason)), push_credentials::config_error_at.eq(Some(now))))
        .execute(conn)?;
    Ok(())
}
