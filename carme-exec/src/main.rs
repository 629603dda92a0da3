//! carme-exec: the hop a task of a Carme step takes on Slurm < 23.11.
//!
//! Slurm 22.05 has no `spank_prepend_task_argv`: the SPANK plugin can only
//! replace the task's argv[0]. So in task_init it decides the container
//! runtime's command line itself, puts it into the task's environment and
//! makes carme-exec the task's argv[0]. Slurm then finishes its own task
//! setup (TaskProlog, TMPDIR, rlimits) and execs carme-exec, which execs
//! the command line in `CARME_LAUNCH_EXEC` followed by its own argv[1..],
//! with the environment minus every `CARME_LAUNCH_*` variable. Nothing
//! else: no config, no decisions, so that the hop costs one small static
//! exec (no C library, no dynamic loader). It runs as the job's user,
//! never as root.
//!
//! The command line comes in the variable named `CARME_LAUNCH_EXEC` plus a
//! newline (`"CARME_LAUNCH_EXEC\n"`, see [`EXEC`]): the arguments as
//! `<length>:<bytes>` records, lengths in decimal bytes: the runtime's
//! absolute path, its arguments and last the task's original argv[0]. One
//! variable, because each `spank_setenv` costs slurmstepd a 256 KiB zeroed
//! buffer.
//!
//! Only the plugin can have set that variable, so carme-exec execs only the
//! runtime the admin configured: Slurm 22.05 and 23.02 run the TaskProlog
//! and a user's `--task-prolog` after the plugin's task_init
//! (`exec_task()` in src/slurmd/slurmstepd/task.c), and those can change
//! the task's environment, but only by `export NAME=value` and
//! `unset NAME` lines: a name they give never holds a newline. The
//! plugin unsets every `CARME_LAUNCH_*` variable the task brought along
//! before it sets this one, and a plain `CARME_LAUNCH_EXEC` (what a
//! TaskProlog can export) is never read, only dropped.
//!
//! Exit codes of its own: 125 (no or a malformed command line from the
//! plugin), 126 (the runtime cannot be executed), 127 (the runtime is not
//! there).

#![no_std]
#![no_main]

mod sys;

use core::ffi::CStr;

use sys::{Buf, PtrVec, Start};

/// The prefix of Carme's plumbing variables (never passed on).
const PLUMBING: &[u8] = b"CARME_LAUNCH_";
/// The name of the variable with the command line: a newline in it, so
/// that no TaskProlog can set it (see the module's doc).
const EXEC: &[u8] = b"CARME_LAUNCH_EXEC\n";
/// What a TaskProlog can set: only named in a refusal, never run.
const EXEC_PLAIN: &[u8] = b"CARME_LAUNCH_EXEC";

fn main(start: &Start) -> ! {
    let env = || start.env();
    let Some(spec) = value(env(), EXEC) else {
        if value(env(), EXEC_PLAIN).is_some() {
            not_from_plugin(
                b"CARME_LAUNCH_EXEC was set by something other than the Carme plugin \
                  (a TaskProlog or --task-prolog?); only the plugin chooses what a task runs",
            )
        }
        not_from_plugin(
            b"carme-exec found no command line from the Carme plugin in its environment",
        )
    };
    let spec = spec.to_bytes();
    let Some(count) = records(spec).try_fold(0usize, |n, r| r.map(|_| n + 1)) else {
        not_from_plugin(b"the command line from the Carme plugin is malformed")
    };
    if count == 0 {
        not_from_plugin(b"the command line from the Carme plugin is empty")
    }
    let args = start.args().count();
    let vars = env().count();
    // Decoded, each record needs its bytes and a NUL: never more than the
    // record's `<length>:` header plus its bytes.
    let (Some((mut argv, mut envp)), Some(mut strings)) = (
        PtrVec::pair(count + args, vars),
        Buf::with_capacity(spec.len() + 1),
    ) else {
        sys::write_stderr(b"carme: cannot start the task: out of memory.\n");
        sys::exit(125)
    };
    let mut program = None;
    for r in records(spec).flatten() {
        let arg = strings.push_cstr(r);
        program.get_or_insert(arg);
        argv.push(arg);
    }
    for a in start.args().skip(1) {
        argv.push(a);
    }
    for e in env().filter(|e| !e.to_bytes().starts_with(PLUMBING)) {
        envp.push(e);
    }
    let program = program.unwrap_or(c"");
    let errno = sys::execve(program, &argv, &envp);
    exec_failed(program, errno)
}

