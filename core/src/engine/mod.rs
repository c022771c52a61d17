//! The engine: subscriptions, matching, deadlines, lookback, keys and claims.

mod config;

pub use config::Config;

use crate::frontend::{Frontend, Vars};
use crate::{CompileError, Compiled};
use serde_json::Value as Json;

/// The matching engine. Thread-safe: share it behind an `Arc`.
pub struct Engine {
    config: Config,
    frontend: Frontend,
}

impl Engine {
    pub fn new(config: Config) -> Engine {
        let frontend = Frontend::new(config.dialect, config.limits.clone());
        Engine { config, frontend }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Compiles a condition over `async` (the incoming event), without a trigger.
    pub fn compile(&self, expr: &str) -> Result<Compiled, CompileError> {
        self.frontend.compile(expr, Vars::Condition { trigger: false }, None)
    }

    /// Compiles a condition and binds `event.*` from `trigger`.
    pub fn compile_bound(&self, expr: &str, trigger: &Json) -> Result<Compiled, CompileError> {
        self.frontend.compile(expr, Vars::Condition { trigger: true }, Some(trigger))
    }

    /// Compiles a key expression or trigger filter, where `event` is the incoming event.
    pub fn compile_key(&self, expr: &str) -> Result<Compiled, CompileError> {
        self.frontend.compile(expr, Vars::Key, None)
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(Config::default())
    }
}
