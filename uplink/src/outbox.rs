//! The outbox: telemetry records waiting for the hub, durable in their own SQLite file.
//!
//! - Its own file (not the spool's database): the spool holds patient data and is locked
//!   exclusively by the ingest gate; the outbox never holds anything but telemetry records and
//!   is written by the uplink task alone, so it can never slow the instrument path.
//! - WAL journal, `synchronous=FULL`: a stored record survives a crash or power loss.
//! - Rows are deleted only after the broker's PUBACK ([`Outbox::ack`]).
//! - Bounded by bytes ([`OutboxLimits::max_bytes`]) and age ([`OutboxLimits::max_age`]).
//!   Over the byte limit, the lowest lane's oldest rows go first (volume, then QC, then
//!   heartbeat/health, alerts last); every dropped row is counted.
//! - Lanes: [`crate::Priority`]. [`Outbox::next`] hands out alerts first, then heartbeats and
//!   health newest first (the live state matters more than an old one), then QC and volume
//!   oldest first.

use crate::record::Record;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteLockingMode, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Default byte limit of the outbox (payload bytes).
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default age limit: a week of outage.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest record accepted (below the MQTT packet limit set in [`crate::mqtt`]).
pub const MAX_RECORD_BYTES: usize = 192 * 1024;

/// Why the outbox failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// A database operation failed.
    #[error("outbox {path}: {what}: {source}")]
    Database {
        /// The outbox file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: sqlx::Error,
    },
    /// The schema could not be applied.
    #[error("outbox {path}: applying the schema: {source}")]
    Migrate {
        /// The outbox file.
        path: PathBuf,
        /// The cause.
        source: sqlx::migrate::MigrateError,
    },
}

/// The outbox's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Payload bytes held at most.
    pub max_bytes: u64,
    /// Records older than this are dropped.
    pub max_age: Duration,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

/// A stored record, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Arrival order.
    pub seq: i64,
    /// `labwire/<site>/<kind>`.
    pub topic: String,
    /// The record JSON.
    pub payload: Vec<u8>,
}

/// What [`Outbox::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pushed {
    /// The new row's seq; `None` when the record was already stored (same content id) or
    /// refused (larger than [`MAX_RECORD_BYTES`]).
    pub seq: Option<i64>,
    /// Rows dropped to make room (possibly the new one).
    pub dropped: u64,
}

