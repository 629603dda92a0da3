//! The stand-in as a C library: loaded with `dlopen` through
//! nvml-wrapper-sys's bindings (the prototypes nvml-wrapper calls it with),
//! it exports exactly the nine functions, and answers with `nvml.h`'s
//! documented codes: before init, for bad indices, handles and NULL
//! pointers, and for short buffers.
//!
//! Each test loads its own copy of the library from its own directory, so
//! each has fresh library state (`dlopen` shares a loaded library only for
//! the same file). Variables that change the stand-in (`SLURMD_NODENAME`,
//! `CARME_NVML_STANDIN_FAIL`) are set only in child processes: this test
//! binary run again for one test.

#![allow(non_snake_case)]

use nvml_wrapper_sys::bindings::*;
use std::ffi::{CStr, c_char, c_int, c_uint};
use std::path::Path;
use std::process::Command;

#[path = "support/standin.rs"]
mod standin;
use standin::{CHILD_LIB, child, install};

fn load(lib: &Path) -> NvmlLib {
    // SAFETY: the stand-in has no load-time side effects.
    unsafe { NvmlLib::new(lib) }.expect("dlopen the stand-in")
}

const NODE: &str = r#"{"cuda_driver_version": 12040, "driver_version": "550.54.15", "gpus": [
    {"minor": 2, "uuid": "GPU-2a0e5f2c-0c4b-4f7e-9d61-6f1d3a8e0b22", "pci_bus_id": "00000000:AF:00.0", "name": "Stand-in GPU"},
    {"minor": 0, "uuid": "GPU-0b5d9c1e-7a3f-4e2d-8c90-1f2e3d4c5b60", "pci_bus_id": "00000001:3B:1F.0"}]}"#;

const UNINIT: c_uint = nvmlReturn_enum_NVML_ERROR_UNINITIALIZED;
const INVALID: c_uint = nvmlReturn_enum_NVML_ERROR_INVALID_ARGUMENT;
const SHORT: c_uint = nvmlReturn_enum_NVML_ERROR_INSUFFICIENT_SIZE;
const OK: c_uint = nvmlReturn_enum_NVML_SUCCESS;
const UNKNOWN: c_uint = nvmlReturn_enum_NVML_ERROR_UNKNOWN;

/// Thin callers for the exported functions, so the tests read like C.
struct Api(NvmlLib);

impl Api {
    fn init(&self) -> c_uint {
        unsafe { (self.0.nvmlInit_v2.as_ref().unwrap())() }
    }
    fn shutdown(&self) -> c_uint {
        unsafe { (self.0.nvmlShutdown.as_ref().unwrap())() }
    }
    fn count(&self, out: *mut c_uint) -> c_uint {
        unsafe { (self.0.nvmlDeviceGetCount_v2.as_ref().unwrap())(out) }
    }
    fn handle(&self, index: c_uint, out: *mut nvmlDevice_t) -> c_uint {
        unsafe { (self.0.nvmlDeviceGetHandleByIndex_v2.as_ref().unwrap())(index, out) }
    }
    fn minor(&self, d: nvmlDevice_t, out: *mut c_uint) -> c_uint {
        unsafe { (self.0.nvmlDeviceGetMinorNumber.as_ref().unwrap())(d, out) }
    }
    fn uuid(&self, d: nvmlDevice_t, buf: *mut c_char, len: c_uint) -> c_uint {
        unsafe { (self.0.nvmlDeviceGetUUID.as_ref().unwrap())(d, buf, len) }
    }
    fn pci(&self, d: nvmlDevice_t, out: *mut nvmlPciInfo_t) -> c_uint {
        unsafe { (self.0.nvmlDeviceGetPciInfo_v3.as_ref().unwrap())(d, out) }
    }
    fn cuda(&self, out: *mut c_int) -> c_uint {
        unsafe { (self.0.nvmlSystemGetCudaDriverVersion_v2.as_ref().unwrap())(out) }
    }
    fn driver(&self, buf: *mut c_char, len: c_uint) -> c_uint {
        unsafe { (self.0.nvmlSystemGetDriverVersion.as_ref().unwrap())(buf, len) }
    }
    fn handle_of(&self, index: c_uint) -> nvmlDevice_t {
        let mut d: nvmlDevice_t = std::ptr::null_mut();
        assert_eq!(self.handle(index, &mut d), OK);
        d
    }
    fn uuid_of(&self, d: nvmlDevice_t) -> String {
        let mut buf = [0 as c_char; NVML_DEVICE_UUID_V2_BUFFER_SIZE as usize];
        assert_eq!(self.uuid(d, buf.as_mut_ptr(), buf.len() as c_uint), OK);
        text(&buf)
    }
}

