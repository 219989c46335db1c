//! ASTM E1381 (CLSI LIS1-A) data-link layer, sans-IO.
//!
//! * [`checksum`], [`frame`], [`encode`], [`decode`]: frames (§8.3).
//! * [`boundary`]: where a message starts and ends in record text.
//! * [`Link`] ([`machine`]): the establishment / transfer / termination state
//!   machine for host and instrument roles (§8.2-§8.6), configured by
//!   [`LinkConfig`], reporting [`LinkEvent`]s.
//! * [`fuzz`]: entry points shared by the fuzz targets and their replay test.

pub mod boundary;
pub mod checksum;
pub mod config;
pub mod control;
pub mod decode;
pub mod encode;
pub mod error;
pub mod event;
pub mod frame;
pub mod fuzz;
pub mod machine;

pub use config::{LinkConfig, Role};
pub use control::Control;
pub use decode::{Decoded, FrameDecoder};
pub use encode::{EncodeOptions, encode_message};
pub use error::{FrameError, FrameErrorKind};
pub use event::{DeliveryToken, Direction, LinkEvent, LinkStats, SendFailure, SendId};
pub use frame::{Frame, FrameEnd, FrameLimits, FrameNumber, encode_frame};
pub use machine::{Busy, Link};
