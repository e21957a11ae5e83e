//! The `vitals` binary.

fn main() -> std::process::ExitCode {
    vitals::cli::main()
}
