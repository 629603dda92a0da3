//! libslurm's own parsers, for differential checks: the only `unsafe` of
//! this crate. Each function copies what libslurm returns into owned Rust
//! values and frees libslurm's memory before it returns.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int};

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code
)]
mod sys {
    include!(concat!(env!("OUT_DIR"), "/slurm_oracle.rs"));
}

unsafe extern "C" {
    /// Exported by libslurm (`nm -D libslurm.so`) but declared in no
    /// installed header (Slurm's internal parse_time.h), so declared here:
    /// `int slurm_time_str2mins(const char *string)`.
    fn slurm_time_str2mins(string: *const c_char) -> c_int;
    fn free(p: *mut std::ffi::c_void);
}

/// Every name of `list` as libslurm expands it (`slurm_hostlist_create`,
/// then `slurm_hostlist_shift` until empty), or `None` where it refuses the
/// list (or the text holds a NUL). Stops after `max` names.
pub fn hostlist_expand(list: &str, max: usize) -> Option<Vec<String>> {
    let c = CString::new(list).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call; the handle
    // is used only here and destroyed once; each shifted name is a malloc'd
    // C string that is copied, then freed once.
    unsafe {
        let hl = sys::slurm_hostlist_create(c.as_ptr());
        if hl.is_null() {
            return None;
        }
        let mut names = Vec::new();
        while names.len() < max {
            let p = sys::slurm_hostlist_shift(hl);
            if p.is_null() {
                break;
            }
            names.push(CStr::from_ptr(p).to_string_lossy().into_owned());
            free(p.cast());
        }
        sys::slurm_hostlist_destroy(hl);
        Some(names)
    }
}

/// What libslurm reads from a time string: minutes, -1 (INFINITE) or -2
/// (NO_VAL: invalid); `None` for text holding a NUL.
pub fn time_str2mins(s: &str) -> Option<i32> {
    let c = CString::new(s).ok()?;
    // SAFETY: a valid NUL-terminated string; the function only reads it.
    Some(unsafe { slurm_time_str2mins(c.as_ptr()) })
}
