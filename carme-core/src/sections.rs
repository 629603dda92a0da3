//! Splitting a TOML document into its top-level sections without parsing
//! values, so a config with thousands of per-user rules can be loaded for
//! one user in about a millisecond: only the sections that can matter are
//! handed to the TOML parser, with a map from their lines back to the
//! file's lines so errors still name the right line.
//!
//! The lexer knows just enough TOML to find table headers: a `[` that
//! starts a line outside any string, array or inline table. A header it
//! cannot read exactly (escapes, odd quoting) reads as `None` and callers
//! keep such sections.
//!
//! On valid TOML the split is exact. On broken TOML it may not be: an
//! unclosed `[` or `"""`, or a `\` before a newline in a string, in one
//! user's rule would swallow every later header, and a load that skips
//! that rule would silently lose `[limits.default]` and all that follows
//! (issue 14). So the lexer also says whether it is sure: it is not when
//! it sees such a lexical error (an unclosed string, bracket or brace, a
//! stray closer) or a line opening with `[` where the lexer thinks it is
//! inside a value (rare in valid configs: a nested array on a line of its
//! own). Callers then parse the whole text instead.

/// Up to this many header keys are kept; deeper headers keep a count.
const MAX_KEYS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    text: &'a [u8],
    /// Byte ranges of the first keys (ranges, not slices: no UTF-8 checks
    /// for the thousands of headers a load reads and mostly drops).
    spans: [(u32, u32); MAX_KEYS],
    count: usize,
    /// `[[...]]`
    pub array: bool,
}

impl<'a> Header<'a> {
    /// Key `i` of the path, as bytes (`None` past the stored keys).
    pub fn key(&self, i: usize) -> Option<&'a [u8]> {
        (i < self.count.min(MAX_KEYS)).then(|| {
            let (s, e) = self.spans[i];
            &self.text[s as usize..e as usize]
        })
    }

    /// The stored keys as text (for tests and messages).
    pub fn keys(&self) -> Vec<&'a str> {
        (0..self.count.min(MAX_KEYS))
            .filter_map(|i| std::str::from_utf8(self.key(i)?).ok())
            .collect()
    }

    /// How many keys the path has.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section<'a> {
    /// `None` for the part before the first header and for headers this
    /// lexer does not read.
    pub header: Option<Header<'a>>,
    /// Byte range in the text, header line included.
    pub start: usize,
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
}

/// A byte-class table (lookups keep the hot loops to a few instructions).
const fn class(bytes: &[u8], ranges: &[(u8, u8)]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    let mut r = 0;
    while r < ranges.len() {
        let mut c = ranges[r].0;
        while c <= ranges[r].1 {
            t[c as usize] = true;
            c += 1;
        }
        r += 1;
    }
    t
}

/// Bytes that change the lexer's state outside strings.
static SPECIAL: [bool; 256] = class(b"\"'#[]{}\n", &[]);
/// Bytes that end a run inside a basic / a literal string.
static STOP_BASIC: [bool; 256] = class(b"\"\\\n", &[]);
static STOP_LITERAL: [bool; 256] = class(b"'\n", &[]);
/// Bytes of a bare TOML key.
static BARE: [bool; 256] = class(b"_-", &[(b'a', b'z'), (b'A', b'Z'), (b'0', b'9')]);

/// One pass over the bytes: the hot loop of every scoped config load, so
/// runs of plain bytes are skipped in tight inner loops.
pub fn split(text: &str) -> Vec<Section<'_>> {
    split_checked(text).0
}

/// [`split`], and whether the lexer is sure of it (see the module doc).
pub fn split_checked(text: &str) -> (Vec<Section<'_>>, bool) {
    let mut sections = vec![Section {
        header: None,
        start: 0,
        end: text.len(),
        line: 1,
    }];
    let sure = scan(text, |header, start, line| {
        if let Some(last) = sections.last_mut() {
            last.end = start;
        }
        sections.push(Section {
            header,
            start,
            end: text.len(),
            line,
        });
    });
    (sections, sure)
}

