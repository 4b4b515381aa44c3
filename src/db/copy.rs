//! `nonstop db copy`: moves every table from one database to another (SQLite to PostgreSQL when a
//! municipality outgrows one machine, or back), sealed values as they are: the same encryption
//! keys open them on the other side. Rows travel as JSON objects of their columns (`json_object`
//! on SQLite, `row_to_json` on PostgreSQL), so one path serves every table; the copy then
//! compares each table's row count and opens the key canaries and a sample of every sealed
//! column with the keys.
//!
//! It refuses what it cannot mean before it writes anything: a SQLite `--from` that does not
//! exist (opening it would create it), a source that is not a nonstop database, keys that do not
//! open the source's sealed data (`db::canary`), a target holding any table at all. And it
//! leaves a target as it found it when it fails: on PostgreSQL the migrations and every row are
//! one transaction; a SQLite target is built in a file of its own beside it, renamed into place
//! only once checked, and deleted on failure.

use std::path::{Path, PathBuf};
use std::time::Instant;

use diesel::connection::{DefaultLoadingMode, SimpleConnection};
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::Serialize;

use super::{canary, sealed, DatabaseLocation, Db, DbConnection};
use crate::config::Settings;
use crate::crypto::KeyRing;

/// Every table, parents before the tables that refer to them.
pub const TABLES: &[&str] = &[
    "key_canaries",
    "apps",
    "app_keys",
    "staff_members",
    "staff_logins",
    "console_sessions",
    "sign_in_attempts",
    "idempotency_keys",
    "families",
    "guardians",
    "children",
    "vaccinations",
    "devices",
    "life_events",
    "parent_sessions",
    "tasks",
    "planned_notifications",
    "municipality_settings",
    "push_credentials",
    "inbox_entries",
    "deliveries",
    "scheduled_jobs",
    "notices",
    "notice_approvals",
    "notice_versions",
    "batch_runs",
    "notice_consents",
    "notice_recipients",
    "notice_replies",
    "draft_bundles",
    "drafts",
    "signatures",
    "submissions",
    "submission_events",
    "submission_counters",
    "submission_desk",
    "submission_notes",
    "submission_decision_documents",
    "registered_certificates",
    "municipal_webhooks",
    "webhook_deliveries",
    "app_webhooks",
    "app_event_deliveries",
    "standing_consents",
    "audit_events",
];

/// Rows read from the source before they are written.
const ROWS_PER_BATCH: usize = 1_000;
/// Values of each sealed column opened to check the keys.
const SEALED_SAMPLE: i64 = 20;

