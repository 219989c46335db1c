#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Every HL7 dialect profile round-trips through labwire's own decoder:
//! `labwire_hl7::canonical::message_to_events` on each generated message yields the expected
//! kind, event id, specimen, patient and observations.

use labwire_event::{InstrumentId, Origin, SiteId};
use labwire_hl7::canonical::{DecodeOptions, message_to_events};
use labwire_sim::profile::{WireProtocol, builtin_names};
use labwire_sim::{Profile, SimMessage, Traffic, TrafficConfig, Work};

#[test]
fn every_hl7_profile_round_trips_through_message_to_events() {
    let origin = Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: InstrumentId::new("sim-hl7").unwrap(),
        received_at: "2026-11-26T10:00:00Z".parse().unwrap(),
    };
    let mut checked = 0;
    for name in builtin_names() {
        let profile = Profile::load(name).unwrap();
        if profile.protocol != WireProtocol::Hl7 {
            continue;
        }
        let mut traffic = Traffic::new(
            profile.clone(),
            TrafficConfig {
                seed: 42,
                instrument_index: 2,
                start: "2026-11-26T08:00:00".parse().unwrap(),
                canary: None,
            },
        );
        let mut kinds = std::collections::BTreeSet::new();
        for seq in 0..80 {
            let work = traffic.next_work();
            let msg = SimMessage::build(&profile, &work, seq);
            let events = message_to_events(&msg.bytes, &origin, &DecodeOptions::default())
                .unwrap_or_else(|e| panic!("{name}: offset {}: {e}", e.offset()));
            assert_eq!(events.len() as u32, msg.event_count, "{name}: {work:?}");
            let ev = &events[0];
            assert_eq!(ev.kind, msg.kind, "{name}");
            kinds.insert(ev.kind.as_str());
            assert!(
                events
                    .iter()
                    .all(|e| e.kind == msg.kind && e.specimen == ev.specimen)
            );
            assert_eq!(
                events.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
                msg.expected_event_ids(&origin.site, &origin.instrument),
                "{name}: the simulator predicts labwire's event id"
            );
            match &work {
                Work::Patient(p) => {
                    assert_eq!(
                        ev.specimen.as_ref().and_then(|s| s.id.as_deref()),
                        Some(p.specimen_id.as_str()),
                        "{name}"
                    );
                    let patient = ev.patient.as_ref().unwrap();
                    assert_eq!(
                        patient.id.as_deref(),
                        Some(p.identity.patient_id.as_str()),
                        "{name}"
                    );
                    let full = patient.name.clone().unwrap();
                    assert!(full.contains(&p.identity.last_name), "{name}: {full:?}");
                }
                Work::Qc(q) => {
                    assert_eq!(
                        ev.specimen.as_ref().and_then(|s| s.id.as_deref()),
                        Some(q.control_id.as_str()),
                        "{name}"
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
            let observations: Vec<_> = events.iter().flat_map(|e| e.observations.iter()).collect();
            assert_eq!(observations.len(), msg.expected.len(), "{name}");
            for (got, want) in observations.into_iter().zip(&msg.expected) {
                assert_eq!(got.code.as_deref(), Some(want.code.as_str()), "{name}");
                assert_eq!(got.value.as_deref(), Some(want.value.as_str()), "{name}");
                assert_eq!(got.units.as_deref(), Some(want.units.as_str()), "{name}");
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
    assert_eq!(checked, 2 * 80);
}
