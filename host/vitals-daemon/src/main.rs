//! The `vitals` binary.

// jemalloc returns freed memory to the OS: background threads purge dirty pages after a second
// (below). glibc keeps freed memory in per-thread arenas, so one burst of large allocations would
// stay resident for good.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at its start-up (the symbol is its documented hook).
// SAFETY: a NUL-terminated constant string, the type jemalloc reads (`const char *`).
#[allow(unsafe_code, non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static malloc_conf: &[u8; 60] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> std::process::ExitCode {
    vitals_daemon::main()
}
