//! What carme-prolog sets up for a Carme job on one node, decided from the
//! config and the job's facts ([`plan`], pure), and recorded on the node
//! (`<state_dir>/job-<id>.node`, root, 0600) before anything is set up, so
//! that carme-epilog removes exactly that, whatever the config or the
//! job's environment say by then, and even after a crash half-way.
//!
//! Paths given to beeond are the same on every node (beeond runs its
//! commands on all of them with the first node's arguments), so templates
//! in `[beeond]` and `log_dir` are expanded with the first node's name.
//! What a node looks at locally (its mount point, its `mount_base`) is
//! expanded with its own name: on a real cluster both are the same (use
//! `%n` there only where several slurmd share a host, as in the test
//! harness, whose `beeond` wrapper maps each node to its own directory).
//!
//! Per job: data `<data_dir>/<jobid>`, mount point `<mount_base>/<jobid>`,
//! status file `<status_dir>/beeond-<jobid>.tmp`, beeond's logs
//! `<log_dir>/beeond-<jobid>/`, node file `<state_dir>/job-<jobid>.beeond-nodes`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use carme_core::beeond::{BeeondError, BeeondSetup};
use carme_core::config::Config;
use carme_core::gate::names_feature;
use carme_core::hostlist::{self, HostlistError};
use carme_core::leftover::{Identity, Tries};

use crate::error::NodeError;

/// The job as slurmd describes it to the prolog and epilog (their
/// environment; only `SPANK_*` there comes from the user's client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFacts {
    pub job_id: u32,
    pub uid: u32,
    pub gid: u32,
    /// `SLURMD_NODENAME`.
    pub node: String,
    /// `SLURM_JOB_NODELIST` (Slurm >= 23.02), else `SLURM_NODELIST`.
    pub nodelist: Option<String>,
    /// `SLURM_JOB_CONSTRAINTS`.
    pub constraint: String,
    /// `SLURM_JOB_RESTART_COUNT`: 0, or how often the job was requeued.
    pub restart: u32,
    /// `SPANK_CARME_BEEOND=1`: the plugin passed the job's wish for BeeOND
    /// (spank_job_control_setenv). The user's choice, like the constraint;
    /// it decides whether, never where or how.
    pub beeond_option: bool,
}

/// Environment variable through which the plugin asks for BeeOND.
pub const BEEOND_OPTION_VAR: &str = "SPANK_CARME_BEEOND";

impl JobFacts {
    /// Gather the facts from `get` (the environment). Err names what is
    /// missing.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<JobFacts, NodeError> {
        let num = |name: &str| get(name).and_then(|v| v.trim().parse::<u32>().ok());
        let (Some(job_id), Some(uid), Some(gid), Some(node)) = (
            num("SLURM_JOB_ID"),
            num("SLURM_JOB_UID"),
            num("SLURM_JOB_GID"),
            get("SLURMD_NODENAME").filter(|n| !n.is_empty()),
        ) else {
            return Err(NodeError::Invalid(
                "SLURM_JOB_ID, SLURM_JOB_UID, SLURM_JOB_GID or SLURMD_NODENAME missing: \
                 not run by slurmd?"
                    .into(),
            ));
        };
        Ok(JobFacts {
            job_id,
            uid,
            gid,
            node,
            nodelist: get("SLURM_JOB_NODELIST")
                .or_else(|| get("SLURM_NODELIST"))
                .filter(|l| !l.is_empty()),
            constraint: get("SLURM_JOB_CONSTRAINTS").unwrap_or_default(),
            restart: num("SLURM_JOB_RESTART_COUNT").unwrap_or(0),
            beeond_option: matches!(
                get(BEEOND_OPTION_VAR).as_deref().map(str::trim),
                Some("1" | "yes" | "true")
            ),
        })
    }
}

