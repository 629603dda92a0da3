//! The validation layer: raw sections to typed ones, every error located
//! and all of them collected.

use std::collections::BTreeSet;

use crate::glob::Glob;
use crate::limits::LimitSet;
use crate::slurmtime;

use super::raw::{
    RawBeeond, RawConfig, RawGpu, RawImage, RawLimitSet, RawLimits, RawMount, RawPaths, RawRuntime,
};
use super::*;

/// Errors found so far: validation goes on past each one (with the key
/// left out), so that [`Config::parse_all`] can report them all.
pub(super) struct Found(Vec<ConfigError>);

impl Found {
    /// The value, or None with its error noted.
    pub(super) fn ok<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub(super) fn note(&mut self, e: ConfigError) {
        self.0.push(e);
    }
}

/// The config, or every error found in the order of the checks (so the
/// first is the one a single-error parse reports). Each section is checked
/// by its own function; one with errors yields None and notes them.
pub(super) fn validate(
    raw: RawConfig,
    path: &Path,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Config, Vec<ConfigError>> {
    let mut found = Found(Vec::new());
    let feature = gate_feature(raw.gate.feature, &mut found, locate);
    let runtime = runtime_section(raw.runtime, &mut found, locate);
    let global_mounts = found
        .ok(mounts(raw.mounts, "mounts", &[], locate))
        .unwrap_or_default();
    let (images, broken_images) = images_section(raw.images, &global_mounts, &mut found, locate);
    default_image(
        raw.gate.default_image.as_deref(),
        &images,
        &broken_images,
        &mut found,
        locate,
    );
    image_variants(&images, &broken_images, &mut found, locate);
    let paths = paths_section(raw.paths, &mut found, locate);
    let gpu = gpu_section(raw.gpu, &mut found, locate);
    let beeond = raw.beeond.map(|b| found.ok(beeond_section(b, locate)));
    let limits = limits_section(raw.limits, &mut found, locate);

    let (Some(runtime), Some(paths), Some(gpu), Some(beeond), Some(limits)) = (
        runtime,
        paths,
        gpu,
        beeond.map_or(Some(None), |b| b.map(Some)),
        limits,
    ) else {
        return Err(found.0);
    };
    if !found.0.is_empty() {
        return Err(found.0);
    }

    Ok(Config {
        source: path.to_path_buf(),
        gate: Gate {
            feature,
            default_image: raw.gate.default_image,
            job_facts: raw.gate.job_facts,
        },
        runtime,
        mounts: global_mounts,
        images,
        paths,
        gpu,
        beeond,
        limits,
    })
}

/// `[gate] feature`, its default when not given (an invalid one is noted).
pub(super) fn gate_feature(
    feature: Option<String>,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> String {
    let feature = feature.unwrap_or_else(|| DEFAULT_FEATURE.to_string());
    if !valid_feature(&feature) {
        found.note(locate(
            "gate.feature",
            format!(
                "`{feature}` is not a usable node feature name \
                 (letters, digits, `_`, `-`, `.`; not empty)"
            ),
        ));
    }
    feature
}

/// `[gate] default_image` names a defined image (or one with errors of its
/// own, which are reported instead).
pub(super) fn default_image(
    default: Option<&str>,
    images: &BTreeMap<String, Image>,
    broken_images: &BTreeSet<String>,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) {
    if let Some(default) = default
        && !images.contains_key(default)
        && !broken_images.contains(default)
    {
        found.note(locate(
            "gate.default_image",
            format!(
                "default image `{default}` is not defined; defined images: {}",
                list_or_none(images.keys())
            ),
        ));
    }
}

pub(super) fn runtime_section(
    raw: RawRuntime,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Runtime> {
    let path = found.ok(absolute(raw.path, "runtime.path", locate));
    let exec_helper = found.ok(absolute(
        raw.exec_helper
            .unwrap_or_else(|| PathBuf::from(DEFAULT_EXEC_HELPER)),
        "runtime.exec_helper",
        locate,
    ));
    Some(Runtime {
        kind: raw.kind,
        path: path?,
        exec_helper: exec_helper?,
    })
}

/// The valid images, and the names of those with errors of their own:
/// others that name them are not blamed for it.
pub(super) fn images_section(
    raw: BTreeMap<String, RawImage>,
    global_mounts: &[Mount],
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> (BTreeMap<String, Image>, BTreeSet<String>) {
    let mut images = BTreeMap::new();
    let mut broken_images = BTreeSet::new();
    for (name, img) in raw {
        match image(&name, img, global_mounts, found, locate) {
            Some(image) => {
                images.insert(name, image);
            }
            None => {
                broken_images.insert(name);
            }
        }
    }
    (images, broken_images)
}

/// One `[images.NAME]`, or None with its errors noted.
pub(super) fn image(
    name: &str,
    img: RawImage,
    global_mounts: &[Mount],
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Image> {
    let key = format!("images.{name}");
    if !valid_image_name(name) {
        found.note(locate(
            &key,
            format!(
                "`{name}` is not a valid image name (start with a letter or digit; \
                 then letters, digits, `.`, `_`, `-`)"
            ),
        ));
        return None;
    }
    let before = found.0.len();
    for var in img.env.keys() {
        if !valid_env_name(var) {
            found.note(locate(
                &format!("{key}.env.{var}"),
                format!("`{var}` is not a usable environment variable name"),
            ));
        } else if var.starts_with("CARME_LAUNCH_") || var.starts_with("SLURM_") {
            found.note(locate(
                &format!("{key}.env.{var}"),
                format!("`{var}` belongs to Slurm or Carme and cannot be set per image"),
            ));
        }
    }
    let workdir = img
        .workdir
        .map(|w| found.ok(absolute(w, &format!("{key}.workdir"), locate)));
    let cuda = img
        .cuda
        .map(|c| found.ok(CudaVersion::parse(&c).map_err(|e| locate(&format!("{key}.cuda"), e))));
    let image_path = found.ok(absolute(img.path, &format!("{key}.path"), locate));
    let image_mounts = found.ok(mounts(
        img.mounts,
        &format!("{key}.mounts"),
        global_mounts,
        locate,
    ));
    let (Some(workdir), Some(cuda), Some(image_path), Some(image_mounts)) = (
        workdir.map_or(Some(None), |w| w.map(Some)),
        cuda.map_or(Some(None), |c| c.map(Some)),
        image_path,
        image_mounts,
    ) else {
        return None;
    };
    if found.0.len() > before {
        return None;
    }
    Some(Image {
        path: image_path,
        description: img.description,
        mounts: image_mounts,
        env: img.env,
        workdir,
        gpu: img.gpu,
        runtime: img.runtime,
        cuda,
        runtime_args: img.runtime_args,
        variants: img.variants,
        name: name.to_string(),
    })
}

/// Variants name other images that state their CUDA version.
pub(super) fn image_variants(
    images: &BTreeMap<String, Image>,
    broken_images: &BTreeSet<String>,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) {
    for (name, img) in images {
        for (i, v) in img.variants.iter().enumerate() {
            let key = format!("images.{name}.variants[{i}]");
            match images.get(v) {
                None if broken_images.contains(v) => {}
                None => found.note(locate(&key, format!("image `{v}` is not defined"))),
                Some(_) if v == name => {
                    found.note(locate(&key, "an image cannot be its own variant".into()));
                }
                Some(other) if other.cuda.is_none() => {
                    found.note(locate(
                        &key,
                        format!("variant `{v}` must state its `cuda` version"),
                    ));
                }
                Some(_) => {}
            }
        }
        if !img.variants.is_empty() && img.cuda.is_none() {
            found.note(locate(
                &format!("images.{name}.cuda"),
                "an image with variants must state its `cuda` version".into(),
            ));
        }
    }
}

pub(super) fn paths_section(
    p: RawPaths,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Paths> {
    let state_dir = found.ok(template_dir(
        p.state_dir.as_deref().unwrap_or(DEFAULT_STATE_DIR),
        "paths.state_dir",
        locate,
    ));
    let tmp_base = found.ok(template_dir(
        p.tmp_base.as_deref().unwrap_or(DEFAULT_TMP_BASE),
        "paths.tmp_base",
        locate,
    ));
    let scratch_base = p
        .scratch_base
        .as_deref()
        .map(|s| found.ok(template_dir(s, "paths.scratch_base", locate)));
    let scratch_target = found
        .ok(absolute(
            p.scratch_target
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SCRATCH_TARGET)),
            "paths.scratch_target",
            locate,
        ))
        .and_then(|t| {
            if t == Path::new("/") {
                found.note(locate("paths.scratch_target", "cannot be `/`".into()));
                None
            } else {
                Some(t)
            }
        });
    let shm_size = found.ok(crate::units::parse_size(
        p.shm_size.as_deref().unwrap_or(DEFAULT_SHM_SIZE),
    )
    .map_err(|e| locate("paths.shm_size", e)));
    let log_dir = found.ok(template_dir(
        p.log_dir.as_deref().unwrap_or(DEFAULT_LOG_DIR),
        "paths.log_dir",
        locate,
    ));
    Some(Paths {
        state_dir: state_dir?,
        tmp_base: tmp_base?,
        scratch_base: scratch_base.map_or(Some(None), |s| s.map(Some))?,
        scratch_target: scratch_target?,
        shm_size: shm_size?,
        log_dir: log_dir?,
    })
}

pub(super) fn gpu_section(
    g: RawGpu,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Gpu> {
    let nvml = g.nvml.unwrap_or_else(|| PathBuf::from("libnvidia-ml.so.1"));
    if !nvml.is_absolute() && nvml.to_string_lossy().contains('/') {
        found.note(locate(
            "gpu.nvml",
            format!(
                "`{}` must be a library name or an absolute path",
                nvml.display()
            ),
        ));
    }
    let device_dir = found.ok(template_dir(
        g.device_dir.as_deref().unwrap_or("/dev"),
        "gpu.device_dir",
        locate,
    ));
    Some(Gpu {
        device_dir: device_dir?,
        hide_unallocated: g.hide_unallocated.unwrap_or(true),
        nvml,
    })
}

pub(super) fn limits_section(
    raw: RawLimits,
    found: &mut Found,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Option<Limits> {
    let default = found.ok(limit_set(raw.default, "limits.default", locate));
    let users = limit_sets(raw.users, "limits.users", locate, found);
    let groups = limit_sets(raw.groups, "limits.groups", locate, found);
    let accounts = limit_sets(raw.accounts, "limits.accounts", locate, found);
    Some(Limits {
        default: default?,
        users,
        groups,
        accounts,
    })
}

pub(super) fn beeond_section(
    b: RawBeeond,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Beeond, ConfigError> {
    let duration = |v: Option<String>, default: &str, key: &str| {
        crate::units::parse_duration(v.as_deref().unwrap_or(default))
            .map_err(|e| locate(&format!("beeond.{key}"), e))
    };
    let feature = b.feature.unwrap_or_else(|| "beeond".to_string());
    if !valid_feature(&feature) {
        return Err(locate(
            "beeond.feature",
            format!("`{feature}` is not a usable node feature name"),
        ));
    }
    crate::beeond::check_extra_start_args(&b.extra_start_args)
        .map_err(|e| locate("beeond.extra_start_args", e.to_string()))?;
    Ok(Beeond {
        command: absolute(
            b.command
                .unwrap_or_else(|| PathBuf::from("/usr/bin/beeond")),
            "beeond.command",
            locate,
        )?,
        feature,
        data_dir: root_only_dir(
            b.data_dir.as_deref().unwrap_or("/local/beeond/%n"),
            "beeond.data_dir",
            locate,
        )?,
        mount_base: root_only_dir(
            b.mount_base.as_deref().unwrap_or("/mnt/beeond"),
            "beeond.mount_base",
            locate,
        )?,
        status_dir: status_dir(b.status_dir.as_deref(), locate)?,
        start_timeout: duration(b.start_timeout, "120s", "start_timeout")?,
        stop_timeout: duration(b.stop_timeout, "60s", "stop_timeout")?,
        wait_timeout: duration(b.wait_timeout, "150s", "wait_timeout")?,
        extra_start_args: b.extra_start_args,
    })
}

/// A directory root makes and trusts, where a user who created it (or a
/// parent) first would make the prolog fail and drain the node: not in a
/// directory every user can write.
pub(super) fn root_only_dir(
    s: &str,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<PathTemplate, ConfigError> {
    let t = template_dir(s, key, locate)?;
    match in_shared_writable_dir(Path::new(t.as_str())) {
        Some(shared) => Err(locate(
            key,
            format!(
                "`{}` is in {shared}, where every user can create files: a user who \
                 creates it first would make carme-prolog fail and drain the node. Use a \
                 directory only root can create",
                t.as_str()
            ),
        )),
        None => Ok(t),
    }
}

/// `[beeond] status_dir`: beeond trusts its status file as root (stop and
/// stoplocal delete, kill and unmount what it names), so it must not be in
/// a directory users can write. What is on the node is checked again at
/// every use (carme-node's jobprep); here the usual mistakes are refused.
pub(super) fn status_dir(
    s: Option<&str>,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<PathTemplate, ConfigError> {
    let key = "beeond.status_dir";
    let t = template_dir(s.unwrap_or(DEFAULT_BEEOND_STATUS_DIR), key, locate)?;
    if let Some(shared) = in_shared_writable_dir(Path::new(t.as_str())) {
        return Err(locate(
            key,
            format!(
                "`{}` is in {shared}, where every user can create files: beeond acts as \
                 root on what its status file names, so a user could make it delete, kill \
                 or unmount anything. Use a directory only root can write, with no \
                 sticky or group/other-writable parent (default {DEFAULT_BEEOND_STATUS_DIR})",
                t.as_str()
            ),
        ));
    }
    Ok(t)
}

/// Environment variable names as shells accept them.
pub fn valid_env_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// The valid rules; each invalid one's (first) error goes to `found`.
pub(super) fn limit_sets(
    raw: BTreeMap<String, RawLimitSet>,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
    found: &mut Found,
) -> BTreeMap<String, LimitSet> {
    raw.into_iter()
        .filter_map(|(name, r)| {
            let set = found.ok(limit_set(r, &format!("{key}.{name}"), locate))?;
            Some((name, set))
        })
        .collect()
}

pub(super) fn limit_set(
    raw: RawLimitSet,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<LimitSet, ConfigError> {
    let images = raw
        .images
        .map(|pats| {
            pats.iter()
                .enumerate()
                .map(|(i, p)| Glob::new(p).map_err(|e| locate(&format!("{key}.images[{i}]"), e)))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let max_time = raw
        .max_time
        .map(|t| slurmtime::parse(&t).map_err(|e| locate(&format!("{key}.max_time"), e)))
        .transpose()?;
    Ok(LimitSet {
        images,
        max_gpus_per_job: raw.max_gpus_per_job,
        max_gpus_per_node: raw.max_gpus_per_node,
        max_nodes_per_job: raw.max_nodes_per_job,
        max_running_jobs: raw.max_running_jobs,
        max_time,
    })
}

/// An absolute directory template (`%n`, `%j`) without `..`.
pub(super) fn template_dir(
    s: &str,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<PathTemplate, ConfigError> {
    let t = PathTemplate::parse(s).map_err(|e| locate(key, e.to_string()))?;
    absolute(PathBuf::from(s), key, locate)?;
    Ok(t)
}

/// `earlier`: mounts that come before these (the global ones, for an
/// image's list); two mounts on one target would leave the runtime to pick.
pub(super) fn mounts(
    raw: Vec<RawMount>,
    key: &str,
    earlier: &[Mount],
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<Mount>, ConfigError> {
    let mut out: Vec<Mount> = Vec::with_capacity(raw.len());
    for (i, m) in raw.into_iter().enumerate() {
        let key = format!("{key}[{i}]");
        let source = PathTemplate::parse(&m.source)
            .map_err(|e| locate(&format!("{key}.source"), e.to_string()))?;
        // The expanded source is checked again where the task starts.
        absolute(PathBuf::from(&m.source), &format!("{key}.source"), locate)?;
        let target = absolute(m.target, &format!("{key}.target"), locate)?;
        if target == Path::new("/") {
            return Err(locate(
                &format!("{key}.target"),
                "cannot mount over the container's `/`".to_string(),
            ));
        }
        if let Some(prev) = earlier
            .iter()
            .chain(out.iter())
            .find(|p| p.target == target)
        {
            return Err(locate(
                &format!("{key}.target"),
                format!(
                    "`{}` is already the target of the mount from `{}`",
                    target.display(),
                    prev.source
                ),
            ));
        }
        out.push(Mount {
            source,
            target,
            mode: m.mode,
            optional: m.optional,
        });
    }
    Ok(out)
}

pub(super) fn absolute(
    p: PathBuf,
    key: &str,
    locate: &dyn Fn(&str, String) -> ConfigError,
) -> Result<PathBuf, ConfigError> {
    match bind_path_problem(&p) {
        Some(why) => Err(locate(key, format!("`{}` {why}", p.to_string_lossy()))),
        None => Ok(p),
    }
}

/// Why `p` cannot be one side of a runtime's bind spec, if it cannot: it
/// must be absolute, without `..`, `:` or `,` (runtimes split bind specs
/// on `:`, and Apptainer takes several binds joined by `,`).
pub fn bind_path_problem(p: &Path) -> Option<&'static str> {
    if !p.is_absolute() {
        return Some("must be an absolute path");
    }
    if p.components().any(|c| c == std::path::Component::ParentDir) {
        return Some("must not contain `..`");
    }
    let b = p.as_os_str().as_encoded_bytes();
    if b.contains(&b':') || b.contains(&b',') {
        return Some("must not contain `:` or `,`");
    }
    None
}

/// Node feature names as Slurm accepts them in slurm.conf `Features=`.
pub fn valid_feature(f: &str) -> bool {
    !f.is_empty()
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Image names users type after `--carme-image=`: never paths.
pub fn valid_image_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && n.len() <= 64
}

pub(super) fn list_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}
