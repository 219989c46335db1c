//! Westgard multirule QC (Westgard, Barry, Hunt, Groth, Clin. Chem. 27/3, 1981), applied to
//! the control results of one period in arrival order, against an established target.
//!
//! Rules, with z = (value − target mean) / target SD:
//! - `1_2s`: one result beyond ±2 SD (warning).
//! - `1_3s`: one result beyond ±3 SD.
//! - `2_2s`: two consecutive results beyond 2 SD on the same side.
//! - `R_4s`: two consecutive results more than 4 SD apart, on opposite sides of ±2 SD.
//! - `4_1s`: four consecutive results beyond 1 SD on the same side.
//! - `10_x`: ten consecutive results on the same side of the mean.
//!
//! The target comes from earlier periods once [`MIN_TARGET_N`] results are known (the usual
//! minimum of 20 to establish a mean and SD); before that no rule is evaluated.

use serde::{Deserialize, Serialize};

/// Results needed before a target mean and SD are considered established.
pub const MIN_TARGET_N: u64 = 20;

/// A Westgard rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WestgardRule {
    /// One result beyond ±2 SD (warning rule).
    #[serde(rename = "1_2s")]
    OneTwoS,
    /// One result beyond ±3 SD.
    #[serde(rename = "1_3s")]
    OneThreeS,
    /// Two consecutive results beyond 2 SD, same side.
    #[serde(rename = "2_2s")]
    TwoTwoS,
    /// Two consecutive results on opposite sides, more than 4 SD apart.
    #[serde(rename = "R_4s")]
    RFourS,
    /// Four consecutive results beyond 1 SD, same side.
    #[serde(rename = "4_1s")]
    FourOneS,
    /// Ten consecutive results on the same side of the mean.
    #[serde(rename = "10_x")]
    TenX,
}

/// The target mean and SD a control is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Target mean.
    pub mean: f64,
    /// Target standard deviation (> 0).
    pub sd: f64,
}

/// The rules `values` (in arrival order) violate against `target`, sorted, each once.
/// A target with a non-positive or non-finite SD evaluates nothing.
pub fn evaluate(values: &[f64], target: Target) -> Vec<WestgardRule> {
    if !(target.sd.is_finite() && target.sd > 0.0 && target.mean.is_finite()) {
        return Vec::new();
    }
    let z: Vec<f64> = values
        .iter()
        .map(|v| (v - target.mean) / target.sd)
        .collect();
    let mut out = Vec::new();
    if z.iter().any(|z| z.abs() > 2.0) {
        out.push(WestgardRule::OneTwoS);
    }
    if z.iter().any(|z| z.abs() > 3.0) {
        out.push(WestgardRule::OneThreeS);
    }
    if z.windows(2)
        .any(|w| all_beyond(w, 2.0) || all_beyond(&neg(w), 2.0))
    {
        out.push(WestgardRule::TwoTwoS);
    }
    if z.windows(2).any(|w| match w {
        [a, b] => (a - b).abs() > 4.0 && a.abs() > 2.0 && b.abs() > 2.0 && a * b < 0.0,
        _ => false,
    }) {
        out.push(WestgardRule::RFourS);
    }
    if z.windows(4)
        .any(|w| all_beyond(w, 1.0) || all_beyond(&neg(w), 1.0))
    {
        out.push(WestgardRule::FourOneS);
    }
    if z.windows(10)
        .any(|w| w.iter().all(|z| *z > 0.0) || w.iter().all(|z| *z < 0.0))
    {
        out.push(WestgardRule::TenX);
    }
    out
}

fn all_beyond(w: &[f64], limit: f64) -> bool {
    w.iter().all(|z| *z > limit)
}

fn neg(w: &[f64]) -> Vec<f64> {
    w.iter().map(|z| -z).collect()
}

/// Mean and sample SD of `values` (SD 0 for fewer than two).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::WestgardRule::*;
    use super::*;

    const T: Target = Target {
        mean: 100.0,
        sd: 2.0,
    };

    /// Values at the given z-scores against `T` (computed here, not by the code under test).
    fn at(z: &[f64]) -> Vec<f64> {
        z.iter().map(|z| 100.0 + 2.0 * z).collect()
    }

    #[test]
    fn in_control_run_has_no_flags() {
        assert!(evaluate(&at(&[0.5, -0.3, 1.2, -1.5, 0.0, 0.9]), T).is_empty());
    }

    #[test]
    fn one_2s_is_a_warning_alone() {
        assert_eq!(evaluate(&at(&[0.1, 2.5, -0.2]), T), vec![OneTwoS]);
    }

    #[test]
    fn one_3s() {
        assert_eq!(evaluate(&at(&[0.0, -3.2]), T), vec![OneTwoS, OneThreeS]);
    }

    #[test]
    fn two_2s_needs_consecutive_same_side() {
        assert_eq!(evaluate(&at(&[2.1, 2.4]), T), vec![OneTwoS, TwoTwoS]);
        assert_eq!(evaluate(&at(&[2.1, 0.0, 2.4]), T), vec![OneTwoS]);
        assert_eq!(evaluate(&at(&[-2.1, -2.4]), T), vec![OneTwoS, TwoTwoS]);
    }

    #[test]
    fn r_4s_opposite_sides() {
        assert_eq!(evaluate(&at(&[2.2, -2.1]), T), vec![OneTwoS, RFourS]);
        // 4 SD apart but the second is not beyond 2 SD.
        assert_eq!(evaluate(&at(&[2.9, -1.5]), T), vec![OneTwoS]);
    }

    #[test]
    fn four_1s() {
        assert_eq!(evaluate(&at(&[1.1, 1.3, 1.2, 1.9]), T), vec![FourOneS]);
        assert_eq!(evaluate(&at(&[-1.1, -1.3, -1.2, -1.9]), T), vec![FourOneS]);
        assert!(evaluate(&at(&[1.1, 1.3, 0.2, 1.9]), T).is_empty());
    }

    #[test]
    fn ten_x() {
        let nine = [0.2; 9];
        assert!(evaluate(&at(&nine), T).is_empty());
        assert_eq!(evaluate(&at(&[0.2; 10]), T), vec![TenX]);
        assert_eq!(evaluate(&at(&[-0.2; 10]), T), vec![TenX]);
    }

    #[test]
    fn no_target_sd_no_rules() {
        let bad = Target { mean: 1.0, sd: 0.0 };
        assert!(evaluate(&at(&[9.0, 9.0]), bad).is_empty());
    }

    #[test]
    fn mean_and_sample_sd() {
        let (m, sd) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((m - 5.0).abs() < 1e-12);
        // Sample SD of this classic set: sqrt(32/7).
        assert!((sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_sd(&[]), (0.0, 0.0));
    }
}
