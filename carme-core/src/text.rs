//! Text from users in messages. A value a user chose (an image name, a
//! constraint, an option, an environment value, a path) must neither
//! forge a log line (newline, carriage return) nor drive the terminal that
//! shows it (ESC, C1 controls), nor make a message huge. [`escape`] makes
//! one value fit for a message; [`escape_controls`] is the last guard on a
//! whole line where messages leave the program (the plugin's log, the
//! prolog's and epilog's log, refusals).

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;

/// The most bytes of one value a message shows; the rest is `…`.
pub const MAX_SHOWN: usize = 256;

/// Control characters (C0, DEL, C1), the Unicode line and paragraph
/// separators, and the bidirectional overrides that can reorder what a
/// terminal shows: what [`escape`] and [`escape_controls`] escape.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `c` as Rust's debug format writes it: `\n`, `\r`, `\t`, `\0`, `\x1b`,
/// `\u{9b}`.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c if c.is_ascii() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// A whole message line with its control characters escaped and nothing
/// else changed, so a value [`escape`]d before stays as it is.
pub fn escape_controls(line: &str) -> Cow<'_, str> {
    if !line.chars().any(is_unsafe) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One user-supplied value for a message: control characters and
/// backslashes escaped as Rust's debug format writes them (so what is shown
/// tells the value exactly), at most [`MAX_SHOWN`] bytes of it, then
/// `…(N bytes)`.
pub fn escape(value: &str) -> String {
    escape_bytes(value.as_bytes())
}

/// [`escape`] for OS strings (paths, environment values); bytes that are
/// not UTF-8 are shown as `\xNN`.
pub fn escape_os(value: &OsStr) -> String {
    escape_bytes(value.as_bytes())
}

fn escape_bytes(value: &[u8]) -> String {
    let shown = &value[..value.len().min(MAX_SHOWN)];
    let mut out = String::with_capacity(shown.len() + 16);
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if is_unsafe(c) {
                push_escaped(&mut out, c);
            } else {
                out.push(c);
            }
        }
        // A character cut at MAX_SHOWN is shown as its bytes too.
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if value.len() > shown.len() {
        let _ = write!(out, "…({} bytes)", value.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn values_are_escaped_like_rust_debug() {
        for (value, shown) in [
            ("base", "base"),
            ("x\nforged", "x\\nforged"),
            ("a\r\tb\0", "a\\r\\tb\\0"),
            ("\x1b[31mred", "\\x1b[31mred"),
            ("del\x7f", "del\\x7f"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("ls\u{2028}ps\u{2029}", "ls\\u{2028}ps\\u{2029}"),
            ("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe"),
            ("back\\nslash", "back\\\\nslash"),
            ("caf\u{e9} \u{1f600}", "caf\u{e9} \u{1f600}"),
            ("", ""),
        ] {
            assert_eq!(escape(value), shown, "{value:?}");
        }
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        let long = "a".repeat(MAX_SHOWN + 1);
        assert_eq!(
            escape(&long),
            format!("{}…({} bytes)", "a".repeat(MAX_SHOWN), MAX_SHOWN + 1)
        );
        assert_eq!(escape(&"a".repeat(MAX_SHOWN)), "a".repeat(MAX_SHOWN));
        // 1 MiB of newlines: at most MAX_SHOWN of them shown, each as `\n`.
        let shown = escape(&"\n".repeat(1 << 20));
        assert_eq!(
            shown,
            format!("{}…(1048576 bytes)", "\\n".repeat(MAX_SHOWN))
        );
        // A character cut at the limit is shown as its bytes.
        let cut = format!("{}\u{e9}", "a".repeat(MAX_SHOWN - 1));
        assert_eq!(
            escape(&cut),
            format!(
                "{}\\xc3…({} bytes)",
                "a".repeat(MAX_SHOWN - 1),
                MAX_SHOWN + 1
            )
        );
    }

    #[test]
    fn os_values_show_bytes_that_are_not_utf8() {
        assert_eq!(escape_os(OsStr::from_bytes(b"/a\xff\nb")), "/a\\xff\\nb");
    }

    #[test]
    fn lines_keep_everything_but_controls() {
        assert!(matches!(
            escape_controls("carme: image 'a\\nb' is not known"),
            Cow::Borrowed("carme: image 'a\\nb' is not known")
        ));
        assert_eq!(
            escape_controls("one\nforged: line\r\x1b]0;title\x07\u{85}"),
            "one\\nforged: line\\r\\x1b]0;title\\x07\\u{85}"
        );
        // Idempotent on escaped values.
        let v = escape("x\n\x1b");
        assert_eq!(escape_controls(&v), v);
    }

    #[test]
    fn nothing_unsafe_survives() {
        let all: String = (0u32..0x30000).filter_map(char::from_u32).collect();
        for shown in [escape_controls(&all).into_owned(), escape(&all)] {
            assert!(!shown.chars().any(is_unsafe));
            assert!(!shown.contains(['\n', '\r', '\x1b', '\u{9b}', '\x7f']));
        }
    }
}
