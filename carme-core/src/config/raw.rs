//! The raw (serde) layer: the file's shape, every key optional where a
//! default exists, unknown keys refused.

use super::locate::{line_at, line_of_key};
use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) gate: RawGate,
    pub(super) runtime: RawRuntime,
    #[serde(default)]
    pub(super) mounts: Vec<RawMount>,
    #[serde(default)]
    pub(super) images: BTreeMap<String, RawImage>,
    #[serde(default)]
    pub(super) paths: RawPaths,
    #[serde(default)]
    pub(super) gpu: RawGpu,
    pub(super) beeond: Option<RawBeeond>,
    #[serde(default)]
    pub(super) limits: RawLimits,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    #[serde(default)]
    pub(super) default: RawLimitSet,
    #[serde(default)]
    pub(super) users: BTreeMap<String, RawLimitSet>,
    #[serde(default)]
    pub(super) groups: BTreeMap<String, RawLimitSet>,
    #[serde(default)]
    pub(super) accounts: BTreeMap<String, RawLimitSet>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimitSet {
    pub(super) images: Option<Vec<String>>,
    pub(super) max_gpus_per_job: Option<u32>,
    pub(super) max_gpus_per_node: Option<u32>,
    pub(super) max_nodes_per_job: Option<u32>,
    pub(super) max_running_jobs: Option<u32>,
    pub(super) max_time: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGate {
    pub(super) feature: Option<String>,
    pub(super) default_image: Option<String>,
    #[serde(default)]
    pub(super) job_facts: JobFactSource,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPaths {
    pub(super) state_dir: Option<String>,
    pub(super) tmp_base: Option<String>,
    pub(super) scratch_base: Option<String>,
    pub(super) scratch_target: Option<PathBuf>,
    pub(super) shm_size: Option<String>,
    pub(super) log_dir: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGpu {
    pub(super) device_dir: Option<String>,
    pub(super) hide_unallocated: Option<bool>,
    pub(super) nvml: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBeeond {
    pub(super) command: Option<PathBuf>,
    pub(super) feature: Option<String>,
    pub(super) data_dir: Option<String>,
    pub(super) mount_base: Option<String>,
    pub(super) status_dir: Option<String>,
    pub(super) start_timeout: Option<String>,
    pub(super) stop_timeout: Option<String>,
    pub(super) wait_timeout: Option<String>,
    #[serde(default)]
    pub(super) extra_start_args: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRuntime {
    pub(super) kind: RuntimeKind,
    pub(super) path: PathBuf,
    pub(super) exec_helper: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMount {
    pub(super) source: String,
    pub(super) target: PathBuf,
    #[serde(default = "default_mode")]
    pub(super) mode: MountMode,
    #[serde(default)]
    pub(super) optional: bool,
}

pub(super) fn default_mode() -> MountMode {
    MountMode::Rw
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImage {
    pub(super) path: PathBuf,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) mounts: Vec<RawMount>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    pub(super) workdir: Option<PathBuf>,
    #[serde(default)]
    pub(super) gpu: bool,
    pub(super) runtime: Option<RuntimeKind>,
    pub(super) cuda: Option<String>,
    #[serde(default)]
    pub(super) runtime_args: Vec<String>,
    #[serde(default)]
    pub(super) variants: Vec<String>,
}

pub(super) fn deserialize(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, path, None, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = (key != "." && !key.is_empty()).then_some(key);
        toml_error(text, path, key, e.inner())
    })
}

/// Errors of the validation layer for the key path, located in `text`.
pub(super) fn locator<'a>(
    text: &'a str,
    path: &'a Path,
) -> impl Fn(&str, String) -> ConfigError + 'a {
    move |key: &str, message: String| ConfigError {
        file: path.to_path_buf(),
        line: line_of_key(text, key),
        key: Some(key.to_string()),
        message,
    }
}

pub(super) fn toml_error(
    text: &str,
    path: &Path,
    key: Option<String>,
    e: &toml::de::Error,
) -> ConfigError {
    let line = e
        .span()
        .map(|s| line_at(text, s.start))
        .or_else(|| key.as_deref().and_then(|k| line_of_key(text, k)));
    ConfigError {
        file: path.to_path_buf(),
        line,
        key,
        message: e.message().trim().to_string(),
    }
}
