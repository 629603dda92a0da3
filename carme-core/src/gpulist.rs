//! Which GPUs of this node a step may see, from sources the user cannot
//! set, bounded whatever those sources say.
//!
//! `SLURM_STEP_GPUS`/`SLURM_JOB_GPUS` in a step's environment are set by
//! Slurm only where the gpu GRES plugin runs (`GresTypes=gpu`); on other
//! nodes the user's own values reach slurmstepd. So the job's GPUs on this
//! node come from a trusted source: slurmctld's per-node GRES detail of the
//! job (`gpu:2(IDX:0-1)`, [`job_gpus_on_node`]), or the record carme-prolog
//! wrote from its own `SLURM_JOB_GPUS` (slurmd sets the prolog's
//! environment from the job credential). The step's variable may then only
//! narrow that set ([`GpuSet::intersection`]), never widen it.
//!
//! Every list is parsed into a fixed-size bit set: indices at most
//! [`MAX_GPU_INDEX`], input at most [`MAX_LIST_BYTES`] bytes, so a value
//! like `0-1024,0-1024,...` of a megabyte costs neither memory nor time.

use std::fmt;

use crate::hostlist;
use crate::slurmjob::JobInfo;

/// The highest GPU index accepted (Slurm's index in gres.conf order).
pub const MAX_GPU_INDEX: u32 = 1023;

/// The longest index list accepted, in bytes.
pub const MAX_LIST_BYTES: usize = 16 * 1024;

const WORDS: usize = (MAX_GPU_INDEX as usize + 1) / 64;

/// A set of GPU indices `0..=MAX_GPU_INDEX`, deduplicated by construction.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct GpuSet {
    bits: [u64; WORDS],
}

impl GpuSet {
    pub fn new() -> GpuSet {
        GpuSet::default()
    }

    /// Add `idx`; false (and nothing added) above [`MAX_GPU_INDEX`].
    pub fn insert(&mut self, idx: u32) -> bool {
        if idx > MAX_GPU_INDEX {
            return false;
        }
        self.bits[idx as usize / 64] |= 1 << (idx % 64);
        true
    }

    pub fn contains(&self, idx: u32) -> bool {
        idx <= MAX_GPU_INDEX && self.bits[idx as usize / 64] & (1 << (idx % 64)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The indices in both sets.
    pub fn intersection(&self, other: &GpuSet) -> GpuSet {
        let mut out = GpuSet::new();
        for (o, (a, b)) in out.bits.iter_mut().zip(self.bits.iter().zip(&other.bits)) {
            *o = a & b;
        }
        out
    }

    fn union_with(&mut self, other: &GpuSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
    }

    /// The indices, ascending (at most [`MAX_GPU_INDEX`] + 1 of them).
    pub fn indices(&self) -> Vec<u32> {
        (0..=MAX_GPU_INDEX).filter(|i| self.contains(*i)).collect()
    }
}

/// Slurm's form: `0,2-3` (empty for no GPUs).
impl fmt::Display for GpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idx = self.indices();
        let mut first = true;
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && idx[j + 1] == idx[j] + 1 {
                j += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if j == i {
                write!(f, "{}", idx[i])?;
            } else {
                write!(f, "{}-{}", idx[i], idx[j])?;
            }
            i = j + 1;
        }
        Ok(())
    }
}

impl fmt::Debug for GpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GpuSet({self})")
    }
}

/// The start of a value for a message: at most 40 characters, escaped.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    if s.chars().nth(40).is_some() {
        out.push_str("...");
    }
    out
}

/// Parse Slurm's GPU index list (`0,2-3`; empty: none). Refused: more
/// than [`MAX_LIST_BYTES`] bytes, an index above [`MAX_GPU_INDEX`], a
/// backwards range, anything but digits, `-` and `,`.
pub fn parse_index_list(list: &str) -> Result<GpuSet, String> {
    if list.len() > MAX_LIST_BYTES {
        return Err(format!(
            "the GPU index list has {} bytes, more than the {MAX_LIST_BYTES} accepted",
            list.len()
        ));
    }
    let mut set = GpuSet::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        let bad = || format!("`{}` is not a GPU index or range", shown(part));
        let num = |s: &str| -> Result<u32, String> {
            if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: u32 = s.parse().map_err(|_| bad())?;
            if n > MAX_GPU_INDEX {
                return Err(format!(
                    "GPU index {n} is above the highest accepted ({MAX_GPU_INDEX})"
                ));
            }
            Ok(n)
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        if hi < lo {
            return Err(bad());
        }
        // Both ends are at most MAX_GPU_INDEX: at most 1024 inserts.
        for i in lo..=hi {
            set.insert(i);
        }
    }
    Ok(set)
}

