//! Result and order messages: one event per OBR group (HL7 v2.5.1 §7.3 ORU^R01, §7.3.4 OUL,
//! §4.4 OML/ORM).
//!
//! A group runs from an OBR to the next OBR. Its specimen is the SPM inside the group, else the
//! last SPM before it (OUL^R22 puts SPM first); when there is none, or its SPM-2/SPM-4 are empty,
//! OBR-3 / OBR-2 / ORC-3 give the id and OBR-15 the type.
//! NTE segments before the first OBR are message comments and go to every group.

use labwire_event::{Event, EventKind, Observation, OutputBudget, OutputExceeded, Specimen};

use super::fields::Ctx;
use crate::er7::Segment;

struct Group<'m> {
    obr: Option<Segment<'m>>,
    orc: Option<Segment<'m>>,
    spm: Option<Segment<'m>>,
    obx: Vec<Segment<'m>>,
    nte: Vec<Segment<'m>>,
}

struct Split<'m> {
    groups: Vec<Group<'m>>,
    message_nte: Vec<Segment<'m>>,
}

fn split<'m>(ctx: &Ctx<'m>) -> Split<'m> {
    let mut groups: Vec<Group<'m>> = Vec::new();
    let mut message_nte = Vec::new();
    let mut last_spm: Option<Segment<'m>> = None;
    let mut last_orc: Option<Segment<'m>> = None;
    let mut pre_obx: Vec<Segment<'m>> = Vec::new();
    for seg in ctx.msg.segments() {
        match seg.name() {
            b"OBR" => groups.push(Group {
                obr: Some(seg),
                orc: last_orc.take(),
                spm: last_spm,
                obx: Vec::new(),
                nte: Vec::new(),
            }),
            b"ORC" => match groups.last_mut() {
                Some(g) if g.orc.is_none() && g.obx.is_empty() => g.orc = Some(seg),
                _ => last_orc = Some(seg),
            },
            b"SPM" => {
                last_spm = Some(seg);
                if let Some(g) = groups.last_mut() {
                    g.spm = Some(seg);
                }
            }
            b"OBX" => match groups.last_mut() {
                Some(g) => g.obx.push(seg),
                None => pre_obx.push(seg),
            },
            b"NTE" => match groups.last_mut() {
                Some(g) => g.nte.push(seg),
                None => message_nte.push(seg),
            },
            _ => {}
        }
    }
    if !pre_obx.is_empty() {
        groups.insert(
            0,
            Group {
                obr: None,
                orc: None,
                spm: last_spm,
                obx: pre_obx,
                nte: Vec::new(),
            },
        );
    }
    Split {
        groups,
        message_nte,
    }
}

fn specimen<'m>(ctx: &Ctx<'m>, g: &Group<'m>) -> Option<Specimen> {
    let from_spm = g
        .spm
        .as_ref()
        .map(|spm| ctx.specimen_from_spm(spm))
        .unwrap_or_default();
    let obr = g.obr.as_ref();
    let id = from_spm.id.or_else(|| {
        obr.and_then(|o| ctx.comp(o, 3, 1).or_else(|| ctx.comp(o, 2, 1)))
            .or_else(|| g.orc.as_ref().and_then(|o| ctx.comp(o, 3, 1)))
    });
    let specimen_type = from_spm
        .specimen_type
        .or_else(|| obr.and_then(|o| ctx.comp(o, 15, 1)));
    let sp = Specimen { id, specimen_type };
    (sp != Specimen::default()).then_some(sp)
}

fn comments<'m>(ctx: &Ctx<'m>, ntes: &[Segment<'m>], out: &mut Vec<String>) {
    for nte in ntes {
        if let Some(f) = nte.field(3) {
            out.extend(f.repetitions().filter_map(|r| ctx.text(Some(r))));
        }
    }
}

/// One OBX → observation (conventions §3; OBX-4 as the name is a Mindray habit).
fn observation<'m>(ctx: &Ctx<'m>, obx: &Segment<'m>) -> Observation {
    let code = ctx.comp(obx, 3, 1).or_else(|| ctx.first_nonempty(obx, 3));
    let name = ctx.comp(obx, 3, 2).or_else(|| {
        ctx.whole(obx, 4)
            .filter(|s| s.chars().any(char::is_alphabetic))
    });
    let flags = obx
        .field(8)
        .map(|f| f.repetitions().filter_map(|r| ctx.text(Some(r))).collect())
        .unwrap_or_default();
    Observation {
        code,
        test_id: ctx.whole(obx, 3),
        name,
        value: ctx.joined(obx.field(5)),
        units: ctx.first_nonempty(obx, 6),
        reference_range: ctx.whole(obx, 7),
        flags,
        status: ctx.comp(obx, 11, 1),
        completed_at: ctx.time(obx, 14).or_else(|| ctx.time(obx, 19)),
    }
}

