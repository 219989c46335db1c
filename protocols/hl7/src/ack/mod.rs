//! Acknowledgements (HL7 v2.5 §2.9): original mode (MSA-1 `AA`/`AE`/`AR`) and enhanced mode
//! (commit ACK `CA`/`CE`/`CR` per MSH-15, application ACK per MSH-16, table 0155), the ERR
//! segment (§2.15.5, ERR-2 location, ERR-3 table 0357, ERR-4 severity, ERR-8 user message), and
//! builders for the messages a lab host sends back: ACK, RSP^K11 (IHE LAW LAB-27 answer) and
//! OML^O33 (LAB-28 order download).

mod build;
mod err;
mod mode;
mod orders;

pub use build::{AckBuildError, AckDialect, AckOptions, build_ack};
pub use err::{AckError, ErrorCode, ErrorLocation, Severity};
pub use mode::{AckCode, AckCondition, AckMode, AcksDue, Outcome, acks_due};
pub use orders::{Header, OrderedTest, SpecimenOrder, build_oml_o33, build_rsp_k11};
