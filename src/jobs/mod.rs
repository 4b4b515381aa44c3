//! Background work: the delivery worker and the scheduler, on a runtime of their own so that
//! encryption and bookkeeping do not compete with the HTTP workers' event loops.

mod lease;
pub mod materialize;
pub mod outbox;
pub mod pipeline;
pub mod scheduler;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{JobSettings, PushSettings};
use crate::crypto::KeyRing;
use crate::db::Db;
use crate::error::Error;
use crate::push::apns::ApnsSender;
use crate::push::fcm::FcmSender;
use crate::push::webpush::WebPushSender;
use crate::push::{SendOutcome, Senders};
use crate::service::push_credentials;
use crate::telemetry::Metrics;
use crate::templates::Templates;

/// What the background work needs.
#[derive(Clone)]
pub struct JobContext {
    pub db: Db,
    pub keys: Arc<KeyRing>,
    pub templates: Arc<Templates>,
    pub planning: Arc<crate::domain::planner::PlanningContext>,
    pub senders: Arc<Senders>,
    pub metrics: Arc<Metrics>,
    pub settings: JobSettings,
    /// The application's clock: what is due, and when a lease ends.
    pub clock: crate::clock::Clock,
    /// Posts webhooks (municipal and apps') to public addresses only.
    pub webhooks: Arc<webhooks::WebhookClient>,
}

impl JobContext {
    /// The use-case context of one unit of work, at the clock's present instant.
    pub fn use_case(&self) -> crate::service::UseCase {
        crate::service::UseCase::at(&self.keys, &self.planning, &self.templates, &self.clock)
    }

    /// Re-plans residents after a settings change, a batch per transaction.
    pub fn replanner(&self) -> crate::service::replan::Replanner {
        crate::service::replan::Replanner {
            db: self.db.clone(),
            keys: self.keys.clone(),
            planning: self.planning.clone(),
            templates: self.templates.clone(),
            clock: self.clock.clone(),
            lease: chrono::Duration::seconds(self.settings.lease_seconds),
        }
    }

    /// Records sent notices' audiences, a batch per transaction, under a lease as long as a
    /// delivery's.
    pub fn recorder(&self) -> crate::service::notices::Recorder {
        crate::service::notices::Recorder {
            db: self.db.clone(),
            templates: self.templates.clone(),
            planning: self.planning.clone(),
            clock: self.clock.clone(),
            lease: chrono::Duration::seconds(self.settings.lease_seconds),
        }
    }
}

