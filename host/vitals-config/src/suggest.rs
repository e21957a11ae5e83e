//! "Did you mean ...?": the known name closest to a mistyped one.

/// The candidate closest to `word`, if one is close enough to be what was meant: at most a third
/// of its letters different (at least one), or `word` with a prefix or suffix missing. Ties go to
/// the first candidate.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let distance = strsim::damerau_levenshtein(word, c);
            let affix = word.len() >= 3 && (c.starts_with(word) || c.ends_with(word));
            (
                if affix {
                    distance.min(allowed)
                } else {
                    distance
                },
                c,
            )
        })
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `" (did you mean `x`?)"` for [`closest`], or nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 5] = ["interval", "timeout", "memory_limit", "critical", "mib"];

    #[test]
    fn a_typo_finds_the_key_meant() {
        assert_eq!(closest("intervall", KEYS), Some("interval"));
        assert_eq!(closest("timout", KEYS), Some("timeout"));
        assert_eq!(closest("memry_limit", KEYS), Some("memory_limit"));
        assert_eq!(closest("mibs", KEYS), Some("mib"));
        assert_eq!(closest("memory", KEYS), Some("memory_limit"));
    }

    #[test]
    fn an_unrelated_word_finds_nothing() {
        assert_eq!(closest("color", KEYS), None);
        assert_eq!(closest("x", KEYS), None);
        assert_eq!(did_you_mean("zzz", KEYS), "");
        assert_eq!(did_you_mean("criticl", KEYS), " (did you mean `critical`?)");
    }
}
