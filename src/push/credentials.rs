//! Per-app push credentials: each vendor app pushes with its own VAPID keys, APNs token key and
//! FCM service account. Secrets are sealed at rest and never returned in full.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256KeyPair};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::enums::ApnsEnvironment;

/// Web Push (VAPID) credentials.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebPushCredentials {
    /// The raw P-256 private scalar, base64url (32 bytes).
    pub private_key: String,
    /// The uncompressed public key, base64url (65 bytes): what browsers subscribe with.
    pub public_key: String,
    /// The VAPID `sub`: a `mailto:` or `https:` contact the push services can reach.
    pub subject: String,
}

/// APNs token-based credentials.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApnsCredentials {
    /// The .p8 key (PKCS#8 PEM).
    pub key_pem: String,
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
}

/// An FCM service account (the JSON Google issues), kept whole for `gcp_auth`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FcmCredentials {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    pub token_uri: String,
}

impl FcmCredentials {
    /// The service-account JSON `gcp_auth` reads, with the operator's token endpoint (whatever
    /// an older row stored).
    pub fn service_account_json(&self, token_uri: &str) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": self.project_id,
            "client_email": self.client_email,
            "private_key": self.private_key,
            "token_uri": token_uri,
        })
        .to_string()
    }
}

/// All the credentials an app has set, opened for sending.
#[derive(Clone, Debug, Default)]
pub struct AppCredentials {
    pub web_push: Option<WebPushCredentials>,
    pub apns: Option<ApnsCredentials>,
    pub fcm: Option<FcmCredentials>,
    /// When they last changed: senders cache per app and version.
    pub version: String,
}

/// A new VAPID key pair (P-256), base64url: (private scalar, uncompressed public key).
pub fn generate_vapid_keys() -> (String, String) {
    let pair = ES256KeyPair::generate();
    let public = pair.public_key().public_key().to_bytes_uncompressed();
    (URL_SAFE_NO_PAD.encode(pair.to_bytes()), URL_SAFE_NO_PAD.encode(public))
}

/// The public key of a VAPID private key, or why it is not one.
pub fn vapid_public_key(private_key: &str) -> Result<String, String> {
    let bytes =
        URL_SAFE_NO_PAD.decode(private_key.trim_end_matches('=')).map_err(|_| "must be base64url".to_owned())?;
    // jwt-simple panics on a key of the wrong length: check it first.
    if bytes.len() != 32 {
        return Err("must be a raw P-256 private key (32 bytes)".to_owned());
    }
    let pair = ES256KeyPair::from_bytes(&bytes).map_err(|_| "must be a raw P-256 private key (32 bytes)".to_owned())?;
    Ok(URL_SAFE_NO_PAD.encode(pair.public_key().public_key().to_bytes_uncompressed()))
}

/// A VAPID subject the push services accept: `mailto:` with a real domain, or an https URL.
pub fn vapid_subject(subject: &str) -> Result<String, String> {
    let subject = subject.trim();
    let ok = match subject.strip_prefix("mailto:") {
        Some(address) => address.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && domain.contains('.') && !domain.ends_with("localhost") && domain != "example.com"
        }),
        None => url::Url::parse(subject)
            .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some_and(|h| h.contains('.'))),
    };
    if ok {
        Ok(subject.to_owned())
    } else {
        Err("must be mailto:someone@your-domain or an https URL of yours (placeholders like @localhost or example.com are refused by push services)".into())
    }
}

/// What the API shows of an app's credentials: never a private key.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct PushCredentialsView {
    pub web_push: Option<WebPushPublic>,
    pub apns: Option<ApnsPublic>,
    pub fcm: Option<FcmPublic>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebPushPublic {
    /// Give this to `pushManager.subscribe({applicationServerKey})`.
    pub public_key: String,
    pub subject: String,
    pub config_error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApnsPublic {
    pub key_id: String,
    pub team_id: String,
    pub topic: String,
    pub config_error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FcmPublic {
    pub project_id: String,
    pub client_email: String,
    pub config_error: Option<String>,
}

/// Which APNs host a device's environment means.
pub fn apns_endpoint(environment: ApnsEnvironment) -> a2::Endpoint {
    match environment {
        ApnsEnvironment::Production => a2::Endpoint::Production,
        ApnsEnvironment::Sandbox => a2::Endpoint::Sandbox,
    }
}
