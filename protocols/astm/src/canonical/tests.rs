use labwire_event::{EventKind, InstrumentId, Origin, SiteId};

use super::*;

fn origin() -> Origin {
    Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: InstrumentId::new("analyzer-1").unwrap(),
        received_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    }
}

fn map(text: &[u8]) -> Vec<labwire_event::Event> {
    message_to_events(text, &origin(), &DecodeOptions::default()).unwrap()
}

#[test]
fn result_group_maps_every_field() {
    let text = b"H|\\^&|||Cobas^2.1^SN9|||||||P|LIS2-A2|20240203132011\r\
P|1|PID1|LAB1||Doe^John^^||19800102|M\r\
C|1|L|fasting|G\r\
O|1|S1^R1^3||^^^GLU\\^^^NA|R||||||N||||SERUM^VEIN\r\
R|1|^^^GLU|  5.4^^ |mmol/L|3.9-6.1|H\\A||F||op|20240203130000|20240203131000\r\
C|1|I|check&S&recheck^again|I\r\
R|2|^Sodium^^NA|140|mmol/L||||F\r\
L|1|N\r";
    let events = map(text);
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.kind, EventKind::Result);
    let sender = ev.sender.as_ref().unwrap();
    assert_eq!(sender.name.as_deref(), Some("Cobas"));
    assert_eq!(sender.serial.as_deref(), Some("SN9"));
    assert_eq!(ev.message_time.as_deref(), Some("2024-02-03T13:20:11"));
    let p = ev.patient.as_ref().unwrap();
    assert_eq!(p.id.as_deref(), Some("PID1"));
    assert_eq!(p.name.as_deref(), Some("Doe John"));
    assert_eq!(p.birth_date.as_deref(), Some("1980-01-02"));
    assert_eq!(p.sex.as_deref(), Some("M"));
    let s = ev.specimen.as_ref().unwrap();
    assert_eq!(s.id.as_deref(), Some("S1"));
    assert_eq!(s.specimen_type.as_deref(), Some("SERUM"));
    assert_eq!(ev.observations.len(), 2);
    let glu = &ev.observations[0];
    assert_eq!(glu.code.as_deref(), Some("GLU"));
    assert_eq!(glu.test_id.as_deref(), Some("^^^GLU"));
    assert_eq!(glu.value.as_deref(), Some("5.4"));
    assert_eq!(glu.units.as_deref(), Some("mmol/L"));
    assert_eq!(glu.reference_range.as_deref(), Some("3.9-6.1"));
    assert_eq!(glu.flags, vec!["H", "A"]);
    assert_eq!(glu.status.as_deref(), Some("F"));
    assert_eq!(glu.completed_at.as_deref(), Some("2024-02-03T13:10:00"));
    let na = &ev.observations[1];
    assert_eq!(na.code.as_deref(), Some("NA"));
    assert_eq!(na.name.as_deref(), Some("Sodium"));
    assert_eq!(na.completed_at, None);
    assert_eq!(ev.comments, vec!["fasting", "check^recheck again"]);
    assert_eq!(ev.raw.as_deref(), std::str::from_utf8(text).ok());
}

#[test]
fn value_keeps_inner_components_and_drops_trailing_ones() {
    let ev = &map(b"H|@^\\\rO|1|X\rR|1|^^^A|^19.0^^|\rR|2|^^^B|3+^3+^45\rL\r")[0];
    assert_eq!(ev.observations[0].value.as_deref(), Some("^19.0"));
    assert_eq!(ev.observations[1].value.as_deref(), Some("3+^3+^45"));
}

#[test]
fn qc_by_header_or_action_code() {
    assert_eq!(
        map(b"H|\\^&||||||||||Q\rO|1|C1\rR|1|^^^A|1\rL\r")[0].kind,
        EventKind::Qc
    );
    let ev = map(b"H|\\^&\rO|1|C1|||||||||Q\rR|1|^^^A|1\rL\r");
    assert_eq!(ev[0].kind, EventKind::Qc);
}

