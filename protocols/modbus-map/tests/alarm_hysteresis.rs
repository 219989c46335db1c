//! Alarm hysteresis and minimum duration on caller-given (fake) time.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use labwire_modbus_map::{AlarmChange, AlarmLevel, AlarmLimits, AlarmTracker};
use std::time::{Duration, Instant};

fn freezer() -> AlarmTracker {
    AlarmTracker::new(AlarmLimits {
        low: Some(-30.0),
        high: Some(-15.0),
        hysteresis: 1.0,
        delay: Duration::from_secs(300),
    })
}

#[test]
fn a_short_warm_spell_raises_nothing_and_a_long_one_raises_once() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut a = freezer();
    assert!(a.observe(-14.0, at(0)).is_empty());
    assert!(a.observe(-14.0, at(240)).is_empty());
    assert!(
        a.observe(-16.0, at(250)).is_empty(),
        "door closed: pending dropped"
    );
    assert!(a.observe(-14.0, at(260)).is_empty());
    assert!(a.observe(-14.0, at(559)).is_empty(), "299 s is not 300 s");
    assert_eq!(
        a.observe(-14.0, at(560)),
        vec![AlarmChange::Raised(AlarmLevel::High)]
    );
    assert!(a.observe(-13.0, at(600)).is_empty(), "raised once");
}

#[test]
fn a_raised_alarm_clears_only_beyond_the_hysteresis() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut a = freezer();
    a.observe(-10.0, at(0));
    assert_eq!(
        a.observe(-10.0, at(300)),
        vec![AlarmChange::Raised(AlarmLevel::High)]
    );
    assert!(
        a.observe(-15.5, at(310)).is_empty(),
        "inside the limit, not past the hysteresis"
    );
    assert_eq!(a.level(), AlarmLevel::High);
    assert_eq!(
        a.observe(-16.5, at(320)),
        vec![AlarmChange::Cleared(AlarmLevel::High)]
    );
    assert_eq!(a.level(), AlarmLevel::Normal);
}

#[test]
fn low_alarms_mirror_high_ones() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut a = freezer();
    a.observe(-35.0, at(0));
    assert_eq!(
        a.observe(-35.0, at(300)),
        vec![AlarmChange::Raised(AlarmLevel::Low)]
    );
    assert!(a.observe(-29.5, at(310)).is_empty());
    assert_eq!(
        a.observe(-28.9, at(320)),
        vec![AlarmChange::Cleared(AlarmLevel::Low)]
    );
}
