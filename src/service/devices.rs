//! 端末: the devices a family receives pushes on.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{new_id, tagged, utc};
use crate::crypto::{sha256_hex, KeyRing};
use crate::db::rows::DeviceRow;
use crate::db::schema::devices;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::enums::{ApnsEnvironment, DeviceKind};
use crate::domain::push_target::PushTarget;
use crate::error::Error;

/// The most devices one family registers.
pub const MAX_PER_FAMILY: i64 = 20;

/// A registered device. Its token or endpoint is never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Device {
    pub id: String,
    pub kind: DeviceKind,
    /// For Web Push: the push service's host (e.g. `fcm.googleapis.com`).
    pub push_service: Option<String>,
    /// For APNs: which environment the token belongs to.
    pub apns_environment: Option<ApnsEnvironment>,
    pub created_at: DateTime<Utc>,
    /// Set when nonstop stopped sending to the device (e.g. the push service said the token is gone).
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
}

/// The keys of a Web Push subscription, as `PushSubscription.toJSON()` gives them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebPushKeys {
    /// The browser's P-256 public key, base64url (65 bytes uncompressed).
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    pub auth: String,
}

/// A device to register, by `kind`.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeviceInput {
    /// A browser or PWA subscription.
    WebPush(WebPushDevice),
    /// An iOS device token.
    Apns(ApnsDevice),
    /// An Android (or iOS through Firebase) registration token.
    Fcm(FcmDevice),
}

crate::tagged_schema!(
    DeviceInput,
    "kind",
    "A device to register, by `kind`.",
    [
        ("web_push", "WebPushDeviceInput", WebPushDevice, "A browser or PWA subscription."),
        ("apns", "ApnsDeviceInput", ApnsDevice, "An iOS device token."),
        ("fcm", "FcmDeviceInput", FcmDevice, "An Android (or iOS through Firebase) registration token."),
    ]
);

/// A Web Push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebPushDevice {
    /// The push service URL from the subscription.
    pub endpoint: String,
    pub keys: WebPushKeys,
    /// Ignored; browsers include it in `toJSON()`.
    #[serde(default, rename = "expirationTime", skip_serializing)]
    #[schema(value_type = Option<i64>)]
    pub expiration_time: Option<serde_json::Value>,
}

/// An APNs device token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApnsDevice {
    /// The device token in hexadecimal.
    pub token: String,
    #[serde(default = "production")]
    pub environment: ApnsEnvironment,
}

/// An FCM registration token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FcmDevice {
    pub token: String,
}

impl<'de> Deserialize<'de> for DeviceInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, body) = tagged::split(deserializer, "kind")?;
        match kind.as_str() {
            "web_push" => tagged::variant(body).map(Self::WebPush),
            "apns" => tagged::variant(body).map(Self::Apns),
            "fcm" => tagged::variant(body).map(Self::Fcm),
            other => Err(tagged::unknown("kind", other, &["web_push", "apns", "fcm"])),
        }
    }
}

fn production() -> ApnsEnvironment {
    ApnsEnvironment::Production
}

impl DeviceInput {
    fn into_target(self) -> Result<PushTarget, Error> {
        match self {
            Self::WebPush(d) => PushTarget::web_push(&d.endpoint, &d.keys.p256dh, &d.keys.auth),
            Self::Apns(d) => PushTarget::apns(&d.token, d.environment),
            Self::Fcm(d) => PushTarget::fcm(&d.token),
        }
        .map_err(Error::Validation)
    }
}

/// Whether a registration created a device or found it already there.
pub enum Registered {
    Created(Device),
    Existing(Device),
}

