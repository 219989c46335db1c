//! Coalescing reads: neighbouring points of one table become one request, within the spec's
//! per-request limits (125 registers, MB AP §6.3/§6.4; 2000 bits, §6.1/§6.2) and bridging at
//! most a small gap of unnamed addresses. Some devices refuse to read addresses that hold
//! nothing ("illegal data address", exception 02): the caller then [`ReadBlock::split`]s the
//! block into one read per point and keeps polling.

use crate::limits::{MAX_READ_BITS, MAX_READ_REGISTERS};
use crate::profile::{Point, Table};

/// One read request covering one or more points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBlock {
    /// The table read.
    pub table: Table,
    /// First address read.
    pub start: u16,
    /// Registers or bits read.
    pub count: u16,
    /// Indices (into the profile's points) of the points this read covers.
    pub points: Vec<usize>,
}

impl ReadBlock {
    /// One block per point (after the device refused the coalesced read).
    pub fn split(&self, points: &[Point]) -> Vec<ReadBlock> {
        self.points
            .iter()
            .filter_map(|&i| points.get(i).map(|p| (i, p)))
            .map(|(i, p)| ReadBlock {
                table: p.table,
                start: p.address,
                count: p.value_type.width(),
                points: vec![i],
            })
            .collect()
    }

    /// Where point `p` starts inside the data this block returns.
    pub fn offset_of(&self, p: &Point) -> usize {
        usize::from(p.address.saturating_sub(self.start))
    }
}

/// Plans the reads for the points at `indices` (into `points`): sorted by table and address,
/// neighbours merged while the request stays within the table's limit and the gap between
/// them is at most `max_gap`.
pub fn plan_reads(points: &[Point], indices: &[usize], max_gap: u16) -> Vec<ReadBlock> {
    let mut order: Vec<(usize, &Point)> = indices
        .iter()
        .filter_map(|&i| points.get(i).map(|p| (i, p)))
        .collect();
    order.sort_by_key(|(_, p)| (p.table, p.address));
    let mut blocks: Vec<ReadBlock> = Vec::new();
    for (i, p) in order {
        let limit = u32::from(if p.table.is_bits() {
            MAX_READ_BITS
        } else {
            MAX_READ_REGISTERS
        });
        if let Some(b) = blocks.last_mut()
            && b.table == p.table
        {
            let end = u32::from(b.start) + u32::from(b.count);
            let gap = u32::from(p.address).saturating_sub(end);
            let new_end = end.max(p.end());
            if gap <= u32::from(max_gap) && new_end - u32::from(b.start) <= limit {
                b.count = u16::try_from(new_end - u32::from(b.start)).unwrap_or(b.count);
                b.points.push(i);
                continue;
            }
        }
        blocks.push(ReadBlock {
            table: p.table,
            start: p.address,
            count: p.value_type.width(),
            points: vec![i],
        });
    }
    blocks
}
