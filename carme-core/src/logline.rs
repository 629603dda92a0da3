//! Log lines an admin can grep: `key=value` fields after the `carme: `
//! prefix (`job=12 step=batch plan=host image=base`). A value that holds
//! a space, a quote, a backslash or `=` is double-quoted with `\"` and
//! `\\` escaped, so a field never runs into the next one; control
//! characters are escaped as everywhere else ([`crate::text`]).

use std::fmt::Write;

use crate::text::{escape_controls, is_unsafe};

/// One `key=value` field.
pub fn field(key: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || is_unsafe(c) || matches!(c, '"' | '\\' | '='));
    if plain {
        return format!("{key}={value}");
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    // Controls last: their escapes (`\n`) are the only unpaired backslashes.
    format!("{key}=\"{}\"", escape_controls(&quoted))
}

/// Fields joined by single spaces.
pub fn fields<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{}", field(k, v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_only_when_they_must_be() {
        let rows = [
            ("base", "k=base"),
            ("a/b:c-1.2", "k=a/b:c-1.2"),
            ("", "k=\"\""),
            ("two words", "k=\"two words\""),
            ("a=b", "k=\"a=b\""),
            ("say \"hi\"", "k=\"say \\\"hi\\\"\""),
            ("back\\slash", "k=\"back\\\\slash\""),
            ("new\nline", "k=\"new\\nline\""),
            ("tab\there", "k=\"tab\\there\""),
        ];
        for (value, want) in rows {
            assert_eq!(field("k", value), want, "{value:?}");
        }
    }

    #[test]
    fn fields_are_space_separated() {
        assert_eq!(
            fields([("job", "7"), ("plan", "host"), ("reason", "a b")]),
            "job=7 plan=host reason=\"a b\""
        );
        assert_eq!(fields([]), "");
    }
}
