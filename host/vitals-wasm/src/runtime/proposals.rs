//! The WebAssembly proposals a plugin may use. The engine accepts exactly these; every other
//! proposal is off, because each one a host enables is more of the compiler and the runtime a
//! hostile component can reach. A component that uses one that is off is refused, naming it.
//!
//! The list follows what the shipped toolchains emit, measured on their components by validating
//! each with one proposal removed: Rust for `wasm32-wasip2`, componentize-js (StarlingMonkey),
//! jco with QuickJS, and componentize-py. README's sandbox section lists the same table (a test
//! keeps the two equal).

use wasmtime::{Config, WasmFeatures};

/// One accepted proposal: its name in messages, its flag, and the guests that need it.
struct Proposal {
    name: &'static str,
    flag: WasmFeatures,
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "documentation: a test keeps README's table equal to it"
        )
    )]
    needed_by: &'static str,
}

/// The proposals the engine accepts, in the order README lists them.
const ACCEPTED: &[Proposal] = &[
    Proposal {
        name: "component-model",
        flag: WasmFeatures::COMPONENT_MODEL,
        needed_by: "every plugin (the vitals:check world)",
    },
    Proposal {
        name: "component-model-async",
        flag: WasmFeatures::CM_ASYNC,
        needed_by: "JavaScript on QuickJS (jco imports task.cancel, context.get/set, waitable sets)",
    },
    Proposal {
        name: "floats",
        flag: WasmFeatures::FLOATS,
        needed_by: "every language",
    },
    Proposal {
        name: "sign-extension",
        flag: WasmFeatures::SIGN_EXTENSION,
        needed_by: "every language",
    },
    Proposal {
        name: "bulk-memory",
        flag: WasmFeatures::BULK_MEMORY,
        needed_by: "every language",
    },
    Proposal {
        name: "reference-types",
        flag: WasmFeatures::REFERENCE_TYPES,
        needed_by: "Rust, Python, JavaScript on QuickJS",
    },
    Proposal {
        name: "mutable-global",
        flag: WasmFeatures::MUTABLE_GLOBAL,
        needed_by: "Python, JavaScript on QuickJS",
    },
    Proposal {
        name: "saturating-float-to-int",
        flag: WasmFeatures::SATURATING_FLOAT_TO_INT,
        needed_by: "JavaScript, Python; Rust's default target features",
    },
    Proposal {
        name: "extended-const",
        flag: WasmFeatures::EXTENDED_CONST,
        needed_by: "Python, JavaScript on QuickJS",
    },
    Proposal {
        name: "multi-memory",
        flag: WasmFeatures::MULTI_MEMORY,
        needed_by: "JavaScript on QuickJS (wasmtime's adapters between its inner components)",
    },
    Proposal {
        name: "multi-value",
        flag: WasmFeatures::MULTI_VALUE,
        needed_by: "Rust's default target features (no shipped guest uses it yet)",
    },
];

/// Proposals that stay off, in the order a refusal checks them: the first that makes a refused
/// component valid is the one named.
const REFUSED: &[(&str, WasmFeatures)] = &[
    ("threads", WasmFeatures::THREADS),
    ("gc", WasmFeatures::GC.union(WasmFeatures::GC_TYPES)),
    ("function-references", WasmFeatures::FUNCTION_REFERENCES),
    (
        "exceptions",
        WasmFeatures::EXCEPTIONS.union(WasmFeatures::LEGACY_EXCEPTIONS),
    ),
    ("tail-call", WasmFeatures::TAIL_CALL),
    ("simd", WasmFeatures::SIMD),
    (
        "relaxed-simd",
        WasmFeatures::RELAXED_SIMD.union(WasmFeatures::SIMD),
    ),
    ("memory64", WasmFeatures::MEMORY64),
    ("stack-switching", WasmFeatures::STACK_SWITCHING),
    ("wide-arithmetic", WasmFeatures::WIDE_ARITHMETIC),
    ("custom-page-sizes", WasmFeatures::CUSTOM_PAGE_SIZES),
    (
        "shared-everything-threads",
        WasmFeatures::SHARED_EVERYTHING_THREADS,
    ),
    (
        "component-model async built-ins beyond QuickJS's (stackful, threading, more)",
        WasmFeatures::CM_ASYNC_STACKFUL
            .union(WasmFeatures::CM_MORE_ASYNC_BUILTINS)
            .union(WasmFeatures::CM_THREADING),
    ),
    (
        "component-model error-context",
        WasmFeatures::CM_ERROR_CONTEXT,
    ),
];

