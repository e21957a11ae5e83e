//! Every guest the project builds is a valid component of the `vitals:check/plugin` world: it
//! exports `describe` and `check`, and imports nothing beyond the vitals interfaces and WASI.
//! (Unused imports are dropped at link time: `noop` does not import `vitals:check/host`.)

use std::collections::BTreeSet;

use vitals_test_support::guests;
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

const GUESTS: &[&str] = &[
    "http-endpoint",
    "cert-expiry",
    "sql-threshold",
    "noop",
    "spin-loop",
    "memory-hog",
    "deep-recursion",
    "big-output",
    "log-flood",
    "panicker",
    "file-reader",
    "net-connect",
    "env-reader",
    "sql-query",
    "trap-describe",
    "versioned-a",
    "versioned-b",
];

fn interface_names(name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let engine = Engine::new(&Config::new()).expect("engine");
    let component = Component::from_file(&engine, guests::component(name))
        .unwrap_or_else(|error| panic!("{name} is not a valid component: {error:?}"));
    let ty = component.component_type();
    let imports = ty.imports(&engine).map(|(n, _)| n.to_string()).collect();
    let exports = ty.exports(&engine).map(|(n, _)| n.to_string()).collect();
    (imports, exports)
}

#[test]
fn every_guest_exports_describe_and_check() {
    for name in GUESTS {
        let (_, exports) = interface_names(name);
        assert!(exports.contains("describe"), "{name} exports {exports:?}");
        assert!(exports.contains("check"), "{name} exports {exports:?}");
    }
}

#[test]
fn every_guest_imports_only_vitals_and_wasi_interfaces() {
    for name in GUESTS {
        let (imports, _) = interface_names(name);
        assert!(
            imports.contains("vitals:check/types@0.2.0"),
            "{name} imports {imports:?}"
        );
        for import in &imports {
            assert!(
                import.starts_with("vitals:check/") || import.starts_with("wasi:"),
                "{name} imports unexpected {import}"
            );
        }
    }
}

#[test]
fn only_guests_that_make_http_requests_import_the_outgoing_handler() {
    for name in GUESTS {
        let (imports, _) = interface_names(name);
        let http = imports
            .iter()
            .any(|import| import.starts_with("wasi:http/outgoing-handler@"));
        let expected = matches!(*name, "http-endpoint" | "net-connect");
        assert_eq!(http, expected, "{name} imports {imports:?}");
    }
}