/// Registers a device. The same token twice in one family is one device: the second call
/// returns it (re-enabled if it had been disabled, since the app vouches for it again).
pub fn register(
    conn: &mut DbConnection,
    keys: &KeyRing,
    family_id: &str,
    input: DeviceInput,
    allowed_hosts: &[String],
    now: NaiveDateTime,
) -> Result<Registered, Error> {
    let target = input.into_target()?;
    // Endpoints are user-supplied URLs: only known push services are ever contacted.
    if let PushTarget::WebPush { endpoint, .. } = &target {
        let url = url::Url::parse(endpoint).map_err(|_| Error::field("endpoint", "must be an absolute URL"))?;
        if !crate::push::webpush::endpoint_allowed(&url, allowed_hosts) {
            let host = url.host_str().unwrap_or_default();
            let problem = match url.port() {
                Some(port) if crate::push::webpush::endpoint_allowed(&without_port(&url), allowed_hosts) => {
                    format!("'{host}' is a push service nonstop sends to on its own port, not on {port}")
                }
                _ => format!("'{host}' is not a push service nonstop sends to"),
            };
            return Err(Error::field("endpoint", problem));
        }
    }
    let token_hash = sha256_hex(target.address());
    crate::db::caps::lock_family(conn, family_id)?;
    let existing: Option<DeviceRow> = devices::table
        .filter(devices::family_id.eq(family_id))
        .filter(devices::token_hash.eq(&token_hash))
        .select(DeviceRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(row) = existing {
        let row = reenable(conn, keys, row, &target)?;
        return view(keys, row).map(Registered::Existing);
    }
    let active: i64 = devices::table.filter(devices::family_id.eq(family_id)).count().get_result(conn)?;
    crate::db::caps::within(active, MAX_PER_FAMILY, "too_many_devices", "devices per family")?;
    let row = seal(keys, family_id, &target, token_hash, now)?;
    diesel::insert_into(devices::table).values(&row).execute(conn)?;
    view(keys, row).map(Registered::Created)
}

/// Takes fresh keys (a re-subscription may rotate them) and clears a disabled state.
fn reenable(conn: &mut DbConnection, keys: &KeyRing, row: DeviceRow, target: &PushTarget) -> Result<DeviceRow, Error> {
    let fresh = seal(keys, &row.family_id, target, row.token_hash.clone(), row.created_at)?;
    let updated = DeviceRow { id: row.id, ..fresh };
    diesel::update(devices::table.find(&updated.id)).set(&updated).execute(conn)?;
    Ok(updated)
}

pub fn remove(conn: &mut DbConnection, family_id: &str, device_id: &str) -> Result<(), Error> {
    let deleted =
        diesel::delete(devices::table.find(device_id).filter(devices::family_id.eq(family_id))).execute(conn)?;
    if deleted == 0 {
        return Err(Error::NotFound("device"));
    }
    Ok(())
}

pub fn list(conn: &mut DbConnection, keys: &KeyRing, family_id: &str) -> Result<Vec<Device>, Error> {
    devices::table
        .filter(devices::family_id.eq(family_id))
        .order(devices::id.asc())
        .select(DeviceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| view(keys, row))
        .collect()
}

fn seal(
    keys: &KeyRing,
    family_id: &str,
    target: &PushTarget,
    token_hash: String,
    now: NaiveDateTime,
) -> Result<DeviceRow, Error> {
    let (p256dh, auth, environment) = match target {
        PushTarget::WebPush { p256dh, auth, .. } => (Some(p256dh.as_str()), Some(auth.as_str()), None),
        PushTarget::Apns { environment, .. } => (None, None, Some(environment.as_str().to_owned())),
        PushTarget::Fcm { .. } => (None, None, None),
    };
    Ok(DeviceRow {
        id: new_id(),
        family_id: family_id.to_owned(),
        kind: target.kind().as_str().to_owned(),
        token: keys.seal(sealed::DEVICES_TOKEN, target.address())?,
        token_hash,
        p256dh: keys.seal_opt(sealed::DEVICES_P256DH, p256dh)?,
        auth_secret: keys.seal_opt(sealed::DEVICES_AUTH_SECRET, auth)?,
        apns_environment: environment,
        created_at: now,
        disabled_at: None,
        disabled_reason: None,
    })
}

/// The URL on its scheme's own port.
fn without_port(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    let _ = url.set_port(None);
    url
}

/// The token itself is never shown; for Web Push, the push service's host is.
fn view(keys: &KeyRing, row: DeviceRow) -> Result<Device, Error> {
    let kind = DeviceKind::from_stored(&row.kind)?;
    let push_service = match kind {
        DeviceKind::WebPush => {
            let endpoint = keys.open(sealed::DEVICES_TOKEN, &row.token)?;
            url::Url::parse(&endpoint).ok().and_then(|u| u.host_str().map(str::to_owned))
        }
        DeviceKind::Apns | DeviceKind::Fcm => None,
    };
    Ok(Device {
        kind,
        push_service,
        apns_environment: row.apns_environment.as_deref().map(ApnsEnvironment::from_stored).transpose()?,
        created_at: utc(row.created_at),
        disabled_at: row.disabled_at.map(utc),
        disabled_reason: row.disabled_reason,
        id: row.id,
    })
}
