#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Every ASTM dialect profile round-trips through labwire's own decoder:
//! `labwire_astm::canonical::message_to_events` on each generated message yields the expected
//! kind, event id, specimen, patient and observations.

use labwire_astm::canonical::{DecodeOptions, message_to_events};
use labwire_astm::charset::AstmCharset;
use labwire_event::{InstrumentId, Origin, SiteId};
use labwire_sim::profile::{WireCharset, WireProtocol, builtin_names};
use labwire_sim::{Profile, SimMessage, Traffic, TrafficConfig, Work};

fn origin() -> Origin {
    Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: InstrumentId::new("sim-1").unwrap(),
        received_at: "2026-11-26T10:00:00Z".parse().unwrap(),
    }
}

#[test]
fn every_astm_profile_round_trips_through_message_to_events() {
    let origin = origin();
    let mut checked = 0;
    for name in builtin_names() {
        let profile = Profile::load(name).unwrap();
        if profile.protocol != WireProtocol::Astm {
            continue;
        }
        let charset = match profile.charset {
            WireCharset::Latin1 => AstmCharset::Latin1,
            WireCharset::Utf8 => AstmCharset::Utf8,
            WireCharset::Ascii => AstmCharset::Auto,
        };
        let opts = DecodeOptions {
            charset,
            ..DecodeOptions::default()
        };
        let mut traffic = Traffic::new(
            profile.clone(),
            TrafficConfig {
                seed: 42,
                instrument_index: 1,
                start: "2026-11-26T08:00:00".parse().unwrap(),
                canary: None,
            },
        );
        let mut kinds = std::collections::BTreeSet::new();
        for seq in 0..80 {
            let work = traffic.next_work();
            let msg = SimMessage::build(&profile, &work, seq);
            let events = message_to_events(&msg.bytes, &origin, &opts)
                .unwrap_or_else(|e| panic!("{name}: offset {}: {e}", e.offset));
            assert_eq!(events.len() as u32, msg.event_count, "{name}");
            let ev = &events[0];
            assert_eq!(ev.kind, msg.kind, "{name}");
            kinds.insert(ev.kind.as_str());
            assert_eq!(
                vec![ev.id.clone()],
                msg.expected_event_ids(&origin.site, &origin.instrument),
                "{name}: the simulator predicts labwire's event id"
            );
            match &work {
                Work::Patient(p) => {
                    assert_eq!(
                        ev.specimen.as_ref().unwrap().id.as_deref(),
                        Some(p.specimen_id.as_str())
                    );
                    let patient = ev.patient.as_ref().unwrap();
                    assert_eq!(
                        patient.id.as_deref(),
                        Some(p.identity.patient_id.as_str()),
                        "{name}"
                    );
                    let full = patient.name.clone().unwrap();
                    assert!(full.contains(&p.identity.last_name), "{name}: {full:?}");
                    assert!(full.contains(&p.identity.first_name), "{name}: {full:?}");
                    assert!(
                        ev.comments.iter().any(|c| c.contains(&p.identity.comment)),
                        "{name}"
                    );
                }
                Work::Qc(q) => {
                    assert_eq!(
                        ev.specimen.as_ref().unwrap().id.as_deref(),
                        Some(q.control_id.as_str())
                    );
                }
                Work::Query(q) => {
                    assert_eq!(
                        ev.query.as_ref().unwrap().specimen_ids,
                        q.specimen_ids,
                        "{name}"
                    );
                }
            }
            assert_eq!(ev.observations.len(), msg.expected.len(), "{name}");
            for (got, want) in ev.observations.iter().zip(&msg.expected) {
                assert_eq!(got.code.as_deref(), Some(want.code.as_str()), "{name}");
                assert_eq!(got.value.as_deref(), Some(want.value.as_str()), "{name}");
                let units = got.units.clone().unwrap_or_default();
                assert_eq!(units, want.units, "{name}");
                if want.flag != "N" {
                    assert!(
                        got.flags.contains(&want.flag),
                        "{name}: {:?} vs {}",
                        got.flags,
                        want.flag
                    );
                }
            }
            checked += 1;
        }
        assert!(kinds.contains("result"), "{name}: {kinds:?}");
        if profile.traffic.qc_probability > 0.0 {
            assert!(kinds.contains("qc"), "{name}: {kinds:?}");
        }
        if profile.traffic.query_probability > 0.0 {
            assert!(kinds.contains("query"), "{name}: {kinds:?}");
        }
    }
    assert!(checked >= 5 * 80);
}

#[test]
fn canary_marker_survives_into_every_identifying_event_field() {
    let origin = origin();
    let profile = Profile::load("cobas-c111").unwrap();
    let mut traffic = Traffic::new(
        profile.clone(),
        TrafficConfig {
            seed: 1,
            instrument_index: 0,
            start: "2026-11-26T08:00:00".parse().unwrap(),
            canary: Some("ZZCANARY".into()),
        },
    );
    let work = Work::Patient(traffic.next_patient());
    let msg = SimMessage::build(&profile, &work, 1);
    let ev = message_to_events(&msg.bytes, &origin, &DecodeOptions::default())
        .unwrap()
        .remove(0);
    let p = ev.patient.unwrap();
    assert!(p.id.unwrap().contains("ZZCANARY"));
    assert!(p.name.unwrap().contains("ZZCANARY"));
    assert!(ev.specimen.unwrap().id.unwrap().contains("ZZCANARY"));
    assert!(ev.comments.iter().any(|c| c.contains("ZZCANARY")));
}
