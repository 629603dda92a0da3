//! Shell-style globs for image names in limits (`pytorch-*`): `*` any run
//! of characters, `?` one character, `[abc]`, `[a-z]`, `[!x]` classes, `\`
//! escapes. Anything else is literal. Malformed patterns are config errors.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    toks: Vec<Tok>,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("an empty pattern matches no image".to_string());
        }
        let mut toks = Vec::new();
        let mut it = pattern.chars().peekable();
        while let Some(c) = it.next() {
            toks.push(match c {
                '*' => {
                    // Runs of stars are one star.
                    if toks.last() == Some(&Tok::Star) {
                        continue;
                    }
                    Tok::Star
                }
                '?' => Tok::Any,
                '\\' => Tok::Lit(
                    it.next()
                        .ok_or_else(|| format!("`{pattern}` ends in a lone `\\`"))?,
                ),
                '[' => {
                    let negated = it.next_if(|&c| c == '!' || c == '^').is_some();
                    let mut items = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(c) = it.next() else {
                            return Err(format!("`{pattern}` has an unclosed `[`"));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let lo = if c == '\\' {
                            it.next()
                                .ok_or_else(|| format!("`{pattern}` ends in a lone `\\`"))?
                        } else {
                            c
                        };
                        if it.peek() == Some(&'-') {
                            it.next();
                            match it.next() {
                                Some(']') => {
                                    // `[a-]`: a and a literal dash.
                                    items.push((lo, lo));
                                    items.push(('-', '-'));
                                    break;
                                }
                                Some(hi) => {
                                    if hi < lo {
                                        return Err(format!(
                                            "`{pattern}` has a reversed range `{lo}-{hi}`"
                                        ));
                                    }
                                    items.push((lo, hi));
                                }
                                None => return Err(format!("`{pattern}` has an unclosed `[`")),
                            }
                        } else {
                            items.push((lo, lo));
                        }
                    }
                    Tok::Class { negated, items }
                }
                c => Tok::Lit(c),
            });
        }
        Ok(Glob {
            text: pattern.to_string(),
            toks,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, name: &str) -> bool {
        let s: Vec<char> = name.chars().collect();
        // Iterative matcher with single-star backtracking: linear-ish,
        // no recursion, so hostile patterns cannot blow the stack.
        let (mut p, mut i) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while i < s.len() {
            let step = match self.toks.get(p) {
                Some(Tok::Star) => {
                    star = Some((p, i));
                    p += 1;
                    continue;
                }
                Some(Tok::Lit(c)) => *c == s[i],
                Some(Tok::Any) => true,
                Some(Tok::Class { negated, items }) => {
                    items.iter().any(|&(lo, hi)| lo <= s[i] && s[i] <= hi) != *negated
                }
                None => false,
            };
            if step {
                p += 1;
                i += 1;
            } else if let Some((sp, si)) = star {
                p = sp + 1;
                i = si + 1;
                star = Some((sp, si + 1));
            } else {
                return false;
            }
        }
        self.toks[p..].iter().all(|t| *t == Tok::Star)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases = [
            ("base", "base", true),
            ("base", "base2", false),
            ("pytorch-*", "pytorch-2.3", true),
            ("pytorch-*", "pytorch-", true),
            ("pytorch-*", "pytorch", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("img[0-9]", "img7", true),
            ("img[0-9]", "imgx", false),
            ("img[!0-9]", "imgx", true),
            ("img[!0-9]", "img7", false),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("[]a]", "]", true),
            ("[a-]", "-", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b*", "xxbxxaxx", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(Glob::new(p).unwrap().matches(s), want, "{p} ~ {s}");
        }
        for bad in ["", "a[", "a[b", "x\\", "[z-a]", "[a-"] {
            assert!(Glob::new(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        // Without metacharacters a pattern matches exactly itself.
        #[test]
        fn literals_match_only_themselves(p in "[a-z0-9._-]{1,12}", s in "[a-z0-9._-]{0,12}") {
            let g = Glob::new(&p).unwrap();
            prop_assert!(g.matches(&p));
            prop_assert_eq!(g.matches(&s), s == p);
        }

        // prefix* matches exactly the strings with that prefix.
        #[test]
        fn prefix_star(p in "[a-z]{0,6}", s in "[a-z]{0,8}") {
            let g = Glob::new(&format!("{p}*")).unwrap();
            prop_assert_eq!(g.matches(&s), s.starts_with(&p));
        }

        // Against globset as an independent oracle.
        #[test]
        fn agrees_with_globset(p in "[ab*?]{1,8}|[ab]{0,2}\\[[ab]{1,2}\\][ab*]{0,3}", s in "[ab]{0,8}") {
            let ours = Glob::new(&p).unwrap().matches(&s);
            let theirs = globset::GlobBuilder::new(&p).literal_separator(false).build().unwrap().compile_matcher().is_match(&s);
            prop_assert_eq!(ours, theirs, "{} ~ {}", p, s);
        }

        #[test]
        fn never_panics(p in "\\PC{0,12}", s in "\\PC{0,12}") {
            if let Ok(g) = Glob::new(&p) {
                let _ = g.matches(&s);
            }
        }
    }
}
