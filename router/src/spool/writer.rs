//! The spool's single writer: owns the only SQLite connection and serves requests in order,
//! committing consecutive pushes together (group commit).

use super::{Headroom, PendingEvent, Pushed, STATUS_RESERVE_BYTES, STATUS_RESERVE_ROWS};
use super::{SpoolOptions, SpooledEvent};
use crate::error::SpoolError;
use crate::stats::RouterStats;
use bytes::Bytes;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteLockingMode, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{Notify, mpsc, oneshot};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

type Reply<T> = oneshot::Sender<Result<T, SpoolError>>;

/// A request to the writer.
pub(super) enum Request {
    Push {
        events: Vec<PendingEvent>,
        headroom: Headroom,
        reply: Reply<Pushed>,
    },
    Peek {
        limit: u32,
        reply: Reply<Vec<SpooledEvent>>,
    },
    RemoveThrough {
        seq: i64,
        reply: Reply<u64>,
    },
}

/// A push accepted into the current group, with what it will add.
struct Accepted {
    events: Vec<PendingEvent>,
    reply: Reply<Pushed>,
    pushed: Pushed,
}

pub(super) struct Writer {
    conn: SqliteConnection,
    path: PathBuf,
    max_rows: u64,
    max_bytes: u64,
    rows: u64,
    bytes: u64,
    stats: Arc<RouterStats>,
    pushed: Arc<Notify>,
}