/// The real senders, with a few pooled HTTP/2 clients for Web Push and FCM, paced per host.
pub fn senders(settings: &PushSettings, jobs: &JobSettings) -> anyhow::Result<Senders> {
    let timeout = Duration::from_secs(settings.timeout_seconds);
    let mut roots = Vec::new();
    for file in &settings.extra_root_certificates {
        let pem = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        roots.extend(reqwest::Certificate::from_pem_bundle(&pem)?);
    }
    let clients = (0..settings.connections_per_host.max(1))
        .map(|_| {
            let builder =
                roots.iter().cloned().fold(reqwest::Client::builder(), |b, root| b.add_root_certificate(root));
            builder
                .timeout(timeout)
                .connect_timeout(timeout)
                .pool_max_idle_per_host(64)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("nonstop/", env!("CARGO_PKG_VERSION")))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let clients = Arc::new(crate::push::HttpClients::new(clients));
    Ok(Senders {
        web_push: Box::new(WebPushSender::new(clients.clone(), settings.web_push_allowed_hosts.clone())),
        apns: Box::new(ApnsSender::new(timeout)),
        fcm: Box::new(FcmSender::new(clients, settings.fcm_base_url.clone(), settings.fcm_token_uri.clone())),
        // An OAuth token and the push itself: two requests, each under `timeout`.
        deadline: timeout * 2 + Duration::from_secs(1),
        pacer: crate::push::pace::Pacer::new(jobs.concurrency, jobs.max_in_flight),
    })
}

/// A claimed batch and the credentials of its apps.
pub(crate) struct Batch {
    pub claimed: Vec<outbox::Claimed>,
    pub credentials: Arc<std::collections::HashMap<String, crate::push::AppCredentials>>,
    /// No send of the batch starts after this: half its lease, so that a send waiting for its
    /// host never leaves after another worker may have claimed the delivery again.
    pub not_after: tokio::time::Instant,
}

/// Claims up to `limit` due deliveries and reads their apps' credentials.
pub(crate) async fn claim_batch(ctx: &JobContext, limit: i64) -> Result<Batch, Error> {
    let keys = ctx.keys.clone();
    let lease = chrono::Duration::seconds(ctx.settings.lease_seconds);
    let now = ctx.clock.now();
    let claimed_at = tokio::time::Instant::now();
    let claimed = ctx.db.write(move |conn| outbox::claim(conn, &keys, now, lease, limit)).await?;
    // Credentials once per app in the batch.
    let apps: std::collections::BTreeSet<String> = claimed.iter().map(|c| c.app_id.clone()).collect();
    let keys = ctx.keys.clone();
    let credentials = if apps.is_empty() {
        Default::default()
    } else {
        ctx.db
            .read(move |conn| {
                apps.into_iter()
                    .map(|app| push_credentials::load(conn, &keys, &app).map(|c| (app, c)))
                    .collect::<Result<std::collections::HashMap<_, _>, _>>()
            })
            .await?
    };
    let half_lease = Duration::from_secs(ctx.settings.lease_seconds.max(0) as u64 / 2);
    Ok(Batch { claimed, credentials: Arc::new(credentials), not_after: claimed_at + half_lease })
}

/// Sends one claimed delivery when its host allows. A task of its own, so that encryption (an
/// ECDH per Web Push message) runs on every thread of the runtime, not only on the one polling
/// the batch.
pub(crate) fn send_one(
    ctx: &JobContext,
    claimed: outbox::Claimed,
    batch: &Batch,
) -> AbortOnDrop<(outbox::Claimed, SendOutcome)> {
    let (credentials, senders, not_after) = (batch.credentials.clone(), ctx.senders.clone(), batch.not_after);
    AbortOnDrop(tokio::spawn(async move {
        let outcome = match (&claimed.target, credentials.get(&claimed.app_id)) {
            (Ok(target), Some(app)) => {
                let push =
                    crate::push::Push { app_id: &claimed.app_id, credentials: app, target, message: &claimed.message };
                senders.send_paced(push, not_after).await
            }
            (Err(problem), _) => SendOutcome::failed(format!("device unreadable: {problem}")),
            (_, None) => SendOutcome::config("no credentials"),
        };
        (claimed, outcome)
    }))
}

/// Records outcomes in one transaction, with their metrics.
pub(crate) async fn record(ctx: &JobContext, outcomes: Vec<(outbox::Claimed, SendOutcome)>) -> Result<(), Error> {
    let metrics = ctx.metrics.clone();
    let at = ctx.clock.now();
    ctx.db
        .write(move |conn| {
            let statuses = outbox::record_all(conn, &outcomes, at)?;
            for ((claimed, outcome), status) in outcomes.iter().zip(statuses) {
                metrics.delivery(claimed.kind.as_str(), outcome.class(), status.as_str());
            }
            Ok(())
        })
        .await
}

/// Claims one batch of due deliveries, sends them and records the outcomes: one pass, for
/// tests and tools (the worker runs `pipeline::run`, which overlaps batches). Returns how many
/// were handled.
pub async fn deliver_once(ctx: &JobContext) -> Result<usize, Error> {
    let mut batch = claim_batch(ctx, ctx.settings.batch_size).await?;
    let sends: Vec<_> = std::mem::take(&mut batch.claimed).into_iter().map(|c| send_one(ctx, c, &batch)).collect();
    // `send_isolated` catches a sender's panic; a task that still failed leaves its delivery
    // leased, to be claimed again when the lease runs out.
    let outcomes: Vec<_> = futures_util::future::join_all(sends).await.into_iter().filter_map(Result::ok).collect();
    let handled = outcomes.len();
    if handled > 0 {
        record(ctx, outcomes).await?;
    }
    Ok(handled)
}

/// A spawned send that is aborted if the batch waiting for it is dropped (a stopping process):
/// a push must not leave after its batch can no longer record the outcome (it would be sent
/// again when the lease runs out).
pub(crate) struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The worker: the delivery pipeline until told to stop.
pub async fn run_worker(ctx: JobContext, stop: watch::Receiver<bool>) {
    pipeline::run(ctx, stop, false).await
}

/// Runs the task `start` makes until it returns; if it panics, logs it and starts it again
/// (after a second, so a task that panics at once does not spin), unless `stop` was given.
pub async fn supervise<F, Fut>(name: &'static str, stop: watch::Receiver<bool>, start: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match tokio::spawn(start()).await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                tracing::error!(task = name, "a background task panicked; starting it again");
                if *stop.borrow() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(_) => return,
        }
    }
}

/// The background work of one process: a thread with its own runtime running the worker and
/// the scheduler until `stop` is called.
pub struct Background {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Background {
    /// An application dropped without a graceful stop (a test's runtime ending) still stops
    /// its background work; the thread finishes its batch on its own.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Background {
    pub fn start(ctx: JobContext) -> anyhow::Result<Self> {
        let (stop, watcher) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nonstop-jobs")
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new().name("nonstop-jobs".into()).spawn(move || {
            runtime.block_on(async move {
                let scheduler = if ctx.settings.scheduler {
                    match scheduler::start(ctx.clone()).await {
                        Ok(s) => Some(s),
                        Err(e) => {
                            tracing::error!(error = %e, "the scheduler did not start");
                            None
                        }
                    }
                } else {
                    None
                };
                ctx.metrics.worker_progressed(ctx.clock.now());
                let worker_ctx = ctx.clone();
                supervise("delivery worker", watcher.clone(), move || run_worker(worker_ctx.clone(), watcher.clone()))
                    .await;
                if let Some(mut scheduler) = scheduler {
                    let _ = scheduler.shutdown().await;
                }
            });
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }

    /// Stops taking new work, lets the batch in flight finish, and waits for the thread.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_task_that_panics_is_started_again() {
        let (_stop, watcher) = watch::channel(false);
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        supervise("test", watcher, move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the first run dies");
                }
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "restarted once, then finished");
    }

    /// A batch dropped mid-send (a stopping process) takes its sends with it: none goes out
    /// after nobody can record its outcome.
    #[tokio::test]
    async fn a_send_whose_batch_is_dropped_is_aborted() {
        // The send holds `held` until it ends; an aborted task's future is dropped, and with it
        // `held`. A detached one would hold it for ever.
        let (held, released) = tokio::sync::oneshot::channel::<()>();
        let send = AbortOnDrop(tokio::spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        }));
        drop(send);
        let outcome = tokio::time::timeout(Duration::from_secs(5), released).await;
        assert!(matches!(outcome, Ok(Err(_))), "the send was aborted, not left running");

        let kept = AbortOnDrop(tokio::spawn(async { 7 }));
        assert_eq!(kept.await.expect("joined"), 7, "a send awaited runs to its end");
    }
}
