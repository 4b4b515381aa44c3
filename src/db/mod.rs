//! Storage: one diesel code path over SQLite (embedded default) and PostgreSQL (for scale).
//!
//! The backend is chosen from the database URL scheme. Connections come from an r2d2 pool and
//! are used on blocking threads (`Db::read` / `Db::write`), never on the async executor.

pub mod by_id;
pub mod canary;
pub mod caps;
pub mod copy;
pub mod rows;
pub mod schema;
pub mod sealed;
pub mod sealing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::Error;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to whichever backend the operator chose.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Where the data lives, parsed from `DATABASE_URL` / `database.url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite file (created with its folder when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl DatabaseLocation {
    /// Parses `sqlite://relative/path`, `sqlite:///absolute/path` or `postgres://…` /
    /// `postgresql://…`. Anything else is refused with a message an operator can act on.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("the SQLite URL names no file: use sqlite://data/nonstop.sqlite3".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("(none)");
        Err(format!(
            "unsupported database URL scheme '{scheme}': use sqlite://path/to/file.sqlite3 \
             (embedded, the default) or postgres://user@host:port/database"
        ))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Opens connections for the pool, applying the SQLite pragmas on every new connection.
#[derive(Clone, Debug)]
pub struct ConnectionFactory {
    location: DatabaseLocation,
    busy_timeout_ms: u32,
}

impl ManageConnection for ConnectionFactory {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.location {
            DatabaseLocation::Postgres(url) => {
                diesel::PgConnection::establish(url).map(DbConnection::Postgresql).map_err(r2d2::Error::ConnectionError)
            }
            DatabaseLocation::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers proceed during a write; busy_timeout makes a second
                // process (the CLI) wait instead of failing; SQLite leaves foreign keys off
                // unless asked.
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON;",
                    self.busy_timeout_ms
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    /// A connection left inside a transaction (a panic mid-write) is thrown away.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::connection::TransactionManager;
        <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

/// The connection pool and the knowledge of which backend it talks to.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<ConnectionFactory>,
    location: DatabaseLocation,
    /// SQLite allows one writer at a time; a deferred transaction that reads and then writes
    /// fails with SQLITE_BUSY when another connection wrote in between. Writers of this
    /// process queue here instead. PostgreSQL needs no such gate.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
}

/// How long a request waits for a pooled connection unless told (`database.pool_wait_ms`).
pub const POOL_WAIT: Duration = Duration::from_secs(10);

/// When a request that found no connection free in time may be sent again: by then the
/// connections held by the requests before it have, at the rates nonstop serves, come back.
const RETRY_AFTER_SECONDS: u64 = 1;

impl Db {
    /// Opens the pool (creating the SQLite file and its folder when missing), whose callers
    /// wait up to [`POOL_WAIT`] for a connection.
    pub fn connect(location: DatabaseLocation, pool_size: u32, busy_timeout_ms: u32) -> anyhow::Result<Self> {
        Self::connect_waiting(location, pool_size, busy_timeout_ms, POOL_WAIT)
    }

    /// The same, with callers waiting up to `pool_wait` for a connection, then answered
    /// [`Error::Unavailable`].
    pub fn connect_waiting(
        location: DatabaseLocation,
        pool_size: u32,
        busy_timeout_ms: u32,
        pool_wait: Duration,
    ) -> anyhow::Result<Self> {
        if let DatabaseLocation::Sqlite(path) = &location {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
        }
        let factory = ConnectionFactory { location: location.clone(), busy_timeout_ms };
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .connection_timeout(pool_wait)
            // A PostgreSQL connection can die with its server, and is checked (`SELECT 1`)
            // before each use; a SQLite file's cannot, and the check cost a statement per
            // checkout, two per API request.
            .test_on_check_out(matches!(location, DatabaseLocation::Postgres(_)))
            .build(factory)
            .map_err(|e| anyhow::anyhow!("cannot open the {} database: {e}", location.backend_name()))?;
        Ok(Self { pool, location, sqlite_writer: Arc::new(tokio::sync::Mutex::new(())) })
    }

    pub fn location(&self) -> &DatabaseLocation {
        &self.location
    }

    /// Runs the embedded migrations of this backend that have not run yet.
    pub fn migrate(&self) -> anyhow::Result<()> {
        migrate(&mut *self.pool.get()?)
    }

