//! sbatch's reading of `#SBATCH` lines (`get_argument` in sbatch/opt.c).

pub(super) struct Directives {
    /// Option words of het component 0.
    pub(super) words: Vec<String>,
    /// A `hetjob`/`packjob` separator line was reached.
    pub(super) het: bool,
    /// Why sbatch would refuse the script, if it would.
    pub(super) error: Option<String>,
    /// `#PBS`/`#BSUB` lines sbatch would translate.
    pub(super) wrapper_lines: bool,
}

/// C `isspace` in the C locale.
pub(super) fn c_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `word` (case-insensitive) followed by the end or whitespace.
pub(super) fn starts_with_word(s: &[u8], word: &str) -> bool {
    s.len() >= word.len()
        && s[..word.len()].eq_ignore_ascii_case(word.as_bytes())
        && s.get(word.len()).is_none_or(|b| c_isspace(*b))
}

pub(super) fn is_het_separator(s: &[u8]) -> bool {
    starts_with_word(s, "packjob") || starts_with_word(s, "hetjob")
}

pub(super) fn scan_directives(text: &str) -> Directives {
    let mut d = Directives {
        words: Vec::new(),
        het: false,
        error: None,
        wrapper_lines: wrapper_lines(text),
    };
    for line in text.split('\n') {
        let rest = match line
            .strip_prefix("#SBATCH")
            .or_else(|| line.strip_prefix("#SLURM"))
        {
            Some(rest) => rest.as_bytes(),
            None => {
                // Reading stops at the first line with a command on it.
                match line.bytes().find(|b| !c_isspace(*b)) {
                    Some(b'#') | None => continue,
                    Some(_) => break,
                }
            }
        };
        let start = rest
            .iter()
            .position(|b| !c_isspace(*b))
            .unwrap_or(rest.len());
        if is_het_separator(&rest[start..]) {
            d.het = true;
            break;
        }
        let mut pos = 0;
        loop {
            match get_argument(&rest[pos..]) {
                Ok(Some((word, used))) => {
                    d.words.push(word);
                    pos += used;
                }
                Ok(None) => break,
                Err(e) => {
                    d.error = Some(e);
                    return d;
                }
            }
        }
    }
    d
}

/// sbatch's get_argument: the next word of a directive line and the bytes
/// used, None when the line has no more words.
pub(super) fn get_argument(s: &[u8]) -> Result<Option<(String, usize)>, String> {
    let mut p = s.iter().position(|b| !c_isspace(*b)).unwrap_or(s.len());
    // A separator word is blanked, which ends the line's words.
    if is_het_separator(&s[p..]) {
        return Ok(None);
    }
    if s.get(p) == Some(&b':') {
        return Err("unexpected ':' in an #SBATCH line".into());
    }
    let mut arg = Vec::new();
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    while p < s.len() && (quote.is_some() || !c_isspace(s[p])) {
        let c = s[p];
        p += 1;
        if escaped {
            escaped = false;
        } else if c == b'\\' {
            escaped = true;
            continue;
        } else if let Some(q) = quote {
            if c == q {
                quote = None;
                continue;
            }
        } else if c == b'"' || c == b'\'' {
            quote = Some(c);
            continue;
        } else if c == b'#' {
            // An unquoted '#' starts a comment.
            p -= 1;
            break;
        }
        arg.push(c);
    }
    if quote.is_some() {
        return Err("unmatched quote in an #SBATCH line".into());
    }
    // Nothing copied (e.g. `""`): sbatch sees no word and stops the line.
    if arg.is_empty() {
        return Ok(None);
    }
    Ok(Some((String::from_utf8_lossy(&arg).into_owned(), p)))
}

/// Does xlate.c find `#BSUB` or `#PBS` lines (it looks until more than 100
/// non-comment lines have passed)?
pub(super) fn wrapper_lines(text: &str) -> bool {
    let mut non_comments = 0;
    for line in text.split('\n') {
        if line.starts_with("#PBS") || line.starts_with("#BSUB") {
            return true;
        }
        if !line.starts_with('#') {
            non_comments += 1;
            if non_comments > 100 {
                return false;
            }
        }
    }
    false
}
