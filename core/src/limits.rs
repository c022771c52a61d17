//! Input limits. Every one has a safe default and a test with input just over it.

/// Bounds on what the engine accepts. Inputs over a limit get a typed error, never a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest expression, in bytes.
    pub max_expr_bytes: usize,
    /// Deepest nesting of an expression: brackets, operator chains (`a + a + …` nests too) and
    /// field selections. Checked on the text before the parser recurses, so a 100,000-deep
    /// input is an error, not a stack overflow. Raising it far above the default needs a
    /// bigger thread stack.
    pub max_depth: usize,
    /// Most conjunctions a condition is split into for indexing (bounded DNF). A condition
    /// past the bound is still accepted: it is kept whole and verified on every event.
    pub max_conjunctions: usize,
    /// Largest event, in bytes of JSON.
    pub max_event_bytes: usize,
    /// Deepest nesting of arrays and objects in an event.
    pub max_event_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_expr_bytes: 16 * 1024,
            max_depth: 64,
            max_conjunctions: 64,
            max_event_bytes: 1024 * 1024,
            max_event_depth: 64,
        }
    }
}
