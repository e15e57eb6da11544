//! The engine's behaviour on a real filesystem, through its public API only.

mod atomicity;
mod drift;
mod dry_run;
mod facts;
mod governance;
mod health;
mod partial_failure;
mod paths;
mod prune;
mod records;
mod restore;
mod roundtrip;
mod sinks;
mod store;
mod support;
mod tidy;
