//! Each crate's modules import each other without cycles: read top to bottom, a crate's `src` is
//! the data flow (the core `host/vitals`: checks → engine → snapshot → HTTP; `vitals-wasm`:
//! runtime, capabilities, check, supervision; the daemon on top of them all). And the core
//! stays light: none of the other crates' heavy dependencies is in its tree.
//!
//! A module's imports are the `crate::a::b` and `super::x` paths in its file, plus its own
//! children it names (`pub use registry::X`); a child naming its parent (`super::PluginError`)
//! is the normal way down a module tree and is not counted. Test code (`#[cfg(test)] mod tests`)
//! is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every module of the crate under `src`, by path (`["plugin", "sandbox"]`), with its source.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel: PathBuf = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = rel.iter().map(|s| s.to_string_lossy().into()).collect();
            if matches!(module.last().map(String::as_str), Some("lib" | "main")) {
                module.clear();
            }
            found.insert(
                module,
                without_tests(&std::fs::read_to_string(&path).unwrap()),
            );
        }
    }
    found
}

/// The source without line comments and without its `#[cfg(test)] mod tests { ... }` block.
fn without_tests(text: &str) -> String {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let Some(at) = code.find("#[cfg(test)]\nmod tests {") else {
        return code;
    };
    // The module ends at the brace that closes its own (braces in strings are rare enough in
    // test modules to be ignored here).
    let mut depth = 0usize;
    let mut end = code.len();
    for (i, c) in code[at..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => {
                end = at + i + 1;
                break;
            }
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    format!("{}{}", &code[..at], &code[end..])
}

/// The paths `crate::a::b` and `super::x` written in `text`, as segment lists (`super` kept).
fn paths(text: &str, root: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(root) {
        let before = rest[..at].chars().last();
        rest = &rest[at..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        rest = &rest[path.len().max(1)..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let segments: Vec<String> = path
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        out.push(segments);
        // `crate::{a, b::c}`: each item of a group.
        if path.ends_with("::") && rest.starts_with('{') {
            let group = &rest[1..rest.find('}').unwrap_or(1)];
            for item in group.split(',') {
                let mut segments = out.last().unwrap().clone();
                segments.extend(item.trim().split("::").map(|s| s.trim().to_owned()));
                out.push(segments);
            }
        }
    }
    out
}

/// The known module a path points into: its longest prefix that is a module.
fn resolve(known: &BTreeMap<Module, String>, path: &[String]) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| known.contains_key(m))
}

fn edges(known: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in known {
        let out = edges.entry(module.clone()).or_default();
        let mut targets = Vec::new();
        for path in paths(text, "crate::") {
            targets.extend(resolve(known, &path[1..]));
        }
        for path in paths(text, "super::") {
            let mut base = module[..module.len().saturating_sub(1)].to_vec();
            let mut segments = &path[..];
            while segments.first().is_some_and(|s| s == "super") {
                segments = &segments[1..];
                if segments.first().is_some_and(|s| s == "super") {
                    base.pop();
                }
            }
            let mut full = base;
            full.extend(segments.iter().cloned());
            targets.extend(resolve(known, &full));
        }
        // A parent naming its own child: `registry::PluginRegistry`, `pub use registry::X`.
        for child in known
            .keys()
            .filter(|k| k.len() == module.len() + 1 && k.starts_with(module))
        {
            let name = format!("{}::", child.last().unwrap());
            if paths(text, &name).iter().any(|p| !p.is_empty()) {
                targets.push(child.clone());
            }
        }
        for target in targets {
            // A module's own items, or its ancestors' (the way down the tree), are no edge.
            if !module.starts_with(&target) {
                out.insert(target);
            }
        }
    }
    edges
}

/// A cycle through `start`, if there is one: the modules along it.
fn cycle_from(edges: &BTreeMap<Module, BTreeSet<Module>>, start: &Module) -> Option<Vec<Module>> {
    let mut stack = vec![(start.clone(), vec![start.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((at, trail)) = stack.pop() {
        for next in edges.get(&at).into_iter().flatten() {
            if next == start {
                return Some(trail);
            }
            if seen.insert(next.clone()) {
                let mut longer = trail.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".to_owned()
    } else {
        m.join("::")
    }
}

/// The cycles among the modules of the crate whose sources are in `src`, one line each.
fn cycles_in(src: &Path) -> BTreeSet<String> {
    let known = modules(src);
    assert!(
        known.len() > 1,
        "{} modules under {}",
        known.len(),
        src.display()
    );
    let edges = edges(&known);
    known
        .keys()
        .filter_map(|m| cycle_from(&edges, m))
        .map(|trail| {
            let mut names: Vec<String> = trail.iter().map(name).collect();
            names.push(names[0].clone());
            names.join(" -> ")
        })
        .collect()
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let host = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    for krate in CRATES {
        let src = host.join(krate).join("src");
        let cycles = cycles_in(&src);
        assert!(
            cycles.is_empty(),
            "import cycles in {}:\n{}",
            src.display(),
            cycles.into_iter().collect::<Vec<_>>().join("\n")
        );
    }
}

/// The host crates, in the order of the data flow: each depends only on crates before it.
const CRATES: [&str; 5] = [
    "vitals",
    "vitals-config",
    "vitals-sql",
    "vitals-wasm",
    "vitals-daemon",
];

/// The names of the crates in `krate`'s normal dependency tree (`cargo tree`, offline).
fn dependency_tree(krate: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "-p",
            krate,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree -p {krate}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_core_crate_has_no_plugin_runtime_database_driver_watcher_cli_or_toml_parser() {
    let crates = dependency_tree("vitals");
    assert!(
        crates.contains("tokio") && crates.contains("axum"),
        "{crates:?}"
    );
    let heavy: Vec<&str> = [
        "wasmtime", "sqlx", "redis", "notify", "clap", "toml", "tonic",
    ]
    .into_iter()
    .filter(|h| crates.contains(*h))
    .collect();
    assert!(heavy.is_empty(), "the core depends on {heavy:?}");
}

#[test]
fn each_crate_carries_only_the_weight_of_its_concern() {
    // What each crate must not pull in: the heavy dependencies of the crates after it.
    let forbidden: [(&str, &[&str]); 3] = [
        (
            "vitals-config",
            &["wasmtime", "sqlx", "redis", "notify", "clap", "tonic"],
        ),
        ("vitals-sql", &["wasmtime", "notify", "clap", "tonic"]),
        ("vitals-wasm", &["clap", "tonic"]),
    ];
    for (krate, heavy) in forbidden {
        let crates = dependency_tree(krate);
        let found: Vec<&&str> = heavy.iter().filter(|h| crates.contains(**h)).collect();
        assert!(found.is_empty(), "{krate} depends on {found:?}");
        // Nothing depends on a crate after it in the data flow.
        let later: Vec<&str> = CRATES
            .iter()
            .skip_while(|c| **c != krate)
            .skip(1)
            .copied()
            .filter(|c| crates.contains(*c))
            .collect();
        assert!(later.is_empty(), "{krate} depends on {later:?}");
    }
}

#[test]
fn every_crate_keeps_its_modules_private_and_exports_a_chosen_list() {
    // The namespaces a crate exports on purpose: pieces other crates' routes and config reuse.
    let namespaces = ["pub mod http;", "pub mod document;"];
    let host = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    for krate in CRATES {
        let lib = std::fs::read_to_string(host.join(krate).join("src/lib.rs")).unwrap();
        assert!(
            lib.contains("#![deny(unreachable_pub)]"),
            "{krate}: lib.rs lacks #![deny(unreachable_pub)]"
        );
        let public: Vec<&str> = lib
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("pub mod ") && !namespaces.contains(l))
            .collect();
        assert!(
            public.is_empty(),
            "{krate}: public modules {public:?}; export a chosen list with `pub use` instead"
        );
        assert!(lib.contains("pub use "), "{krate}: lib.rs exports nothing");
    }
}

#[test]
fn the_plugin_runtime_rooms_build_on_each_other_in_one_direction() {
    // runtime/ and capabilities/ are one layer (a run's store holds each capability's state,
    // and each capability answers calls on that store); check/ builds on them, supervision/ on
    // check/. Nothing below names a room above it.
    let rank = |m: &Module| match m.first().map(String::as_str) {
        Some("runtime" | "capabilities") => Some(0),
        Some("check") => Some(1),
        Some("supervision") => Some(2),
        _ => None,
    };
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../vitals-wasm/src"));
    let known = modules(src);
    let mut upward = Vec::new();
    for (from, targets) in edges(&known) {
        for to in targets {
            if let (Some(f), Some(t)) = (rank(&from), rank(&to))
                && t > f
            {
                upward.push(format!("{} -> {}", name(&from), name(&to)));
            }
        }
    }
    assert!(
        known.keys().filter_map(rank).max() == Some(2),
        "no rooms found under {}",
        src.display()
    );
    assert!(
        upward.is_empty(),
        "imports up the rooms:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_a_cycle_through_a_parent_and_a_crate_path() {
    let known: BTreeMap<Module, String> = [
        (vec![], String::new()),
        (
            vec!["a".to_owned()],
            "use b::X;\nuse crate::c::Y;".to_owned(),
        ),
        (
            vec!["a".to_owned(), "b".to_owned()],
            "use super::super::c;".to_owned(),
        ),
        (vec!["c".to_owned()], "fn f() { crate::a::g() }".to_owned()),
    ]
    .into_iter()
    .collect();
    let graph = edges(&known);
    let a = vec!["a".to_owned()];
    let c = vec!["c".to_owned()];
    assert!(
        graph[&a].contains(&c) && graph[&c].contains(&a),
        "{graph:?}"
    );
    assert!(cycle_from(&graph, &a).is_some());
    // A child naming its parent is the way down the tree, not a cycle.
    let known: BTreeMap<Module, String> = [
        (vec!["p".to_owned()], "pub use q::X;".to_owned()),
        (
            vec!["p".to_owned(), "q".to_owned()],
            "use super::Error;".to_owned(),
        ),
    ]
    .into_iter()
    .collect();
    let graph = edges(&known);
    assert!(
        cycle_from(&graph, &vec!["p".to_owned()]).is_none(),
        "{graph:?}"
    );
}

/// `cargo ARGS --offline` at the workspace root; its standard output.
fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every package a build of `selection` compiles, with the features it is compiled with, from
/// `cargo tree` (edges `edges`): `"name vX.Y.Z" -> {"a,b", ...}` (a package built twice, for
/// the host and for the target, has two feature sets).
fn features(selection: &[&str], edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut args = vec![
        "tree", "-e", edges, "--prefix", "none", "--format", "{p}|{f}",
    ];
    args.extend(selection);
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in cargo(&args).lines() {
        let line = line.trim_end_matches(" (*)");
        if let Some((package, features)) = line.split_once('|') {
            found
                .entry(package.to_owned())
                .or_default()
                .insert(features.to_owned());
        }
    }
    found
}

/// The packages whose features differ between building `one` alone and building `all`: each
/// such package (and everything that depends on it) would compile again.
fn rebuilt(one: &[&str], all: &[&str], edges: &str) -> Vec<String> {
    let all = features(all, edges);
    features(one, edges)
        .into_iter()
        .filter(|(package, sets)| all.get(package) != Some(sets))
        .map(|(package, sets)| format!("{package}: {sets:?} alone, {:?} in all", all.get(&package)))
        .collect()
}

#[test]
fn a_crate_built_after_the_workspace_compiles_nothing_again() {
    // `cargo test -p vitals-wasm` after `cargo test --workspace`: dev builds, where
    // vitals-workspace-hack carries the features the other crates' tests turn on.
    let tests = rebuilt(&["-p", "vitals-wasm"], &["--workspace"], "normal,build,dev");
    assert!(
        tests.is_empty(),
        "cargo test -p vitals-wasm would rebuild; run `cargo hakari generate` \
         (tests/workspace-hack/Cargo.toml says how):\n{}",
        tests.join("\n")
    );
    // `cargo build --release -p vitals-daemon` after `cargo build --release`.
    let release = rebuilt(&["-p", "vitals-daemon"], &[], "normal,build");
    assert!(
        release.is_empty(),
        "cargo build -p vitals-daemon would rebuild:\n{}",
        release.join("\n")
    );
}

#[test]
fn wasmtime_is_built_with_only_the_features_vitals_uses() {
    // The root Cargo.toml says why each is on; what wasmtime turns on by itself for them comes
    // along ("std" brings two optional dependencies). Another crate turning one more on fails
    // here.
    let expected: BTreeSet<&str> = [
        "async",
        "component-model",
        "component-model-async",
        "cranelift",
        "parallel-compilation",
        "pooling-allocator",
        "runtime",
        "std",
        "once_cell",
        "wasmtime-jit-icache-coherence",
    ]
    .into_iter()
    .collect();
    let built = features(&["--workspace"], "normal,build,dev");
    let wasmtime: Vec<&String> = built
        .iter()
        .filter(|(package, _)| package.starts_with("wasmtime v"))
        .flat_map(|(_, sets)| sets)
        .collect();
    assert_eq!(
        wasmtime.len(),
        1,
        "wasmtime is built {} ways",
        wasmtime.len()
    );
    let on: BTreeSet<&str> = wasmtime[0].split(',').filter(|f| !f.is_empty()).collect();
    assert_eq!(on, expected, "wasmtime's features");
}

#[test]
fn each_crate_has_one_integration_test_binary_and_shares_helpers_through_a_crate() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    for krate in CRATES {
        let tests = root.join("host").join(krate).join("tests");
        let Ok(entries) = std::fs::read_dir(&tests) else {
            continue; // a crate with unit tests only
        };
        let names: BTreeSet<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            BTreeSet::from(["it".to_owned()]),
            "{}: one test binary, tests/it/main.rs, with a module per suite",
            tests.display()
        );
        assert!(tests.join("it/main.rs").is_file(), "{}", tests.display());
    }
    // No file included by path, no blanket that hides unused helpers.
    let mut dirs: Vec<PathBuf> = CRATES
        .iter()
        .flat_map(|k| ["tests", "benches"].map(|d| root.join("host").join(k).join(d)))
        .chain([root.join("tests/support")])
        .collect();
    let mut offenders = Vec::new();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for bad in [concat!("#[", "path"), concat!("allow(", "dead_code")] {
                    if text.contains(bad) {
                        offenders.push(format!("{}: {bad}", path.display()));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}
