//! Path access: `PID-3`, `OBX-5`, `OBX-3.1`, `PID-5[2].1`, `PID-3.4.2`, `OBX[2]-5`.
//!
//! Grammar: `SEG[occurrence]-FIELD[repetition].COMPONENT.SUBCOMPONENT`, every number 1-based,
//! everything after the field optional; `.` is also accepted between segment and field
//! (`PID.5.1`). Fields are numbered as in the standard (MSH-1 is the field separator, MSH-2 the
//! encoding characters; HL7 v2.5 §2.14.9).

use super::{Message, Value};

/// A parsed path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    /// Segment name (3 ASCII letters or digits).
    pub segment: [u8; 3],
    /// Which occurrence of the segment (1-based; default 1).
    pub occurrence: usize,
    /// Field number (1-based).
    pub field: usize,
    /// Repetition (1-based); `None` means the whole field.
    pub repetition: Option<usize>,
    /// Component (1-based).
    pub component: Option<usize>,
    /// Subcomponent (1-based); only with a component.
    pub subcomponent: Option<usize>,
}

/// A path that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad path {path:?} at character {position}: {reason}")]
pub struct PathError {
    /// The path as given (truncated to 64 characters).
    pub path: String,
    /// Character position of the problem.
    pub position: usize,
    /// What was expected.
    pub reason: &'static str,
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
    path: &'a str,
}

impl Cursor<'_> {
    fn err(&self, reason: &'static str) -> PathError {
        PathError {
            path: self.path.chars().take(64).collect(),
            position: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn number(&mut self) -> Result<usize, PathError> {
        let start = self.pos;
        let mut n = 0usize;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(d - b'0')))
                .filter(|n| *n <= 100_000)
                .ok_or_else(|| self.err("number too large"))?;
            self.pos += 1;
        }
        if self.pos == start || n == 0 {
            return Err(self.err("expected a number from 1"));
        }
        Ok(n)
    }

    fn bracket(&mut self) -> Result<Option<usize>, PathError> {
        if !self.eat(b'[') {
            return Ok(None);
        }
        let n = self.number()?;
        if !self.eat(b']') {
            return Err(self.err("expected ']'"));
        }
        Ok(Some(n))
    }
}

impl Path {
    /// Parses a path string.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        let mut c = Cursor {
            s: path.as_bytes(),
            pos: 0,
            path,
        };
        let name =
            c.s.get(..3)
                .ok_or_else(|| c.err("expected a 3-character segment name"))?;
        let mut segment = [0u8; 3];
        for (dst, src) in segment.iter_mut().zip(name) {
            if !src.is_ascii_alphanumeric() {
                return Err(c.err("segment name must be letters and digits"));
            }
            *dst = src.to_ascii_uppercase();
        }
        c.pos = 3;
        let occurrence = c.bracket()?.unwrap_or(1);
        if !(c.eat(b'-') || c.eat(b'.')) {
            return Err(c.err("expected '-' then a field number"));
        }
        let field = c.number()?;
        let repetition = c.bracket()?;
        let component = if c.eat(b'.') { Some(c.number()?) } else { None };
        let subcomponent = if component.is_some() && c.eat(b'.') {
            Some(c.number()?)
        } else {
            None
        };
        if c.peek().is_some() {
            return Err(c.err("unexpected text after the path"));
        }
        Ok(Self {
            segment,
            occurrence,
            field,
            repetition,
            component,
            subcomponent,
        })
    }

    /// Looks the path up in a message. `None` when the segment, field or part is not present.
    pub fn get<'m>(&self, msg: &Message<'m>) -> Option<Value<'m>> {
        let seg = msg.segments_named(&self.segment).nth(self.occurrence - 1)?;
        let mut v = seg.field(self.field)?;
        if let Some(r) = self.repetition {
            v = v.repetition(r)?;
        }
        if let Some(c) = self.component {
            v = v.component(c)?;
        }
        if let Some(s) = self.subcomponent {
            v = v.subcomponent(s)?;
        }
        Some(v)
    }
}

impl<'m> Message<'m> {
    /// The value at `path` (see [`Path`]); `Ok(None)` when it is not present.
    pub fn get(&self, path: &str) -> Result<Option<Value<'m>>, PathError> {
        Ok(Path::parse(path)?.get(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let p = Path::parse("PID-5[2].1.3").unwrap();
        assert_eq!(p.segment, *b"PID");
        assert_eq!(
            (
                p.occurrence,
                p.field,
                p.repetition,
                p.component,
                p.subcomponent
            ),
            (1, 5, Some(2), Some(1), Some(3))
        );
        let p = Path::parse("obx[3]-5").unwrap();
        assert_eq!((p.segment, p.occurrence, p.field), (*b"OBX", 3, 5));
        assert_eq!(Path::parse("PID.5.1").unwrap().component, Some(1));
        for bad in [
            "",
            "PI",
            "PID",
            "PID-",
            "PID-0",
            "PID-5[",
            "PID-5[0]",
            "PID-5.x",
            "P D-1",
            "PID-99999999999999999999",
            "PID-1 ",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }
}
