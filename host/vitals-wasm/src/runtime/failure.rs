//! Why a plugin run produced no result.

use std::fmt;
use std::time::Duration;

use crate::runtime::limits::ByteSize;

/// Why a run did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunFailure {
    /// The run passed its deadline.
    Deadline(Duration),
    /// The guest grew its memory past the cap.
    Memory(ByteSize),
    /// The guest overflowed its stack.
    StackOverflow,
    /// Any other trap (panic, invalid access, ...), with the guest's stderr if it wrote any.
    Trap(String),
    /// The sandbox could not be set up (for example a granted directory does not exist).
    Setup(String),
}

impl RunFailure {
    /// Whether this failure counts towards quarantine (the guest misbehaved).
    pub fn is_trap(&self) -> bool {
        !matches!(self, RunFailure::Setup(_))
    }
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunFailure::Deadline(d) => {
                write!(f, "deadline {} exceeded", humantime::format_duration(*d))
            }
            RunFailure::Memory(limit) => write!(f, "memory limit {limit} exceeded"),
            RunFailure::StackOverflow => f.write_str("stack overflow"),
            RunFailure::Trap(msg) => write!(f, "trap: {msg}"),
            RunFailure::Setup(msg) => write!(f, "sandbox setup failed: {msg}"),
        }
    }
}
