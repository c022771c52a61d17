//! Durability: an engine's state in a SQLite database (WAL mode), so that an acknowledged
//! call survives a killed process.
//!
//! Every mutating call writes its rows and commits before it returns: adds (the subscription
//! as registered: condition text, trigger, owner, absolute deadline, …), removals, expiry,
//! fired subscriptions (consumed in the same commit that acknowledges them), claims (as the
//! 128-bit keyed hashes the engine keeps, with the hash seeds in `meta`), and, with lookback
//! on, the buffered events. The in-memory index is a cache: [`Durable::open`] reads the rows
//! back and the engine recompiles them.
//!
//! Levels: [`Durability::Process`] (`synchronous=NORMAL`: a commit survives the process
//! being killed; the last commits may be lost if the machine loses power) and
//! [`Durability::Power`] (`synchronous=FULL`: a commit survives power loss too).
//!
//! One process at a time: the connection holds SQLite's exclusive lock from open to close,
//! so a second `open` of the same file fails with `store_locked`.
//!
//! Schema (version 1):
//!
//! ```sql
//! meta(key TEXT PRIMARY KEY, value TEXT)      -- schema_version, claim_seeds, dialect,
//!                                             -- event_fields (what the rows mean)
//! subscriptions(
//!     seq INTEGER PRIMARY KEY,                -- registration order (a new row's seq is
//!                                             -- above every row's, so order holds)
//!     id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, event TEXT NOT NULL,
//!     condition TEXT, trigger TEXT,           -- as registered (trigger as JSON text)
//!     owner TEXT, deadline_ms INTEGER, not_before_ms INTEGER, exclude_event_id TEXT,
//!     fingerprint INTEGER NOT NULL)           -- what makes a re-add a no-op
//! claims(hash BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL)
//! lookback(seq INTEGER PRIMARY KEY, event TEXT NOT NULL, json TEXT NOT NULL, time_ms INTEGER NOT NULL)
//! ```

use super::subscription::{Kind, Subscription};
use super::Config;
use crate::{Dialect, Error, ErrorKind};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction};
use serde_json::Value as Json;
use std::path::Path;

/// The schema this version reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// What a commit survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// The process being killed (`synchronous=NORMAL` in WAL mode). The default.
    #[default]
    Process,
    /// Power loss too (`synchronous=FULL`): every commit waits for the disk.
    Power,
}

const SCHEMA: &str = "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE subscriptions (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('wait', 'cancel')),
        event TEXT NOT NULL,
        condition TEXT,
        trigger TEXT,
        owner TEXT,
        deadline_ms INTEGER,
        not_before_ms INTEGER,
        exclude_event_id TEXT,
        fingerprint INTEGER NOT NULL
    );
    CREATE TABLE claims (hash BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE lookback (seq INTEGER PRIMARY KEY, event TEXT NOT NULL, json TEXT NOT NULL, time_ms INTEGER NOT NULL);
";

pub(crate) struct Durable {
    conn: Connection,
}

// A panic while the connection is in use unwinds through `Transaction`'s drop, which rolls
// the transaction back: the connection is left as consistent as before the call, so an
// engine stays usable after a caught panic (the statement cache's `RefCell` is the only
// interior mutability, and it holds no half-made state across calls).
impl std::panic::UnwindSafe for Durable {}
impl std::panic::RefUnwindSafe for Durable {}

/// What a store holds, read back at open.
pub(crate) struct Loaded {
    pub subscriptions: Vec<(Subscription, u64)>,
    pub claims: Vec<(u128, i64)>,
    pub claim_seeds: [u64; 8],
    /// Buffered events: (seq, event name, JSON text, time).
    pub lookback: Vec<(u64, String, String, i64)>,
}

fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::IoError, format!("{what} {}: {e}", path.display()))
}

/// A SQLite error as the engine's: a busy or locked database is `store_locked`, a file that is
/// not a database or is damaged is `corrupt_store`, anything else `io_error`.
fn sql_error(path: &Path, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            Error::new(ErrorKind::StoreLocked, format!("the store {} is open in another process (or engine)", path.display()))
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            Error::new(ErrorKind::CorruptStore, format!("the store {} is damaged or not a SQLite database: {e}", path.display()))
        }
        _ => io_error("store", path, e),
    }
}

