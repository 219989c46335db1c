//! Escape-aware delimiter search (LIS2-A2 §5.7), the hot path of the record parser.
//!
//! A delimiter byte counts as structural unless it sits inside an escape sequence
//! (`&F&`, `&X0D&`, …) or directly follows a lone escape character (Mindray writes a literal `|`
//! as `&|`). Text without escape characters is split with `memchr` alone.

use super::Delimiters;

/// Bytes searched with a plain loop before handing over to a vectorised search: most fields
/// and components are short, and the loop beats the set-up cost of `memchr` on them.
const SHORT: usize = 16;

/// Position of the first `a` in `hay`.
#[inline]
pub(crate) fn find1(hay: &[u8], a: u8) -> Option<usize> {
    let (head, tail) = hay.split_at(hay.len().min(SHORT));
    match head.iter().position(|&x| x == a) {
        Some(i) => Some(i),
        None if tail.is_empty() => None,
        None => memchr::memchr(a, tail).map(|i| i + SHORT),
    }
}

/// Position of the first `a` or `b` in `hay`.
#[inline]
fn find2(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    let (head, tail) = hay.split_at(hay.len().min(SHORT));
    match head.iter().position(|&x| x == a || x == b) {
        Some(i) => Some(i),
        None if tail.is_empty() => None,
        None => memchr::memchr2(a, b, tail).map(|i| i + SHORT),
    }
}

/// Finds the first structural `delim` in `hay`, skipping escape sequences. `plain` says the
/// text is known to hold no escape character (a plain search is then enough).
#[inline]
pub(crate) fn find_delim(hay: &[u8], delim: u8, d: &Delimiters, plain: bool) -> Option<usize> {
    if plain {
        return find1(hay, delim);
    }
    let mut pos = 0;
    loop {
        let rel = find2(hay.get(pos..)?, delim, d.escape)?;
        let i = pos + rel;
        if hay.get(i) == Some(&delim) {
            return Some(i);
        }
        pos = skip_escape(hay, i, d);
    }
}

/// Given an escape character at `i`, returns the position just after what it introduces.
///
/// `&|` (escape + structural delimiter, Mindray) covers two bytes; a complete escape sequence
/// (closing escape found before any structural delimiter) covers up to its closing escape; a
/// lone escape character covers itself only.
#[inline]
pub(crate) fn skip_escape(hay: &[u8], i: usize, d: &Delimiters) -> usize {
    match sequence_end(hay, i, d) {
        Escape::Literal => i + 2,
        Escape::Sequence(close) => close + 1,
        Escape::Lone => i + 1,
    }
}

/// What an escape character at a given position introduces.
pub(crate) enum Escape {
    /// Escape followed by a structural delimiter: that delimiter, literally (Mindray `&|`).
    Literal,
    /// A complete escape sequence whose closing escape character is at this position.
    Sequence(usize),
    /// An escape character without a closing one: kept as text.
    Lone,
}

/// Classifies the escape character at `i`.
#[inline]
pub(crate) fn sequence_end(hay: &[u8], i: usize, d: &Delimiters) -> Escape {
    let Some(after) = hay.get(i + 1..) else {
        return Escape::Lone;
    };
    match after.first() {
        None => Escape::Lone,
        Some(&b) if d.is_structural(b) => Escape::Literal,
        Some(_) => match after
            .iter()
            .position(|&b| b == d.escape || d.is_structural(b))
        {
            Some(j) if after.get(j) == Some(&d.escape) && j > 0 => Escape::Sequence(i + 1 + j),
            _ => Escape::Lone,
        },
    }
}

/// Iterator over the pieces of `hay` between structural `delim`s (escape-aware).
#[derive(Clone)]
pub(crate) struct Split<'a> {
    rest: Option<&'a [u8]>,
    delim: u8,
    delims: Delimiters,
    plain: bool,
}

impl<'a> Split<'a> {
    pub(crate) fn new(hay: &'a [u8], delim: u8, delims: Delimiters, plain: bool) -> Self {
        Self {
            rest: Some(hay),
            delim,
            delims,
            plain,
        }
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let hay = self.rest?;
        match find_delim(hay, self.delim, &self.delims, self.plain) {
            Some(i) => {
                let (piece, rest) = hay.split_at_checked(i)?;
                self.rest = rest.get(1..);
                Some(piece)
            }
            None => {
                self.rest = None;
                Some(hay)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &[u8]) -> Vec<&[u8]> {
        Split::new(s, b'|', Delimiters::default(), false).collect()
    }

    #[test]
    fn plain_and_escaped() {
        assert_eq!(split(b"a|b||c"), vec![&b"a"[..], b"b", b"", b"c"]);
        assert_eq!(split(b"a&F&|b"), vec![&b"a&F&"[..], b"b"]);
        assert_eq!(split(b"x&|y|z"), vec![&b"x&|y"[..], b"z"]);
        assert_eq!(split(b"Tom&Jerry|z"), vec![&b"Tom&Jerry"[..], b"z"]);
        assert_eq!(split(b"a&&|b"), vec![&b"a&&|b"[..]]);
        assert_eq!(split(b"a&"), vec![&b"a&"[..]]);
        assert_eq!(split(b""), vec![&b""[..]]);
    }
}
