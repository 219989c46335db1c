//! Small-cell suppression of result counts (CMS cell-suppression policy: no cell of 1–10, and
//! no cell derivable from the others; see `deid-security.md` §4.4).
//!
//! Per instrument, each test's count in the period is a cell and the instrument's total is
//! published next to them. The rules:
//! 1. A count of 1 to `min_cell − 1` is suppressed (primary suppression). Zero is published.
//! 2. A total below `min_cell` (and above 0) is suppressed, and with it every non-zero cell.
//! 3. Complementary suppression: while the suppressed cells of a published total are fewer than
//!    two, add up to less than `min_cell`, or leave no slack (their sum equals their number, so
//!    each would have to be 1), the smallest published non-zero cell is suppressed too; when
//!    none is left, the total is suppressed.
//!
//! So `total − Σ published` never pins a suppressed cell down: at least two cells share it,
//! and every one of them has at least two values consistent with what was published.
//! Nothing else is published about a period (no site total, no percentages, no min/max), and a
//! period's counts are built once, when it closes.

use serde::{Deserialize, Serialize};

/// The default minimum cell size (CMS: cells 1–10 are suppressed).
pub const DEFAULT_MIN_CELL: u64 = 11;
/// The smallest minimum cell size the configuration may set.
pub const MIN_CELL_FLOOR: u64 = 5;

/// A published count, or the marker that it was suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// The count (0 or ≥ the minimum cell size).
    Count(u64),
    /// Suppressed.
    Suppressed,
}

impl Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Count(n) => s.serialize_u64(*n),
            Self::Suppressed => s.serialize_str("suppressed"),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    /// A non-negative integer or the string `"suppressed"`, the forms [`Serialize`] writes.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Cell;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a count or \"suppressed\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cell, E> {
                Ok(Cell::Count(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cell, E> {
                if v == "suppressed" {
                    Ok(Cell::Suppressed)
                } else {
                    Err(E::custom("a cell is a count or \"suppressed\""))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The published form of one instrument's counts: its total and one cell per input count,
/// in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The total.
    pub total: Cell,
    /// The cells.
    pub cells: Vec<Cell>,
}

/// Applies primary and complementary suppression to `counts` with `min_cell`.
pub fn suppress(counts: &[u64], min_cell: u64) -> Suppressed {
    let total: u64 = counts.iter().sum();
    let mut hidden: Vec<bool> = counts.iter().map(|&c| c > 0 && c < min_cell).collect();
    let mut total_hidden = total > 0 && total < min_cell;
    if total_hidden {
        hidden = counts.iter().map(|&c| c > 0).collect();
    } else if hidden.iter().any(|h| *h) {
        loop {
            let (n, sum) = counts
                .iter()
                .zip(&hidden)
                .filter(|(_, h)| **h)
                .fold((0u64, 0u64), |(n, s), (c, _)| (n + 1, s + c));
            if n >= 2 && sum >= min_cell && sum > n {
                break;
            }
            // The smallest published non-zero cell joins the suppressed ones.
            let next = counts
                .iter()
                .enumerate()
                .filter(|(i, c)| **c > 0 && !hidden.get(*i).copied().unwrap_or(true))
                .min_by_key(|(_, c)| **c)
                .map(|(i, _)| i);
            match next.and_then(|i| hidden.get_mut(i)) {
                Some(h) => *h = true,
                None => {
                    total_hidden = true;
                    break;
                }
            }
        }
    }
    Suppressed {
        total: if total_hidden {
            Cell::Suppressed
        } else {
            Cell::Count(total)
        },
        cells: counts
            .iter()
            .zip(&hidden)
            .map(|(&c, &h)| if h { Cell::Suppressed } else { Cell::Count(c) })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::Cell::{Count, Suppressed as S};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_cell_of_ten_is_suppressed_with_a_complement() {
        let out = suppress(&[10, 40, 25], 11);
        assert_eq!(out.total, Count(75));
        // 10 alone would be 75 − 40 − 25: the smallest other cell (25) goes too.
        assert_eq!(out.cells, vec![S, Count(40), S]);
    }

    #[test]
    fn eleven_and_zero_are_published() {
        let out = suppress(&[11, 0, 30], 11);
        assert_eq!(out.total, Count(41));
        assert_eq!(out.cells, vec![Count(11), Count(0), Count(30)]);
    }

    #[test]
    fn a_small_total_hides_everything_non_zero() {
        let out = suppress(&[3, 0, 4], 11);
        assert_eq!(out.total, S);
        assert_eq!(out.cells, vec![S, Count(0), S]);
    }

    #[test]
    fn a_lone_small_cell_without_complement_hides_the_total() {
        let out = suppress(&[5, 0], 11);
        assert_eq!(out.total, S);
        assert_eq!(out.cells, vec![S, Count(0)]);
    }

    #[test]
    fn many_ones_are_not_left_without_slack() {
        // Eleven cells of 1 sum to 11 but each would be known to be 1.
        let mut counts = vec![1; 11];
        counts.push(50);
        let out = suppress(&counts, 11);
        assert_eq!(out.total, Count(61));
        assert!(out.cells.iter().all(|c| *c == S));
    }

    /// What an attacker can say about a suppressed cell from the published record alone:
    /// the largest value it could have, if the total is published (the smallest is 1).
    fn largest_possible(out: &Suppressed) -> Option<u64> {
        let Count(total) = out.total else { return None };
        let published: u64 = out
            .cells
            .iter()
            .filter_map(|c| match c {
                Count(n) => Some(*n),
                S => None,
            })
            .sum();
        let hidden = out.cells.iter().filter(|c| **c == S).count() as u64;
        // Every other suppressed cell holds at least 1.
        Some(total - published - (hidden - 1))
    }

    proptest! {
        #[test]
        fn no_small_cell_is_published_or_derivable(
            counts in proptest::collection::vec(prop_oneof![0u64..=12, 0u64..200], 1..12),
            min_cell in 5u64..=15,
        ) {
            let out = suppress(&counts, min_cell);
            prop_assert_eq!(out.cells.len(), counts.len());
            for (c, p) in counts.iter().zip(&out.cells) {
                match p {
                    Count(n) => {
                        prop_assert_eq!(n, c);
                        prop_assert!(*n == 0 || *n >= min_cell, "published small cell {}", n);
                    }
                    S => prop_assert!(*c > 0, "a zero is never suppressed"),
                }
            }
            if let Count(t) = out.total {
                prop_assert!(t == 0 || t >= min_cell);
                prop_assert_eq!(t, counts.iter().sum::<u64>());
            }
            if out.cells.contains(&S)
                && let Some(max) = largest_possible(&out)
            {
                // At least two suppressed cells, and each could be 1 or more than 1:
                // none is pinned down by the total.
                prop_assert!(out.cells.iter().filter(|c| **c == S).count() >= 2);
                prop_assert!(max >= 2, "a suppressed cell is derivable");
            }
        }
    }
}
