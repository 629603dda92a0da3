//! Carme's limits on top of Slurm's: which images a user may run, how many
//! GPUs and nodes a job may have, how many Carme jobs a user may run at
//! once, and the longest time limit.
//!
//! Per key, the first level that sets it decides: the user's rule, then the
//! job's account, then the user's groups (the most generous of those that
//! set the key), then the default. A key no level sets is not limited.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::Config;
use crate::glob::Glob;
use crate::refusal::Refusal;
use crate::slurmtime;

/// One rule: `[limits.default]`, `[limits.users.NAME]`, ...
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitSet {
    pub images: Option<Vec<Glob>>,
    pub max_gpus_per_job: Option<u32>,
    pub max_gpus_per_node: Option<u32>,
    pub max_nodes_per_job: Option<u32>,
    pub max_running_jobs: Option<u32>,
    /// `Some(None)`: explicitly unlimited (overrides lower levels).
    pub max_time: Option<slurmtime::Limit>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub default: LimitSet,
    pub users: BTreeMap<String, LimitSet>,
    pub groups: BTreeMap<String, LimitSet>,
    pub accounts: BTreeMap<String, LimitSet>,
}

/// Whose job it is. The account may be unknown early (srun, sbatch without
/// `--account`: Slurm then uses the user's default account).
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub account: Account<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account<'a> {
    Known(Option<&'a str>),
    Unknown,
}

/// Where an effective limit comes from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    User(String),
    Account(String),
    Groups(Vec<String>),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::User(u) => write!(f, "user {u}"),
            Source::Account(a) => write!(f, "account {a}"),
            Source::Groups(g) if g.len() == 1 => write!(f, "group {}", g[0]),
            Source::Groups(g) => write!(f, "groups {}", g.join(", ")),
            Source::Default => f.write_str("the default limits"),
        }
    }
}

/// An effective limit on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<T> {
    /// No level sets the key.
    NoLimit,
    Limit {
        value: T,
        source: Source,
    },
    /// An account rule sets the key but the job's account is not known yet.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub images: Resolved<Vec<Glob>>,
    pub max_gpus_per_job: Resolved<u32>,
    pub max_gpus_per_node: Resolved<u32>,
    pub max_nodes_per_job: Resolved<u32>,
    pub max_running_jobs: Resolved<u32>,
    /// `value: None` would mean unlimited; such a key resolves to NoLimit.
    pub max_time: Resolved<u64>,
}

impl Effective {
    /// True when checking needs facts only slurmctld has (the running jobs
    /// or the job's time limit), so callers ask it only then.
    pub fn needs_controller(&self) -> bool {
        !matches!(self.max_running_jobs, Resolved::NoLimit)
            || !matches!(self.max_time, Resolved::NoLimit)
    }

    /// Whether these limits let a job run `image`: None where they depend
    /// on the job's account, which is not known yet.
    pub fn image_allowed(&self, image: &str) -> Option<bool> {
        match &self.images {
            Resolved::Limit { value, .. } => Some(value.iter().any(|g| g.matches(image))),
            Resolved::NoLimit => Some(true),
            Resolved::Unknown => None,
        }
    }
}

/// Resolve one key through the levels. `pick` reads the key from a rule,
/// `generous` merges two group values into the more generous one.
fn resolve<T: Clone + PartialEq>(
    limits: &Limits,
    who: &Who,
    pick: impl Fn(&LimitSet) -> Option<T>,
    generous: impl Fn(&T, &T) -> T,
) -> Resolved<Option<T>> {
    if let Some(v) = limits.users.get(who.user).and_then(&pick) {
        return Resolved::Limit {
            value: Some(v),
            source: Source::User(who.user.to_string()),
        };
    }
    match who.account {
        Account::Known(Some(a)) => {
            if let Some(v) = limits.accounts.get(a).and_then(&pick) {
                return Resolved::Limit {
                    value: Some(v),
                    source: Source::Account(a.to_string()),
                };
            }
        }
        Account::Known(None) => {}
        Account::Unknown => {
            if limits.accounts.values().any(|r| pick(r).is_some()) {
                return Resolved::Unknown;
            }
        }
    }
    let mut best: Option<(T, Vec<String>)> = None;
    for g in who.groups {
        let Some(v) = limits.groups.get(g).and_then(&pick) else {
            continue;
        };
        best = Some(match best {
            None => (v, vec![g.clone()]),
            Some((b, mut names)) => {
                let merged = generous(&b, &v);
                if merged == b && merged == v {
                    names.push(g.clone());
                    (b, names)
                } else if merged == b {
                    (b, names)
                } else if merged == v {
                    (v, vec![g.clone()])
                } else {
                    names.push(g.clone());
                    (merged, names)
                }
            }
        });
    }
    if let Some((value, names)) = best {
        return Resolved::Limit {
            value: Some(value),
            source: Source::Groups(names),
        };
    }
    match pick(&limits.default) {
        Some(v) => Resolved::Limit {
            value: Some(v),
            source: Source::Default,
        },
        None => Resolved::NoLimit,
    }
}