/// The test ordered by an OBR (OBR-4 universal service id); no value.
fn ordered_test<'m>(ctx: &Ctx<'m>, obr: &Segment<'m>) -> Option<Observation> {
    let code = ctx.comp(obr, 4, 1).or_else(|| ctx.first_nonempty(obr, 4))?;
    Some(Observation {
        code: Some(code),
        test_id: ctx.whole(obr, 4),
        name: ctx.comp(obr, 4, 2),
        ..Observation::default()
    })
}

/// Mindray QC results carry everything in the OBR and no OBX (CL-series manual example):
/// OBR-3 test, OBR-13 control name, OBR-14 lot, OBR-20 value, OBR-21 units, OBR-8 time.
fn mindray_qc<'m>(ctx: &Ctx<'m>, obr: &Segment<'m>, ev: &mut Event) {
    ev.observations.push(Observation {
        code: ctx.comp(obr, 3, 1),
        test_id: ctx.whole(obr, 3),
        value: ctx.whole(obr, 20),
        units: ctx.first_nonempty(obr, 21),
        completed_at: ctx.time(obr, 8),
        ..Observation::default()
    });
    let id = ctx.comp(obr, 13, 1);
    ev.specimen = id.map(|id| Specimen {
        id: Some(id),
        specimen_type: None,
    });
    if let Some(lot) = ctx.comp(obr, 14, 1) {
        ev.comments.push(format!("control lot {lot}"));
    }
}

/// Result messages (ORU, OUL): `result` events, or `qc` for control specimens. Each event is
/// charged to `budget` as it is built.
pub(crate) fn results<'m>(
    ctx: &Ctx<'m>,
    new_event: impl Fn(EventKind, u32) -> Event,
    budget: &mut OutputBudget,
) -> Result<Vec<Event>, OutputExceeded> {
    let split = split(ctx);
    let patient = ctx.patient();
    // Decoded once: they go to every group.
    let mut message_comments = Vec::new();
    comments(ctx, &split.message_nte, &mut message_comments);
    let header_qc = ctx.header_is_qc();
    let mut out = Vec::with_capacity(split.groups.len());
    for (i, g) in split.groups.iter().enumerate() {
        let qc = header_qc || g.spm.as_ref().is_some_and(|s| ctx.spm_is_qc(s));
        let kind = if qc { EventKind::Qc } else { EventKind::Result };
        let mut ev = new_event(kind, u32::try_from(i).unwrap_or(u32::MAX));
        ev.comments.clone_from(&message_comments);
        comments(ctx, &g.nte, &mut ev.comments);
        match (&g.obr, g.obx.is_empty(), header_qc) {
            (Some(obr), true, true) => mindray_qc(ctx, obr, &mut ev),
            _ => {
                ev.specimen = specimen(ctx, g);
                ev.observations = g.obx.iter().map(|o| observation(ctx, o)).collect();
            }
        }
        if !qc {
            ev.patient.clone_from(&patient);
        }
        budget.charge(&ev)?;
        out.push(ev);
    }
    Ok(out)
}

/// Order messages (OML, ORL, ORM, RSP^K11): `order` events, one per OBR, each charged to
/// `budget`.
pub(crate) fn orders<'m>(
    ctx: &Ctx<'m>,
    new_event: impl Fn(EventKind, u32) -> Event,
    budget: &mut OutputBudget,
) -> Result<Vec<Event>, OutputExceeded> {
    let split = split(ctx);
    let patient = ctx.patient();
    let mut message_comments = Vec::new();
    comments(ctx, &split.message_nte, &mut message_comments);
    let mut out = Vec::with_capacity(split.groups.len());
    for (i, g) in split.groups.iter().enumerate() {
        let mut ev = new_event(EventKind::Order, u32::try_from(i).unwrap_or(u32::MAX));
        ev.patient.clone_from(&patient);
        ev.specimen = specimen(ctx, g);
        ev.observations
            .extend(g.obr.as_ref().and_then(|o| ordered_test(ctx, o)));
        ev.comments.clone_from(&message_comments);
        comments(ctx, &g.nte, &mut ev.comments);
        budget.charge(&ev)?;
        out.push(ev);
    }
    Ok(out)
}
