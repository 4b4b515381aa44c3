//! Web Push (RFC 8030) with aes128gcm (RFC 8291) and VAPID (RFC 8292): the `web-push` crate signs
//! the VAPID token, `super::aes128gcm` encrypts (the crate's own encryption costs several times
//! more CPU; see there), and our own `reqwest` client makes the request: a timeout on every
//! send, a bounded response body, and our reading of 429.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use web_push::{SubscriptionInfo, VapidSignature, VapidSignatureBuilder};

use super::{aes128gcm, bounded_body, retry_after, AppCredentials, Push, SendFuture, SendOutcome, Sender};
use crate::domain::push_target::PushTarget;
use crate::templates::Urgency;

/// How long a VAPID JWT is valid (push services refuse more than 24 hours).
const VAPID_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// A cached signature is replaced this long before it expires.
const VAPID_REFRESH_MARGIN: Duration = Duration::from_secs(3600);

/// The push services' hosts nonstop contacts by default; a subscription to any other host is
/// refused (endpoints are user-supplied URLs: this is the SSRF guard). Each is contacted on its
/// own port only (443): an entry may name another (`push.example:8443`, or `127.0.0.1:*` for any,
/// as the tests' mocks need).
pub const DEFAULT_ALLOWED_HOSTS: [&str; 6] = [
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "push.services.mozilla.com",
    "web.push.apple.com",
    "*.push.apple.com",
    "*.notify.windows.com",
];

/// Whether `host` is on the allowlist (`*.example.com` allows subdomains).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|pattern| match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() && host.ends_with(suffix) && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => host.eq_ignore_ascii_case(pattern),
    })
}

/// Whether nonstop sends to `endpoint`: its host is on the allowlist, on the port the entry
/// names, or, when the entry names none, on its scheme's own (443 for https), so a subscription
/// cannot aim nonstop at another port of a push service's host.
pub fn endpoint_allowed(endpoint: &url::Url, allowed: &[String]) -> bool {
    let Some(host) = endpoint.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    allowed.iter().any(|entry| {
        let (pattern, port) = split_port(entry);
        let port_allowed = match port {
            None => endpoint.port().is_none(),
            Some("*") => true,
            Some(port) => port.parse::<u16>().ok() == endpoint.port_or_known_default(),
        };
        port_allowed && host_allowed(host, &[pattern.to_owned()])
    })
}

/// An allowlist entry as its host pattern and the port it names, if any (`host:port`,
/// `[v6]:port`; a bare IPv6 address names none).
fn split_port(entry: &str) -> (&str, Option<&str>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':'));
        }
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (entry, None),
    }
}

/// The origin of an endpoint, as VAPID's `aud` must name it (scheme, host and any port).
pub fn origin(endpoint: &url::Url) -> String {
    endpoint.origin().ascii_serialization()
}

/// (app, credentials version, push-service origin).
type SignatureKey = (String, String, String);

pub struct WebPushSender {
    clients: std::sync::Arc<super::HttpClients>,
    allowed_hosts: Vec<String>,
    /// VAPID signatures per (app, key version, push-service origin), reused until shortly
    /// before they expire: signing every message would cost an ECDSA signature each.
    signatures: Mutex<HashMap<SignatureKey, (VapidSignature, Instant)>>,
}

impl WebPushSender {
    pub fn new(clients: std::sync::Arc<super::HttpClients>, allowed_hosts: Vec<String>) -> Self {
        Self { clients, allowed_hosts, signatures: Mutex::new(HashMap::new()) }
    }

