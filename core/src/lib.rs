//! switchyard
pub mod error;
#[cfg(feature = "crash-points")]
pub mod crash;
pub use error::ErrorId;
