//! FCM HTTP v1: an OAuth2 token from the app's service account (`gcp_auth`, cached and
//! refreshed by it), then one request per device token over a pooled HTTP/2 client. Not the
//! legacy `/fcm/send` API, which Google shut down in 2024.

use std::sync::Arc;
use std::time::Duration;

use gcp_auth::{CustomServiceAccount, TokenProvider};
use serde_json::{json, Value};

use super::{
    bounded_body, retry_after, AppCredentials, ClientCache, Push, PushMessage, SendFuture, SendOutcome, Sender,
};
use crate::domain::push_target::PushTarget;
use crate::templates::Urgency;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// FCM asks for at least a minute before retrying a QUOTA_EXCEEDED.
const QUOTA_MIN_DELAY: Duration = Duration::from_secs(60);

pub struct FcmSender {
    clients: Arc<super::HttpClients>,
    /// `https://fcm.googleapis.com` in production; a loopback mock in tests.
    base_url: String,
    /// Google's OAuth2 token endpoint in production (the operator's setting, never the vendor's).
    token_uri: String,
    /// One service account per (app, credentials version): `gcp_auth` caches its token.
    accounts: ClientCache<(String, String), CustomServiceAccount>,
}

impl FcmSender {
    pub fn new(clients: Arc<super::HttpClients>, base_url: String, token_uri: String) -> Self {
        Self {
            clients,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token_uri,
            accounts: ClientCache::default(),
        }
    }

    fn account(
        &self,
        app_id: &str,
        credentials: &AppCredentials,
    ) -> Result<(Arc<CustomServiceAccount>, String), SendOutcome> {
        let fcm =
            credentials.fcm.as_ref().ok_or_else(|| SendOutcome::config("no FCM service account set for the app"))?;
        let account = self.accounts.get_or_build((app_id.to_owned(), credentials.version.clone()), || {
            CustomServiceAccount::from_json(&fcm.service_account_json(&self.token_uri))
                .map_err(|e| SendOutcome::config(format!("the FCM service account is not usable: {e}")))
        })?;
        Ok((account, fcm.project_id.clone()))
    }

    async fn send_inner(&self, push: Push<'_>) -> SendOutcome {
        let Push { app_id, credentials, target, message } = push;
        let PushTarget::Fcm { token } = target else {
            return SendOutcome::failed("not_an_fcm_device");
        };
        if let Err(outcome) = message.payload_bytes() {
            return outcome;
        }
        let (account, project) = match self.account(app_id, credentials) {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let access = match account.token(&[SCOPE]).await {
            Ok(access) => access,
            Err(e) => return SendOutcome::config(format!("FCM OAuth token refused: {e}")),
        };
        let url = format!("{}/v1/projects/{project}/messages:send", self.base_url);
        let response =
            match self.clients.pick().post(url).bearer_auth(access.as_str()).json(&body(token, message)).send().await {
                Ok(response) => response,
                Err(e) if e.is_timeout() => return SendOutcome::retry("timeout", None),
                Err(_) => return SendOutcome::retry("network", None),
            };
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let body = bounded_body(response, 16_384).await;
        interpret(status, after, &body)
    }
}

/// The v1 message: the same generic texts and ids as every push.
pub(crate) fn body(token: &str, message: &PushMessage) -> Value {
    let mut data = json!({ "entry_id": message.entry_id });
    if let Some(task) = &message.task_id {
        data["task_id"] = json!(task);
    }
    let mut android = json!({
        "ttl": format!("{}s", message.ttl.as_secs().min(2_419_200)),
        "priority": if message.urgency == Urgency::High { "HIGH" } else { "NORMAL" },
    });
    if let Some(collapse) = &message.collapse_key {
        android["collapse_key"] = json!(collapse);
    }
    json!({ "message": {
        "token": token,
        "notification": { "title": message.title, "body": message.body },
        "data": data,
        "android": android,
    }})
}

/// What FCM's answer means (firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode).
pub fn interpret(status: u16, after: Option<Duration>, body: &[u8]) -> SendOutcome {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return SendOutcome::Sent { message_id: json["name"].as_str().map(str::to_owned) };
    }
    let error = &json["error"];
    let details = error["details"].as_array().cloned().unwrap_or_default();
    let code = details
        .iter()
        .find_map(|d| d["errorCode"].as_str())
        .or_else(|| error["status"].as_str())
        .unwrap_or("")
        .to_owned();
    let message = error["message"].as_str().unwrap_or("").to_owned();
    let names_token = message.contains("registration token")
        || details
            .iter()
            .flat_map(|d| d["fieldViolations"].as_array().cloned().unwrap_or_default())
            .any(|v| v["field"] == "message.token");
    match code.as_str() {
        "UNREGISTERED" => SendOutcome::dead("FCM: UNREGISTERED"),
        "SENDER_ID_MISMATCH" => SendOutcome::dead("FCM: SENDER_ID_MISMATCH"),
        "INVALID_ARGUMENT" if names_token => SendOutcome::dead("FCM: INVALID_ARGUMENT on the token"),
        "INVALID_ARGUMENT" => SendOutcome::failed("invalid_argument"),
        "QUOTA_EXCEEDED" | "RESOURCE_EXHAUSTED" => {
            SendOutcome::retry("rate_limited", Some(after.unwrap_or(QUOTA_MIN_DELAY).max(QUOTA_MIN_DELAY)))
        }
        "THIRD_PARTY_AUTH_ERROR" | "PERMISSION_DENIED" | "UNAUTHENTICATED" => {
            SendOutcome::config(format!("FCM: {code} {message}"))
        }
        _ => match status {
            429 => SendOutcome::retry("rate_limited", Some(after.unwrap_or(QUOTA_MIN_DELAY))),
            401 | 403 => SendOutcome::config(format!("FCM: {status} {message}")),
            404 => SendOutcome::dead("FCM: NOT_FOUND"),
            _ => super::transient(status, after).unwrap_or_else(|| SendOutcome::failed(format!("provider_{status}"))),
        },
    }
}

