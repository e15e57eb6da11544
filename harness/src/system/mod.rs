//! The real-system suite: a Debian bookworm minbase root with rust-coreutils and BusyBox, put
//! on a loop-mounted filesystem, switched from GNU coreutils to uutils with the `switchyard`
//! command under the production policy, used, verified with dpkg, rolled back and compared.

mod dpkg;
mod error;
mod root;
mod snapshot;
mod suite;

pub use error::SystemError;
pub use root::{PACKAGES, cached_root};
pub use suite::{certify, reinstall};
