//! The stand-ins' invocation logs: one JSON object per line.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

/// Append `record` to `path` as one line, with a single `write` on a file
/// opened with `O_APPEND`, so concurrent invocations (tasks of a step,
/// nodes of a job) never interleave their lines.
pub fn append(path: &Path, record: &impl Serialize) -> Result<(), String> {
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
