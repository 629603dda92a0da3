//! The only `unsafe` module: Slurm's C SPANK API in, safe Rust out.
//!
//! It exports exactly the symbols Slurm looks up (plugin identity and the
//! callbacks we use — not `slurm_spank_job_prolog`/`_job_epilog`, which would
//! make slurmd run a SPANK step for every job), wraps each callback so a
//! panic becomes an error return instead of unwinding into C, and offers a
//! safe `Spank` handle to the rest of the plugin. libslurm calls
//! (`slurm_load_job`) are resolved at run time from the hosting process
//! (srun, sbatch, salloc and slurmstepd all carry libslurmfull), so the plugin
//! links no Slurm library and loads the same way on every Slurm install.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, OsStr, OsString, c_char, c_int, c_void};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    unsafe_op_in_unsafe_fn,
    clippy::all
)]
mod sys {
    include!(concat!(env!("OUT_DIR"), "/slurm_bindings.rs"));
}

use carme_core::slurmjob::{JobInfo, JobState, time_limit_minutes};
use carme_core::text::escape_controls;
use carme_node::error::NodeError;

use crate::plugin;

// ---- identity symbols read by Slurm's plugin loader ---------------------------

#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static plugin_name: [u8; 6] = *b"carme\0";

#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static plugin_type: [u8; 6] = *b"spank\0";

/// Slurm refuses a SPANK plugin whose major.minor differs from its own.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static plugin_version: u32 = sys::SLURM_VERSION_NUMBER;

/// The Slurm release of the headers the plugin is built against.
pub const SLURM_VERSION_NUMBER: u32 = sys::SLURM_VERSION_NUMBER;

// ---- exported callbacks -----------------------------------------------------------

