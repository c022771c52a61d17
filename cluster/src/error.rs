//! Typed errors: a kind with a stable `code()`, and a message.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Redis could not be reached, or a command failed there.
    Redis,
    /// A reply that is not what this crate writes (another program's keys under our prefix).
    Protocol,
    /// The engine rejected a subscription or an event (the kind says why).
    Engine(celmatch::ErrorKind),
    /// An id already registered with a different subscription.
    IdConflict,
    /// A bad argument: a Redis URL, a range count, a routing table.
    InvalidArgument,
}

impl ErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Redis => "redis_error",
            ErrorKind::Protocol => "protocol_error",
            ErrorKind::Engine(k) => k.code(),
            ErrorKind::IdConflict => "id_conflict",
            ErrorKind::InvalidArgument => "invalid_argument",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Protocol, message)
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::new(ErrorKind::Redis, e.to_string())
    }
}

impl From<celmatch::Error> for Error {
    fn from(e: celmatch::Error) -> Self {
        Error::new(ErrorKind::Engine(e.kind()), e.to_string())
    }
}
