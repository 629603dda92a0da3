//! The checks of Slurm and how it runs Carme: `slurm-version`, `plugin`,
//! `gate-feature`, `prolog`, `epilog`, `prolog-flags`, `constrain-devices`.

use std::path::Path;

use crate::config::DEFAULT_CONFIG_PATH;
use crate::slurminfo::{self, ShowConfig, SlurmVersion};

use super::*;

/// The running Slurm's version, with its finding.
pub(super) fn slurm_version(f: &NodeFacts, out: &mut Vec<Finding>) -> Option<SlurmVersion> {
    let (cmd, result) = &f.slurm_version;
    let fix = "install Slurm's slurmd on this node (check-node asks `slurmd -V`, else \
               `scontrol -V` with SLURM_CONF)"
        .to_string();
    match result {
        Ok(text) => match slurminfo::parse_version_output(text) {
            Some(v) => {
                out.push(ok(
                    "slurm-version",
                    None,
                    format!("Slurm {v} (series {}, from `{cmd}`)", v.series_text()),
                ));
                Some(v)
            }
            None => {
                out.push(problem(
                    "slurm-version",
                    None,
                    Status::Error,
                    format!(
                        "cannot tell the Slurm version: `{cmd}` printed {:?}",
                        first_line(text)
                    ),
                    fix,
                ));
                None
            }
        },
        Err(e) => {
            out.push(problem(
                "slurm-version",
                None,
                Status::Error,
                format!("cannot tell the Slurm version: `{cmd}`: {e}"),
                fix,
            ));
            None
        }
    }
}

pub(super) fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

pub(super) fn plugin(f: &NodeFacts, version: Option<SlurmVersion>, out: &mut Vec<Finding>) {
    let where_ = match &f.plugin_search {
        PluginSearch::Given => "--plugin".to_string(),
        PluginSearch::Plugstack { file: Some(p), .. } => p.display().to_string(),
        PluginSearch::Plugstack { file: None, .. } => "the plugstack config".to_string(),
    };
    if let PluginSearch::Plugstack { file, unreadable } = &f.plugin_search {
        if file.is_none() {
            out.push(problem(
                "plugin",
                None,
                Status::Error,
                "cannot find the plugstack config: `scontrol show config` gave no \
                 PlugStackConfig"
                    .into(),
                "check that slurmctld answers (SLURM_CONF), or name the plugin with --plugin \
                 PATH"
                    .into(),
            ));
        }
        for (p, e) in unreadable {
            out.push(problem(
                "plugin",
                Some(p.display().to_string()),
                Status::Error,
                format!("cannot read the plugstack file {}: {e}", p.display()),
                "make it readable (Slurm reads it on every srun, sbatch and salloc too)".into(),
            ));
        }
        if file.is_some() && f.plugins.is_empty() {
            out.push(problem(
                "plugin",
                None,
                Status::Error,
                format!("no line of {where_} (or the files it includes) loads Carme"),
                format!(
                    "add `required /PATH/libcarme_spank.so config={}` to {where_} (see Carme's \
                     plugstack snippet)",
                    DEFAULT_CONFIG_PATH
                ),
            ));
        }
    }
    if f.plugins.len() > 1 {
        let all: Vec<String> = f
            .plugins
            .iter()
            .map(|p| p.path.display().to_string())
            .collect();
        out.push(problem(
            "plugin",
            None,
            Status::Warning,
            format!(
                "Carme is loaded {} times: {}",
                f.plugins.len(),
                all.join(", ")
            ),
            "keep one plugstack line for Carme".into(),
        ));
    }
    for p in &f.plugins {
        let subject = Some(p.path.display().to_string());
        if let Some(why) = &p.others_can_change {
            out.push(problem(
                "plugin",
                subject.clone(),
                Status::Error,
                format!(
                    "the plugin {} can be changed by others than root ({why}): slurmstepd \
                     loads it as root for every step",
                    p.path.display()
                ),
                format!(
                    "make {} and every directory above it root's and not writable by group \
                     or others",
                    p.path.display()
                ),
            ));
        }
        let at = match &p.line {
            Some((file, line)) => {
                let n = match line {
                    PlugstackLine::Include { line, .. }
                    | PlugstackLine::Plugin { line, .. }
                    | PlugstackLine::Unknown { line, .. } => *line,
                };
                format!("the plugin {} ({}:{n})", p.path.display(), file.display())
            }
            None => format!("the plugin {}", p.path.display()),
        };
        match (&p.version, version) {
            (Err(e), _) => out.push(problem(
                "plugin",
                subject.clone(),
                Status::Error,
                format!("{at}: cannot read its plugin_version: {e}"),
                "install Carme's plugin there (the package for this Slurm series)".into(),
            )),
            (Ok(n), Some(running)) => {
                let built = SlurmVersion::from_number(*n);
                if built.series() == running.series() {
                    out.push(ok(
                        "plugin",
                        subject.clone(),
                        format!(
                            "{at} is built for Slurm {}, the series running here",
                            built.series_text()
                        ),
                    ));
                } else {
                    out.push(problem(
                        "plugin",
                        subject.clone(),
                        Status::Error,
                        format!(
                            "{at} is built for Slurm {} but this node runs Slurm {}: Slurm \
                             refuses to load it (\"Incompatible plugin version\"), and with \
                             `required` every srun, sbatch and salloc here fails",
                            built.series_text(),
                            running
                        ),
                        format!(
                            "install Carme's package for Slurm {0} (or rebuild the plugin \
                             against Slurm {0}'s libslurm-dev)",
                            running.series_text()
                        ),
                    ));
                }
            }
            (Ok(n), None) => out.push(problem(
                "plugin",
                subject.clone(),
                Status::Warning,
                format!(
                    "{at} is built for Slurm {}; the running Slurm's version is unknown",
                    SlurmVersion::from_number(*n).series_text()
                ),
                "see slurm-version".into(),
            )),
        }
        if let Some((_, line @ PlugstackLine::Plugin { required, .. })) = &p.line {
            if !required {
                out.push(problem(
                    "plugin",
                    subject.clone(),
                    Status::Warning,
                    format!(
                        "{at} is loaded `optional`: where it fails to load, Slurm runs Carme \
                         jobs without Carme's checks and containers"
                    ),
                    "use `required` (the plugin fails only Carme jobs for a broken config)".into(),
                ));
            }
            let reads = line.config_arg().unwrap_or(DEFAULT_CONFIG_PATH);
            if Path::new(reads) != f.config.path {
                out.push(problem(
                    "plugin",
                    subject,
                    Status::Warning,
                    format!(
                        "{at} reads the config {reads}, not {} that was checked",
                        f.config.path.display()
                    ),
                    format!("run check-node --config {reads}, or correct its config= argument"),
                ));
            }
        }
    }
}