impl Durable {
    /// Opens (creating if absent) the store at `path` and reads what it holds.
    /// `fresh_seeds` become the claim seeds of a new store.
    pub fn open(path: &Path, config: &Config, fresh_seeds: [u64; 8]) -> Result<(Durable, Loaded), Error> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, e))?;
        let d = Durable { conn };
        d.configure(path, config.durability)?;
        let seeds = d.init_or_check(path, config, fresh_seeds)?;
        let loaded = d.load(path, seeds)?;
        Ok((d, loaded))
    }

    /// A new store at `path` (which must not exist), for `save`.
    pub fn create(path: &Path, config: &Config, seeds: [u64; 8]) -> Result<Durable, Error> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, e))?;
        let d = Durable { conn };
        d.configure(path, Durability::Power)?;
        d.init_or_check(path, config, seeds)?;
        Ok(d)
    }

    /// The file the store lives in.
    pub fn path(&self) -> &str {
        self.conn.path().unwrap_or_default()
    }

    fn configure(&self, path: &Path, level: Durability) -> Result<(), Error> {
        let c = &self.conn;
        let run = || -> rusqlite::Result<()> {
            c.busy_timeout(std::time::Duration::ZERO)?;
            // Exclusive locking: the first write takes SQLite's lock and keeps it until the
            // connection closes, so no second process can write (nor read stale state).
            c.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            let mode: String = c.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(rusqlite::Error::InvalidParameterName(format!("journal_mode is {mode}, not wal")));
            }
            c.pragma_update(None, "synchronous", if level == Durability::Power { "FULL" } else { "NORMAL" })?;
            // A 64 MiB page cache: the id index of a million subscriptions stays in memory.
            c.pragma_update(None, "cache_size", -65536)?;
            // Take the lock now, so a second opener fails at open, not at its first write.
            c.execute_batch("BEGIN IMMEDIATE; COMMIT;")?;
            Ok(())
        };
        run().map_err(|e| sql_error(path, e))
    }

    /// Creates the schema in an empty database, or checks the version of an existing one.
    /// Returns the claim seeds.
    fn init_or_check(&self, path: &Path, config: &Config, fresh_seeds: [u64; 8]) -> Result<[u64; 8], Error> {
        // What the rows mean depends on these: a condition compiles differently in the other
        // dialect, an event is read through the field names. Another setting is an error.
        let dialect = match config.dialect {
            Dialect::Strict => "strict",
            Dialect::Lenient => "lenient",
        };
        let f = &config.fields;
        let fields = format!("{},{},{}", f.name, f.id, f.time);
        let c = &self.conn;
        let tables: Vec<String> = (|| {
            let mut st = c.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })()
        .map_err(|e| sql_error(path, e))?;
        if tables.is_empty() {
            let seeds = fresh_seeds.map(|s| s.to_string()).join(",");
            let tx = (|| {
                c.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA}"))?;
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('claim_seeds', ?2), ('dialect', ?3), ('event_fields', ?4)",
                    params![SCHEMA_VERSION.to_string(), seeds, dialect, fields],
                )?;
                c.execute_batch("COMMIT")
            })();
            tx.map_err(|e| sql_error(path, e))?;
            return Ok(fresh_seeds);
        }
        if !tables.iter().any(|t| t == "meta") {
            return Err(Error::new(ErrorKind::IncompatibleStore, format!("{} is a SQLite database but not a celmatch store (tables: {})", path.display(), tables.join(", "))));
        }
        let get = |key: &str| -> Result<Option<String>, Error> {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(|e| sql_error(path, e))
        };
        let version: i64 = get("schema_version")?.and_then(|v| v.parse().ok()).ok_or_else(|| {
            Error::new(ErrorKind::IncompatibleStore, format!("{} has no readable schema version: not a celmatch store", path.display()))
        })?;
        if version != SCHEMA_VERSION {
            let newer = if version > SCHEMA_VERSION { "a newer" } else { "an older" };
            return Err(Error::new(
                ErrorKind::IncompatibleStore,
                format!("{} was written with {newer} schema (version {version}; this celmatch reads version {SCHEMA_VERSION})", path.display()),
            ));
        }
        for (key, want, what) in [("dialect", dialect, "dialect"), ("event_fields", fields.as_str(), "event fields (name,id,time)")] {
            let stored = get(key)?.unwrap_or_default();
            if stored != want {
                return Err(Error::new(
                    ErrorKind::IncompatibleStore,
                    format!("{} was written with the {what} {stored:?}; open it with the same (this engine has {want:?})", path.display()),
                ));
            }
        }
        let seeds: Vec<u64> = get("claim_seeds")?.unwrap_or_default().split(',').filter_map(|s| s.parse().ok()).collect();
        seeds.try_into().map_err(|_| Error::new(ErrorKind::CorruptStore, format!("{} has unreadable claim seeds", path.display())))
    }

    fn load(&self, path: &Path, claim_seeds: [u64; 8]) -> Result<Loaded, Error> {
        let sql = |e| sql_error(path, e);
        let corrupt = |what: String| Error::new(ErrorKind::CorruptStore, format!("{}: {what}", path.display()));
        let c = &self.conn;
        let mut st = c
            .prepare("SELECT id, kind, event, condition, trigger, owner, deadline_ms, not_before_ms, exclude_event_id, fingerprint FROM subscriptions ORDER BY seq")
            .map_err(sql)?;
        type Row = (Subscription, Option<String>, i64);
        let rows = st
            .query_map([], |r| {
                let kind: String = r.get(1)?;
                Ok((
                    Subscription {
                        id: r.get(0)?,
                        kind: if kind == "cancel" { Kind::Cancel } else { Kind::Wait },
                        event: r.get(2)?,
                        condition: r.get(3)?,
                        trigger: None,
                        owner: r.get(5)?,
                        deadline_ms: r.get(6)?,
                        timeout_ms: None,
                        not_before_ms: r.get(7)?,
                        exclude_event_id: r.get(8)?,
                        lookback_ms: None,
                    },
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(9)?,
                ))
            })
            .map_err(sql)?
            .collect::<rusqlite::Result<Vec<Row>>>()
            .map_err(sql)?;
        let mut subscriptions = Vec::with_capacity(rows.len());
        for (mut sub, trigger, fingerprint) in rows {
            if let Some(t) = trigger {
                // serde_json reads 128 levels of nesting, as the engine's event parser does; a
                // trigger nested deeper (possible with a raised max_event_depth) is reported.
                let value: Json = serde_json::from_str(&t).map_err(|e| corrupt(format!("the trigger of {:?} cannot be read back: {e}", sub.id)))?;
                sub.trigger = Some(value);
            }
            subscriptions.push((sub, fingerprint as u64));
        }
        let mut st = c.prepare("SELECT hash, expires_ms FROM claims").map_err(sql)?;
        let raw = st.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))).map_err(sql)?.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)?;
        let claims = raw
            .into_iter()
            .map(|(h, e)| h.try_into().map(|h| (u128::from_be_bytes(h), e)).map_err(|h: Vec<u8>| corrupt(format!("a claim hash of {} bytes", h.len()))))
            .collect::<Result<Vec<_>, Error>>()?;
        let mut st = c.prepare("SELECT seq, event, json, time_ms FROM lookback ORDER BY seq").map_err(sql)?;
        let lookback = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(sql)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql)?;
        Ok(Loaded { subscriptions, claims, claim_seeds, lookback })
    }

    /// Runs `f` in one transaction and commits it: when this returns `Ok`, the changes are as
    /// durable as the level promises.
    pub fn write(&mut self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>) -> Result<(), Error> {
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            f(&tx)?;
            tx.commit()
        };
        run(&mut self.conn).map_err(|e| sql_error(Path::new(self.conn.path().unwrap_or_default()), e))
    }

    /// `PRAGMA integrity_check`: `ok`, or what is wrong.
    pub fn integrity_check(&self) -> Result<String, Error> {
        let path = self.conn.path().map(str::to_owned).unwrap_or_default();
        self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| sql_error(Path::new(&path), e))
    }
}

