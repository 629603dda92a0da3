//! Option parsing as bash's `getopts` does it, which is how `beeond` reads
//! the options of each action.
//!
//! Single letters after `-`; switches may be clustered (`-PFq`); a value is
//! the rest of the word (`-p1000`) or the next word (`-p 1000`), whatever it
//! looks like; `--` ends the options and is dropped; the first word that is
//! not an option (or a lone `-`) ends them too. What follows is returned as
//! operands: `beeond` silently ignores them, the stand-in refuses them.

/// Options in order (a repeated option is kept twice; `beeond` lets the
/// later one win) and the words after the options.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub options: Vec<(char, Option<String>)>,
    pub operands: Vec<String>,
}

/// What `getopts` reports.
#[derive(Debug, PartialEq, Eq)]
pub enum GetoptsError {
    /// A letter not in the spec.
    Invalid(char),
    /// A value option at the end of the words.
    MissingValue(char),
}

/// Parse `args` against a getopts `spec` such as `"di:n:Pb:Lcq"` (a letter
/// followed by `:` takes a value; a leading `:` only selects getopts' silent
/// error mode and is ignored here).
pub fn getopts(spec: &str, args: &[String]) -> Result<Parsed, GetoptsError> {
    let spec = spec.strip_prefix(':').unwrap_or(spec);
    let takes_value = |letter: char| -> Option<bool> {
        if letter == ':' {
            return None;
        }
        let at = spec.find(letter)?;
        Some(spec[at + letter.len_utf8()..].starts_with(':'))
    };
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            i += 1;
            break;
        }
        let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) else {
            break;
        };
        for (at, letter) in letters.char_indices() {
            match takes_value(letter) {
                None => return Err(GetoptsError::Invalid(letter)),
                Some(false) => parsed.options.push((letter, None)),
                Some(true) => {
                    let rest = &letters[at + letter.len_utf8()..];
                    let value = if rest.is_empty() {
                        i += 1;
                        args.get(i)
                            .ok_or(GetoptsError::MissingValue(letter))?
                            .clone()
                    } else {
                        rest.to_string()
                    };
                    parsed.options.push((letter, Some(value)));
                    break;
                }
            }
        }
        i += 1;
    }
    parsed.operands = args[i.min(args.len())..].to_vec();
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn opt(letter: char, value: Option<&str>) -> (char, Option<String>) {
        (letter, value.map(String::from))
    }

    #[test]
    fn clusters_attached_and_separate_values() {
        let p = getopts(":n:p:PFq", &words("-PF -n /x -p1000 -q")).unwrap();
        assert_eq!(
            p.options,
            vec![
                opt('P', None),
                opt('F', None),
                opt('n', Some("/x")),
                opt('p', Some("1000")),
                opt('q', None),
            ]
        );
        assert!(p.operands.is_empty());
        // A value may look like an option; a cluster may end in a value option.
        let p = getopts("n:P", &words("-Pn -q")).unwrap();
        assert_eq!(p.options, vec![opt('P', None), opt('n', Some("-q"))]);
    }

    #[test]
    fn stops_at_operands_and_double_dash() {
        let p = getopts("P", &words("-P extra -P")).unwrap();
        assert_eq!(p.options, vec![opt('P', None)]);
        assert_eq!(p.operands, words("extra -P"));
        let p = getopts("P", &words("-- -P")).unwrap();
        assert!(p.options.is_empty());
        assert_eq!(p.operands, words("-P"));
        let p = getopts("P", &words("- -P")).unwrap();
        assert_eq!(p.operands, words("- -P"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            getopts(":n:", &words("-x")),
            Err(GetoptsError::Invalid('x'))
        );
        assert_eq!(
            getopts("n:", &words("-n")),
            Err(GetoptsError::MissingValue('n'))
        );
        assert_eq!(getopts("n:", &words("-:")), Err(GetoptsError::Invalid(':')));
        assert_eq!(
            getopts("n:", &words("--long")),
            Err(GetoptsError::Invalid('-'))
        );
    }
}
