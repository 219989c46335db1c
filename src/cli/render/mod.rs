//! `labwire render TEMPLATE_DIR VALUES.toml… --out DIR | --check DIR`: per-site configuration
//! and deployment files from templates (shared conventions §4, §9; docs/render.md).
//!
//! Every file under TEMPLATE_DIR is a jinja2 template ([minijinja], strict undefined) rendered
//! once per values file into `DIR/<site>/` at the same relative path; files or folders whose
//! name starts with `_` are partials (for `include`/`import`) and are not written, nor is a
//! template that renders to whitespace only (how a site selects its targets). Values files
//! are TOML, so templates see typed values (strings, integers, booleans, lists, tables). A
//! rendered top-level `site.toml` is validated exactly like `labwire check-config`.
//!
//! Nothing is written unless every site renders and validates. `--check DIR` renders in memory
//! and compares with `DIR/<site>/` (the committed tree in a GitOps repository): every changed,
//! missing or extra file is reported. Exit codes: 0 success (no drift), 1 drift or a failure to
//! write, 2 bad usage or bad input (template or values errors name file and line).

mod engine;
mod filters;
mod output;
mod templates;
mod values;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Limits of `labwire render`: the one place where they are defined (docs/render.md quotes them).
pub mod limits {
    /// Largest template file accepted.
    pub const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;
    /// Most template files (partials included) under one TEMPLATE_DIR.
    pub const MAX_TEMPLATES: usize = 256;
    /// Deepest folder nesting under TEMPLATE_DIR.
    pub const MAX_TEMPLATE_DEPTH: usize = 8;
    /// Largest values file accepted.
    pub const MAX_VALUES_BYTES: u64 = 256 * 1024;
    /// Largest rendered file (a site.toml may be at most the router's own limit anyway).
    pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
    /// Template instructions one rendered file may execute (minijinja fuel): a loop that runs
    /// away fails with a clear error instead of spinning.
    pub const FUEL: u64 = 2_000_000;
    /// Deepest nesting of includes, macro calls and blocks.
    pub const RECURSION_LIMIT: usize = 64;
}

/// Arguments of `labwire render`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["out", "check"])))]
pub struct Args {
    /// The folder of templates (e.g. deploy/templates).
    pub template_dir: PathBuf,
    /// One values file (TOML) per site, each with a `site` key (e.g. deploy/sites/*.toml).
    #[arg(required = true, value_name = "VALUES.toml")]
    pub values: Vec<PathBuf>,
    /// Write the rendered files to DIR/<site>/ (that folder is replaced as a whole).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing; compare what would be rendered with DIR/<site>/ and exit 1 on drift.
    #[arg(long, value_name = "DIR")]
    pub check: Option<PathBuf>,
}

/// The rendered files of one site: relative path (with `/`) to contents.
pub type SiteFiles = BTreeMap<String, String>;

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let target = args.out.as_ref().or(args.check.as_ref());
    let Some(target) = target else {
        eprintln!("labwire render: give --out DIR or --check DIR");
        return ExitCode::from(2);
    };
    let rendered = match render_all(&args.template_dir, &args.values, target) {
        Ok(rendered) => rendered,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            let n = errors.len();
            eprintln!(
                "labwire render: {n} error{}, nothing written",
                if n == 1 { "" } else { "s" }
            );
            return ExitCode::from(2);
        }
    };
    if let Some(out) = &args.out {
        match output::write_tree(out, &rendered) {
            Ok(()) => {
                let files: usize = rendered.values().map(BTreeMap::len).sum();
                println!(
                    "{}: rendered {} site{} ({files} files)",
                    out.display(),
                    rendered.len(),
                    if rendered.len() == 1 { "" } else { "s" }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("labwire render: {e}");
                ExitCode::from(1)
            }
        }
    } else {
        match output::check_tree(target, &rendered) {
            Ok(drift) if drift.is_empty() => {
                let files: usize = rendered.values().map(BTreeMap::len).sum();
                println!(
                    "{}: up to date ({} site{}, {files} files)",
                    target.display(),
                    rendered.len(),
                    if rendered.len() == 1 { "" } else { "s" }
                );
                ExitCode::SUCCESS
            }
            Ok(drift) => {
                for d in &drift {
                    println!("{d}");
                }
                println!(
                    "{}: drift in {} file{}; run labwire render with --out to update",
                    target.display(),
                    drift.len(),
                    if drift.len() == 1 { "" } else { "s" }
                );
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("labwire render: {e}");
                ExitCode::from(1)
            }
        }
    }
}

/// Renders every site and validates each rendered `site.toml`. `target` only names the files
/// in error messages about rendered output (`DIR/<site>/site.toml:LINE:COL: …`). Returns every
/// error found, in a stable order.
pub fn render_all(
    template_dir: &std::path::Path,
    values_files: &[PathBuf],
    target: &std::path::Path,
) -> Result<BTreeMap<String, SiteFiles>, Vec<String>> {
    let set = templates::TemplateSet::load(template_dir).map_err(|e| vec![e.to_string()])?;
    let env = engine::environment(&set).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut sites: BTreeMap<String, SiteFiles> = BTreeMap::new();
    let mut origin: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in values_files {
        let site_values = match values::SiteValues::load(path) {
            Ok(v) => v,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        if let Some(first) = origin.get(&site_values.site) {
            errors.push(format!(
                "{}: site `{}` is also the site of {}; one values file per site",
                path.display(),
                site_values.site,
                first.display()
            ));
            continue;
        }
        origin.insert(site_values.site.clone(), path.clone());
        match engine::render_site(&env, &set, &site_values) {
            Ok(files) => {
                if let Some(text) = files.get("site.toml") {
                    let name = target
                        .join(&site_values.site)
                        .join("site.toml")
                        .display()
                        .to_string();
                    errors.extend(engine::validate_site_toml(text, &name, &site_values.site));
                }
                sites.insert(site_values.site.clone(), files);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(sites)
    } else {
        Err(errors)
    }
}
