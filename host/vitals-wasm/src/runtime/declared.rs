//! Declared config: the keys a plugin says it reads (`describe()`, contract 0.2.0), checked
//! against what the operator set, with declared defaults filled in.
//!
//! A typo in a key (`vaule = "90"`) would otherwise be accepted and the plugin would go on
//! reading its default, so a key nobody declared is refused, as is a required key left unset.
//! A declared name ending in `.` (`header.`) is a family: it accepts every key that starts with
//! it (`header.Accept`), for plugins that read keys by prefix.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::runtime::contract::{BoundedConfigKey, MAX_CONFIG_KEYS};
use crate::runtime::lift::BoundedList;

/// A config key a plugin reads, as it declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigKey {
    /// The key, e.g. "url".
    pub name: String,
    /// Whether the operator must set it.
    pub required: bool,
    /// The value used when the operator does not set it.
    pub default: Option<String>,
    /// One line of help.
    pub help: String,
}

/// The declared keys as lifted from the guest, or why the declaration itself is refused (too
/// many keys, a key declared twice, a required key with a default).
pub(crate) fn declared_keys(
    lifted: BoundedList<BoundedConfigKey, MAX_CONFIG_KEYS>,
) -> Result<Vec<ConfigKey>, String> {
    if lifted.len > MAX_CONFIG_KEYS {
        return Err(format!(
            "describe() declares {} config keys; at most {MAX_CONFIG_KEYS} are accepted",
            lifted.len
        ));
    }
    let mut seen = BTreeSet::new();
    let mut keys = Vec::with_capacity(lifted.kept.len());
    for key in lifted.kept {
        let key = ConfigKey {
            name: key.name.truncated(128),
            required: key.required,
            default: key.default.map(|d| d.truncated(512)),
            help: key.help.truncated(512),
        };
        if key.name.is_empty() {
            return Err("describe() declares a config key with an empty name".to_owned());
        }
        if !seen.insert(key.name.clone()) {
            return Err(format!(
                "describe() declares config key `{}` twice",
                key.name
            ));
        }
        if is_family(&key.name) && (key.required || key.default.is_some()) {
            return Err(format!(
                "describe() declares the key family `{}` as required or with a default; a \
                 family (a name ending in `.`) is optional and has none",
                key.name
            ));
        }
        if key.required && key.default.is_some() {
            return Err(format!(
                "describe() declares config key `{}` as required and with a default; a required \
                 key has no default",
                key.name
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The config a plugin runs with: `given` checked against `declared`, declared defaults added
/// for keys left unset. The error names every unknown and every missing key, and the keys that
/// exist, in one line.
pub(crate) fn resolve(
    declared: &[ConfigKey],
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let known = |given: &str| {
        declared
            .iter()
            .any(|k| k.name == given || (is_family(&k.name) && given.starts_with(k.name.as_str())))
    };
    let mut problems = Vec::new();
    for key in given.keys().filter(|k| !known(k)) {
        let hint = vitals_config::did_you_mean(key, declared.iter().map(|k| k.name.as_str()));
        problems.push(format!("unknown config key `{key}`{hint}"));
    }
    for key in declared
        .iter()
        .filter(|k| k.required && !given.contains_key(&k.name))
    {
        let help = if key.help.is_empty() {
            String::new()
        } else {
            format!(" ({})", key.help)
        };
        problems.push(format!(
            "config key `{}` is required{help} but not set",
            key.name
        ));
    }
    if !problems.is_empty() {
        let reads = if declared.is_empty() {
            "the plugin reads no config keys".to_owned()
        } else {
            let names: Vec<&str> = declared.iter().map(|k| k.name.as_str()).collect();
            format!("the plugin reads: {}", names.join(", "))
        };
        return Err(format!("{}; {reads}", problems.join("; ")));
    }
    let mut resolved = given.clone();
    for key in declared {
        if let Some(default) = &key.default {
            resolved
                .entry(key.name.clone())
                .or_insert_with(|| default.clone());
        }
    }
    Ok(resolved)
}

/// Whether a declared name is a family of keys (`header.`).
fn is_family(name: &str) -> bool {
    name.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, required: bool, default: Option<&str>) -> ConfigKey {
        ConfigKey {
            name: name.to_owned(),
            required,
            default: default.map(str::to_owned),
            help: format!("the {name}"),
        }
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_misspelled_key_is_refused_naming_it_and_the_keys_that_exist() {
        let declared = [key("value", false, Some("42")), key("unit", false, None)];
        let error = resolve(&declared, &given(&[("vaule", "90")])).expect_err("typo");
        assert_eq!(
            error,
            "unknown config key `vaule` (did you mean `value`?); the plugin reads: value, unit"
        );
    }

    #[test]
    fn a_required_key_left_unset_is_refused_with_its_help() {
        let declared = [key("url", true, None)];
        let error = resolve(&declared, &BTreeMap::new()).expect_err("missing");
        assert_eq!(
            error,
            "config key `url` is required (the url) but not set; the plugin reads: url"
        );
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let declared = [key("url", true, None)];
        let error = resolve(&declared, &given(&[("ulr", "x"), ("x", "y")])).expect_err("two");
        assert!(error.starts_with(
            "unknown config key `ulr` (did you mean `url`?); unknown config key `x`; config key `url` is required"
        ));
    }

    #[test]
    fn declared_defaults_fill_unset_keys_and_never_override_set_ones() {
        let declared = [
            key("value", false, Some("42")),
            key("unit", false, Some("%")),
        ];
        let resolved = resolve(&declared, &given(&[("unit", "ms")])).expect("valid");
        assert_eq!(resolved, given(&[("unit", "ms"), ("value", "42")]));
    }

    #[test]
    fn a_family_accepts_every_key_with_its_prefix_and_nothing_else() {
        let declared = [key("url", false, None), key("header.", false, None)];
        let ok = given(&[("header.Accept", "json"), ("header.X-Id", "1")]);
        assert_eq!(resolve(&declared, &ok), Ok(ok.clone()));
        let error = resolve(&declared, &given(&[("headers.Accept", "json")])).expect_err("typo");
        assert!(
            error.starts_with("unknown config key `headers.Accept`"),
            "{error}"
        );
    }

    #[test]
    fn a_plugin_that_declares_no_keys_accepts_only_an_empty_config() {
        assert_eq!(resolve(&[], &BTreeMap::new()), Ok(BTreeMap::new()));
        let error = resolve(&[], &given(&[("a", "b")])).expect_err("undeclared");
        assert_eq!(
            error,
            "unknown config key `a`; the plugin reads no config keys"
        );
    }
}