#[unsafe(no_mangle)]
pub extern "C" fn slurm_spank_init(sp: sys::spank_t, ac: c_int, av: *mut *mut c_char) -> c_int {
    guard("init", || {
        // SAFETY: Slurm passes ac entries of NUL-terminated plugstack arguments.
        let args = unsafe { c_args(ac, av) };
        plugin::init(&Spank(sp), &args)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn slurm_spank_init_post_opt(
    sp: sys::spank_t,
    _ac: c_int,
    _av: *mut *mut c_char,
) -> c_int {
    guard("init_post_opt", || plugin::init_post_opt(&Spank(sp)))
}

#[unsafe(no_mangle)]
pub extern "C" fn slurm_spank_user_init(
    sp: sys::spank_t,
    _ac: c_int,
    _av: *mut *mut c_char,
) -> c_int {
    guard("user_init", || plugin::user_init(&Spank(sp)))
}

/// srun only, once its options are applied (`-v` included) and the job
/// exists, before the tasks are launched.
#[unsafe(no_mangle)]
pub extern "C" fn slurm_spank_local_user_init(
    sp: sys::spank_t,
    _ac: c_int,
    _av: *mut *mut c_char,
) -> c_int {
    guard("local_user_init", || plugin::local_user_init(&Spank(sp)))
}

/// In each forked task, as root, before Slurm drops privileges: the task
/// enters the step's mount namespace (slurmstepd stays in the host's).
#[unsafe(no_mangle)]
pub extern "C" fn slurm_spank_task_init_privileged(
    sp: sys::spank_t,
    _ac: c_int,
    _av: *mut *mut c_char,
) -> c_int {
    guard("task_init_privileged", || {
        plugin::task_init_privileged(&Spank(sp))
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn slurm_spank_task_init(
    sp: sys::spank_t,
    _ac: c_int,
    _av: *mut *mut c_char,
) -> c_int {
    guard("task_init", || plugin::task_init(&Spank(sp)))
}

/// Called by Slurm while it parses `--carme-image` (command line or env).
extern "C" fn image_option_cb(_val: c_int, optarg: *const c_char, _remote: c_int) -> c_int {
    guard("option", || {
        let value = if optarg.is_null() {
            String::new()
        } else {
            // SAFETY: Slurm passes the NUL-terminated option argument.
            unsafe { CStr::from_ptr(optarg) }
                .to_string_lossy()
                .into_owned()
        };
        plugin::image_option(value)
    })
}

/// Called by Slurm when `--carme-beeond` is given (command line or env).
extern "C" fn beeond_option_cb(_val: c_int, _optarg: *const c_char, _remote: c_int) -> c_int {
    guard("option", plugin::beeond_option)
}

/// Run a callback body; a panic is logged and becomes an error return.
fn guard(callback: &str, body: impl FnOnce() -> Result<(), ()>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => 0,
        Ok(Err(())) => -1,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            log(
                Level::Error,
                &format!("carme: internal error in {callback}: {what}; please report this bug"),
            );
            -1
        }
    }
}

/// SAFETY: `av` must point to `ac` valid C strings (or be null with ac == 0).
unsafe fn c_args(ac: c_int, av: *mut *mut c_char) -> Vec<String> {
    if av.is_null() || ac <= 0 {
        return Vec::new();
    }
    (0..ac as usize)
        .filter_map(|i| {
            // SAFETY: i < ac, guaranteed by the caller.
            let p = unsafe { *av.add(i) };
            (!p.is_null()).then(|| {
                // SAFETY: each entry is a NUL-terminated string.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            })
        })
        .collect()
}

// ---- logging ----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Verbose,
    Debug,
}

/// Log through Slurm: in srun/sbatch/salloc this reaches the user's
/// terminal (errors always, others with -v), in slurmstepd the slurmd log
/// and, once the step's I/O is set up, the user's stderr too. Every line
/// passes here, so control characters are escaped here: whatever a user
/// put into a value, it cannot forge a log line or reach a terminal.
pub fn log(level: Level, msg: &str) {
    // No NUL is left: escape_controls writes it as `\0`.
    let msg = CString::new(escape_controls(msg).into_owned()).unwrap_or_default();
    let fmt = c"%s".as_ptr();
    // SAFETY: "%s" with one valid C string argument.
    unsafe {
        match level {
            Level::Error => sys::slurm_error(fmt, msg.as_ptr()),
            Level::Verbose => sys::slurm_verbose(fmt, msg.as_ptr()),
            Level::Debug => sys::slurm_debug(fmt, msg.as_ptr()),
        }
    }
}

// ---- the safe handle ----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// srun
    Local,
    /// slurmstepd
    Remote,
    /// sbatch, salloc
    Allocator,
    /// slurmd, prolog/epilog: nothing for us to do.
    Other,
}

/// A step id as Slurm means it: the batch script, the extern step, an
/// interactive (salloc) step, or a numbered srun step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepId {
    Batch,
    Extern,
    Interactive,
    Numbered(u32),
}

pub struct Spank(sys::spank_t);

fn check(rc: sys::spank_err_t, what: &str) -> Result<(), String> {
    if rc == sys::ESPANK_SUCCESS {
        Ok(())
    } else {
        // SAFETY: spank_strerror returns a static string for any code.
        let text = unsafe { CStr::from_ptr(sys::spank_strerror(rc)) }.to_string_lossy();
        Err(format!("{what}: {text}"))
    }
}

fn cstring(s: impl AsRef<OsStr>) -> Result<CString, String> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| "value contains a NUL byte".to_string())
}

impl Spank {
    pub fn context(&self) -> Context {
        // SAFETY: no arguments; valid in every context.
        match unsafe { sys::spank_context() } {
            sys::S_CTX_LOCAL => Context::Local,
            sys::S_CTX_REMOTE => Context::Remote,
            sys::S_CTX_ALLOCATOR => Context::Allocator,
            _ => Context::Other,
        }
    }

    /// Register `--carme-image=NAME` (srun, sbatch, salloc, slurmstepd).
    pub fn register_image_option(&self) -> Result<(), String> {
        // Slurm keeps the pointer, so the option lives for the process.
        let opt: &'static mut sys::spank_option = Box::leak(Box::new(sys::spank_option {
            name: c"carme-image".as_ptr() as *mut c_char,
            arginfo: c"NAME".as_ptr() as *mut c_char,
            usage: c"Run the job's tasks in the Carme image NAME (needs --constraint with the Carme feature); `carme-launch images` lists them.".as_ptr() as *mut c_char,
            has_arg: 1,
            val: 0,
            cb: Some(image_option_cb),
        }));
        // SAFETY: valid handle and a 'static option struct.
        check(
            unsafe { sys::spank_option_register(self.0, opt) },
            "spank_option_register(carme-image)",
        )
    }

    /// Register `--carme-beeond` (srun, sbatch, salloc; no argument).
    pub fn register_beeond_option(&self) -> Result<(), String> {
        let opt: &'static mut sys::spank_option = Box::leak(Box::new(sys::spank_option {
            name: c"carme-beeond".as_ptr() as *mut c_char,
            arginfo: std::ptr::null_mut(),
            usage: c"Give the Carme job a BeeOND file system across its nodes (CARME_BEEOND_PATH); for new jobs (sbatch, salloc, srun outside a job).".as_ptr() as *mut c_char,
            has_arg: 0,
            val: 0,
            cb: Some(beeond_option_cb),
        }));
        // SAFETY: valid handle and a 'static option struct.
        check(
            unsafe { sys::spank_option_register(self.0, opt) },
            "spank_option_register(carme-beeond)",
        )
    }

    /// Put `name=value` into the job's control environment: slurmd gives
    /// it to the job's prolog and epilog as `SPANK_<name>` (local and
    /// allocator contexts, before the job is submitted).
    pub fn job_control_setenv(&self, name: &str, value: &str) -> Result<(), String> {
        let (n, v) = (cstring(name)?, cstring(value)?);
        // SAFETY: valid handle and C strings.
        check(
            unsafe { sys::spank_job_control_setenv(self.0, n.as_ptr(), v.as_ptr(), 1) },
            &format!("spank_job_control_setenv({name})"),
        )
    }

    fn get_u32(&self, item: sys::spank_item_t) -> Option<u32> {
        let mut v: u32 = 0;
        // SAFETY: these items take a uint32_t* (see spank.h).
        let rc = unsafe { sys::spank_get_item(self.0, item, &mut v as *mut u32) };
        (rc == sys::ESPANK_SUCCESS).then_some(v)
    }

    pub fn job_id(&self) -> Option<u32> {
        self.get_u32(sys::S_JOB_ID)
    }

    pub fn step_id(&self) -> Option<StepId> {
        let id = self.get_u32(sys::S_JOB_STEPID)?;
        Some(match id {
            sys::SLURM_BATCH_SCRIPT => StepId::Batch,
            sys::SLURM_EXTERN_CONT => StepId::Extern,
            sys::SLURM_INTERACTIVE_STEP => StepId::Interactive,
            n => StepId::Numbered(n),
        })
    }

    pub fn uid(&self) -> Option<u32> {
        let mut v: libc::uid_t = 0;
        // SAFETY: S_JOB_UID takes a uid_t*.
        let rc = unsafe { sys::spank_get_item(self.0, sys::S_JOB_UID, &mut v as *mut libc::uid_t) };
        (rc == sys::ESPANK_SUCCESS).then_some(v)
    }

    pub fn gid(&self) -> Option<u32> {
        let mut v: libc::gid_t = 0;
        // SAFETY: S_JOB_GID takes a gid_t*.
        let rc = unsafe { sys::spank_get_item(self.0, sys::S_JOB_GID, &mut v as *mut libc::gid_t) };
        (rc == sys::ESPANK_SUCCESS).then_some(v)
    }

    /// The job user's supplementary groups as slurmd resolved them.
    pub fn supplementary_gids(&self) -> Option<Vec<u32>> {
        let mut gids: *mut libc::gid_t = std::ptr::null_mut();
        let mut n: c_int = 0;
        // SAFETY: S_JOB_SUPPLEMENTARY_GIDS takes (gid_t **, int *).
        let rc = unsafe {
            sys::spank_get_item(
                self.0,
                sys::S_JOB_SUPPLEMENTARY_GIDS,
                &mut gids as *mut *mut libc::gid_t,
                &mut n as *mut c_int,
            )
        };
        if rc != sys::ESPANK_SUCCESS || gids.is_null() || n < 0 {
            return None;
        }
        // SAFETY: Slurm's array of n gids, valid during the callback.
        Some(unsafe { std::slice::from_raw_parts(gids, n as usize) }.to_vec())
    }

    /// The step's command (remote: argv of the tasks; local: srun's command).
    #[cfg_attr(carme_prepend_argv, allow(dead_code))]
    pub fn job_argv(&self) -> Result<Vec<OsString>, String> {
        let (argc, argv) = self.raw_argv()?;
        Ok((0..argc)
            .map(|i| {
                // SAFETY: argv has argc valid entries (Slurm's job record).
                let p = unsafe { *argv.add(i) };
                if p.is_null() {
                    OsString::new()
                } else {
                    // SAFETY: NUL-terminated.
                    OsString::from_vec(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
                }
            })
            .collect())
    }

    #[cfg_attr(carme_prepend_argv, allow(dead_code))]
    fn raw_argv(&self) -> Result<(usize, *mut *mut c_char), String> {
        let mut argc: c_int = 0;
        let mut argv: *mut *mut c_char = std::ptr::null_mut();
        // SAFETY: S_JOB_ARGV takes (int*, char***).
        let rc = unsafe {
            sys::spank_get_item(
                self.0,
                sys::S_JOB_ARGV,
                &mut argc as *mut c_int,
                &mut argv as *mut *mut *mut c_char,
            )
        };
        check(rc, "spank_get_item(S_JOB_ARGV)")?;
        if argv.is_null() || argc <= 0 {
            return Err("the step has no command".to_string());
        }
        Ok((argc as usize, argv))
    }

    /// Slurm < 23.11: make the task exec `program` instead of its argv[0],
    /// keeping argv[1..]; returns the old argv[0]. Slurm's own remaining
    /// task setup (TaskProlog, TMPDIR, rlimits) still runs before its execve.
    #[cfg_attr(carme_prepend_argv, allow(dead_code))]
    pub fn replace_argv0(&self, program: &OsStr) -> Result<OsString, String> {
        let (_argc, argv) = self.raw_argv()?;
        let new = cstring(program)?;
        // SAFETY: argv[0] exists (argc > 0). The task process execs right
        // after task_init and nothing frees argv[0] before that, so a
        // malloc'd replacement that is never freed is correct.
        unsafe {
            let old = *argv;
            let old = if old.is_null() {
                OsString::new()
            } else {
                OsString::from_vec(CStr::from_ptr(old).to_bytes().to_vec())
            };
            let copy = libc::strdup(new.as_ptr());
            if copy.is_null() {
                return Err("out of memory".to_string());
            }
            *argv = copy;
            Ok(old)
        }
    }

    /// Slurm >= 23.11: prepend `args` to the task's argv.
    #[cfg(carme_prepend_argv)]
    pub fn prepend_task_argv(&self, args: &[OsString]) -> Result<(), String> {
        let owned: Vec<CString> = args.iter().map(cstring).collect::<Result<_, _>>()?;
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: argc pointers to valid C strings; Slurm copies them.
        let rc = unsafe {
            sys::spank_prepend_task_argv(self.0, owned.len() as c_int, ptrs.as_mut_ptr())
        };
        check(rc, "spank_prepend_task_argv")
    }

    /// A variable of the job's environment (remote) or of the process (local).
    pub fn getenv(&self, name: &str) -> Option<String> {
        let name = cstring(name).ok()?;
        let mut buf = vec![0u8; 4096];
        loop {
            // SAFETY: buf is writable for buf.len() bytes.
            let rc = unsafe {
                sys::spank_getenv(
                    self.0,
                    name.as_ptr(),
                    buf.as_mut_ptr() as *mut c_char,
                    buf.len() as c_int,
                )
            };
            match rc {
                sys::ESPANK_SUCCESS => {
                    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
                    return Some(String::from_utf8_lossy(&buf[..end]).into_owned());
                }
                sys::ESPANK_NOSPACE if buf.len() < (1 << 20) => {
                    let n = buf.len() * 4;
                    buf.resize(n, 0);
                }
                _ => return None,
            }
        }
    }

    pub fn setenv(&self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Result<(), String> {
        let name = name.as_ref();
        let (n, v) = (cstring(name)?, cstring(value)?);
        // SAFETY: valid C strings; overwrite = 1.
        check(
            unsafe { sys::spank_setenv(self.0, n.as_ptr(), v.as_ptr(), 1) },
            &format!("spank_setenv({})", name.to_string_lossy()),
        )
    }

    pub fn unsetenv(&self, name: impl AsRef<OsStr>) -> Result<(), String> {
        let name = name.as_ref();
        let n = cstring(name)?;
        // SAFETY: valid C string.
        check(
            unsafe { sys::spank_unsetenv(self.0, n.as_ptr()) },
            &format!("spank_unsetenv({})", name.to_string_lossy()),
        )
    }

    /// The task's environment as Slurm will exec it (remote context, in
    /// task_init: the job's variables plus what Slurm set for this task).
    pub fn job_env(&self) -> Result<Vec<(OsString, OsString)>, String> {
        let mut env: *mut *mut c_char = std::ptr::null_mut();
        // SAFETY: S_JOB_ENV takes a char***.
        let rc = unsafe {
            sys::spank_get_item(self.0, sys::S_JOB_ENV, &mut env as *mut *mut *mut c_char)
        };
        check(rc, "spank_get_item(S_JOB_ENV)")?;
        let mut out = Vec::new();
        if env.is_null() {
            return Ok(out);
        }
        for i in 0.. {
            // SAFETY: Slurm's environment array: NULL-terminated, of
            // NUL-terminated strings, unchanged while we read it.
            let p = unsafe { *env.add(i) };
            if p.is_null() {
                break;
            }
            // SAFETY: as above.
            let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
            if let Some(eq) = bytes.iter().position(|&b| b == b'=') {
                out.push((
                    OsString::from_vec(bytes[..eq].to_vec()),
                    OsString::from_vec(bytes[eq + 1..].to_vec()),
                ));
            }
        }
        Ok(out)
    }
}

/// End this task process now with `code`. Only for task_init, in the
/// forked task: slurmstepd itself `_exit(1)`s there after a failed
/// callback, and this keeps Carme's own exit codes (125: the task cannot
/// start in its image).
pub fn exit_task(code: u8) -> ! {
    // SAFETY: _exit ends the process without returning or unwinding.
    unsafe { libc::_exit(c_int::from(code)) }
}

/// Set a variable in this process's own environment (sbatch/salloc), so
/// the job (sbatch) or the shell salloc starts inherits it.
pub fn set_process_env(name: &str, value: &str) -> Result<(), String> {
    let (n, v) = (cstring(name)?, cstring(value)?);
    // SAFETY: the allocator context is single threaded while options are
    // processed, so nobody reads the environment concurrently.
    let rc = unsafe { libc::setenv(n.as_ptr(), v.as_ptr(), 1) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("setenv({name}) failed"))
    }
}

