//! `nonstop db copy`: moves every table from one database to another (SQLite to PostgreSQL when a
//! municipality outgrows one machine, or back), sealed values as they are: the same encryption
//! keys open them on the other side. The target is migrated first and must be empty. Rows travel
//! as JSON objects of their columns (`json_object` on SQLite, `row_to_json` on PostgreSQL), so
//! one path serves every table; the copy then compares each table's row count and opens a sample
//! of every sealed column with the keys.

use std::time::Instant;

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::Serialize;

use super::{sealed, Db, DbConnection};
use crate::crypto::KeyRing;

/// Every table, parents before the tables that refer to them.
pub const TABLES: &[&str] = &[
    "key_canaries",
    "apps",
    "app_keys",
    "staff_members",
    "staff_logins",
    "console_sessions",
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
    "batch_runs",
    "notice_consents",
    "notice_recipients",
    "notice_replies",
    "draft_bundles",
    "drafts",
    "signatures",
    "submissions",
    "submission_events",
    "registered_certificates",
    "municipal_webhooks",
    "webhook_deliveries",
    "standing_consents",
    "audit_events",
];

/// Rows written per target transaction.
const ROWS_PER_TRANSACTION: usize = 1_000;
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

fn write_rows(target: &mut DbConnection, statement: &str, rows: &[String]) -> anyhow::Result<()> {
    let write = |target: &mut DbConnection| -> diesel::QueryResult<()> {
        for row in rows {
            let query = diesel::sql_query(statement).bind::<Text, _>(row);
            match target {
                DbConnection::Sqlite(c) => query.execute(c)?,
                DbConnection::Postgresql(c) => query.execute(c)?,
            };
        }
        Ok(())
    };
    target.transaction(write)?;
    Ok(())
}

/// Copies one table, a bounded number of rows in memory at a time; returns the rows copied.
fn copy_table(source: &mut DbConnection, target: &mut DbConnection, table: &str) -> anyhow::Result<i64> {
    let (read, write) = (read_query(source, table)?, write_statement(target, table)?);
    let mut batch = Vec::with_capacity(ROWS_PER_TRANSACTION);
    let mut copied = 0;
    let mut each = |row: String, target: &mut DbConnection| -> anyhow::Result<()> {
        batch.push(row);
        if batch.len() == ROWS_PER_TRANSACTION {
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

/// Copies every table of `source` into the empty database `target` (migrated here first), then
/// checks row counts and sealed values.
pub fn copy(source: &Db, target: &Db, keys: &KeyRing) -> anyhow::Result<CopyReport> {
    let started = Instant::now();
    target.migrate()?;
    let (mut from, mut to) = (source.get()?, target.get()?);
    for table in TABLES {
        let rows = count(&mut to, table)?;
        anyhow::ensure!(rows == 0, "the target is not empty: {table} has {rows} rows; copy into a new database");
    }
    let mut tables = Vec::new();
    for table in TABLES {
        let copied = copy_table(&mut from, &mut to, table)?;
        let (expected, found) = (count(&mut from, table)?, count(&mut to, table)?);
        anyhow::ensure!(
            copied == expected && found == expected,
            "{table}: {expected} rows in the source, {copied} copied, {found} in the target"
        );
        tables.push(TableCopied { table: (*table).to_owned(), rows: found });
    }
    let sealed_opened = open_sealed_sample(&mut to, keys)?;
    Ok(CopyReport { tables, sealed_opened, seconds: started.elapsed().as_secs_f64() })
}
