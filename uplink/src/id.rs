//! Content ids: the same summary re-sent carries the same id, so the hub drops duplicates.
//!
//! The id is the hex of the first 16 bytes of SHA-256 over the record's JSON with an empty id.
//! It depends only on what the record says (site, kind, time, fields), never on a counter or a
//! random value, and nothing from an instrument message goes into it except through the typed
//! fields already in the record.

use crate::code::SiteRef;
use crate::record::{Body, Record, SCHEMA};
use sha2::{Digest, Sha256};

/// Bytes of the digest kept in the id (32 hex digits).
const ID_BYTES: usize = 16;

/// Builds a record and computes its content id.
pub fn seal(site: &SiteRef, at: jiff::Timestamp, body: Body) -> Record {
    let mut record = Record {
        schema: SCHEMA,
        site: site.clone(),
        id: String::new(),
        at,
        body,
    };
    let digest = Sha256::digest(record.to_json());
    record.id = hex::encode(digest.get(..ID_BYTES).unwrap_or(digest.as_slice()));
    record
}