/// One job on one node: what the prolog prepares and the epilog removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeJob {
    pub job_id: u32,
    pub restart: u32,
    pub uid: u32,
    pub gid: u32,
    pub node: String,
    /// `<tmp_base>/<jobid>` is the job's.
    pub tmp_base: PathBuf,
    /// `<scratch_base>/<jobid>` is the job's, if scratch is configured.
    pub scratch_base: Option<PathBuf>,
    pub beeond: Option<BeeondNode>,
    /// Set once an epilog ran for the job and left something (its
    /// directories, not all removed): the job has ended, and later prologs
    /// and epilogs on the node retry the cleanup
    /// ([`crate::jobclean::retry_leftovers`]).
    pub leftover: Option<Tries>,
}

/// This node's part in the job's BeeOND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeeondNode {
    /// What beeond is given (the same on every node).
    pub setup: BeeondSetup,
    /// This node is the job's first: it starts and stops the instance.
    pub first: bool,
    /// This node's `mount_base` (a root-owned directory).
    pub mount_base: PathBuf,
    /// Where this node sees the file system: `<mount_base>/<jobid>`.
    pub mount: PathBuf,
    pub start_timeout: Duration,
    pub stop_timeout: Duration,
    pub wait_timeout: Duration,
}

impl BeeondNode {
    pub fn first_node(&self) -> &str {
        &self.setup.nodes[0]
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The job asks for BeeOND, but the config has no `[beeond]`.
    BeeondNotConfigured,
    NoNodelist,
    Hostlist(HostlistError),
    NotInNodelist {
        node: String,
        nodelist: String,
    },
    Beeond(BeeondError),
    /// A path with a newline (cannot be recorded or passed on).
    BadPath(PathBuf),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::BeeondNotConfigured => write!(
                f,
                "the job asks for BeeOND, but the config has no [beeond] table; add one \
                 (etc/carme.toml documents it), or remove the BeeOND feature from the nodes"
            ),
            PlanError::NoNodelist => write!(
                f,
                "neither SLURM_JOB_NODELIST nor SLURM_NODELIST is set: cannot tell the job's nodes"
            ),
            PlanError::Hostlist(e) => write!(f, "cannot expand the job's node list: {e}"),
            PlanError::NotInNodelist { node, nodelist } => {
                write!(
                    f,
                    "this node ({node}) is not in the job's node list {nodelist}"
                )
            }
            PlanError::Beeond(e) => write!(f, "{e}"),
            PlanError::BadPath(p) => write!(f, "path {p:?} contains a newline"),
        }
    }
}

/// Whether the job asks for BeeOND: its constraint names the BeeOND
/// feature, or the plugin passed the option.
pub fn wants_beeond(cfg: &Config, f: &JobFacts) -> bool {
    let feature = cfg.beeond.as_ref().map_or("beeond", |b| b.feature.as_str());
    f.beeond_option || names_feature(&f.constraint, feature)
}

/// The nodefile's name in the state dir.
pub fn nodefile_name(job: u32) -> String {
    format!("job-{job}.beeond-nodes")
}

