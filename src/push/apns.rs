//! APNs with `a2`: token (.p8) authentication, the alert push type, `apns-collapse-id`, a
//! `thread-id` per child, and an expiration from the entry's TTL. `a2` fixes the APNs hosts, so
//! tests cover the payload we hand it and the meaning of every APNs error reason.

use std::sync::Arc;
use std::time::Duration;

use a2::request::notification::{NotificationOptions, Priority, PushType};
use a2::request::payload::PayloadLike;
use a2::{Client, ClientConfig, CollapseId, ErrorReason};
use serde::Serialize;

use super::credentials::apns_endpoint;
use super::{AppCredentials, ClientCache, Push, PushMessage, SendFuture, SendOutcome, Sender};
use crate::domain::enums::ApnsEnvironment;
use crate::domain::push_target::PushTarget;
use crate::templates::Urgency;

/// Apple: retry a 5xx after a while, with back-off.
const SERVER_ERROR_DELAY: Duration = Duration::from_secs(60);

/// The `aps` dictionary nonstop sends.
#[derive(Debug, Serialize)]
struct Aps<'a> {
    alert: Alert<'a>,
    sound: &'a str,
    #[serde(rename = "thread-id", skip_serializing_if = "Option::is_none")]
    thread_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Alert<'a> {
    title: &'a str,
    body: &'a str,
}

/// The APNs payload: the alert plus the entry and task ids the app fetches details with.
#[derive(Debug, Serialize)]
pub struct ApnsPayload<'a> {
    aps: Aps<'a>,
    entry_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_id: Option<&'a str>,
    #[serde(skip)]
    device_token: &'a str,
    #[serde(skip)]
    options: NotificationOptions<'a>,
}

impl PayloadLike for ApnsPayload<'_> {
    fn get_device_token(&self) -> &str {
        self.device_token
    }
    fn get_options(&self) -> &NotificationOptions<'_> {
        &self.options
    }
}

/// Builds the payload `a2` sends for a message.
pub fn payload<'a>(token: &'a str, topic: &'a str, message: &'a PushMessage, expires_at_unix: u64) -> ApnsPayload<'a> {
    let options = NotificationOptions {
        apns_topic: Some(topic),
        apns_push_type: Some(PushType::Alert),
        apns_expiration: Some(expires_at_unix),
        apns_priority: Some(if matches!(message.urgency, Urgency::Low | Urgency::VeryLow) {
            Priority::Normal
        } else {
            Priority::High
        }),
        apns_collapse_id: message.collapse_key.as_deref().and_then(|c| CollapseId::new(c).ok()),
        ..Default::default()
    };
    ApnsPayload {
        aps: Aps {
            alert: Alert { title: &message.title, body: &message.body },
            sound: "default",
            thread_id: message.thread_id.as_deref(),
        },
        entry_id: &message.entry_id,
        task_id: message.task_id.as_deref(),
        device_token: token,
        options,
    }
}

/// What an APNs answer means (Apple: "Handling notification responses from APNs").
pub fn interpret(status: u16, reason: Option<&ErrorReason>) -> SendOutcome {
    use ErrorReason::*;
    match reason {
        None if (200..300).contains(&status) => SendOutcome::Sent { message_id: None },
        Some(Unregistered) => SendOutcome::dead("APNs: Unregistered (410)"),
        // May be a token of the other environment (sandbox/production): disabled, with the
        // reason saying so, rather than silently dropped.
        Some(BadDeviceToken) => SendOutcome::dead("APNs: BadDeviceToken (check the device's APNs environment)"),
        Some(DeviceTokenNotForTopic) => SendOutcome::dead("APNs: DeviceTokenNotForTopic"),
        Some(TooManyRequests) => SendOutcome::retry("rate_limited", None),
        Some(InternalServerError | ServiceUnavailable | Shutdown | IdleTimeout) => {
            SendOutcome::retry(format!("provider_{status}"), Some(SERVER_ERROR_DELAY))
        }
        Some(
            ExpiredProviderToken
            | InvalidProviderToken
            | MissingProviderToken
            | BadCertificate
            | BadCertificateEnvironment
            | Forbidden
            | TooManyProviderTokenUpdates
            | BadTopic
            | TopicDisallowed
            | MissingTopic,
        ) => SendOutcome::config(format!(
            "APNs refused the app's credentials: {}",
            reason.map(|r| r.to_string()).unwrap_or_default()
        )),
        Some(PayloadTooLarge) => SendOutcome::failed("payload_too_large"),
        Some(other) => SendOutcome::failed(format!("apns_{other}")),
        None => match status {
            429 => SendOutcome::retry("rate_limited", None),
            403 => SendOutcome::config("APNs: 403"),
            410 => SendOutcome::dead("APNs: 410"),
            _ => super::transient(status, Some(SERVER_ERROR_DELAY))
                .unwrap_or_else(|| SendOutcome::failed(format!("provider_{status}"))),
        },
    }
}

pub struct ApnsSender {
    /// One client (one HTTP/2 connection, kept open) per app, credentials version and environment.
    clients: ClientCache<(String, String, ApnsEnvironment), Client>,
    timeout_secs: u64,
}

impl ApnsSender {
    pub fn new(timeout: Duration) -> Self {
        Self { clients: ClientCache::default(), timeout_secs: timeout.as_secs().max(1) }
    }

