//! HL7 v2 (ER7) message text for a work item, in a profile's dialect.
//!
//! Results: IHE LAW LAB-29 `OUL^R22` (BioSystems BA400: PID, SPM, then OBR/ORC/OBX per test) or
//! `ORU^R01` 2.3.1 (Mindray CL: PID, OBR, OBX per test; MSH-16 `0` results, `2` QC). Host queries:
//! IHE LAW LAB-27 `QBP^Q11` (QPD `WOS^Work Order Step^IHE_LABTF`, QPD-3 specimen id, RCP).
//! Encoding characters are the defaults `|^~\&`.

use crate::message::{SimMessage, expected_of, stamp};
use crate::profile::{Hl7Dialect, Hl7Template, Profile, WireProtocol};
use crate::text::{encode, escape_hl7 as e};
use crate::traffic::{ResultValue, Work};
use labwire_event::EventKind;

fn msh(
    profile: &Profile,
    h: &Hl7Dialect,
    at: &str,
    kind: &str,
    id: &str,
    msh16: &str,
    tail: &str,
) -> String {
    let s = &profile.sender;
    format!(
        "MSH|^~\\&|{}|{}|{}||{at}||{kind}|{}|P|{}|||{}|{}||{}{tail}",
        e(&s.name),
        e(&s.facility),
        e(&h.receiver),
        e(id),
        e(&h.version),
        e(&h.accept_ack),
        msh16,
        e(&h.charset_field),
    )
}

fn obx_type(r: &ResultValue) -> &'static str {
    if r.range.is_empty() { "ST" } else { "NM" }
}

/// Builds the ER7 text for `work`.
pub(crate) fn build(profile: &Profile, work: &Work, seq: u64) -> SimMessage {
    let fallback = Hl7Dialect {
        template: Hl7Template::OruR01,
        version: "2.5.1".into(),
        accept_ack: String::new(),
        application_ack: String::new(),
        charset_field: String::new(),
        receiver: String::new(),
        segment_terminator: "\r".into(),
        specimen_type: String::new(),
    };
    let h = profile.hl7.as_ref().unwrap_or(&fallback);
    let control_id = format!("{}-{seq}", profile.name.to_uppercase());
    let sender = e(&profile.sender.name);
    let mut segs: Vec<String> = Vec::new();
    let (kind, expected) = match (work, h.template) {
        (Work::Query(q), _) => {
            let at = stamp(q.at);
            segs.push(msh(
                profile,
                h,
                &at,
                "QBP^Q11^QBP_Q11",
                &control_id,
                &h.application_ack,
                "|||LAB-27^IHE",
            ));
            let ids: Vec<String> = q.specimen_ids.iter().map(|s| e(s)).collect();
            segs.push(format!(
                "QPD|WOS^Work Order Step^IHE_LABTF|{}|{}",
                e(&control_id),
                ids.join("~")
            ));
            segs.push("RCP|I||R".into());
            (EventKind::Query, Vec::new())
        }
        (Work::Patient(p), Hl7Template::OulR22) => {
            let at = stamp(p.completed_at);
            let i = &p.identity;
            segs.push(msh(
                profile,
                h,
                &at,
                "OUL^R22^OUL_R22",
                &control_id,
                &h.application_ack,
                "|||LAB-29^IHE",
            ));
            segs.push(format!(
                "PID|1||{}^^^^MR||{}^{}||{}|{}",
                e(&i.patient_id),
                e(&i.last_name),
                e(&i.first_name),
                i.birth_date,
                i.sex
            ));
            segs.push(format!("NTE|1||{}", e(&i.comment)));
            segs.push(format!(
                "SPM|1|{}||{}|||||||P",
                e(&p.specimen_id),
                e(&h.specimen_type)
            ));
            for r in &p.results {
                oul_group(&mut segs, r, &sender, profile, &at, &e(&i.physician));
            }
            (EventKind::Result, expected_of(&p.results))
        }
        (Work::Qc(q), Hl7Template::OulR22) => {
            let at = stamp(q.completed_at);
            segs.push(msh(
                profile,
                h,
                &at,
                "OUL^R22^OUL_R22",
                &control_id,
                &h.application_ack,
                "|||LAB-29^IHE",
            ));
            segs.push(format!(
                "SPM|1|{}||{}|||||||Q",
                e(&q.control_id),
                e(&h.specimen_type)
            ));
            for r in &q.results {
                oul_group(&mut segs, r, &sender, profile, &at, "");
            }
            (EventKind::Qc, expected_of(&q.results))
        }
        (Work::Patient(p), Hl7Template::OruR01) => {
            let at = stamp(p.completed_at);
            let i = &p.identity;
            // Mindray puts the barcode in OBR-2 and its sample number in OBR-3; labwire reads
            // the specimen from OBR-3, so both carry the specimen id here.
            let sid = e(&p.specimen_id);
            segs.push(msh(profile, h, &at, "ORU^R01", &control_id, "0", "|||"));
            segs.push(format!(
                "PID|1|{}|||{}^{}||{}|{}",
                e(&i.patient_id),
                e(&i.last_name),
                e(&i.first_name),
                i.birth_date,
                i.sex
            ));
            segs.push(format!(
                "OBR|1|{sid}|{sid}|^|N|{at}|{at}|{at}|||||{}|{at}|{}|{}",
                e(&i.comment),
                e(&h.specimen_type),
                e(&i.physician)
            ));
            oru_results(&mut segs, &p.results, &at);
            (EventKind::Result, expected_of(&p.results))
        }
        (Work::Qc(q), Hl7Template::OruR01) => {
            let at = stamp(q.completed_at);
            let sid = e(&q.control_id);
            segs.push(msh(profile, h, &at, "ORU^R01", &control_id, "2", "|||"));
            segs.push(format!(
                "OBR|1|{sid}|{sid}|^|N|{at}|{at}|{at}|||||QC lot {} level {}|{at}|{}",
                e(&q.lot),
                q.level,
                e(&h.specimen_type)
            ));
            oru_results(&mut segs, &q.results, &at);
            (EventKind::Qc, expected_of(&q.results))
        }
    };
    // One event per order group: OUL^R22 has one OBR per test, ORU^R01 one OBR per message.
    let event_count = match (work, h.template) {
        (Work::Patient(_) | Work::Qc(_), Hl7Template::OulR22) => {
            u32::try_from(expected.len().max(1)).unwrap_or(u32::MAX)
        }
        _ => 1,
    };
    let mut text = segs.join(&h.segment_terminator);
    text.push_str(&h.segment_terminator);
    SimMessage {
        protocol: WireProtocol::Hl7,
        kind,
        bytes: encode(&text, profile.charset),
        control_id,
        specimen_ids: work.specimen_ids(),
        expected,
        event_count,
    }
}