/// The GPUs in one node's GRES detail string, e.g. `gpu:2(IDX:0-1)`,
/// `gpu:a100:1(IDX:3),nic:1(IDX:0)`, `gpu(IDX:0,2)`. A gpu entry without
/// indices (`gpu:2(CNT:2)`: Slurm knows the count only) cannot say which
/// devices are the job's: an error.
pub fn gpus_in_gres_detail(detail: &str) -> Result<GpuSet, String> {
    if detail.len() > MAX_LIST_BYTES {
        return Err(format!(
            "the GRES detail has {} bytes, more than the {MAX_LIST_BYTES} accepted",
            detail.len()
        ));
    }
    let mut set = GpuSet::new();
    // Entries are separated by commas outside parentheses.
    let (mut depth, mut start) = (0u32, 0);
    let bytes = detail.as_bytes();
    for i in 0..=bytes.len() {
        match bytes.get(i) {
            Some(b'(') => depth += 1,
            Some(b')') => depth = depth.saturating_sub(1),
            Some(b',') | None if depth == 0 => {
                let entry = &detail[start..i];
                start = i + 1;
                let (head, rest) = entry.split_once('(').unwrap_or((entry, ""));
                if head.split(':').next() != Some("gpu") {
                    continue;
                }
                let inner = rest.strip_suffix(')').unwrap_or(rest);
                let Some(idx) = inner.strip_prefix("IDX:") else {
                    return Err(format!(
                        "GRES detail `{}` names no GPU indices",
                        shown(entry)
                    ));
                };
                set.union_with(&parse_index_list(idx)?);
            }
            _ => {}
        }
    }
    Ok(set)
}

/// The GPUs slurmctld allocated to `job` on `node`: the node's entry of
/// the job's per-node GRES detail. Slurm lists those entries in the order
/// of the job's node list (as `scontrol show job -d` pairs them); a node
/// without an entry (or a job without GRES) has no GPUs. A node that is not
/// the job's is an error.
pub fn job_gpus_on_node(job: &JobInfo, node: &str) -> Result<GpuSet, String> {
    let Some(nodes) = job.nodes.as_deref() else {
        return Err(format!(
            "slurmctld gave no node list for job {}",
            job.job_id
        ));
    };
    let hosts =
        hostlist::expand(nodes).map_err(|e| format!("the node list of job {}: {e}", job.job_id))?;
    let at = hosts
        .iter()
        .position(|h| h == node)
        .ok_or_else(|| format!("node {node} is not in job {}'s nodes", job.job_id))?;
    match job.gres_detail.get(at) {
        Some(detail) => gpus_in_gres_detail(detail),
        None => Ok(GpuSet::new()),
    }
}

