-- The hub's schema: portable SQL that SQLite and PostgreSQL both run unchanged.
-- Times are milliseconds since the Unix epoch (UTC); `at_ms` is when the site made a record,
-- `received_ms` when the hub stored it.

-- Every valid record once (the content id dedupes resends), re-serialised from its typed form.
CREATE TABLE records (
    id          TEXT PRIMARY KEY,
    site        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at_ms       BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX records_site_kind_at ON records (site, kind, at_ms);
CREATE INDEX records_at ON records (at_ms);

-- One row per site: the newest heartbeat's facts and liveness times.
CREATE TABLE sites (
    site             TEXT PRIMARY KEY,
    first_seen_ms    BIGINT NOT NULL,
    last_seen_ms     BIGINT NOT NULL,
    last_fresh_hb_ms BIGINT,
    hb_at_ms         BIGINT,
    version          TEXT,
    config_hash      TEXT,
    uptime_s         BIGINT,
    spool_depth      BIGINT,
    outbox_depth     BIGINT,
    outbox_dropped   BIGINT,
    bus              TEXT,
    health_at_ms     BIGINT
);

-- The newest health report per instrument.
CREATE TABLE instruments (
    site               TEXT NOT NULL,
    instrument         TEXT NOT NULL,
    health_at_ms       BIGINT NOT NULL,
    protocol           TEXT NOT NULL,
    state              TEXT NOT NULL,
    last_message_age_s BIGINT,
    naks               BIGINT NOT NULL,
    retransmits        BIGINT NOT NULL,
    checksum_errors    BIGINT NOT NULL,
    reconnects         BIGINT NOT NULL,
    timeouts           BIGINT NOT NULL,
    PRIMARY KEY (site, instrument)
);

-- One row per alert condition (site, condition, instrument or ''): the newest alert decides.
CREATE TABLE alerts (
    site       TEXT NOT NULL,
    condition  TEXT NOT NULL,
    instrument TEXT NOT NULL,
    is_open    BIGINT NOT NULL,
    alert      TEXT NOT NULL,
    severity   TEXT NOT NULL,
    value      BIGINT,
    at_ms      BIGINT NOT NULL,
    PRIMARY KEY (site, condition, instrument)
);