fn text(buf: &[c_char]) -> String {
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string()
}

fn zeroed_pci() -> nvmlPciInfo_t {
    // SAFETY: plain C data.
    unsafe { std::mem::zeroed() }
}

#[test]
fn exports_exactly_the_nine_functions() {
    let inst = install("exports", &[(".json", NODE)]);
    let lib = &inst.lib;
    let out = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(lib)
        .output()
        .expect("run nm (binutils)");
    assert!(out.status.success(), "{out:?}");
    let mut names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "nvmlDeviceGetCount_v2",
            "nvmlDeviceGetHandleByIndex_v2",
            "nvmlDeviceGetMinorNumber",
            "nvmlDeviceGetPciInfo_v3",
            "nvmlDeviceGetUUID",
            "nvmlInit_v2",
            "nvmlShutdown",
            "nvmlSystemGetCudaDriverVersion_v2",
            "nvmlSystemGetDriverVersion",
        ]
    );
    // As nvml-wrapper sees it: anything else fails at symbol lookup.
    let api = load(lib);
    assert!(api.nvmlInitWithFlags.is_err());
    assert!(api.nvmlErrorString.is_err());
    assert!(api.nvmlDeviceGetName.is_err());
    assert!(api.nvmlDeviceGetIndex.is_err());
    assert!(api.nvmlDeviceGetHandleByUUID.is_err());
    assert!(api.nvmlDeviceGetCount_v2.is_ok() && api.nvmlDeviceGetPciInfo_v3.is_ok());
}

#[test]
fn refuses_calls_before_init_and_after_shutdown() {
    let inst = install("uninit", &[(".json", NODE)]);
    let lib = &inst.lib;
    let api = Api(load(lib));
    let mut n: c_uint = 77;
    let mut d: nvmlDevice_t = std::ptr::null_mut();
    let mut buf = [0 as c_char; 96];
    let mut pci = zeroed_pci();

    // nvmlShutdown before any successful init.
    assert_eq!(api.shutdown(), UNINIT);
    assert_eq!(api.count(&mut n), UNINIT);
    assert_eq!(n, 77, "out-parameter written on failure");
    assert_eq!(api.handle(0, &mut d), UNINIT);
    assert!(d.is_null());
    assert_eq!(api.driver(buf.as_mut_ptr(), 96), UNINIT);

    assert_eq!(api.init(), OK);
    let h = api.handle_of(0);
    assert_eq!(api.shutdown(), OK);

    // A handle from before shutdown is not usable after it.
    assert_eq!(api.minor(h, &mut n), UNINIT);
    assert_eq!(api.uuid(h, buf.as_mut_ptr(), 96), UNINIT);
    assert_eq!(api.pci(h, &mut pci), UNINIT);
    assert_eq!(api.count(&mut n), UNINIT);
    // "no error is reported if nvmlShutdown() is called more times than nvmlInit()"
    assert_eq!(api.shutdown(), OK);
}

#[test]
fn cuda_version_needs_no_init_as_documented() {
    // nvml.h lists no NVML_ERROR_UNINITIALIZED for
    // nvmlSystemGetCudaDriverVersion_v2: it asks libcuda, not the driver.
    let inst = install("cuda", &[(".json", NODE)]);
    let lib = &inst.lib;
    let api = Api(load(lib));
    let mut v: c_int = 0;
    assert_eq!(api.cuda(&mut v), OK);
    assert_eq!(v, 12040);
    assert_eq!(api.cuda(std::ptr::null_mut()), INVALID);

    // Without a CUDA version in the file: NVML without libcuda.so.1.
    let inst = install(
        "nocuda",
        &[(
            ".json",
            r#"{"gpus": [{"minor": 0, "uuid": "GPU-a", "pci_bus_id": "00000000:3B:00.0"}]}"#,
        )],
    );
    let lib = &inst.lib;
    let api = Api(load(lib));
    let mut v: c_int = 5;
    assert_eq!(
        api.cuda(&mut v),
        nvmlReturn_enum_NVML_ERROR_LIBRARY_NOT_FOUND
    );
    assert_eq!(api.init(), OK);
    assert_eq!(
        api.cuda(&mut v),
        nvmlReturn_enum_NVML_ERROR_LIBRARY_NOT_FOUND
    );
    assert_eq!(v, 5);
}

