//! Empty: a build script makes cargo build the crate's build-dependencies, which unify the
//! features of the dependencies that build scripts and proc macros use.

fn main() {}
