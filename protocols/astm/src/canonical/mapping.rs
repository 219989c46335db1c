//! Walks the records of one message and builds canonical events (shared conventions §3).
//!
//! One `result` (or `qc`) event per O record with the R and C records that follow it; one
//! `order` event per O record without results; one `query` event per Q record. R records
//! before any O form a group without specimen. M and S records are manufacturer/scientific
//! data (histograms, images, reagent lots) and are skipped (counted).

use labwire_event::{
    BoundedRaw, Event, EventKind, HostQuery, MessageIds, Observation, Origin, OutputBudget,
    OutputExceeded, Patient, Protocol, Sender, Specimen,
};

use super::text::Text;
use crate::record::{Message, Record, RecordType};

/// What the walk produced for one message.
pub(crate) struct MessageEvents {
    pub(crate) events: Vec<Event>,
    pub(crate) skipped_records: usize,
}

/// Where the last record sits in the hierarchy (a C record belongs to it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Header,
    Patient,
    Group,
    Query,
}

/// An O record (or an implicit group) with its results and comments.
struct Group<'a> {
    patient: Option<Patient>,
    order: Option<Record<'a>>,
    results: Vec<Record<'a>>,
    comments: Vec<String>,
    qc: bool,
}

enum Pending<'a> {
    Group(Group<'a>),
    Query(Record<'a>, Vec<String>),
}

/// Header facts shared by every event of the message.
struct Header {
    sender: Option<Sender>,
    message_time: Option<String>,
    qc: bool,
}

/// The note on events of a message whose H record had an empty delimiter definition.
pub(crate) const DEFAULTED_DELIMITERS: &str =
    "ASTM H-2 delimiter definition empty: standard delimiters \\^& assumed";

/// Maps one message, charging every event to `budget`. `raw` (the decoded text) becomes one
/// shared, bounded copy ([`BoundedRaw`]) carried by all events.
pub(crate) fn map(
    message: &Message<'_>,
    text: Text,
    raw: &str,
    origin: &Origin,
    budget: &mut OutputBudget,
) -> Result<MessageEvents, OutputExceeded> {
    let mut records = message.records();
    let header = records.next().map(|h| read_header(&h, text));
    let header = header.unwrap_or(Header {
        sender: None,
        message_time: None,
        qc: false,
    });
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut message_comments = Vec::new();
    let mut patient: Option<Patient> = None;
    let mut patient_comments: Vec<String> = Vec::new();
    let mut level = Level::Header;
    let mut skipped = 0;
    for record in records {
        match record.record_type() {
            RecordType::Patient => {
                patient = read_patient(&record, text);
                patient_comments.clear();
                level = Level::Patient;
            }
            RecordType::Order => {
                pending.push(Pending::Group(Group {
                    patient: patient.clone(),
                    order: Some(record),
                    results: Vec::new(),
                    comments: patient_comments.clone(),
                    qc: order_is_qc(&record, text),
                }));
                level = Level::Group;
            }
            RecordType::Result => {
                if level != Level::Group || !matches!(pending.last(), Some(Pending::Group(_))) {
                    pending.push(Pending::Group(Group {
                        patient: patient.clone(),
                        order: None,
                        results: Vec::new(),
                        comments: patient_comments.clone(),
                        qc: false,
                    }));
                }
                if let Some(Pending::Group(g)) = pending.last_mut() {
                    g.results.push(record);
                }
                level = Level::Group;
            }
            RecordType::Comment => {
                let comments = read_comment(&record, text);
                match (level, pending.last_mut()) {
                    (Level::Group, Some(Pending::Group(g))) => g.comments.extend(comments),
                    (Level::Query, Some(Pending::Query(_, c))) => c.extend(comments),
                    (Level::Patient, _) => patient_comments.extend(comments),
                    _ => message_comments.extend(comments),
                }
            }
            RecordType::Query => {
                pending.push(Pending::Query(record, Vec::new()));
                level = Level::Query;
            }
            RecordType::Terminator | RecordType::Header => {}
            RecordType::Manufacturer | RecordType::Scientific | RecordType::Other => skipped += 1,
        }
    }
    let raw = BoundedRaw::new(raw);
    budget.charge_shared(raw.text().len())?;
    let ids = origin.message_ids(Protocol::Astm, message.text());
    let mut events = Vec::with_capacity(pending.len());
    for (index, item) in pending.into_iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let mut event = match item {
            Pending::Group(g) => group_event(g, &header, text, origin, &ids, index),
            Pending::Query(q, comments) => {
                let id = ids.id(EventKind::Query, index);
                let mut ev = origin.event_with_id(id, EventKind::Query, Protocol::Astm);
                ev.query = Some(read_query(&q, text));
                ev.comments = comments;
                ev
            }
        };
        if !message_comments.is_empty() {
            let mut all = message_comments.clone();
            all.append(&mut event.comments);
            event.comments = all;
        }
        event.sender.clone_from(&header.sender);
        event.message_time.clone_from(&header.message_time);
        raw.apply(&mut event);
        if message.delimiters_defaulted() {
            event.notes.push(DEFAULTED_DELIMITERS.to_owned());
        }
        budget.charge(&event)?;
        events.push(event);
    }
    Ok(MessageEvents {
        events,
        skipped_records: skipped,
    })
}

