//! The spool: events that could not reach the bus yet, durable on local disk (SQLite).
//!
//! - WAL journal with `synchronous=FULL`: a committed push survives power loss, so the ingest gate
//!   may let the instrument's ACK go once `push` returns.
//! - One writer: a single connection behind a mutex; transactions are `BEGIN IMMEDIATE`, never
//!   the deferred `BEGIN` (a read-then-write upgrade fails with `SQLITE_BUSY`).
//! - Bounded by rows and bytes ([`SpoolOptions`]); when full, `push` fails with
//!   [`SpoolError::Full`] and writes nothing — never a silent drop.
//! - Rows are kept in arrival order (`seq`) and deleted by the drain only after the bus acked them.
//! - Schema in `router/migrations/`, embedded and applied at open.

mod options;

pub use options::{
    DEFAULT_BUSY_TIMEOUT, DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, STATUS_RESERVE_BYTES,
    STATUS_RESERVE_ROWS, SpoolOptions,
};

use crate::error::SpoolError;
use crate::stats::RouterStats;
use bytes::Bytes;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{Mutex, Notify};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// An event ready for the bus: subject, id and the exact JSON bytes to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// `lab.<site>.<instrument>.<kind>`.
    pub subject: String,
    /// The event id (`Nats-Msg-Id`).
    pub id: String,
    /// The event JSON.
    pub payload: Bytes,
}

/// A spooled event, with its position in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledEvent {
    /// Arrival order (increasing, never reused).
    pub seq: i64,
    /// The event.
    pub event: PendingEvent,
}

/// Which limits a push is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headroom {
    /// Instrument data: the configured limits.
    Data,
    /// `status` events: the limits plus a small reserve, so "spool full" can itself be queued.
    Status,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// Rows written.
    pub inserted: u64,
    /// Events already in the spool under the same id (a retransmit): durable already.
    pub already_spooled: u64,
}

struct Usage {
    conn: SqliteConnection,
    rows: u64,
    bytes: u64,
}

/// The durable spool. Share it behind an `Arc`.
pub struct Spool {
    writer: Mutex<Usage>,
    opts: SpoolOptions,
    stats: Arc<RouterStats>,
    pushed: Notify,
}

