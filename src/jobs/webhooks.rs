//! Sends queued webhook deliveries, the municipalities' and the apps' (`service::app_events`): claimed with a lease (any number of replicas),
//! posted outside the transaction, signed with HMAC-SHA256, retried with backoff, given up
//! after `MAX_ATTEMPTS`.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

use super::JobContext;
use crate::crypto::KeyRing;
use crate::db::schema::{app_event_deliveries, app_webhooks, municipal_webhooks, webhook_deliveries};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::error::Error;
use crate::service::webhooks::WebhookDeliveryStatus;

/// About a day of retries with the outbox's backoff (capped at an hour).
pub const MAX_ATTEMPTS: i32 = 30;
const BATCH: i64 = 50;
/// The most one post may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed batch is posted one delivery after another: the lease outlasts the longest batch,
/// so no other replica takes a delivery (and posts it a second time) while it is in flight.
const LEASE_SECONDS: i64 = BATCH * POST_TIMEOUT.as_secs() as i64 + 60;

/// The HTTP client for webhooks: public addresses only (unless the operator allows a host), no
/// redirects, a timeout on every post, and never the environment's proxy. Through the proxy the
/// operator names (`webhooks.proxy`), each destination is resolved and checked here first.
pub struct WebhookClient {
    client: reqwest::Client,
    allowed_hosts: Vec<String>,
    /// With a proxy: how nonstop resolves a destination before handing it to the proxy.
    proxy_lookup: Option<Arc<dyn reqwest::dns::Resolve>>,
}

impl WebhookClient {
    pub fn new(settings: &crate::config::WebhookSettings) -> anyhow::Result<Self> {
        Self::with_lookup(settings, Arc::new(crate::outbound::SystemLookup))
    }

    /// The client, resolving destinations through `lookup` before they go to a proxy.
    pub fn with_lookup(
        settings: &crate::config::WebhookSettings,
        lookup: Arc<dyn reqwest::dns::Resolve>,
    ) -> anyhow::Result<Self> {
        let allowed_hosts = settings.allowed_hosts.clone();
        // The environment's HTTPS_PROXY/ALL_PROXY would resolve the name out of sight.
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(POST_TIMEOUT)
            .connect_timeout(POST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("nonstop/", env!("CARGO_PKG_VERSION")));
        // The client's own resolver then resolves only the proxy (and the allowed hosts).
        let mut resolvable = allowed_hosts.clone();
        let mut proxy_lookup = None;
        if let Some(proxy) = &settings.proxy {
            let url = url::Url::parse(proxy)?;
            resolvable.extend(url.host_str().map(str::to_owned));
            let mut through = reqwest::Proxy::all(url)?;
            if !allowed_hosts.is_empty() {
                through = through.no_proxy(reqwest::NoProxy::from_string(&allowed_hosts.join(",")));
            }
            builder = builder.proxy(through);
            proxy_lookup = Some(lookup);
        }
        let client = builder.dns_resolver(crate::outbound::PublicOnlyResolver::new(resolvable)).build()?;
        Ok(Self { client, allowed_hosts, proxy_lookup })
    }
}

/// `v1` of the `Nonstop-Signature` header: hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> Result<String, Error> {
    let key = PKey::hmac(secret.as_bytes()).map_err(|e| Error::internal(e.to_string()))?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key).map_err(|e| Error::internal(e.to_string()))?;
    let mac = signer
        .sign_oneshot_to_vec(format!("{timestamp}.{body}").as_bytes())
        .map_err(|e| Error::internal(e.to_string()))?;
    Ok(hex::encode(mac))
}

/// Which outbox a delivery is in: a municipality's (`webhook_deliveries`) or an app's
/// (`app_event_deliveries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Queue {
    Municipal,
    App,
}

struct Claimed {
    queue: Queue,
    id: String,
    /// Whose webhook: deliveries to one receiver go one after another, receivers side by side.
    receiver: String,
    url: String,
    secret: String,
    payload: String,
    attempts: i32,
    owner: String,
}

/// A claimed delivery as read: id, receiver, payload, attempts, and the webhook's URL and
/// secret as they are now.
type ClaimedRow = (String, String, String, i32, String, String);

