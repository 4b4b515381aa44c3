//! Loopback push services that behave like the real ones.
//!
//! The Web Push mock checks the VAPID JWT (ES256 signature with the `k` it is sent, `aud` = its
//! own origin, `exp` at most 24 h ahead, a `sub`) and decrypts the aes128gcm body with the
//! subscription's private key, so tests assert on the plaintext. The FCM mock has an OAuth
//! token endpoint and the v1 send endpoint. Both answer what a test asks for, in order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256PublicKey, NoCustomClaims, VerificationOptions};
use serde_json::{json, Value};

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: Value,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self { status, retry_after: None, body: Value::Null }
    }
    pub fn retry_after(status: u16, seconds: u64) -> Self {
        Self { status, retry_after: Some(seconds), body: Value::Null }
    }
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, retry_after: None, body }
    }
}

/// One push the mock accepted (or refused), as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub subscription: String,
    pub status: u16,
    pub plaintext: Option<Value>,
    pub at: Instant,
    pub ttl: Option<u64>,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    pub vapid_subject: Option<String>,
}

struct Subscription {
    keys: ece::EcKeyComponents,
    auth: Vec<u8>,
}

#[derive(Default)]
struct WebPushState {
    subscriptions: Mutex<HashMap<String, Arc<Subscription>>>,
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    /// Replies for every request once the script is used up (default 201).
    fallback: Mutex<HashMap<String, Reply>>,
    received: Mutex<Vec<Received>>,
    origin: Mutex<String>,
}

/// A loopback Web Push service.
#[derive(Clone)]
pub struct WebPushMock {
    state: Arc<WebPushState>,
    pub origin: String,
}

impl WebPushMock {
    pub async fn start() -> Self {
        let state = Arc::new(WebPushState::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route("/push/{id}", web::post().to(web_push_receive))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))
        .expect("bind");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        let origin = format!("http://127.0.0.1:{port}");
        *state.origin.lock().expect("lock") = origin.clone();
        Self { state, origin }
    }

    /// A new subscription: the device registration body a browser would send.
    pub fn subscribe(&self) -> (String, Value) {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().expect("keys");
        let public = pair.pub_as_raw().expect("public key");
        let id = uuid::Uuid::new_v4().simple().to_string();
        let subscription = Subscription { keys: pair.raw_components().expect("components"), auth: auth.to_vec() };
        self.state.subscriptions.lock().expect("lock").insert(id.clone(), Arc::new(subscription));
        let body = json!({
            "kind": "web_push",
            "endpoint": format!("{}/push/{id}", self.origin),
            "keys": { "p256dh": URL_SAFE_NO_PAD.encode(public), "auth": URL_SAFE_NO_PAD.encode(auth) }
        });
        (id, body)
    }

    /// Answers the next requests to `subscription` with these replies, in order.
    pub fn script(&self, subscription: &str, replies: Vec<Reply>) {
        self.state.scripts.lock().expect("lock").insert(subscription.to_owned(), replies.into());
    }

    /// Answers every request to `subscription` (after any script) with `reply`.
    pub fn always(&self, subscription: &str, reply: Reply) {
        self.state.fallback.lock().expect("lock").insert(subscription.to_owned(), reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    pub fn received_by(&self, subscription: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.subscription == subscription).collect()
    }

    /// Waits until `done` holds for what was received, or the timeout passes.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if done(&received) || started.elapsed() > timeout {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Checks `Authorization: vapid t=<jwt>, k=<public key>` as a push service does. Returns the `sub`.
fn check_vapid(req: &HttpRequest, origin: &str) -> Result<String, String> {
    let value = header(req, "authorization").ok_or("no Authorization")?;
    let rest = value.strip_prefix("vapid ").ok_or("not a vapid Authorization")?;
    let mut token = None;
    let mut key = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(t) = part.strip_prefix("t=") {
            token = Some(t.to_owned());
        } else if let Some(k) = part.strip_prefix("k=") {
            key = Some(k.to_owned());
        }
    }
    let (token, key) = (token.ok_or("no t=")?, key.ok_or("no k=")?);
    let raw = URL_SAFE_NO_PAD.decode(key.trim_end_matches('=')).map_err(|_| "k is not base64url")?;
    let public = ES256PublicKey::from_bytes(&raw).map_err(|_| "k is not a P-256 key")?;
    let options =
        VerificationOptions { allowed_audiences: Some(HashSet::from([origin.to_owned()])), ..Default::default() };
    let claims =
        public.verify_token::<NoCustomClaims>(&token, Some(options)).map_err(|e| format!("JWT refused: {e}"))?;
    let expires = claims.expires_at.ok_or("no exp")?.as_secs();
    // A push service checks the token against its own clock: the real one.
    let now = nonstop::clock::real_now().timestamp().max(0) as u64;
    if expires > now + 24 * 3600 {
        return Err("exp more than 24 hours ahead".into());
    }
    let subject = claims.subject.ok_or("no sub")?;
    if !(subject.starts_with("mailto:") || subject.starts_with("https:")) || subject.contains("localhost") {
        return Err("sub is not a real contact".into());
    }
    Ok(subject)
}