impl Writer {
    pub(super) async fn open(
        opts: &SpoolOptions,
        stats: Arc<RouterStats>,
        pushed: Arc<Notify>,
    ) -> Result<Self, SpoolError> {
        let path = opts.path.clone();
        let db = |what: &'static str| {
            let path = path.clone();
            move |source| SpoolError::Database { path, what, source }
        };
        let mut conn = SqliteConnectOptions::new()
            .filename(&opts.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // One router per spool file: a second process (say, two pods on one volume) would
            // replay the same rows and keep wrong counts. The lock goes with the process.
            .locking_mode(SqliteLockingMode::Exclusive)
            .busy_timeout(opts.busy_timeout)
            .connect()
            .await
            .map_err(db("opening"))?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|source| SpoolError::Migrate {
                path: path.clone(),
                source,
            })?;
        let (rows, bytes) = count(&mut conn, i64::MAX)
            .await
            .map_err(db("counting rows"))?;
        let writer = Self {
            conn,
            path,
            max_rows: opts.max_rows,
            max_bytes: opts.max_bytes,
            rows,
            bytes,
            stats,
            pushed,
        };
        writer.publish_usage();
        Ok(writer)
    }

    /// Serves requests until every [`super::Spool`] handle is gone.
    pub(super) async fn run(mut self, mut inbox: mpsc::Receiver<Request>, group_max: usize) {
        let mut next = inbox.recv().await;
        while let Some(request) = next.take() {
            match request {
                Request::Push {
                    events,
                    headroom,
                    reply,
                } => {
                    let mut group = Vec::new();
                    self.admit(events, headroom, reply, &mut group);
                    // Everything already waiting joins this commit, up to the group limit.
                    while group.len() < group_max {
                        match inbox.try_recv() {
                            Ok(Request::Push {
                                events,
                                headroom,
                                reply,
                            }) => self.admit(events, headroom, reply, &mut group),
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_group(group).await;
                }
                Request::Peek { limit, reply } => {
                    let _ = reply.send(self.peek(limit).await);
                }
                Request::RemoveThrough { seq, reply } => {
                    let _ = reply.send(self.remove_through(seq).await);
                }
            }
            if next.is_none() {
                next = inbox.recv().await;
            }
        }
    }

    /// Checks a push against the limits (counting the pushes already in the group) and either
    /// refuses it at once or adds it to the group.
    fn admit(
        &self,
        events: Vec<PendingEvent>,
        headroom: Headroom,
        reply: Reply<Pushed>,
        group: &mut Vec<Accepted>,
    ) {
        let (group_rows, group_bytes) = group.iter().fold((0, 0), |(r, b), a| {
            (r + a.events.len() as u64, b + payload_bytes(&a.events))
        });
        let (extra_rows, extra_bytes) = match headroom {
            Headroom::Data => (0, 0),
            Headroom::Status => (STATUS_RESERVE_ROWS, STATUS_RESERVE_BYTES),
        };
        let rows = self.rows + group_rows;
        let bytes = self.bytes + group_bytes;
        if rows + events.len() as u64 > self.max_rows + extra_rows
            || bytes + payload_bytes(&events) > self.max_bytes + extra_bytes
        {
            let _ = reply.send(Err(SpoolError::Full {
                rows,
                bytes,
                max_rows: self.max_rows,
                max_bytes: self.max_bytes,
                incoming: events.len(),
            }));
            return;
        }
        group.push(Accepted {
            events,
            reply,
            pushed: Pushed {
                inserted: 0,
                already_spooled: 0,
            },
        });
    }

    /// Writes the whole group in one `BEGIN IMMEDIATE` transaction; every push in it gets the
    /// outcome of that one commit.
    async fn commit_group(&mut self, mut group: Vec<Accepted>) {
        if group.is_empty() {
            return;
        }
        match self.insert_all(&mut group).await {
            Ok((rows, bytes)) => {
                self.rows += rows;
                self.bytes += bytes;
                self.publish_usage();
                for a in group {
                    let _ = a.reply.send(Ok(a.pushed));
                }
                self.pushed.notify_one();
            }
            Err(e) => {
                tracing::error!(error = %e, "spool commit failed");
                for a in group {
                    let _ = a.reply.send(Err(SpoolError::CommitFailed {
                        path: self.path.clone(),
                        reason: e.to_string(),
                    }));
                }
            }
        }
    }

    async fn insert_all(&mut self, group: &mut [Accepted]) -> Result<(u64, u64), sqlx::Error> {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let mut tx = self.conn.begin_with("BEGIN IMMEDIATE").await?;
        let (mut rows, mut bytes) = (0, 0);
        for a in group.iter_mut() {
            for e in &a.events {
                let done = sqlx::query(
                    "INSERT OR IGNORE INTO spool (id, subject, payload, created_at) \
                     VALUES (?, ?, ?, ?)",
                )
                .bind(e.id.as_str())
                .bind(e.subject.as_str())
                .bind(e.payload.as_ref())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    a.pushed.inserted += 1;
                    rows += 1;
                    bytes += e.payload.len() as u64;
                } else {
                    a.pushed.already_spooled += 1;
                }
            }
        }
        tx.commit().await?;
        Ok((rows, bytes))
    }

    async fn peek(&mut self, limit: u32) -> Result<Vec<SpooledEvent>, SpoolError> {
        let rows = sqlx::query(
            "SELECT seq, id, subject, payload, created_at FROM spool ORDER BY seq LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut self.conn)
        .await
        .map_err(self.db("reading the oldest events"))?;
        rows.iter()
            .map(|r| {
                Ok(SpooledEvent {
                    seq: r.try_get(0)?,
                    spooled_at_ms: r.try_get(4)?,
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

    async fn remove_through(&mut self, seq: i64) -> Result<u64, SpoolError> {
        let (rows, bytes) =
            delete_through(&mut self.conn, seq)
                .await
                .map_err(|(what, source)| SpoolError::Database {
                    path: self.path.clone(),
                    what,
                    source,
                })?;
        self.rows = self.rows.saturating_sub(rows);
        self.bytes = self.bytes.saturating_sub(bytes);
        self.publish_usage();
        Ok(rows)
    }

    fn publish_usage(&self) {
        self.stats.spool_depth.store(self.rows, Ordering::Release);
        self.stats.spool_bytes.store(self.bytes, Ordering::Release);
    }

    fn db(&self, what: &'static str) -> impl FnOnce(sqlx::Error) -> SpoolError + use<> {
        let path = self.path.clone();
        move |source| SpoolError::Database { path, what, source }
    }
}

/// Deletes the rows with `seq <= through` in one `BEGIN IMMEDIATE` transaction; returns the rows
/// and payload bytes removed, or what failed.
async fn delete_through(
    conn: &mut SqliteConnection,
    through: i64,
) -> Result<(u64, u64), (&'static str, sqlx::Error)> {
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| ("beginning a delete", e))?;
    let removed = count(&mut tx, through)
        .await
        .map_err(|e| ("sizing a delete", e))?;
    sqlx::query("DELETE FROM spool WHERE seq <= ?")
        .bind(through)
        .execute(&mut *tx)
        .await
        .map_err(|e| ("deleting drained events", e))?;
    tx.commit().await.map_err(|e| ("committing a delete", e))?;
    Ok(removed)
}

fn payload_bytes(events: &[PendingEvent]) -> u64 {
    events.iter().map(|e| e.payload.len() as u64).sum()
}

/// Rows and payload bytes with `seq <= through`.
async fn count(conn: &mut SqliteConnection, through: i64) -> Result<(u64, u64), sqlx::Error> {
    let row =
        sqlx::query("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM spool WHERE seq <= ?")
            .bind(through)
            .fetch_one(conn)
            .await?;
    let rows = u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or_default();
    let bytes = u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or_default();
    Ok((rows, bytes))
}
