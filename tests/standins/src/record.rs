//! The JSON line appended to `$CARME_STANDIN_LOG` for every invocation.
//!
//! One object per line. Every record has `tool`, `emulates`, `status` and
//! `argv`. `status` is `"exec"` (COMMAND is about to run), `"forced_failure"`
//! (`CARME_STANDIN_FAIL=1`; all checks passed) or `"refused"` (with `error`
//! and `exit_code`). The first two also carry what was planned: `image`,
//! `binds`, `flags` (exec flags that were set, by long name),
//! `flags_from_env`, `global_flags`, `env` (exactly what COMMAND gets),
//! `pwd`, `command` (as given) and `program` (as resolved).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::binds::Bind;

/// What the stand-in was asked, and what it did with it.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub tool: &'a str,
    pub emulates: &'a str,
    pub status: &'a str,
    pub argv: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub plan: Option<&'a PlanRecord>,
}

/// The planned container run.
#[derive(Debug, Serialize)]
pub struct PlanRecord {
    pub subcommand: &'static str,
    pub global_flags: BTreeMap<&'static str, bool>,
    pub image: String,
    pub binds: Vec<Bind>,
    pub flags: Map<String, Value>,
    pub flags_from_env: Map<String, Value>,
    pub env: BTreeMap<String, String>,
    pub pwd: String,
    pub command: Vec<String>,
    pub program: String,
}

/// Append `record` to `path` as one line, with a single `write` on a file
/// opened with `O_APPEND`, so concurrent invocations (one per task of a
/// job step) never interleave their lines.
pub fn append(path: &Path, record: &Record) -> Result<(), String> {
    let mut line = serde_json::to_vec(record).map_err(|e| e.to_string())?;
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let written = file
        .write(&line)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if written != line.len() {
        return Err(format!(
            "short write to {} ({written} of {} bytes)",
            path.display(),
            line.len()
        ));
    }
    Ok(())
}