// ---- libslurm, from the hosting process ------------------------------------------------

fn host_symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a valid name.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// SAFETY: `p` is null or a NUL-terminated string.
unsafe fn opt_string(p: *const c_char) -> Option<String> {
    (!p.is_null())
        // SAFETY: see above.
        .then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
}

/// SAFETY: `rec` is a record of a message slurm_load_job* returned.
unsafe fn job_info(rec: &sys::slurm_job_info_t) -> JobInfo {
    let state = match rec.job_state & sys::JOB_STATE_BASE {
        sys::JOB_PENDING => JobState::Pending,
        sys::JOB_RUNNING => JobState::Running,
        sys::JOB_SUSPENDED => JobState::Suspended,
        _ => JobState::Other,
    };
    // One entry per node of the job, in node order: a node without GRES
    // keeps its place as "" (carme_core::gpulist pairs them with nodes).
    let mut gres_detail = Vec::new();
    if !rec.gres_detail_str.is_null() {
        for i in 0..rec.gres_detail_cnt as usize {
            // SAFETY: gres_detail_str has gres_detail_cnt entries.
            gres_detail
                .push(unsafe { opt_string(*rec.gres_detail_str.add(i)) }.unwrap_or_default());
        }
    }
    JobInfo {
        job_id: rec.job_id,
        user_id: rec.user_id,
        state,
        start_time: rec.start_time,
        // SAFETY: fields of a valid record.
        features: unsafe { opt_string(rec.features) },
        account: unsafe { opt_string(rec.account) },
        num_nodes: rec.num_nodes,
        time_limit: time_limit_minutes(rec.time_limit),
        gres_total: unsafe { opt_string(rec.gres_total) },
        gres_detail,
        nodes: unsafe { opt_string(rec.nodes) },
    }
}

