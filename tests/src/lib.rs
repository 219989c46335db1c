//! Test harness: real `nats-server` and `mosquitto` processes on free loopback ports in temp dirs.
//!
//! Integration tests in this workspace run against the real brokers, never mocks:
//!
//! - [`NatsServer::start`] spawns `nats-server` with JetStream on `127.0.0.1`, on a port the
//!   server picks and reports itself (labwire's one supervisor, `labwire-local-nats`: no
//!   bind-then-release race), its store in a temp dir, and waits until it accepts connections. [`NatsServer::kill`],
//!   [`NatsServer::stop`] and [`NatsServer::restart`] drive fault tests; the store dir and port
//!   survive a restart, so JetStream state does too.
//! - [`Mosquitto::start`] does the same for an MQTT broker with a generated config file.
//! - [`Postgres::start`] runs `initdb` and `pg_ctl start` (Debian's `postgresql`) in a temp dir
//!   on a free port, as `nobody` through `runuser` when the tests run as root.
//!
//! All of them stop their child process on `Drop`, so a failing test leaves nothing running. The
//! binaries are looked up in an environment variable first (`LABWIRE_NATS_SERVER`,
//! `MOSQUITTO_BIN`), then on `PATH`, then in `/usr/sbin` and `/usr/local/bin`; when missing, start
//! fails with a message saying how to install them (tests never skip silently).

mod binary;
mod mosquitto;
mod nats;
mod ports;
mod postgres;
mod process;

pub use binary::{HarnessError, find_binary};
pub use mosquitto::Mosquitto;
pub use nats::NatsServer;
pub use ports::free_loopback_port;
pub use postgres::{POSTGRES_USER, Postgres};
