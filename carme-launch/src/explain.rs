//! `carme-launch explain` (what a job in an image would get) and
//! `carme-launch images` (the images a user may use), as text for people
//! and as JSON (`--json`, format version 1, see docs/images.md) for
//! scripts. Both read the config with the rules of the user they are about.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};

use carme_core::Refusal;
use carme_core::config::{Config, Image, MountMode, RuntimeKind, Scope};
use carme_core::driver::{self, Check};
use carme_core::launch::{
    self, EnvSource, FORWARD_NAMES, FORWARD_PREFIXES, LaunchPlan, Mode, MountOrigin, WorkdirSource,
};
use carme_core::limits::{self, Account, Effective, Resolved, Who};
use carme_core::slurmtime;
use carme_core::text::escape_controls;

use carme_node::taskplan::{self, NvmlStatus};

use crate::debug::debug;
use crate::facts::{Person, Task};

/// The JSON format's version: bumped only for changes that break readers.
pub const JSON_VERSION: u32 = 1;

/// A failure to explain at all (exit 1).
fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("carme: {}", escape_controls(&message.to_string()));
    ExitCode::FAILURE
}

/// The config as `person`'s jobs would see it. One that root would refuse
/// (others may write it) is still shown, after a warning: its jobs are
/// refused until an admin fixes it.
fn load_for(config: &Path, person: &Person) -> Result<Config, String> {
    if let Some(e) = carme_node::configfile::trust_problem(config) {
        eprintln!("carme: warning: Carme jobs refuse this config: {e}");
    }
    let scope = Scope {
        user: &person.name,
        groups: &person.groups,
    };
    Config::load_scoped(config, Some(&scope))
        .map_err(|e| format!("the Carme config is broken ({e}). Please tell your cluster admins."))
}

// ---- images ------------------------------------------------------------------

#[derive(Serialize)]
struct ImagesJson {
    version: u32,
    config: String,
    user: String,
    groups: Vec<String>,
    default_image: Option<String>,
    /// Where the `images` limit that applies comes from; null: no limit.
    limited_by: Option<String>,
    /// The `images` limit depends on the job's account (`--account`).
    depends_on_account: bool,
    images: Vec<ImageEntry>,
}

#[derive(Serialize)]
struct ImageEntry {
    name: String,
    description: String,
    default: bool,
    runtime: String,
    gpu: bool,
    cuda: Option<String>,
    variants: Vec<String>,
}