impl Sender for FcmSender {
    fn send<'a>(&'a self, push: Push<'a>) -> SendFuture<'a> {
        Box::pin(self.send_inner(push))
    }

    /// Every FCM push goes to one host.
    fn host(&self, _target: &PushTarget) -> String {
        self.base_url.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16, body: Value) -> SendOutcome {
        interpret(status, None, body.to_string().as_bytes())
    }

    fn error(status: u16, code: &str, message: &str) -> Value {
        json!({ "error": { "code": status, "message": message, "status": "X",
            "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code }] } })
    }

    #[test]
    fn each_fcm_answer_has_its_outcome() {
        assert_eq!(
            outcome(200, json!({ "name": "projects/p/messages/1" })),
            SendOutcome::Sent { message_id: Some("projects/p/messages/1".into()) }
        );
        assert!(matches!(
            outcome(404, error(404, "UNREGISTERED", "Requested entity was not found.")),
            SendOutcome::DeadToken { .. }
        ));
        assert!(matches!(outcome(403, error(403, "SENDER_ID_MISMATCH", "")), SendOutcome::DeadToken { .. }));
        assert!(matches!(
            outcome(
                400,
                error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token")
            ),
            SendOutcome::DeadToken { .. }
        ));
        assert_eq!(
            outcome(400, error(400, "INVALID_ARGUMENT", "Message is too big")),
            SendOutcome::failed("invalid_argument")
        );
        let field = json!({ "error": { "code": 400, "message": "bad", "status": "INVALID_ARGUMENT", "details": [
            { "@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{ "field": "message.token", "description": "x" }] }] } });
        assert!(matches!(outcome(400, field), SendOutcome::DeadToken { .. }));
        assert!(
            matches!(outcome(429, error(429, "QUOTA_EXCEEDED", "")), SendOutcome::Retry { after: Some(d), .. } if d >= QUOTA_MIN_DELAY)
        );
        assert!(
            matches!(interpret(503, Some(Duration::from_secs(7)), error(503, "UNAVAILABLE", "").to_string().as_bytes()),
            SendOutcome::Retry { after: Some(d), .. } if d == Duration::from_secs(7))
        );
        assert!(matches!(outcome(500, error(500, "INTERNAL", "")), SendOutcome::Retry { .. }));
        assert!(matches!(outcome(401, error(401, "THIRD_PARTY_AUTH_ERROR", "")), SendOutcome::ConfigError { .. }));
        // A balancer's 408 has no FCM body: the request was not taken, so it is tried again.
        assert!(
            matches!(interpret(408, None, b"<html>Request Timeout</html>"), SendOutcome::Retry { class, .. } if class == "timeout")
        );
        assert_eq!(interpret(418, None, b""), SendOutcome::failed("provider_418"));
    }
}