/// The libslurm functions' types as the headers declare them (see build.rs).
/// SAFETY: `p` is the address of the function `T` describes.
unsafe fn typed<T: Copy>(p: *mut c_void) -> T {
    // bindgen's types are `Option<unsafe extern "C" fn ..>`: pointer-sized.
    const { assert!(std::mem::size_of::<T>() == std::mem::size_of::<*mut c_void>()) };
    // SAFETY: same size; the caller vouches for the type.
    unsafe { std::mem::transmute_copy::<*mut c_void, T>(&p) }
}

/// A libslurm function of the hosting process, typed from the headers.
fn host_function<T: Copy>(name: &CStr) -> Result<T, String> {
    let p = host_symbol(name).ok_or_else(|| {
        format!(
            "{} is not available in this process",
            name.to_string_lossy()
        )
    })?;
    // SAFETY: the symbol is libslurm's, and `T` is the type bindgen made
    // from its declaration in the headers of the Slurm release the plugin
    // was built for (Slurm refuses plugins of another major.minor release).
    Ok(unsafe { typed::<T>(p) })
}

/// Copy the records out of a message a job loader returned, and free it.
/// SAFETY: `msg` is non-null and came from slurm_load_job*.
unsafe fn take_jobs(msg: *mut sys::job_info_msg_t) -> Result<Vec<JobInfo>, String> {
    let free: sys::carme_slurm_free_job_info_msg_fn = host_function(c"slurm_free_job_info_msg")?;
    let free = free.ok_or("slurm_free_job_info_msg is null")?;
    // SAFETY: a valid message until freed.
    let jobs = unsafe {
        let m = &*msg;
        (0..m.record_count as usize)
            .map(|i| job_info(&*m.job_array.add(i)))
            .collect()
    };
    // SAFETY: msg came from the loader.
    unsafe { free(msg) };
    Ok(jobs)
}

