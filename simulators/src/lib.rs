//! labwire instrument simulators.