/// What was copied.
#[derive(Debug, Serialize)]
pub struct CopyReport {
    pub tables: Vec<TableCopied>,
    /// Sealed values opened with the keys on the target, per column.
    pub sealed_opened: Vec<(String, usize)>,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct TableCopied {
    pub table: String,
    pub rows: i64,
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row: String,
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQLite table's columns with their declared types.
fn sqlite_columns(conn: &mut SqliteConnection, table: &str) -> anyhow::Result<Vec<Column>> {
    Ok(diesel::sql_query(format!("SELECT name, type AS kind FROM pragma_table_info('{table}') ORDER BY cid"))
        .load(conn)?)
}

fn count(conn: &mut DbConnection, table: &str) -> anyhow::Result<i64> {
    let query = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {}", quoted(table)));
    let counted: Vec<Count> = match conn {
        DbConnection::Sqlite(c) => query.load(c)?,
        DbConnection::Postgresql(c) => query.load(c)?,
    };
    Ok(counted.first().map_or(0, |c| c.n))
}

/// The query that reads a table's rows as JSON objects (SQLite booleans as JSON booleans).
fn read_query(source: &mut DbConnection, table: &str) -> anyhow::Result<String> {
    Ok(match source {
        DbConnection::Postgresql(_) => format!("SELECT row_to_json(t)::text AS row FROM {} t", quoted(table)),
        DbConnection::Sqlite(c) => {
            let pairs: Vec<String> = sqlite_columns(c, table)?
                .iter()
                .map(|column| {
                    let value = quoted(&column.name);
                    let value = if column.kind.eq_ignore_ascii_case("BOOLEAN") {
                        format!(
                            "CASE WHEN {value} IS NULL THEN NULL WHEN {value} THEN json('true') ELSE json('false') END"
                        )
                    } else {
                        value
                    };
                    format!("'{}', {value}", column.name)
                })
                .collect();
            format!("SELECT json_object({}) AS row FROM {} ORDER BY rowid", pairs.join(", "), quoted(table))
        }
    })
}

/// The statement that writes one JSON row into a table of the target (PostgreSQL casts each
/// field to its column's type; SQLite keeps timestamps in the form diesel writes them).
fn write_statement(target: &mut DbConnection, table: &str) -> anyhow::Result<String> {
    Ok(match target {
        DbConnection::Postgresql(_) => {
            format!("INSERT INTO {0} SELECT * FROM json_populate_record(NULL::{0}, $1::json)", quoted(table))
        }
        DbConnection::Sqlite(c) => {
            let columns = sqlite_columns(c, table)?;
            let names: Vec<String> = columns.iter().map(|c| quoted(&c.name)).collect();
            let values: Vec<String> = columns
                .iter()
                .map(|column| {
                    let value = format!("json_extract(?1, '$.{}')", quoted(&column.name));
                    if column.kind.eq_ignore_ascii_case("TIMESTAMP") {
                        format!("replace({value}, 'T', ' ')")
                    } else {
                        value
                    }
                })
                .collect();
            format!("INSERT INTO {} ({}) VALUES ({})", quoted(table), names.join(", "), values.join(", "))
        }
    })
}

/// Writes rows into the target, inside the copy's one transaction.
fn write_rows(target: &mut DbConnection, statement: &str, rows: &[String]) -> anyhow::Result<()> {
    for row in rows {
        let query = diesel::sql_query(statement).bind::<Text, _>(row);
        match target {
            DbConnection::Sqlite(c) => query.execute(c)?,
            DbConnection::Postgresql(c) => query.execute(c)?,
        };
    }
    Ok(())
}

/// Copies one table, a bounded number of rows in memory at a time; returns the rows copied.
fn copy_table(source: &mut DbConnection, target: &mut DbConnection, table: &str) -> anyhow::Result<i64> {
    let (read, write) = (read_query(source, table)?, write_statement(target, table)?);
    let mut batch = Vec::with_capacity(ROWS_PER_BATCH);
    let mut copied = 0;
    let mut each = |row: String, target: &mut DbConnection| -> anyhow::Result<()> {
        batch.push(row);
        if batch.len() == ROWS_PER_BATCH {
            write_rows(target, &write, &batch)?;
            copied += batch.len() as i64;
            batch.clear();
        }
        Ok(())
    };
    match source {
        DbConnection::Sqlite(c) => {
            for row in diesel::sql_query(&read).load_iter::<JsonRow, DefaultLoadingMode>(c)? {
                each(row?.row, target)?;
            }
        }
        DbConnection::Postgresql(c) => {
            for row in diesel::sql_query(&read).load_iter::<JsonRow, DefaultLoadingMode>(c)? {
                each(row?.row, target)?;
            }
        }
    }
    if !batch.is_empty() {
        write_rows(target, &write, &batch)?;
        copied += batch.len() as i64;
    }
    Ok(copied)
}

/// Opens up to `SEALED_SAMPLE` values of each sealed column of the target with `keys`.
fn open_sealed_sample(target: &mut DbConnection, keys: &KeyRing) -> anyhow::Result<Vec<(String, usize)>> {
    let mut opened = Vec::new();
    for name in sealed::ALL {
        let (table, column) = name.split_once('.').ok_or_else(|| anyhow::anyhow!("sealed name {name}"))?;
        let query = diesel::sql_query(format!(
            "SELECT {c} AS row FROM {t} WHERE {c} IS NOT NULL LIMIT {SEALED_SAMPLE}",
            c = quoted(column),
            t = quoted(table)
        ));
        let values: Vec<JsonRow> = match target {
            DbConnection::Sqlite(c) => query.load(c)?,
            DbConnection::Postgresql(c) => query.load(c)?,
        };
        for value in &values {
            keys.open(name, &value.row)
                .map_err(|e| anyhow::anyhow!("{name}: a copied value does not open with these keys: {e}"))?;
        }
        opened.push((name.to_string(), values.len()));
    }
    Ok(opened)
}

/// Every table and view of the database `conn` reaches (the current schema on PostgreSQL),
/// whoever made them; SQLite's own are left out.
pub fn tables(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    let found: Vec<JsonRow> = match conn {
        DbConnection::Sqlite(c) => sqlite_tables_query().load(c)?,
        DbConnection::Postgresql(c) => diesel::sql_query(
            "SELECT c.relname::text AS row FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname",
        )
        .load(c)?,
    };
    Ok(found.into_iter().map(|t| t.row).collect())
}

fn sqlite_tables_query() -> diesel::query_builder::SqlQuery {
    diesel::sql_query(
        "SELECT name AS row FROM sqlite_master WHERE type IN ('table', 'view') \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
}

/// Refuses a target that holds any table, naming them.
fn refuse_tables(found: &[String]) -> anyhow::Result<()> {
    if found.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = found.iter().take(10).map(String::as_str).collect();
    let more =
        if found.len() > shown.len() { format!(" and {} more", found.len() - shown.len()) } else { String::new() };
    anyhow::bail!(
        "--to: the target is not empty: it holds the tables {}{more}; copy into a new, empty database. \
         Nothing was written",
        shown.join(", ")
    )
}

/// `nonstop db copy --from … --to …` with the keys of `settings`: refuses what it cannot mean
/// before writing anything, copies, checks, and leaves the target as it found it on failure.
pub fn run(settings: &Settings, from: &str, to: &str) -> anyhow::Result<CopyReport> {
    let from_location = DatabaseLocation::parse(from).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let to_location = DatabaseLocation::parse(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let busy = settings.database.sqlite_busy_timeout_ms;
    if let DatabaseLocation::Sqlite(path) = &from_location {
        anyhow::ensure!(
            path.is_file(),
            "--from: {} is not a database file (opening it would create it); nothing was created or copied",
            path.display()
        );
    }
    let source = Db::connect(from_location, 2, busy).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let source_tables = tables(&mut *source.get()?)?;
    anyhow::ensure!(
        source_tables.iter().any(|t| t == "__diesel_schema_migrations"),
        "--from: not a nonstop database ({}); nothing was copied",
        if source_tables.is_empty() { "it holds no table".to_owned() } else { "no migrations table".to_owned() }
    );
    source.migrate().map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let keys = canary::keys_for_reading(settings, &source).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let keys = keys.as_ref();
    let source_of_keys = settings.key_source();
    match to_location {
        DatabaseLocation::Postgres(url) => {
            let target =
                Db::connect(DatabaseLocation::Postgres(url), 1, busy).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
            let mut to = target.get()?;
            refuse_tables(&tables(&mut to)?)?;
            let started = Instant::now();
            // The migrations and every row are one transaction: a failure leaves nothing.
            let mut report = to
                .transaction(|to| {
                    super::migrate(to)?;
                    copy_all(&source, to, keys, &source_of_keys)
                })
                .map_err(|e| {
                    anyhow::anyhow!("{e}; the copy was rolled back: the target is as it was, with no table")
                })?;
            report.seconds = started.elapsed().as_secs_f64();
            Ok(report)
        }
        DatabaseLocation::Sqlite(path) => copy_into_sqlite_file(&source, &path, keys, &source_of_keys, busy),
    }
}

/// Builds a SQLite target in a file of its own beside `path`, renamed to `path` once checked;
/// on failure the file (and any folder made for it) is removed.
fn copy_into_sqlite_file(
    source: &Db,
    path: &Path,
    keys: Option<&KeyRing>,
    source_of_keys: &str,
    busy_timeout_ms: u32,
) -> anyhow::Result<CopyReport> {
    if path.exists() {
        anyhow::ensure!(path.is_file(), "--to: {} is not a file", path.display());
        // A connection of its own, without the pool's pragmas, changes nothing in the file.
        let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
            .map_err(|e| anyhow::anyhow!("--to: {}: {e}", path.display()))?;
        let found: Vec<String> = sqlite_tables_query().load::<JsonRow>(&mut conn)?.into_iter().map(|t| t.row).collect();
        refuse_tables(&found)?;
    }
    let name = path.file_name().ok_or_else(|| anyhow::anyhow!("--to: {} names no file", path.display()))?;
    let folder = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let made_folders = make_folders(folder)?;
    let building = folder.join(format!(".{}.copying-{}", name.to_string_lossy(), std::process::id()));
    let built = (|| -> anyhow::Result<CopyReport> {
        let started = Instant::now();
        let target = Db::connect(DatabaseLocation::Sqlite(building.clone()), 1, busy_timeout_ms)?;
        let mut to = target.get()?;
        super::migrate(&mut to)?;
        let mut report = to.transaction(|to| copy_all(source, to, keys, source_of_keys))?;
        // One file to rename: the journal back from WAL, then every connection closed.
        to.batch_execute("PRAGMA journal_mode = DELETE")?;
        drop(to);
        drop(target);
        std::fs::rename(&building, path)
            .map_err(|e| anyhow::anyhow!("--to: cannot move the copy to {}: {e}", path.display()))?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    })();
    built.map_err(|e| {
        let mut left = Vec::new();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = building.clone().into_os_string();
            file.push(suffix);
            let file = PathBuf::from(file);
            if file.exists() && std::fs::remove_file(&file).is_err() {
                left.push(file.display().to_string());
            }
        }
        for made in made_folders.iter().rev() {
            let _ = std::fs::remove_dir(made);
        }
        if left.is_empty() {
            anyhow::anyhow!("{e}; the copy's file was removed: {} is as it was", path.display())
        } else {
            anyhow::anyhow!(
                "{e}; {} is as it was, but the copy's unfinished files could not be removed: delete {}",
                path.display(),
                left.join(" and ")
            )
        }
    })
}

/// Creates `folder` and its missing parents; returns those it created, outermost first.
fn make_folders(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut missing: Vec<PathBuf> =
        folder.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).map(Path::to_path_buf).collect();
    missing.reverse();
    std::fs::create_dir_all(folder).map_err(|e| anyhow::anyhow!("--to: cannot create {}: {e}", folder.display()))?;
    Ok(missing)
}

/// Copies every table of `source` into `to` (migrated, inside the caller's transaction), then
/// checks row counts, the key canaries and the sealed values.
fn copy_all(
    source: &Db,
    to: &mut DbConnection,
    keys: Option<&KeyRing>,
    source_of_keys: &str,
) -> anyhow::Result<CopyReport> {
    let mut from = source.get()?;
    let mut tables = Vec::new();
    for table in TABLES {
        let copied = copy_table(&mut from, to, table)?;
        let (expected, found) = (count(&mut from, table)?, count(to, table)?);
        anyhow::ensure!(
            copied == expected && found == expected,
            "{table}: {expected} rows in the source, {copied} copied, {found} in the target"
        );
        tables.push(TableCopied { table: (*table).to_owned(), rows: found });
    }
    let sealed_opened = match keys {
        Some(keys) => {
            canary::verify(to, keys, source_of_keys).map_err(|e| anyhow::anyhow!("the copy: {e}"))?;
            open_sealed_sample(to, keys)?
        }
        // No key, and the source showed nothing sealed.
        None => sealed::ALL.iter().map(|name| (name.to_string(), 0)).collect(),
    };
    // The caller times the whole copy, commit included.
    Ok(CopyReport { tables, sealed_opened, seconds: 0.0 })
}