/// Leases the due deliveries of both outboxes. Each goes to its webhook's URL, signed with its
/// secret, as they are at sending: a municipality or an app that replaces them (the receiver
/// moved, the secret leaked) wants what is still queued to follow, not to go to the old address
/// with the old key.
fn claim(conn: &mut DbConnection, keys: &KeyRing, now: NaiveDateTime) -> Result<Vec<Claimed>, Error> {
    let lease = chrono::Duration::seconds(LEASE_SECONDS);
    let mut claimed = Vec::new();
    if let Some(owner) =
        super::lease::lease_due!(conn, webhook_deliveries, WebhookDeliveryStatus::Pending, now, lease, BATCH)
    {
        let rows: Vec<ClaimedRow> = webhook_deliveries::table
            .inner_join(
                municipal_webhooks::table
                    .on(municipal_webhooks::municipality_code.eq(webhook_deliveries::municipality_code)),
            )
            .filter(webhook_deliveries::lease_owner.eq(&owner))
            .select((
                webhook_deliveries::id,
                webhook_deliveries::municipality_code,
                webhook_deliveries::payload,
                webhook_deliveries::attempts,
                municipal_webhooks::url,
                municipal_webhooks::secret,
            ))
            .load(conn)?;
        for (id, code, payload, attempts, url, secret) in rows {
            claimed.push(Claimed {
                queue: Queue::Municipal,
                id,
                receiver: format!("municipality:{code}"),
                url,
                secret: keys.open(sealed::MUNICIPAL_WEBHOOKS_SECRET, &secret)?,
                payload: keys.open(sealed::WEBHOOK_DELIVERIES_PAYLOAD, &payload)?,
                attempts,
                owner: owner.clone(),
            });
        }
    }
    let pending = WebhookDeliveryStatus::Pending.as_str();
    if let Some(owner) = super::lease::lease_due!(conn, app_event_deliveries, pending, now, lease, BATCH) {
        let rows: Vec<ClaimedRow> = app_event_deliveries::table
            .inner_join(app_webhooks::table.on(app_webhooks::app_id.eq(app_event_deliveries::app_id)))
            .filter(app_event_deliveries::lease_owner.eq(&owner))
            .select((
                app_event_deliveries::id,
                app_event_deliveries::app_id,
                app_event_deliveries::payload,
                app_event_deliveries::attempts,
                app_webhooks::url,
                app_webhooks::secret,
            ))
            .load(conn)?;
        for (id, app_id, payload, attempts, url, secret) in rows {
            claimed.push(Claimed {
                queue: Queue::App,
                id,
                receiver: format!("app:{app_id}"),
                url,
                secret: keys.open(sealed::APP_WEBHOOKS_SECRET, &secret)?,
                // Ids and kinds only: stored as sent (`service::app_events`).
                payload,
                attempts,
                owner: owner.clone(),
            });
        }
    }
    Ok(claimed)
}

/// What a failed post is reported as: classes that tell the municipality what to fix and never
/// whether a port is open (a refused connection, a timeout, a TLS handshake with something that
/// is not a web server and a post left unanswered are all `unreachable`), so the webhook cannot
/// serve as a port scanner.
pub mod class {
    /// The host is not one nonstop sends to: it resolves to no public address, or the URL's
    /// shape is refused.
    pub const ADDRESS_NOT_ALLOWED: &str = "address_not_allowed";
    /// No HTTP answer: the name did not resolve, or the connection, TLS or the answer failed or
    /// took too long.
    pub const UNREACHABLE: &str = "unreachable";
    /// The receiver answered with a status other than 2xx.
    pub const HTTP_STATUS: &str = "http_status";
}

/// Posts one delivery; an error is one of the `class`es.
async fn post(client: &WebhookClient, claimed: &Claimed) -> Result<(), &'static str> {
    let url = url::Url::parse(&claimed.url).map_err(|_| class::ADDRESS_NOT_ALLOWED)?;
    // Rows set before the checks existed are checked again here.
    crate::outbound::check_url(&url, &client.allowed_hosts).map_err(|_| class::ADDRESS_NOT_ALLOWED)?;
    let host = url.host_str().unwrap_or_default();
    if let Some(lookup) = &client.proxy_lookup {
        if !crate::outbound::is_allowed(host, &client.allowed_hosts) {
            crate::outbound::resolves_publicly(lookup.as_ref(), host).await.map_err(|e| match e {
                crate::outbound::Unresolved::NotPublic => class::ADDRESS_NOT_ALLOWED,
                crate::outbound::Unresolved::Unknown => class::UNREACHABLE,
            })?;
        }
    }
    let timestamp = crate::clock::real_now().timestamp();
    let mac = signature(&claimed.secret, timestamp, &claimed.payload).map_err(|_| class::UNREACHABLE)?;
    let response = client
        .client
        .post(url)
        .header("Content-Type", "application/json")
        .header("Nonstop-Event-Id", &claimed.id)
        .header("Nonstop-Signature", format!("t={timestamp},v1={mac}"))
        .body(claimed.payload.clone())
        .send()
        .await
        .map_err(|e| error_class(&e))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(class::HTTP_STATUS)
    }
}

