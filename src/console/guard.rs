//! What stands in front of a console password check. argon2id costs 19 MiB and a core for about
//! 25 ms on purpose; unguarded, a crowd of sign-ins (unknown logins included) is a memory and CPU
//! sink that slows every tenant. So each guess passes, in order:
//!
//! 1. the client's budget (`limits.sign_in_per_minute` per address): 429 with `Retry-After`;
//! 2. its turn among the few checks this process runs at once (`limits.password_checks_at_once`),
//!    waited for briefly (`limits.password_check_wait_ms`): 503 with `Retry-After`;
//! 3. the count of guesses for the login from that address (`service::sign_in_attempts`),
//!    reserved before the check: locked after five.
//!
//! Only then is the password checked, off the request threads. Unknown logins go the same way
//! and cost the same, so that nothing in the answer tells them from real ones.

use std::net::IpAddr;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use actix_web::HttpRequest;
use chrono::NaiveDateTime;
use tokio::sync::Semaphore;

use crate::api::rate_limit::RateLimits;
use crate::app::AppState;
use crate::config::Settings;
use crate::error::Error;
use crate::service::sign_in_attempts::{self, Attempt, Reservation};
use crate::service::staff_accounts::{self, Login};

pub struct SignInGuard {
    per_client: RateLimits,
    checks: Semaphore,
    checkers: Checkers,
    wait: Duration,
    trusted_proxies: Vec<IpAddr>,
}

/// Why a guess was not checked.
#[derive(Debug)]
pub enum NotChecked {
    /// The client posted too often: retry after so many seconds.
    TooFast {
        retry_after_seconds: u64,
    },
    /// Every check this process may run is taken: retry after so many seconds.
    Busy {
        retry_after_seconds: u64,
    },
    /// Too many wrong guesses from this client.
    Locked {
        until: NaiveDateTime,
    },
    Failed(Error),
}

impl From<Error> for NotChecked {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

/// A guess that was checked.
pub enum Guess {
    /// The password is the account's: the count is given back when the caller completes the act
    /// (until then the guess is the `nth` in a row, as a wrong code after it would be).
    Right { account: Login, attempt: Attempt, nth: i32 },
    /// Unknown login or wrong password: the `nth` failure in a row from this client (the pair
    /// locks at the fifth).
    Wrong { account: Option<Login>, nth: i32 },
}

impl SignInGuard {
    pub fn new(settings: &Settings) -> Self {
        SignInGuard {
            per_client: RateLimits::per_minute(settings.limits.sign_in_per_minute),
            checks: Semaphore::new(settings.limits.password_checks()),
            checkers: Checkers::start(settings.limits.password_checks()),
            wait: Duration::from_millis(settings.limits.password_check_wait_ms),
            // Checked when the settings were validated.
            trusted_proxies: settings.server.trusted_proxies.iter().filter_map(|p| p.parse().ok()).collect(),
        }
    }

    /// The address the request came from: the peer, or what the operator's own proxy says the
    /// peer was (the last address of `X-Forwarded-For`, the one that proxy added).
    pub fn client(&self, req: &HttpRequest) -> String {
        let peer = req.peer_addr().map(|a| a.ip());
        let forwarded = || {
            req.headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
        };
        let client = match peer {
            Some(peer) if self.trusted_proxies.contains(&peer) => forwarded().unwrap_or(peer),
            Some(peer) => peer,
            None => return "unknown".into(),
        };
        client.to_string()
    }

    /// Counts a guess of `password` for `login` from `client` and checks it, if every guard lets
    /// it through.
    pub async fn guess(
        &self,
        state: &AppState,
        login: &str,
        client: &str,
        password: String,
    ) -> Result<Guess, NotChecked> {
        self.per_client.check_key(format!("sign-in:{client}")).map_err(|e| match e {
            Error::RateLimited { retry_after_seconds } => NotChecked::TooFast { retry_after_seconds },
            other => NotChecked::Failed(other),
        })?;
        // The turn is taken before the count, so that a guess refused for want of a turn is not
        // counted against the person who typed it.
        let turn = self.turn().await?;
        let now = state.clock.now();
        let attempt = Attempt::new(login, client);
        let counted = attempt.clone();
        let reservation = state.db.write(move |conn| sign_in_attempts::reserve(conn, &counted, now)).await?;
        let nth = match reservation {
            Reservation::Locked { until } => return Err(NotChecked::Locked { until }),
            Reservation::Granted { nth } => nth,
        };
        let name = login.to_owned();
        let account = state.db.read(move |conn| staff_accounts::find_login(conn, &name)).await?;
        let (account, matches) = self
            .checkers
            .run(move || {
                let matches = staff_accounts::password_matches(account.as_ref(), &password);
                (account, matches)
            })
            .await?;
        drop(turn);
        Ok(match (account, matches) {
            (Some(account), true) => Guess::Right { account, attempt, nth },
            (account, _) => Guess::Wrong { account, nth },
        })
    }
}

impl SignInGuard {
    /// A turn among the password checks this process runs at once, waited for briefly.
    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, NotChecked> {
        match tokio::time::timeout(self.wait, self.checks.acquire()).await {
            Ok(Ok(turn)) => Ok(turn),
            _ => Err(NotChecked::Busy { retry_after_seconds: 1 }),
        }
    }

    /// Hashes a new password in a turn of its own (argon2id, as costly as a check).
    pub async fn hash(&self, password: String) -> Result<String, NotChecked> {
        let _turn = self.turn().await?;
        Ok(self.checkers.run(move || staff_accounts::hash_password(&password)).await??)
    }
}

/// The threads that check and hash passwords: as many as the turns, and always the same ones.
/// argon2id takes 19 MiB a check; on the threads of a large blocking pool, each thread's memory
/// arena keeps a freed 19 MiB for itself (glibc raises its mmap threshold after the first), and a
/// crowd of sign-ins leaves the process hundreds of MiB larger for good. On a few threads of
/// their own it is a few times 19 MiB, reused.
struct Checkers {
    jobs: mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Checkers {
    fn start(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("password-check-{i}")).spawn(move || loop {
                // Ends when the guard, and with it the sender, is dropped.
                let job = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "a password-check thread could not start");
            }
        }
        Checkers { jobs }
    }

    /// Runs `f` on one of the threads and waits for its result.
    async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Result<R, Error> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = answer.send(f());
            }))
            .map_err(|_| Error::internal("the password-check threads have stopped"))?;
        answered.await.map_err(|_| Error::internal("a password check ended without an answer"))
    }
}

/// How long a wrong guess waits before it is answered: longer for each failure in a row, the
/// same for unknown and real logins.
pub fn delay_after(nth: i32) -> Duration {
    Duration::from_millis(500 * u64::try_from(nth).unwrap_or(1))
}

/// Whether the `nth` failure in a row locked the pair.
pub fn locks(nth: i32) -> bool {
    nth >= sign_in_attempts::LOCK_AFTER_FAILURES
}
