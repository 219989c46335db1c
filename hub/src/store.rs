//! The hub's database: SQLite (embedded default) or PostgreSQL through sqlx `Any`, one set of
//! portable queries (`$n` placeholders, `ON CONFLICT … DO UPDATE … WHERE`), migrations from
//! `hub/migrations/`.
//!
//! Every write of one record is one transaction: the record row (deduplicated by its content
//! id) and the facts it updates. A fact is only replaced by a newer one (by the record's `at`),
//! so records arriving out of order, as a backlog does, leave the newest state in place.

use crate::config::Backend;
use crate::fleet::{self, Policy};
use labwire_uplink::record::{Body, Record};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// A database error. Its text comes from the driver and never contains record content
/// (records are bound as parameters, never formatted into SQL).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database did not answer in time.
    #[error("database did not answer within {0:?}")]
    Timeout(std::time::Duration),
}

/// What storing a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// New: stored and its facts applied.
    New,
    /// Its id was already stored: nothing changed.
    Duplicate,
}

/// The hub's database handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

// The read queries, as literals so `concat!` can add a filter and an order and the result is
// still a static SQL string.
macro_rules! sql_sites {
    () => {
        "SELECT site, last_seen_ms, last_fresh_hb_ms, hb_at_ms, version, config_hash, \
         uptime_s, spool_depth, outbox_depth, outbox_dropped, bus, health_at_ms FROM sites"
    };
}
macro_rules! sql_instruments {
    () => {
        "SELECT i.site, i.instrument, i.health_at_ms, i.protocol, i.state, \
         i.last_message_age_s, i.naks, i.retransmits, i.checksum_errors, i.reconnects, i.timeouts \
         FROM instruments i JOIN sites s ON s.site = i.site AND s.health_at_ms = i.health_at_ms"
    };
}
macro_rules! sql_alerts {
    () => {
        "SELECT site, condition, instrument, alert, severity, value, at_ms FROM alerts \
         WHERE is_open = 1"
    };
}