fn oul_group(
    segs: &mut Vec<String>,
    r: &ResultValue,
    sender: &str,
    profile: &Profile,
    at: &str,
    doctor: &str,
) {
    let code = format!("{}^{}^{sender}", e(&r.code), e(&r.name));
    let fac = e(&profile.sender.facility);
    segs.push(format!("OBR||\"\"||{code}||||||||||||{doctor}"));
    segs.push(format!("ORC|OK||||CM||||{at}"));
    segs.push(format!(
        "OBX|1|{}|{code}||{}|{}^{}^{sender}|{}|{}|||F|||||ADMIN||{sender}^{fac}~{}^{fac}|{at}",
        obx_type(r),
        e(&r.value),
        e(&r.units),
        e(&r.units),
        e(&r.range),
        e(&r.flag),
        e(&profile.sender.serial),
    ));
}

fn oru_results(segs: &mut Vec<String>, results: &[ResultValue], at: &str) {
    for (i, r) in results.iter().enumerate() {
        segs.push(format!(
            "OBX|{}|{}|{}|{}|{}|{}|{}|{}|||F||{}|{at}||operator|0|",
            i + 1,
            obx_type(r),
            e(&r.code),
            e(&r.name),
            e(&r.value),
            e(&r.units),
            e(&r.range),
            e(&r.flag),
            e(&r.value),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{Traffic, TrafficConfig};

    fn messages(profile: &str, n: usize) -> Vec<SimMessage> {
        let p = Profile::load(profile).unwrap();
        let mut t = Traffic::new(
            p.clone(),
            TrafficConfig {
                seed: 2,
                instrument_index: 0,
                start: "2026-11-26T08:00:00".parse().unwrap(),
                canary: None,
            },
        );
        (0..n)
            .map(|i| SimMessage::build(&p, &t.next_work(), i as u64))
            .collect()
    }

    #[test]
    fn ba400_sends_oul_r22_with_one_obr_group_per_test() {
        let m = messages("ba400", 30)
            .into_iter()
            .find(|m| m.kind == EventKind::Result)
            .unwrap();
        let text = String::from_utf8(m.bytes.clone()).unwrap();
        assert!(
            text.starts_with("MSH|^~\\&|BA400|Biosystems|Host||"),
            "{text}"
        );
        assert!(text.contains("|OUL^R22^OUL_R22|"));
        assert!(text.contains("|2.5.1|||ER|AL||UNICODE UTF-8|||LAB-29^IHE\r"));
        assert_eq!(text.matches("\rOBR|").count(), m.expected.len());
        assert_eq!(text.matches("\rOBX|").count(), m.expected.len());
    }

    #[test]
    fn ba400_queries_are_lab27_qbp() {
        let m = messages("ba400", 60)
            .into_iter()
            .find(|m| m.kind == EventKind::Query)
            .unwrap();
        let text = String::from_utf8(m.bytes).unwrap();
        assert!(text.contains("|QBP^Q11^QBP_Q11|"), "{text}");
        assert!(
            text.contains("\rQPD|WOS^Work Order Step^IHE_LABTF|"),
            "{text}"
        );
        assert!(text.contains(&m.specimen_ids[0]));
    }

    #[test]
    fn mindray_sends_oru_r01_with_msh16_class() {
        let ms = messages("mindray-cl", 80);
        let r = ms.iter().find(|m| m.kind == EventKind::Result).unwrap();
        let text = String::from_utf8(r.bytes.clone()).unwrap();
        assert!(text.contains("|ORU^R01|"), "{text}");
        assert!(text.contains("|P|2.3.1||||0||ASCII|||"), "{text}");
        let qc = ms.iter().find(|m| m.kind == EventKind::Qc).unwrap();
        assert!(String::from_utf8_lossy(&qc.bytes).contains("|P|2.3.1||||2||ASCII|||"));
    }
}
