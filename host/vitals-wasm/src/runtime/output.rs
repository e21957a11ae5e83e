//! The output cap: text a plugin returns is truncated before it reaches the snapshot (a result
//! far over the cap fails the run instead: see `check::output_violation`).

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
}