/// The lexer: calls `on_header(header, start of its line, line number)`
/// for every table header, in order. Returns whether it is sure of them.
fn scan<'a>(text: &'a str, mut on_header: impl FnMut(Option<Header<'a>>, usize, usize)) -> bool {
    let b = text.as_bytes();
    let n = b.len();
    let (mut depth, mut line, mut line_begin) = (0i64, 1usize, 0usize);
    let mut sure = true;
    // The bare keys of the current table, to find one given twice.
    let mut keys: Vec<&[u8]> = Vec::new();
    let triple = |i: usize, q: u8| i + 2 < n && b[i + 1] == q && b[i + 2] == q;
    // The closing quote of a one-line string opened before `i` (or the
    // newline it illegally runs into), past backslash escapes in basic
    // ones; and whether the string is closed (a `\` before the newline
    // does not continue a one-line string: TOML refuses it).
    let string_end = |mut i: usize, q: u8| {
        let stop = if q == b'"' {
            &STOP_BASIC
        } else {
            &STOP_LITERAL
        };
        loop {
            while i < n && !stop[b[i] as usize] {
                i += 1;
            }
            if i < n && b[i] == b'\\' {
                if matches!(b.get(i + 1), None | Some(b'\n')) {
                    return (i + 1, false);
                }
                i += 2;
                continue;
            }
            let end = i.min(n);
            return (end, end < n && b[end] == q);
        }
    };
    let mut i = 0;
    // Each iteration starts at the beginning of a line, outside strings
    // (multi-line strings are consumed whole, newlines counted).
    'lines: while i < n {
        while i < n && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if depth == 0 && i < n && !matches!(b[i], b'[' | b'#' | b'\n' | b'\r') {
            // Outside values a line is `key = value`: anything else (a
            // stray `=`, a word without one) is a TOML error only a full
            // parse reports, and it may sit in a rule the scope skips.
            // So is a key given twice in one table: what a commented-out
            // header leaves behind when its keys fall into the table before.
            match key_line(b, i) {
                None => sure = false,
                Some(None) => {}
                Some(Some(key)) => {
                    sure &= !keys.iter().any(|k| keys_clash(k, key));
                    keys.push(key);
                }
            }
        }
        if i < n && b[i] == b'[' {
            if depth == 0 {
                keys.clear();
                let (h, end) = header(text, i);
                on_header(h, line_begin, line);
                i = end;
            } else {
                // A line opening with `[` inside an array: a header an
                // unclosed `[` swallowed, or a nested array. Only a full
                // parse can tell.
                sure = false;
            }
        }
        while i < n {
            let c = b[i];
            if !SPECIAL[c as usize] {
                i += 1;
                continue;
            }
            match c {
                b'\n' => {
                    i += 1;
                    line += 1;
                    line_begin = i;
                    continue 'lines;
                }
                b'#' => i = line_end(b, i),
                b'"' | b'\'' if triple(i, c) => {
                    i = multi_end(b, i + 3, c, &mut line, &mut sure);
                    sure &= depth > 0 || ends_value(b, i, false);
                }
                b'"' | b'\'' => {
                    let (j, closed) = string_end(i + 1, c);
                    // Past the closing quote; an unclosed string stops at
                    // its newline, which this loop then counts.
                    sure &= closed;
                    i = if closed { j + 1 } else { j };
                    // A quoted key goes on with `=` or `.`.
                    sure &= !closed || depth > 0 || ends_value(b, i, true);
                }
                b'[' | b'{' => {
                    // Outside values an opener only starts a value after
                    // `=` (headers are read above): `1"""[limits.x]` is a
                    // header a lost newline glued to a value.
                    sure &= depth > 0 || last_on_line(b, line_begin, i) == Some(b'=');
                    depth += 1;
                    i += 1;
                }
                _ => {
                    // A closer with nothing open is a TOML error.
                    sure &= depth > 0;
                    depth = (depth - 1).max(0);
                    i += 1;
                    sure &= depth > 0 || ends_value(b, i, false);
                }
            }
        }
    }
    sure && depth == 0
}

/// Whether only blanks and a comment follow `i` on its line (a value at
/// the top level ended there), or, for a quoted key, `=` or `.`.
fn ends_value(b: &[u8], mut i: usize, key: bool) -> bool {
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    match b.get(i) {
        None | Some(b'\n' | b'\r' | b'#') => true,
        Some(b'=' | b'.') => key,
        _ => false,
    }
}

