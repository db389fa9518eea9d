//! Character sets for values that end up in line-oriented configuration
//! files. A value that passes these needs no escaping anywhere it is used.

/// An RFC 1123 label, lower case: `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`.
pub(crate) fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// 1..=`max` characters, each ASCII alphanumeric or in `extra`.
pub(crate) fn is_safe_token(s: &str, max: usize, extra: &str) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Printable ASCII (space to `~`), 1..=`max` characters: regular expressions
/// and paths, which are always quoted for the target language.
pub(crate) fn is_printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Shows a value in a message as the user would write it in JSON: quoted,
/// control characters escaped, cut at 60 characters.
pub(crate) fn show(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    serde_json::to_string(&out).unwrap_or(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "rabbitmq-1", "lb0", &"a".repeat(63)] {
            assert!(is_label(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a.b",
            "a_b",
            "ä",
            &"a".repeat(64),
            "a\nb",
        ] {
            assert!(!is_label(bad), "{bad}");
        }
    }

    #[test]
    fn show_escapes_control_characters() {
        assert_eq!(show("a\nb"), "\"a\\nb\"");
        assert_eq!(show("a\u{7}"), "\"a\\u0007\"");
        assert!(show(&"x".repeat(100)).ends_with("…\""));
    }
}
