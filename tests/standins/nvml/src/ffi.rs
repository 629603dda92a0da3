//! The stand-in's exported NVML functions: the only `unsafe` code of the
//! crate (raw pointers from the caller, `dladdr`). Prototypes and the
//! `nvmlPciInfo_t` layout are `nvml.h`'s (NVIDIA's header as NVIDIA/go-nvml
//! and nvml-wrapper-sys 0.10 reproduce it); return codes are those `nvml.h`
//! documents per function, checked in its order: not initialised, then
//! invalid arguments (bad handle or index, NULL pointer), then short buffers.
//! Out-parameters are written on success only.
//!
//! Exported, because nvml-wrapper 0.13 calls them for
//! `carme_node::nvml::probe`: `nvmlInit_v2`, `nvmlShutdown`,
//! `nvmlSystemGetDriverVersion` (nvml-wrapper's init asks for it),
//! `nvmlSystemGetCudaDriverVersion_v2`, `nvmlDeviceGetCount_v2`,
//! `nvmlDeviceGetHandleByIndex_v2`, `nvmlDeviceGetMinorNumber`,
//! `nvmlDeviceGetUUID`, `nvmlDeviceGetPciInfo_v3`. Nothing else.
//!
//! Every function catches panics and returns `NVML_ERROR_UNKNOWN`: a Rust
//! panic must not unwind into (or abort) the C host process.

#![allow(non_snake_case, non_camel_case_types)]

use crate::code::*;
use crate::config::{MAX_GPUS, Node};
use crate::state;
use std::ffi::{CStr, CString, OsStr, c_void};
use std::os::raw::{c_char, c_int, c_uint};
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// `struct nvmlDevice_st`: opaque to callers. The stand-in's handles are
/// addresses inside [`HANDLES`] and are never dereferenced.
#[repr(C)]
pub struct nvmlDevice_st {
    _opaque: [u8; 0],
}
pub type nvmlDevice_t = *mut nvmlDevice_st;

/// `nvmlPciInfo_t` as in `nvml.h` (`busIdLegacy` has
/// `NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE` = 16 bytes, `busId`
/// `NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE` = 32).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nvmlPciInfo_t {
    pub busIdLegacy: [c_char; 16],
    pub domain: c_uint,
    pub bus: c_uint,
    pub device: c_uint,
    pub pciDeviceId: c_uint,
    pub pciSubSystemId: c_uint,
    pub busId: [c_char; 32],
}

/// One byte per possible GPU; a handle is the address of its GPU's byte, so
/// handles are distinct, stable and checkable without dereferencing.
static HANDLES: [u8; MAX_GPUS] = [0; MAX_GPUS];

fn handle(index: usize) -> nvmlDevice_t {
    HANDLES.as_ptr().wrapping_add(index) as nvmlDevice_t
}

/// The GPU index a handle stands for, if it is one of this node's.
fn index_of(device: nvmlDevice_t, node: &Node) -> Option<usize> {
    let i = (device as usize).checked_sub(HANDLES.as_ptr() as usize)?;
    (i < node.gpus.len()).then_some(i)
}

fn guard(f: impl FnOnce() -> NvmlReturn) -> NvmlReturn {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        state::complain("stand-in", "panicked; returning NVML_ERROR_UNKNOWN");
        ERROR_UNKNOWN
    })
}

fn result(r: Result<(), NvmlReturn>) -> NvmlReturn {
    r.err().unwrap_or(SUCCESS)
}