pub(super) fn gate_feature(f: &NodeFacts, version: Option<SlurmVersion>, out: &mut Vec<Finding>) {
    let feature = match (&f.config.parsed, &f.config.text) {
        (Ok(cfg), _) => cfg.gate.feature.clone(),
        (Err(_), Some(text)) => crate::config::basics_of_broken_config(text).feature,
        (Err(_), None) => crate::config::DEFAULT_FEATURE.to_string(),
    };
    let node = &f.node;
    let text = match &f.show_node {
        Ok(t) => t,
        Err(e) => {
            out.push(problem(
                "gate-feature",
                None,
                Status::Error,
                format!("cannot ask slurmctld about node {node}: {e}"),
                "check that slurmctld answers `scontrol show node` here (SLURM_CONF)".into(),
            ));
            return;
        }
    };
    let Some(info) = slurminfo::parse_nodes(text)
        .into_iter()
        .find(|n| &n.name == node)
    else {
        out.push(problem(
            "gate-feature",
            None,
            Status::Error,
            format!(
                "slurmctld does not know a node {node}: {}",
                first_line(text)
            ),
            "name the node as slurm.conf's NodeName does with --node NAME (default: this \
             host's short name)"
                .into(),
        ));
        return;
    };
    let has = |list: &[String]| list.contains(&feature);
    let shown = |list: &[String]| {
        if list.is_empty() {
            "(none)".to_string()
        } else {
            list.join(",")
        }
    };
    if !has(&info.available_features) {
        out.push(problem(
            "gate-feature",
            None,
            Status::Error,
            format!(
                "node {node} lacks the gate feature `{feature}` ([gate] feature; its features: \
                 {}): Carme jobs (--constraint={feature}) never run here",
                shown(&info.available_features)
            ),
            format!(
                "add {feature} to Feature= of NodeName={node} in slurm.conf, then `scontrol \
                 reconfigure` (or restart slurmctld and slurmd)"
            ),
        ));
    } else if !has(&info.active_features) {
        out.push(problem(
            "gate-feature",
            None,
            Status::Warning,
            format!(
                "node {node} has the gate feature `{feature}` but it is not active (active: {})",
                shown(&info.active_features)
            ),
            "see your node features plugin (the node may need a reboot)".into(),
        ));
    } else {
        out.push(ok(
            "gate-feature",
            None,
            format!("node {node} has the gate feature `{feature}`"),
        ));
    }
    // The slurmd running for this node, against the installed one.
    if let (Some(running), Some(installed)) = (
        info.version.as_deref().and_then(SlurmVersion::parse),
        version,
    ) && running.series() != installed.series()
    {
        out.push(problem(
            "slurm-version",
            None,
            Status::Warning,
            format!("the slurmd running for {node} is {running}, the one installed is {installed}"),
            "restart slurmd after the upgrade (with the plugin for the new series installed)"
                .into(),
        ));
    }
}

/// Whether `Prolog=`/`Epilog=`'s programs include `program`: directly
/// (or through a symlink), or through a wrapper script that runs it.
pub(super) fn runs_ours(scripts: &[ScriptFacts], program: &str) -> Option<String> {
    scripts.iter().find_map(|s| {
        let named = |p: &Path| p.file_name().is_some_and(|n| n == program);
        if named(&s.path) || s.real.as_ref().is_ok_and(|r| named(r)) {
            Some(format!("{} is {program}", s.path.display()))
        } else if s
            .text
            .as_deref()
            .is_some_and(|t| slurminfo::script_runs(t, program))
        {
            Some(format!("{} runs {program}", s.path.display()))
        } else {
            None
        }
    })
}

