//! What the stand-in does to the host: tmpfs mounts in place of BeeGFS
//! client mounts, and which node it runs as.
//!
//! Mounts go through mount(8)/umount(8), as beeond's do. The file system is
//! a tmpfs with source name `beegfs_ondemand` (the real client mount's
//! source), so /proc/self/mounts shows which mounts are the stand-in's.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Source name of every stand-in mount.
pub const MOUNT_SOURCE: &str = "beegfs_ondemand";

/// The node this invocation runs as: `SLURMD_NODENAME` (set for Prolog and
/// Epilog, and the only way to tell several slurmd on one host apart), else
/// the host name.
pub fn this_node() -> String {
    match std::env::var("SLURMD_NODENAME") {
        Ok(name) if !name.is_empty() => name,
        _ => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default(),
    }
}

/// Undo the octal escapes (`\040` for a space) of /proc/self/mounts.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points of `mounts` (the text of /proc/self/mounts) with their
/// source and file system type.
fn parse_mounts(mounts: &str) -> Vec<(String, PathBuf, String)> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let source = unescape(fields.next()?);
            let target = PathBuf::from(unescape(fields.next()?));
            let fstype = fields.next()?.to_string();
            Some((source, target, fstype))
        })
        .collect()
}

/// Whether a stand-in tmpfs is mounted at `path`. The kernel lists mount
/// points with symlinks resolved, so `path` is resolved too.
pub fn stand_in_mounted(path: &Path) -> Result<bool, String> {
    let Ok(path) = path.canonicalize() else {
        return Ok(false);
    };
    let mounts = std::fs::read_to_string("/proc/self/mounts")
        .map_err(|e| format!("cannot read /proc/self/mounts: {e}"))?;
    Ok(parse_mounts(&mounts)
        .iter()
        .any(|(source, target, fstype)| {
            *target == path && source == MOUNT_SOURCE && fstype == "tmpfs"
        }))
}

/// Whether anything at all is mounted at `path`.
pub fn any_mounted(path: &Path) -> Result<bool, String> {
    let Ok(path) = path.canonicalize() else {
        return Ok(false);
    };
    let mounts = std::fs::read_to_string("/proc/self/mounts")
        .map_err(|e| format!("cannot read /proc/self/mounts: {e}"))?;
    Ok(parse_mounts(&mounts).iter().any(|(_, t, _)| *t == path))
}

fn run(program: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `mkdir -p PATH && mount -t tmpfs beegfs_ondemand PATH`, like beeond's
/// client mount command with tmpfs in place of beegfs.
pub fn mount(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path)
        .map_err(|e| format!("cannot create mount point {}: {e}", path.display()))?;
    run(
        "mount",
        &[
            "-t".as_ref(),
            "tmpfs".as_ref(),
            MOUNT_SOURCE.as_ref(),
            path.as_os_str(),
        ],
    )
}

/// `umount -l PATH`, as beeond's stoplocal does (after `fuser -k`, which
/// the stand-in leaves out: it would kill the test's own processes).
pub fn unmount(path: &Path) -> Result<(), String> {
    run("umount", &["-l".as_ref(), path.as_os_str()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_mounts() {
        let text = "proc /proc proc rw 0 0\n\
                    beegfs_ondemand /tmp/a\\040b tmpfs rw,relatime 0 0\n";
        let mounts = parse_mounts(text);
        assert_eq!(
            mounts[1],
            (
                MOUNT_SOURCE.to_string(),
                PathBuf::from("/tmp/a b"),
                "tmpfs".to_string()
            )
        );
        assert_eq!(unescape("a\\134b\\0"), "a\\b\\0");
    }
}
