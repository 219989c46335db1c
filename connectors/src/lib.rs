//! labwire connectors: instruments over TCP and RS-232, driving the sans-IO protocol state machines.
