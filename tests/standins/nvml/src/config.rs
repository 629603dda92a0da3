//! The stand-in's fake node: which JSON file describes it, and reading that
//! file strictly (unknown keys, duplicate GPUs and values real NVML could not
//! return are errors, so a harness cannot test against impossible GPUs).
//!
//! File: `<library path>.<SLURMD_NODENAME>.json` when that variable is set and
//! the file exists (several slurmd on one host load the same library but are
//! different nodes), else `<library path>.json`. Format:
//!
//! ```json
//! {"cuda_driver_version": 12040,
//!  "gpus": [{"minor": 0, "uuid": "GPU-…", "pci_bus_id": "00000000:3B:00.0", "name": "Stand-in GPU"}]}
//! ```
//!
//! - `gpus` (at least one): in NVML's enumeration order (index 0 first), which need not be
//!   minor-number order. `minor` is N of `/dev/nvidiaN`; `pci_bus_id` has
//!   NVML's format `%08X:%02X:%02X.0` (domain:bus:device.function); `name` is
//!   optional and only documents the file (the stand-in has no
//!   `nvmlDeviceGetName`).
//! - `cuda_driver_version`: as `nvmlSystemGetCudaDriverVersion_v2` returns it
//!   (12040 = CUDA 12.4). Optional: without it that function returns
//!   `NVML_ERROR_LIBRARY_NOT_FOUND`, as NVML does when libcuda.so.1 is missing.
//! - `driver_version`: optional, for `nvmlSystemGetDriverVersion` (default
//!   `stand-in`).

use serde::Deserialize;
use std::ffi::{CString, OsString};
use std::path::{Path, PathBuf};

/// `NVML_DEVICE_UUID_V2_BUFFER_SIZE`: UUIDs are shorter, with their NUL.
const UUID_BUFFER_SIZE: usize = 96;
/// `NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE`.
const DRIVER_VERSION_BUFFER_SIZE: usize = 80;
/// How many GPUs one file may list (handles are addresses in a fixed array).
pub const MAX_GPUS: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    #[serde(default)]
    cuda_driver_version: Option<i32>,
    #[serde(default)]
    driver_version: Option<String>,
    gpus: Vec<GpuFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GpuFile {
    minor: u32,
    uuid: String,
    pci_bus_id: String,
    #[serde(default)]
    #[allow(dead_code)] // documents the file only
    name: Option<String>,
}

/// A PCI address as `nvmlPciInfo_t` splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u32,
    pub device: u32,
}

impl PciAddress {
    /// `NVML_DEVICE_PCI_BUS_ID_FMT`.
    pub fn bus_id(&self) -> String {
        format!("{:08X}:{:02X}:{:02X}.0", self.domain, self.bus, self.device)
    }

    /// `NVML_DEVICE_PCI_BUS_ID_LEGACY_FMT`.
    pub fn bus_id_legacy(&self) -> String {
        format!("{:04X}:{:02X}:{:02X}.0", self.domain, self.bus, self.device)
    }
}

#[derive(Debug, Clone)]
pub struct Gpu {
    pub minor: u32,
    pub uuid: CString,
    pub pci: PciAddress,
}

/// One fake node, validated.
#[derive(Debug, Clone)]
pub struct Node {
    pub cuda_driver_version: Option<i32>,
    pub driver_version: CString,
    pub gpus: Vec<Gpu>,
}

