//! Which paths are mount points, from the kernel's own table
//! (`/proc/self/mountinfo`), for the BeeOND mounts the prolog waits for and
//! the epilog must see gone.
//!
//! A path counts as mounted when some mount's mount point is exactly that
//! path (as the kernel prints it: absolute, symlinks resolved, octal
//! escapes for space, tab, newline and backslash). Callers pass paths whose
//! every component is a real directory (they check that first), so no
//! resolving is needed here and nothing is followed.

use std::io;
use std::path::{Path, PathBuf};

/// Undo mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// The mount points listed in `mountinfo` (the text of
/// `/proc/self/mountinfo`), in its order.
pub fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    mountinfo
        .lines()
        // Fields: id, parent id, major:minor, root, mount point, ...
        .filter_map(|l| l.split(' ').nth(4))
        .map(|f| PathBuf::from(std::ffi::OsString::from_vec(unescape(f))))
        .collect()
}

/// How many mounts are stacked on `path` right now.
pub fn mount_count(path: &Path) -> io::Result<usize> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mount_points(&text).iter().filter(|p| *p == path).count())
}

/// Whether anything is mounted on `path`.
pub fn is_mounted(path: &Path) -> io::Result<bool> {
    Ok(mount_count(path)? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo() {
        let text = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    90 27 0:50 / /mnt/bee\\040ond/7 rw - tmpfs beegfs_ondemand rw\n\
                    91 90 0:51 / /mnt/a\\134b rw - tmpfs x rw\n";
        let m = mount_points(text);
        assert_eq!(
            m,
            [
                PathBuf::from("/proc"),
                PathBuf::from("/mnt/bee ond/7"),
                PathBuf::from("/mnt/a\\b")
            ]
        );
        // Malformed lines are skipped, not fatal.
        assert!(mount_points("garbage\n").is_empty());
    }

    #[test]
    fn sees_the_root_mount() {
        assert!(is_mounted(Path::new("/")).unwrap());
        assert!(!is_mounted(Path::new("/surely/not/mounted/here")).unwrap());
    }
}
