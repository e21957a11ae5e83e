//! The output cap: text a plugin returns is truncated before it reaches the snapshot, and a
//! result far over the cap fails the run instead ([`output_violation`]).

use crate::runtime::lift::{BoundedCheckResult, KEY_BYTES};

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

/// How far over the output cap a result may be and still be kept (truncated, status unchanged,
/// as Consul does). Past this factor it is a misbehaving plugin, not a long message.
const FAR_OVER_CAP: usize = 16;

/// What in a result is far over the output cap, if anything: the run then fails. Judged on the
/// full sizes the guest returned, of which only the capped start was copied (see `lift`). A text
/// or detail value over the cap but within [`FAR_OVER_CAP`] times it is truncated instead.
pub(crate) fn output_violation(
    result: &BoundedCheckResult,
    limit: usize,
    max_details: usize,
) -> Option<String> {
    let far = limit.saturating_mul(FAR_OVER_CAP);
    if result.output.len() > far {
        return Some(format!("output text is {} bytes", result.output.len()));
    }
    if result.details.len > max_details {
        return Some(format!(
            "{} details, at most {max_details} allowed",
            result.details.len
        ));
    }
    if let Some((k, v)) = result
        .details
        .kept
        .iter()
        .find(|(k, v)| k.len() > KEY_BYTES || v.len() > far)
    {
        return Some(format!(
            "detail {:?} is {} bytes",
            k.truncated(64),
            k.len() + v.len()
        ));
    }
    let total = result.output.len()
        + result
            .details
            .kept
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    (total > far).then(|| format!("the result is {total} bytes in all"))
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
