//! Field values to event text (shared conventions §3): unescaped, decoded with the message's
//! charset, trimmed; empty becomes `None` (a mapping never invents values).

use crate::charset::AstmCharset;
use crate::record::{Delimiters, Field};

/// How to turn the bytes of one message into text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text {
    pub(crate) charset: AstmCharset,
    pub(crate) delims: Delimiters,
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl Text {
    fn decode(&self, bytes: &[u8]) -> String {
        self.charset.decode_lossy(bytes).into_owned()
    }

    /// The whole field unescaped (repeat/component delimiters kept as sent), trimmed.
    pub(crate) fn plain(&self, field: Option<Field<'_>>) -> Option<String> {
        non_empty(&self.decode(&field?.unescaped()))
    }

    /// Component `n` (1-based, first repeat), unescaped and trimmed.
    pub(crate) fn component(&self, field: Option<Field<'_>>, n: usize) -> Option<String> {
        non_empty(&self.decode(&field?.component(n)?.unescaped()))
    }

    /// The first non-empty component of the first repeat.
    pub(crate) fn first_component(&self, field: Option<Field<'_>>) -> Option<String> {
        field?
            .components()
            .find_map(|c| non_empty(&self.decode(&c.unescaped())))
    }

    /// The components of the first repeat that are not empty, joined by `sep`.
    pub(crate) fn joined(&self, field: Field<'_>, sep: &str) -> Option<String> {
        let parts: Vec<String> = field
            .components()
            .filter_map(|c| non_empty(&self.decode(&c.unescaped())))
            .collect();
        (!parts.is_empty()).then(|| parts.join(sep))
    }

    /// A value (R-4 rules): every repeat's components unescaped, trailing empty components and
    /// repeats dropped, the rest joined with the message's own delimiters, trimmed.
    pub(crate) fn value(&self, field: Option<Field<'_>>) -> Option<String> {
        let field = field?;
        let comp = char::from(self.delims.component).to_string();
        let mut repeats: Vec<String> = field
            .repeats()
            .map(|r| {
                let mut parts: Vec<String> = r
                    .components()
                    .map(|c| self.decode(&c.unescaped()))
                    .collect();
                while parts.last().is_some_and(|p| p.trim().is_empty()) {
                    parts.pop();
                }
                parts.join(&comp)
            })
            .collect();
        while repeats.last().is_some_and(|r| r.trim().is_empty()) {
            repeats.pop();
        }
        non_empty(&repeats.join(&char::from(self.delims.repeat).to_string()))
    }

    /// A universal test ID's code: the 4th component (manufacturer's code) when present, else
    /// the first non-empty component.
    pub(crate) fn test_code(&self, field: Option<Field<'_>>) -> Option<String> {
        self.component(field, 4)
            .or_else(|| self.first_component(field))
    }

    /// A message time (LIS2-A2 §5.6.2) as ISO 8601, from the first component.
    pub(crate) fn time(&self, field: Option<Field<'_>>) -> Option<String> {
        labwire_event::normalize_message_time(&self.component(field, 1)?)
    }
}
