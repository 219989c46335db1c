//! Reads a template folder: every regular file below it, in a stable (sorted) order, within the
//! limits of [`super::limits`]. Names use `/` whatever the platform, so output is the same
//! everywhere.

use super::limits::{MAX_TEMPLATE_BYTES, MAX_TEMPLATE_DEPTH, MAX_TEMPLATES};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a template folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TemplateDirError {
    /// A file or folder could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A template is larger than the limit.
    #[error("{}: is larger than {max} bytes, the limit for one template", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// Too many templates, or folders nested too deep.
    #[error("{}: {what}", path.display())]
    TooMany {
        /// The folder.
        path: PathBuf,
        /// Which limit.
        what: String,
    },
    /// A template is not UTF-8 text.
    #[error("{}: byte {offset}: not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Something other than a regular file or a folder (a symbolic link, a device).
    #[error("{}: not a regular file or folder (symbolic links are not followed)", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The folder holds no template that produces output.
    #[error("{}: no templates (files starting with `_` are partials only)", path.display())]
    Empty {
        /// The folder.
        path: PathBuf,
    },
}

/// One template file.
#[derive(Debug, Clone)]
pub struct Template {
    /// Path relative to the template folder, `/`-separated: the template's name and the
    /// rendered file's path.
    pub name: String,
    /// The template text.
    pub source: String,
    /// A partial: some path component starts with `_`; loadable, never written.
    pub partial: bool,
}

/// Every template of a folder.
#[derive(Debug, Clone)]
pub struct TemplateSet {
    /// The folder as given on the command line (errors name files below it).
    pub dir: PathBuf,
    /// The templates, sorted by name.
    pub templates: Vec<Template>,
}

impl TemplateSet {
    /// Reads every template below `dir`. Hidden files (starting with `.`) are skipped.
    pub fn load(dir: &Path) -> Result<Self, TemplateDirError> {
        let mut templates = Vec::new();
        walk(dir, dir, 0, &mut templates)?;
        templates.sort_by(|a, b| a.name.cmp(&b.name));
        if templates.iter().all(|t| t.partial) {
            return Err(TemplateDirError::Empty {
                path: dir.to_owned(),
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            templates,
        })
    }

    /// The path of a template as the user sees it (TEMPLATE_DIR joined with its name).
    pub fn path_of(&self, name: &str) -> PathBuf {
        name.split('/').fold(self.dir.clone(), |p, c| p.join(c))
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<Template>,
) -> Result<(), TemplateDirError> {
    if depth > MAX_TEMPLATE_DEPTH {
        return Err(TemplateDirError::TooMany {
            path: dir.to_owned(),
            what: format!("folders nested deeper than {MAX_TEMPLATE_DEPTH} levels"),
        });
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TemplateDirError::Io { path, source }
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            return Err(TemplateDirError::NotAFile { path });
        };
        if file_name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_dir() {
            walk(root, &path, depth + 1, out)?;
        } else if kind.is_file() {
            if out.len() >= MAX_TEMPLATES {
                return Err(TemplateDirError::TooMany {
                    path: root.to_owned(),
                    what: format!("more than {MAX_TEMPLATES} templates"),
                });
            }
            let name = relative_name(root, &path)
                .ok_or_else(|| TemplateDirError::NotAFile { path: path.clone() })?;
            let partial = name.split('/').any(|c| c.starts_with('_'));
            let source = read_limited(&path)?;
            out.push(Template {
                name,
                source,
                partial,
            });
        } else {
            return Err(TemplateDirError::NotAFile { path });
        }
    }
    Ok(())
}

fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

fn read_limited(path: &Path) -> Result<String, TemplateDirError> {
    let io = |source| TemplateDirError::Io {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_TEMPLATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_TEMPLATE_BYTES {
        return Err(TemplateDirError::TooLarge {
            path: path.to_owned(),
            max: MAX_TEMPLATE_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|e| TemplateDirError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}
