//! The output cap: what a plugin returns is truncated before it reaches the snapshot.

/// Truncate `text` to at most `limit` bytes on a char boundary, appending
/// "… (truncated N bytes)" when anything was cut.
pub(crate) fn truncate_text(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (truncated {} bytes)", &text[..end], text.len() - end)
}

/// Keep at most `max_entries` details, each key and value truncated to `limit` bytes. Returns
/// the kept entries and how many were dropped.
pub(crate) fn cap_details(
    details: Vec<(String, String)>,
    max_entries: usize,
    limit: usize,
) -> (Vec<(String, String)>, usize) {
    let dropped = details.len().saturating_sub(max_entries);
    let kept = details
        .into_iter()
        .take(max_entries)
        .map(|(k, v)| (truncate_text(&k, 128), truncate_text(&v, limit)))
        .collect();
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_within_the_limit_is_kept_whole() {
        assert_eq!(truncate_text("abc", 3), "abc");
    }

    #[test]
    fn text_past_the_limit_is_cut_and_says_how_much() {
        assert_eq!(truncate_text("abcdef", 4), "abcd… (truncated 2 bytes)");
        // 'é' is two bytes: never split inside it.
        assert_eq!(truncate_text("aé", 2), "a… (truncated 2 bytes)");
    }

    #[test]
    fn details_past_the_count_are_dropped_and_counted() {
        let d = (0..5).map(|i| (format!("k{i}"), "v".repeat(10))).collect();
        let (kept, dropped) = cap_details(d, 3, 4);
        assert_eq!(kept.len(), 3);
        assert_eq!(dropped, 2);
        assert_eq!(kept[0].1, "vvvv… (truncated 6 bytes)");
    }
}