    fn signature(
        &self,
        app_id: &str,
        credentials: &AppCredentials,
        subscription: &SubscriptionInfo,
        origin: &str,
    ) -> Result<VapidSignature, SendOutcome> {
        let vapid = credentials
            .web_push
            .as_ref()
            .ok_or_else(|| SendOutcome::config("no Web Push (VAPID) credentials set for the app"))?;
        let key = (app_id.to_owned(), credentials.version.clone(), origin.to_owned());
        let now = Instant::now();
        if let Ok(cache) = self.signatures.lock() {
            if let Some((signature, until)) = cache.get(&key) {
                if *until > now {
                    return Ok(signature.clone());
                }
            }
        }
        let mut builder = VapidSignatureBuilder::from_base64(&vapid.private_key, subscription)
            .map_err(|_| SendOutcome::config("the VAPID private key is not usable"))?;
        builder.add_claim("sub", vapid.subject.as_str());
        builder.add_claim("aud", origin);
        let expires = crate::clock::real_now().timestamp() + VAPID_LIFETIME.as_secs() as i64;
        builder.add_claim("exp", expires);
        let signature = builder.build().map_err(|e| SendOutcome::config(format!("VAPID signing failed: {e}")))?;
        if let Ok(mut cache) = self.signatures.lock() {
            // Bounded: expired signatures go first, and a cache still full starts afresh
            // (signatures are cheap to make again).
            if cache.len() >= super::CLIENT_CACHE_CAPACITY {
                cache.retain(|_, (_, until)| *until > now);
                if cache.len() >= super::CLIENT_CACHE_CAPACITY {
                    cache.clear();
                }
            }
            cache.insert(key, (signature.clone(), now + VAPID_LIFETIME - VAPID_REFRESH_MARGIN));
        }
        Ok(signature)
    }

    async fn send_inner(&self, push: Push<'_>) -> SendOutcome {
        let Push { app_id, credentials, target, message } = push;
        let PushTarget::WebPush { endpoint, p256dh, auth } = target else {
            return SendOutcome::failed("not_a_web_push_device");
        };
        let Ok(url) = url::Url::parse(endpoint) else {
            return SendOutcome::dead("the endpoint is not a URL");
        };
        if !endpoint_allowed(&url, &self.allowed_hosts) {
            return SendOutcome::failed("endpoint_not_allowed");
        }
        let payload = match message.payload_bytes() {
            Ok(bytes) => bytes,
            Err(outcome) => return outcome,
        };
        let subscription = SubscriptionInfo::new(endpoint.as_str(), p256dh.as_str(), auth.as_str());
        let signature = match self.signature(app_id, credentials, &subscription, &origin(&url)) {
            Ok(signature) => signature,
            Err(outcome) => return outcome,
        };
        // Stored as registration checked them: base64url of 65 and 16 bytes.
        let decode = |key: &str| URL_SAFE_NO_PAD.decode(key.trim_end_matches('=')).unwrap_or_default();
        let body = match aes128gcm::encrypt(&decode(p256dh), &decode(auth), &payload) {
            Ok(body) => body,
            Err(aes128gcm::EncryptError::TooLarge) => return SendOutcome::failed("payload_too_large"),
            Err(e) => return SendOutcome::failed(format!("encryption: {e}")),
        };
        // The headers of RFC 8030 §5, RFC 8188 and RFC 8292 §3.1, as `web-push` writes them.
        let mut outgoing = self
            .clients
            .pick()
            .post(url.clone())
            .header("TTL", message.ttl.as_secs().min(u64::from(u32::MAX)).to_string())
            .header("Urgency", urgency(message.urgency))
            .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(
                reqwest::header::AUTHORIZATION,
                format!("vapid t={}, k={}", signature.auth_t, URL_SAFE_NO_PAD.encode(&signature.auth_k)),
            );
        if let Some(topic) = &message.collapse_key {
            outgoing = outgoing.header("Topic", topic);
        }
        let response = match outgoing.body(body).send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return SendOutcome::retry("timeout", None),
            Err(_) => return SendOutcome::retry("network", None),
        };
        interpret(response).await
    }
}

/// RFC 8030 §5.3's Urgency. Apple's push service needs `high` to show a notification promptly.
fn urgency(urgency: Urgency) -> &'static str {
    match urgency {
        Urgency::VeryLow => "very-low",
        Urgency::Low => "low",
        Urgency::Normal => "normal",
        Urgency::High => "high",
    }
}

