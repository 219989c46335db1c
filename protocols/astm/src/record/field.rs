//! Fields, repeats and components of a record (LIS2-A2 §5.4): zero-copy views over the text.

use std::borrow::Cow;

use super::Delimiters;
use super::escape::unescape;
use super::scan::Split;

/// One field (or one repeat of a field) of a record: a view over the message text.
///
/// Component access ([`Field::component`], [`Field::components`]) looks at the first repeat;
/// use [`Field::repeats`] to reach the others.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    raw: &'a [u8],
    delims: Delimiters,
    /// Known to hold no escape character.
    plain: bool,
}

impl<'a> Field<'a> {
    pub(crate) fn new(raw: &'a [u8], delims: Delimiters, plain: bool) -> Self {
        Self { raw, delims, plain }
    }

    /// The bytes as sent (escape sequences and repeat/component delimiters included).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// True when the field is empty (a null field).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The whole field with escape sequences decoded (repeat and component delimiters stay).
    /// Borrows unless the field holds an escape character.
    pub fn unescaped(&self) -> Cow<'a, [u8]> {
        if self.plain {
            return Cow::Borrowed(self.raw);
        }
        unescape(self.raw, &self.delims)
    }

    /// The repeats of the field (one item when the field does not repeat).
    pub fn repeats(&self) -> impl Iterator<Item = Field<'a>> + use<'a> {
        let (delims, plain) = (self.delims, self.plain);
        Split::new(self.raw, delims.repeat, delims, plain)
            .map(move |raw| Field::new(raw, delims, plain))
    }

    /// The components of the first repeat.
    pub fn components(&self) -> impl Iterator<Item = Component<'a>> + use<'a> {
        let (delims, plain) = (self.delims, self.plain);
        let first = Split::new(self.raw, delims.repeat, delims, plain)
            .next()
            .unwrap_or_default();
        Split::new(first, delims.component, delims, plain)
            .map(move |raw| Component(Field::new(raw, delims, plain)))
    }

    /// Component `n` of the first repeat, 1-based as in the standard (`None` for 0 or past the end).
    pub fn component(&self, n: usize) -> Option<Component<'a>> {
        self.components().nth(n.checked_sub(1)?)
    }

    /// The delimiters of the message this field belongs to.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }
}

/// One component of a field: the smallest unit of a record.
///
/// The same view as a [`Field`] (raw bytes, emptiness, unescaping) without the repeat and
/// component accessors, which have no meaning below a component.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Component<'a>(Field<'a>);

impl<'a> Component<'a> {
    /// The bytes as sent (escape sequences included).
    pub fn raw(&self) -> &'a [u8] {
        self.0.raw()
    }

    /// True when the component is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value with escape sequences decoded. Borrows unless it holds an escape character.
    pub fn unescaped(&self) -> Cow<'a, [u8]> {
        self.0.unescaped()
    }
}

// Hand-written Debug: values are patient data and must not reach a log through `{:?}`.
impl std::fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("len", &self.raw.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Component<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Component")
            .field("len", &self.0.raw.len())
            .finish_non_exhaustive()
    }
}
