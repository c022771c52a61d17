//! The scale workload behind `cargo run --release -p celmatch-benches --bin scale` and
//! `celmatch bench`: N waits of one shape, then K events that each target one wait.
//!
//! What is measured, on one thread:
//! - `add_per_sec`: `add_many` in chunks of 10,000 (shapes compiled once, then cached);
//! - `match_ns_median` / `match_ns_p99`: one `process_bytes` call, JSON bytes in and fired ids
//!   out, each event built to fire its target wait (which is re-added, untimed, afterwards);
//! - `bytes_per_wait`: the growth of the resident set size (from `/proc/self/statm`) while the
//!   waits were generated and added, divided by N; it includes allocator overhead;
//! - `naive_ns_per_event`: the simple alternative, timed in the same run: parse the event, then
//!   evaluate every subscription's compiled expression one by one. Measured on a sample of
//!   1,000 subscriptions and scaled to N; `speedup` is naive over the median.
//!
//! A fast wrong answer fails: every event must fire its target, or the run panics.

pub mod workload;

pub use workload::{run, Progress, Report, Shape};
