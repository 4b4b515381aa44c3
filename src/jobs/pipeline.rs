//! 配信パイプライン: the delivery worker keeps several batches in flight, so that the round trip
//! to the push services does not set the rate. It claims the next batch while earlier ones are
//! still sending, as long as the deliveries it holds (claimed, not yet recorded) stay within
//! `jobs.max_in_flight` (its memory bound) and the recorder keeps up; sends wait for their
//! host's pace (`push::pace`); one recorder writes the outcomes as they come, all that arrived
//! meanwhile in one transaction.
//!
//! The recorder sets the pace of claims: a delivery sent and not yet recorded is sent again if
//! its lease runs out first, so no batch is claimed while a batch's worth of outcomes waits to
//! be written.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::{claim_batch, outbox, record, send_one, JobContext};
use crate::push::SendOutcome;

/// A sent delivery on its way to the recorder, holding its place in the memory bound.
type Sent = (outbox::Claimed, SendOutcome, OwnedSemaphorePermit);

/// Delivers until `stop` is set; with `drain`, until it is set and nothing is due. The sends in
/// flight then finish and are recorded. Dropped (a runtime ending), it aborts its sends: none
/// goes out after nobody can record it.
pub async fn run(ctx: JobContext, mut stop: watch::Receiver<bool>, drain: bool) {
    let bound = ctx.settings.max_in_flight.max(1);
    let batch_size = (ctx.settings.batch_size.max(1) as usize).min(bound);
    let room = Arc::new(Semaphore::new(bound));
    let (sent, outcomes) = mpsc::unbounded_channel::<Sent>();
    let backlog = Arc::new(Backlog::default());
    let recorder = super::AbortOnDrop(tokio::spawn(record_as_they_come(ctx.clone(), outcomes, backlog.clone())));
    let mut sends = JoinSet::new();
    let idle = Duration::from_millis(ctx.settings.poll_interval_ms);
    loop {
        let stopping = *stop.borrow();
        if stopping && !drain {
            break;
        }
        // Room for a whole batch first: what is claimed starts on its way at once.
        let mut permits = tokio::select! {
            permits = room.clone().acquire_many_owned(batch_size as u32) => match permits {
                Ok(permits) => permits,
                Err(_) => break,
            },
            _ = stop.changed(), if !stopping => continue,
        };
        backlog.below(batch_size).await;
        let pass = claim_batch(&ctx, batch_size as i64).await;
        if pass.is_ok() {
            ctx.metrics.worker_progressed(ctx.clock.now());
        }
        let mut batch = match pass {
            Ok(batch) if !batch.claimed.is_empty() => batch,
            Ok(_) if stopping => break,
            other => {
                if let Err(e) = other {
                    tracing::error!(error = %e, "claiming deliveries failed");
                }
                drop(permits);
                tokio::select! {
                    _ = tokio::time::sleep(idle) => {}
                    _ = stop.changed(), if !stopping => {}
                }
                continue;
            }
        };
        for claimed in std::mem::take(&mut batch.claimed) {
            let Some(place) = permits.split(1) else { break };
            let send = send_one(&ctx, claimed, &batch);
            let (sent, backlog) = (sent.clone(), backlog.clone());
            sends.spawn(async move {
                // A send task that failed (`send_isolated` catches panics) leaves its delivery
                // leased, to be claimed again when the lease runs out.
                if let Ok((claimed, outcome)) = send.await {
                    backlog.waiting.fetch_add(1, Ordering::AcqRel);
                    let _ = sent.send((claimed, outcome, place));
                }
            });
        }
        // The rest of the room goes back; finished sends are let go of.
        drop(permits);
        while sends.try_join_next().is_some() {}
    }
    while sends.join_next().await.is_some() {}
    drop(sent);
    let _ = recorder.await;
}

/// Outcomes waiting to be recorded.
#[derive(Default)]
struct Backlog {
    waiting: AtomicUsize,
    written: Notify,
}

impl Backlog {
    /// Waits until fewer than `limit` outcomes wait to be recorded.
    async fn below(&self, limit: usize) {
        loop {
            let written = self.written.notified();
            if self.waiting.load(Ordering::Acquire) < limit {
                return;
            }
            written.await;
        }
    }
}

/// Records outcomes as they arrive, all that arrived meanwhile in one transaction (the sent ones
/// a few hundred per statement); each recorded delivery gives its place back.
async fn record_as_they_come(ctx: JobContext, mut outcomes: mpsc::UnboundedReceiver<Sent>, backlog: Arc<Backlog>) {
    let mut arrived = Vec::new();
    while let Some(first) = outcomes.recv().await {
        arrived.push(first);
        while let Ok(next) = outcomes.try_recv() {
            arrived.push(next);
        }
        let count = arrived.len();
        let (writes, places): (Vec<_>, Vec<_>) =
            arrived.drain(..).map(|(claimed, outcome, place)| ((claimed, outcome), place)).unzip();
        if let Err(e) = record(&ctx, writes).await {
            // Their leases run out and they are claimed again.
            tracing::error!(error = %e, "recording delivery outcomes failed");
        }
        drop(places);
        backlog.waiting.fetch_sub(count, Ordering::AcqRel);
        backlog.written.notify_waiters();
    }
}
