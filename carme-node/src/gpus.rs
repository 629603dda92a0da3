//! Which GPU device nodes a step must not see, and the GPU environment that
//! matches what it does see. Pure (a decision, like carme-core's; it lives
//! here next to the device listing type it reads).
//!
//! Inputs: the device dir listing, the GPU indices Slurm allocated on this
//! node (`SLURM_STEP_GPUS`, or `SLURM_JOB_GPUS` for batch/interactive
//! steps), optionally one UUID per allocated GPU (from NVML).
//!
//! Slurm facts this relies on (Slurm 22.05 source: srun(1), gres.html,
//! `src/plugins/gres/common/gres_common.c`, `src/common/gres.c`):
//! - `SLURM_STEP_GPUS`/`SLURM_JOB_GPUS` hold the GPU's index in gres.conf
//!   order (`gres_device->index`), "not relative to any device cgroup".
//!   With `File=/dev/nvidia[0-3]` in increasing order (as gres.html asks),
//!   index N is `/dev/nvidiaN`; this module assumes that mapping.
//! - Slurm sets `CUDA_VISIBLE_DEVICES` only when GPUs are allocated; a step
//!   without GPUs gets it unset (`gres_common_gpu_set_env`). With
//!   task/cgroup and `ConstrainDevices=yes` its value counts from 0
//!   (`gres_use_local_device_index`: the job can open only its own GPUs,
//!   so CUDA enumerates only those); otherwise it has the global indices.
//!
//! With `hide_unallocated`, the step's view has only its own `nvidiaN`
//! nodes; CUDA then enumerates only those, so their indices are 0..k-1.
//! We assume CUDA's `PCI_BUS_ID` order equals minor-number order (the
//! driver numbers GPUs as it probes them on the PCI bus) and set
//! `CUDA_DEVICE_ORDER=PCI_BUS_ID`, which Slurm's gres.html recommends so
//! NVML's and CUDA's numbering agree. UUIDs, when known, need no such
//! assumption and are used instead, in minor order. Without hiding, the
//! GPU indices CUDA sees depend on Slurm's cgroup setup, which only Slurm
//! knows: its `CUDA_VISIBLE_DEVICES` is kept unless UUIDs are known.

use crate::namespace::NamespaceError;
use crate::syscall::{DevEntry, Kind};

/// What to hide and which variables to set (`Some`) or unset (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GpuPlan {
    /// Names of device dir entries to leave out of the step's view.
    pub hide: Vec<String>,
    pub env: Vec<(String, Option<String>)>,
}

