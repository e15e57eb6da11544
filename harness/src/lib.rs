//! fsmatrix: certifies the switchyard engine on real filesystems.

pub mod docker;
pub mod fixture;
pub mod fs_kind;
pub mod scenario;
pub mod signal;