    /// A blocking connection, for the CLI and for tests.
    pub fn get(&self) -> Result<r2d2::PooledConnection<ConnectionFactory>, Error> {
        checkout(&self.pool)
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    pub async fn read<R, F>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut DbConnection) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = checkout(&pool)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| Error::internal(format!("blocking task: {e}")))?
    }

    /// Runs `f` inside one transaction on a blocking thread; on SQLite, one writer at a time.
    pub async fn write<R, F>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut DbConnection) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        let _gate = match self.location {
            DatabaseLocation::Sqlite(_) => Some(self.sqlite_writer.lock().await),
            DatabaseLocation::Postgres(_) => None,
        };
        self.read(move |conn| write_transaction(conn, f)).await
    }

    /// Waits for this process's turn to write, as `write` does (SQLite has one writer; on
    /// PostgreSQL there is nothing to wait for), for a thread outside the runtime that writes
    /// on a connection of its own: the benchmarks, which time what happens inside the turn.
    pub fn wait_to_write(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.location {
            DatabaseLocation::Sqlite(_) => Some(self.sqlite_writer.blocking_lock()),
            DatabaseLocation::Postgres(_) => None,
        }
    }

    /// Pool figures for the metrics endpoint: (open connections, idle connections).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }
}

/// A connection from the pool, or, when none came free within the pool's wait (every one held
/// by other requests, or the server unreachable), `Error::Unavailable`: the request did
/// nothing and may be sent again, a 503 with `Retry-After` rather than a fault of nonstop's.
/// The cause logged is the pool's (its wait and the last connection error), never the request.
fn checkout(pool: &r2d2::Pool<ConnectionFactory>) -> Result<r2d2::PooledConnection<ConnectionFactory>, Error> {
    pool.get().map_err(|e| {
        let state = pool.state();
        tracing::warn!(
            cause = %e,
            waited_ms = pool.connection_timeout().as_millis() as u64,
            connections = state.connections,
            idle = state.idle_connections,
            "no database connection came free in time"
        );
        Error::Unavailable { retry_after_seconds: RETRY_AFTER_SECONDS }
    })
}

/// Runs the embedded migrations of the connection's backend that have not run yet (inside a
/// transaction of the caller's on PostgreSQL, whose schema changes are transactional).
pub fn migrate(conn: &mut DbConnection) -> anyhow::Result<()> {
    let result = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| anyhow::anyhow!("migration failed: {e}"))
}

/// One write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock up
/// front: a deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
/// another process (a second replica, the CLI) wrote in between, whatever the busy timeout.
pub fn write_transaction<R>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<R, Error>,
) -> Result<R, Error> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(f);
    };
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    let result = f(conn);
    let DbConnection::Sqlite(sqlite) = conn else {
        return Err(Error::internal("the connection changed backend"));
    };
    match result {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite)?;
            Ok(value)
        }
        Err(e) => {
            AnsiTransactionManager::rollback_transaction(sqlite)?;
            Err(e)
        }
    }
}

/// Inserts many rows of one table in few statements. MultiConnection has no batch insert, so
/// each backend runs its own, in chunks of `$chunk` rows whose bound parameters stay below
/// SQLite's limit (32,766).
macro_rules! insert_chunked {
    ($conn:expr, $table:expr, $rows:expr, $chunk:expr) => {{
        let mut inserted = 0;
        for chunk in $rows.chunks($chunk) {
            inserted += match &mut *$conn {
                DbConnection::Sqlite(c) => diesel::insert_into($table).values(chunk).execute(c)?,
                DbConnection::Postgresql(c) => diesel::insert_into($table).values(chunk).execute(c)?,
            };
        }
        Ok(inserted)
    }};
}

/// Writes whole rows over the stored ones with the same id in few statements (an insert that
/// meets its id updates `$set` from the row given), for changes whose values differ per row:
/// one statement instead of an update per row.
macro_rules! rewrite_chunked {
    ($conn:expr, $table:expr, $rows:expr, $chunk:expr, $id:expr, $set:expr) => {{
        let mut written = 0;
        for chunk in $rows.chunks($chunk) {
            written += match &mut *$conn {
                DbConnection::Sqlite(c) => {
                    diesel::insert_into($table).values(chunk).on_conflict($id).do_update().set($set).execute(c)?
                }
                DbConnection::Postgresql(c) => {
                    diesel::insert_into($table).values(chunk).on_conflict($id).do_update().set($set).execute(c)?
                }
            };
        }
        Ok(written)
    }};
}

/// Inserts a family's new tasks (16 columns) in few statements.
pub fn insert_tasks(conn: &mut DbConnection, rows: &[rows::TaskRow]) -> diesel::QueryResult<usize> {
    insert_chunked!(conn, schema::tasks::table, rows, 1_000)
}

