//! The two questions the prolog and epilog may put to slurmctld, each only
//! on a failure path (Slurm advises against prologs calling Slurm commands
//! routinely): "is this job still starting?" and "drain this node, with
//! this reason".
//!
//! Both run `scontrol` (found next to the running slurmd, else in the usual
//! places; the prolog's environment has no PATH) under [`TIMEOUT`] with
//! slurmd's `SLURM_CONF`, through [`crate::bounded`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bounded;
use crate::error::NodeError;

/// Bound on one scontrol call.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Where scontrol is: `<prefix>/bin/scontrol` for the slurmd that runs us
/// at `<prefix>/sbin/slurmd`, else /usr/bin, /usr/local/bin, /opt/slurm/bin.
pub fn scontrol_path() -> Option<PathBuf> {
    let parent = nix::unistd::getppid();
    let beside_slurmd = std::fs::read_link(format!("/proc/{parent}/exe"))
        .ok()
        .filter(|exe| exe.file_name().is_some_and(|n| n == "slurmd"))
        .and_then(|exe| Some(exe.parent()?.parent()?.join("bin/scontrol")));
    beside_slurmd
        .into_iter()
        .chain(
            ["/usr/bin", "/usr/local/bin", "/opt/slurm/bin"]
                .iter()
                .map(|d| Path::new(d).join("scontrol")),
        )
        .find(|p| p.is_file())
}

/// What slurmctld says about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// `JobState=` (RUNNING, PENDING, COMPLETING, ...).
    pub state: String,
    /// `Restarts=`: how often it was requeued.
    pub restarts: u32,
}

impl JobState {
    /// Whether the job is still starting or running the attempt that
    /// `restart` (our `SLURM_JOB_RESTART_COUNT`) names.
    pub fn is_attempt(&self, restart: u32) -> bool {
        matches!(self.state.as_str(), "RUNNING" | "CONFIGURING") && self.restarts == restart
    }
}

/// Parse `scontrol show job -o ID` output.
pub fn parse_job_state(text: &str) -> Result<JobState, NodeError> {
    let field = |key: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_string)
    };
    let state = field("JobState=").ok_or_else(|| {
        NodeError::Invalid(format!(
            "no JobState in scontrol's answer: {}",
            text.trim().chars().take(200).collect::<String>()
        ))
    })?;
    let restarts = field("Restarts=").and_then(|r| r.parse().ok()).unwrap_or(0);
    Ok(JobState { state, restarts })
}

/// Run `scontrol ARGS` under [`TIMEOUT`] with our `SLURM_CONF`; how it
/// ended, or why it could not be started.
pub fn run_scontrol(args: &[&str], capture_dir: &Path) -> Result<bounded::Ran, NodeError> {
    let path = scontrol_path().ok_or(NodeError::ScontrolMissing)?;
    let mut argv: Vec<OsString> = vec![path.into()];
    argv.extend(args.iter().map(OsString::from));
    let conf = std::env::var("SLURM_CONF").ok();
    let extra: Vec<(&str, &str)> = conf.iter().map(|c| ("SLURM_CONF", c.as_str())).collect();
    Ok(bounded::run(
        &argv,
        &bounded::tool_env(&extra),
        TIMEOUT,
        capture_dir,
    ))
}

/// `scontrol ARGS`' output, or why it failed.
pub fn scontrol(args: &[&str], capture_dir: &Path) -> Result<String, NodeError> {
    let ran = run_scontrol(args, capture_dir)?;
    if ran.ok() {
        Ok(ran.output)
    } else {
        Err(NodeError::Scontrol {
            args: args.join(" "),
            reason: ran.reason_line(),
            exit: ran.exit,
        })
    }
}

/// Ask slurmctld about `job`.
pub fn job_state(job: u32, capture_dir: &Path) -> Result<JobState, NodeError> {
    parse_job_state(&scontrol(
        &["show", "job", "-o", &job.to_string()],
        capture_dir,
    )?)
}

/// Drain `node` with `reason` (Slurm keeps a drained node's reason when a
/// failed prolog or epilog drains it again, so admins see ours).
pub fn drain(node: &str, reason: &str, capture_dir: &Path) -> Result<(), NodeError> {
    let reason = format!("Reason={}", reason.replace(['\n', '"'], " "));
    let node = format!("NodeName={node}");
    scontrol(&["update", &node, "State=DRAIN", &reason], capture_dir).map(|_| ())
}

/// Of `nodes`, those whose available features lack `feature` (one
/// `scontrol show node` call for all of them).
pub fn nodes_without_feature(
    nodes: &[String],
    feature: &str,
    capture_dir: &Path,
) -> Result<Vec<String>, NodeError> {
    let text = scontrol(&["show", "node", "-o", &nodes.join(",")], capture_dir)?;
    let known = parse_node_features(&text);
    Ok(nodes
        .iter()
        .filter(|n| {
            !known
                .iter()
                .any(|(name, feats)| name == *n && feats.iter().any(|f| f == feature))
        })
        .cloned()
        .collect())
}

/// `scontrol show node -o` lines as (NodeName, AvailableFeatures).
pub fn parse_node_features(text: &str) -> Vec<(String, Vec<String>)> {
    carme_core::slurminfo::parse_nodes(text)
        .into_iter()
        .map(|n| (n.name, n.available_features))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_node_features() {
        let text = "NodeName=n1 Arch=x86_64 CoresPerSocket=1 AvailableFeatures=carme,beeond \
                    ActiveFeatures=carme,beeond Gres=gpu:4\n\
                    NodeName=n3 Arch=x86_64 AvailableFeatures=(null) ActiveFeatures=(null)\n";
        assert_eq!(
            parse_node_features(text),
            [
                (
                    "n1".to_string(),
                    vec!["carme".to_string(), "beeond".to_string()]
                ),
                ("n3".to_string(), vec![])
            ]
        );
    }

    #[test]
    fn reads_scontrol_show_job() {
        let text = "JobId=7 JobName=wrap UserId=u(1002) JobState=PENDING Reason=launch_failed_requeued_held \
                    Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1\n";
        let s = parse_job_state(text).unwrap();
        assert_eq!(
            s,
            JobState {
                state: "PENDING".into(),
                restarts: 1
            }
        );
        assert!(!s.is_attempt(1));
        let running = parse_job_state("JobId=7 JobState=RUNNING Restarts=0").unwrap();
        assert!(running.is_attempt(0));
        assert!(!running.is_attempt(1), "a later attempt is not ours");
        let conf = parse_job_state("JobState=CONFIGURING").unwrap();
        assert!(conf.is_attempt(0));
        let e = parse_job_state("slurm_load_jobs error: Invalid job id specified").unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Invalid);
    }
}