/// Every accepted flag.
fn accepted() -> WasmFeatures {
    ACCEPTED
        .iter()
        .fold(WasmFeatures::empty(), |all, p| all.union(p.flag))
}

/// Set the engine's proposals: the accepted ones on, every other one wasmtime knows off.
pub(crate) fn configure(config: &mut Config) {
    let accepted = accepted();
    config.wasm_features(WasmFeatures::all().difference(accepted), false);
    config.wasm_features(accepted, true);
}

/// Why `wasm`, which failed to compile, was refused, when the reason is a proposal that is off:
/// "uses the WebAssembly proposal `threads ...`, which plugins may not use (allowed: ...)".
/// `None` when enabling no single proposal would make it valid (a plain invalid file).
pub(crate) fn refused_proposal(wasm: &[u8]) -> Option<String> {
    let accepted = accepted();
    let valid_with = |extra: WasmFeatures| {
        wasmparser::Validator::new_with_features(accepted.union(extra))
            .validate_all(wasm)
            .is_ok()
    };
    if valid_with(WasmFeatures::empty()) {
        return None;
    }
    let (used, _) = REFUSED.iter().find(|(_, flag)| valid_with(*flag))?;
    let allowed: Vec<&str> = ACCEPTED.iter().map(|p| p.name).collect();
    Some(format!(
        "uses the WebAssembly proposal `{}`, which plugins may not use (allowed: {})",
        used,
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).expect("valid text")
    }

    #[test]
    fn a_shared_memory_is_refused_as_the_threads_proposal() {
        let wasm = component("(component (core module (memory 1 1 shared)))");
        let why = refused_proposal(&wasm).expect("refused");
        assert!(why.contains("`threads`"), "{why}");
        assert!(why.contains("allowed: component-model"), "{why}");
    }

    #[test]
    fn a_gc_struct_type_is_refused_as_the_gc_proposal() {
        let wasm = component("(component (core module (type (struct (field i32)))))");
        let why = refused_proposal(&wasm).expect("refused");
        assert!(why.contains("`gc`"), "{why}");
    }

    #[test]
    fn a_component_using_only_accepted_proposals_is_not_refused() {
        let wasm = component(
            "(component (core module (memory 1) (func (param i32) (result i32 i32) \
             local.get 0 local.get 0) (func i32.const 0 i32.const 0 i32.const 0 memory.fill)))",
        );
        assert_eq!(refused_proposal(&wasm), None);
    }

    #[test]
    fn the_readme_lists_every_accepted_proposal_with_who_needs_it() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        for p in ACCEPTED {
            let row = format!("| `{}` | on | {} |", p.name, p.needed_by);
            assert!(readme.contains(&row), "README lacks the row {row}");
        }
        for (name, _) in REFUSED {
            let row = format!("| `{name}` | off |");
            assert!(readme.contains(&row), "README lacks the row {row}");
        }
    }

    #[test]
    fn a_file_that_is_invalid_whatever_the_proposals_names_none() {
        let mut wasm = component("(component (core module (func (result i32) i32.const 1)))");
        let last = wasm.len() - 2;
        wasm[last] = 0xff; // a broken instruction
        assert_eq!(refused_proposal(&wasm), None);
    }
}