impl Spool {
    /// Opens (or creates) the spool file, applies the migrations, and counts what a previous run
    /// left in it.
    pub async fn open(opts: SpoolOptions, stats: Arc<RouterStats>) -> Result<Self, SpoolError> {
        let db = |what: &'static str| {
            let path = opts.path.clone();
            move |source| SpoolError::Database { path, what, source }
        };
        let mut conn = SqliteConnectOptions::new()
            .filename(&opts.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(opts.busy_timeout)
            .connect()
            .await
            .map_err(db("opening"))?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|source| SpoolError::Migrate {
                path: opts.path.clone(),
                source,
            })?;
        let row = sqlx::query("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM spool")
            .fetch_one(&mut conn)
            .await
            .map_err(db("counting rows"))?;
        let rows = u64::try_from(row.try_get::<i64, _>(0).map_err(db("counting rows"))?)
            .unwrap_or_default();
        let bytes = u64::try_from(row.try_get::<i64, _>(1).map_err(db("counting rows"))?)
            .unwrap_or_default();
        stats.spool_depth.store(rows, Ordering::Relaxed);
        stats.spool_bytes.store(bytes, Ordering::Relaxed);
        Ok(Self {
            writer: Mutex::new(Usage { conn, rows, bytes }),
            opts,
            stats,
            pushed: Notify::new(),
        })
    }

    /// Events held now.
    pub fn depth(&self) -> u64 {
        self.stats.spool_depth.load(Ordering::Acquire)
    }

    /// Whether nothing waits for the bus.
    pub fn is_empty(&self) -> bool {
        self.depth() == 0
    }

    /// The options it was opened with.
    pub fn options(&self) -> &SpoolOptions {
        &self.opts
    }

    /// Resolves after a push (or at once if a push happened since the last wait).
    pub async fn pushed(&self) {
        self.pushed.notified().await;
    }

    /// Appends `events` in order, in one `BEGIN IMMEDIATE` transaction committed with fsync.
    /// All or nothing: over the limits, nothing is written and [`SpoolError::Full`] is returned.
    /// An event whose id is already spooled is skipped (it is durable already).
    pub async fn push(
        &self,
        events: &[PendingEvent],
        headroom: Headroom,
    ) -> Result<Pushed, SpoolError> {
        let mut w = self.writer.lock().await;
        let incoming_bytes: u64 = events.iter().map(|e| e.payload.len() as u64).sum();
        let (extra_rows, extra_bytes) = match headroom {
            Headroom::Data => (0, 0),
            Headroom::Status => (STATUS_RESERVE_ROWS, STATUS_RESERVE_BYTES),
        };
        if w.rows + events.len() as u64 > self.opts.max_rows + extra_rows
            || w.bytes + incoming_bytes > self.opts.max_bytes + extra_bytes
        {
            return Err(SpoolError::Full {
                rows: w.rows,
                bytes: w.bytes,
                max_rows: self.opts.max_rows,
                max_bytes: self.opts.max_bytes,
                incoming: events.len(),
            });
        }
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let mut pushed = Pushed {
            inserted: 0,
            already_spooled: 0,
        };
        let mut added_bytes = 0;
        let mut tx = w
            .conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.db("beginning a push"))?;
        for e in events {
            let done = sqlx::query(
                "INSERT OR IGNORE INTO spool (id, subject, payload, created_at) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(e.id.as_str())
            .bind(e.subject.as_str())
            .bind(e.payload.as_ref())
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(self.db("inserting an event"))?;
            if done.rows_affected() == 1 {
                pushed.inserted += 1;
                added_bytes += e.payload.len() as u64;
            } else {
                pushed.already_spooled += 1;
            }
        }
        tx.commit().await.map_err(self.db("committing a push"))?;
        w.rows += pushed.inserted;
        w.bytes += added_bytes;
        self.publish_usage(&w);
        drop(w);
        self.pushed.notify_one();
        Ok(pushed)
    }

    /// The oldest `limit` events, in arrival order.
    pub async fn peek(&self, limit: u32) -> Result<Vec<SpooledEvent>, SpoolError> {
        let mut w = self.writer.lock().await;
        let rows = sqlx::query("SELECT seq, id, subject, payload FROM spool ORDER BY seq LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&mut w.conn)
            .await
            .map_err(self.db("reading the oldest events"))?;
        rows.iter()
            .map(|r| {
                Ok(SpooledEvent {
                    seq: r.try_get(0)?,
                    event: PendingEvent {
                        id: r.try_get(1)?,
                        subject: r.try_get(2)?,
                        payload: Bytes::from(r.try_get::<Vec<u8>, _>(3)?),
                    },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.db("decoding a spooled event"))
    }

    /// Deletes every event up to and including `seq` (the drain calls this once the bus acked
    /// them all, oldest first).
    pub async fn remove_through(&self, seq: i64) -> Result<u64, SpoolError> {
        let mut w = self.writer.lock().await;
        let mut tx = w
            .conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.db("beginning a delete"))?;
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM spool WHERE seq <= ?",
        )
        .bind(seq)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.db("sizing a delete"))?;
        let rows = u64::try_from(
            row.try_get::<i64, _>(0)
                .map_err(self.db("sizing a delete"))?,
        )
        .unwrap_or_default();
        let bytes = u64::try_from(
            row.try_get::<i64, _>(1)
                .map_err(self.db("sizing a delete"))?,
        )
        .unwrap_or_default();
        sqlx::query("DELETE FROM spool WHERE seq <= ?")
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(self.db("deleting drained events"))?;
        tx.commit().await.map_err(self.db("committing a delete"))?;
        w.rows = w.rows.saturating_sub(rows);
        w.bytes = w.bytes.saturating_sub(bytes);
        self.publish_usage(&w);
        Ok(rows)
    }

    fn publish_usage(&self, w: &Usage) {
        self.stats.spool_depth.store(w.rows, Ordering::Release);
        self.stats.spool_bytes.store(w.bytes, Ordering::Release);
    }

    fn db(&self, what: &'static str) -> impl FnOnce(sqlx::Error) -> SpoolError + use<> {
        let path = self.opts.path.clone();
        move |source| SpoolError::Database { path, what, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u32, size: usize) -> PendingEvent {
        PendingEvent {
            subject: "lab.s.i.result".into(),
            id: format!("id-{n}"),
            payload: Bytes::from(vec![b'x'; size]),
        }
    }

    async fn open(dir: &tempfile::TempDir, rows: u64, bytes: u64) -> Spool {
        let mut o = SpoolOptions::new(dir.path().join("spool.db"));
        o.max_rows = rows;
        o.max_bytes = bytes;
        Spool::open(o, Arc::new(RouterStats::default()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn keeps_order_survives_reopen_and_deletes_through_a_seq() {
        let dir = tempfile::tempdir().unwrap();
        let spool = open(&dir, 100, 1 << 20).await;
        let p = spool
            .push(&[ev(1, 10), ev(2, 10), ev(3, 10)], Headroom::Data)
            .await
            .unwrap();
        assert_eq!(p.inserted, 3);
        // A retransmitted id is not stored twice.
        let p = spool.push(&[ev(2, 10)], Headroom::Data).await.unwrap();
        assert_eq!((p.inserted, p.already_spooled), (0, 1));
        drop(spool);

        let spool = open(&dir, 100, 1 << 20).await;
        assert_eq!(spool.depth(), 3);
        let head = spool.peek(2).await.unwrap();
        let ids: Vec<_> = head.iter().map(|e| e.event.id.as_str()).collect();
        assert_eq!(ids, ["id-1", "id-2"]);
        let last = head.last().unwrap().seq;
        assert_eq!(spool.remove_through(last).await.unwrap(), 2);
        assert_eq!(spool.depth(), 1);
        let rest = spool.peek(10).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].event.id, "id-3");
        assert_eq!(rest[0].event.payload.len(), 10);
    }

    #[tokio::test]
    async fn full_spool_refuses_without_writing_but_keeps_room_for_status() {
        let dir = tempfile::tempdir().unwrap();
        let spool = open(&dir, 2, 1 << 20).await;
        spool
            .push(&[ev(1, 1), ev(2, 1)], Headroom::Data)
            .await
            .unwrap();
        let err = spool.push(&[ev(3, 1)], Headroom::Data).await.unwrap_err();
        assert!(matches!(err, SpoolError::Full { rows: 2, .. }), "{err}");
        assert_eq!(spool.depth(), 2);
        spool.push(&[ev(4, 1)], Headroom::Status).await.unwrap();
        assert_eq!(spool.depth(), 3);

        let by_bytes = open(&tempfile::tempdir().unwrap(), 100, 15).await;
        by_bytes.push(&[ev(1, 10)], Headroom::Data).await.unwrap();
        let err = by_bytes
            .push(&[ev(2, 10)], Headroom::Data)
            .await
            .unwrap_err();
        assert!(matches!(err, SpoolError::Full { .. }), "{err}");
    }
}
