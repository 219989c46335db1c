//! The spool: events that could not reach the bus yet, durable on local disk (SQLite).
//!
//! - WAL journal with `synchronous=FULL`: a committed push survives power loss, so the ingest gate
//!   may let the instrument's ACK go once `push` returns.
//! - One writer: a single task owns the only connection; transactions are `BEGIN IMMEDIATE`,
//!   never the deferred `BEGIN` (a read-then-write upgrade fails with `SQLITE_BUSY`).
//! - Group commit: pushes that arrive while a commit is in flight are written together in the
//!   next transaction, so many instrument links share one fsync instead of queueing for one
//!   each. Every push still returns only after its own transaction is committed.
//! - Bounded by rows and bytes ([`SpoolOptions`]); when full, `push` fails with
//!   [`SpoolError::Full`] and writes nothing — never a silent drop.
//! - Rows are kept in arrival order (`seq`) and deleted by the drain only after the bus acked them.
//! - Schema in `router/migrations/`, embedded and applied at open.

mod options;
mod writer;

pub use options::{
    DEFAULT_BUSY_TIMEOUT, DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, STATUS_RESERVE_BYTES,
    STATUS_RESERVE_ROWS, SpoolOptions,
};

use crate::error::SpoolError;
use crate::stats::RouterStats;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{Notify, mpsc, oneshot};
use writer::Request;

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
    /// When it was spooled, unix milliseconds (the edge clock).
    pub spooled_at_ms: i64,
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

/// Most pushes written in one transaction (group commit).
const GROUP_COMMIT_MAX: usize = 256;

/// The durable spool. Share it behind an `Arc`; dropping the last handle stops its writer task.
pub struct Spool {
    requests: mpsc::Sender<Request>,
    opts: SpoolOptions,
    stats: Arc<RouterStats>,
    pushed: Arc<Notify>,
}

impl Spool {
    /// Opens (or creates) the spool file, applies the migrations, counts what a previous run left
    /// in it, and starts the writer task.
    pub async fn open(opts: SpoolOptions, stats: Arc<RouterStats>) -> Result<Self, SpoolError> {
        let pushed = Arc::new(Notify::new());
        let writer = writer::Writer::open(&opts, Arc::clone(&stats), Arc::clone(&pushed)).await?;
        let (requests, inbox) = mpsc::channel(GROUP_COMMIT_MAX * 4);
        tokio::spawn(writer.run(inbox, GROUP_COMMIT_MAX));
        Ok(Self {
            requests,
            opts,
            stats,
            pushed,
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

    /// Appends `events` in order and returns once they are committed (fsync). All or nothing:
    /// over the limits, nothing is written and [`SpoolError::Full`] is returned. An event whose
    /// id is already spooled is skipped (it is durable already).
    pub async fn push(
        &self,
        events: &[PendingEvent],
        headroom: Headroom,
    ) -> Result<Pushed, SpoolError> {
        self.call(|reply| Request::Push {
            events: events.to_vec(),
            headroom,
            reply,
        })
        .await
    }

    /// The oldest `limit` events, in arrival order.
    pub async fn peek(&self, limit: u32) -> Result<Vec<SpooledEvent>, SpoolError> {
        self.call(|reply| Request::Peek { limit, reply }).await
    }

    /// Deletes every event up to and including `seq` (the drain calls this once the bus acked
    /// them all, oldest first). Returns how many rows went.
    pub async fn remove_through(&self, seq: i64) -> Result<u64, SpoolError> {
        self.call(|reply| Request::RemoveThrough { seq, reply })
            .await
    }

    async fn call<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, SpoolError>>) -> Request,
    ) -> Result<T, SpoolError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || SpoolError::WriterStopped {
            path: self.opts.path.clone(),
        };
        self.requests
            .send(request(reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_pushes_share_commits_but_never_exceed_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(open(&dir, 50, 1 << 20).await);
        let tasks: Vec<_> = (0..80)
            .map(|n| {
                let spool = Arc::clone(&spool);
                tokio::spawn(async move { spool.push(&[ev(n, 8)], Headroom::Data).await })
            })
            .collect();
        let mut ok = 0;
        let mut full = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(p) => ok += p.inserted,
                Err(SpoolError::Full { .. }) => full += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((ok, full), (50, 30));
        assert_eq!(spool.depth(), 50);
        let mut ids: Vec<_> = spool
            .peek(100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event.id)
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 50);
    }

    #[tokio::test]
    async fn a_second_spool_on_the_same_file_is_refused_while_the_first_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(&dir, 10, 1 << 20).await;
        first.push(&[ev(1, 1)], Headroom::Data).await.unwrap();
        let mut o = SpoolOptions::new(dir.path().join("spool.db"));
        o.busy_timeout = std::time::Duration::from_millis(200);
        let second = Spool::open(o.clone(), Arc::new(RouterStats::default())).await;
        assert!(second.is_err(), "two writers on one spool file");
        drop(first);
        // Once the first is gone (its writer task ends), the file opens again.
        let mut reopened = None;
        for _ in 0..50 {
            if let Ok(s) = Spool::open(o.clone(), Arc::new(RouterStats::default())).await {
                reopened = Some(s);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(reopened.expect("spool not released").depth(), 1);
    }
}