pub fn images(config: &Path, user: Option<&str>, account: Option<&str>, json: bool) -> ExitCode {
    let person = match Person::lookup(user) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let cfg = match load_for(config, &person) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let eff = effective(&cfg, &person, account);
    let (limited_by, depends_on_account) = match &eff.images {
        Resolved::Limit { source, .. } => (Some(source.to_string()), false),
        Resolved::NoLimit => (None, false),
        Resolved::Unknown => (None, true),
    };
    let list: Vec<&Image> = cfg
        .images
        .values()
        .filter(|img| eff.image_allowed(&img.name) != Some(false))
        .collect();
    let default = cfg.gate.default_image.as_deref();
    if json {
        let out = ImagesJson {
            version: JSON_VERSION,
            config: config.display().to_string(),
            user: person.name.clone(),
            groups: person.groups.clone(),
            default_image: default.map(str::to_string),
            limited_by,
            depends_on_account,
            images: list
                .iter()
                .map(|img| ImageEntry {
                    name: img.name.clone(),
                    description: img.description.clone(),
                    default: Some(img.name.as_str()) == default,
                    runtime: launch::runtime_of(&cfg, img).0.to_string(),
                    gpu: img.gpu,
                    cuda: img.cuda.map(|c| c.to_string()),
                    variants: img.variants.clone(),
                })
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
        return ExitCode::SUCCESS;
    }
    let who = if user.is_some() {
        format!("{} may use", person.name)
    } else {
        "you may use".to_string()
    };
    if list.is_empty() {
        println!(
            "carme: there are no images {who} on this cluster ({}). Please ask your \
             cluster admins.",
            config.display()
        );
        return ExitCode::SUCCESS;
    }
    println!("Images {who} (--carme-image=NAME):");
    let width = list.iter().map(|i| i.name.len()).max().unwrap_or(0);
    for img in &list {
        let mut extra = Vec::new();
        if Some(img.name.as_str()) == default {
            extra.push("default".to_string());
        }
        if let Some(c) = img.cuda {
            extra.push(format!("CUDA {c}"));
        }
        if img.gpu {
            extra.push("GPU".to_string());
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(" [{}]", extra.join(", "))
        };
        println!("  {:width$}  {}{extra}", img.name, img.description);
    }
    if depends_on_account {
        println!(
            "Which images you may use also depends on the job's account; see \
             `carme-launch images --account NAME`."
        );
    }
    println!(
        "Run one: srun --constraint={} --carme-image=NAME COMMAND",
        cfg.gate.feature
    );
    ExitCode::SUCCESS
}

fn effective(cfg: &Config, person: &Person, account: Option<&str>) -> Effective {
    limits::effective(
        &cfg.limits,
        &Who {
            user: &person.name,
            groups: &person.groups,
            account: match account {
                Some(a) => Account::Known(Some(a)),
                None => Account::Unknown,
            },
        },
    )
}

// ---- explain -----------------------------------------------------------------

pub struct ExplainArgs<'a> {
    pub config: &'a Path,
    pub image: &'a str,
    pub user: Option<&'a str>,
    pub account: Option<&'a str>,
    pub cmd: &'a [OsString],
    pub json: bool,
}

/// Everything explain found, before rendering.
struct Explained<'a> {
    cfg: &'a Config,
    person: &'a Person,
    account: Option<&'a str>,
    node: String,
    requested: &'a Image,
    runs: &'a Image,
    eff: Effective,
    nvml: NvmlStatus,
    check: Result<Check, Refusal>,
    plan: LaunchPlan,
    refusals: Vec<String>,
}

pub fn explain(a: &ExplainArgs) -> ExitCode {
    let person = match Person::lookup(a.user) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let cfg = match load_for(a.config, &person) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let Some(requested) = cfg.images.get(a.image) else {
        eprintln!("{}", Refusal::unknown_image(a.image, &cfg).message());
        return ExitCode::FAILURE;
    };
    let task = Task::current();
    let eff = effective(&cfg, &person, a.account);
    let mut refusals = Vec::new();
    if let Err(r) = limits::check(
        &cfg,
        &eff,
        &limits::Ask {
            image: Some(a.image),
            ..Default::default()
        },
    ) {
        refusals.push(r.message().to_string());
    }
    let (driver_facts, nvml) =
        taskplan::driver_for(&cfg, requested, &carme_node::nvml::probe_cached, &mut |m| {
            debug(m)
        });
    let choice = driver::choose(&cfg, requested, &driver_facts, &task.node);
    let (runs, check) = match choice {
        Ok(c) => (c.image, Ok(c.check)),
        Err(r) => {
            refusals.push(r.message().to_string());
            (requested, Err(r))
        }
    };
    let placeholder: Vec<OsString> = vec!["<command>".into()];
    let cmd = if a.cmd.is_empty() {
        &placeholder
    } else {
        a.cmd
    };
    let facts = task.facts();
    let plan = launch::plan(&cfg, runs, &facts, cmd, Mode::Explain);
    if let Some(r) = plan.refusal(&task.node) {
        refusals.push(r.message().to_string());
    }
    let e = Explained {
        cfg: &cfg,
        person: &person,
        account: a.account,
        node: task.node.clone(),
        requested,
        runs,
        eff,
        nvml,
        check,
        plan,
        refusals,
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&explain_json(a.config, &e)).expect("JSON")
        );
    } else {
        print!("{}", explain_text(a.config, &e));
    }
    ExitCode::SUCCESS
}

