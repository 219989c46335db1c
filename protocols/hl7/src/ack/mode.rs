//! Which acknowledgements are due (HL7 v2.5 §2.9.2 original mode, §2.9.3 enhanced mode;
//! table 0008 acknowledgement codes, table 0155 accept/application acknowledgement conditions).

use crate::er7::Message;

/// MSA-1 acknowledgement code (table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Original mode / application ACK: accepted.
    AA,
    /// Original mode / application ACK: error.
    AE,
    /// Original mode / application ACK: rejected.
    AR,
    /// Enhanced mode commit ACK: accepted (safely stored).
    CA,
    /// Enhanced mode commit ACK: error.
    CE,
    /// Enhanced mode commit ACK: rejected.
    CR,
}

impl AckCode {
    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AA => "AA",
            Self::AE => "AE",
            Self::AR => "AR",
            Self::CA => "CA",
            Self::CE => "CE",
            Self::CR => "CR",
        }
    }

    fn application(o: Outcome) -> Self {
        match o {
            Outcome::Accepted => Self::AA,
            Outcome::Error => Self::AE,
            Outcome::Rejected => Self::AR,
        }
    }

    fn commit(o: Outcome) -> Self {
        match o {
            Outcome::Accepted => Self::CA,
            Outcome::Error => Self::CE,
            Outcome::Rejected => Self::CR,
        }
    }
}

/// When an acknowledgement is wanted (MSH-15 / MSH-16, table 0155).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCondition {
    /// `AL`: always.
    Always,
    /// `NE`: never.
    Never,
    /// `ER`: only on error or reject.
    OnError,
    /// `SU`: only on success.
    OnSuccess,
}

impl AckCondition {
    /// Reads a table 0155 code; empty or unknown values count as `AL` (sending an ACK nobody
    /// waits for is harmless, withholding one that is awaited stalls the sender).
    pub fn from_code(code: &[u8]) -> Self {
        match code {
            b"NE" => Self::Never,
            b"ER" => Self::OnError,
            b"SU" => Self::OnSuccess,
            _ => Self::Always,
        }
    }

    fn wants(self, o: Outcome) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::OnError => o != Outcome::Accepted,
            Self::OnSuccess => o == Outcome::Accepted,
        }
    }
}

/// The acknowledgement mode the sender asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// MSH-15 and MSH-16 both empty: one ACK with `AA`/`AE`/`AR`.
    Original,
    /// MSH-15 or MSH-16 valued.
    Enhanced {
        /// MSH-15: when to send the commit (accept) ACK.
        accept: AckCondition,
        /// MSH-16: when to send the application ACK.
        application: AckCondition,
    },
}

impl AckMode {
    /// Reads MSH-15/MSH-16 of an inbound message. Values outside table 0155 (Mindray puts its
    /// message kind `0`/`2` in MSH-16) are treated as empty.
    pub fn of(msg: &Message<'_>) -> Self {
        let code = |n: usize| -> &[u8] {
            let raw = msg
                .header()
                .and_then(|h| h.field(n))
                .and_then(|f| f.component(1))
                .map(|v| v.raw())
                .unwrap_or_default();
            if matches!(raw, b"AL" | b"NE" | b"ER" | b"SU") {
                raw
            } else {
                b""
            }
        };
        let (a, b) = (code(15), code(16));
        if a.is_empty() && b.is_empty() {
            Self::Original
        } else {
            Self::Enhanced {
                accept: AckCondition::from_code(a),
                application: AckCondition::from_code(b),
            }
        }
    }
}

/// How processing went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored / processed.
    Accepted,
    /// Failed for a reason the sender may fix or retry (`AE`/`CE`).
    Error,
    /// Refused (unsupported type, bad syntax; `AR`/`CR`).
    Rejected,
}

/// The acknowledgements to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcksDue {
    /// The commit (accept) ACK, enhanced mode only.
    pub commit: Option<AckCode>,
    /// The application ACK (the only ACK in original mode).
    pub application: Option<AckCode>,
}

/// Which ACKs are due for an inbound message in `mode`, given the outcome of safe storage
/// (`commit`) and, once known, of application processing (`application`). In original mode the
/// single ACK reports the application outcome when given, else the commit outcome.
pub fn acks_due(mode: AckMode, commit: Outcome, application: Option<Outcome>) -> AcksDue {
    match mode {
        AckMode::Original => AcksDue {
            commit: None,
            application: Some(AckCode::application(match commit {
                Outcome::Accepted => application.unwrap_or(commit),
                other => other,
            })),
        },
        AckMode::Enhanced {
            accept,
            application: app_cond,
        } => AcksDue {
            commit: accept.wants(commit).then_some(AckCode::commit(commit)),
            application: application
                .filter(|o| commit == Outcome::Accepted && app_cond.wants(*o))
                .map(AckCode::application),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AckCondition::*;
    use Outcome::*;

    #[test]
    fn original_mode() {
        assert_eq!(
            acks_due(AckMode::Original, Accepted, None).application,
            Some(AckCode::AA)
        );
        assert_eq!(
            acks_due(AckMode::Original, Accepted, Some(Error)).application,
            Some(AckCode::AE)
        );
        assert_eq!(
            acks_due(AckMode::Original, Rejected, None),
            AcksDue {
                commit: None,
                application: Some(AckCode::AR)
            }
        );
    }

    #[test]
    fn enhanced_mode_table_0155() {
        let m = |a, b| AckMode::Enhanced {
            accept: a,
            application: b,
        };
        // BA400 sends ER|AL: no commit ACK on success, application ACK always.
        assert_eq!(
            acks_due(m(OnError, Always), Accepted, Some(Accepted)),
            AcksDue {
                commit: None,
                application: Some(AckCode::AA)
            }
        );
        assert_eq!(
            acks_due(m(OnError, Always), Error, None),
            AcksDue {
                commit: Some(AckCode::CE),
                application: None
            }
        );
        assert_eq!(
            acks_due(m(Always, Never), Accepted, Some(Accepted)),
            AcksDue {
                commit: Some(AckCode::CA),
                application: None
            }
        );
        assert_eq!(
            acks_due(m(Never, OnSuccess), Accepted, Some(Error)),
            AcksDue {
                commit: None,
                application: None
            }
        );
        assert_eq!(
            acks_due(m(Never, OnError), Accepted, Some(Rejected)).application,
            Some(AckCode::AR)
        );
    }
}