fn error_class(error: &reqwest::Error) -> &'static str {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if e.is::<crate::outbound::NotAllowed>() {
            return class::ADDRESS_NOT_ALLOWED;
        }
        source = e.source();
    }
    class::UNREACHABLE
}

/// Records an attempt's outcome on a delivery of outbox `$table` still leased by the claim:
/// delivered, retried after the backoff, or given up after `MAX_ATTEMPTS`; `None` releases it
/// untried (its receiver just failed another delivery of the batch). (A macro, since diesel's
/// columns are types of their own table.)
macro_rules! settle {
    ($conn:expr, $table:ident, $claimed:expr, $outcome:expr, $now:expr) => {{
        use $crate::db::schema::$table as outbox;
        let (claimed, now): (&Claimed, NaiveDateTime) = ($claimed, $now);
        let attempts = claimed.attempts + 1;
        let pending = WebhookDeliveryStatus::Pending.as_str();
        let mine = outbox::table
            .find(&claimed.id)
            .filter(outbox::lease_owner.eq(&claimed.owner))
            .filter(outbox::status.eq(pending));
        let release = (outbox::lease_owner.eq(None::<String>), outbox::lease_until.eq(None::<NaiveDateTime>));
        match $outcome {
            None => diesel::update(mine).set(release).execute($conn)?,
            Some(Ok(())) => diesel::update(mine)
                .set((
                    outbox::status.eq(WebhookDeliveryStatus::Delivered.as_str()),
                    outbox::attempts.eq(attempts),
                    outbox::delivered_at.eq(Some(now)),
                    outbox::last_error.eq(None::<String>),
                    release,
                ))
                .execute($conn)?,
            Some(Err(error)) => {
                let status = if attempts >= MAX_ATTEMPTS {
                    WebhookDeliveryStatus::Failed
                } else {
                    WebhookDeliveryStatus::Pending
                };
                let wait = super::outbox::backoff(attempts);
                diesel::update(mine)
                    .set((
                        outbox::status.eq(status.as_str()),
                        outbox::attempts.eq(attempts),
                        outbox::next_attempt_at.eq(now + chrono::Duration::from_std(wait).unwrap_or_default()),
                        outbox::last_error.eq(Some(error)),
                        release,
                    ))
                    .execute($conn)?
            }
        }
    }};
}

fn record(
    conn: &mut DbConnection,
    claimed: &Claimed,
    outcome: Option<Result<(), &'static str>>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    match claimed.queue {
        Queue::Municipal => settle!(conn, webhook_deliveries, claimed, outcome, now),
        Queue::App => settle!(conn, app_event_deliveries, claimed, outcome, now),
    };
    Ok(())
}

/// Posts one receiver's deliveries one after another; after a failure the rest wait for the
/// next tick untried (a receiver that is down costs one timeout per tick, not one per delivery).
async fn send_to_receiver(ctx: &JobContext, deliveries: Vec<Claimed>) -> Result<usize, Error> {
    let (mut delivered, mut failed) = (0, false);
    for item in deliveries {
        let outcome = if failed { None } else { Some(post(&ctx.webhooks, &item).await) };
        failed |= matches!(outcome, Some(Err(_)));
        delivered += usize::from(matches!(outcome, Some(Ok(()))));
        let now = ctx.clock.now();
        ctx.db.write(move |conn| record(conn, &item, outcome, now)).await?;
    }
    Ok(delivered)
}

