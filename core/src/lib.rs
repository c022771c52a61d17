//! celmatch compiles the CEL conditions of pending subscriptions into indexed matchers.

mod error;
mod eval;
mod frontend;
mod limits;
mod engine;

pub use error::{CompileError, CompileErrorKind, EvalError, EvalErrorKind, Span};
pub use frontend::Compiled;
pub use limits::Limits;
pub use engine::{Config, Engine};

/// Which CEL the engine speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// CEL as specified: missing fields are errors, no mixed int/double arithmetic.
    #[default]
    Strict,
    /// Inngest-compatible: missing fields are null, numbers mix, `+` with a string concatenates.
    Lenient,
}

