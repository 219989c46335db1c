//! labwire router: site configuration, the NATS JetStream bus and the durable-before-ACK ingest gate.
