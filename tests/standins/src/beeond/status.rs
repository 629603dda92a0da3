//! The stand-in's status file (`-i FILE`): what `start` set up, per node,
//! so that `stop` and `stoplocal` can take exactly that down again.
//!
//! The real status file is a CSV per node (`host,service,path,log,pidfile`
//! lines), one file on each node. All test nodes share one host here, so the
//! stand-in keeps one JSON file holding every node's part; `stoplocal`
//! removes only its node's part and deletes the file when no part is left,
//! which is what the per-node files amount to. The parent directory is
//! locked around each read-modify-write, because the nodes' epilogs run
//! at the same time.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One instance, as `start` recorded it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// Always `carme-beeond-standin`: a status file of the real tool (or
    /// anything else) is refused rather than misread.
    pub standin: String,
    /// Process id of the `start` that wrote it.
    pub pid: u32,
    pub nodefile: PathBuf,
    pub data_dir: PathBuf,
    /// `-c` as given.
    pub mount: PathBuf,
    pub log_dir: Option<PathBuf>,
    pub port_shift: u32,
    /// Each node's part, in node file order.
    pub nodes: Vec<NodePart>,
}

/// What one node runs and holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodePart {
    pub node: String,
    /// Where this node's client mount is on this host; `None` for a node
    /// the stand-in cannot reach (no `CARME_BEEOND_STANDIN_NODE_MOUNTS`).
    pub mount: Option<PathBuf>,
    /// Whether the mount was made (a hung or failed start leaves `false`).
    pub mounted: bool,
    /// The services this node runs (beegfs-mgmtd, -meta, -storage, -client).
    pub services: Vec<String>,
    /// Server data directories (`DATA/beegfs-<service>`).
    pub data_dirs: Vec<PathBuf>,
    pub log_files: Vec<PathBuf>,
}

pub const STANDIN: &str = "carme-beeond-standin";

impl Status {
    pub fn part(&self, node: &str) -> Option<&NodePart> {
        self.nodes.iter().find(|p| p.node == node)
    }

    pub fn part_mut(&mut self, node: &str) -> Option<&mut NodePart> {
        self.nodes.iter_mut().find(|p| p.node == node)
    }
}

/// The status file at `path`: `None` if there is none.
pub fn load(path: &Path) -> Result<Option<Status>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read status file {}: {e}", path.display())),
    };
    let status: Status = serde_json::from_str(&text).map_err(|e| {
        format!(
            "status file {} was not written by the stand-in ({e})",
            path.display()
        )
    })?;
    if status.standin != STANDIN {
        return Err(format!(
            "status file {} was not written by the stand-in",
            path.display()
        ));
    }
    Ok(Some(status))
}

/// Write `status` to `path` in one step (a temp file renamed over it), so
/// a reader never sees half a file.
pub fn save(path: &Path, status: &Status) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_string_pretty(status).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text + "\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write status file {}: {e}", path.display())
        })
}

/// Save `status`, or remove the file once no node part is left.
pub fn save_or_remove(path: &Path, status: &Status) -> Result<(), String> {
    if status.nodes.is_empty() {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove status file {}: {e}", path.display())),
        }
    } else {
        save(path, status)
    }
}

/// An exclusive lock on the status file's directory, held until dropped;
/// `None` when the directory does not exist (then there is nothing to read,
/// and nothing can be created there).
pub fn lock_dir(path: &Path) -> Result<Option<File>, String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("/"),
    };
    let file = match File::open(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {e}", dir.display())),
    };
    file.lock()
        .map_err(|e| format!("cannot lock {}: {e}", dir.display()))?;
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("beeond-status-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn status() -> Status {
        Status {
            standin: STANDIN.into(),
            pid: 1,
            nodefile: "/n".into(),
            data_dir: "/d".into(),
            mount: "/m".into(),
            log_dir: None,
            port_shift: 1000,
            nodes: vec![NodePart {
                node: "n1".into(),
                mount: Some("/m".into()),
                mounted: true,
                services: vec!["beegfs-client".into()],
                data_dirs: vec![],
                log_files: vec![],
            }],
        }
    }

    #[test]
    fn round_trip_and_removal() {
        let d = dir("rt");
        let path = d.join("status");
        assert_eq!(load(&path), Ok(None));
        let _lock = lock_dir(&path).unwrap().expect("dir exists");
        save(&path, &status()).unwrap();
        assert_eq!(load(&path), Ok(Some(status())));
        let mut empty = status();
        empty.nodes.clear();
        save_or_remove(&path, &empty).unwrap();
        assert!(!path.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn foreign_files_are_refused() {
        let d = dir("foreign");
        let path = d.join("status");
        std::fs::write(&path, "n1,beegfs-client,/mnt/beeond,/var/log/x.log,-\n").unwrap();
        assert!(
            load(&path)
                .unwrap_err()
                .contains("not written by the stand-in")
        );
        std::fs::write(&path, "").unwrap();
        assert!(load(&path).is_err());
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(lock_dir(&d.join("x")).unwrap().map(|_| ()), None);
    }
}