fn lossy(s: &std::ffi::OsStr) -> String {
    s.to_string_lossy().into_owned()
}

fn mode_str(m: MountMode) -> &'static str {
    match m {
        MountMode::Rw => "rw",
        MountMode::Ro => "ro",
    }
}

fn origin_str(o: MountOrigin) -> &'static str {
    match o {
        MountOrigin::Global => "global",
        MountOrigin::Image => "image",
        MountOrigin::Step => "step",
    }
}

fn forwarded_via(kind: RuntimeKind) -> &'static str {
    match launch::env_prefix(kind) {
        Some(p) => p,
        None => "host environment",
    }
}

fn limit_json<T>(r: &Resolved<T>, value: impl Fn(&T) -> Value) -> Value {
    match r {
        Resolved::NoLimit => json!({"state": "none", "value": null, "source": null}),
        Resolved::Unknown => {
            json!({"state": "depends_on_account", "value": null, "source": null})
        }
        Resolved::Limit { value: v, source } => {
            json!({"state": "limit", "value": value(v), "source": source.to_string()})
        }
    }
}

fn limits_json(eff: &Effective) -> Value {
    let num = |v: &u32| json!(v);
    json!({
        "images": limit_json(&eff.images, |g| {
            json!(g.iter().map(|g| g.as_str()).collect::<Vec<_>>())
        }),
        "max_gpus_per_job": limit_json(&eff.max_gpus_per_job, num),
        "max_gpus_per_node": limit_json(&eff.max_gpus_per_node, num),
        "max_nodes_per_job": limit_json(&eff.max_nodes_per_job, num),
        "max_running_jobs": limit_json(&eff.max_running_jobs, num),
        "max_time": limit_json(&eff.max_time, |m| json!(slurmtime::format(Some(*m)))),
    })
}

fn check_json(e: &Explained) -> Value {
    let image_cuda = e.requested.cuda.map(|c| c.to_string());
    let (state, driver_cuda, message) = match &e.check {
        Ok(Check::NotNeeded) => ("not_needed", None, None),
        Ok(Check::Skipped { why, .. }) => ("skipped", None, Some(why.clone())),
        Ok(Check::Passed { driver, .. }) => ("passed", Some(driver.to_string()), None),
        Ok(Check::Variant { driver, .. }) => (
            "variant",
            Some(driver.to_string()),
            driver::Choice {
                requested: e.requested,
                image: e.runs,
                check: e.check.clone().expect("ok"),
            }
            .variant_note(&e.node),
        ),
        Err(r) => (
            "refused",
            match &e.nvml {
                NvmlStatus::Loaded { cuda, .. } => Some(cuda.to_string()),
                _ => None,
            },
            Some(r.message().to_string()),
        ),
    };
    let nvml = match &e.nvml {
        NvmlStatus::NotProbed => json!({"status": "not_probed", "detail": null, "gpus": null}),
        NvmlStatus::Loaded { gpus, .. } => {
            json!({"status": "loaded", "detail": null, "gpus": gpus})
        }
        NvmlStatus::NotLoaded(d) => json!({"status": "not_loaded", "detail": d, "gpus": null}),
        NvmlStatus::Failed(d) => json!({"status": "failed", "detail": d, "gpus": null}),
    };
    json!({
        "check": state,
        "image_cuda": image_cuda,
        "driver_cuda": driver_cuda,
        "runs": e.runs.name,
        "message": message,
        "nvml_library": e.cfg.gpu.nvml.display().to_string(),
        "nvml": nvml,
    })
}

