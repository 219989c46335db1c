//! Host queries: IHE LAW LAB-27 QBP^Q11 (QPD-2 query tag, QPD-3 specimen id) and the Mindray
//! "original mode" query QRY^Q02 (QRD/QRF, HL7 v2.3.1 §5.10) with its DSR^Q03 answer.

use labwire_event::{Event, HostQuery, Observation, Patient, Specimen, normalize_message_time};

use super::fields::Ctx;

/// QBP^Q11: specimen ids from QPD-3 (component 1 of every repetition), tag from QPD-2.
pub(crate) fn qbp(ctx: &Ctx<'_>, mut ev: Event) -> Event {
    let mut q = HostQuery::default();
    if let Some(qpd) = ctx.msg.find(b"QPD") {
        q.query_tag = ctx.whole(&qpd, 2);
        if let Some(f) = qpd.field(3) {
            q.specimen_ids = f
                .repetitions()
                .filter_map(|r| ctx.text(r.component(1).and_then(|c| c.subcomponent(1))))
                .collect();
        }
    }
    ev.patient = ctx.patient();
    ev.query = Some(q);
    ev
}

/// Largest sample-id range expanded into single ids.
const MAX_RANGE: u64 = 100;

/// Mindray QRY^Q02: QRD-8 bar code, or the sample-id range QRF-4..QRF-5; QRD-4 query id;
/// QRF-8 `ALL` = every test.
pub(crate) fn mindray_qry(ctx: &Ctx<'_>, mut ev: Event) -> Event {
    let mut q = HostQuery::default();
    if let Some(qrd) = ctx.msg.find(b"QRD") {
        q.query_tag = ctx.whole(&qrd, 4);
        q.specimen_ids.extend(ctx.comp(&qrd, 8, 1));
    }
    if let Some(qrf) = ctx.msg.find(b"QRF") {
        if q.specimen_ids.is_empty() {
            match (ctx.comp(&qrf, 4, 1), ctx.comp(&qrf, 5, 1)) {
                (Some(a), Some(b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
                    (Ok(x), Ok(y)) if x <= y && y - x < MAX_RANGE => {
                        q.specimen_ids.extend((x..=y).map(|n| n.to_string()));
                    }
                    _ => q.specimen_ids.push(format!("{a}..{b}")),
                },
                (Some(a), None) | (None, Some(a)) => q.specimen_ids.push(a),
                (None, None) => {}
            }
        }
        q.tests.extend(ctx.comp(&qrf, 8, 1));
    }
    ev.query = Some(q);
    ev
}

/// Mindray DSR^Q03: the LIS answer, one DSP per item (DSP-1 item number, DSP-3 value). Items per
/// the CL-series manual example: 1 patient record number, 3 name, 4 birth date, 5 sex, 21 sample
/// bar code, 26 sample type, 29 onwards ordered tests (component 1 = test number).
pub(crate) fn mindray_dsr(ctx: &Ctx<'_>, mut ev: Event) -> Event {
    let mut items: Vec<(u32, String)> = Vec::new();
    for dsp in ctx.msg.segments_named(b"DSP") {
        let Some(n) = ctx.comp(&dsp, 1, 1).and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if n >= 29 {
            if let Some(code) = ctx.comp(&dsp, 3, 1) {
                ev.observations.push(Observation {
                    code: Some(code),
                    test_id: ctx.joined(dsp.field(3)),
                    ..Observation::default()
                });
            }
        } else if let Some(v) = ctx.whole(&dsp, 3) {
            items.push((n, v));
        }
    }
    let item = |n: u32| items.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
    let patient = Patient {
        id: item(1),
        name: item(3),
        birth_date: item(4).and_then(|b| normalize_message_time(&b)),
        sex: item(5),
    };
    ev.patient = (patient != Patient::default()).then_some(patient);
    let specimen = Specimen {
        id: item(21),
        specimen_type: item(26),
    };
    ev.specimen = (specimen != Specimen::default()).then_some(specimen);
    ev
}
