//! Reading decoded text out of a parsed message, and the header fields every event carries.

use labwire_event::{Patient, Sender, Specimen, normalize_message_time};

use crate::er7::{Hl7Charset, Message, Segment, Value};

/// A parsed message and the character set its text is decoded with.
pub(crate) struct Ctx<'m> {
    pub(crate) msg: Message<'m>,
    pub(crate) charset: Hl7Charset,
}

impl<'m> Ctx<'m> {
    /// Unescaped, decoded, trimmed text; `None` when empty or the HL7 null `""`.
    pub(crate) fn text(&self, v: Option<Value<'m>>) -> Option<String> {
        let v = v?;
        if v.is_null() {
            return None;
        }
        let s = v.text(self.charset);
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_owned())
    }

    /// Text of field `n` component `c` (subcomponent 1).
    pub(crate) fn comp(&self, seg: &Segment<'m>, n: usize, c: usize) -> Option<String> {
        self.text(seg.field(n)?.component(c)?.subcomponent(1))
    }

    /// Text of the whole field `n` (all components, as sent, unescaped).
    pub(crate) fn whole(&self, seg: &Segment<'m>, n: usize) -> Option<String> {
        self.text(seg.field(n))
    }

    /// The first non-empty component of field `n`.
    pub(crate) fn first_nonempty(&self, seg: &Segment<'m>, n: usize) -> Option<String> {
        let f = seg.field(n)?;
        f.components().find_map(|c| self.text(c.subcomponent(1)))
    }

    /// A timestamp field (component 1) as ISO 8601.
    pub(crate) fn time(&self, seg: &Segment<'m>, n: usize) -> Option<String> {
        normalize_message_time(&self.comp(seg, n, 1)?)
    }

    /// A value made of components: each unescaped, trailing empty ones dropped, the rest joined
    /// with the message's component separator (repetitions joined with its repetition separator).
    pub(crate) fn joined(&self, v: Option<Value<'m>>) -> Option<String> {
        let v = v?;
        if v.is_null() {
            return None;
        }
        let d = self.msg.delimiters();
        let mut out = String::new();
        for (r, rep) in v.repetitions().enumerate() {
            let comps: Vec<String> = rep
                .components()
                .map(|c| c.text(self.charset).trim().to_owned())
                .collect();
            let used = comps
                .iter()
                .rposition(|c| !c.is_empty())
                .map_or(0, |p| p + 1);
            if used == 0 {
                continue;
            }
            if r > 0 && !out.is_empty() {
                out.push(char::from(d.repetition));
            }
            for (i, c) in comps.iter().take(used).enumerate() {
                if i > 0 {
                    out.push(char::from(d.component));
                }
                out.push_str(c);
            }
        }
        let t = out.trim();
        (!t.is_empty()).then(|| t.to_owned())
    }

    /// Message time and sender from the header (MSH-7, MSH-3, MSH-4, SFT-2), computed once per
    /// message and copied into each of its events.
    pub(crate) fn header_facts(&self) -> (Option<String>, Option<Sender>) {
        let Some(msh) = self.msg.header() else {
            return (None, None);
        };
        let message_time = self.time(&msh, 7);
        let name = self.comp(&msh, 3, 1);
        let serial = self.comp(&msh, 4, 1);
        let version = self.msg.find(b"SFT").and_then(|s| self.comp(&s, 2, 1));
        let sender = (name.is_some() || serial.is_some() || version.is_some()).then_some(Sender {
            name,
            version,
            serial,
        });
        (message_time, sender)
    }

    /// The patient from the first PID segment.
    pub(crate) fn patient(&self) -> Option<Patient> {
        let pid = self.msg.find(b"PID")?;
        let id = self
            .text(
                pid.field(3)
                    .and_then(|f| f.component(1))
                    .and_then(|c| c.subcomponent(1)),
            )
            .or_else(|| self.comp(&pid, 2, 1));
        let name_parts: Vec<String> = (1..=5)
            .filter_map(|c| self.text(pid.field(5)?.component(c)?.subcomponent(1)))
            .collect();
        let name = (!name_parts.is_empty()).then(|| name_parts.join(" "));
        let birth_date = self.time(&pid, 7);
        let sex = self.comp(&pid, 8, 1);
        let p = Patient {
            id,
            name,
            birth_date,
            sex,
        };
        (p != Patient::default()).then_some(p)
    }

    /// Specimen from an SPM segment: SPM-2 (placer id, else filler id) and SPM-4 (text, else code).
    pub(crate) fn specimen_from_spm(&self, spm: &Segment<'m>) -> Specimen {
        let id_field = spm.field(2);
        let id = self
            .text(
                id_field
                    .and_then(|f| f.component(1))
                    .and_then(|c| c.subcomponent(1)),
            )
            .or_else(|| {
                self.text(
                    id_field
                        .and_then(|f| f.component(2))
                        .and_then(|c| c.subcomponent(1)),
                )
            });
        let specimen_type = self.comp(spm, 4, 2).or_else(|| self.comp(spm, 4, 1));
        Specimen { id, specimen_type }
    }

    /// True when the SPM marks a control or calibrator specimen (SPM-11 `Q` or `C`, table 0369).
    pub(crate) fn spm_is_qc(&self, spm: &Segment<'m>) -> bool {
        matches!(self.comp(spm, 11, 1).as_deref(), Some("Q" | "C"))
    }

    /// True when the header marks the whole message as QC: MSH-11 processing id `Q`, or the
    /// Mindray mark MSH-16 = `2` (QC result; `0` is a patient result).
    pub(crate) fn header_is_qc(&self) -> bool {
        let Some(msh) = self.msg.header() else {
            return false;
        };
        self.comp(&msh, 11, 1).as_deref() == Some("Q")
            || self.comp(&msh, 16, 1).as_deref() == Some("2")
    }
}