/// What to set up on this node for the Carme job `f` (see the module doc).
/// A job that asks for BeeOND where none is configured gets
/// `Err(BeeondNotConfigured)`; [`plan_without_beeond`] is then the rest.
pub fn plan(cfg: &Config, f: &JobFacts) -> Result<NodeJob, PlanError> {
    let mut job = plan_without_beeond(cfg, f);
    if !wants_beeond(cfg, f) {
        return Ok(job);
    }
    let b = cfg.beeond.as_ref().ok_or(PlanError::BeeondNotConfigured)?;
    let list = f.nodelist.as_deref().ok_or(PlanError::NoNodelist)?;
    let nodes = hostlist::expand(list).map_err(PlanError::Hostlist)?;
    if !nodes.contains(&f.node) {
        return Err(PlanError::NotInNodelist {
            node: f.node.clone(),
            nodelist: list.to_string(),
        });
    }
    let first = nodes[0].clone();
    let id = f.job_id;
    let j = id.to_string();
    let everywhere = |t: &carme_core::template::PathTemplate| t.expand(&first, Some(id));
    let setup = BeeondSetup {
        command: b.command.clone(),
        job_id: id,
        nodefile: cfg
            .paths
            .state_dir
            .expand(&f.node, Some(id))
            .join(nodefile_name(id)),
        data_dir: everywhere(&b.data_dir).join(&j),
        mount: everywhere(&b.mount_base).join(&j),
        status_file: everywhere(&b.status_dir).join(format!("beeond-{id}.tmp")),
        log_dir: everywhere(&cfg.paths.log_dir).join(format!("beeond-{id}")),
        extra_start_args: b.extra_start_args.clone(),
        nodes,
    };
    setup.check().map_err(PlanError::Beeond)?;
    let mount_base = b.mount_base.expand(&f.node, Some(id));
    let node = BeeondNode {
        first: first == f.node,
        mount: mount_base.join(&j),
        mount_base,
        setup,
        start_timeout: b.start_timeout,
        stop_timeout: b.stop_timeout,
        wait_timeout: b.wait_timeout,
    };
    for p in [
        &node.setup.nodefile,
        &node.setup.data_dir,
        &node.setup.mount,
        &node.setup.status_file,
        &node.setup.log_dir,
        &node.mount,
    ] {
        if p.as_os_str().as_encoded_bytes().contains(&b'\n') {
            return Err(PlanError::BadPath(p.clone()));
        }
    }
    job.beeond = Some(node);
    Ok(job)
}

/// The job's directories on this node, no BeeOND.
pub fn plan_without_beeond(cfg: &Config, f: &JobFacts) -> NodeJob {
    NodeJob {
        job_id: f.job_id,
        restart: f.restart,
        uid: f.uid,
        gid: f.gid,
        node: f.node.clone(),
        tmp_base: cfg.paths.tmp_base.expand(&f.node, Some(f.job_id)),
        scratch_base: cfg
            .paths
            .scratch_base
            .as_ref()
            .map(|s| s.expand(&f.node, Some(f.job_id))),
        beeond: None,
        leftover: None,
    }
}

// ---- the record ---------------------------------------------------------------

const MAGIC: &str = "carme-node-job 1";

/// Largest record we read.
const MAX_RECORD: u64 = 1024 * 1024;

/// `job-<id>.node` in the state dir.
pub fn record_name(job: u32) -> String {
    format!("job-{job}.node")
}

/// The job id of a record's file name (`job-<id>.node`), if it is one.
pub fn record_job(name: &str) -> Option<u32> {
    let id = name
        .strip_prefix("job-")?
        .strip_suffix(".node")?
        .parse()
        .ok()?;
    (record_name(id) == name).then_some(id)
}

impl NodeJob {
    /// What tells this job from another with the same id.
    pub fn identity(&self) -> Identity {
        Identity {
            job_id: self.job_id,
            uid: self.uid,
            gid: self.gid,
            restart: self.restart,
        }
    }

