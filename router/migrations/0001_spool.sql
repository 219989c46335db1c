-- Events waiting for the bus, in arrival order. A row is deleted only after JetStream acked it.
CREATE TABLE IF NOT EXISTS spool (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- arrival order, never reused
    id         TEXT    NOT NULL UNIQUE,           -- event id = Nats-Msg-Id on replay
    subject    TEXT    NOT NULL,                  -- lab.<site>.<instrument>.<kind>
    payload    BLOB    NOT NULL,                  -- the event JSON, exactly as published
    created_at INTEGER NOT NULL                   -- unix milliseconds when spooled
);
