//! Host-to-analyzer messages of IHE LAW (Laboratory Analytical Workflow): RSP^K11, the answer to
//! a LAB-27 work-order query, and OML^O33, the LAB-28 order download (HL7 v2.5.1 §4.4.12,
//! §5.3.1). Kept simple: one specimen, its tests, the patient when known.

use labwire_event::Patient;

use super::{AckBuildError, build::reply_delimiters};
use crate::er7::{Delimiters, Message, MessageBuilder};

/// The MSH of a message labwire originates (no clock, no id generator: the caller decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// MSH-3.
    pub sending_application: String,
    /// MSH-4.
    pub sending_facility: String,
    /// MSH-5.
    pub receiving_application: String,
    /// MSH-6.
    pub receiving_facility: String,
    /// MSH-7, an HL7 timestamp.
    pub timestamp: String,
    /// MSH-10.
    pub control_id: String,
    /// MSH-11 (`P` production, `T` training, `D` debugging).
    pub processing_id: String,
    /// MSH-12, e.g. `2.5.1`.
    pub version: String,
}

/// A test to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderedTest {
    /// Test code (OBR-4.1).
    pub code: String,
    /// Test name (OBR-4.2).
    pub name: Option<String>,
    /// Coding system (OBR-4.3).
    pub coding_system: Option<String>,
}

/// One specimen and the tests ordered on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecimenOrder {
    /// The patient; the name goes whole into PID-5.1 (the canonical name is already joined).
    pub patient: Option<Patient>,
    /// SPM-2 specimen id (bar code).
    pub specimen_id: String,
    /// SPM-4 specimen type code (`SER`, `URI`, …).
    pub specimen_type: Option<String>,
    /// ORC-2 / OBR-2 placer order number.
    pub placer_order_number: Option<String>,
    /// The tests (one ORC/OBR pair each).
    pub tests: Vec<OrderedTest>,
}

fn write_msh(b: &mut MessageBuilder, h: &Header, msh9: &[&str], profile: &str) {
    b.msh()
        .set(3, &h.sending_application)
        .set(4, &h.sending_facility)
        .set(5, &h.receiving_application)
        .set(6, &h.receiving_facility)
        .set(7, &h.timestamp)
        .set_components(9, msh9)
        .set(10, &h.control_id)
        .set(11, &h.processing_id)
        .set(12, &h.version)
        .set_components(21, &[profile, "IHE"]);
}

/// ISO 8601 date/time → HL7 DTM (`1962-08-24` → `19620824`).
fn dtm(iso: &str) -> String {
    let (date, time) = iso.split_once('T').unwrap_or((iso, ""));
    let mut s: String = date.chars().filter(char::is_ascii_digit).collect();
    s.extend(time.chars().filter(|c| *c != ':'));
    s
}

fn write_order(b: &mut MessageBuilder, o: &SpecimenOrder) -> Result<(), AckBuildError> {
    if let Some(p) = &o.patient {
        let pid = b.segment("PID")?;
        pid.set(1, "1");
        if let Some(id) = &p.id {
            pid.set(3, id);
        }
        if let Some(n) = &p.name {
            pid.set(5, n);
        }
        if let Some(d) = &p.birth_date {
            pid.set(7, &dtm(d));
        }
        if let Some(s) = &p.sex {
            pid.set(8, s);
        }
    }
    let spm = b.segment("SPM")?;
    spm.set(1, "1").set(2, &o.specimen_id);
    if let Some(t) = &o.specimen_type {
        spm.set(4, t);
    }
    let placer = o.placer_order_number.as_deref().unwrap_or_default();
    for (i, t) in o.tests.iter().enumerate() {
        b.segment("ORC")?.set(1, "NW").set(2, placer);
        b.segment("OBR")?
            .set(1, &(i + 1).to_string())
            .set(2, placer)
            .set_components(
                4,
                &[
                    &t.code,
                    t.name.as_deref().unwrap_or_default(),
                    t.coding_system.as_deref().unwrap_or_default(),
                ],
            );
    }
    Ok(())
}

/// RSP^K11 answering a QBP^Q11 (LAB-27): MSA `AA` to the query's MSH-10, QAK with the query tag
/// and `OK` (orders follow) or `NF` (nothing found), the query's QPD echoed, then the order.
pub fn build_rsp_k11(
    query: &Message<'_>,
    header: &Header,
    order: Option<&SpecimenOrder>,
) -> Result<Vec<u8>, AckBuildError> {
    let msh = query.header().ok_or(AckBuildError::NoHeader)?;
    let mut b = MessageBuilder::new(reply_delimiters(query))?;
    write_msh(&mut b, header, &["RSP", "K11", "RSP_K11"], "LAB-27");
    b.segment("MSA")?.set(1, "AA").set_raw(2, msh.raw_field(10));
    let qpd = query.find(b"QPD");
    let found = order.is_some_and(|o| !o.tests.is_empty());
    let qak = b.segment("QAK")?;
    qak.set_raw(1, qpd.map(|q| q.raw_field(2)).unwrap_or_default())
        .set(2, if found { "OK" } else { "NF" })
        .set_raw(3, qpd.map(|q| q.raw_field(1)).unwrap_or_default());
    if let Some(q) = qpd {
        let out = b.segment("QPD")?;
        for (n, f) in q.fields().enumerate() {
            out.set_raw(n + 1, f.raw());
        }
    }
    if let Some(o) = order.filter(|_| found) {
        write_order(&mut b, o)?;
    }
    Ok(b.to_bytes())
}

/// OML^O33 (LAB-28): one specimen and its tests, each as a new order (`ORC-1 NW`).
pub fn build_oml_o33(header: &Header, order: &SpecimenOrder) -> Result<Vec<u8>, AckBuildError> {
    let mut b = MessageBuilder::new(Delimiters::default())?;
    write_msh(&mut b, header, &["OML", "O33", "OML_O33"], "LAB-28");
    write_order(&mut b, order)?;
    Ok(b.to_bytes())
}
