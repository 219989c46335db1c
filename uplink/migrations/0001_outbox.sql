-- Telemetry records waiting for the hub. A row is deleted only after the broker's PUBACK,
-- or dropped (and counted) when the outbox is over its byte or age limit.
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- arrival order, never reused
    id         TEXT    NOT NULL UNIQUE,           -- the record's content id (hub-side dedupe)
    lane       INTEGER NOT NULL,                  -- 0 alert, 1 heartbeat/health, 2 qc, 3 volume
    topic      TEXT    NOT NULL,                  -- labwire/<site>/<kind>
    payload    BLOB    NOT NULL,                  -- the record JSON, exactly as published
    created_at INTEGER NOT NULL                   -- unix milliseconds when stored
);
CREATE INDEX IF NOT EXISTS outbox_by_lane ON outbox (lane, seq);
