//! A cluster of celmatch workers on Redis.
//!
//! Redis holds the truth: per range of slots, a registry of subscriptions (a hash), its change
//! stream, an event stream read through a consumer group, and an output stream of what fired
//! or expired; plus a broadcast set for subscriptions that do not pin their event name's
//! routing path. Workers are stateless: each leases some ranges, loads their subscriptions
//! (and the broadcast set) into a local [`celmatch::Engine`], matches their events, and
//! consumes what fires with a Lua script that deletes the record and appends the outcome in
//! one step, so exactly one worker wins. See `worker.rs` for why nothing fires twice and
//! nothing is lost.
//!
//! Keys of one range share a hash tag (`{prefix.r7}`), so a Redis Cluster keeps a range on
//! one node and the scripts stay single-slot.

mod client;
mod error;
mod keys;
mod reply;
mod scripts;
mod worker;

pub use client::{Cluster, Options, Outcome, DEFAULT_RANGES};
pub use error::{Error, ErrorKind};
pub use keys::Home;
pub use reply::Entry;
pub use worker::{Worker, WorkerOptions, WorkerStats};