#[test]
fn order_download_lists_ordered_tests() {
    let ev =
        map(b"H|\\^&\rP|1\rO|1|S9||^^^1.0000+002+1.0\\^^^NA|R||||||N||||5||||||||||O\rL|1|N\r");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EventKind::Order);
    assert_eq!(ev[0].patient, None);
    let codes: Vec<_> = ev[0]
        .observations
        .iter()
        .map(|o| o.code.clone().unwrap())
        .collect();
    assert_eq!(codes, vec!["1.0000+002+1.0", "NA"]);
    assert!(ev[0].observations.iter().all(|o| o.value.is_none()));
}

#[test]
fn queries_one_event_each_with_stable_distinct_ids() {
    let text = b"H|`^&\rQ|1|^1007149`1007152||^^^ALL||||||||O\rQ|2|VAL1||ALL\rL|1|N\r";
    let ev = map(text);
    assert_eq!(ev.len(), 2);
    let q = ev[0].query.as_ref().unwrap();
    assert_eq!(q.specimen_ids, vec!["1007149", "1007152"]);
    assert_eq!(q.tests, vec!["ALL"]);
    assert_eq!(q.status_code.as_deref(), Some("O"));
    assert_eq!(ev[1].query.as_ref().unwrap().specimen_ids, vec!["VAL1"]);
    assert_ne!(ev[0].id, ev[1].id);
    assert_eq!(map(text)[1].id, ev[1].id);
}

#[test]
fn back_to_back_messages_and_skipped_records() {
    let text = b"H|\\^&\rO|1|A\rR|1|^^^X|1\rM|1|HIST|x\rL|1|N\rH|\\^&\rO|1|B\rR|1|^^^Y|2\rL|1|N\r";
    let mapped = map_messages(text, &origin(), &DecodeOptions::default()).unwrap();
    assert_eq!(mapped.events.len(), 2);
    assert_eq!(mapped.skipped_records, 1);
    assert_eq!(
        mapped.events[1].specimen.as_ref().unwrap().id.as_deref(),
        Some("B")
    );
    assert_eq!(
        mapped.events[1].raw.as_deref(),
        Some("H|\\^&\rO|1|B\rR|1|^^^Y|2\rL|1|N\r")
    );
}

#[test]
fn charset_problems_are_reported() {
    let opts = DecodeOptions {
        charset: AstmCharset::Utf8,
        ..DecodeOptions::default()
    };
    let mapped = map_messages(
        b"H|\\^&\rP|1||||M\xfcller\rO|1|A\rR|1|^^^X|1\rL\r",
        &origin(),
        &opts,
    )
    .unwrap();
    assert_eq!(mapped.charset.invalid, 1);
    assert_eq!(mapped.charset.first_invalid, Some(14));
    let name = mapped.events[0].patient.as_ref().unwrap().name.clone();
    assert_eq!(name.as_deref(), Some("M\u{FFFD}ller"));
    let latin = map(b"H|\\^&\rP|1||||M\xfcller\rO|1|A\rR|1|^^^X|1\rL\r");
    assert_eq!(
        latin[0].patient.as_ref().unwrap().name.as_deref(),
        Some("Müller")
    );
}

#[test]
fn errors_have_offsets_and_reasons() {
    let err = message_to_events(
        b"\r\n24/10/29 13:08 ID#",
        &origin(),
        &DecodeOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.offset, 2);
    assert!(err.to_string().contains("expected an H record"));
    assert!(message_to_events(b"", &origin(), &DecodeOptions::default()).is_err());
}

#[test]
fn output_is_bounded() {
    let opts = DecodeOptions {
        max_output_bytes: Some(3000),
        ..DecodeOptions::default()
    };
    let text = b"H|\\^&\rQ|1|A\rQ|2|B\rQ|3|C\rQ|4|D\rQ|5|E\rQ|6|F\rQ|7|G\rL|1|N\r";
    let err = message_to_events(text, &origin(), &opts).unwrap_err();
    assert_eq!(err.offset, 0);
    // Each event takes more than 300 bytes (its struct alone), so the limit is reached before
    // the seventh and mapping stops there.
    assert!(matches!(
        err.reason,
        MapErrorKind::TooMuchOutput { events, bytes, limit: 3000 } if events < 7 && bytes == text.len()
    ));
    assert_eq!(map(text).len(), 7);
}
