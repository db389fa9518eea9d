//! Escaping for the languages values are interpolated into.

/// Quotes `s` as one POSIX shell word: `'...'`, with each `'` written as
/// `'\''`. Everything between single quotes is literal to the shell.
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_words() {
        assert_eq!(shell_quote("/"), "'/'");
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
        assert_eq!(
            shell_quote("$(rm -rf /); `x` \"${y}\""),
            "'$(rm -rf /); `x` \"${y}\"'"
        );
        assert_eq!(shell_quote(""), "''");
    }
}
