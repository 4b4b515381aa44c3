//! 鍵の確認: a process uses its encryption keys on a database only once the database has shown
//! they are the keys that sealed its data. A key is never replaced silently: started without
//! its key (another working directory, a copied database), nonstop used to generate a new one
//! under the same id, answer 500 on every sealed read and seal new writes under a second key
//! of the same id.
//!
//! Each key the database is served with leaves a canary (`key_canaries`: its id, the id sealed
//! under it). Before a start uses its keys, every canary and a sample of every sealed column
//! must open: a canary or value under a key id the ring lacks, or one that does not
//! authenticate, refuses the start with a message naming the settings. Only a database with no
//! canary and nothing sealed is new: there, and only there, `serve` may generate a key file.
//! A canary whose key is no longer configured and under which nothing is sealed any more is a
//! retired key's: `serve` removes it. `/readyz` checks the canaries on each call, so a replica
//! whose ring lacks a key another replica seals with is taken out of rotation.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::schema::key_canaries;
use super::{sealed, Db, DbConnection};
use crate::config::{Settings, KEY_SETTINGS};
use crate::crypto::KeyRing;

/// Values of each sealed column opened at a start.
const SAMPLE: i64 = 3;

/// What the database holds sealed, as a start sees it.
pub struct SealedData {
    /// (key id, sealed value) of each canary.
    canaries: Vec<(String, String)>,
    /// (column, sealed value): the first values of each sealed column.
    samples: Vec<(&'static str, String)>,
}

impl SealedData {
    /// No canary and nothing sealed: a new database, which may get a generated key.
    pub fn is_new(&self) -> bool {
        self.canaries.is_empty() && self.samples.is_empty()
    }

