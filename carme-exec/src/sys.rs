//! Everything unsafe in carme-exec (its FFI module, with the kernel): the
//! entry point, the argument and environment vectors the kernel leaves on
//! the stack, memory from mmap, and the system calls write, execve and
//! exit_group. There is no C library: the rest of the program is safe
//! code over `&CStr`.

use core::arch::{asm, naked_asm};
use core::ffi::{CStr, c_char};

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!(
    "carme-exec is written for x86_64 Linux only; with Slurm >= 23.11 no helper is needed \
     (the plugin prepends the runtime's command line itself)"
);

const SYS_WRITE: usize = 1;
const SYS_MMAP: usize = 9;
const SYS_EXECVE: usize = 59;
const SYS_EXIT_GROUP: usize = 231;

/// The kernel's initial stack holds argc, argv[0..argc], NULL, the
/// environment, NULL. Hand its address to `entry` with the stack aligned
/// as the C ABI wants it.
#[unsafe(naked)]
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    naked_asm!(
        "xor ebp, ebp",
        "mov rdi, rsp",
        "and rsp, -16",
        "call {entry}",
        "ud2",
        entry = sym entry,
    )
}

extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: `sp` is the initial stack pointer (see `_start`): argc, then
    // argc argument pointers and a NULL, then the environment up to a NULL.
    let start = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const c_char;
        Start {
            argv,
            argc,
            envp: argv.add(argc + 1),
        }
    };
    crate::main(&start)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    write_stderr(b"carme: carme-exec failed (internal error). Please tell your cluster admins.\n");
    exit(125)
}

/// The process's arguments and environment as the kernel passed them.
pub struct Start {
    argv: *const *const c_char,
    argc: usize,
    envp: *const *const c_char,
}

impl Start {
    pub fn args(&self) -> impl Iterator<Item = &'static CStr> + '_ {
        // SAFETY: argv has argc valid pointers to NUL-terminated strings
        // that live (unchanged) as long as the process.
        (0..self.argc).map(|i| unsafe { CStr::from_ptr(*self.argv.add(i)) })
    }

    pub fn env(&self) -> impl Iterator<Item = &'static CStr> + '_ {
        let mut p = self.envp;
        core::iter::from_fn(move || {
            // SAFETY: the environment is a NULL-terminated array of pointers
            // to NUL-terminated strings living as long as the process.
            unsafe {
                if (*p).is_null() {
                    None
                } else {
                    let s = CStr::from_ptr(*p);
                    p = p.add(1);
                    Some(s)
                }
            }
        })
    }
}

/// A NULL-terminated array of string pointers for execve, in memory from
/// mmap (there is no allocator). Never freed: the process execs or exits.
pub struct PtrVec {
    ptr: *mut *const c_char,
    cap: usize,
    len: usize,
}

impl PtrVec {
    /// Two arrays with room for `a` and `b` strings, from one mapping; None
    /// when the kernel gives no memory.
    pub fn pair(a: usize, b: usize) -> Option<(PtrVec, PtrVec)> {
        let slots = a.checked_add(b)?.checked_add(2)?;
        let bytes = slots.checked_mul(size_of::<*const c_char>())?;
        // SAFETY: an anonymous private mapping; the kernel returns zeroed
        // memory (so every slot starts as NULL) or a negative errno.
        let addr = unsafe { syscall6(SYS_MMAP, 0, bytes, 0x3, 0x22, usize::MAX, 0) };
        if addr < 0 {
            return None;
        }
        let first = addr as *mut *const c_char;
        Some((
            PtrVec {
                ptr: first,
                cap: a,
                len: 0,
            },
            PtrVec {
                // SAFETY: a + 1 slots belong to the first array, b + 1 follow.
                ptr: unsafe { first.add(a + 1) },
                cap: b,
                len: 0,
            },
        ))
    }

