//! Encoding characters, read from MSH-1 and MSH-2 (HL7 v2.5 §2.5.4, v2.7 §2.5.4 for the
//! truncation character).

use super::ParseError;

/// The delimiters of one message, taken from its own MSH-1 and MSH-2.
///
/// Defaults are `|`, `^`, `~`, `\`, `&`. A sender may choose other characters; the parser uses
/// whatever the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delimiters {
    /// Field separator (MSH-1), normally `|`.
    pub field: u8,
    /// Component separator (MSH-2 char 1), normally `^`.
    pub component: u8,
    /// Repetition separator (MSH-2 char 2), normally `~`.
    pub repetition: u8,
    /// Escape character (MSH-2 char 3), normally `\`; `None` when the sender left it out.
    pub escape: Option<u8>,
    /// Subcomponent separator (MSH-2 char 4), normally `&`; `None` when absent.
    pub subcomponent: Option<u8>,
    /// Truncation character (MSH-2 char 5, HL7 v2.7+), normally `#`; `None` before v2.7.
    pub truncation: Option<u8>,
}

impl Default for Delimiters {
    fn default() -> Self {
        Self {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: Some(b'\\'),
            subcomponent: Some(b'&'),
            truncation: None,
        }
    }
}

fn usable(b: u8) -> bool {
    b.is_ascii_graphic() && !b.is_ascii_alphanumeric()
}

impl Delimiters {
    /// Reads the delimiters from the field separator and the MSH-2 bytes.
    ///
    /// MSH-2 holds 1–5 characters in the order component, repetition, escape, subcomponent,
    /// truncation. A 3-character MSH-2 ending in `&` (seen in real traffic: `^~&`) is read as
    /// component, repetition, subcomponent with no escape character. Characters must be
    /// printable, non-alphanumeric and all different. `offset` is where MSH-2 starts, for errors.
    pub fn from_header(field: u8, msh2: &[u8], offset: usize) -> Result<Self, ParseError> {
        let bad = |reason: &'static str| ParseError::BadEncodingCharacters { offset, reason };
        if !usable(field) {
            return Err(bad(
                "field separator is not a printable non-alphanumeric character",
            ));
        }
        if msh2.is_empty() || msh2.len() > 5 {
            return Err(bad("MSH-2 must hold 1 to 5 encoding characters"));
        }
        for (i, b) in msh2.iter().enumerate() {
            if !usable(*b) || *b == field || msh2.get(..i).is_some_and(|p| p.contains(b)) {
                return Err(bad(
                    "encoding characters must be distinct printable punctuation",
                ));
            }
        }
        let at = |i: usize| msh2.get(i).copied();
        let mut d = Self {
            field,
            component: at(0).unwrap_or(b'^'),
            repetition: at(1).unwrap_or(b'~'),
            escape: at(2),
            subcomponent: at(3),
            truncation: at(4),
        };
        if msh2.len() == 3 && at(2) == Some(b'&') {
            d.escape = None;
            d.subcomponent = Some(b'&');
        }
        if msh2.len() == 1 {
            d.repetition = 0;
        }
        Ok(d)
    }

    /// The MSH-2 text for these delimiters (as written by the encoder).
    pub fn encoding_characters(&self) -> Vec<u8> {
        let mut v = vec![self.component, self.repetition];
        match (self.escape, self.subcomponent) {
            (Some(e), Some(s)) => {
                v.push(e);
                v.push(s);
                if let Some(t) = self.truncation {
                    v.push(t);
                }
            }
            (Some(e), None) => v.push(e),
            (None, Some(s)) => v.push(s),
            (None, None) => {}
        }
        v
    }

    /// The same delimiters with the missing ones (repetition, escape, subcomponent) filled with
    /// the defaults `~`, `\`, `&`; the full default set when a default is already taken. Used
    /// for replies, which must be able to escape values.
    pub fn completed(self) -> Self {
        let mut d = self;
        let fill = |slot: &mut Option<u8>, default: u8, d_now: &Self| -> bool {
            if slot.is_some() {
                return true;
            }
            if d_now.is_special(default) {
                return false;
            }
            *slot = Some(default);
            true
        };
        let mut rep = (d.repetition != 0).then_some(d.repetition);
        let ok = fill(&mut rep, b'~', &d);
        d.repetition = rep.unwrap_or(b'~');
        let mut esc = d.escape;
        let ok = ok && fill(&mut esc, b'\\', &d);
        d.escape = esc;
        let mut sub = d.subcomponent;
        let ok = ok && fill(&mut sub, b'&', &d);
        d.subcomponent = sub;
        if ok && Some(d.repetition) != d.escape {
            d
        } else {
            Self::default()
        }
    }

    /// True when `b` is one of this message's delimiter or escape characters.
    pub fn is_special(&self, b: u8) -> bool {
        b == self.field
            || b == self.component
            || (b == self.repetition && self.repetition != 0)
            || Some(b) == self.escape
            || Some(b) == self.subcomponent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_custom() {
        let d = Delimiters::from_header(b'|', b"^~\\&", 4).unwrap();
        assert_eq!(d, Delimiters::default());
        let d = Delimiters::from_header(b'#', b"$%*!", 4).unwrap();
        assert_eq!(
            (d.component, d.repetition, d.escape, d.subcomponent),
            (b'$', b'%', Some(b'*'), Some(b'!'))
        );
    }

    #[test]
    fn three_char_msh2_has_no_escape() {
        let d = Delimiters::from_header(b'|', b"^~&", 4).unwrap();
        assert_eq!(d.escape, None);
        assert_eq!(d.subcomponent, Some(b'&'));
        assert_eq!(d.encoding_characters(), b"^~&");
    }

    #[test]
    fn completed_fills_missing_characters() {
        let d = Delimiters::from_header(b'|', b"^~&", 4)
            .unwrap()
            .completed();
        assert_eq!(d, Delimiters::default());
        let d = Delimiters::from_header(b'|', b"^", 4).unwrap().completed();
        assert_eq!(d.encoding_characters(), b"^~\\&");
        let d = Delimiters::from_header(b'|', b"~", 4).unwrap().completed();
        assert_eq!(
            d,
            Delimiters::default(),
            "~ is taken by the component separator"
        );
        let d = Delimiters::from_header(b'#', b"$%*!", 4).unwrap();
        assert_eq!(d.completed(), d);
    }

    #[test]
    fn truncation_character() {
        let d = Delimiters::from_header(b'|', b"^~\\&#", 4).unwrap();
        assert_eq!(d.truncation, Some(b'#'));
        assert_eq!(d.encoding_characters(), b"^~\\&#");
    }

    #[test]
    fn rejects_duplicates_letters_and_empty() {
        for bad in [&b"^^\\&"[..], b"", b"^~\\&#!", b"A~\\&", b"^|\\&"] {
            assert!(Delimiters::from_header(b'|', bad, 4).is_err(), "{bad:?}");
        }
        assert!(Delimiters::from_header(b'A', b"^~\\&", 4).is_err());
    }
}