pub(crate) fn insert_subscription(tx: &Transaction<'_>, s: &Subscription, deadline_ms: Option<i64>, fingerprint: u64) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO subscriptions (id, kind, event, condition, trigger, owner, deadline_ms, not_before_ms, exclude_event_id, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    st.execute(params![
        s.id,
        s.kind.as_str(),
        s.event,
        s.condition,
        s.trigger.as_ref().map(Json::to_string),
        s.owner,
        deadline_ms,
        s.not_before_ms,
        s.exclude_event_id,
        fingerprint as i64
    ])?;
    Ok(())
}

pub(crate) fn delete_subscription(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM subscriptions WHERE id = ?1")?.execute([id])?;
    Ok(())
}

pub(crate) fn put_claim(tx: &Transaction<'_>, hash: u128, expires_ms: i64) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached("INSERT INTO claims (hash, expires_ms) VALUES (?1, ?2) ON CONFLICT (hash) DO UPDATE SET expires_ms = excluded.expires_ms")?;
    st.execute(params![hash.to_be_bytes().to_vec(), expires_ms])?;
    Ok(())
}

pub(crate) fn delete_claims_expired(tx: &Transaction<'_>, now_ms: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM claims WHERE expires_ms <= ?1")?.execute([now_ms])?;
    Ok(())
}

pub(crate) fn insert_lookback(tx: &Transaction<'_>, seq: u64, event: &str, text: &str, time_ms: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO lookback (seq, event, json, time_ms) VALUES (?1, ?2, ?3, ?4)")?.execute(params![seq as i64, event, text, time_ms])?;
    Ok(())
}

pub(crate) fn delete_lookback(tx: &Transaction<'_>, seq: u64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM lookback WHERE seq = ?1")?.execute([seq as i64])?;
    Ok(())
}
