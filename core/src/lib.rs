//! celmatch compiles the CEL conditions of pending subscriptions into indexed matchers.

mod error;
mod eval;
mod frontend;
mod limits;
mod engine;
mod index;

pub use error::{CompileError, CompileErrorKind, Error, EvalError, EvalErrorKind, Span};
pub use frontend::Compiled;
pub use limits::Limits;
pub use engine::{
    parse_duration_ms, parse_time_ms, Clock, Config, Engine, EventFields, Fired, Kind, ManualClock, Stats, Subscription, SystemClock,
};

/// Which CEL the engine speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// CEL as specified: missing fields are errors, no mixed int/double arithmetic.
    #[default]
    Strict,
    /// Inngest-compatible: missing fields are null, numbers mix, `+` with a string concatenates.
    Lenient,
}