    /// Append `s`; false (and nothing changes) when full, so the last slot
    /// stays NULL.
    pub fn push(&mut self, s: &'static CStr) -> bool {
        if self.len == self.cap {
            return false;
        }
        // SAFETY: len < cap, within the mapping.
        unsafe { *self.ptr.add(self.len) = s.as_ptr() };
        self.len += 1;
        true
    }
}

/// Room for strings, from mmap (never freed: the process execs or exits).
pub struct Buf {
    ptr: *mut u8,
    cap: usize,
    len: usize,
}

impl Buf {
    pub fn with_capacity(cap: usize) -> Option<Buf> {
        // SAFETY: an anonymous private mapping, or a negative errno.
        let addr = unsafe { syscall6(SYS_MMAP, 0, cap.max(1), 0x3, 0x22, usize::MAX, 0) };
        if addr < 0 {
            return None;
        }
        Some(Buf {
            ptr: addr as *mut u8,
            cap,
            len: 0,
        })
    }

    /// A copy of `bytes` (which hold no NUL) as a C string. Panics (exit
    /// 125) when the buffer is too small, which the caller's sizing rules
    /// out.
    pub fn push_cstr(&mut self, bytes: &[u8]) -> &'static CStr {
        let end = self.len + bytes.len() + 1;
        assert!(end <= self.cap && !bytes.contains(&0));
        // SAFETY: [len, end) lies in the mapping and is not handed out
        // yet; the mapping lives until the process execs or exits.
        unsafe {
            let dst = self.ptr.add(self.len);
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
            *dst.add(bytes.len()) = 0;
            self.len = end;
            CStr::from_bytes_with_nul_unchecked(core::slice::from_raw_parts(dst, bytes.len() + 1))
        }
    }
}

/// Replace the process with `path`; returns the errno when that fails.
pub fn execve(path: &CStr, argv: &PtrVec, envp: &PtrVec) -> i32 {
    // SAFETY: path is NUL-terminated; argv and envp are NULL-terminated
    // arrays (PtrVec keeps its last slot NULL) of strings that outlive the
    // call.
    let rc = unsafe {
        syscall6(
            SYS_EXECVE,
            path.as_ptr() as usize,
            argv.ptr as usize,
            envp.ptr as usize,
            0,
            0,
            0,
        )
    };
    (-rc) as i32
}

/// Write all of `bytes` to stderr (errors are ignored: there is nowhere
/// else to report them).
pub fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: bytes is a valid buffer of bytes.len() bytes.
        let n = unsafe { syscall6(SYS_WRITE, 2, bytes.as_ptr() as usize, bytes.len(), 0, 0, 0) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

pub fn exit(code: u8) -> ! {
    // SAFETY: exit_group does not return.
    unsafe {
        asm!("syscall", in("rax") SYS_EXIT_GROUP, in("rdi") code as usize, options(noreturn, nostack))
    }
}

/// A raw system call; negative results are -errno.
unsafe fn syscall6(
    n: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> isize {
    let ret: isize;
    // SAFETY: the caller passes arguments valid for syscall `n`; the
    // kernel clobbers rcx and r11 only.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            in("r9") a6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

// The few C library functions the compiler emits calls to (copies, fills,
// comparisons, CStr::from_ptr). Volatile accesses keep the optimizer from
// turning these loops back into calls to themselves.

#[unsafe(no_mangle)]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller guarantees n valid, non-overlapping bytes.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    dst
}

#[unsafe(no_mangle)]
unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) {
        // SAFETY: forwards copy is right when dst is before src.
        return unsafe { memcpy(dst, src, n) };
    }
    for i in (0..n).rev() {
        // SAFETY: the caller guarantees n valid bytes at both.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    dst
}

#[unsafe(no_mangle)]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller guarantees n writable bytes.
        unsafe { dst.add(i).write_volatile(c as u8) };
    }
    dst
}

#[unsafe(no_mangle)]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller guarantees n readable bytes at both.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

#[unsafe(no_mangle)]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller passes a NUL-terminated string.
    while unsafe { s.add(n).read_volatile() } != 0 {
        n += 1;
    }
    n
}
