//! What carme-prolog and carme-epilog tell admins: one line per event, to
//! syslog (ident `carme-prolog` / `carme-epilog`, facility daemon) and to
//! the job's own log `<log_dir>/<jobid>.log` on the node; errors also to
//! stderr, which slurmd copies into its log when the program fails.
//!
//! Every line starts with `job <id> on <node>: ` in syslog; the file adds a
//! UTC timestamp and the program. Messages say what happened, why, and
//! what to do. The log file is opened without following symlinks in a
//! root-owned directory closed to others (created if missing); a log dir
//! that is not safe is reported (to syslog) and not used.

use std::cell::RefCell;
use std::ffi::CStr;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::{Mode, SFlag};
use nix::syslog::{Facility, LogFlags, Priority, Severity};

use crate::error::{NodeError, Op, Unsafe, entry_path};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// Where the orchestration reports to.
pub trait Log {
    fn log(&self, level: Level, message: &str);

    fn info(&self, message: &str) {
        self.log(Level::Info, message)
    }
    fn warn(&self, message: &str) {
        self.log(Level::Warning, message)
    }
    fn error(&self, message: &str) {
        self.log(Level::Error, message)
    }
}

/// One line, whatever the message held: control characters escaped
/// (`\n`, `\x1b`), so no value in it can forge a line or reach a terminal.
pub fn one_line(message: &str) -> String {
    carme_core::text::escape_controls(message).into_owned()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for `t`.
pub fn utc_timestamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        d.subsec_millis()
    )
}

/// The real log: syslog, the job's log file, and stderr for errors.
pub struct JobLog {
    program: &'static str,
    prefix: String,
    file: RefCell<Option<File>>,
    /// Every line also to stderr, not just errors.
    echo: bool,
}

/// Open `<dir>/<job>.log` for appending (root, 0640), `dir` made safe first.
fn open_log_file(dir: &Path, job: u32) -> Result<File, NodeError> {
    crate::state::ensure_root_dir(dir, 0o755)?;
    let d = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(NodeError::at(Op::Open, dir))?;
    let name = format!("{job}.log");
    let path = entry_path(dir, &name);
    let fd = openat(
        &d,
        name.as_str(),
        OFlag::O_WRONLY
            | OFlag::O_APPEND
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o640),
    )
    .map_err(NodeError::at(Op::Open, &path))?;
    let f = File::from(fd);
    let st = nix::sys::stat::fstat(&f).map_err(NodeError::at(Op::Stat, &path))?;
    let regular = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
    if !regular || st.st_uid != 0 {
        return Err(NodeError::refused(path, Unsafe::NotRootLog));
    }
    Ok(f)
}

impl JobLog {
    /// `ident` is `c"carme-prolog"` or `c"carme-epilog"`. With `log_dir`,
    /// lines also go to `<log_dir>/<job>.log`; a problem with it is logged
    /// to syslog and the file left out.
    pub fn open(ident: &'static CStr, job: u32, node: &str, log_dir: Option<&Path>) -> JobLog {
        let _ = nix::syslog::openlog(Some(ident), LogFlags::LOG_PID, Facility::LOG_DAEMON);
        let program = ident.to_str().unwrap_or("carme");
        let log = JobLog {
            program,
            prefix: format!("job {job} on {}: ", one_line(node)),
            file: RefCell::new(None),
            echo: false,
        };
        if let Some(dir) = log_dir {
            match open_log_file(dir, job) {
                Ok(f) => *log.file.borrow_mut() = Some(f),
                Err(e) => log.warn(&format!(
                    "no per-job log file: {e} (fix [paths] log_dir: a root-owned directory \
                     closed to other users)"
                )),
            }
        }
        log
    }

    /// Send every line to stderr too (for a person running it by hand).
    pub fn echo_all(mut self) -> JobLog {
        self.echo = true;
        self
    }

    /// The path of the job's log file for `log_dir`, for messages.
    pub fn path(log_dir: &Path, job: u32) -> PathBuf {
        log_dir.join(format!("{job}.log"))
    }
}

impl Log for JobLog {
    fn log(&self, level: Level, message: &str) {
        let line = one_line(message);
        let severity = match level {
            Level::Info => Severity::LOG_INFO,
            Level::Warning => Severity::LOG_WARNING,
            Level::Error => Severity::LOG_ERR,
        };
        let _ = nix::syslog::syslog(
            Priority::new(severity, Facility::LOG_DAEMON),
            &format!("{}{line}", self.prefix),
        );
        if let Some(f) = self.file.borrow_mut().as_mut() {
            // One write per line: O_APPEND keeps lines from several
            // writers (the nodes' prologs on a shared log dir) whole.
            let text = format!(
                "{} {} {}: {}{line}\n",
                utc_timestamp(std::time::SystemTime::now()),
                self.program,
                level.word(),
                self.prefix
            );
            let _ = f.write_all(text.as_bytes());
        }
        if level == Level::Error || self.echo {
            eprintln!("{}: {}{line}", self.program, self.prefix);
        }
    }
}

/// A log that keeps its lines, for tests.
#[derive(Default, Debug)]
pub struct MemoryLog {
    pub lines: RefCell<Vec<(Level, String)>>,
}

impl MemoryLog {
    pub fn text(&self) -> String {
        self.lines
            .borrow()
            .iter()
            .map(|(l, m)| format!("{}: {m}\n", l.word()))
            .collect()
    }

    pub fn has(&self, level: Level, part: &str) -> bool {
        self.lines
            .borrow()
            .iter()
            .any(|(l, m)| *l == level && m.contains(part))
    }
}

impl Log for MemoryLog {
    fn log(&self, level: Level, message: &str) {
        assert!(
            !message.contains('\n'),
            "log lines are one line: {message:?}"
        );
        self.lines.borrow_mut().push((level, message.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(utc_timestamp(t), "2026-11-18T11:06:40.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&utc_timestamp(leap)[..10], "2000-02-29");
    }

    #[test]
    fn one_line_only() {
        assert_eq!(one_line("a\nb\tc\r\x1b[2J"), r"a\nb\tc\r\x1b[2J");
    }

    #[test]
    fn writes_the_job_log_file() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "run as root (make test does)"
        );
        let dir = std::env::temp_dir().join(format!("carme-joblog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = JobLog::open(c"carme-test", 42, "n1", Some(&dir.join("logs")));
        log.info("first\nline");
        log.warn("second");
        let text = std::fs::read_to_string(JobLog::path(&dir.join("logs"), 42)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with(r" carme-test info: job 42 on n1: first\nline"),
            "{text}"
        );
        assert!(lines[1].contains(" warning: job 42 on n1: second"));
        // A symlink in place of the file is not followed.
        std::fs::remove_file(JobLog::path(&dir.join("logs"), 42)).unwrap();
        std::os::unix::fs::symlink(dir.join("target"), JobLog::path(&dir.join("logs"), 42))
            .unwrap();
        let log = JobLog::open(c"carme-test", 42, "n1", Some(&dir.join("logs")));
        log.info("x");
        assert!(!dir.join("target").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
