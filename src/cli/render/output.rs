//! Writing a rendered tree (`--out`) and comparing one with what is on disk (`--check`).

use super::SiteFiles;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A file that differs between the rendered tree and the one on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Rendered, but different on disk; the first line that differs (1-based).
    Changed(PathBuf, usize),
    /// Rendered, but not on disk.
    Missing(PathBuf),
    /// On disk under a site folder, but no template produces it.
    Extra(PathBuf),
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Changed(p, line) => {
                write!(f, "{}:{line}: differs from the templates", p.display())
            }
            Drift::Missing(p) => write!(f, "{}: missing (the templates produce it)", p.display()),
            Drift::Extra(p) => write!(f, "{}: not produced by the templates", p.display()),
        }
    }
}

fn join(dir: &Path, rel: &str) -> PathBuf {
    rel.split('/').fold(dir.to_owned(), |p, c| p.join(c))
}

/// Writes every site to `out/<site>/`: rendered into a hidden sibling folder first, which then
/// replaces `out/<site>/` as a whole, so files of removed templates do not linger.
pub fn write_tree(out: &Path, sites: &BTreeMap<String, SiteFiles>) -> std::io::Result<()> {
    let ctx = |what: &str, p: &Path| {
        let p = p.display().to_string();
        let what = what.to_owned();
        move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{p}: {what}: {e}"))
    };
    std::fs::create_dir_all(out).map_err(ctx("cannot create", out))?;
    for (site, files) in sites {
        let staging = out.join(format!(".{site}.rendering"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(ctx("cannot remove", &staging))?;
        }
        for (rel, text) in files {
            let path = join(&staging, rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(ctx("cannot create", parent))?;
            }
            std::fs::write(&path, text).map_err(ctx("cannot write", &path))?;
        }
        let target = out.join(site);
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(ctx("cannot remove", &target))?;
        }
        std::fs::rename(&staging, &target).map_err(ctx("cannot rename into place", &target))?;
    }
    Ok(())
}

/// Compares every rendered site with `dir/<site>/`. Folders of sites that were not rendered are
/// not looked at (a repository may hold sites rendered from other values).
pub fn check_tree(dir: &Path, sites: &BTreeMap<String, SiteFiles>) -> std::io::Result<Vec<Drift>> {
    let mut drift = Vec::new();
    for (site, files) in sites {
        let site_dir = dir.join(site);
        let on_disk = list_files(&site_dir)?;
        for (rel, text) in files {
            let path = join(&site_dir, rel);
            if !on_disk.contains(rel) {
                drift.push(Drift::Missing(path));
                continue;
            }
            let disk = std::fs::read(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            if disk != text.as_bytes() {
                drift.push(Drift::Changed(
                    path,
                    first_difference(&disk, text.as_bytes()),
                ));
            }
        }
        for rel in on_disk.iter().filter(|r| !files.contains_key(*r)) {
            drift.push(Drift::Extra(join(&site_dir, rel)));
        }
    }
    Ok(drift)
}

/// Every file below `dir` as `/`-separated relative paths; an absent folder has none.
fn list_files(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![(dir.to_owned(), String::new())];
    while let Some((path, prefix)) = stack.pop() {
        let entries = std::fs::read_dir(&path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type()?.is_dir() {
                stack.push((entry.path(), rel));
            } else {
                out.insert(rel);
            }
        }
    }
    Ok(out)
}

/// The 1-based line of the first byte that differs.
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    a.iter().take(common).filter(|c| **c == b'\n').count() + 1
}