/// slurm.h's SHOW_DETAIL: 0x0002 in 22.05, `SLURM_BIT(1)` (the same value)
/// from 23.02 on, a macro bindgen cannot evaluate.
const SHOW_DETAIL: u16 = 1 << 1;

/// The key slurm_load_job takes for one job: its id (Slurm < 26.05).
#[cfg(not(carme_load_job_step_id))]
fn load_job_key(job_id: u32) -> u32 {
    job_id
}

/// The key slurm_load_job takes for one job (Slurm >= 26.05): a step id
/// as slurm.h's SLURM_STEP_ID_INITIALIZER makes it, with the job id set.
/// Every field is named, so a field the headers add stops the build.
#[cfg(carme_load_job_step_id)]
fn load_job_key(job_id: u32) -> sys::slurm_step_id_t {
    sys::slurm_step_id_t {
        sluid: 0,
        job_id,
        step_het_comp: sys::NO_VAL,
        step_id: sys::NO_VAL,
    }
}

/// Ask slurmctld for one job, with per-node GRES details.
pub fn load_job(job_id: u32) -> Result<JobInfo, String> {
    let load: sys::carme_slurm_load_job_fn = host_function(c"slurm_load_job")?;
    let load = load.ok_or("slurm_load_job is null")?;
    let mut msg: *mut sys::job_info_msg_t = std::ptr::null_mut();
    // SAFETY: out-pointer, the key type of these headers, plain flags.
    let rc = unsafe { load(&mut msg, load_job_key(job_id), SHOW_DETAIL) };
    // Read at once: libslurm reports failures in errno.
    let errno = std::io::Error::last_os_error();
    if rc != 0 || msg.is_null() {
        return Err(format!(
            "slurm_load_job({job_id}): {}",
            slurm_error_text(errno)
        ));
    }
    // SAFETY: a message the loader returned.
    unsafe { take_jobs(msg) }?
        .into_iter()
        .find(|j| j.job_id == job_id)
        .ok_or_else(|| format!("slurm_load_job({job_id}): no such job"))
}