/// The GPUs a step may see: the job's on this node (trusted) narrowed by
/// the step's own list (`SLURM_STEP_GPUS`/`SLURM_JOB_GPUS`; absent: none,
/// as Slurm unsets it for a step without GPUs). Without GPUs of the job
/// here, the step's list is not even read (only a user can have set it).
pub fn step_gpus(job: &GpuSet, step_list: Option<&str>) -> Result<GpuSet, String> {
    if job.is_empty() {
        return Ok(GpuSet::new());
    }
    let step = parse_index_list(step_list.unwrap_or(""))?;
    Ok(job.intersection(&step))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurmjob::JobState;

    fn set(v: &[u32]) -> GpuSet {
        let mut s = GpuSet::new();
        for i in v {
            assert!(s.insert(*i));
        }
        s
    }

    #[test]
    fn parses_lists() {
        let cases: &[(&str, &[u32])] = &[
            ("", &[]),
            ("0", &[0]),
            ("0,2-3", &[0, 2, 3]),
            ("3,1,1,3", &[1, 3]),
            ("0-1,1-2", &[0, 1, 2]),
            ("5,", &[5]),
            ("1023", &[1023]),
            ("0-1023", &(0..=1023).collect::<Vec<_>>()),
        ];
        for (text, want) in cases {
            let got = parse_index_list(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got.indices(), *want, "{text}");
        }
        for bad in [
            "x", "1-", "-1", "3-1", "1024", "0-1024", "+1", " 1", "1 ", "00001", "1-2-3",
        ] {
            assert!(parse_index_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn huge_lists_are_refused_without_expanding() {
        // The value of issue 13: 1 MiB of `0-1024,` (old code: gigabytes).
        let huge = "0-1024,".repeat((1 << 20) / 7);
        let e = parse_index_list(&huge).unwrap_err();
        assert!(e.contains("more than the 16384"), "{e}");
        // Just under the byte cap, every range repeated: one set of 1024.
        let many = "0-1023,".repeat(MAX_LIST_BYTES / 7);
        assert!(many.len() <= MAX_LIST_BYTES);
        assert_eq!(parse_index_list(&many).unwrap().len(), 1024);
        let e = parse_index_list("4294967295").unwrap_err();
        assert!(e.contains("is not a GPU index"), "{e}");
        // Messages show only the start of a value, escaped.
        let e = parse_index_list(&format!("x\n{}", "y".repeat(100))).unwrap_err();
        assert!(
            e.contains("x\\ny") && e.contains("...") && e.len() < 120,
            "{e}"
        );
    }

    #[test]
    fn prints_slurms_form() {
        assert_eq!(set(&[]).to_string(), "");
        assert_eq!(set(&[0, 2, 3, 4, 7]).to_string(), "0,2-4,7");
        let s = set(&[1, 5, 6]);
        assert_eq!(parse_index_list(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn reads_gres_detail() {
        let cases: &[(&str, &[u32])] = &[
            ("gpu:2(IDX:0-1)", &[0, 1]),
            ("gpu:a100:1(IDX:3),nic:4(IDX:0-3)", &[3]),
            ("nic:1(IDX:0),gpu(IDX:0,2)", &[0, 2]),
            ("gpu:1(IDX:0),gpu:t4:2(IDX:1,3)", &[0, 1, 3]),
            ("nic:1(IDX:0)", &[]),
            ("", &[]),
        ];
        for (text, want) in cases {
            let got = gpus_in_gres_detail(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got.indices(), *want, "{text}");
        }
        assert!(gpus_in_gres_detail("gpu:2(CNT:2)").is_err());
        assert!(gpus_in_gres_detail("gpu:1").is_err());
        assert!(gpus_in_gres_detail("gpu:1(IDX:2000)").is_err());
    }

    fn job(nodes: Option<&str>, detail: &[&str]) -> JobInfo {
        JobInfo {
            job_id: 7,
            user_id: 1000,
            state: JobState::Running,
            start_time: 0,
            features: None,
            account: None,
            num_nodes: 3,
            time_limit: None,
            gres_total: None,
            gres_detail: detail.iter().map(|s| s.to_string()).collect(),
            nodes: nodes.map(str::to_string),
        }
    }

    #[test]
    fn finds_this_nodes_gpus() {
        let j = job(Some("n[1-3]"), &["gpu:1(IDX:0)", "", "gpu:2(IDX:1,3)"]);
        assert_eq!(job_gpus_on_node(&j, "n1").unwrap().indices(), [0]);
        assert_eq!(
            job_gpus_on_node(&j, "n2").unwrap().indices(),
            [] as [u32; 0]
        );
        assert_eq!(job_gpus_on_node(&j, "n3").unwrap().indices(), [1, 3]);
        assert!(job_gpus_on_node(&j, "n4").is_err());
        // A job without GRES has no detail at all.
        let none = job(Some("n[1-3]"), &[]);
        assert!(job_gpus_on_node(&none, "n2").unwrap().is_empty());
        assert!(job_gpus_on_node(&job(None, &[]), "n1").is_err());
    }

    #[test]
    fn the_step_only_narrows() {
        let job = set(&[1, 3]);
        let cases: &[(Option<&str>, &[u32])] = &[
            (Some("1,3"), &[1, 3]),
            (Some("3"), &[3]),
            // A user's own value on a node without the gpu GRES plugin.
            (Some("0-3"), &[1, 3]),
            (Some("0,2"), &[]),
            (None, &[]),
            (Some(""), &[]),
        ];
        for (env, want) in cases {
            assert_eq!(step_gpus(&job, *env).unwrap().indices(), *want, "{env:?}");
        }
        // No GPUs of the job here: a user's list un-hides nothing.
        assert!(step_gpus(&GpuSet::new(), Some("0-3")).unwrap().is_empty());
        assert!(
            step_gpus(&GpuSet::new(), Some("0-1024,x"))
                .unwrap()
                .is_empty()
        );
        assert!(step_gpus(&job, Some("0-1024,0-1024")).is_err());
    }
}
