//! Whether root may act on what a config file says: the rules for the file
//! itself and for every directory and symlink on the way to it, over the
//! facts `lstat`/`fstat` give (carme-node's `configfile` gathers them).
//!
//! Root runs `[beeond] command` and writes where `[paths]` points, so
//! whoever can change the config or swap it for another file could act as
//! root. Hence: a regular file of at most [`MAX_CONFIG_BYTES`], owned by
//! root, that group and others cannot write; every directory on its path
//! (symlinks resolved) owned by root and not writable by group or others,
//! unless sticky like /var/tmp (there, others cannot rename or remove what
//! root owns); every symlink on the way owned by root. ACLs that let others
//! write show in the group bits of the mode, so they are refused too.

/// Larger config files are refused (the biggest real one, with thousands
/// of limit rules, is far below this).
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// What `stat` says about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub uid: u32,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    pub size: u64,
}

impl Meta {
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    fn others_may_write(&self) -> bool {
        self.mode & 0o022 != 0
    }

    /// `owner uid 0, mode 0644`, for messages.
    pub fn describe(&self) -> String {
        format!("owner uid {}, mode {:04o}", self.uid, self.mode & 0o7777)
    }
}

/// Why root must not use the config file with these facts, if so.
pub fn file_problem(m: &Meta) -> Option<String> {
    if !m.is_file() {
        Some("it is not a regular file".into())
    } else if m.uid != 0 {
        Some("it is not owned by root".into())
    } else if m.others_may_write() {
        Some("group or others may write it".into())
    } else if m.size > MAX_CONFIG_BYTES {
        Some(format!(
            "it has {} bytes, more than the {MAX_CONFIG_BYTES} a config may have",
            m.size
        ))
    } else {
        None
    }
}

/// Why a directory on the way to the config file is not safe, if so.
pub fn dir_problem(m: &Meta) -> Option<String> {
    let sticky = m.mode & 0o1000 != 0;
    if !m.is_dir() {
        Some("it is not a directory".into())
    } else if m.uid != 0 {
        Some("it is not owned by root".into())
    } else if m.others_may_write() && !sticky {
        Some("group or others may write it (and it is not sticky)".into())
    } else {
        None
    }
}

/// Why a symlink on the way to the config file is not safe, if so (its
/// own mode does not matter: nobody can change a symlink's target).
pub fn link_problem(m: &Meta) -> Option<String> {
    (m.uid != 0).then(|| "the symlink is not owned by root".into())
}