fn flatten<T>(r: Resolved<Option<T>>) -> Resolved<T> {
    match r {
        Resolved::Limit {
            value: Some(value),
            source,
        } => Resolved::Limit { value, source },
        Resolved::Limit { value: None, .. } | Resolved::NoLimit => Resolved::NoLimit,
        Resolved::Unknown => Resolved::Unknown,
    }
}

pub fn effective(limits: &Limits, who: &Who) -> Effective {
    let max = |a: &u32, b: &u32| *a.max(b);
    Effective {
        images: flatten(resolve(
            limits,
            who,
            |r| r.images.clone(),
            |a, b| {
                // A union: any group allowing an image allows it.
                let mut u = a.clone();
                u.extend(b.iter().filter(|g| !a.contains(g)).cloned());
                u
            },
        )),
        max_gpus_per_job: flatten(resolve(limits, who, |r| r.max_gpus_per_job, max)),
        max_gpus_per_node: flatten(resolve(limits, who, |r| r.max_gpus_per_node, max)),
        max_nodes_per_job: flatten(resolve(limits, who, |r| r.max_nodes_per_job, max)),
        max_running_jobs: flatten(resolve(limits, who, |r| r.max_running_jobs, max)),
        max_time: flatten(
            match resolve(
                limits,
                who,
                |r| r.max_time,
                |a, b| match (a, b) {
                    (None, _) | (_, None) => None,
                    (Some(x), Some(y)) => Some(*x.max(y)),
                },
            ) {
                // Some(None) at the deciding level: explicitly unlimited.
                Resolved::Limit {
                    value: Some(None), ..
                } => Resolved::NoLimit,
                Resolved::Limit {
                    value: Some(Some(m)),
                    source,
                } => Resolved::Limit {
                    value: Some(m),
                    source,
                },
                Resolved::Limit { value: None, .. } | Resolved::NoLimit => Resolved::NoLimit,
                Resolved::Unknown => Resolved::Unknown,
            },
        ),
    }
}

/// What a job asks for; `None` where the caller does not know (the check
/// for that key is then skipped, to be done where it is known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ask<'a> {
    pub image: Option<&'a str>,
    /// GPU counts are `u64`: a sum or product of the user's counts that
    /// passes `u32` must still read as over the limit, not wrap.
    pub gpus_per_job: Option<u64>,
    pub gpus_per_node: Option<u64>,
    pub nodes: Option<u32>,
    /// The job's time limit: `Some(None)` = no time limit.
    pub time: Option<slurmtime::Limit>,
    /// The user's other Carme jobs that count against max_running_jobs.
    pub running_jobs: Option<u32>,
}

