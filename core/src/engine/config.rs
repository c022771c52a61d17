//! Engine configuration.

use super::clock::{Clock, SystemClock};
use super::durable::Durability;
use crate::{Dialect, Limits};
use std::fmt;
use std::sync::Arc;

/// Which event fields carry the name, the id and the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFields {
    pub name: String,
    pub id: String,
    /// Epoch milliseconds or an RFC 3339 string.
    pub time: String,
}

impl EventFields {
    /// Inngest-style events: `{name, data, id, ts, v, user}`.
    pub fn inngest() -> Self {
        EventFields { name: "name".into(), id: "id".into(), time: "ts".into() }
    }
    /// CloudEvents: `{type, source, id, time, data}`.
    pub fn cloudevents() -> Self {
        EventFields { name: "type".into(), id: "id".into(), time: "time".into() }
    }
}

impl Default for EventFields {
    fn default() -> Self {
        Self::inngest()
    }
}

/// `lookback_max_events` when a binding's lookback settings turn the buffer on without a
/// count: one default for every binding.
pub const DEFAULT_LOOKBACK_EVENTS: usize = 10_000;

/// How an [`Engine`](crate::Engine) reads events, what it keeps and what it accepts.
#[derive(Clone)]
pub struct Config {
    pub dialect: Dialect,
    pub limits: Limits,
    pub fields: EventFields,
    /// Lookback buffer, per event name: events older than this are dropped…
    pub lookback_max_age_ms: i64,
    /// …as are the oldest past this count (0 turns lookback off)…
    pub lookback_max_events: usize,
    /// …or past this many bytes of event JSON.
    pub lookback_max_bytes: usize,
    /// Most idempotency claims held at once; past it, expired ones are reclaimed and then
    /// new claims fail with `limit_exceeded`.
    pub max_claims: usize,
    /// When a cancellation fires, also remove every other subscription of its owner.
    pub cancel_removes_owner: bool,
    /// What a commit of a durable engine ([`Engine::open`](crate::Engine::open)) survives.
    pub durability: Durability,
    pub clock: Arc<dyn Clock>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dialect: Dialect::Strict,
            limits: Limits::default(),
            fields: EventFields::default(),
            lookback_max_age_ms: 5 * 60 * 1000,
            lookback_max_events: 0,
            lookback_max_bytes: 16 << 20,
            max_claims: 10_000_000,
            cancel_removes_owner: false,
            durability: Durability::Process,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("dialect", &self.dialect)
            .field("limits", &self.limits)
            .field("fields", &self.fields)
            .field("lookback_max_age_ms", &self.lookback_max_age_ms)
            .field("lookback_max_events", &self.lookback_max_events)
            .field("lookback_max_bytes", &self.lookback_max_bytes)
            .field("max_claims", &self.max_claims)
            .field("cancel_removes_owner", &self.cancel_removes_owner)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}
