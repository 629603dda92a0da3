//! Running an admin-installed program (beeond, scontrol) from the prolog or
//! epilog with a hard time bound.
//!
//! - The program runs in a process group of its own, so that on timeout the
//!   whole group (beeond's pdsh, ssh, mount, ...) is killed: SIGTERM, a
//!   short grace, then SIGKILL. The group is signalled only while its
//!   leader is not yet reaped, so its id cannot have been reused. Services
//!   that daemonize leave the group; stopping them is beeond's own job.
//! - It gets a fixed environment (the caller's list, nothing inherited:
//!   the prolog's environment holds the job's `SPANK_*` variables), `/` as
//!   working directory and `/dev/null` as stdin.
//! - Its stdout and stderr go to one anonymous file (O_TMPFILE: no name, so
//!   nothing to plant or clean up), read back afterwards, at most
//!   [`MAX_OUTPUT`] bytes from the end. A file, not a pipe: a daemon that
//!   keeps the descriptor open cannot make us wait.
//! - The caller never waits longer than `timeout` + grace + [`REAP_WAIT`],
//!   even for a process stuck in the kernel (then it is left as a zombie to
//!   be reaped by init when we exit, and the result says it timed out).

use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, open};
use nix::sys::signal::{Signal, killpg};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::error::ChildFailure;

/// Most output kept (the end of it, where errors are).
pub const MAX_OUTPUT: u64 = 64 * 1024;

/// After SIGTERM, how long the group has before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// After SIGKILL, how long we wait to reap the leader before giving up.
pub const REAP_WAIT: Duration = Duration::from_secs(3);

/// How a bounded run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Still running at the bound: its group was killed.
    TimedOut,
    /// It could not be started (missing, not executable, ...).
    NotStarted(String),
}

/// The result of one bounded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub exit: Exit,
    pub elapsed: Duration,
    /// stdout and stderr, interleaved as written (the last [`MAX_OUTPUT`] bytes).
    pub output: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.exit == Exit::Code(0)
    }

    /// The line that best says why it failed: the last `ERROR` line, else
    /// the last non-empty line.
    pub fn reason_line(&self) -> Option<String> {
        let lines = || self.output.lines().map(str::trim).filter(|l| !l.is_empty());
        lines()
            .rfind(|l| l.contains("ERROR"))
            .or_else(|| lines().next_back())
            .map(|l| l.chars().take(300).collect())
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::TimedOut => write!(f, "timed out"),
            Exit::NotStarted(e) => write!(f, "could not be started: {e}"),
        }
    }
}