/// Sends what is due, each receiver's deliveries beside the others' (a slow or absent receiver
/// delays and fails only its own); returns how many were delivered.
pub async fn run_once(ctx: &JobContext) -> Result<usize, Error> {
    let keys = ctx.keys.clone();
    let now = ctx.clock.now();
    let claimed = ctx.db.write(move |conn| claim(conn, &keys, now)).await?;
    let mut by_receiver: std::collections::BTreeMap<String, Vec<Claimed>> = std::collections::BTreeMap::new();
    for item in claimed {
        by_receiver.entry(item.receiver.clone()).or_default().push(item);
    }
    let sent =
        futures_util::future::join_all(by_receiver.into_values().map(|group| send_to_receiver(ctx, group))).await;
    let mut delivered = 0;
    for outcome in sent {
        delivered += outcome?;
    }
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn signs_with_hmac_sha256() {
        let key = PKey::hmac(b"Jefe").unwrap();
        let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
        let mac = signer.sign_oneshot_to_vec(b"what do ya want for nothing?").unwrap();
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(signature("k", 1, "{}").unwrap().len(), 64);
    }

    fn delivery_to(url: &str) -> Claimed {
        Claimed {
            queue: Queue::Municipal,
            id: "event".into(),
            receiver: "municipality:test".into(),
            url: url.into(),
            secret: "whsec_test".into(),
            payload: "{}".into(),
            attempts: 0,
            owner: "owner".into(),
        }
    }

    /// A proxy on loopback that refuses every request, counting the connections it was offered.
    fn refusing_proxy() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let offered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = offered.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
            }
        });
        (address, offered)
    }

    #[tokio::test]
    async fn through_the_operators_proxy_only_public_destinations_go_out() {
        use crate::outbound::tests::FixedLookup;
        let (proxy, offered) = refusing_proxy();
        let settings = crate::config::WebhookSettings { allowed_hosts: vec![], proxy: Some(format!("http://{proxy}")) };
        let lookup = FixedLookup(vec![
            ("hook.city.example.jp", vec!["8.8.8.8".parse().unwrap()]),
            ("inward.city.example.jp", vec!["10.0.0.8".parse().unwrap()]),
            ("rebound.city.example.jp", vec!["8.8.8.8".parse().unwrap(), "127.0.0.1".parse().unwrap()]),
        ]);
        let client = WebhookClient::with_lookup(&settings, Arc::new(lookup)).expect("client");
        // Names that resolve inward (all or some of the way) never reach the proxy.
        for inward in ["https://inward.city.example.jp/hook", "https://rebound.city.example.jp/hook"] {
            assert_eq!(post(&client, &delivery_to(inward)).await, Err(class::ADDRESS_NOT_ALLOWED), "{inward}");
        }
        assert_eq!(post(&client, &delivery_to("https://nowhere.city.example.jp/hook")).await, Err(class::UNREACHABLE));
        assert_eq!(offered.load(std::sync::atomic::Ordering::SeqCst), 0, "the proxy was offered nothing");
        // A public one goes through the proxy; the proxy's refusal is a coarse class.
        assert_eq!(post(&client, &delivery_to("https://hook.city.example.jp/hook")).await, Err(class::UNREACHABLE));
        assert_eq!(offered.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// Run by `the_environments_proxy_is_never_used`, in a process of its own with the
    /// environment's proxy variables set (they are process-wide).
    #[tokio::test]
    #[ignore = "run in a process of its own by the_environments_proxy_is_never_used"]
    async fn posts_with_the_environments_proxy_set() {
        assert!(std::env::var_os("HTTPS_PROXY").is_some(), "started by the_environments_proxy_is_never_used");
        let client = WebhookClient::new(&crate::config::WebhookSettings::default()).expect("client");
        // `.invalid` never resolves (RFC 6761): without a proxy, the post fails here.
        let outcome = post(&client, &delivery_to("https://hook.nonstop.invalid/hook")).await;
        assert_eq!(outcome, Err(class::UNREACHABLE));
    }

    #[test]
    fn the_environments_proxy_is_never_used() {
        let (proxy, offered) = refusing_proxy();
        let proxy = format!("http://{proxy}");
        let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["jobs::webhooks::tests::posts_with_the_environments_proxy_set", "--exact", "--ignored", "--quiet"])
            .env("HTTPS_PROXY", &proxy)
            .env("https_proxy", &proxy)
            .env("ALL_PROXY", &proxy)
            .env("all_proxy", &proxy)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("test binary runs");
        assert!(status.success(), "the post in the child process: {status}");
        assert_eq!(offered.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing went to the environment's proxy");
    }
}