fn read_header(h: &Record<'_>, text: Text) -> Header {
    let sender_field = h.field(5);
    let sender = Sender {
        name: text.component(sender_field, 1),
        version: text.component(sender_field, 2),
        serial: text.component(sender_field, 3),
    };
    let has_sender = sender.name.is_some() || sender.version.is_some() || sender.serial.is_some();
    let processing = text.component(h.field(12), 1);
    Header {
        sender: has_sender.then_some(sender),
        message_time: text.time(h.field(14)),
        // `Q` per LIS2-A2 §6.12; Mindray writes `QR` for QC results.
        qc: matches!(processing.as_deref(), Some("Q" | "QR")),
    }
}

fn read_patient(p: &Record<'_>, text: Text) -> Option<Patient> {
    let patient = Patient {
        id: [3, 4, 5].into_iter().find_map(|n| text.plain(p.field(n))),
        name: p.field(6).and_then(|f| text.joined(f, " ")),
        birth_date: text.time(p.field(8)),
        sex: text.plain(p.field(9)),
    };
    let any = patient.id.is_some()
        || patient.name.is_some()
        || patient.birth_date.is_some()
        || patient.sex.is_some();
    any.then_some(patient)
}

/// O-12 action code `Q` (treat as QC), or Horiba Yumizen's specimen type `CTRL` (O-16).
fn order_is_qc(o: &Record<'_>, text: Text) -> bool {
    let action = text.plain(o.field(12));
    let specimen_type = text.component(o.field(16), 1);
    action.as_deref() == Some("Q") || specimen_type.is_some_and(|t| t.eq_ignore_ascii_case("CTRL"))
}

/// C-4: one comment per repeat, its non-empty components joined by a space.
fn read_comment(c: &Record<'_>, text: Text) -> Vec<String> {
    c.field(4)
        .map(|f| f.repeats().filter_map(|r| text.joined(r, " ")).collect())
        .unwrap_or_default()
}

fn group_event(
    g: Group<'_>,
    header: &Header,
    text: Text,
    origin: &Origin,
    ids: &MessageIds<'_>,
    index: u32,
) -> Event {
    let kind = if header.qc || g.qc {
        EventKind::Qc
    } else if g.results.is_empty() {
        EventKind::Order
    } else {
        EventKind::Result
    };
    let mut ev = origin.event_with_id(ids.id(kind, index), kind, Protocol::Astm);
    ev.patient = g.patient;
    if let Some(o) = g.order {
        let specimen = Specimen {
            id: text.first_component(o.field(3)),
            specimen_type: text.component(o.field(16), 1),
        };
        if specimen.id.is_some() || specimen.specimen_type.is_some() {
            ev.specimen = Some(specimen);
        }
        if g.results.is_empty() {
            ev.observations = ordered_tests(&o, text);
        }
    }
    ev.observations
        .extend(g.results.iter().map(|r| read_result(r, text)));
    ev.comments = g.comments;
    ev
}

/// O-5 repeats as observations without a value.
fn ordered_tests(o: &Record<'_>, text: Text) -> Vec<Observation> {
    let Some(tests) = o.field(5) else {
        return Vec::new();
    };
    tests
        .repeats()
        .filter(|t| !t.is_empty())
        .map(|t| Observation {
            code: text.test_code(Some(t)),
            test_id: text.plain(Some(t)),
            name: text.component(Some(t), 2),
            ..Observation::default()
        })
        .filter(|obs| obs.code.is_some())
        .collect()
}

fn read_result(r: &Record<'_>, text: Text) -> Observation {
    let test = r.field(3).and_then(|f| f.repeats().next());
    Observation {
        code: text.test_code(test),
        test_id: text.plain(r.field(3)),
        name: text.component(test, 2),
        value: text.value(r.field(4)),
        units: text.value(r.field(5)),
        reference_range: text.value(r.field(6)),
        flags: r
            .field(7)
            .map(|f| f.repeats().filter_map(|x| text.value(Some(x))).collect())
            .unwrap_or_default(),
        status: text.plain(r.field(9)),
        completed_at: text.time(r.field(13)),
    }
}

/// Q-3 (and Q-4) specimen ids: per repeat the 2nd component (`patient^specimen`), else the
/// first non-empty one; Q-5 tests by the test-code rule; Q-13 status code.
fn read_query(q: &Record<'_>, text: Text) -> HostQuery {
    let mut specimen_ids = Vec::new();
    let repeats = [3, 4]
        .into_iter()
        .filter_map(|n| q.field(n))
        .flat_map(|f| f.repeats());
    for r in repeats {
        let id = text
            .component(Some(r), 2)
            .or_else(|| text.first_component(Some(r)));
        if let Some(id) = id.filter(|id| !specimen_ids.contains(id)) {
            specimen_ids.push(id);
        }
    }
    let tests = q
        .field(5)
        .map(|f| {
            f.repeats()
                .filter_map(|t| text.test_code(Some(t)))
                .collect()
        })
        .unwrap_or_default();
    HostQuery {
        specimen_ids,
        tests,
        status_code: text.plain(q.field(13)),
        query_tag: None,
    }
}
