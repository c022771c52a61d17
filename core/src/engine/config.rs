//! Engine configuration.

use crate::{Dialect, Limits};

/// How an [`Engine`](crate::Engine) reads events and what it accepts.
#[derive(Clone, Debug)]
pub struct Config {
    pub dialect: Dialect,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config { dialect: Dialect::Strict, limits: Limits::default() }
    }
}
