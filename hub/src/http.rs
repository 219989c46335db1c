//! The fleet console and its JSON API (axum, server-rendered minijinja templates; no script
//! build, no CDN: the page works offline).
//!
//! - `GET /`: the sites table. `GET /sites/{site}`: one site's facts, instruments' link
//!   health, open alerts and QC charts (inline SVG).
//! - `GET /api/sites`, `GET /api/sites/{site}`: the same data as JSON (conventions §8).
//! - `GET /metrics`: Prometheus text.

use crate::chart::qc_charts;
use crate::fleet::Policy;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::view::{SiteView, rfc3339};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use labwire_uplink::SiteRef;
use std::sync::Arc;

/// Days of QC history on a site page.
pub const QC_DAYS: i64 = 30;

/// What the handlers share.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Liveness thresholds.
    pub policy: Policy,
    /// Counters.
    pub metrics: Arc<Metrics>,
    templates: minijinja::Environment<'static>,
}

impl AppState {
    /// Builds the state with the embedded templates.
    pub fn new(
        store: Store,
        policy: Policy,
        metrics: Arc<Metrics>,
    ) -> Result<Self, minijinja::Error> {
        let mut templates = minijinja::Environment::new();
        templates.add_template("layout.html", include_str!("../templates/layout.html"))?;
        templates.add_template("index.html", include_str!("../templates/index.html"))?;
        templates.add_template("site.html", include_str!("../templates/site.html"))?;
        Ok(Self {
            store,
            policy,
            metrics,
            templates,
        })
    }
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/sites/{site}", get(site_page))
        .route("/api/sites", get(api_sites))
        .route("/api/sites/{site}", get(api_site))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// An error page or JSON error; never carries record content.
enum Failure {
    NotFound,
    Internal(String),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({"error": "no such site"})),
            )
                .into_response(),
            Self::Internal(reason) => {
                tracing::error!(%reason, "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(serde_json::json!({"error": "internal error; see the hub log"})),
                )
                    .into_response()
            }
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<minijinja::Error> for Failure {
    fn from(e: minijinja::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

async fn views(state: &AppState, site: Option<&str>) -> Result<Vec<SiteView>, Failure> {
    let now = now_ms();
    Ok(state
        .store
        .sites(site)
        .await?
        .into_iter()
        .map(|row| SiteView::new(row, &state.policy, now))
        .collect())
}

async fn one(state: &AppState, site: &str) -> Result<SiteView, Failure> {
    // Not a valid site id: it cannot be stored, and it is not echoed back.
    SiteRef::new(site).map_err(|_| Failure::NotFound)?;
    views(state, Some(site))
        .await?
        .into_iter()
        .next()
        .ok_or(Failure::NotFound)
}

async fn api_sites(State(state): State<Arc<AppState>>) -> Result<Json<Vec<SiteView>>, Failure> {
    Ok(Json(views(&state, None).await?))
}

async fn api_site(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
) -> Result<Json<SiteView>, Failure> {
    Ok(Json(one(&state, &site).await?))
}

async fn index(State(state): State<Arc<AppState>>) -> Result<Html<String>, Failure> {
    let sites = views(&state, None).await?;
    let page = state
        .templates
        .get_template("index.html")?
        .render(minijinja::context! {
            sites => minijinja::Value::from(minijinja::value::Serde(&sites)),
            now => rfc3339(now_ms()),
        })?;
    Ok(Html(page))
}

async fn site_page(
    State(state): State<Arc<AppState>>,
    Path(site): Path<String>,
) -> Result<Html<String>, Failure> {
    let view = one(&state, &site).await?;
    let since = jiff::Timestamp::from_millisecond(now_ms() - QC_DAYS * 24 * 3600 * 1000)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let charts = qc_charts(&state.store.qc_records(&view.site, since).await?);
    let page = state
        .templates
        .get_template("site.html")?
        .render(minijinja::context! {
            s => minijinja::Value::from(minijinja::value::Serde(&view)),
            charts => minijinja::Value::from(minijinja::value::Serde(&charts)),
            qc_days => QC_DAYS,
            now => rfc3339(now_ms()),
        })?;
    Ok(Html(page))
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