/// Check `ask` against the limits; a refusal names every limit exceeded,
/// its source, the value asked and what to ask for instead.
pub fn check(cfg: &Config, eff: &Effective, ask: &Ask) -> Result<(), Refusal> {
    let mut why: Vec<String> = Vec::new();
    if let (Some(image), Resolved::Limit { source, .. }) = (ask.image, &eff.images)
        && eff.image_allowed(image) == Some(false)
    {
        let allowed: Vec<&str> = cfg
            .images
            .keys()
            .filter(|n| eff.image_allowed(n) == Some(true))
            .map(String::as_str)
            .collect();
        why.push(format!(
            "image '{image}' is not allowed for you by {source} (allowed: {}). Choose \
             one of those with --carme-image=NAME.",
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        ));
    }
    let mut over =
        |asked: Option<u64>, limit: &Resolved<u32>, what: &str, fix: &dyn Fn(u32) -> String| {
            if let (Some(a), Resolved::Limit { value, source }) = (asked, limit)
                && a > u64::from(*value)
            {
                why.push(format!(
                    "you asked for {a} {what}, but the limit for {source} is {value}. {}",
                    fix(*value)
                ));
            }
        };
    over(
        ask.gpus_per_job,
        &eff.max_gpus_per_job,
        "GPUs per job",
        &|v| {
            format!(
                "Ask for at most {v} GPU{} in all: --gpus={v}, or fewer nodes/GPUs per node.",
                plural(v)
            )
        },
    );
    over(
        ask.gpus_per_node,
        &eff.max_gpus_per_node,
        "GPUs per node",
        &|v| {
            format!(
                "Ask for at most {v} GPU{} per node: --gres=gpu:{v}.",
                plural(v)
            )
        },
    );
    over(
        ask.nodes.map(u64::from),
        &eff.max_nodes_per_job,
        "nodes",
        &|v| format!("Ask for at most {v} node{}: --nodes={v}.", plural(v)),
    );
    if let (Some(n), Resolved::Limit { value, source }) = (ask.running_jobs, &eff.max_running_jobs)
        && n >= *value
    {
        why.push(format!(
            "you already run {n} Carme job{} and the limit for {source} is {value}. Wait \
             for one to end or cancel one (squeue --me; scancel JOBID), then submit again.",
            plural(n)
        ));
    }
    if let (Some(t), Resolved::Limit { value, source }) = (ask.time, &eff.max_time) {
        let too_long = match t {
            None => true,
            Some(m) => m > *value,
        };
        if too_long {
            let limit = slurmtime::format(Some(*value));
            why.push(format!(
                "the job's time limit is {} (from --time, or the partition's default), but \
                 the limit for {source} is {limit}. Ask for at most that: --time={limit}.",
                slurmtime::format(t)
            ));
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(Refusal::new(format!(
            "this Carme job is over its limits: {}",
            why.join(" Also: ")
        )))
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests;

/// What a client's options ask for, as far as they say (anything that
/// depends on what the scheduler decides stays unknown). Numbers are the
/// user's: counts are added and multiplied in `u64` with checked
/// arithmetic, and a count that cannot be read exactly (too large, a
/// suffix such as `1k`) leaves the key unknown, so the early check is
/// never fooled by a wrapped value.
pub fn ask_of_request(req: &crate::client_args::ClientRequest) -> Ask<'static> {
    use crate::client_args::Knowledge;
    // "2" or "1-3": the job may get the maximum, and has at least the
    // minimum (one node when -N is not given).
    let (nodes, min_nodes) = match &req.nodes {
        Knowledge::Given(n) => (
            n.rsplit('-').next().and_then(|m| m.parse().ok()),
            n.split('-').next().and_then(|m| m.parse::<u32>().ok()),
        ),
        Knowledge::Absent => (None, Some(1)),
        Knowledge::Unknown => (None, None),
    };
    let mut gpus_per_node = None;
    let mut gpus_per_job = None;
    if !req.gpu_requests_unknown {
        for (opt, value) in &req.gpu_requests {
            match opt.as_str() {
                "gres" => gpus_per_node = gres_gpus(value),
                "gpus-per-node" => gpus_per_node = count_after_type(value),
                "gpus" => gpus_per_job = count_after_type(value),
                _ => {}
            }
        }
        // At least this many: enough to refuse a request that is over
        // for sure, never one that might fit.
        if let (None, Some(per_node), Some(n)) = (gpus_per_job, gpus_per_node, min_nodes) {
            gpus_per_job = per_node.checked_mul(u64::from(n));
        }
    }
    let time = match &req.time {
        Knowledge::Given(t) => slurmtime::parse_request(t),
        _ => None,
    };
    Ask {
        image: None,
        gpus_per_job,
        gpus_per_node,
        nodes,
        time,
        running_jobs: None,
    }
}

/// GPUs per node in a `--gres` value: `gpu`, `gpu:2`, `gpu:a100:2`
/// (comma-separated with other GRES); `None` when unsure.
fn gres_gpus(value: &str) -> Option<u64> {
    let mut total: Option<u64> = None;
    for item in value.split(',') {
        let item = item.strip_prefix("gres/").unwrap_or(item);
        let mut parts = item.split(':');
        if parts.next() != Some("gpu") {
            continue;
        }
        let rest: Vec<&str> = parts.collect();
        let n = match rest.as_slice() {
            [] => 1,
            // A count (Slurm reads a leading digit as one, suffixes
            // included), else a TYPE, which is one GPU.
            [x] if x.starts_with(|c: char| c.is_ascii_digit()) => count(x)?,
            [_] => 1,
            [_, n] => count(n)?,
            _ => return None,
        };
        total = Some(total.unwrap_or(0).checked_add(n)?);
    }
    total
}

/// A plain decimal count; `None` for anything else (suffixes, signs,
/// values past `u64`), which the caller treats as unknown.
fn count(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `N` or `TYPE:N` (as `--gpus`, `--gpus-per-node` take).
fn count_after_type(value: &str) -> Option<u64> {
    count(value.rsplit(':').next()?)
}

/// What a running job has, from slurmctld's record.
pub fn ask_of_job(job: &crate::slurmjob::JobInfo) -> Ask<'static> {
    Ask {
        image: None,
        gpus_per_job: Some(u64::from(job.gpus_total())),
        gpus_per_node: Some(u64::from(job.gpus_per_node_max())),
        nodes: Some(job.num_nodes),
        time: Some(job.time_limit),
        running_jobs: None,
    }
}

#[cfg(test)]
mod ask_tests;