/// An anonymous, root-only file for the program's output, in `dir` or
/// else in /tmp (it has no name, so no one can reach it there), or None
/// (then the output is discarded).
fn capture_file(dir: &Path) -> Option<std::fs::File> {
    [dir, Path::new("/tmp")].into_iter().find_map(|d| {
        open(
            d,
            OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .ok()
        .map(std::fs::File::from)
    })
}

fn read_tail(mut f: std::fs::File) -> String {
    let len = f.seek(SeekFrom::End(0)).unwrap_or(0);
    let from = len.saturating_sub(MAX_OUTPUT);
    if f.seek(SeekFrom::Start(from)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(MAX_OUTPUT).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Poll until the child exits or `until`; Some(status) if it exited.
fn wait_until(child: &mut std::process::Child, until: Instant) -> Option<std::process::ExitStatus> {
    let mut nap = Duration::from_micros(500);
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        let now = Instant::now();
        if now >= until {
            return None;
        }
        std::thread::sleep(nap.min(until - now));
        nap = (nap * 2).min(Duration::from_millis(50));
    }
}

/// Run `argv` with exactly `env`, for at most `timeout` (see the module
/// doc). Output is captured in an anonymous file in `capture_dir`, a
/// root-owned directory.
pub fn run(
    argv: &[OsString],
    env: &[(String, String)],
    timeout: Duration,
    capture_dir: &Path,
) -> Ran {
    let started = Instant::now();
    let not_started = |e: String| Ran {
        exit: Exit::NotStarted(e),
        elapsed: started.elapsed(),
        output: String::new(),
    };
    let Some((program, args)) = argv.split_first() else {
        return not_started("empty command line".into());
    };
    let capture = capture_file(capture_dir);
    let (out, err) = match &capture {
        Some(f) => match (f.try_clone(), f.try_clone()) {
            (Ok(a), Ok(b)) => (Stdio::from(a), Stdio::from(b)),
            _ => (Stdio::null(), Stdio::null()),
        },
        None => (Stdio::null(), Stdio::null()),
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return not_started(format!("{}: {e}", Path::new(program).display())),
    };
    let pgid = Pid::from_raw(child.id() as i32);
    let status = wait_until(&mut child, started + timeout);
    let exit = match status {
        Some(st) => match (st.code(), st.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(s)) => Exit::Signal(s),
            (None, None) => Exit::Code(-1),
        },
        None => {
            // The leader is not reaped yet, so the group id is still ours.
            let _ = killpg(pgid, Signal::SIGTERM);
            if wait_until(&mut child, Instant::now() + GRACE).is_none() {
                let _ = killpg(pgid, Signal::SIGKILL);
                let _ = wait_until(&mut child, Instant::now() + REAP_WAIT);
            } else {
                // The leader is gone; its children may not be.
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            Exit::TimedOut
        }
    };
    Ran {
        exit,
        elapsed: started.elapsed(),
        output: capture.map(read_tail).unwrap_or_default(),
    }
}

/// The answer of a child process that computes one value in slurmstepd
/// (a slurmctld query, the NVML probe: calls that can block for as long as
/// a hung controller or driver makes them) and writes it to a pipe: read
/// it, at most `max` bytes, for at most `timeout` in all. A child still
/// running at the bound, or sending more, is killed (SIGKILL) and, if it
/// can be reaped within [`REAP_WAIT`], reaped; one stuck in the kernel is
/// left as a zombie (slurmstepd reaps it when the step's tasks end). The
/// child must write its answer, close the pipe and exit 0.
pub fn collect_answer(
    child: Pid,
    answer: std::os::fd::OwnedFd,
    timeout: Duration,
    max: usize,
) -> Result<Vec<u8>, ChildFailure> {
    use nix::errno::Errno;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::signal::kill;
    use std::os::fd::AsFd;

    let until = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let give_up = |why: ChildFailure| {
        let _ = kill(child, Signal::SIGKILL);
        reap(child, Instant::now() + REAP_WAIT);
        Err(why)
    };
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return give_up(ChildFailure::NoAnswer(timeout));
        }
        let ms =
            PollTimeout::try_from(left.max(Duration::from_millis(1))).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(answer.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return give_up(ChildFailure::Poll(e)),
        }
        match nix::unistd::read(&answer, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if out.len() + n > max {
                    return give_up(ChildFailure::TooLarge(max));
                }
                out.extend_from_slice(&buf[..n]);
            }
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            Err(e) => return give_up(ChildFailure::Read(e)),
        }
    }
    // The pipe is closed: the child is exiting.
    let left = until.saturating_duration_since(Instant::now());
    match reap(child, Instant::now() + left.max(REAP_WAIT)) {
        Some(Ok(nix::sys::wait::WaitStatus::Exited(_, 0))) => Ok(out),
        // Reaped by someone else (a host process's SIGCHLD handler): the
        // answer is whole (the caller's decoder checks it).
        Some(Err(Errno::ECHILD)) => Ok(out),
        Some(Ok(nix::sys::wait::WaitStatus::Exited(_, c))) => Err(ChildFailure::Exited(c)),
        Some(Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _))) => Err(ChildFailure::Killed(s)),
        Some(Ok(other)) => Err(ChildFailure::Ended(other)),
        Some(Err(e)) => Err(ChildFailure::Waitpid(e)),
        None => give_up(ChildFailure::NoExit),
    }
}

