//! ASTM E1381 (CLSI LIS1-A) link layer and E1394 (CLSI LIS2-A2) records, sans-IO.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod capture;
pub mod link;

pub mod canonical;
pub mod charset;
pub mod record;