fn explain_json(config: &Path, e: &Explained) -> Value {
    let p = &e.plan;
    let (kind, program) = launch::runtime_of(e.cfg, e.runs);
    let access = match (e.eff.image_allowed(&e.requested.name), &e.eff.images) {
        (allowed, Resolved::Limit { source, .. }) => {
            json!({"allowed": allowed, "source": source.to_string()})
        }
        (allowed, _) => json!({"allowed": allowed, "source": null}),
    };
    json!({
        "version": JSON_VERSION,
        "config": config.display().to_string(),
        "node": e.node,
        "user": {"name": e.person.name, "groups": e.person.groups},
        "account": e.account,
        "image": {
            "requested": e.requested.name,
            "runs": e.runs.name,
            "path": e.runs.path.display().to_string(),
            "description": e.runs.description,
            "runtime": kind.to_string(),
            "runtime_path": program.display().to_string(),
            "gpu": e.runs.gpu,
            "cuda": e.runs.cuda.map(|c| c.to_string()),
            "variants": e.requested.variants,
            "runtime_args": e.runs.runtime_args,
        },
        "access": access,
        "driver": check_json(e),
        "gpus": {
            "runtime_flag": (e.runs.gpu && kind != RuntimeKind::Charliecloud).then_some("--nv"),
            "hide_unallocated": e.cfg.gpu.hide_unallocated,
            "device_dir": e.cfg.gpu.device_dir.as_str(),
        },
        "mounts": p.mounts.iter().map(|m| json!({
            "source": m.source.display().to_string(),
            "target": m.target.display().to_string(),
            "mode": mode_str(m.mode),
            "read_only_enforced": m.mode == MountMode::Ro && kind != RuntimeKind::Charliecloud,
            "optional": m.optional,
            "origin": origin_str(m.origin),
            "status": match (m.present, m.optional) {
                _ if m.unsafe_path.is_some() => "missing",
                (true, _) => "bound",
                (false, true) => "skipped",
                (false, false) => "missing",
            },
        })).collect::<Vec<_>>(),
        "workdir": p.workdir.as_ref().map(|w| match &w.source {
            WorkdirSource::Image => json!({
                "path": w.path.display().to_string(), "from": "image", "host": null,
            }),
            WorkdirSource::TaskCwd { host, .. } => json!({
                "path": w.path.display().to_string(), "from": "working_directory",
                "host": host.display().to_string(),
            }),
        }),
        "env": p.container_env.iter().map(|v| json!({
            "name": v.name,
            "value": v.value.as_deref().map(lossy),
            "source": match v.source {
                EnvSource::Image => "image",
                EnvSource::Carme { .. } => "carme",
                EnvSource::Task => "task",
                EnvSource::Plugin => "plugin",
            },
            "from": match v.source {
                EnvSource::Carme { from } => Some(from),
                _ => None,
            },
        })).collect::<Vec<_>>(),
        "forwarded": {
            "via": forwarded_via(kind),
            "prefixes": if kind == RuntimeKind::Charliecloud { &[][..] } else { FORWARD_PREFIXES },
            "names": if kind == RuntimeKind::Charliecloud { &[][..] } else { FORWARD_NAMES },
        },
        "limits": limits_json(&e.eff),
        "argv": p.argv.iter().map(|a| lossy(a)).collect::<Vec<_>>(),
        "runtime_env": {
            "set": p.env_set.iter().map(|(k, v)| json!({"name": lossy(k), "value": lossy(v)}))
                .collect::<Vec<_>>(),
            "unset": p.env_unset.iter().map(|k| lossy(k)).collect::<Vec<_>>(),
        },
        "refusals": e.refusals,
    })
}

fn limit_text<T>(r: &Resolved<T>, value: impl Fn(&T) -> String) -> (String, String) {
    match r {
        Resolved::NoLimit => ("no limit".into(), String::new()),
        Resolved::Unknown => ("depends on the job's account".into(), String::new()),
        Resolved::Limit { value: v, source } => (value(v), source.to_string()),
    }
}