/// Ask slurmctld for all of a user's jobs (for max_running_jobs).
pub fn load_user_jobs(uid: u32) -> Result<Vec<JobInfo>, String> {
    let load: sys::carme_slurm_load_job_user_fn = host_function(c"slurm_load_job_user")?;
    let load = load.ok_or("slurm_load_job_user is null")?;
    let mut msg: *mut sys::job_info_msg_t = std::ptr::null_mut();
    // SAFETY: out-pointer, a uid, plain flags.
    let rc = unsafe { load(&mut msg, uid, 0) };
    // Read at once: libslurm reports failures in errno.
    let errno = std::io::Error::last_os_error();
    if rc != 0 || msg.is_null() {
        return Err(format!(
            "slurm_load_job_user({uid}): {}",
            slurm_error_text(errno)
        ));
    }
    // SAFETY: a message the loader returned.
    unsafe { take_jobs(msg) }
}

/// libslurm's text for the errno a failed call left (Slurm's own codes and
/// the system's). slurm_get_errno is gone from libslurm >= 24.11; errno,
/// read right after the call, is what it returned.
fn slurm_error_text(errno: std::io::Error) -> String {
    let Some(e) = errno.raw_os_error() else {
        return "unknown error".to_string();
    };
    let Ok(Some(text)) = host_function::<sys::carme_slurm_strerror_fn>(c"slurm_strerror") else {
        return format!("error {e} ({errno})");
    };
    // SAFETY: slurm_strerror returns a static or thread-local string (or null).
    let p = unsafe { text(e) };
    if p.is_null() {
        format!("error {e}")
    } else {
        // SAFETY: NUL-terminated, see above.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

// ---- bounded work in a child process ---------------------------------------------------

/// Run `work` in a forked child and return the bytes it produced, waiting
/// at most `timeout` (see [`carme_node::bounded::collect_answer`]); for
/// calls that can block as long as a hung slurmctld or GPU driver makes
/// them. No thread is started (the plugin starts none): the child only runs
/// `work`, writes its answer to a pipe and `_exit`s, never returning into
/// Slurm's code. slurmstepd may have other threads; one that held a lock
/// at the fork can make the child wait for it, which the bound ends too.
pub fn in_child(
    timeout: Duration,
    max: usize,
    work: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, NodeError> {
    use nix::unistd::{ForkResult, fork, pipe2};
    let (answer, writer) =
        pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|err| NodeError::Sys { op: "pipe", err })?;
    // SAFETY: the child runs only `work` (plain Rust and the libslurm or
    // NVML calls it makes) and then `_exit`s: it never unwinds or returns
    // into the caller's frames, and runs no atexit handlers.
    match unsafe { fork() } {
        Err(err) => Err(NodeError::Sys { op: "fork", err }),
        Ok(ForkResult::Child) => {
            drop(answer);
            let code = match catch_unwind(AssertUnwindSafe(work)) {
                Ok(bytes) => {
                    let mut out = std::fs::File::from(writer);
                    match std::io::Write::write_all(&mut out, &bytes) {
                        Ok(()) => 0,
                        Err(_) => 1,
                    }
                }
                Err(_) => 2,
            };
            // SAFETY: ends the child at once, as described above.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(writer);
            carme_node::bounded::collect_answer(child, answer, timeout, max)
                .map_err(NodeError::from)
        }
    }
}