/// Why a program root runs or loads (a runtime asked its `--version`, the
/// plugin, a Prolog/Epilog program) is not root's alone, judging one step
/// of its resolved path: the file itself or a directory above it, up to
/// `/`. Stricter than for the config: a sticky directory others may write
/// is refused too, as nothing root executes should lie where any user
/// can create files.
pub fn program_step_problem(path: &std::path::Path, m: &Meta) -> Option<String> {
    (m.uid != 0 || m.others_may_write()).then(|| {
        format!(
            "{} is owned by uid {} with mode {:04o}",
            path.display(),
            m.uid,
            m.mode & 0o7777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_and_the_directories_above_them() {
        let p = std::path::Path::new("/opt/x");
        let cases: &[(Meta, Option<&str>)] = &[
            (meta(S_IFREG, 0, 0o755, 1), None),
            (meta(S_IFDIR, 0, 0o755, 1), None),
            (meta(S_IFDIR, 0, 0o700, 1), None),
            (
                meta(S_IFREG, 0, 0o775, 1),
                Some("/opt/x is owned by uid 0 with mode 0775"),
            ),
            (
                meta(S_IFREG, 1000, 0o755, 1),
                Some("/opt/x is owned by uid 1000 with mode 0755"),
            ),
            // Sticky like /tmp: refused for programs (not for the config).
            (
                meta(S_IFDIR, 0, 0o1777, 1),
                Some("/opt/x is owned by uid 0 with mode 1777"),
            ),
            (
                meta(S_IFDIR, 0, 0o757, 1),
                Some("/opt/x is owned by uid 0 with mode 0757"),
            ),
        ];
        for (m, want) in cases {
            assert_eq!(program_step_problem(p, m).as_deref(), *want, "{m:?}");
        }
        assert!(dir_problem(&meta(S_IFDIR, 0, 0o1777, 1)).is_none());
    }

    fn meta(kind: u32, uid: u32, perm: u32, size: u64) -> Meta {
        Meta {
            uid,
            mode: kind | perm,
            size,
        }
    }

    #[test]
    fn config_files() {
        let cases: &[(Meta, Option<&str>)] = &[
            (meta(S_IFREG, 0, 0o644, 100), None),
            (meta(S_IFREG, 0, 0o600, 0), None),
            (meta(S_IFREG, 0, 0o444, MAX_CONFIG_BYTES), None),
            // The group's bits only matter for writing.
            (meta(S_IFREG, 0, 0o640, 100), None),
            (
                meta(S_IFREG, 0, 0o664, 100),
                Some("group or others may write it"),
            ),
            (
                meta(S_IFREG, 0, 0o646, 100),
                Some("group or others may write it"),
            ),
            (
                meta(S_IFREG, 0, 0o1666, 100),
                Some("group or others may write it"),
            ),
            (
                meta(S_IFREG, 1000, 0o644, 100),
                Some("it is not owned by root"),
            ),
            (
                meta(S_IFREG, 1000, 0o600, 100),
                Some("it is not owned by root"),
            ),
            (
                meta(S_IFREG, 0, 0o644, MAX_CONFIG_BYTES + 1),
                Some("it has 4194305 bytes, more than the 4194304 a config may have"),
            ),
            (
                meta(S_IFDIR, 0, 0o755, 100),
                Some("it is not a regular file"),
            ),
            (
                meta(0o010_000, 0, 0o644, 0),
                Some("it is not a regular file"),
            ),
            (
                meta(S_IFLNK, 0, 0o777, 10),
                Some("it is not a regular file"),
            ),
        ];
        for (m, want) in cases {
            assert_eq!(file_problem(m).as_deref(), *want, "{m:?}");
        }
    }

    #[test]
    fn directories_on_the_way() {
        let cases: &[(Meta, Option<&str>)] = &[
            (meta(S_IFDIR, 0, 0o755, 0), None),
            (meta(S_IFDIR, 0, 0o700, 0), None),
            // Sticky like /tmp and /var/tmp: others cannot replace what
            // root owns there.
            (meta(S_IFDIR, 0, 0o1777, 0), None),
            (meta(S_IFDIR, 0, 0o1775, 0), None),
            (
                meta(S_IFDIR, 0, 0o775, 0),
                Some("group or others may write it (and it is not sticky)"),
            ),
            (
                meta(S_IFDIR, 0, 0o757, 0),
                Some("group or others may write it (and it is not sticky)"),
            ),
            (
                meta(S_IFDIR, 1000, 0o755, 0),
                Some("it is not owned by root"),
            ),
            (
                meta(S_IFDIR, 1000, 0o1777, 0),
                Some("it is not owned by root"),
            ),
            (meta(S_IFREG, 0, 0o755, 0), Some("it is not a directory")),
        ];
        for (m, want) in cases {
            assert_eq!(dir_problem(m).as_deref(), *want, "{m:?}");
        }
    }

    #[test]
    fn symlinks_on_the_way() {
        assert_eq!(link_problem(&meta(S_IFLNK, 0, 0o777, 5)), None);
        assert_eq!(
            link_problem(&meta(S_IFLNK, 1000, 0o777, 5)).as_deref(),
            Some("the symlink is not owned by root")
        );
    }

    #[test]
    fn describe_names_owner_and_mode() {
        assert_eq!(
            meta(S_IFREG, 0, 0o664, 1).describe(),
            "owner uid 0, mode 0664"
        );
        assert_eq!(
            meta(S_IFDIR, 7, 0o1777, 1).describe(),
            "owner uid 7, mode 1777"
        );
    }
}