#[test]
fn answers_from_the_node_file_in_its_order() {
    let inst = install("answers", &[(".json", NODE)]);
    let lib = &inst.lib;
    let api = Api(load(lib));
    assert_eq!(api.init(), OK);
    let mut n: c_uint = 0;
    assert_eq!(api.count(&mut n), OK);
    assert_eq!(n, 2);

    let (a, b) = (api.handle_of(0), api.handle_of(1));
    assert_ne!(a, b);
    assert_eq!(api.handle_of(0), a, "handles are stable");
    assert_eq!(api.minor(a, &mut n), OK);
    assert_eq!(n, 2);
    assert_eq!(api.minor(b, &mut n), OK);
    assert_eq!(n, 0);
    assert_eq!(api.uuid_of(a), "GPU-2a0e5f2c-0c4b-4f7e-9d61-6f1d3a8e0b22");
    assert_eq!(api.uuid_of(b), "GPU-0b5d9c1e-7a3f-4e2d-8c90-1f2e3d4c5b60");

    let mut pci = zeroed_pci();
    assert_eq!(api.pci(b, &mut pci), OK);
    assert_eq!(text(&pci.busId), "00000001:3B:1F.0");
    assert_eq!(text(&pci.busIdLegacy), "0001:3B:1F.0");
    assert_eq!((pci.domain, pci.bus, pci.device), (1, 0x3B, 0x1F));

    let mut buf = [0 as c_char; NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE as usize];
    assert_eq!(api.driver(buf.as_mut_ptr(), buf.len() as c_uint), OK);
    assert_eq!(text(&buf), "550.54.15");
    let mut v: c_int = 0;
    assert_eq!(api.cuda(&mut v), OK);
    assert_eq!(v, 12040);
    assert_eq!(api.shutdown(), OK);
}

#[test]
fn refuses_bad_indices_handles_and_null_pointers() {
    let inst = install("invalid", &[(".json", NODE)]);
    let lib = &inst.lib;
    let api = Api(load(lib));
    assert_eq!(api.init(), OK);
    let mut n: c_uint = 77;
    let mut d: nvmlDevice_t = std::ptr::null_mut();
    let mut buf = [0 as c_char; 96];
    let mut pci = zeroed_pci();

    assert_eq!(api.handle(2, &mut d), INVALID);
    assert_eq!(api.handle(c_uint::MAX, &mut d), INVALID);
    assert!(d.is_null());
    assert_eq!(api.handle(0, std::ptr::null_mut()), INVALID);
    assert_eq!(api.count(std::ptr::null_mut()), INVALID);

    let good = api.handle_of(1);
    // One past the last GPU, NULL, and an address that is no handle.
    let past = (good as usize + 1) as nvmlDevice_t;
    let bogus = &mut n as *mut c_uint as nvmlDevice_t;
    for bad in [past, std::ptr::null_mut(), bogus] {
        assert_eq!(api.minor(bad, &mut n), INVALID);
        assert_eq!(api.uuid(bad, buf.as_mut_ptr(), 96), INVALID);
        assert_eq!(api.pci(bad, &mut pci), INVALID);
    }
    assert_eq!(n, 77);
    assert_eq!(api.minor(good, std::ptr::null_mut()), INVALID);
    assert_eq!(api.uuid(good, std::ptr::null_mut(), 96), INVALID);
    assert_eq!(api.pci(good, std::ptr::null_mut()), INVALID);
    assert_eq!(api.driver(std::ptr::null_mut(), 80), INVALID);
}

#[test]
fn refuses_short_buffers_and_fills_exact_ones() {
    let inst = install("short", &[(".json", NODE)]);
    let lib = &inst.lib;
    let api = Api(load(lib));
    assert_eq!(api.init(), OK);
    let d = api.handle_of(0);
    let uuid = "GPU-2a0e5f2c-0c4b-4f7e-9d61-6f1d3a8e0b22";

    let mut buf = [b'#' as c_char; 96];
    assert_eq!(api.uuid(d, buf.as_mut_ptr(), uuid.len() as c_uint), SHORT);
    assert_eq!(api.uuid(d, buf.as_mut_ptr(), 0), SHORT);
    assert!(
        buf.iter().all(|&c| c == b'#' as c_char),
        "short buffer written"
    );
    assert_eq!(api.uuid(d, buf.as_mut_ptr(), uuid.len() as c_uint + 1), OK);
    assert_eq!(text(&buf), uuid);
    assert_eq!(buf[uuid.len() + 1], b'#' as c_char, "wrote past its length");

    assert_eq!(api.driver(buf.as_mut_ptr(), 9), SHORT);
    assert_eq!(api.driver(buf.as_mut_ptr(), 10), OK);
    assert_eq!(text(&buf), "550.54.15");
}