fn millis(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

impl Store {
    /// Connects (creating a SQLite file if needed) and runs the migrations. Several hubs may
    /// share one PostgreSQL database: sqlx takes an advisory lock around migrations.
    pub async fn open(url: &str, backend: Backend) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(crate::limits::DB_POOL_SIZE)
            .acquire_timeout(crate::limits::DB_TIMEOUT)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Stores one validated record received at `received`; applies its facts if it is new.
    pub async fn ingest(
        &self,
        record: &Record,
        received: jiff::Timestamp,
        policy: &Policy,
    ) -> Result<Stored, StoreError> {
        let mut tx = self.pool.begin().await?;
        let site = record.site.as_str();
        let at = millis(record.at);
        let rx = millis(received);
        let body = String::from_utf8_lossy(&record.to_json()).into_owned();
        let inserted = sqlx::query(
            "INSERT INTO records (id, site, kind, at_ms, received_ms, body) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(record.id.as_str())
        .bind(site)
        .bind(record.kind().as_str())
        .bind(at)
        .bind(rx)
        .bind(body)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(Stored::Duplicate);
        }
        sqlx::query(
            "INSERT INTO sites (site, first_seen_ms, last_seen_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (site) DO UPDATE SET last_seen_ms = excluded.last_seen_ms \
             WHERE sites.last_seen_ms < excluded.last_seen_ms",
        )
        .bind(site)
        .bind(rx)
        .bind(rx)
        .execute(&mut *tx)
        .await?;
        match &record.body {
            Body::Heartbeat(h) => {
                sqlx::query(
                    "UPDATE sites SET hb_at_ms = $1, version = $2, config_hash = $3, uptime_s = $4, \
                     spool_depth = $5, outbox_depth = $6, outbox_dropped = $7, bus = $8 \
                     WHERE site = $9 AND (hb_at_ms IS NULL OR hb_at_ms < $10)",
                )
                .bind(at)
                .bind(h.version.as_str())
                .bind(hex::encode(h.config_hash.0))
                .bind(clamp(h.uptime_s))
                .bind(clamp(h.spool_depth))
                .bind(clamp(h.outbox_depth))
                .bind(clamp(h.outbox_dropped))
                .bind(json_name(&h.bus))
                .bind(site)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if policy.is_fresh(at, rx) {
                    sqlx::query(
                        "UPDATE sites SET last_fresh_hb_ms = $1 \
                         WHERE site = $2 AND (last_fresh_hb_ms IS NULL OR last_fresh_hb_ms < $3)",
                    )
                    .bind(rx)
                    .bind(site)
                    .bind(rx)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            Body::Health(h) => {
                let newer = sqlx::query(
                    "UPDATE sites SET health_at_ms = $1 \
                     WHERE site = $2 AND (health_at_ms IS NULL OR health_at_ms < $3)",
                )
                .bind(at)
                .bind(site)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if newer > 0 {
                    for i in &h.instruments {
                        sqlx::query(
                            "INSERT INTO instruments (site, instrument, health_at_ms, protocol, state, \
                             last_message_age_s, naks, retransmits, checksum_errors, reconnects, timeouts) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                             ON CONFLICT (site, instrument) DO UPDATE SET health_at_ms = excluded.health_at_ms, \
                             protocol = excluded.protocol, state = excluded.state, \
                             last_message_age_s = excluded.last_message_age_s, naks = excluded.naks, \
                             retransmits = excluded.retransmits, checksum_errors = excluded.checksum_errors, \
                             reconnects = excluded.reconnects, timeouts = excluded.timeouts \
                             WHERE instruments.health_at_ms < excluded.health_at_ms",
                        )
                        .bind(site)
                        .bind(i.instrument.as_str())
                        .bind(at)
                        .bind(json_name(&i.protocol))
                        .bind(json_name(&i.state))
                        .bind(i.last_message_age_s.map(clamp))
                        .bind(clamp(i.link.naks))
                        .bind(clamp(i.link.retransmits))
                        .bind(clamp(i.link.checksum_errors))
                        .bind(clamp(i.link.reconnects))
                        .bind(clamp(i.link.timeouts))
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            Body::Alert(a) => {
                let (condition, open) = fleet::alert_condition(a);
                sqlx::query(
                    "INSERT INTO alerts (site, condition, instrument, is_open, alert, severity, value, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (site, condition, instrument) DO UPDATE SET is_open = excluded.is_open, \
                     alert = excluded.alert, severity = excluded.severity, value = excluded.value, \
                     at_ms = excluded.at_ms WHERE alerts.at_ms < excluded.at_ms",
                )
                .bind(site)
                .bind(condition)
                .bind(a.instrument.as_ref().map_or("", |i| i.as_str()))
                .bind(i64::from(open))
                .bind(json_name(&a.alert))
                .bind(json_name(&a.severity))
                .bind(a.value)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            Body::Qc(_) | Body::Volume(_) => {}
        }
        tx.commit().await?;
        Ok(Stored::New)
    }

    /// Deletes records made before `cutoff` and closed alerts older than it; returns the
    /// number of records deleted.
    pub async fn prune(&self, cutoff: jiff::Timestamp) -> Result<u64, StoreError> {
        let c = millis(cutoff);
        let n = sqlx::query("DELETE FROM records WHERE at_ms < $1")
            .bind(c)
            .execute(&self.pool)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM alerts WHERE is_open = 0 AND at_ms < $1")
            .bind(c)
            .execute(&self.pool)
            .await?;
        Ok(n)
    }

    /// Number of stored records.
    pub async fn record_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM records")
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>("n")?)
    }

    /// Every site's stored facts (`site = None`) or one site's.
    pub async fn sites(&self, site: Option<&str>) -> Result<Vec<SiteRow>, StoreError> {
        let (sites, instruments, alerts) = match site {
            None => (
                sqlx::query(concat!(sql_sites!(), " ORDER BY site"))
                    .fetch_all(&self.pool)
                    .await?,
                sqlx::query(concat!(sql_instruments!(), " ORDER BY i.instrument"))
                    .fetch_all(&self.pool)
                    .await?,
                sqlx::query(concat!(sql_alerts!(), " ORDER BY at_ms"))
                    .fetch_all(&self.pool)
                    .await?,
            ),
            Some(s) => (
                sqlx::query(concat!(sql_sites!(), " WHERE site = $1"))
                    .bind(s)
                    .fetch_all(&self.pool)
                    .await?,
                sqlx::query(concat!(
                    sql_instruments!(),
                    " WHERE i.site = $1 ORDER BY i.instrument"
                ))
                .bind(s)
                .fetch_all(&self.pool)
                .await?,
                sqlx::query(concat!(sql_alerts!(), " AND site = $1 ORDER BY at_ms"))
                    .bind(s)
                    .fetch_all(&self.pool)
                    .await?,
            ),
        };
        let mut out = Vec::with_capacity(sites.len());
        for r in &sites {
            out.push(SiteRow {
                site: r.try_get("site")?,
                last_seen_ms: r.try_get("last_seen_ms")?,
                last_fresh_hb_ms: r.try_get("last_fresh_hb_ms")?,
                hb_at_ms: r.try_get("hb_at_ms")?,
                version: r.try_get("version")?,
                config_hash: r.try_get("config_hash")?,
                uptime_s: r.try_get("uptime_s")?,
                spool_depth: r.try_get("spool_depth")?,
                outbox_depth: r.try_get("outbox_depth")?,
                outbox_dropped: r.try_get("outbox_dropped")?,
                bus: r.try_get("bus")?,
                health_at_ms: r.try_get("health_at_ms")?,
                instruments: Vec::new(),
                alerts: Vec::new(),
            });
        }
        for r in &instruments {
            let row = instrument_row(r)?;
            if let Some(s) = out.iter_mut().find(|s| s.site == row.0) {
                s.instruments.push(row.1);
            }
        }
        for r in &alerts {
            let site: String = r.try_get("site")?;
            let row = AlertRow {
                condition: r.try_get("condition")?,
                instrument: r.try_get("instrument")?,
                alert: r.try_get("alert")?,
                severity: r.try_get("severity")?,
                value: r.try_get("value")?,
                at_ms: r.try_get("at_ms")?,
            };
            if let Some(s) = out.iter_mut().find(|s| s.site == site) {
                s.alerts.push(row);
            }
        }
        Ok(out)
    }

    /// A site's QC summaries made at or after `since`, oldest first (at most
    /// [`crate::limits::QC_POINTS_PER_PAGE`], the newest ones).
    pub async fn qc_records(
        &self,
        site: &str,
        since: jiff::Timestamp,
    ) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM records WHERE site = $1 AND kind = 'qc' AND at_ms >= $2 \
             ORDER BY at_ms DESC LIMIT $3",
        )
        .bind(site)
        .bind(millis(since))
        .bind(crate::limits::QC_POINTS_PER_PAGE)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows.iter().rev() {
            let body: String = r.try_get("body")?;
            // Stored bodies were written from typed records; one that no longer parses (a
            // schema change) is skipped rather than failing the page.
            if let Ok(record) = Record::from_json(body.as_bytes()) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn instrument_row(r: &AnyRow) -> Result<(String, InstrumentRow), sqlx::Error> {
    Ok((
        r.try_get("site")?,
        InstrumentRow {
            instrument: r.try_get("instrument")?,
            health_at_ms: r.try_get("health_at_ms")?,
            protocol: r.try_get("protocol")?,
            state: r.try_get("state")?,
            last_message_age_s: r.try_get("last_message_age_s")?,
            naks: r.try_get("naks")?,
            retransmits: r.try_get("retransmits")?,
            checksum_errors: r.try_get("checksum_errors")?,
            reconnects: r.try_get("reconnects")?,
            timeouts: r.try_get("timeouts")?,
        },
    ))
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The serde name of a closed enum (`"up"`, `"astm"`, `"instrument_down"`).
fn json_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A site's stored facts.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRow {
    /// Site id.
    pub site: String,
    /// When the hub last received anything from it.
    pub last_seen_ms: i64,
    /// When the hub last received a fresh heartbeat.
    pub last_fresh_hb_ms: Option<i64>,
    /// `at` of the newest heartbeat.
    pub hb_at_ms: Option<i64>,
    /// labwire version from the newest heartbeat.
    pub version: Option<String>,
    /// Config hash from the newest heartbeat.
    pub config_hash: Option<String>,
    /// Uptime from the newest heartbeat.
    pub uptime_s: Option<i64>,
    /// Spool depth from the newest heartbeat.
    pub spool_depth: Option<i64>,
    /// Outbox depth from the newest heartbeat.
    pub outbox_depth: Option<i64>,
    /// Outbox drops from the newest heartbeat.
    pub outbox_dropped: Option<i64>,
    /// Bus state from the newest heartbeat.
    pub bus: Option<String>,
    /// `at` of the newest health report.
    pub health_at_ms: Option<i64>,
    /// Instruments of the newest health report.
    pub instruments: Vec<InstrumentRow>,
    /// Open alerts, oldest first.
    pub alerts: Vec<AlertRow>,
}

/// One instrument of a site's newest health report.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentRow {
    /// Instrument id.
    pub instrument: String,
    /// `at` of the report.
    pub health_at_ms: i64,
    /// Protocol.
    pub protocol: String,
    /// Reported state.
    pub state: String,
    /// Seconds since its last message when reported.
    pub last_message_age_s: Option<i64>,
    /// NAKs.
    pub naks: i64,
    /// Retransmits.
    pub retransmits: i64,
    /// Checksum errors.
    pub checksum_errors: i64,
    /// Reconnects.
    pub reconnects: i64,
    /// Timeouts.
    pub timeouts: i64,
}

/// An open alert condition.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// The condition (`instrument_down`, `device_alarm`, …).
    pub condition: String,
    /// Instrument id, or empty for the site.
    pub instrument: String,
    /// The alert kind that opened it.
    pub alert: String,
    /// Its severity.
    pub severity: String,
    /// Its value.
    pub value: Option<i64>,
    /// When it was raised (the alert's `at`).
    pub at_ms: i64,
}