/// The records of `spec`: each item is the record's bytes, or None (and
/// the end) where the spec is malformed.
fn records(spec: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    let mut rest = Some(spec);
    core::iter::from_fn(move || {
        let s = rest?;
        if s.is_empty() {
            rest = None;
            return None;
        }
        let parsed = s
            .iter()
            .position(|&b| b == b':')
            .and_then(|colon| Some((number(&s[..colon])?, &s[colon + 1..])))
            .filter(|(len, body)| *len <= body.len());
        match parsed {
            Some((len, body)) => {
                rest = Some(&body[len..]);
                Some(Some(&body[..len]))
            }
            None => {
                rest = None;
                Some(None)
            }
        }
    })
}

/// Kept out of `main`, so that its stack frame (the message buffer) is
/// only touched when something went wrong.
#[cold]
#[inline(never)]
fn exec_failed(program: &CStr, errno: i32) -> ! {
    let mut m = Msg::new();
    m.push(b"carme: cannot run the container runtime ");
    m.push(program.to_bytes());
    m.push(b": ");
    m.errno(errno);
    m.push(b". Please tell your cluster admins.\n");
    sys::write_stderr(m.bytes());
    sys::exit(if errno == ENOENT { 127 } else { 126 })
}

#[cold]
#[inline(never)]
fn not_from_plugin(what: &[u8]) -> ! {
    let mut m = Msg::new();
    m.push(b"carme: cannot start the task: ");
    m.push(what);
    m.push(
        b". carme-exec is started by the Carme SPANK plugin for Slurm < 23.11, \
          not by hand (use `carme-launch run`). If this is a Carme job, please tell your \
          cluster admins.\n",
    );
    sys::write_stderr(m.bytes());
    sys::exit(125)
}

/// The value of `NAME=value` in `env`, for the exact `name`.
fn value(mut env: impl Iterator<Item = &'static CStr>, name: &[u8]) -> Option<&'static CStr> {
    env.find_map(|e| {
        let rest = e.to_bytes_with_nul().strip_prefix(name)?;
        let rest = rest.strip_prefix(b"=")?;
        CStr::from_bytes_with_nul(rest).ok()
    })
}

/// A decimal number without sign or leading zeros.
fn number(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    digits.iter().try_fold(0usize, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(usize::from(d - b'0'))
    })
}

const ENOENT: i32 = 2;

/// A message built on the stack (no allocator), cut at its capacity.
struct Msg {
    buf: [u8; 4096],
    len: usize,
}

impl Msg {
    fn new() -> Msg {
        Msg {
            buf: [0; 4096],
            len: 0,
        }
    }

    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    /// The usual text for the errors execve gives, else the number.
    fn errno(&mut self, e: i32) {
        let text: &[u8] = match e {
            ENOENT => b"No such file or directory",
            7 => b"Argument list too long",
            8 => b"Exec format error",
            12 => b"Cannot allocate memory",
            13 => b"Permission denied",
            20 => b"Not a directory",
            26 => b"Text file busy",
            40 => b"Too many levels of symbolic links",
            _ => {
                self.push(b"error ");
                let mut digits = [0u8; 10];
                let mut i = digits.len();
                let mut v = e.unsigned_abs();
                loop {
                    i -= 1;
                    digits[i] = b'0' + (v % 10) as u8;
                    v /= 10;
                    if v == 0 {
                        break;
                    }
                }
                let d = digits;
                self.push(&d[i..]);
                return;
            }
        };
        self.push(text);
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
