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

pub use crate::jsonl::append;