async fn web_push_receive(
    state: web::Data<WebPushState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let id = path.into_inner();
    let origin = state.origin.lock().expect("lock").clone();
    let subscription = state.subscriptions.lock().expect("lock").get(&id).cloned();
    let mut record = Received {
        subscription: id.clone(),
        status: 0,
        plaintext: None,
        at: Instant::now(),
        ttl: header(&req, "ttl").and_then(|t| t.parse().ok()),
        urgency: header(&req, "urgency"),
        topic: header(&req, "topic"),
        vapid_subject: None,
    };
    let reply = match (subscription, check_vapid(&req, &origin)) {
        (None, _) => Reply::status(404),
        (_, Err(problem)) => Reply::json(403, json!({ "reason": problem })),
        (Some(subscription), Ok(subject)) => {
            record.vapid_subject = Some(subject);
            if header(&req, "content-encoding").as_deref() != Some("aes128gcm") {
                Reply::json(400, json!({ "reason": "not aes128gcm" }))
            } else {
                match ece::decrypt(&subscription.keys, &subscription.auth, &body) {
                    Ok(plain) => {
                        record.plaintext = serde_json::from_slice(&plain).ok();
                        let scripted = state.scripts.lock().expect("lock").get_mut(&id).and_then(VecDeque::pop_front);
                        scripted
                            .or_else(|| state.fallback.lock().expect("lock").get(&id).cloned())
                            .unwrap_or(Reply::status(201))
                    }
                    Err(e) => Reply::json(400, json!({ "reason": format!("decryption failed: {e}") })),
                }
            }
        }
    };
    record.status = reply.status;
    state.received.lock().expect("lock").push(record);
    respond(&reply, Some(format!("{origin}/message/{}", uuid::Uuid::new_v4())))
}

fn respond(reply: &Reply, location: Option<String>) -> HttpResponse {
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).expect("status"));
    if let Some(after) = reply.retry_after {
        response.insert_header(("Retry-After", after.to_string()));
    }
    if let (Some(location), true) = (location, (200..300).contains(&reply.status)) {
        response.insert_header(("Location", location));
    }
    if reply.body.is_null() {
        response.finish()
    } else {
        response.json(&reply.body)
    }
}

#[derive(Default)]
struct FcmState {
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    received: Mutex<Vec<(String, Value)>>,
    tokens_issued: Mutex<usize>,
    /// `expires_in` of the access tokens issued (3600 unless a test asks otherwise).
    token_lifetime: Mutex<Option<u64>>,
    /// The token endpoint never answers (a hung provider).
    token_hangs: Mutex<bool>,
}

/// A loopback FCM: `POST /token` (OAuth2 JWT bearer) and `POST /v1/projects/{p}/messages:send`.
#[derive(Clone)]
pub struct FcmMock {
    state: Arc<FcmState>,
    pub base: String,
}

const MOCK_ACCESS_TOKEN: &str = "mock-access-token";

impl FcmMock {
    pub async fn start() -> Self {
        let state = Arc::new(FcmState::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/token", web::post().to(fcm_token))
                .route("/v1/projects/{project}/messages:send", web::post().to(fcm_send))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Self { state, base: format!("http://127.0.0.1:{port}") }
    }

    pub fn script(&self, token: &str, replies: Vec<Reply>) {
        self.state.scripts.lock().expect("lock").insert(token.to_owned(), replies.into());
    }

    /// (device token, message JSON) of every accepted or refused send.
    pub fn received(&self) -> Vec<(String, Value)> {
        self.state.received.lock().expect("lock").clone()
    }

    /// The token endpoint, for the operator's `push.fcm_token_uri`.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base)
    }

