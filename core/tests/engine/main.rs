//! The engine's behaviour on a real filesystem, through its public API only.

mod atomicity;
mod drift;
mod dry_run;
mod engine_files;
mod facts;
mod governance;
mod health;
mod health_profile;
mod history;
mod partial_failure;
mod paths;
mod prune;
mod records;
mod reporting;
mod requests;
mod restore;
mod root_programs;
mod roundtrip;
mod shared_store;
mod sinks;
mod store;
mod support;
mod threads;
mod tidy;