/// The last non-blank byte of the line before `i`.
fn last_on_line(b: &[u8], begin: usize, i: usize) -> Option<u8> {
    b[begin..i]
        .iter()
        .rev()
        .copied()
        .find(|c| *c != b' ' && *c != b'\t')
}

/// Whether the line from `i` starts as `key =`: dotted bare keys (blanks
/// around the dots allowed), or a quoted key, which the string lexer and
/// the full parse of a kept section check further. `Some(Some(key))`: the
/// bare key's bytes (up to its `=`, blanks included).
fn key_line(b: &[u8], start: usize) -> Option<Option<&[u8]>> {
    let mut i = start;
    let blank = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    loop {
        blank(&mut i);
        match b.get(i) {
            Some(b'"' | b'\'') => return Some(None),
            Some(&c) if BARE[c as usize] => {
                while i < b.len() && BARE[b[i] as usize] {
                    i += 1;
                }
            }
            _ => return None,
        }
        blank(&mut i);
        match b.get(i) {
            Some(b'=') => return Some(Some(&b[start..i])),
            Some(b'.') => i += 1,
            _ => return None,
        }
    }
}

/// Whether two dotted keys of one table clash in TOML: the same key, or
/// one a prefix of the other (`a = 1` then `a.b = 2`). Blanks ignored.
fn keys_clash(a: &[u8], b: &[u8]) -> bool {
    let mut a = a.iter().filter(|c| !matches!(c, b' ' | b'\t'));
    let mut b = b.iter().filter(|c| !matches!(c, b' ' | b'\t'));
    loop {
        match (a.next(), b.next()) {
            (None, None) | (None, Some(b'.')) | (Some(b'.'), None) => return true,
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// Just past the end of a multi-line string whose body starts at `i`,
/// counting the lines it spans. Not `sure` when the string is never
/// closed, or holds a line opening with `[` (one `"""` too many may have
/// opened it and swallowed a header; only a full parse can tell).
fn multi_end(b: &[u8], mut i: usize, q: u8, line: &mut usize, sure: &mut bool) -> usize {
    let n = b.len();
    // A line opening with `[`, as every header does.
    let header_like = |mut j: usize| {
        while j < n && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        j < n && b[j] == b'['
    };
    while i < n {
        let c = b[i];
        if c == b'\n' {
            *line += 1;
            if header_like(i + 1) {
                *sure = false;
            }
        } else if c == b'\\' && q == b'"' {
            i += 1;
            if i < n && b[i] == b'\n' {
                *line += 1;
                if header_like(i + 1) {
                    *sure = false;
                }
            }
        } else if c == q && i + 2 < n && b[i + 1] == q && b[i + 2] == q {
            // Up to two more quotes may belong to the content.
            let mut j = i + 3;
            while j < n && j < i + 5 && b[j] == q {
                j += 1;
            }
            return j;
        }
        i += 1;
    }
    *sure = false;
    n
}

/// `[limits.users.NAME]` / `[limits.groups.NAME]` / `[limits.accounts.NAME]`
/// written plainly (bare NAME, no spaces): by far the most common headers in
/// a large config, so recognised without the general parser. Anything
/// else returns None and goes the general way.
fn canonical_rule_header(b: &[u8], at: usize) -> Option<(Option<Header<'_>>, usize)> {
    const PREFIXES: [&[u8]; 3] = [b"[limits.users.", b"[limits.groups.", b"[limits.accounts."];
    let rest = &b[at..];
    let prefix = PREFIXES.iter().find(|p| rest.starts_with(p))?;
    let name_start = at + prefix.len();
    let mut i = name_start;
    while i < b.len() && BARE[b[i] as usize] {
        i += 1;
    }
    // A bare name closed by `]` and the line's end; else not the fast case.
    if i == name_start || b.get(i) != Some(&b']') || !matches!(b.get(i + 1), None | Some(b'\n')) {
        return None;
    }
    let kind_start = at + 8; // past "[limits."
    let h = Header {
        text: b,
        spans: [
            (at as u32 + 1, at as u32 + 7),
            (kind_start as u32, name_start as u32 - 1),
            (name_start as u32, i as u32),
            (0, 0),
        ],
        count: 3,
        array: false,
    };
    Some((Some(h), i + 1))
}

/// Where the line holding `i` ends (its newline, or the end).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p)
}

/// The header starting at `text[at] == '['`: its key path if simple
/// enough, and where its line ends. Byte-level, one pass: it runs for
/// every section of every load.
fn header(text: &str, at: usize) -> (Option<Header<'_>>, usize) {
    // Offsets are kept as u32: configs beyond 4 GiB are not read this way.
    if text.len() > u32::MAX as usize {
        return (None, line_end(text.as_bytes(), at));
    }
    let b = text.as_bytes();
    let n = b.len();
    if let Some(fast) = canonical_rule_header(b, at) {
        return fast;
    }
    let array = b.get(at + 1) == Some(&b'[');
    let mut i = at + if array { 2 } else { 1 };
    let mut h = Header {
        text: b,
        spans: [(0, 0); MAX_KEYS],
        count: 0,
        array,
    };
    let blank = |i: &mut usize| {
        while *i < n && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    let unreadable = |i: usize| (None, line_end(b, i));
    loop {
        blank(&mut i);
        let (start, end) = match b.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let s = i + 1;
                let mut e = s;
                while e < n && b[e] != q && b[e] != b'\n' {
                    if q == b'"' && b[e] == b'\\' {
                        return unreadable(e);
                    }
                    e += 1;
                }
                if e >= n || b[e] != q {
                    return unreadable(e);
                }
                i = e + 1;
                (s, e)
            }
            _ => {
                let s = i;
                while i < n && BARE[b[i] as usize] {
                    i += 1;
                }
                if i == s {
                    return unreadable(i);
                }
                (s, i)
            }
        };
        if h.count < MAX_KEYS {
            h.spans[h.count] = (start as u32, end as u32);
        }
        h.count += 1;
        blank(&mut i);
        match b.get(i) {
            Some(b'.') => i += 1,
            Some(b']') => {
                i += 1;
                if array {
                    if b.get(i) != Some(&b']') {
                        return unreadable(i);
                    }
                    i += 1;
                }
                blank(&mut i);
                return match b.get(i) {
                    None | Some(b'\n') => (Some(h), i),
                    Some(b'\r') if b.get(i + 1) == Some(&b'\n') => (Some(h), i + 1),
                    Some(b'#') => (Some(h), line_end(b, i)),
                    Some(_) => unreadable(i),
                };
            }
            _ => return unreadable(i),
        }
    }
}

/// The sections of `text` that `keep` accepts, concatenated, and for
/// each line of the result the file's line it came from. Decided section
/// by section during the scan: nothing is kept of the others. `None` when
/// the lexer is not sure of the sections (see the module doc): the caller
/// must then parse the whole text.
pub fn extract(text: &str, keep: impl Fn(&Section) -> bool) -> Option<(String, Vec<usize>)> {
    let (out, lines, sure) = extract_unchecked(text, keep);
    sure.then_some((out, lines))
}

/// [`extract`], sure or not, and whether it is.
fn extract_unchecked(text: &str, keep: impl Fn(&Section) -> bool) -> (String, Vec<usize>, bool) {
    let mut out = String::with_capacity(4096);
    let mut lines = Vec::with_capacity(256);
    let mut take = |s: &Section| {
        if s.start == s.end || !keep(s) {
            return;
        }
        let part = &text[s.start..s.end];
        let n = part.bytes().filter(|&c| c == b'\n').count();
        lines.extend(s.line..s.line + n);
        out.push_str(part);
        if !part.ends_with('\n') {
            // The file's last line: close it so the next part starts fresh.
            lines.push(s.line + n);
            out.push('\n');
        }
    };
    let mut current = Section {
        header: None,
        start: 0,
        end: text.len(),
        line: 1,
    };
    let sure = scan(text, |header, start, line| {
        current.end = start;
        take(&current);
        current = Section {
            header,
            start,
            end: text.len(),
            line,
        };
    });
    take(&current);
    (out, lines, sure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(text: &str) -> Vec<Option<Vec<&str>>> {
        split(text)
            .into_iter()
            .map(|s| s.header.map(|h| h.keys()))
            .collect()
    }

    #[test]
    fn finds_headers_not_lookalikes() {
        let text = r#"a = 1
[gate]
x = [
[1], [2]
]
s = """
[not.a.header]
"""
t = '''
[nor.this]'''
u = "[x]" # [y]
w = "a\"[" # escaped quote
  [ limits . users . "a.b" ]  # comment
[[mounts]]
[limits.users.'q']
v = { a = [
[1]] }
[bad header
[a.b.c.d.e]
"#;
        assert_eq!(
            keys(text),
            [
                None,
                Some(vec!["gate"]),
                Some(vec!["limits", "users", "a.b"]),
                Some(vec!["mounts"]),
                Some(vec!["limits", "users", "q"]),
                None,
                Some(vec!["a", "b", "c", "d"]),
            ]
        );
        let s = split(text);
        assert!(s[3].header.unwrap().array);
        assert_eq!(s[6].header.unwrap().len(), 5);
        assert_eq!(s[1].line, 2);
        assert_eq!(s[2].line, 13);
        // Sections tile the text exactly.
        assert_eq!(s[0].start, 0);
        for w in s.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        assert_eq!(s.last().unwrap().end, text.len());
    }

    /// Finding 3 of issue 14: each of these swallowed `[limits.default]`
    /// into bob's rule, so a load that skipped bob's rule lost it.
    #[test]
    fn not_sure_where_a_typo_may_swallow_headers() {
        let tail = "\n[limits.default]\nmax_gpus_per_job = 1\n";
        for typo in [
            "images = [\"base\"",
            "images = {a = 1",
            "s = \"\"\"abc",
            "s = '''abc",
            "s = \"abc\\",
            "s = \"abc",
            "s = 'abc",
            "x = 1]",
            "s = \"\"\"a\"\"\"\"\"\"",
        ] {
            let text = format!("[limits.users.bob]\n{typo}{tail}");
            assert!(!split_checked(&text).1, "{text}");
            assert!(extract(&text, |_| true).is_none(), "{text}");
        }
        // Valid TOML that merely looks odd is read exactly.
        for fine in [
            "images = [\"base\",\n  \"[x]\", # [y]\n]",
            "s = \"\"\"\n  not [a] header\n\"\"\"",
            "s = \"a\\\"[\"",
            "x = [\n  1, [2],\n]",
        ] {
            let text = format!("[limits.users.bob]\n{fine}{tail}");
            let (sections, sure) = split_checked(&text);
            assert!(sure, "{text}");
            assert_eq!(sections.len(), 3, "{text}");
        }
        // A nested array on a line of its own, or a string line opening
        // with `[`, cannot be told from a swallowed header.
        for odd in ["x = [\n[1, 2],\n]", "s = \"\"\"\n[a]\n\"\"\""] {
            let text = format!("[limits.users.bob]\n{odd}{tail}");
            assert!(!split_checked(&text).1, "{text}");
        }
    }

    /// The documented example config takes the fast way, not the fallback.
    #[test]
    fn the_example_config_is_read_surely() {
        let text = include_str!("../../etc/carme.toml");
        let (sections, sure) = split_checked(text);
        assert!(sure && sections.len() > 1);
    }

    #[test]
    fn extract_maps_lines() {
        let text = "[a]\nx = 1\n[b]\ny = 2\n\n[c]\nz = 3";
        let (out, map) =
            extract(text, |s| s.header.is_none_or(|h| h.key(0) != Some(b"b"))).unwrap();
        assert_eq!(out, "[a]\nx = 1\n[c]\nz = 3\n");
        assert_eq!(map, [1, 2, 6, 7]);
    }

    proptest! {
        // Keeping everything reproduces the text (plus a final newline),
        // and every line maps to itself.
        #[test]
        fn extract_all_is_identity(text in "([a-z\\[\\]\"'#{}=., \n]{0,20}\n){0,8}") {
            let (out, map, sure) = extract_unchecked(&text, |_| true);
            prop_assert_eq!(sure, split_checked(&text).1);
            prop_assert_eq!(sure, extract(&text, |_| true).is_some());
            let want = if text.is_empty() || text.ends_with('\n') { text.clone() } else { format!("{text}\n") };
            prop_assert_eq!(&out, &want);
            prop_assert_eq!(map, (1..=out.lines().count()).collect::<Vec<_>>());
        }
    }
}