/// The durable outbox. One owner (the uplink task).
pub struct Outbox {
    conn: SqliteConnection,
    path: PathBuf,
    limits: OutboxLimits,
    rows: u64,
    bytes: u64,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Outbox {
    /// Opens (or creates) the outbox file and applies the schema.
    pub async fn open(path: &Path, limits: OutboxLimits) -> Result<Self, OutboxError> {
        let db = |what| {
            let path = path.to_path_buf();
            move |source| OutboxError::Database { path, what, source }
        };
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .locking_mode(SqliteLockingMode::Exclusive)
            .busy_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(db("opening"))?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|source| OutboxError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        let mut outbox = Self {
            conn,
            path: path.to_path_buf(),
            limits,
            rows: 0,
            bytes: 0,
        };
        outbox.recount().await?;
        Ok(outbox)
    }

    fn db(&self, what: &'static str) -> impl FnOnce(sqlx::Error) -> OutboxError + use<> {
        let path = self.path.clone();
        move |source| OutboxError::Database { path, what, source }
    }

    async fn recount(&mut self) -> Result<(), OutboxError> {
        let row = sqlx::query("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox")
            .fetch_one(&mut self.conn)
            .await
            .map_err(self.db("counting"))?;
        self.rows = u64::try_from(row.get::<i64, _>(0)).unwrap_or(0);
        self.bytes = u64::try_from(row.get::<i64, _>(1)).unwrap_or(0);
        Ok(())
    }

    /// Records held.
    pub fn depth(&self) -> u64 {
        self.rows
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The limits.
    pub fn limits(&self) -> OutboxLimits {
        self.limits
    }

    /// Stores a record (committed before returning), then trims to the byte limit.
    pub async fn push(&mut self, record: &Record) -> Result<Pushed, OutboxError> {
        let payload = record.to_json();
        if payload.is_empty() || payload.len() > MAX_RECORD_BYTES {
            return Ok(Pushed {
                seq: None,
                dropped: 1,
            });
        }
        let result = sqlx::query(
            "INSERT INTO outbox (id, lane, topic, payload, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&record.id)
        .bind(record.kind().priority().lane())
        .bind(record.topic())
        .bind(&payload)
        .bind(now_ms())
        .execute(&mut self.conn)
        .await
        .map_err(self.db("storing a record"))?;
        if result.rows_affected() == 0 {
            return Ok(Pushed::default());
        }
        let seq = result.last_insert_rowid();
        self.rows += 1;
        self.bytes += payload.len() as u64;
        let dropped = self.trim().await?;
        let kept = sqlx::query("SELECT 1 FROM outbox WHERE seq = ?")
            .bind(seq)
            .fetch_optional(&mut self.conn)
            .await
            .map_err(self.db("checking a record"))?
            .is_some();
        Ok(Pushed {
            seq: kept.then_some(seq),
            dropped,
        })
    }

    /// Drops the lowest lane's oldest rows until the outbox is within its byte limit.
    async fn trim(&mut self) -> Result<u64, OutboxError> {
        let mut dropped = 0;
        while self.bytes > self.limits.max_bytes {
            let row = sqlx::query(
                "DELETE FROM outbox WHERE seq = \
                 (SELECT seq FROM outbox ORDER BY lane DESC, seq ASC LIMIT 1) \
                 RETURNING LENGTH(payload)",
            )
            .fetch_optional(&mut self.conn)
            .await
            .map_err(self.db("dropping the lowest-priority record"))?;
            let Some(row) = row else { break };
            self.rows = self.rows.saturating_sub(1);
            self.bytes = self
                .bytes
                .saturating_sub(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0));
            dropped += 1;
        }
        Ok(dropped)
    }

    /// Drops records older than the age limit; returns how many went.
    pub async fn expire(&mut self) -> Result<u64, OutboxError> {
        let max_age_ms = i64::try_from(self.limits.max_age.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(max_age_ms);
        let result = sqlx::query("DELETE FROM outbox WHERE created_at < ?")
            .bind(cutoff)
            .execute(&mut self.conn)
            .await
            .map_err(self.db("dropping expired records"))?;
        let n = result.rows_affected();
        if n > 0 {
            self.recount().await?;
        }
        Ok(n)
    }

    /// Up to `limit` records to publish next, skipping `in_flight`: alerts, then heartbeat and
    /// health newest first, then QC and volume oldest first.
    pub async fn next(
        &mut self,
        limit: usize,
        in_flight: &HashSet<i64>,
    ) -> Result<Vec<Stored>, OutboxError> {
        let want = i64::try_from(limit.saturating_add(in_flight.len())).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT seq, topic, payload FROM outbox \
             ORDER BY lane ASC, CASE WHEN lane = 1 THEN -seq ELSE seq END ASC LIMIT ?",
        )
        .bind(want)
        .fetch_all(&mut self.conn)
        .await
        .map_err(self.db("reading the next records"))?;
        Ok(rows
            .into_iter()
            .map(|r| Stored {
                seq: r.get(0),
                topic: r.get(1),
                payload: r.get(2),
            })
            .filter(|s| !in_flight.contains(&s.seq))
            .take(limit)
            .collect())
    }

    /// Deletes a record the broker acknowledged. Returns whether it was still there.
    pub async fn ack(&mut self, seq: i64) -> Result<bool, OutboxError> {
        let row = sqlx::query("DELETE FROM outbox WHERE seq = ? RETURNING LENGTH(payload)")
            .bind(seq)
            .fetch_optional(&mut self.conn)
            .await
            .map_err(self.db("deleting an acknowledged record"))?;
        Ok(match row {
            Some(row) => {
                self.rows = self.rows.saturating_sub(1);
                self.bytes = self
                    .bytes
                    .saturating_sub(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0));
                true
            }
            None => false,
        })
    }
}
