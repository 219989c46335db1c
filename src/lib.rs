//! labwire as a library: run a whole site from its configuration.
//!
//! [`Site`] is what `labwire run` runs: the router (bus, spool, ingest gate, drain), the
//! `/metrics`, `/healthz` and `/readyz` endpoint and one connector per enabled instrument, stopped
//! gracefully when a cancellation token fires. A site binary of your own starts from here
//! (docs/adding-a-connector.md); connectors themselves live in `labwire-connectors`.

pub mod site;

pub use site::{Site, SiteError};
