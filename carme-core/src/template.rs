//! Path templates with `%n` (node name) and `%j` (job id), as in slurm.conf,
//! so one config can serve several slurmd on one host.

use std::fmt;
use std::path::{Path, PathBuf};

/// A path that may contain `%n`, `%j` and `%%`; validated when parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PathTemplate {
    pub fn parse(s: &str) -> Result<PathTemplate, TemplateError> {
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.next() {
                    Some('n' | 'j' | '%') => {}
                    Some(o) => {
                        return Err(TemplateError(format!(
                            "`%{o}` in `{s}` is not known; use %n (node name), %j (job id) or %%"
                        )));
                    }
                    None => {
                        return Err(TemplateError(format!(
                            "`{s}` ends in a lone `%`; write %% for a percent sign"
                        )));
                    }
                }
            }
        }
        Ok(PathTemplate(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_absolute(&self) -> bool {
        self.0.starts_with('/')
    }

    /// Substitute `%n` and `%j`. Node names lose their `/` (and `.` or `..`
    /// alone becomes `_`/`__`), job ids are numbers, so the result stays
    /// under the same directories the admin wrote.
    pub fn expand(&self, node: &str, job: Option<u32>) -> PathBuf {
        let mut out = String::with_capacity(self.0.len() + 16);
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                // `.` and `..` as a whole name would climb out too.
                Some('n') if node == "." || node == ".." => out.push_str(&node.replace('.', "_")),
                Some('n') => out.push_str(&node.replace('/', "_")),
                Some('j') => match job {
                    Some(j) => out.push_str(&j.to_string()),
                    None => out.push_str("%j"),
                },
                Some('%') => out.push('%'),
                // parse() rejected anything else.
                Some(o) => {
                    out.push('%');
                    out.push(o)
                }
                None => out.push('%'),
            }
        }
        PathBuf::from(out)
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<Path> for PathTemplate {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_node_job_and_percent() {
        let t = PathTemplate::parse("/var/tmp/carme/%n/%j/100%%").unwrap();
        assert_eq!(
            t.expand("n1", Some(42)),
            PathBuf::from("/var/tmp/carme/n1/42/100%")
        );
    }

    #[test]
    fn refuses_unknown_and_dangling_percent() {
        assert!(PathTemplate::parse("/a/%x").is_err());
        assert!(PathTemplate::parse("/a/%").is_err());
    }

    #[test]
    fn node_names_cannot_add_directories() {
        let t = PathTemplate::parse("/base/%n").unwrap();
        assert_eq!(t.expand("a/../b", None), PathBuf::from("/base/a_.._b"));
        assert_eq!(t.expand("..", None), PathBuf::from("/base/__"));
        assert_eq!(t.expand(".", None), PathBuf::from("/base/_"));
        assert_eq!(t.expand("..n", None), PathBuf::from("/base/..n"));
    }
}
