//! Self-tests of the harness: it fails (never skips) on a golden mismatch, an engine error, a
//! missing tool, a hung trial, a crashed child and a crash point moved out of its window; it
//! releases everything after a failing trial (a recorded one too) and on SIGINT or SIGTERM, and
//! `fsmatrix clean` reclaims what a SIGKILLed run left. Each runs the real `fsmatrix` binary
//! on real loop devices.

mod clean;
mod cli;
mod docker;
mod failures;
mod full;
mod gates;
mod inputs;
mod signals;
mod strays;
mod support;