    /// The record's text; Err (nothing written) for a value it could
    /// not give back byte for byte: one holding a line break or a
    /// carriage return, or a path that is not UTF-8. The epilog acts as
    /// root on these paths, so a changed value is never written.
    pub fn to_text(&self) -> Result<String, NodeError> {
        let mut s = String::new();
        let mut bad: Option<String> = None;
        let mut kv = |k: &str, v: &str| {
            if v.contains(['\n', '\r']) {
                bad.get_or_insert_with(|| format!("{k} holds a line break or is not UTF-8: {v:?}"));
            }
            let _ = writeln!(s, "{k}={v}");
        };
        let text = |p: &Path| {
            p.to_str()
                .map(str::to_string)
                .unwrap_or_else(|| "\n".into())
        };
        kv("job_id", &self.job_id.to_string());
        kv("restart", &self.restart.to_string());
        kv("uid", &self.uid.to_string());
        kv("gid", &self.gid.to_string());
        kv("node", &self.node);
        kv("tmp_base", &text(&self.tmp_base));
        if let Some(sb) = &self.scratch_base {
            kv("scratch_base", &text(sb));
        }
        if let Some(b) = &self.beeond {
            let st = &b.setup;
            kv("beeond_command", &text(&st.command));
            // Read back by splitting at ',': a name holding one would change.
            let nodes = st.nodes.join(",");
            kv(
                "beeond_nodes",
                if st.nodes.iter().any(|n| n.contains(',')) {
                    "\n"
                } else {
                    &nodes
                },
            );
            kv("beeond_nodefile", &text(&st.nodefile));
            kv("beeond_data_dir", &text(&st.data_dir));
            kv("beeond_mount_arg", &text(&st.mount));
            kv("beeond_status_file", &text(&st.status_file));
            kv("beeond_log_dir", &text(&st.log_dir));
            for a in &st.extra_start_args {
                kv("beeond_extra_start_arg", a);
            }
            kv("beeond_first", if b.first { "1" } else { "0" });
            kv("beeond_mount_base", &text(&b.mount_base));
            kv("beeond_mount", &text(&b.mount));
            kv(
                "beeond_start_timeout_ms",
                &b.start_timeout.as_millis().to_string(),
            );
            kv(
                "beeond_stop_timeout_ms",
                &b.stop_timeout.as_millis().to_string(),
            );
            kv(
                "beeond_wait_timeout_ms",
                &b.wait_timeout.as_millis().to_string(),
            );
        }
        if let Some(t) = &self.leftover {
            kv("leftover_tries", &t.tries.to_string());
            kv("leftover_fruitless", &t.fruitless.to_string());
        }
        match bad {
            Some(why) => Err(NodeError::Invalid(format!(
                "cannot record job {}: {why}",
                self.job_id
            ))),
            None => Ok(format!("{MAGIC}\n{s}")),
        }
    }

    /// The record `text`; Err (always [`NodeError::Invalid`]) says what is wrong with it.
    pub fn parse(text: &str) -> Result<NodeJob, NodeError> {
        let bad = NodeError::Invalid;
        // Split on '\n' only: `lines()` would drop a value's trailing '\r'.
        if text.contains('\r') {
            return Err(bad("a carriage return in the record".into()));
        }
        let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
        if lines.next() != Some(MAGIC) {
            return Err(bad("not a carme node-job record".into()));
        }
        let mut kv: Vec<(&str, &str)> = Vec::new();
        for line in lines {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| bad(format!("bad record line `{line}`")))?;
            kv.push((k, v));
        }
        let get = |k: &str| kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let need = |k: &str| get(k).ok_or_else(|| bad(format!("record lacks {k}")));
        let num = |k: &str| -> Result<u32, NodeError> {
            need(k)?.parse().map_err(|e| bad(format!("{k}: {e}")))
        };
        let ms = |k: &str| -> Result<Duration, NodeError> {
            Ok(Duration::from_millis(
                need(k)?.parse().map_err(|e| bad(format!("{k}: {e}")))?,
            ))
        };
        let path = |k: &str| need(k).map(PathBuf::from);
        for (k, _) in &kv {
            let known = [
                "job_id",
                "restart",
                "uid",
                "gid",
                "node",
                "tmp_base",
                "scratch_base",
                "leftover_tries",
                "leftover_fruitless",
            ]
            .contains(k)
                || k.starts_with("beeond_");
            if !known {
                return Err(bad(format!("unknown record key `{k}`")));
            }
        }
        let beeond = match get("beeond_command") {
            None => None,
            Some(command) => Some(BeeondNode {
                setup: BeeondSetup {
                    command: command.into(),
                    job_id: num("job_id")?,
                    nodes: need("beeond_nodes")?
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                    nodefile: path("beeond_nodefile")?,
                    data_dir: path("beeond_data_dir")?,
                    mount: path("beeond_mount_arg")?,
                    status_file: path("beeond_status_file")?,
                    log_dir: path("beeond_log_dir")?,
                    extra_start_args: kv
                        .iter()
                        .filter(|(k, _)| *k == "beeond_extra_start_arg")
                        .map(|(_, v)| v.to_string())
                        .collect(),
                },
                first: need("beeond_first")? == "1",
                mount_base: path("beeond_mount_base")?,
                mount: path("beeond_mount")?,
                start_timeout: ms("beeond_start_timeout_ms")?,
                stop_timeout: ms("beeond_stop_timeout_ms")?,
                wait_timeout: ms("beeond_wait_timeout_ms")?,
            }),
        };
        let job = NodeJob {
            job_id: num("job_id")?,
            restart: num("restart")?,
            uid: num("uid")?,
            gid: num("gid")?,
            node: need("node")?.to_string(),
            tmp_base: path("tmp_base")?,
            scratch_base: get("scratch_base").map(PathBuf::from),
            beeond,
            leftover: match get("leftover_tries") {
                None => None,
                Some(_) => Some(Tries {
                    tries: num("leftover_tries")?,
                    fruitless: num("leftover_fruitless")?,
                }),
            },
        };
        if let Some(b) = &job.beeond {
            b.setup.check().map_err(|e| bad(e.to_string()))?;
        }
        Ok(job)
    }
}