/// What a push service's answer means (RFC 8030 §7.3, autopush, Apple, WNS).
async fn interpret(response: reqwest::Response) -> SendOutcome {
    let status = response.status().as_u16();
    let after = retry_after(response.headers());
    let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = bounded_body(response, 4_096).await;
    let reason = String::from_utf8_lossy(&body).chars().take(200).collect::<String>();
    match status {
        200..=299 => SendOutcome::Sent { message_id: location },
        404 | 410 => SendOutcome::dead(format!("push service answered {status}: subscription gone")),
        429 => SendOutcome::retry("rate_limited", after),
        // WNS throttles with 406.
        406 => SendOutcome::retry("rate_limited", after),
        413 => SendOutcome::failed("payload_too_large"),
        // 401 is about the request's authorization: the app's VAPID key or token.
        401 => SendOutcome::config(format!("push service refused the VAPID credentials ({status}): {reason}")),
        // 400 and 403 blame the app only when the answer says the VAPID token is wrong (Apple's
        // BadJwtToken, a JWT or VAPID complaint). Otherwise the subscription is at fault: one
        // made for another key (FCM: "does not correspond to the sender ID") or malformed, so
        // a parent's bogus subscription disables that device, not the vendor's credentials.
        400 | 403 if blames_credentials(&reason) => {
            SendOutcome::config(format!("push service refused the VAPID credentials ({status}): {reason}"))
        }
        400 | 403 => SendOutcome::dead(format!("push service refused the subscription ({status})")),
        _ => super::transient(status, after).unwrap_or_else(|| SendOutcome::failed(format!("provider_{status}"))),
    }
}

/// Whether a push service's words say the VAPID credentials (not the subscription) are wrong.
fn blames_credentials(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    ["jwt", "vapid", "crypto-key"].iter().any(|word| reason.contains(word))
}

impl Sender for WebPushSender {
    fn send<'a>(&'a self, push: Push<'a>) -> SendFuture<'a> {
        Box::pin(self.send_inner(push))
    }

    /// The endpoint's host and port: each push service is paced on its own.
    fn host(&self, target: &PushTarget) -> String {
        let PushTarget::WebPush { endpoint, .. } = target else { return "web_push".into() };
        url::Url::parse(endpoint).map_or_else(|_| "web_push".into(), |url| origin(&url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_matches_hosts_and_subdomains_only() {
        let allowed: Vec<String> = DEFAULT_ALLOWED_HOSTS.iter().map(|s| s.to_string()).collect();
        assert!(host_allowed("fcm.googleapis.com", &allowed));
        assert!(host_allowed("web.push.apple.com", &allowed));
        assert!(host_allowed("db5p.notify.windows.com", &allowed));
        assert!(!host_allowed("notify.windows.com.evil.example", &allowed));
        assert!(!host_allowed("evilnotify.windows.com", &allowed));
        assert!(!host_allowed("169.254.169.254", &allowed));
        assert!(!host_allowed("localhost", &allowed));
    }

    #[test]
    fn a_push_service_is_contacted_on_its_own_port_only() {
        let defaults: Vec<String> = DEFAULT_ALLOWED_HOSTS.iter().map(|s| s.to_string()).collect();
        let allowed =
            |endpoint: &str, list: &[String]| endpoint_allowed(&url::Url::parse(endpoint).expect("url"), list);
        assert!(allowed("https://fcm.googleapis.com/fcm/send/x", &defaults));
        assert!(allowed("https://fcm.googleapis.com:443/fcm/send/x", &defaults), "443 is https's own");
        assert!(!allowed("https://fcm.googleapis.com:8443/fcm/send/x", &defaults));
        assert!(!allowed("https://db5p.notify.windows.com:22/w/x", &defaults));
        let entries = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(!allowed("http://127.0.0.1:8123/push/x", &entries(&["127.0.0.1"])));
        assert!(allowed("http://127.0.0.1:8123/push/x", &entries(&["127.0.0.1:8123"])));
        assert!(!allowed("http://127.0.0.1:8124/push/x", &entries(&["127.0.0.1:8123"])));
        assert!(allowed("http://127.0.0.1:8123/push/x", &entries(&["127.0.0.1:*"])));
        assert!(allowed("https://push.example.jp:8443/x", &entries(&["*.example.jp:8443"])));
        assert!(allowed("http://[::1]:8123/x", &entries(&["[::1]:*"])));
        assert!(!allowed("http://[::1]:8123/x", &entries(&["::1"])));
    }

    #[test]
    fn the_audience_is_the_origin_with_its_port() {
        assert_eq!(
            origin(&url::Url::parse("https://fcm.googleapis.com/fcm/send/x").expect("url")),
            "https://fcm.googleapis.com"
        );
        assert_eq!(origin(&url::Url::parse("http://127.0.0.1:8123/push/x").expect("url")), "http://127.0.0.1:8123");
    }
}