/// Wait for `child` to end until `until` (polling, so it cannot block);
/// its status (or waitpid's error) if it ended, None if still running.
fn reap(child: Pid, until: Instant) -> Option<nix::Result<nix::sys::wait::WaitStatus>> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let mut nap = Duration::from_micros(100);
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
            other => return Some(other),
        }
        let now = Instant::now();
        if now >= until {
            return None;
        }
        std::thread::sleep(nap.min(until - now));
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// The environment admin tools get: a standard PATH, the C locale, root's
/// home (ssh/pdsh find their keys there) and `extra`.
pub fn tool_env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let home = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(0))
        .ok()
        .flatten()
        .map(|u| u.dir.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/root".into());
    let mut env = vec![
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("LANG".to_string(), "C".to_string()),
        ("HOME".to_string(), home),
        ("USER".to_string(), "root".to_string()),
        ("LOGNAME".to_string(), "root".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<OsString> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    fn tmp() -> &'static Path {
        Path::new("/var/tmp")
    }

    #[test]
    fn captures_output_and_status() {
        let r = run(
            &sh("echo out; echo 'ERROR: it broke' >&2; echo last; exit 3"),
            &[("X".into(), "1".into())],
            Duration::from_secs(10),
            tmp(),
        );
        assert_eq!(r.exit, Exit::Code(3));
        assert!(r.output.contains("out\n") && r.output.contains("last"));
        assert_eq!(r.reason_line().as_deref(), Some("ERROR: it broke"));
        let r = run(
            &sh("echo $X; env | wc -l"),
            &[],
            Duration::from_secs(10),
            tmp(),
        );
        assert!(r.ok());
        // Only what we passed (sh itself adds PWD, SHLVL, _).
        let n: u32 = r.output.lines().nth(1).unwrap().trim().parse().unwrap();
        assert!(n <= 4, "{}", r.output);
    }

    #[test]
    fn kills_the_whole_group_at_the_bound() {
        let marker = std::env::temp_dir().join(format!("carme-bounded-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let script = format!(
            "sleep 30 & echo $! > {m}; trap '' TERM; sleep 30; echo never",
            m = marker.display()
        );
        let t = Instant::now();
        let r = run(&sh(&script), &[], Duration::from_millis(300), tmp());
        assert_eq!(r.exit, Exit::TimedOut);
        // SIGTERM is ignored by the shell: SIGKILL after the grace.
        assert!(t.elapsed() < Duration::from_millis(300) + GRACE + REAP_WAIT);
        assert!(!r.output.contains("never"));
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background child was in the group: it is gone (or a zombie
        // of init) within a moment.
        let gone = (0..100).any(|_| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let dead = stat.is_empty() || stat.contains(") Z ");
            if !dead {
                std::thread::sleep(Duration::from_millis(20));
            }
            dead
        });
        assert!(gone, "background child {pid} survived");
        let _ = std::fs::remove_file(&marker);
    }

    /// A child started as the plugin's forked ones are: its answer on a
    /// pipe (here its stdout).
    fn answering(script: &str) -> (Pid, std::os::fd::OwnedFd) {
        // collect_answer reaps it (waitpid), as it does the plugin's forks.
        #[allow(clippy::zombie_processes)]
        let mut c = Command::new("/bin/sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out: std::os::fd::OwnedFd = c.stdout.take().unwrap().into();
        (Pid::from_raw(c.id() as i32), out)
    }

    #[test]
    fn collects_an_answer() {
        let (pid, fd) = answering("printf 'the answer'");
        let got = collect_answer(pid, fd, Duration::from_secs(10), 100);
        assert_eq!(got.as_deref(), Ok(&b"the answer"[..]));
        let (pid, fd) = answering("printf half; exit 3");
        assert_eq!(
            collect_answer(pid, fd, Duration::from_secs(10), 100),
            Err(ChildFailure::Exited(3))
        );
    }

    #[test]
    fn a_hung_child_is_killed_at_the_bound() {
        // What a hung slurmctld or NVML call looks like from outside:
        // no answer, no exit. Without the bound this waits 60 s.
        let (pid, fd) = answering("exec sleep 60");
        let t = Instant::now();
        let got = collect_answer(pid, fd, Duration::from_millis(300), 100);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(got, Err(ChildFailure::NoAnswer(Duration::from_millis(300))));
        assert_eq!(got.unwrap_err().to_string(), "no answer within 0.3 s");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty(), "the child is still there: {stat}");
        // Also one that keeps writing, but never finishes.
        let (pid, fd) = answering("while :; do echo x; sleep 0.05; done");
        let got = collect_answer(pid, fd, Duration::from_millis(300), 1 << 20);
        assert_eq!(got, Err(ChildFailure::NoAnswer(Duration::from_millis(300))));
    }

    #[test]
    fn an_oversized_answer_is_refused() {
        let (pid, fd) = answering("yes");
        let got = collect_answer(pid, fd, Duration::from_secs(10), 4096);
        assert_eq!(got, Err(ChildFailure::TooLarge(4096)));
    }

    #[test]
    fn missing_program_is_not_started() {
        let r = run(
            &["/nonexistent/beeond".into()],
            &[],
            Duration::from_secs(1),
            tmp(),
        );
        assert!(matches!(r.exit, Exit::NotStarted(ref e) if e.contains("/nonexistent/beeond")));
        assert!(!r.ok());
    }

    #[test]
    fn keeps_the_end_of_long_output() {
        let r = run(
            &sh("i=0; while [ $i -lt 20000 ]; do echo line-$i-xxxxxxxx; i=$((i+1)); done"),
            &[],
            Duration::from_secs(20),
            tmp(),
        );
        assert!(r.ok());
        assert!(r.output.len() as u64 <= MAX_OUTPUT);
        assert!(r.output.ends_with("line-19999-xxxxxxxx\n"));
    }
}
