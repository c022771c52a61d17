//! celmatch compiles the CEL conditions of pending subscriptions (wait-for-event steps,
//! cancellation rules) into indexed matchers, so that one incoming event finds every
//! subscription it satisfies in time that does not grow with the number of subscriptions.
//!
//! ```
//! use celmatch::{Engine, Config, Subscription, Kind};
//! use serde_json::json;
//!
//! let engine = Engine::new(Config::default());
//! // Resume run r1 when its invoice is approved; `event` is the run's trigger.
//! let trigger = json!({"name": "app/invoice.created", "data": {"invoiceId": "inv_1"}});
//! engine.add(
//!     Subscription::wait("w1", "app/invoice.approved")
//!         .when("event.data.invoiceId == async.data.invoiceId && async.data.amount > 100")
//!         .with_trigger(trigger)
//!         .with_owner("r1"),
//! )?;
//!
//! let fired = engine.process(&json!({
//!     "name": "app/invoice.approved", "id": "e1", "ts": 1_700_000_000_000i64,
//!     "data": {"invoiceId": "inv_1", "amount": 250},
//! }))?;
//! assert_eq!(fired.len(), 1);
//! assert_eq!((fired[0].id.as_str(), fired[0].kind), ("w1", Kind::Wait));
//! assert!(engine.is_empty(), "a fired wait is consumed");
//! # Ok::<(), celmatch::Error>(())
//! ```
//!
//! # Dialects
//!
//! - [`Dialect::Strict`] (default): CEL as specified. A missing field is an error (so the
//!   subscription does not match), `int + double` is an error, `1 == 1.0` is true.
//! - [`Dialect::Lenient`]: Inngest-compatible. A missing field reads as `null`
//!   (`missing == null` is true, `missing != "x"` is true, `missing > 5` is false); int and
//!   double mix in arithmetic; `+` with a string on either side concatenates; ordering
//!   between incomparable values is false instead of an error.
//!
//! The shared cases in `tests/cases/` pin both down, for Rust, Python and Node alike.
//!
//! # Guarantees
//!
//! - **No false negatives.** The index only narrows the candidates; every candidate is
//!   verified by evaluating its condition, and whatever the index cannot decide is verified
//!   on every event. A differential test compares the engine with one-by-one evaluation.
//! - **At most once.** A subscription fires for the first event that satisfies it, or expires
//!   at its deadline, and is consumed in the same step, also with concurrent `process` calls.
//! - **Deterministic order.** Fired subscriptions come back in registration order.
//! - **Errors are values.** An evaluation error means "no match" for that subscription and is
//!   counted ([`Engine::eval_errors`]); `process` fails only for a malformed event.
//!
//! # Untrusted input
//!
//! Every input is bounded by [`Limits`] (expression length and nesting, DNF size, event size
//! and nesting). Nesting is checked on the text before the parser recurses, so a
//! 100,000-deep expression is the error `too_deep`, never a stack overflow. Nothing panics
//! on bad input: every error is typed, with a stable [`code`](Error::code), and compile
//! errors carry a byte span, line and column.
//!
//! # How it works
//!
//! ```text
//! condition ─lex─▶ ─parse─▶ ─bind event.*─▶ ─fold─▶ ─NNF─▶ ─lift literals─▶ shape + params ─DNF─▶ conjunctions
//! conjunction ─choose access predicate─▶ index of the event name (eq / in / prefix / suffix /
//!     contains / range / interval / presence, or the scan list)
//! event bytes ─parse─▶ read the indexed paths ─▶ candidates ─verify─▶ fired ─consume─▶ result
//! ```
//!
//! Subscriptions that differ only in literals share one *shape*: its text is parsed and
//! analysed once, and each subscription keeps its parameter values.

mod engine;
mod error;
mod eval;
pub mod event;
mod frontend;
mod ids;
mod index;
mod limits;
pub mod routing;

pub use engine::{
    parse_duration_ms, parse_time_ms, Clock, Config, ConfigRecord, Durability, Engine, EventFields, Fired, Kind, ManualClock, Stats, Subscription,
    SystemClock, DEFAULT_LOOKBACK_EVENTS, SCHEMA_VERSION,
};
pub use error::{CompileError, CompileErrorKind, Error, ErrorKind, EvalError, EvalErrorKind, Span};
pub use frontend::Compiled;
pub use limits::Limits;
pub use routing::{Route, Routes};

/// Hooks for the cel-spec conformance runner (`core/tests/conformance.rs`); not API.
#[doc(hidden)]
pub mod conformance {
    use crate::{CompileError, Compiled, Dialect, Limits};

    /// Compiles `src` as an expression whose free identifiers are the top-level fields of
    /// the input object (cel-spec tests bind variables by name).
    pub fn compile(src: &str, dialect: Dialect) -> Result<Compiled, CompileError> {
        crate::frontend::Frontend::new(dialect, Limits::default()).compile(src, crate::frontend::Vars::Env, None)
    }
}

/// Which CEL the engine speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// CEL as specified: missing fields are errors, no mixed int/double arithmetic.
    #[default]
    Strict,
    /// Inngest-compatible: missing fields are null, numbers mix, `+` with a string concatenates.
    Lenient,
}

/// The README's Rust snippets run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod thread_safety {
    use super::*;

    fn is_send_sync<T: Send + Sync>() {}
    fn is_send_sync_unwind_safe<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

    /// The engine holds locks (which do not poison: nothing in it panics on input), so it is
    /// `Send + Sync` but not `RefUnwindSafe`; the values it hands out are all three.
    #[test]
    fn public_types_are_thread_safe() {
        is_send_sync::<Engine>();
        is_send_sync_unwind_safe::<Compiled>();
        is_send_sync_unwind_safe::<Error>();
        is_send_sync_unwind_safe::<CompileError>();
        is_send_sync_unwind_safe::<Fired>();
        is_send_sync_unwind_safe::<Stats>();
        is_send_sync_unwind_safe::<Subscription>();
    }
}
