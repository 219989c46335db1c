//! The minijinja environment of `labwire render` and the rendering of one site.
//!
//! Strict undefined behaviour (like jinja2's `StrictUndefined`): printing, iterating, testing or
//! reading an attribute of a missing value is an error naming the template, line and the missing
//! expression. Fuel and a recursion limit bound every render; no auto-escaping (the outputs are
//! TOML, YAML, INI, not HTML); the trailing newline is kept; block tags eat their own line.

use super::SiteFiles;
use super::limits::{FUEL, MAX_OUTPUT_BYTES, RECURSION_LIMIT};
use super::templates::TemplateSet;
use super::values::SiteValues;
use labwire_router::config::SiteConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, syntax::SyntaxConfig};

/// Builds the environment holding every template of `set` (partials included).
pub fn environment(set: &TemplateSet) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| format!("labwire render: template syntax: {e}"))?;
    env.set_syntax(syntax);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_debug(true);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    super::filters::register(&mut env);
    for t in &set.templates {
        env.add_template_owned(t.name.clone(), t.source.clone())
            .map_err(|e| describe(set, &e, None))?;
    }
    Ok(env)
}

/// Renders every non-partial template for one site. Returns every error, each naming the
/// template file and line.
pub fn render_site(
    env: &Environment<'static>,
    set: &TemplateSet,
    values: &SiteValues,
) -> Result<SiteFiles, Vec<String>> {
    let ctx = minijinja::Value::from(minijinja::value::Serde(&values.table));
    let mut files = SiteFiles::new();
    let mut errors = Vec::new();
    for t in set.templates.iter().filter(|t| !t.partial) {
        let rendered = env.get_template(&t.name).and_then(|tmpl| tmpl.render(&ctx));
        match rendered {
            Ok(text) if text.len() > MAX_OUTPUT_BYTES => errors.push(format!(
                "{}: renders {} bytes for site {}; the limit for one file is {MAX_OUTPUT_BYTES}",
                set.path_of(&t.name).display(),
                text.len(),
                values.site
            )),
            // A template that renders to nothing (e.g. wrapped in `{% if "debian" in targets %}`)
            // produces no file: that is how a site picks what it needs.
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => {
                files.insert(t.name.clone(), text);
            }
            Err(e) => errors.push(describe(set, &e, Some(values))),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// Validates a rendered `site.toml` with the router's own loader (what `check-config` does) and
/// checks that it is the site it was rendered for. `name` prefixes every error.
pub fn validate_site_toml(text: &str, name: &str, site: &str) -> Vec<String> {
    match SiteConfig::from_toml_str(text, name) {
        Ok(config) if config.site.as_str() == site => Vec::new(),
        Ok(config) => vec![format!(
            "{name}: declares site `{}` but was rendered for site `{site}`",
            config.site
        )],
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// `TEMPLATE:LINE: message (site S, values FILE)`: the template as a path below TEMPLATE_DIR.
fn describe(set: &TemplateSet, e: &minijinja::Error, values: Option<&SiteValues>) -> String {
    let place = match (e.name(), e.line()) {
        (Some(name), Some(line)) => format!("{}:{line}", set.path_of(name).display()),
        (Some(name), None) => set.path_of(name).display().to_string(),
        (None, _) => set.dir.display().to_string(),
    };
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    match values {
        Some(v) => format!(
            "{place}: {what} (site {}, values {})",
            v.site,
            v.path.display()
        ),
        None => format!("{place}: {what}"),
    }
}
