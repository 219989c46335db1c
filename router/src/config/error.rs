//! Configuration errors with their position in the file.
//!
//! Every error names the file, the 1-based line and column of the offending key or value and a
//! message for the person who edits the file: `site.toml:12:7: instrument id "Cobas.1" …`.

use std::ops::Range;
use std::path::PathBuf;

/// One problem in a site configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The name the text was loaded under (usually the file path).
    pub source_name: String,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column (in characters) of the offending key or value.
    pub column: usize,
    /// Byte range of the offending key or value in the text.
    pub span: Range<usize>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.source_name, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a site configuration, in file order; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// The errors, in file order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    /// How many errors were found.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false: a `ConfigErrors` holds at least one error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Iterates over the errors in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Why a site configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The file is larger than [`super::MAX_CONFIG_BYTES`].
    #[error("{}: is {len} bytes long; a site config may be at most {max} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The file is not UTF-8 text.
    #[error("{}: byte {offset}: not UTF-8 text (TOML files are UTF-8)", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The file was read but is not a valid site configuration.
    #[error("{0}")]
    Invalid(#[from] ConfigErrors),
}

/// Collects errors while a configuration is checked, turning byte spans into lines and columns.
pub(crate) struct Collector<'a> {
    text: &'a str,
    source_name: &'a str,
    errors: Vec<ConfigError>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(text: &'a str, source_name: &'a str) -> Self {
        Self {
            text,
            source_name,
            errors: Vec::new(),
        }
    }

    /// The name the text was loaded under (usually the file path).
    pub(crate) fn source_name(&self) -> &'a str {
        self.source_name
    }

    /// The text being checked.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// Records an error at a byte span of the text.
    pub(crate) fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.errors.push(ConfigError {
            source_name: self.source_name.to_owned(),
            line,
            column,
            span,
            message: message.into(),
        });
    }

    /// Records a TOML parse or deserialisation error; `fallback` is used when it has no span.
    pub(crate) fn toml(&mut self, err: &toml::de::Error, fallback: Range<usize>) {
        let span = err.span().unwrap_or(fallback);
        self.at(span, err.message().trim_end().to_owned());
    }

    /// `value` when no error was recorded, else every error in file order. A missing value
    /// without a recorded error is reported as an internal error rather than a panic.
    pub(crate) fn finish<T>(mut self, value: Option<T>) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            match value {
                Some(v) => return Ok(v),
                None => self.at(
                    0..0,
                    "internal error: configuration rejected without a reason",
                ),
            }
        }
        self.errors.sort_by_key(|e| (e.span.start, e.span.end));
        self.errors.dedup();
        Err(ConfigErrors {
            errors: self.errors,
        })
    }
}

/// 1-based line and character column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one_in_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // "bé " is 4 bytes but 3 characters: '=' is at column 4.
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn errors_come_out_in_file_order() {
        let text = "x\ny\nz\n";
        let mut c = Collector::new(text, "s.toml");
        c.at(4..5, "third");
        c.at(0..1, "first");
        let errs = c.finish(Some(())).unwrap_err();
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["s.toml:1:1: first", "s.toml:3:1: third"]);
    }
}