    /// Issues access tokens that claim to live `seconds` (a broken or hostile token endpoint).
    pub fn issue_tokens_expiring_in(&self, seconds: u64) {
        *self.state.token_lifetime.lock().expect("lock") = Some(seconds);
    }

    /// Makes the token endpoint hold every request without answering.
    pub fn hang_token_requests(&self) {
        *self.state.token_hangs.lock().expect("lock") = true;
    }

    pub fn tokens_issued(&self) -> usize {
        *self.state.tokens_issued.lock().expect("lock")
    }

    /// A service account whose token endpoint is this mock, with a real RSA key.
    pub fn service_account(&self) -> Value {
        let rsa = openssl::rsa::Rsa::generate(2048).expect("rsa");
        let pem = openssl::pkey::PKey::from_rsa(rsa).expect("pkey").private_key_to_pem_pkcs8().expect("pem");
        json!({
            "project_id": "nonstop-test",
            "client_email": "push@nonstop-test.iam.gserviceaccount.com",
            "private_key": String::from_utf8(pem).expect("utf8"),
            "token_uri": format!("{}/token", self.base),
        })
    }

    pub async fn wait_for(&self, timeout: Duration, count: usize) -> Vec<(String, Value)> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= count || started.elapsed() > timeout {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn fcm_token(state: web::Data<FcmState>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        || !form.contains_key("assertion")
    {
        return HttpResponse::BadRequest().json(json!({ "error": "invalid_grant" }));
    }
    if *state.token_hangs.lock().expect("lock") {
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
    *state.tokens_issued.lock().expect("lock") += 1;
    let expires_in = state.token_lifetime.lock().expect("lock").unwrap_or(3600);
    HttpResponse::Ok()
        .json(json!({ "access_token": MOCK_ACCESS_TOKEN, "expires_in": expires_in, "token_type": "Bearer" }))
}

async fn fcm_send(state: web::Data<FcmState>, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    if header(&req, "authorization").as_deref() != Some(&format!("Bearer {MOCK_ACCESS_TOKEN}")) {
        return HttpResponse::Unauthorized()
            .json(json!({ "error": { "code": 401, "status": "UNAUTHENTICATED", "message": "bad token" } }));
    }
    let token = body["message"]["token"].as_str().unwrap_or_default().to_owned();
    state.received.lock().expect("lock").push((token.clone(), body.0.clone()));
    let scripted = state.scripts.lock().expect("lock").get_mut(&token).and_then(VecDeque::pop_front);
    let reply = scripted.unwrap_or_else(|| {
        Reply::json(200, json!({ "name": format!("projects/nonstop-test/messages/{}", uuid::Uuid::new_v4()) }))
    });
    respond(&reply, None)
}

/// An FCM error body as Google sends it.
pub fn fcm_error(code: u16, error_code: &str) -> Value {
    json!({ "error": { "code": code, "message": error_code, "status": "NOT_FOUND",
        "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code }] } })
}

/// A municipality's system receiving webhooks: records each request, answers as scripted
/// (then 200).
#[derive(Clone)]
pub struct WebhookReceiver {
    state: Arc<WebhookState>,
    pub url: String,
}

#[derive(Default)]
struct WebhookState {
    script: Mutex<VecDeque<u16>>,
    received: Mutex<Vec<WebhookRequest>>,
}

#[derive(Clone, Debug)]
pub struct WebhookRequest {
    pub event_id: String,
    pub signature: String,
    pub body: String,
    pub status: u16,
}

impl WebhookReceiver {
    pub async fn start(script: Vec<u16>) -> Self {
        let state = Arc::new(WebhookState { script: Mutex::new(script.into()), ..Default::default() });
        let data = web::Data::from(state.clone());
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).route("/hook", web::post().to(webhook_receive)))
                .workers(1)
                .bind(("127.0.0.1", 0))
                .expect("bind");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Self { state, url: format!("http://127.0.0.1:{port}/hook") }
    }

    pub fn received(&self) -> Vec<WebhookRequest> {
        self.state.received.lock().expect("lock").clone()
    }
}

async fn webhook_receive(state: web::Data<WebhookState>, request: HttpRequest, body: String) -> HttpResponse {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let status = state.script.lock().expect("lock").pop_front().unwrap_or(200);
    state.received.lock().expect("lock").push(WebhookRequest {
        event_id: header("nonstop-event-id"),
        signature: header("nonstop-signature"),
        body,
        status,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status")).finish()
}
