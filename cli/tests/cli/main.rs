//! The `switchyard` binary on real temporary trees: every command, bad input, exit codes.

mod apply;
mod checks;
mod input;
mod output;
mod rollback;
mod state;
mod status;
mod support;