/// `Some(N)` for a char device named `nvidiaN` (a GPU; `nvidiactl`,
/// `nvidia-uvm`, `nvidia-modeset`, … are shared by all GPUs).
pub fn gpu_index(e: &DevEntry) -> Option<u32> {
    let digits = e.name.to_str()?.strip_prefix("nvidia")?;
    if e.stat.kind != Kind::Char || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

fn set(k: &str, v: String) -> (String, Option<String>) {
    (k.to_string(), Some(v))
}

fn unset(k: &str) -> (String, Option<String>) {
    (k.to_string(), None)
}

/// Decide, see the module doc. `uuids[i]` belongs to `allocated[i]`.
pub fn plan_gpus(
    entries: &[DevEntry],
    allocated: &[u32],
    uuids: Option<&[String]>,
    hide_unallocated: bool,
) -> Result<GpuPlan, NamespaceError> {
    if let Some(u) = uuids
        && u.len() != allocated.len()
    {
        return Err(NamespaceError::Invalid(format!(
            "{} GPU UUIDs for {} allocated GPUs ({allocated:?})",
            u.len(),
            allocated.len()
        )));
    }
    // (Slurm index, UUID), by index, each index once.
    let mut alloc: Vec<(u32, Option<&str>)> = allocated
        .iter()
        .enumerate()
        .map(|(i, &g)| (g, uuids.map(|u| u[i].as_str())))
        .collect();
    alloc.sort_by_key(|a| a.0);
    alloc.dedup_by_key(|a| a.0);

    // (index, minor, name) of every GPU node, by minor.
    let mut gpus: Vec<(u32, u32, &str)> = entries
        .iter()
        .filter_map(|e| Some((gpu_index(e)?, e.stat.minor, e.name.to_str()?)))
        .collect();
    gpus.sort_by_key(|g| (g.1, g.0));

    let is_alloc = |idx: u32| alloc.iter().any(|a| a.0 == idx);
    let hide: Vec<String> = if hide_unallocated {
        gpus.iter()
            .filter(|g| !is_alloc(g.0))
            .map(|g| g.2.to_string())
            .collect()
    } else {
        Vec::new()
    };

    if alloc.is_empty() {
        // Slurm's own behaviour for steps without GPUs.
        let env = vec![
            unset("CUDA_VISIBLE_DEVICES"),
            unset("NVIDIA_VISIBLE_DEVICES"),
        ];
        return Ok(GpuPlan { hide, env });
    }

    let visible: Vec<String> = if hide_unallocated {
        let mut vis = Vec::new();
        for &(idx, uuid) in &alloc {
            let Some(g) = gpus.iter().find(|g| g.0 == idx) else {
                return Err(NamespaceError::Invalid(format!(
                    "GPU {idx} is allocated to the step but there is no device node \
                     nvidia{idx}; check gres.conf File= against the device dir"
                )));
            };
            vis.push((g.1, uuid));
        }
        vis.sort_by_key(|v| v.0);
        vis.iter()
            .enumerate()
            .map(|(i, (_, uuid))| match uuid {
                Some(u) => u.to_string(),
                None => i.to_string(),
            })
            .collect()
    } else if uuids.is_some() {
        alloc
            .iter()
            .filter_map(|a| a.1.map(str::to_string))
            .collect()
    } else {
        // Keep Slurm's CUDA_VISIBLE_DEVICES: see the module doc.
        return Ok(GpuPlan {
            hide,
            env: vec![set("CUDA_DEVICE_ORDER", "PCI_BUS_ID".into())],
        });
    };
    let list = visible.join(",");
    let env = vec![
        set("CUDA_VISIBLE_DEVICES", list.clone()),
        set("NVIDIA_VISIBLE_DEVICES", list),
        set("CUDA_DEVICE_ORDER", "PCI_BUS_ID".into()),
    ];
    Ok(GpuPlan { hide, env })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::Stat;

    /// A node with four GPUs and the shared NVIDIA nodes.
    fn node() -> Vec<DevEntry> {
        vec![
            DevEntry::char("nvidia0", 195, 0, 0o666),
            DevEntry::char("nvidia1", 195, 1, 0o666),
            DevEntry::char("nvidia2", 195, 2, 0o666),
            DevEntry::char("nvidia3", 195, 3, 0o666),
            DevEntry::char("nvidiactl", 195, 255, 0o666),
            DevEntry::char("nvidia-modeset", 195, 254, 0o666),
            DevEntry::char("nvidia-uvm", 511, 0, 0o666),
            DevEntry::char("nvidia-uvm-tools", 511, 1, 0o666),
            DevEntry::new("nvidia-caps", Stat::dir(0o755, 0, 0)),
            DevEntry::char("null", 1, 3, 0o666),
            // Not GPUs: a regular file and a non-numeric suffix.
            DevEntry::new("nvidia7", Stat::new(Kind::File, 0o644, 0, 0)),
            DevEntry::char("nvidia1x", 195, 9, 0o666),
        ]
    }

    fn env(cvd: Option<&str>, nvd: Option<&str>, order: bool) -> Vec<(String, Option<String>)> {
        let mut v = vec![
            ("CUDA_VISIBLE_DEVICES".to_string(), cvd.map(str::to_string)),
            (
                "NVIDIA_VISIBLE_DEVICES".to_string(),
                nvd.map(str::to_string),
            ),
        ];
        if order {
            v.push(("CUDA_DEVICE_ORDER".into(), Some("PCI_BUS_ID".into())));
        }
        v
    }

    fn uu(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table() {
        struct Case {
            what: &'static str,
            alloc: &'static [u32],
            uuids: Option<Vec<String>>,
            hide_unalloc: bool,
            hide: &'static [&'static str],
            env: Vec<(String, Option<String>)>,
        }
        let order_only = vec![(
            "CUDA_DEVICE_ORDER".to_string(),
            Some("PCI_BUS_ID".to_string()),
        )];
        let cases = [
            Case {
                what: "two of four, hidden: renumbered from 0",
                alloc: &[1, 3],
                uuids: None,
                hide_unalloc: true,
                hide: &["nvidia0", "nvidia2"],
                env: env(Some("0,1"), Some("0,1"), true),
            },
            Case {
                what: "Slurm's order does not matter",
                alloc: &[3, 1],
                uuids: None,
                hide_unalloc: true,
                hide: &["nvidia0", "nvidia2"],
                env: env(Some("0,1"), Some("0,1"), true),
            },
            Case {
                what: "all four: nothing hidden",
                alloc: &[0, 1, 2, 3],
                uuids: None,
                hide_unalloc: true,
                hide: &[],
                env: env(Some("0,1,2,3"), Some("0,1,2,3"), true),
            },
            Case {
                what: "UUIDs replace indices, in minor order",
                alloc: &[3, 0],
                uuids: Some(uu(&["GPU-d", "GPU-a"])),
                hide_unalloc: true,
                hide: &["nvidia1", "nvidia2"],
                env: env(Some("GPU-a,GPU-d"), Some("GPU-a,GPU-d"), true),
            },
            Case {
                what: "no GPUs, hidden: all GPU nodes go, variables unset as Slurm does",
                alloc: &[],
                uuids: None,
                hide_unalloc: true,
                hide: &["nvidia0", "nvidia1", "nvidia2", "nvidia3"],
                env: env(None, None, false),
            },
            Case {
                what: "no GPUs, not hidden",
                alloc: &[],
                uuids: Some(vec![]),
                hide_unalloc: false,
                hide: &[],
                env: env(None, None, false),
            },
            Case {
                what: "not hidden, no UUIDs: Slurm's CUDA_VISIBLE_DEVICES stays",
                alloc: &[1, 3],
                uuids: None,
                hide_unalloc: false,
                hide: &[],
                env: order_only,
            },
            Case {
                what: "not hidden, UUIDs: by Slurm index",
                alloc: &[3, 1],
                uuids: Some(uu(&["GPU-d", "GPU-b"])),
                hide_unalloc: false,
                hide: &[],
                env: env(Some("GPU-b,GPU-d"), Some("GPU-b,GPU-d"), true),
            },
        ];
        for c in cases {
            let got = plan_gpus(&node(), c.alloc, c.uuids.as_deref(), c.hide_unalloc)
                .unwrap_or_else(|e| panic!("{}: {e}", c.what));
            assert_eq!(got.hide, c.hide, "{}", c.what);
            assert_eq!(got.env, c.env, "{}", c.what);
        }
    }

    #[test]
    fn minor_order_decides_when_names_disagree() {
        // nvidia0 has minor 1 and nvidia1 minor 0: CUDA (PCI order, taken
        // as minor order) lists nvidia1 first.
        let entries = vec![
            DevEntry::char("nvidia0", 195, 1, 0o666),
            DevEntry::char("nvidia1", 195, 0, 0o666),
        ];
        let p = plan_gpus(&entries, &[0, 1], Some(&uu(&["GPU-a", "GPU-b"])), true).unwrap();
        assert_eq!(p.env[0].1.as_deref(), Some("GPU-b,GPU-a"));
    }

    #[test]
    fn refusals() {
        let e = plan_gpus(&node(), &[5], None, true).unwrap_err();
        assert!(e.to_string().contains("nvidia5"), "{e}");
        // Without hiding nothing depends on the node existing.
        assert!(plan_gpus(&node(), &[5], None, false).is_ok());
        let e = plan_gpus(&node(), &[0, 1], Some(&uu(&["GPU-a"])), true).unwrap_err();
        assert!(e.to_string().contains("1 GPU UUIDs for 2"), "{e}");
    }

    #[test]
    fn gpu_nodes() {
        let names: Vec<_> = node().iter().filter_map(gpu_index).collect();
        assert_eq!(names, [0, 1, 2, 3]);
    }
}