fn explain_text(config: &Path, e: &Explained) -> String {
    use std::fmt::Write;
    let p = &e.plan;
    let (kind, program) = launch::runtime_of(e.cfg, e.runs);
    let mut o = String::new();
    let groups = if e.person.groups.is_empty() {
        "no groups".to_string()
    } else {
        format!("groups {}", e.person.groups.join(", "))
    };
    let _ = writeln!(
        o,
        "Image '{}' for user {} ({groups}) on node {} (config {})",
        e.requested.name,
        e.person.name,
        e.node,
        config.display()
    );
    let _ = writeln!(o);
    let desc = if e.requested.description.is_empty() {
        String::new()
    } else {
        format!(": {}", e.requested.description)
    };
    let _ = writeln!(o, "image     {}{desc}", e.requested.name);
    if e.runs.name != e.requested.name {
        let _ = writeln!(
            o,
            "runs      variant {}: {}",
            e.runs.name, e.runs.description
        );
    }
    let _ = writeln!(o, "path      {}", e.runs.path.display());
    let _ = writeln!(o, "runtime   {kind} ({})", program.display());
    let access = match (e.eff.image_allowed(&e.requested.name), &e.eff.images) {
        (Some(true), Resolved::Limit { source, .. }) => format!("yes, by {source}"),
        (Some(true), _) => "yes (no image limit)".to_string(),
        (Some(false), Resolved::Limit { source, .. }) => format!("no, by {source}"),
        _ => "depends on the job's account (--account NAME)".to_string(),
    };
    let _ = writeln!(o, "allowed   {access}");
    let driver = match &e.check {
        Ok(Check::NotNeeded) => "the image states no CUDA version: not checked".to_string(),
        Ok(Check::Skipped { needs, why }) => {
            format!("needs CUDA {needs}; not checked: {why}")
        }
        Ok(Check::Passed { driver, needs }) => {
            format!("needs CUDA {needs}; the driver here supports CUDA {driver}: fine")
        }
        Ok(Check::Variant {
            driver,
            needs,
            variant_needs,
        }) => format!(
            "needs CUDA {needs}; the driver here supports CUDA {driver}: variant '{}' \
             (CUDA {variant_needs}) runs instead",
            e.runs.name
        ),
        Err(_) => "the driver here is too old (see refused, below)".to_string(),
    };
    let _ = writeln!(o, "driver    {driver}");
    let mut gpu = Vec::new();
    if e.runs.gpu {
        gpu.push(if kind == RuntimeKind::Charliecloud {
            "gpu = true, but ch-run has no --nv: the image must bring the driver libraries"
                .to_string()
        } else {
            "--nv (the host's driver libraries)".to_string()
        });
    }
    gpu.push(if e.cfg.gpu.hide_unallocated {
        "only the GPUs Slurm gives the step are visible".to_string()
    } else {
        "all GPU devices are visible; Slurm's cgroup limits which can be opened".to_string()
    });
    gpu.push("CUDA_VISIBLE_DEVICES from the allocation".to_string());
    let _ = writeln!(o, "gpus      {}", gpu.join("; "));
    let workdir = match &p.workdir {
        None => "the runtime's default (your working directory is under no bind)".to_string(),
        Some(w) => match &w.source {
            WorkdirSource::Image => format!("{} (the image's workdir)", w.path.display()),
            WorkdirSource::TaskCwd { host, mount_target } => format!(
                "{} (the working directory {}, under the bind at {})",
                w.path.display(),
                host.display(),
                mount_target.display()
            ),
        },
    };
    let _ = writeln!(o, "workdir   {workdir}");

    let _ = writeln!(o, "\nmounts");
    if p.mounts.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for m in &p.mounts {
        let mut notes = vec![mode_str(m.mode).to_string()];
        if m.mode == MountMode::Ro && kind == RuntimeKind::Charliecloud {
            notes.push("not enforced: ch-run has no read-only binds".into());
        }
        match m.origin {
            MountOrigin::Image => notes.push("the image's".into()),
            MountOrigin::Step => notes.push("the step's".into()),
            MountOrigin::Global => {}
        }
        match (m.present, m.optional) {
            _ if m.unsafe_path.is_some() => notes.push("UNSAFE PATH: the job is refused".into()),
            (false, true) => notes.push("optional, source missing: left out".into()),
            (false, false) => notes.push("SOURCE MISSING: the job is refused".into()),
            (true, true) => notes.push("optional".into()),
            (true, false) => {}
        }
        let _ = writeln!(
            o,
            "  {} -> {}  ({})",
            m.source.display(),
            m.target.display(),
            notes.join(", ")
        );
    }

    let _ = writeln!(o, "\nenvironment in the image (besides the runtime's own)");
    let width = p
        .container_env
        .iter()
        .map(|v| v.name.len() + v.value.as_ref().map_or(0, |x| x.len()) + 1)
        .max()
        .unwrap_or(0)
        .min(48);
    for v in &p.container_env {
        let val = match &v.value {
            Some(x) => escape_controls(&lossy(x)).into_owned(),
            None => match v.source {
                EnvSource::Carme { from } => format!("<{from}>"),
                EnvSource::Plugin => "<BeeOND jobs only>".to_string(),
                _ => String::new(),
            },
        };
        let from = match v.source {
            EnvSource::Image => "the image".to_string(),
            EnvSource::Carme { from: "TMPDIR" } => "Carme: ch-run binds $TMPDIR at /tmp".into(),
            EnvSource::Carme { from } => format!("Carme, from {from}"),
            EnvSource::Task => "the task".to_string(),
            EnvSource::Plugin if v.value.is_none() => {
                "Carme's SPANK plugin, in BeeOND jobs".to_string()
            }
            EnvSource::Plugin => "Carme's SPANK plugin".to_string(),
        };
        let pair = format!("{}={val}", v.name);
        let _ = writeln!(o, "  {pair:width$}  {from}");
    }
    if kind == RuntimeKind::Charliecloud {
        let _ = writeln!(
            o,
            "  and the task's whole environment (Slurm, MPI, GPUs, ...): ch-run passes it through"
        );
    } else {
        let _ = writeln!(
            o,
            "  and the task's {}*, {} as {}* copies (they survive --cleanenv)",
            FORWARD_PREFIXES.join("*, "),
            FORWARD_NAMES.join(", "),
            forwarded_via(kind)
        );
    }

    let account = match e.account {
        Some(a) => format!("account {a}"),
        None => "no account given: --account NAME".to_string(),
    };
    let _ = writeln!(o, "\nlimits for {} ({account})", e.person.name);
    let rows = [
        (
            "images",
            limit_text(&e.eff.images, |g| {
                g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
            }),
        ),
        (
            "max_gpus_per_job",
            limit_text(&e.eff.max_gpus_per_job, u32::to_string),
        ),
        (
            "max_gpus_per_node",
            limit_text(&e.eff.max_gpus_per_node, u32::to_string),
        ),
        (
            "max_nodes_per_job",
            limit_text(&e.eff.max_nodes_per_job, u32::to_string),
        ),
        (
            "max_running_jobs",
            limit_text(&e.eff.max_running_jobs, u32::to_string),
        ),
        (
            "max_time",
            limit_text(&e.eff.max_time, |m| slurmtime::format(Some(*m))),
        ),
    ];
    let vw = rows.iter().map(|(_, (v, _))| v.len()).max().unwrap_or(0);
    for (key, (value, source)) in rows {
        let line = format!("  {key:17}  {value:vw$}  {source}");
        let _ = writeln!(o, "{}", line.trim_end());
    }

    let _ = writeln!(o, "\nruntime command line");
    let _ = writeln!(o, "  {}", launch::render(&p.argv));
    if !p.env_set.is_empty() || !p.env_unset.is_empty() {
        let _ = writeln!(o, "runtime environment");
        for (k, v) in &p.env_set {
            let _ = writeln!(o, "  set   {}={}", lossy(k), launch::quote(v));
        }
        for k in &p.env_unset {
            let _ = writeln!(o, "  unset {}", lossy(k));
        }
    }
    if !e.refusals.is_empty() {
        let _ = writeln!(o, "\nrefused");
        for r in &e.refusals {
            let _ = writeln!(o, "  {r}");
        }
    }
    o
}
