//! ASTM E1381 (CLSI LIS1-A) data-link layer, sans-IO.
//!
//! * [`checksum`], [`frame`], [`encode`], [`decode`]: frames (§8.3).
//! * [`boundary`]: where a message starts and ends in record text.

pub mod boundary;
pub mod checksum;
pub mod control;
pub mod decode;
pub mod encode;
pub mod error;
pub mod frame;

pub use control::Control;
pub use decode::{Decoded, FrameDecoder};
pub use encode::{EncodeOptions, encode_message};
pub use error::{FrameError, FrameErrorKind};
pub use frame::{Frame, FrameEnd, FrameLimits, FrameNumber, encode_frame};
