//! Standard output for what commands say. A closed pipe (`fsmatrix clean | head`) ends the
//! output, never the command: `println!` would panic on EPIPE, and `clean` must still finish
//! reclaiming what it started on.

use std::fmt;
use std::io::{self, Write};

/// `println!` that ignores a closed or failing standard output.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(super) use outln;

/// Writes to standard output; an error (a reader gone) is dropped on purpose.
pub(crate) fn write(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.flush());
}