/// The path this library was loaded from (as given to `dlopen`, or as the
/// loader found it): the node file lies next to it.
fn own_path() -> Option<PathBuf> {
    // SAFETY: Dl_info is plain data; all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let here = nvmlInit_v2 as extern "C" fn() -> NvmlReturn as *const c_void;
    // SAFETY: `here` is an address in this object; `info` is writable.
    if unsafe { libc::dladdr(here, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr set dli_fname to a NUL-terminated string owned by the
    // loader, valid while this library stays loaded (it is running).
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(OsStr::from_bytes(name.to_bytes())))
}

/// Copy `s` with its NUL into the caller's buffer of `length` bytes.
///
/// # Safety
/// `dst` is NULL or valid for `length` bytes of writes.
unsafe fn write_string(dst: *mut c_char, length: c_uint, s: &CString) -> Result<(), NvmlReturn> {
    if dst.is_null() {
        return Err(ERROR_INVALID_ARGUMENT);
    }
    let bytes = s.as_bytes_with_nul();
    if (length as usize) < bytes.len() {
        return Err(ERROR_INSUFFICIENT_SIZE);
    }
    // SAFETY: the caller's buffer holds `length` >= bytes.len() bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr().cast(), dst, bytes.len()) };
    Ok(())
}

/// Write `value` to a caller's out-parameter.
///
/// # Safety
/// `dst` is NULL or valid and aligned for a write of `T`.
unsafe fn write_out<T>(dst: *mut T, value: T) -> Result<(), NvmlReturn> {
    if dst.is_null() {
        return Err(ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: as the caller promised.
    unsafe { dst.write(value) };
    Ok(())
}

/// Fill a fixed C char array with `s` and a NUL (callers checked the size).
fn c_chars<const N: usize>(s: &str) -> [c_char; N] {
    let mut out = [0 as c_char; N];
    for (o, b) in out.iter_mut().zip(s.bytes().take(N - 1)) {
        *o = b as c_char;
    }
    out
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlInit_v2() -> NvmlReturn {
    guard(|| state::init(own_path().as_deref()))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlShutdown() -> NvmlReturn {
    guard(state::shutdown)
}

/// # Safety
/// `version` is NULL or valid for `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlSystemGetDriverVersion(
    version: *mut c_char,
    length: c_uint,
) -> NvmlReturn {
    guard(|| {
        result(state::with_node(|node| {
            // SAFETY: forwarded from the caller.
            unsafe { write_string(version, length, &node.driver_version) }
        }))
    })
}

/// # Safety
/// `cudaDriverVersion` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlSystemGetCudaDriverVersion_v2(
    cudaDriverVersion: *mut c_int,
) -> NvmlReturn {
    guard(|| {
        if cudaDriverVersion.is_null() {
            return ERROR_INVALID_ARGUMENT;
        }
        result(
            state::cuda_driver_version(own_path().as_deref())
                // SAFETY: forwarded from the caller.
                .and_then(|v| unsafe { write_out(cudaDriverVersion, v) }),
        )
    })
}

/// # Safety
/// `deviceCount` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetCount_v2(deviceCount: *mut c_uint) -> NvmlReturn {
    guard(|| {
        result(state::with_node(|node| {
            // SAFETY: forwarded from the caller.
            unsafe { write_out(deviceCount, node.gpus.len() as c_uint) }
        }))
    })
}

/// # Safety
/// `device` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetHandleByIndex_v2(
    index: c_uint,
    device: *mut nvmlDevice_t,
) -> NvmlReturn {
    guard(|| {
        result(state::with_node(|node| {
            if index as usize >= node.gpus.len() {
                return Err(ERROR_INVALID_ARGUMENT);
            }
            // SAFETY: forwarded from the caller.
            unsafe { write_out(device, handle(index as usize)) }
        }))
    })
}

/// # Safety
/// `minorNumber` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetMinorNumber(
    device: nvmlDevice_t,
    minorNumber: *mut c_uint,
) -> NvmlReturn {
    guard(|| {
        result(state::with_node(|node| {
            let i = index_of(device, node).ok_or(ERROR_INVALID_ARGUMENT)?;
            // SAFETY: forwarded from the caller.
            unsafe { write_out(minorNumber, node.gpus[i].minor) }
        }))
    })
}

/// # Safety
/// `uuid` is NULL or valid for `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetUUID(
    device: nvmlDevice_t,
    uuid: *mut c_char,
    length: c_uint,
) -> NvmlReturn {
    guard(|| {
        result(state::with_node(|node| {
            let i = index_of(device, node).ok_or(ERROR_INVALID_ARGUMENT)?;
            // SAFETY: forwarded from the caller.
            unsafe { write_string(uuid, length, &node.gpus[i].uuid) }
        }))
    })
}

/// # Safety
/// `pci` is NULL or valid for a write of `nvmlPciInfo_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetPciInfo_v3(
    device: nvmlDevice_t,
    pci: *mut nvmlPciInfo_t,
) -> NvmlReturn {
    guard(|| {
        result(state::with_node(|node| {
            let i = index_of(device, node).ok_or(ERROR_INVALID_ARGUMENT)?;
            let a = node.gpus[i].pci;
            let info = nvmlPciInfo_t {
                busIdLegacy: c_chars(&a.bus_id_legacy()),
                domain: a.domain,
                bus: a.bus,
                device: a.device,
                // The stand-in has no PCI vendor/device ids to report.
                pciDeviceId: 0,
                pciSubSystemId: 0,
                busId: c_chars(&a.bus_id()),
            };
            // SAFETY: forwarded from the caller.
            unsafe { write_out(pci, info) }
        }))
    })
}
