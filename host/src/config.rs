//! Configuration: the TOML file, its defaults and its validation.

mod check_entry;

pub use check_entry::CommonSettings;
