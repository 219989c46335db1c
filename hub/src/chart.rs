//! QC charts for the site page: one small inline SVG line per instrument, test and control
//! level (mean per period over time), points with Westgard flags marked.

use labwire_uplink::record::{Body, Record};
use serde::Serialize;
use std::collections::BTreeMap;

/// Chart width in SVG units.
const WIDTH: f64 = 480.0;
/// Chart height in SVG units.
const HEIGHT: f64 = 120.0;
/// Room for the axis labels on the left.
const LEFT: f64 = 48.0;
/// Margin above and below the line.
const PAD: f64 = 8.0;

/// One chart, ready for the template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QcChart {
    /// Instrument id.
    pub instrument: String,
    /// Test code.
    pub test: String,
    /// Control level, if the site knew it.
    pub level: Option<String>,
    /// Unit, if the site knew it.
    pub unit: Option<String>,
    /// Number of periods drawn.
    pub points: usize,
    /// Periods with at least one Westgard flag.
    pub flagged: usize,
    /// `x,y x,y …` in SVG units.
    pub polyline: String,
    /// `(x, y)` of flagged periods.
    pub flags: Vec<(f64, f64)>,
    /// Largest mean (axis label).
    pub max: String,
    /// Smallest mean (axis label).
    pub min: String,
    /// SVG width.
    pub width: f64,
    /// SVG height.
    pub height: f64,
}

/// Charts from QC records (oldest first), one per instrument, test, level and unit.
pub fn qc_charts(records: &[Record]) -> Vec<QcChart> {
    type Key = (String, String, Option<String>, Option<String>);
    let mut series: BTreeMap<Key, Vec<(i64, f64, bool)>> = BTreeMap::new();
    for r in records {
        if let Body::Qc(q) = &r.body {
            if !q.mean.is_finite() {
                continue;
            }
            let key = (
                q.instrument.to_string(),
                q.test.to_string(),
                q.level.as_ref().map(ToString::to_string),
                q.unit.as_ref().map(ToString::to_string),
            );
            series.entry(key).or_default().push((
                q.period_start.as_millisecond(),
                q.mean,
                !q.westgard.is_empty(),
            ));
        }
    }
    series
        .into_iter()
        .map(|((instrument, test, level, unit), mut pts)| {
            pts.sort_by_key(|p| p.0);
            pts.dedup_by_key(|p| p.0);
            let (t0, t1) = (
                pts.first().map_or(0, |p| p.0),
                pts.last().map_or(0, |p| p.0),
            );
            let lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
            let hi = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
            let span_t = (t1 - t0).max(1) as f64;
            let span_v = if hi > lo { hi - lo } else { 1.0 };
            let xy = |t: i64, v: f64| {
                let x = LEFT + (t - t0) as f64 / span_t * (WIDTH - LEFT - PAD);
                let y = HEIGHT - PAD - (v - lo) / span_v * (HEIGHT - 2.0 * PAD);
                ((x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0)
            };
            let polyline = pts
                .iter()
                .map(|&(t, v, _)| {
                    let (x, y) = xy(t, v);
                    format!("{x},{y}")
                })
                .collect::<Vec<_>>()
                .join(" ");
            let flags: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| p.2)
                .map(|&(t, v, _)| xy(t, v))
                .collect();
            QcChart {
                instrument,
                test,
                level,
                unit,
                points: pts.len(),
                flagged: flags.len(),
                polyline,
                flags,
                max: format!("{hi:.3}"),
                min: format!("{lo:.3}"),
                width: WIDTH,
                height: HEIGHT,
            }
        })
        .collect()
}