/// Stores a family's re-planned tasks over the stored ones (by id) in few statements: every
/// value the planner sets, their status and when it changed.
pub fn rewrite_tasks(conn: &mut DbConnection, rows: &[rows::TaskRow]) -> diesel::QueryResult<usize> {
    use diesel::upsert::excluded;
    use schema::tasks::dsl::*;
    rewrite_chunked!(
        conn,
        tasks,
        rows,
        1_000,
        id,
        (
            procedure_id.eq(excluded(procedure_id)),
            child_id.eq(excluded(child_id)),
            municipality_code.eq(excluded(municipality_code)),
            occurrence.eq(excluded(occurrence)),
            opens_on.eq(excluded(opens_on)),
            closes_on.eq(excluded(closes_on)),
            deadline_on.eq(excluded(deadline_on)),
            raw_deadline_on.eq(excluded(raw_deadline_on)),
            reasons.eq(excluded(reasons)),
            status.eq(excluded(status)),
            status_changed_at.eq(excluded(status_changed_at)),
            updated_at.eq(excluded(updated_at)),
        )
    )
}

/// Inserts a family's new reminders (10 columns) in few statements.
pub fn insert_planned_notifications(
    conn: &mut DbConnection,
    rows: &[rows::PlannedNotificationRow],
) -> diesel::QueryResult<usize> {
    insert_chunked!(conn, schema::planned_notifications::table, rows, 2_000)
}

/// Stores a family's moved or revived reminders over the stored ones (by id) in few
/// statements: their day, their instant and their status.
pub fn reschedule_planned_notifications(
    conn: &mut DbConnection,
    rows: &[rows::PlannedNotificationRow],
) -> diesel::QueryResult<usize> {
    use diesel::upsert::excluded;
    use schema::planned_notifications::dsl::*;
    rewrite_chunked!(
        conn,
        planned_notifications,
        rows,
        2_000,
        id,
        (
            local_date.eq(excluded(local_date)),
            send_at.eq(excluded(send_at)),
            status.eq(excluded(status)),
            updated_at.eq(excluded(updated_at)),
        )
    )
}

/// Inserts deliveries (15 columns) in few statements.
pub fn insert_deliveries(conn: &mut DbConnection, rows: &[rows::DeliveryRow]) -> diesel::QueryResult<usize> {
    insert_chunked!(conn, schema::deliveries::table, rows, 1_000)
}

/// Inserts inbox entries (15 columns) in few statements.
pub fn insert_inbox_entries(conn: &mut DbConnection, rows: &[rows::InboxEntryRow]) -> diesel::QueryResult<usize> {
    insert_chunked!(conn, schema::inbox_entries::table, rows, 1_000)
}

/// Inserts vendor events (8 columns) in few statements.
pub fn insert_app_event_deliveries(
    conn: &mut DbConnection,
    rows: &[rows::AppEventDeliveryRow],
) -> diesel::QueryResult<usize> {
    insert_chunked!(conn, schema::app_event_deliveries::table, rows, 1_000)
}

/// Inserts a sent notice's recipients (4 columns) in few statements.
pub fn insert_notice_recipients(
    conn: &mut DbConnection,
    rows: &[rows::NoticeRecipientRow],
) -> diesel::QueryResult<usize> {
    insert_chunked!(conn, schema::notice_recipients::table, rows, 5_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_urls() {
        assert_eq!(
            DatabaseLocation::parse("sqlite://data/x.sqlite3"),
            Ok(DatabaseLocation::Sqlite(PathBuf::from("data/x.sqlite3")))
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:///var/lib/x.db"),
            Ok(DatabaseLocation::Sqlite(PathBuf::from("/var/lib/x.db")))
        );
        assert!(matches!(DatabaseLocation::parse("postgres://u@h/db"), Ok(DatabaseLocation::Postgres(_))));
        assert!(matches!(DatabaseLocation::parse("postgresql://u@h/db"), Ok(DatabaseLocation::Postgres(_))));
    }

    /// `.cargo/config.toml` builds SQLite with the planner stability guarantee, without which
    /// every query with `LIMIT ?` is prepared again at each use.
    #[test]
    fn sqlite_keeps_its_plans() {
        use diesel::sql_types::Bool;
        let mut conn = diesel::SqliteConnection::establish(":memory:").expect("sqlite");
        let qpsg: bool = diesel::select(diesel::dsl::sql::<Bool>(
            "EXISTS (SELECT 1 FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG')",
        ))
        .get_result(&mut conn)
        .expect("compile options");
        assert!(qpsg, "SQLite built without SQLITE_ENABLE_QPSG: see .cargo/config.toml");
    }

    #[test]
    fn refuses_other_schemes_with_a_hint() {
        let err = DatabaseLocation::parse("mysql://u@h/db").unwrap_err();
        assert!(err.contains("'mysql'") && err.contains("sqlite://") && err.contains("postgres://"), "{err}");
        let err = DatabaseLocation::parse("data/nonstop.sqlite3").unwrap_err();
        assert!(err.contains("(none)"), "{err}");
        assert!(DatabaseLocation::parse("sqlite://").is_err());
    }
}
