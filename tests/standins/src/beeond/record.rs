//! The JSON line appended to `$CARME_BEEOND_STANDIN_LOG` for every invocation.
//!
//! Every record has `tool` ("beeond"), `emulates`, `status`, `argv`, `node`
//! (the node it ran as) and `pid`. `status` is `ok`, `failed` (ran, with
//! `errors`), `refused` (did nothing; `error`), `forced_failure`
//! (`CARME_BEEOND_STANDIN_FAIL`) or `hang` (written just before hanging).
//! All but `refused` carry `action` and `options`, the parsed command line.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::cli::Command;

#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub tool: &'static str,
    pub emulates: &'static str,
    pub status: &'static str,
    pub argv: &'a [String],
    pub node: &'a str,
    pub pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<&'a Command>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub errors: &'a [String],
    pub exit_code: Option<i32>,
}

/// Append `record` as one line with a single `write` on an `O_APPEND` file,
/// so the nodes' concurrent invocations never interleave their lines.
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
        return Err(format!("short write to {}", path.display()));
    }
    Ok(())
}
