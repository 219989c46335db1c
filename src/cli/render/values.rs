//! A site's values file: TOML, so templates see typed values. The one required key is `site`,
//! a site id as in the site configuration (lowercase letters, digits, `-`): it names the output
//! folder `DIR/<site>/`.

use super::limits::MAX_VALUES_BYTES;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a values file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// Larger than the limit.
    #[error("{}: is larger than {max} bytes, the limit for a values file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// Not valid TOML, or not UTF-8.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The `site` key is missing or not a valid site id.
    #[error("{}:{line}: {message}", path.display())]
    Site {
        /// The file.
        path: PathBuf,
        /// 1-based line (1 when the key is missing).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The values of one site.
#[derive(Debug, Clone)]
pub struct SiteValues {
    /// The file they came from.
    pub path: PathBuf,
    /// The site id (the `site` key).
    pub site: String,
    /// Every value, as the templates' context.
    pub table: toml::Table,
}

impl SiteValues {
    /// Reads and checks a values file.
    pub fn load(path: &Path) -> Result<Self, ValuesError> {
        let io = |source| ValuesError::Io {
            path: path.to_owned(),
            source,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(io)?
            .take(MAX_VALUES_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_VALUES_BYTES {
            return Err(ValuesError::TooLarge {
                path: path.to_owned(),
                max: MAX_VALUES_BYTES,
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let offset = e.utf8_error().valid_up_to();
            let (line, column) = line_column(&String::from_utf8_lossy(e.as_bytes()), offset);
            ValuesError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: "not UTF-8 text (TOML files are UTF-8)".into(),
            }
        })?;
        Self::parse(&text, path)
    }

    /// Parses values from text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ValuesError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            ValuesError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        let site_line = text
            .lines()
            .position(|l| l.trim_start().starts_with("site"))
            .map_or(1, |i| i + 1);
        let site = match table.get("site") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(ValuesError::Site {
                    path: path.to_owned(),
                    line: site_line,
                    message: format!("`site` must be a string, found a {}", other.type_str()),
                });
            }
            None => {
                return Err(ValuesError::Site {
                    path: path.to_owned(),
                    line: 1,
                    message: "missing the `site` key (the site id; it names the output folder)"
                        .into(),
                });
            }
        };
        if let Err(e) = labwire_event::SiteId::new(site.clone()) {
            return Err(ValuesError::Site {
                path: path.to_owned(),
                line: site_line,
                message: format!("`site`: {e}"),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            site,
            table,
        })
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_values_file_needs_a_valid_site_id() {
        let p = Path::new("v.toml");
        let ok = SiteValues::parse("site = \"lab-1\"\nn = 3\n", p).unwrap();
        assert_eq!(ok.site, "lab-1");
        assert_eq!(ok.table.get("n"), Some(&toml::Value::Integer(3)));
        let missing = SiteValues::parse("n = 3\n", p).unwrap_err().to_string();
        assert!(
            missing.starts_with("v.toml:1: missing the `site` key"),
            "{missing}"
        );
        let bad = SiteValues::parse("n = 3\nsite = \"Lab 1\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(bad.starts_with("v.toml:2: `site`:"), "{bad}");
        let typed = SiteValues::parse("site = 3\n", p).unwrap_err().to_string();
        assert!(
            typed.contains("must be a string, found a integer"),
            "{typed}"
        );
    }

    #[test]
    fn toml_syntax_errors_name_line_and_column() {
        let e = SiteValues::parse("site = \"a\"\nx = [1,\n", Path::new("v.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("v.toml:2:") || e.starts_with("v.toml:3:"),
            "{e}"
        );
    }
}
