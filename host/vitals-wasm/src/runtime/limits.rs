//! Per-run limits and the memory limiter that enforces them and records peak memory.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A byte count written in config as `"64MiB"`, `"512KiB"`, `"1GiB"`, `"1000"` or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }

    /// `n` kibibytes.
    pub const fn kib(n: u64) -> Self {
        ByteSize(n * 1024)
    }

    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (size, unit) in UNITS {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{} {unit}", self.0 / size);
            }
        }
        if self.0 >= 1 << 20 {
            return write!(f, "{:.1} MiB", self.0 as f64 / f64::from(1u32 << 20));
        }
        write!(f, "{} bytes", self.0)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("invalid size {s:?}: expected e.g. \"64MiB\""))?;
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            other => return Err(format!("invalid size {s:?}: unknown unit {other:?}")),
        };
        n.checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| format!("invalid size {s:?}: too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Hard wall-clock limit, enforced by epoch interruption (and a tokio timeout backstop).
    pub deadline: Duration,
    /// Linear memory cap, summed over the instance's memories.
    pub memory: ByteSize,
    /// Cap on the output text and on each detail value.
    pub output: ByteSize,
    /// Cap on the number of details.
    pub max_details: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            deadline: Duration::from_secs(2),
            memory: ByteSize::mib(64),
            output: ByteSize::kib(4),
            max_details: 32,
        }
    }
}

/// The error a memory grow past the cap traps with; recognised by downcasting.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("memory limit {limit} exceeded (growing to {desired} bytes)")]
pub(crate) struct MemoryLimitExceeded {
    pub(crate) limit: ByteSize,
    pub(crate) desired: u64,
}

/// Bounds memory and tables of one store and remembers the peak memory it allowed.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    current_total: usize,
    peak: usize,
}

/// Table elements allowed per table: generous for real code, a bound for a bomb.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    pub(crate) fn new(limit: ByteSize) -> Self {
        MemoryLimiter {
            limit: usize::try_from(limit.0).unwrap_or(usize::MAX),
            current_total: 0,
            peak: 0,
        }
    }

    /// The most linear memory the store held at once, in bytes.
    pub(crate) fn peak(&self) -> u64 {
        self.peak as u64
    }

    /// Start a new peak from the memory held now (a warm instance's next run).
    pub(crate) fn reset_peak(&mut self) {
        self.peak = self.current_total;
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.current_total - current.min(self.current_total) + desired;
        if total > self.limit {
            // Trap rather than fail the grow: a Rust guest would abort with a bare
            // `unreachable`, and the typed error tells us (and the operator) why.
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: ByteSize(self.limit as u64),
                desired: total as u64,
            }));
        }
        self.current_total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        // A component instantiates a handful of core modules (its own plus adapters).
        100
    }

    fn memories(&self) -> usize {
        10
    }

    fn tables(&self) -> usize {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!("64MiB".parse(), Ok(ByteSize::mib(64)));
        assert_eq!("512 KiB".parse(), Ok(ByteSize::kib(512)));
        assert_eq!("1000".parse(), Ok(ByteSize(1000)));
        assert!("12 parsecs".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize::mib(64).to_string(), "64 MiB");
    }

    #[test]
    fn growth_within_the_cap_is_allowed_and_the_peak_recorded() {
        let mut l = MemoryLimiter::new(ByteSize::mib(2));
        assert!(l.memory_growing(0, 1 << 20, None).is_ok());
        assert!(l.memory_growing(1 << 20, 2 << 20, None).is_ok());
        assert_eq!(l.peak(), 2 << 20);
    }

    #[test]
    fn growth_past_the_cap_traps_with_a_typed_error() {
        let mut l = MemoryLimiter::new(ByteSize::mib(2));
        let err = l.memory_growing(0, 3 << 20, None).err();
        assert!(err.is_some_and(|e| e.downcast_ref::<MemoryLimitExceeded>().is_some()));
        assert_eq!(l.peak(), 0);
    }
}
