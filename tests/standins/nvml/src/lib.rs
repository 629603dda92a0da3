//! A test stand-in for libnvidia-ml (NVIDIA's NVML), not NVML: test hosts have
//! no NVIDIA driver, so Carme's NVML path is tested against this shared library
//! instead. It exports only the NVML functions nvml-wrapper calls for
//! `carme_node::nvml::probe`, with the prototypes, struct layouts and return
//! codes of NVIDIA's `nvml.h`; any other NVML function fails at symbol lookup,
//! so code that works against the stand-in uses no more of NVML than it has.
//!
//! Its fake GPUs come from a JSON file next to the loaded library (see
//! [`config`]), read at the first `nvmlInit_v2`. `CARME_NVML_STANDIN_FAIL=init`
//! makes `nvmlInit_v2` fail as it does when the NVIDIA driver is not loaded;
//! `CARME_NVML_STANDIN_FAIL=hang` makes it never return (a hung driver).
//!
//! The raw-pointer C ABI is confined to [`ffi`]; the rest is safe Rust.

#![deny(unsafe_code)]

pub mod config;
#[allow(unsafe_code)]
pub mod ffi;
pub mod state;

/// NVML's return codes (`nvmlReturn_t`, values from `nvml.h`), those the
/// stand-in returns.
pub mod code {
    pub type NvmlReturn = std::os::raw::c_uint;
    pub const SUCCESS: NvmlReturn = 0;
    pub const ERROR_UNINITIALIZED: NvmlReturn = 1;
    pub const ERROR_INVALID_ARGUMENT: NvmlReturn = 2;
    pub const ERROR_INSUFFICIENT_SIZE: NvmlReturn = 7;
    pub const ERROR_DRIVER_NOT_LOADED: NvmlReturn = 9;
    pub const ERROR_LIBRARY_NOT_FOUND: NvmlReturn = 12;
    pub const ERROR_UNKNOWN: NvmlReturn = 999;
}

/// The variable that makes the stand-in fail on purpose.
pub const FAIL_VAR: &str = "CARME_NVML_STANDIN_FAIL";