    /// The key ids named by the canaries and the sampled values.
    fn key_ids(&self) -> BTreeSet<&str> {
        let sampled = self.samples.iter().filter_map(|(_, value)| value.split_once(':').map(|(id, _)| id));
        self.canaries.iter().map(|(id, _)| id.as_str()).chain(sampled).collect()
    }
}

#[derive(QueryableByName)]
struct TextValue {
    #[diesel(sql_type = Text)]
    value: String,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs `sql` (its one bound text, if any, written `{p}`) and returns its `value` column.
fn texts(conn: &mut DbConnection, sql: &str, bind: Option<&str>) -> QueryResult<Vec<String>> {
    let rows: Vec<TextValue> = match (conn, bind) {
        (DbConnection::Sqlite(c), None) => diesel::sql_query(sql).load(c)?,
        (DbConnection::Sqlite(c), Some(b)) => diesel::sql_query(sql.replace("{p}", "?")).bind::<Text, _>(b).load(c)?,
        (DbConnection::Postgresql(c), None) => diesel::sql_query(sql).load(c)?,
        (DbConnection::Postgresql(c), Some(b)) => {
            diesel::sql_query(sql.replace("{p}", "$1")).bind::<Text, _>(b).load(c)?
        }
    };
    Ok(rows.into_iter().map(|r| r.value).collect())
}

fn table_and_column(name: &'static str) -> (&'static str, &'static str) {
    name.split_once('.').unwrap_or((name, name))
}

/// The canaries and the first values of every sealed column.
pub fn inspect(conn: &mut DbConnection) -> QueryResult<SealedData> {
    let canaries = key_canaries::table
        .select((key_canaries::key_id, key_canaries::sealed))
        .order(key_canaries::key_id)
        .load::<(String, String)>(conn)?;
    let mut samples = Vec::new();
    for name in sealed::ALL {
        let (table, column) = table_and_column(name);
        let sql = format!(
            "SELECT {c} AS value FROM {t} WHERE {c} IS NOT NULL LIMIT {SAMPLE}",
            c = quoted(column),
            t = quoted(table)
        );
        samples.extend(texts(conn, &sql, None)?.into_iter().map(|value| (*name, value)));
    }
    Ok(SealedData { canaries, samples })
}

/// The first sealed column holding a value sealed under `key_id` (a full scan of each column:
/// run only when a canary's key is no longer configured).
fn column_sealed_under(conn: &mut DbConnection, key_id: &str) -> QueryResult<Option<&'static str>> {
    let prefix = format!("{key_id}:");
    for name in sealed::ALL {
        let (table, column) = table_and_column(name);
        let sql = format!(
            "SELECT {c} AS value FROM {t} WHERE substr({c}, 1, {n}) = {{p}} LIMIT 1",
            c = quoted(column),
            t = quoted(table),
            n = prefix.chars().count()
        );
        if !texts(conn, &sql, Some(&prefix))?.is_empty() {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// Whether the canary of `key_id` opens with `keys` (its key id sealed under that key).
fn canary_opens(keys: &KeyRing, key_id: &str, stored: &str) -> bool {
    stored.split_once(':').is_some_and(|(id, _)| id == key_id)
        && keys.open(sealed::KEY_CANARIES_SEALED, stored).is_ok_and(|opened| opened == key_id)
}

/// What a check found wrong, by key id: where it was seen.
#[derive(Default)]
struct Problems {
    /// Key ids the ring has whose key does not open what was sealed under that id.
    wrong_key: BTreeMap<String, BTreeSet<&'static str>>,
    /// Key ids the ring lacks although something is sealed under them.
    missing_key: BTreeMap<String, BTreeSet<&'static str>>,
}

impl Problems {
    fn is_empty(&self) -> bool {
        self.wrong_key.is_empty() && self.missing_key.is_empty()
    }

    fn message(&self, source: &str) -> String {
        let places = |seen: &BTreeSet<&str>| seen.iter().copied().collect::<Vec<_>>().join(", ");
        let mut found: Vec<String> = self
            .wrong_key
            .iter()
            .map(|(id, seen)| {
                format!("the key '{id}' from {source} is not the key that sealed it ({} do not open)", places(seen))
            })
            .collect();
        found.extend(self.missing_key.iter().map(|(id, seen)| {
            format!("values are sealed under the key '{id}', which {source} lacks ({})", places(seen))
        }));
        format!(
            "the encryption keys do not open this database's sealed data: {}. Nothing was changed; {KEY_SETTINGS}. \
             A key is generated only for a new, empty database",
            found.join("; ")
        )
    }
}

/// Checks `keys` against what `data` holds; returns the canaries of retired keys (not in the
/// ring, nothing sealed under them any more).
fn check(conn: &mut DbConnection, keys: &KeyRing, data: &SealedData, source: &str) -> anyhow::Result<Vec<String>> {
    let mut problems = Problems::default();
    let mut retired = Vec::new();
    for (id, stored) in &data.canaries {
        if keys.has_key(id) {
            if !canary_opens(keys, id, stored) {
                problems.wrong_key.entry(id.clone()).or_default().insert("its canary");
            }
        } else {
            match column_sealed_under(conn, id)? {
                Some(column) => {
                    problems.missing_key.entry(id.clone()).or_default().insert(column);
                }
                None => retired.push(id.clone()),
            }
        }
    }
    for (column, stored) in &data.samples {
        // A value that names no key id is not one of the keys' concern.
        let Some((id, _)) = stored.split_once(':') else { continue };
        if !keys.has_key(id) {
            problems.missing_key.entry(id.to_owned()).or_default().insert(column);
        } else if keys.open(column, stored).is_err() {
            problems.wrong_key.entry(id.to_owned()).or_default().insert(column);
        }
    }
    anyhow::ensure!(problems.is_empty(), problems.message(source));
    Ok(retired)
}

/// The refusal of a start without any key on a database that holds sealed data.
fn no_key(settings: &Settings, data: &SealedData) -> anyhow::Error {
    let ids: Vec<String> = data.key_ids().iter().map(|id| format!("'{id}'")).collect();
    anyhow::anyhow!(
        "this database holds data sealed under the key {}, but no encryption key is configured: \
         encryption.key_file {} does not exist and encryption.keys is empty. Nothing was changed and no key \
         was generated (a key is generated only for a new, empty database); {KEY_SETTINGS}",
        ids.join(", "),
        settings.encryption.key_file.display()
    )
}

/// The keys `serve` uses on `db` (migrated): the configured ones, checked against the canaries
/// and sealed samples, or, for a new and empty database only, a generated key file. The active
/// key gets its canary, and retired keys' canaries are removed.
pub fn keys_for_serving(settings: &Settings, db: &Db, now: NaiveDateTime) -> anyhow::Result<KeyRing> {
    let mut conn = db.get()?;
    let data = inspect(&mut conn)?;
    let keys = match settings.existing_key_ring()? {
        Some(keys) => keys,
        None if data.is_new() => settings.generate_key_file()?,
        None => return Err(no_key(settings, &data)),
    };
    let source = settings.key_source();
    let retired = check(&mut conn, &keys, &data, &source)?;
    for id in retired {
        diesel::delete(key_canaries::table.find(&id)).execute(&mut *conn)?;
        tracing::warn!(key_id = %id, "an encryption key is no longer configured and nothing is sealed under it: its canary is removed");
    }
    if !data.canaries.iter().any(|(id, _)| id == keys.active_id()) {
        let canary = keys.seal(sealed::KEY_CANARIES_SEALED, keys.active_id())?;
        let row = (
            key_canaries::key_id.eq(keys.active_id()),
            key_canaries::sealed.eq(&canary),
            key_canaries::created_at.eq(now),
        );
        // Another process starting at the same moment may have written its own: the first
        // stays, and the check below refuses the other's key if it differs.
        match &mut *conn {
            DbConnection::Sqlite(c) => {
                diesel::insert_into(key_canaries::table).values(row).on_conflict_do_nothing().execute(c)?
            }
            DbConnection::Postgresql(c) => {
                diesel::insert_into(key_canaries::table).values(row).on_conflict_do_nothing().execute(c)?
            }
        };
        canaries_open(&mut conn, &keys).map_err(|e| {
            anyhow::anyhow!("{e}: another process started on this database with another key; {KEY_SETTINGS}")
        })?;
    }
    Ok(keys)
}

/// The keys a command that only reads sealed data (`migrate`, the source of `db copy`) may use
/// on `db` (migrated), checked like `serve`'s; nothing is generated or written. `None` when no
/// key is configured and nothing is sealed.
pub fn keys_for_reading(settings: &Settings, db: &Db) -> anyhow::Result<Option<KeyRing>> {
    let mut conn = db.get()?;
    let data = inspect(&mut conn)?;
    match settings.existing_key_ring()? {
        Some(keys) => {
            check(&mut conn, &keys, &data, &settings.key_source())?;
            Ok(Some(keys))
        }
        None if data.is_new() => Ok(None),
        None => Err(no_key(settings, &data)),
    }
}

/// Every canary opens with `keys` (what `/readyz` asks on each call, and a copy of its target):
/// a canary under a key the ring lacks means another process seals with a key this one cannot
/// open.
pub fn canaries_open(conn: &mut DbConnection, keys: &KeyRing) -> Result<(), String> {
    let canaries = key_canaries::table
        .select((key_canaries::key_id, key_canaries::sealed))
        .load::<(String, String)>(conn)
        .map_err(|e| format!("the key canaries cannot be read: {e}"))?;
    for (id, stored) in canaries {
        if !keys.has_key(&id) {
            return Err(format!("data is sealed under the key '{id}', which this process lacks"));
        }
        if !canary_opens(keys, &id, &stored) {
            return Err(format!("the key '{id}' of this process is not the key that sealed this database's data"));
        }
    }
    Ok(())
}

/// Checks `keys` against the canaries and sealed samples on `conn` as a start does, writing
/// nothing (a copy's target, inside the copy's transaction).
pub fn verify(conn: &mut DbConnection, keys: &KeyRing, source: &str) -> anyhow::Result<()> {
    let data = inspect(conn)?;
    check(conn, keys, &data, source).map(|_| ())
}