// ---- the record: a root-only file in the state directory ---------------------------

/// The node-job record of `job` in `state_dir`, if there is one.
pub fn read(state_dir: &Path, job: u32) -> Result<Option<NodeJob>, NodeError> {
    let path = state_dir.join(record_name(job));
    let Some(text) = crate::state::read_root_file(&path, MAX_RECORD)? else {
        return Ok(None);
    };
    checked(path, &text, job).map(Some)
}

/// The node-job record `text`, read from `path`, of job `job`.
pub(crate) fn checked(path: PathBuf, text: &str, job: u32) -> Result<NodeJob, NodeError> {
    let rec = match NodeJob::parse(text) {
        Ok(rec) => rec,
        Err(e) => {
            return Err(NodeError::Record {
                path,
                why: e.to_string(),
            });
        }
    };
    if rec.job_id != job {
        return Err(NodeError::WrongJob {
            path,
            job: rec.job_id,
        });
    }
    Ok(rec)
}

/// Record `job` in `state_dir`.
pub fn write(state_dir: &Path, job: &NodeJob) -> Result<(), NodeError> {
    crate::state::write_root_file(&state_dir.join(record_name(job.job_id)), &job.to_text()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"
[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
[paths]
state_dir = "/run/carme/%n"
tmp_base = "/var/tmp/carme/%n"
scratch_base = "/local/carme"
log_dir = "/var/log/carme"
[beeond]
command = "/usr/bin/beeond"
data_dir = "/local/beeond/%n"
mount_base = "/mnt/beeond/%n"
status_dir = "/run/carme/beeond"
start_timeout = "90s"
extra_start_args = ["-m", "2"]
"#;

    fn cfg(text: &str) -> Config {
        Config::parse(text, Path::new("/c.toml")).unwrap()
    }

    fn facts(node: &str, constraint: &str) -> JobFacts {
        JobFacts {
            job_id: 42,
            uid: 1000,
            gid: 100,
            node: node.into(),
            nodelist: Some("n[1-3]".into()),
            constraint: constraint.into(),
            restart: 0,
            beeond_option: false,
        }
    }

    /// Every value comes back byte for byte, or nothing is written: the
    /// epilog acts as root on these paths (issue 14, finding 6's kind).
    #[test]
    fn values_that_would_not_round_trip_are_refused() {
        let sample_job = || plan(&cfg(CFG), &facts("n1", "carme&beeond")).unwrap();
        let mut j = sample_job();
        j.tmp_base = PathBuf::from("/var/lib/carme/tmp\r");
        assert!(j.to_text().unwrap_err().to_string().contains("tmp_base"));
        j.tmp_base = PathBuf::from("/var/lib/carme/tmp\n/x");
        assert!(j.to_text().unwrap_err().to_string().contains("tmp_base"));
        let mut j = sample_job();
        j.beeond.as_mut().unwrap().setup.nodes.push("n9,n10".into());
        assert!(
            j.to_text()
                .unwrap_err()
                .to_string()
                .contains("beeond_nodes")
        );
        let ok = sample_job().to_text().unwrap();
        let with_cr = ok.replace("tmp_base=", "tmp_base=\r");
        assert!(NodeJob::parse(&with_cr).is_err());
        assert!(NodeJob::parse(&ok.replace('\n', "\r\n")).is_err());
        assert_eq!(NodeJob::parse(&ok).unwrap(), sample_job());
    }

    #[test]
    fn facts_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let f = JobFacts::from_env(env(&[
            ("SLURM_JOB_ID", "7"),
            ("SLURM_JOB_UID", "1002"),
            ("SLURM_JOB_GID", "1004"),
            ("SLURMD_NODENAME", "n2"),
            ("SLURM_NODELIST", "n[1-2]"),
            ("SLURM_JOB_CONSTRAINTS", "carme&beeond"),
            ("SLURM_JOB_RESTART_COUNT", "2"),
            ("SPANK_CARME_BEEOND", "1"),
        ]))
        .unwrap();
        assert_eq!(
            f,
            JobFacts {
                job_id: 7,
                uid: 1002,
                gid: 1004,
                node: "n2".into(),
                nodelist: Some("n[1-2]".into()),
                constraint: "carme&beeond".into(),
                restart: 2,
                beeond_option: true,
            }
        );
        // Slurm >= 23.02 names it SLURM_JOB_NODELIST; that one wins.
        let f = JobFacts::from_env(env(&[
            ("SLURM_JOB_ID", "7"),
            ("SLURM_JOB_UID", "1"),
            ("SLURM_JOB_GID", "1"),
            ("SLURMD_NODENAME", "n2"),
            ("SLURM_NODELIST", "old"),
            ("SLURM_JOB_NODELIST", "new"),
        ]))
        .unwrap();
        assert_eq!(f.nodelist.as_deref(), Some("new"));
        assert!(!f.beeond_option && f.restart == 0 && f.constraint.is_empty());
        assert!(JobFacts::from_env(env(&[("SLURM_JOB_ID", "7")])).is_err());
    }

    #[test]
    fn plain_carme_job_gets_its_directories() {
        let j = plan(&cfg(CFG), &facts("n2", "carme")).unwrap();
        assert_eq!(j.tmp_base, Path::new("/var/tmp/carme/n2"));
        assert_eq!(j.scratch_base.as_deref(), Some(Path::new("/local/carme")));
        assert_eq!(j.beeond, None);
    }

    #[test]
    fn beeond_paths_come_from_the_first_node() {
        for (node, first) in [("n1", true), ("n3", false)] {
            let j = plan(&cfg(CFG), &facts(node, "carme&beeond")).unwrap();
            let b = j.beeond.unwrap();
            assert_eq!(b.first, first);
            assert_eq!(b.setup.nodes, ["n1", "n2", "n3"]);
            assert_eq!(b.setup.data_dir, Path::new("/local/beeond/n1/42"));
            assert_eq!(b.setup.mount, Path::new("/mnt/beeond/n1/42"));
            assert_eq!(
                b.setup.status_file,
                Path::new("/run/carme/beeond/beeond-42.tmp")
            );
            assert_eq!(b.setup.log_dir, Path::new("/var/log/carme/beeond-42"));
            assert_eq!(
                b.setup.nodefile,
                PathBuf::from(format!("/run/carme/{node}/job-42.beeond-nodes"))
            );
            assert_eq!(b.setup.extra_start_args, ["-m", "2"]);
            // What this node looks at is its own.
            assert_eq!(b.mount, PathBuf::from(format!("/mnt/beeond/{node}/42")));
            assert_eq!(b.start_timeout, Duration::from_secs(90));
            assert_eq!(b.wait_timeout, Duration::from_secs(150));
        }
    }

    #[test]
    fn who_asks_for_beeond() {
        let c = cfg(CFG);
        assert!(!wants_beeond(&c, &facts("n1", "carme")));
        assert!(!wants_beeond(&c, &facts("n1", "carme&beeondx")));
        assert!(wants_beeond(&c, &facts("n1", "[carme&beeond|x]")));
        let mut f = facts("n1", "carme");
        f.beeond_option = true;
        assert!(wants_beeond(&c, &f));
        // The feature is the config's.
        let c2 = cfg(&CFG.replace("[beeond]\n", "[beeond]\nfeature = \"bgfs\"\n"));
        assert!(!wants_beeond(&c2, &facts("n1", "carme&beeond")));
        assert!(wants_beeond(&c2, &facts("n1", "carme&bgfs")));
    }

    #[test]
    fn plan_errors() {
        let no_beeond = CFG.split("[beeond]").next().unwrap();
        assert_eq!(
            plan(&cfg(no_beeond), &facts("n1", "carme&beeond")),
            Err(PlanError::BeeondNotConfigured)
        );
        let mut f = facts("n1", "carme&beeond");
        f.nodelist = None;
        assert_eq!(plan(&cfg(CFG), &f), Err(PlanError::NoNodelist));
        f.nodelist = Some("n[1-".into());
        assert!(matches!(plan(&cfg(CFG), &f), Err(PlanError::Hostlist(_))));
        f.nodelist = Some("n[2-3]".into());
        assert!(matches!(
            plan(&cfg(CFG), &f),
            Err(PlanError::NotInNodelist { .. })
        ));
        let e = PlanError::BeeondNotConfigured.to_string();
        assert!(e.contains("[beeond]"), "{e}");
    }

    #[test]
    fn record_round_trip() {
        for (node, constraint) in [
            ("n1", "carme&beeond"),
            ("n2", "carme&beeond"),
            ("n1", "carme"),
        ] {
            let j = plan(&cfg(CFG), &facts(node, constraint)).unwrap();
            assert_eq!(NodeJob::parse(&j.to_text().unwrap()).unwrap(), j);
        }
        let j = plan(
            &cfg(CFG
                .replace("scratch_base = \"/local/carme\"\n", "")
                .as_str()),
            &facts("n1", "carme"),
        )
        .unwrap();
        assert_eq!(NodeJob::parse(&j.to_text().unwrap()).unwrap(), j);
        // An ended job's record with leftovers.
        let mut j = plan(&cfg(CFG), &facts("n1", "carme")).unwrap();
        j.leftover = Some(Tries {
            tries: 4,
            fruitless: 2,
        });
        assert_eq!(NodeJob::parse(&j.to_text().unwrap()).unwrap(), j);
        assert!(
            NodeJob::parse(&j.to_text().unwrap().replace("leftover_fruitless=2\n", "")).is_err(),
            "half a leftover"
        );
        for (name, id) in [
            ("job-42.node", Some(42)),
            ("job-0.node", Some(0)),
            ("job-+42.node", None),
            ("job-042.node", None),
            ("job-42.node.tmp", None),
            (".job-42.node.tmp", None),
            ("job-42", None),
            ("job-42.limits", None),
            ("job-x.node", None),
        ] {
            assert_eq!(record_job(name), id, "{name}");
        }
        for bad in [
            "",
            "carme-node-job 2\njob_id=1\n",
            "carme-node-job 1\njob_id=1\nrestart=0\nuid=0\ngid=0\nnode=n\n",
            "carme-node-job 1\njob_id=1\nrestart=0\nuid=0\ngid=0\nnode=n\ntmp_base=/t\nx=1\n",
            "carme-node-job 1\njob_id=1\nrestart=0\nuid=0\ngid=0\nnode=n\ntmp_base=/t\nbeeond_command=/b\n",
        ] {
            assert!(NodeJob::parse(bad).is_err(), "{bad:?}");
        }
    }
}