/// Which file describes this node (see the module doc). `node_name` is
/// `SLURMD_NODENAME`; one with a `/` names no file beside the library.
pub fn node_file(library: &Path, node_name: Option<OsString>) -> PathBuf {
    if let Some(name) = node_name.filter(|n| !n.is_empty() && !n.as_encoded_bytes().contains(&b'/'))
    {
        let mut p = library.as_os_str().to_owned();
        p.push(".");
        p.push(&name);
        p.push(".json");
        let p = PathBuf::from(p);
        if p.is_file() {
            return p;
        }
    }
    let mut p = library.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

/// Read and check the node file; the error says what is wrong, for stderr.
pub fn read_node(path: &Path) -> Result<Node, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_node(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse_node(text: &str) -> Result<Node, String> {
    let file: NodeFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(v) = file.cuda_driver_version
        && v <= 0
    {
        return Err(format!("cuda_driver_version {v} is not a CUDA version"));
    }
    let driver_version = file.driver_version.unwrap_or_else(|| "stand-in".into());
    let driver_version = c_string(
        &driver_version,
        DRIVER_VERSION_BUFFER_SIZE,
        "driver_version",
    )?;
    if file.gpus.is_empty() {
        // nvmlInit_v2 fails on a node without GPUs (NVML_INIT_FLAG_NO_GPUS,
        // which nvml-wrapper's plain init does not pass, exists to avoid it).
        return Err("gpus is empty; describe at least one GPU".into());
    }
    if file.gpus.len() > MAX_GPUS {
        return Err(format!("more than {MAX_GPUS} gpus"));
    }
    let mut gpus: Vec<Gpu> = Vec::with_capacity(file.gpus.len());
    for (i, g) in file.gpus.into_iter().enumerate() {
        let what = format!("gpus[{i}]");
        if !g.uuid.bytes().all(|b| b.is_ascii_graphic()) || g.uuid.is_empty() {
            return Err(format!("{what}: uuid {:?} is not printable ASCII", g.uuid));
        }
        let uuid = c_string(&g.uuid, UUID_BUFFER_SIZE, &format!("{what}.uuid"))?;
        let pci = parse_bus_id(&g.pci_bus_id).ok_or_else(|| {
            format!(
                "{what}: pci_bus_id {:?} is not NVML's DDDDDDDD:BB:DD.0 (upper-case hex)",
                g.pci_bus_id
            )
        })?;
        if let Some(o) = gpus.iter().position(|o| o.minor == g.minor) {
            return Err(format!("{what}: minor {} is also gpus[{o}]'s", g.minor));
        }
        if let Some(o) = gpus.iter().position(|o| o.uuid == uuid) {
            return Err(format!("{what}: uuid {} is also gpus[{o}]'s", g.uuid));
        }
        if let Some(o) = gpus.iter().position(|o| o.pci == pci) {
            return Err(format!(
                "{what}: pci_bus_id {} is also gpus[{o}]'s",
                g.pci_bus_id
            ));
        }
        gpus.push(Gpu {
            minor: g.minor,
            uuid,
            pci,
        });
    }
    Ok(Node {
        cuda_driver_version: file.cuda_driver_version,
        driver_version,
        gpus,
    })
}

/// A string NVML returns in a buffer of `buffer` bytes (with its NUL).
fn c_string(s: &str, buffer: usize, what: &str) -> Result<CString, String> {
    if s.len() >= buffer {
        return Err(format!("{what} is longer than NVML's {} bytes", buffer - 1));
    }
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

/// Only NVML's own format, so `pci_bus_id` reads back exactly as written.
fn parse_bus_id(s: &str) -> Option<PciAddress> {
    let (domain, rest) = s.split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (device, function) = rest.split_once('.')?;
    let hex = |t: &str| u32::from_str_radix(t, 16).ok();
    let pci = PciAddress {
        domain: hex(domain)?,
        bus: hex(bus)?,
        device: hex(device)?,
    };
    // PCI allows 32 devices per bus; NVML always reports function 0.
    (function == "0" && pci.device < 32 && pci.bus_id() == s).then_some(pci)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"cuda_driver_version": 12040, "gpus": [
        {"minor": 1, "uuid": "GPU-b", "pci_bus_id": "00000000:3B:00.0", "name": "Stand-in GPU"},
        {"minor": 0, "uuid": "GPU-a", "pci_bus_id": "00000000:AF:1F.0"}]}"#;

    #[test]
    fn reads_the_documented_format() {
        let n = parse_node(GOOD).unwrap();
        assert_eq!(n.cuda_driver_version, Some(12040));
        assert_eq!(n.driver_version.to_str().unwrap(), "stand-in");
        assert_eq!(n.gpus.len(), 2);
        assert_eq!(n.gpus[0].minor, 1);
        assert_eq!(n.gpus[1].uuid.to_str().unwrap(), "GPU-a");
        let pci = n.gpus[1].pci;
        assert_eq!((pci.domain, pci.bus, pci.device), (0, 0xAF, 0x1F));
        assert_eq!(pci.bus_id(), "00000000:AF:1F.0");
        assert_eq!(pci.bus_id_legacy(), "0000:AF:1F.0");
    }

    #[test]
    fn refuses_what_nvml_could_not_return() {
        let gpu = |minor: u32, uuid: &str, pci: &str| {
            format!(r#"{{"minor": {minor}, "uuid": "{uuid}", "pci_bus_id": "{pci}"}}"#)
        };
        let node = |gpus: &[String]| format!(r#"{{"gpus": [{}]}}"#, gpus.join(","));
        let ok = gpu(0, "GPU-a", "00000000:3B:00.0");
        assert!(parse_node(&node(std::slice::from_ref(&ok))).is_ok());
        for bad in [
            node(&[]),
            node(&[ok.clone(), gpu(0, "GPU-b", "00000000:3C:00.0")]),
            node(&[ok.clone(), gpu(1, "GPU-a", "00000000:3C:00.0")]),
            node(&[ok.clone(), gpu(1, "GPU-b", "00000000:3B:00.0")]),
            node(&[gpu(0, "GPU-a", "0000:3B:00.0")]),
            node(&[gpu(0, "GPU-a", "00000000:3b:00.0")]),
            node(&[gpu(0, "GPU-a", "00000000:3B:00.1")]),
            node(&[gpu(0, "GPU-a", "00000000:3B:20.0")]),
            node(&[gpu(0, "GPU-a", "00000000:3B:00")]),
            node(&[gpu(0, "", "00000000:3B:00.0")]),
            node(&[gpu(0, "GPU a", "00000000:3B:00.0")]),
            node(&[gpu(0, &"x".repeat(96), "00000000:3B:00.0")]),
            format!(r#"{{"gpus": [{ok}], "extra": 1}}"#),
            r#"{"gpus": [{"minor": 0, "uuid": "GPU-a", "pci_bus_id": "00000000:3B:00.0", "memory": 1}]}"#.to_string(),
            format!(r#"{{"cuda_driver_version": 0, "gpus": [{ok}]}}"#),
            r#"{"cuda_driver_version": 12040}"#.to_string(),
            "not json".to_string(),
        ] {
            assert!(parse_node(&bad).is_err(), "accepted {bad}");
        }
        // The longest UUID that fits NVML's 96-byte buffer is fine.
        assert!(parse_node(&node(&[gpu(0, &"x".repeat(95), "00000000:3B:00.0")])).is_ok());
    }

    #[test]
    fn picks_the_node_file_when_it_exists() {
        let dir = std::env::temp_dir().join(format!("nvml-standin-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lib = dir.join("libnvidia-ml.so.1");
        let default = dir.join("libnvidia-ml.so.1.json");
        let n2 = dir.join("libnvidia-ml.so.1.n2.json");
        std::fs::write(&n2, "{}").unwrap();
        assert_eq!(node_file(&lib, Some("n2".into())), n2);
        assert_eq!(node_file(&lib, Some("n3".into())), default);
        assert_eq!(node_file(&lib, None), default);
        assert_eq!(node_file(&lib, Some("".into())), default);
        // A name with a slash names no file, even one that exists.
        std::fs::create_dir_all(dir.join("libnvidia-ml.so.1.x")).unwrap();
        std::fs::write(dir.join("n2.json"), "{}").unwrap();
        assert!(dir.join("libnvidia-ml.so.1.x/../n2.json").is_file());
        assert_eq!(node_file(&lib, Some("x/../n2".into())), default);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
