//! Sends queued municipal webhook deliveries: claimed with a lease (any number of replicas),
//! posted outside the transaction, signed with HMAC-SHA256, retried with backoff, given up
//! after `MAX_ATTEMPTS`.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

use super::JobContext;
use crate::crypto::KeyRing;
use crate::db::schema::{municipal_webhooks, webhook_deliveries};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::error::Error;
use crate::service::webhooks::WebhookDeliveryStatus;

/// About a day of retries with the outbox's backoff (capped at an hour).
pub const MAX_ATTEMPTS: i32 = 30;
const BATCH: i64 = 50;
/// The most one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed batch is posted one delivery after another: the lease outlasts the longest batch,
/// so no other replica takes a delivery (and posts it a second time) while it is in flight.
const LEASE_SECONDS: i64 = BATCH * POST_TIMEOUT.as_secs() as i64 + 60;

/// The HTTP client for webhooks: public addresses only (unless the operator allows a host), no
/// redirects, a timeout on every post.
pub struct WebhookClient {
    client: reqwest::Client,
    allowed_hosts: Vec<String>,
}

impl WebhookClient {
    pub fn new(settings: &crate::config::WebhookSettings) -> anyhow::Result<Self> {
        let allowed_hosts = settings.allowed_hosts.clone();
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .connect_timeout(POST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(crate::outbound::PublicOnlyResolver::new(allowed_hosts.clone()))
            .user_agent(concat!("nonstop/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, allowed_hosts })
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

struct Claimed {
    id: String,
    url: String,
    secret: String,
    payload: String,
    attempts: i32,
    owner: String,
}

/// A claimed delivery as read: id, payload, attempts, the URL and secret it was queued with
/// (absent on rows queued before they were kept), and the webhook's current URL and secret.
type ClaimedRow = (String, String, i32, Option<String>, Option<String>, String, String);

fn claim(conn: &mut DbConnection, keys: &KeyRing, now: NaiveDateTime) -> Result<Vec<Claimed>, Error> {
    let lease = chrono::Duration::seconds(LEASE_SECONDS);
    let Some(owner) =
        super::lease::lease_due!(conn, webhook_deliveries, WebhookDeliveryStatus::Pending, now, lease, BATCH)
    else {
        return Ok(Vec::new());
    };
    let rows: Vec<ClaimedRow> = webhook_deliveries::table
        .inner_join(
            municipal_webhooks::table
                .on(municipal_webhooks::municipality_code.eq(webhook_deliveries::municipality_code)),
        )
        .filter(webhook_deliveries::lease_owner.eq(&owner))
        .select((
            webhook_deliveries::id,
            webhook_deliveries::payload,
            webhook_deliveries::attempts,
            webhook_deliveries::url,
            webhook_deliveries::secret,
            municipal_webhooks::url,
            municipal_webhooks::secret,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, payload, attempts, queued_url, queued_secret, url, secret)| {
            // Where and how it was queued to go; rows queued before that was kept take the
            // webhook as it is.
            Ok(Claimed {
                id,
                url: queued_url.unwrap_or(url),
                secret: keys.open(sealed::MUNICIPAL_WEBHOOKS_SECRET, &queued_secret.unwrap_or(secret))?,
                payload: keys.open(sealed::WEBHOOK_DELIVERIES_PAYLOAD, &payload)?,
                attempts,
                owner: owner.clone(),
            })
        })
        .collect()
}

/// Posts one delivery; an error is a class (`timeout`, `http_status`, `tls`, `refused`,
/// `address_not_allowed`): what the municipality needs to fix its receiver, and nothing that
/// would make the webhook a port scanner.
async fn post(client: &WebhookClient, claimed: &Claimed) -> Result<(), &'static str> {
    let url = url::Url::parse(&claimed.url).map_err(|_| "address_not_allowed")?;
    // Rows set before the checks existed are checked again here.
    crate::outbound::check_url(&url, &client.allowed_hosts).map_err(|_| "address_not_allowed")?;
    let timestamp = crate::clock::real_now().timestamp();
    let mac = signature(&claimed.secret, timestamp, &claimed.payload).map_err(|_| "refused")?;
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
        Err("http_status")
    }
}

fn error_class(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        return "timeout";
    }
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if e.is::<crate::outbound::NotAllowed>() {
            return "address_not_allowed";
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return "tls";
        }
        source = e.source();
    }
    "refused"
}

fn record(
    conn: &mut DbConnection,
    claimed: &Claimed,
    outcome: Result<(), &'static str>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let attempts = claimed.attempts + 1;
    let mine = webhook_deliveries::table
        .find(&claimed.id)
        .filter(webhook_deliveries::lease_owner.eq(&claimed.owner))
        .filter(webhook_deliveries::status.eq(WebhookDeliveryStatus::Pending));
    let release =
        (webhook_deliveries::lease_owner.eq(None::<String>), webhook_deliveries::lease_until.eq(None::<NaiveDateTime>));
    match outcome {
        Ok(()) => diesel::update(mine)
            .set((
                webhook_deliveries::status.eq(WebhookDeliveryStatus::Delivered),
                webhook_deliveries::attempts.eq(attempts),
                webhook_deliveries::delivered_at.eq(Some(now)),
                webhook_deliveries::last_error.eq(None::<String>),
                release,
            ))
            .execute(conn)?,
        Err(error) => {
            let status =
                if attempts >= MAX_ATTEMPTS { WebhookDeliveryStatus::Failed } else { WebhookDeliveryStatus::Pending };
            let wait = super::outbox::backoff(attempts);
            diesel::update(mine)
                .set((
                    webhook_deliveries::status.eq(status),
                    webhook_deliveries::attempts.eq(attempts),
                    webhook_deliveries::next_attempt_at.eq(now + chrono::Duration::from_std(wait).unwrap_or_default()),
                    webhook_deliveries::last_error.eq(Some(error)),
                    release,
                ))
                .execute(conn)?
        }
    };
    Ok(())
}

/// Sends what is due; returns how many were delivered.
pub async fn run_once(ctx: &JobContext) -> Result<usize, Error> {
    let keys = ctx.keys.clone();
    let now = ctx.clock.now();
    let claimed = ctx.db.write(move |conn| claim(conn, &keys, now)).await?;
    let mut delivered = 0;
    for item in claimed {
        let outcome = post(&ctx.webhooks, &item).await;
        delivered += usize::from(outcome.is_ok());
        let now = ctx.clock.now();
        ctx.db.write(move |conn| record(conn, &item, outcome, now)).await?;
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
}