    fn client(
        &self,
        app_id: &str,
        credentials: &AppCredentials,
        environment: ApnsEnvironment,
    ) -> Result<(Arc<Client>, String), SendOutcome> {
        let apns = credentials.apns.as_ref().ok_or_else(|| SendOutcome::config("no APNs token key set for the app"))?;
        let client =
            self.clients.get_or_build((app_id.to_owned(), credentials.version.clone(), environment), || {
                let mut config = ClientConfig::new(apns_endpoint(environment));
                config.request_timeout_secs = Some(self.timeout_secs);
                Client::token(apns.key_pem.as_bytes(), apns.key_id.clone(), apns.team_id.clone(), config)
                    .map_err(|e| SendOutcome::config(format!("the APNs key is not usable: {e}")))
            })?;
        Ok((client, apns.topic.clone()))
    }

    async fn send_inner(&self, push: Push<'_>) -> SendOutcome {
        let Push { app_id, credentials, target, message } = push;
        let PushTarget::Apns { token, environment } = target else {
            return SendOutcome::failed("not_an_apns_device");
        };
        if let Err(outcome) = message.payload_bytes() {
            return outcome;
        }
        let (client, topic) = match self.client(app_id, credentials, *environment) {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let expires = (crate::clock::real_now().timestamp().max(0) as u64).saturating_add(message.ttl.as_secs());
        match client.send(payload(token, &topic, message, expires)).await {
            Ok(response) => SendOutcome::Sent { message_id: response.apns_id },
            Err(a2::Error::ResponseError(response)) => {
                interpret(response.code, response.error.as_ref().map(|e| &e.reason))
            }
            Err(a2::Error::RequestTimeout(_)) => SendOutcome::retry("timeout", None),
            Err(a2::Error::ConnectionError(_) | a2::Error::ClientError(_)) => SendOutcome::retry("network", None),
            Err(a2::Error::SignerError(e)) => SendOutcome::config(format!("APNs token signing failed: {e}")),
            Err(other) => SendOutcome::failed(format!("apns: {other}")),
        }
    }
}

impl Sender for ApnsSender {
    fn send<'a>(&'a self, push: Push<'a>) -> SendFuture<'a> {
        Box::pin(self.send_inner(push))
    }

    /// Apple's production or sandbox host.
    fn host(&self, target: &PushTarget) -> String {
        match target {
            PushTarget::Apns { environment, .. } => format!("apns-{}", environment.as_str()),
            _ => "apns".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> PushMessage {
        PushMessage {
            entry_id: "entry-1".into(),
            task_id: Some("task-1".into()),
            title: "出生届：期限まであと3日".into(),
            body: "出生届の期限は令和8年12月1日（火）です。".into(),
            urgency: Urgency::Normal,
            ttl: Duration::from_secs(86_400),
            collapse_key: Some("task-1".into()),
            thread_id: Some("child-1".into()),
        }
    }

    #[test]
    fn the_payload_a2_sends_carries_the_alert_thread_and_ids_only() {
        let message = message();
        let token = "ab".repeat(32);
        let payload = payload(&token, "jp.example.kosodate", &message, 1_800_000_000);
        let json: serde_json::Value = serde_json::from_str(&payload.to_json_string().expect("json")).expect("parse");
        assert_eq!(
            json,
            serde_json::json!({
                "aps": { "alert": { "title": "出生届：期限まであと3日", "body": "出生届の期限は令和8年12月1日（火）です。" }, "sound": "default", "thread-id": "child-1" },
                "entry_id": "entry-1",
                "task_id": "task-1"
            })
        );
        let options = payload.get_options();
        assert_eq!(options.apns_topic, Some("jp.example.kosodate"));
        assert_eq!(options.apns_expiration, Some(1_800_000_000));
        assert!(matches!(options.apns_push_type, Some(PushType::Alert)));
        assert!(options.apns_collapse_id.is_some());
    }

    #[test]
    fn every_apns_reason_has_its_outcome() {
        use ErrorReason::*;
        let dead = [Unregistered, BadDeviceToken, DeviceTokenNotForTopic];
        let retry = [TooManyRequests, InternalServerError, ServiceUnavailable, Shutdown, IdleTimeout];
        let config = [
            ExpiredProviderToken,
            InvalidProviderToken,
            MissingProviderToken,
            BadCertificate,
            BadCertificateEnvironment,
            Forbidden,
            TooManyProviderTokenUpdates,
            BadTopic,
            TopicDisallowed,
            MissingTopic,
        ];
        let failed = [
            BadCollapseId,
            BadExpirationDate,
            BadMessageId,
            BadPriority,
            DuplicateHeaders,
            MissingDeviceToken,
            PayloadEmpty,
            BadPath,
            MethodNotAllowed,
            PayloadTooLarge,
        ];
        for reason in dead {
            assert!(matches!(interpret(410, Some(&reason)), SendOutcome::DeadToken { .. }), "{reason}");
        }
        for reason in retry {
            assert!(matches!(interpret(503, Some(&reason)), SendOutcome::Retry { .. }), "{reason}");
        }
        for reason in config {
            assert!(matches!(interpret(403, Some(&reason)), SendOutcome::ConfigError { .. }), "{reason}");
        }
        for reason in failed {
            assert!(matches!(interpret(400, Some(&reason)), SendOutcome::Failed { .. }), "{reason}");
        }
        assert_eq!(interpret(200, None), SendOutcome::Sent { message_id: None });
    }

    #[test]
    fn a_request_timeout_without_a_reason_is_retried_not_failed() {
        assert!(matches!(interpret(408, None), SendOutcome::Retry { class, .. } if class == "timeout"));
        assert!(matches!(interpret(502, None), SendOutcome::Retry { after: Some(SERVER_ERROR_DELAY), .. }));
        assert_eq!(interpret(418, None), SendOutcome::failed("provider_418"));
    }
}
