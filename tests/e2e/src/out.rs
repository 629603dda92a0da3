//! What a command the tests ran printed, and the checks the tests make of
//! it. Every check panics with the whole [`Out`] (the command line, exit
//! code, stdout and stderr) so a failure shows what ran and what it said,
//! and is `#[track_caller]` so the failure names the test's own line.

use std::fmt;

#[derive(Debug, Clone)]
pub struct Out {
    /// The command line as the test gave it (and who ran it), for messages.
    pub command: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Everything the command printed, and the command, for messages.
    pub fn all(&self) -> String {
        format!(
            "$ {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    fn fail(&self, what: fmt::Arguments) -> ! {
        panic!("{what}\n{}", self.all())
    }

    /// The command exited with `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        if self.code != code {
            self.fail(format_args!("want exit {code}, got {}", self.code));
        }
        self
    }

    /// The command succeeded (exit 0).
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// The command failed (any exit but 0).
    #[track_caller]
    pub fn failed(&self) -> &Self {
        if self.code == 0 {
            self.fail(format_args!("want a failure, got exit 0"));
        }
        self
    }

    /// stdout is exactly `want`.
    #[track_caller]
    pub fn expect_stdout(&self, want: &str) -> &Self {
        if self.stdout != want {
            self.fail(format_args!("want stdout {want:?}"));
        }
        self
    }

    /// stdout's lines are exactly `want`, in order.
    #[track_caller]
    pub fn expect_lines(&self, want: &[&str]) -> &Self {
        self.stdout_lines().expect(want);
        self
    }

    #[track_caller]
    pub fn expect_stdout_has(&self, needle: &str) -> &Self {
        if !self.stdout.contains(needle) {
            self.fail(format_args!("want {needle:?} in stdout"));
        }
        self
    }

    #[track_caller]
    pub fn expect_stdout_lacks(&self, needle: &str) -> &Self {
        if self.stdout.contains(needle) {
            self.fail(format_args!("want no {needle:?} in stdout"));
        }
        self
    }

    #[track_caller]
    pub fn expect_stderr_has(&self, needle: &str) -> &Self {
        if !self.stderr.contains(needle) {
            self.fail(format_args!("want {needle:?} in stderr"));
        }
        self
    }

    #[track_caller]
    pub fn expect_stderr_lacks(&self, needle: &str) -> &Self {
        if self.stderr.contains(needle) {
            self.fail(format_args!("want no {needle:?} in stderr"));
        }
        self
    }

    /// stdout's lines, for checks on them.
    pub fn stdout_lines(&self) -> Lines {
        Lines::new(&self.stdout, self.all())
    }

    /// stderr's lines, for checks on them.
    pub fn stderr_lines(&self) -> Lines {
        Lines::new(&self.stderr, self.all())
    }
}

/// Some text's lines, and what to show when a check of them fails (the
/// whole [`Out`], or a job's output file). Derefs to the lines.
#[derive(Debug, Clone)]
pub struct Lines {
    lines: Vec<String>,
    context: String,
}

impl Lines {
    /// The lines of `text`; `context` is shown when a check fails.
    pub fn new(text: &str, context: String) -> Lines {
        Lines {
            lines: text.lines().map(str::to_string).collect(),
            context,
        }
    }

    #[track_caller]
    fn fail(&self, what: fmt::Arguments) -> ! {
        panic!("{what}\nlines: {:?}\n{}", self.lines, self.context)
    }

    /// Only the lines for which `keep` holds.
    pub fn only(mut self, keep: impl Fn(&str) -> bool) -> Lines {
        self.lines.retain(|l| keep(l));
        self
    }

    /// The lines in sorted order (for lines that come in any order).
    pub fn sorted(mut self) -> Lines {
        self.lines.sort_unstable();
        self
    }

    /// The lines are exactly `want`, in order.
    #[track_caller]
    pub fn expect(&self, want: &[&str]) -> &Self {
        if self.lines != want {
            self.fail(format_args!("want lines {want:?}"));
        }
        self
    }

    /// There are exactly `n` lines.
    #[track_caller]
    pub fn expect_count(&self, n: usize) -> &Self {
        if self.lines.len() != n {
            self.fail(format_args!("want {n} lines, got {}", self.lines.len()));
        }
        self
    }

    /// Some line satisfies `pred`.
    #[track_caller]
    pub fn expect_some(&self, pred: impl Fn(&str) -> bool) -> &Self {
        if !self.lines.iter().any(|l| pred(l)) {
            self.fail(format_args!("want some line to match"));
        }
        self
    }

    /// No line satisfies `pred`.
    #[track_caller]
    pub fn expect_none(&self, pred: impl Fn(&str) -> bool) -> &Self {
        if let Some(l) = self.lines.iter().find(|l| pred(l)) {
            self.fail(format_args!("want no line to match, got {l:?}"));
        }
        self
    }

    /// Some line is exactly `line`.
    #[track_caller]
    pub fn expect_has(&self, line: &str) -> &Self {
        if !self.lines.iter().any(|l| l == line) {
            self.fail(format_args!("want the line {line:?}"));
        }
        self
    }

    /// No line is exactly `line`.
    #[track_caller]
    pub fn expect_lacks(&self, line: &str) -> &Self {
        if self.lines.iter().any(|l| l == line) {
            self.fail(format_args!("want no line {line:?}"));
        }
        self
    }

    /// Line `i` (from 0); fails when there are fewer lines.
    #[track_caller]
    pub fn line(&self, i: usize) -> &str {
        match self.lines.get(i) {
            Some(l) => l,
            None => self.fail(format_args!("want a line {i}, got {}", self.lines.len())),
        }
    }

    /// What a failing check shows, for a test's own assertion messages.
    pub fn context(&self) -> &str {
        &self.context
    }
}

impl std::ops::Deref for Lines {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.lines
    }
}