#[test]
fn counts_inits_and_rereads_the_file_after_the_last_shutdown() {
    let inst = install("refcount", &[(".json", NODE)]);
    let lib = &inst.lib;
    let api = Api(load(lib));
    assert_eq!(api.init(), OK);
    assert_eq!(api.init(), OK);
    let one = r#"{"cuda_driver_version": 12020, "gpus": [{"minor": 5, "uuid": "GPU-new", "pci_bus_id": "00000000:3B:00.0"}]}"#;
    std::fs::write(format!("{}.json", lib.display()), one).unwrap();

    // Still initialised once: the file read at the first init still holds.
    assert_eq!(api.shutdown(), OK);
    let mut n: c_uint = 0;
    assert_eq!(api.count(&mut n), OK);
    assert_eq!(n, 2);
    assert_eq!(api.shutdown(), OK);
    assert_eq!(api.count(&mut n), UNINIT);

    assert_eq!(api.init(), OK);
    assert_eq!(api.count(&mut n), OK);
    assert_eq!(n, 1);
    assert_eq!(api.uuid_of(api.handle_of(0)), "GPU-new");
}

#[test]
fn init_fails_without_a_valid_node_file() {
    // No file at all, then files that are not a node.
    let inst = install("nofile", &[]);
    let api = Api(load(&inst.lib));
    assert_eq!(api.init(), UNKNOWN);
    let mut n: c_uint = 0;
    assert_eq!(api.count(&mut n), UNINIT);
    assert_eq!(api.shutdown(), UNINIT);
    for (i, bad) in [
        "{",
        r#"{"gpus": []}"#,
        r#"{"gpus": [{"minor": 0, "uuid": "GPU-a", "pci_bus_id": "0:3B:0.0"}]}"#,
        r#"{"gpus": [{"minor": 0, "uuid": "GPU-a", "pci_bus_id": "00000000:3B:00.0", "extra": 1}]}"#,
    ]
    .iter()
    .enumerate()
    {
        let inst = install(&format!("bad{i}"), &[(".json", bad)]);
        let api = Api(load(&inst.lib));
        assert_eq!(api.init(), UNKNOWN, "accepted {bad}");
        assert_eq!(api.count(&mut n), UNINIT);
    }
}

// ---- the ones that need their own environment: run in a child process ----

/// In a child: init, and the first GPU's UUID if that worked.
fn child_report(lib: &Path) {
    let api = Api(load(lib));
    let rc = api.init();
    let uuid = if rc == OK {
        api.uuid_of(api.handle_of(0))
    } else {
        "-".into()
    };
    println!("CHILD-RESULT {rc} {uuid}");
}

#[test]
fn fails_init_on_request_as_without_a_driver() {
    if let Some(lib) = std::env::var_os(CHILD_LIB) {
        return child_report(Path::new(&lib));
    }
    let inst = install("failinit", &[(".json", NODE)]);
    let lib = &inst.lib;
    let t = "fails_init_on_request_as_without_a_driver";
    let not_loaded = nvmlReturn_enum_NVML_ERROR_DRIVER_NOT_LOADED;
    assert_eq!(
        child(t, lib, &[("CARME_NVML_STANDIN_FAIL", "init")]),
        format!("{not_loaded} -")
    );
    assert_eq!(
        child(t, lib, &[("CARME_NVML_STANDIN_FAIL", "shutdown")]),
        format!("{UNKNOWN} -")
    );
    assert_eq!(
        child(t, lib, &[("CARME_NVML_STANDIN_FAIL", "")]),
        format!("{OK} GPU-2a0e5f2c-0c4b-4f7e-9d61-6f1d3a8e0b22")
    );
}

#[test]
fn reads_the_file_of_slurmd_nodename() {
    if let Some(lib) = std::env::var_os(CHILD_LIB) {
        return child_report(Path::new(&lib));
    }
    let n2 = r#"{"cuda_driver_version": 12040, "gpus": [{"minor": 0, "uuid": "GPU-n2", "pci_bus_id": "00000000:3B:00.0"}]}"#;
    let inst = install("nodename", &[(".json", NODE), (".n2.json", n2)]);
    let lib = &inst.lib;
    let t = "reads_the_file_of_slurmd_nodename";
    let default = format!("{OK} GPU-2a0e5f2c-0c4b-4f7e-9d61-6f1d3a8e0b22");
    assert_eq!(
        child(t, lib, &[("SLURMD_NODENAME", "n2")]),
        format!("{OK} GPU-n2")
    );
    assert_eq!(child(t, lib, &[("SLURMD_NODENAME", "n3")]), default);
    assert_eq!(child(t, lib, &[]), default);
}
