//! Where a device receives pushes: a Web Push subscription, an APNs token or an FCM token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::enums::{ApnsEnvironment, DeviceKind};
use crate::error::FieldErrors;

/// A validated push address. The token (or endpoint) is what identifies the device to its
/// push service, so it is personal data and stored sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushTarget {
    WebPush { endpoint: String, p256dh: String, auth: String },
    Apns { token: String, environment: ApnsEnvironment },
    Fcm { token: String },
}

impl PushTarget {
    pub fn kind(&self) -> DeviceKind {
        match self {
            Self::WebPush { .. } => DeviceKind::WebPush,
            Self::Apns { .. } => DeviceKind::Apns,
            Self::Fcm { .. } => DeviceKind::Fcm,
        }
    }

    /// The address that makes the device unique within a family.
    pub fn address(&self) -> &str {
        match self {
            Self::WebPush { endpoint, .. } => endpoint,
            Self::Apns { token, .. } | Self::Fcm { token } => token,
        }
    }

    /// A Web Push subscription as the browser's `PushSubscription.toJSON()` gives it.
    pub fn web_push(endpoint: &str, p256dh: &str, auth: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let endpoint = web_push_endpoint(endpoint).map_err(|e| errors.insert("endpoint".into(), e)).ok();
        let p256dh = base64url_key(p256dh, 65, "an uncompressed P-256 public key (65 bytes)")
            .and_then(|(text, bytes)| {
                if bytes[0] == 0x04 {
                    Ok(text)
                } else {
                    Err("must be an uncompressed P-256 public key (first byte 0x04)".to_owned())
                }
            })
            .map_err(|e| errors.insert("keys.p256dh".into(), e))
            .ok();
        let auth = base64url_key(auth, 16, "the 16-byte authentication secret")
            .map(|(text, _)| text)
            .map_err(|e| errors.insert("keys.auth".into(), e))
            .ok();
        match (endpoint, p256dh, auth) {
            (Some(endpoint), Some(p256dh), Some(auth)) if errors.is_empty() => {
                Ok(Self::WebPush { endpoint, p256dh, auth })
            }
            _ => Err(errors),
        }
    }

    /// An APNs device token: hexadecimal, 64 characters for current devices (longer allowed,
    /// as Apple says the length may change).
    pub fn apns(token: &str, environment: ApnsEnvironment) -> Result<Self, FieldErrors> {
        let token = token.trim().to_ascii_lowercase();
        if token.len() < 64
            || token.len() > 200
            || !token.len().is_multiple_of(2)
            || !token.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(FieldErrors::from([(
                "token".to_owned(),
                "must be the APNs device token in hexadecimal (64 characters or more)".to_owned(),
            )]));
        }
        Ok(Self::Apns { token, environment })
    }

    /// An FCM registration token.
    pub fn fcm(token: &str) -> Result<Self, FieldErrors> {
        let token = token.trim();
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.');
        if !(20..=4096).contains(&token.len()) || !token.bytes().all(allowed) {
            return Err(FieldErrors::from([(
                "token".to_owned(),
                "must be an FCM registration token (20–4096 characters of A–Z, a–z, 0–9, - _ : .)".to_owned(),
            )]));
        }
        Ok(Self::Fcm { token: token.to_owned() })
    }
}

/// A push service endpoint: an absolute https URL (plain http only on loopback, for tests
/// and local development). Which push services may be contacted is decided at delivery time.
fn web_push_endpoint(input: &str) -> Result<String, String> {
    let url = url::Url::parse(input.trim()).map_err(|_| "must be an absolute URL".to_owned())?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be an https URL".into()),
    }
    if url.host_str().is_none() || url.username() != "" || url.password().is_some() {
        return Err("must be an https URL with a host and no credentials".into());
    }
    if input.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    Ok(url.to_string())
}

/// Decodes base64url (padding tolerated, as some browsers send it) of an exact length,
/// returning it re-encoded without padding.
fn base64url_key(input: &str, len: usize, what: &str) -> Result<(String, Vec<u8>), String> {
    let trimmed = input.trim().trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD.decode(trimmed).map_err(|_| format!("must be {what} in base64url"))?;
    if bytes.len() != len {
        return Err(format!("must be {what}; found {} bytes", bytes.len()));
    }
    Ok((trimmed.to_owned(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p256dh() -> String {
        let mut key = vec![0x04u8];
        key.extend([7u8; 64]);
        URL_SAFE_NO_PAD.encode(key)
    }

    #[test]
    fn accepts_a_browser_subscription() {
        let auth = URL_SAFE_NO_PAD.encode([9u8; 16]) + "==";
        let target = PushTarget::web_push("https://fcm.googleapis.com/fcm/send/abc", &p256dh(), &auth).expect("valid");
        assert_eq!(target.kind(), DeviceKind::WebPush);
    }

    #[test]
    fn names_each_bad_part_of_a_subscription() {
        let errors = PushTarget::web_push("ftp://push.example/x", "AAAA", "short").unwrap_err();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["endpoint", "keys.auth", "keys.p256dh"]);
        let compressed = URL_SAFE_NO_PAD.encode([2u8; 65]);
        let errors = PushTarget::web_push("https://push.example/x", &compressed, &URL_SAFE_NO_PAD.encode([1u8; 16]))
            .unwrap_err();
        assert!(errors["keys.p256dh"].contains("0x04"));
        assert!(PushTarget::web_push("http://push.example/x", &p256dh(), &URL_SAFE_NO_PAD.encode([1u8; 16])).is_err());
        assert!(PushTarget::web_push("http://127.0.0.1:9/x", &p256dh(), &URL_SAFE_NO_PAD.encode([1u8; 16])).is_ok());
    }

    #[test]
    fn apns_and_fcm_tokens_are_checked() {
        assert!(PushTarget::apns(&"Ab".repeat(32), ApnsEnvironment::Production).is_ok());
        assert!(PushTarget::apns("abc", ApnsEnvironment::Sandbox).is_err());
        assert!(PushTarget::apns(&"zz".repeat(32), ApnsEnvironment::Sandbox).is_err());
        assert!(PushTarget::fcm("dGVzdA:APA91bH-abc_def.ghijklmnop").is_ok());
        assert!(PushTarget::fcm("short").is_err());
        assert!(PushTarget::fcm("has spaces in it, which tokens never do").is_err());
    }
}