pub(super) fn slurm_conf(f: &NodeFacts, cfg: Option<&Config>, out: &mut Vec<Finding>) {
    let conf = match &f.show_config {
        Ok(t) => slurminfo::parse_show_config(t),
        Err(e) => {
            out.push(problem(
                "prolog",
                None,
                Status::Error,
                format!(
                    "cannot read the running slurm.conf (`scontrol show config`): {e}; Prolog, \
                     Epilog, PrologFlags and ConstrainDevices are not checked"
                ),
                "check that slurmctld answers here (SLURM_CONF)".into(),
            ));
            return;
        }
    };
    for (check, key, program, wrapper, scripts) in [
        (
            "prolog",
            "Prolog",
            "carme-prolog",
            "/etc/carme/prolog",
            &f.prolog,
        ),
        (
            "epilog",
            "Epilog",
            "carme-epilog",
            "/etc/carme/epilog",
            &f.epilog,
        ),
    ] {
        let fix = format!(
            "set {key}={wrapper} in slurm.conf (the package's wrapper, which runs \
             /usr/libexec/carme/{program}; see Carme's slurm.conf snippet), then \
             `scontrol reconfigure`"
        );
        match conf.list(key) {
            None => out.push(problem(
                check,
                None,
                Status::Error,
                format!(
                    "slurm.conf sets no {key}: nothing makes or removes Carme jobs' directories \
                     and BeeOND, or records jobs for slurmstepd"
                ),
                fix,
            )),
            Some(value) => {
                for s in scripts {
                    if let Some(why) = &s.others_can_change {
                        out.push(problem(
                            check,
                            Some(s.path.display().to_string()),
                            Status::Error,
                            format!(
                                "{key}={value}: {} can be changed by others than root ({why}): \
                                 slurmd runs it as root for every job",
                                s.path.display()
                            ),
                            format!(
                                "make {} and every directory above it root's and not \
                                 writable by group or others",
                                s.path.display()
                            ),
                        ));
                    }
                }
                match runs_ours(scripts, program) {
                    Some(how) => out.push(ok(check, None, format!("{key}={value}: {how}"))),
                    None => out.push(problem(
                        check,
                        None,
                        Status::Error,
                        format!("{key}={value} does not run {program}"),
                        fix,
                    )),
                }
            }
        }
    }
    match conf.get("PrologFlags") {
        Some(flags)
            if flags.split(',').any(|x| {
                ["alloc", "contain", "runinjob"].contains(&x.trim().to_ascii_lowercase().as_str())
            }) =>
        {
            out.push(ok("prolog-flags", None, format!("PrologFlags={flags}")))
        }
        other => out.push(problem(
            "prolog-flags",
            None,
            Status::Error,
            format!(
                "PrologFlags={} lacks Alloc: the prolog runs only where a step starts, so \
                 BeeOND and the job's directories are not ready on every node at allocation",
                other.unwrap_or("(none)")
            ),
            "add Alloc to PrologFlags= in slurm.conf (PrologFlags=Alloc)".into(),
        )),
    }
    constrain_devices(&conf, cfg, out);
}

pub(super) fn constrain_devices(conf: &ShowConfig, cfg: Option<&Config>, out: &mut Vec<Finding>) {
    if let Some(cfg) = cfg
        && !cfg.gpu.hide_unallocated
    {
        out.push(ok(
            "constrain-devices",
            None,
            "not needed: [gpu] hide_unallocated is false".into(),
        ));
        return;
    }
    let fix = "set ConstrainDevices=yes in cgroup.conf with TaskPlugin=task/cgroup in \
               slurm.conf (restart slurmd), or set [gpu] hide_unallocated = false"
        .to_string();
    let setting = conf
        .cgroup
        .as_ref()
        .and_then(|c| c.get("ConstrainDevices"))
        .map(String::as_str);
    match setting {
        Some(v) if v.eq_ignore_ascii_case("yes") => out.push(ok(
            "constrain-devices",
            None,
            "ConstrainDevices=yes: the kernel keeps jobs off GPUs not allocated to them".into(),
        )),
        Some(v) => out.push(problem(
            "constrain-devices",
            None,
            Status::Error,
            format!(
                "ConstrainDevices={v}: Carme hides unallocated GPUs ([gpu] hide_unallocated), \
                 but the kernel does not keep a job off them"
            ),
            fix,
        )),
        None => out.push(problem(
            "constrain-devices",
            None,
            Status::Error,
            format!(
                "no cgroup plugin constrains devices (TaskPlugin={}, no cgroup.conf settings \
                 in `scontrol show config`): Carme hides unallocated GPUs ([gpu] \
                 hide_unallocated), but the kernel does not keep a job off them",
                conf.get("TaskPlugin").unwrap_or("(none)")
            ),
            fix,
        )),
    }
}
