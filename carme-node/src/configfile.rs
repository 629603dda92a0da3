//! Reading the config file the way root-side code must: root runs
//! `[beeond] command` from it and writes where `[paths]` points, so it is
//! used only when root alone can have written it ([`carme_core::trust`]
//! has the rules: a root-owned regular file of at most 4 MiB that group
//! and others cannot write, reached through root-owned directories that
//! are closed to others or sticky, and root-owned symlinks). The path is
//! resolved here component by component with `lstat`, so every directory
//! and symlink on the way is checked, and the file is read through the
//! descriptor of the path that was checked.
//!
//! The SPANK plugin (in every context), carme-prolog, carme-epilog and
//! `carme-launch check-config` read the config this way. A config that
//! fails is a broken config: Carme jobs are refused with the reason, all
//! other jobs run.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use carme_core::config::{ConfigError, GateBasics, Loaded, Scope, basics_of_broken_config};
use carme_core::trust::{self, MAX_CONFIG_BYTES, Meta};
use nix::fcntl::OFlag;

/// More symlinks than this on the way (as the kernel's ELOOP limit).
const MAX_LINKS: usize = 40;

/// Why the config cannot be used.
#[derive(Debug)]
enum Unusable {
    /// It cannot be read (missing, I/O error, not UTF-8).
    Unreadable(String),
    /// Root must not act on it: the path (the file or a directory or
    /// symlink on the way), what `lstat` said and the rule it breaks.
    Untrusted {
        at: PathBuf,
        meta: Meta,
        reason: String,
        /// A directory or symlink on the way, not the file.
        on_the_way: bool,
    },
}

/// The facts of `m` that trust judgements use.
pub fn meta(m: &Metadata) -> Meta {
    Meta {
        uid: m.uid(),
        mode: m.mode(),
        size: m.size(),
    }
}

/// Resolve `path` like the kernel would, checking each directory and
/// symlink on the way; returns the file's real path and `lstat` facts.
fn resolve(path: &Path) -> Result<(PathBuf, Meta), Unusable> {
    let unreadable = |what: &Path, e: std::io::Error| {
        Unusable::Unreadable(format!(
            "cannot read the config file: {}: {e}",
            what.display()
        ))
    };
    if !path.is_absolute() {
        return Err(Unusable::Unreadable(
            "cannot read the config file: not an absolute path".into(),
        ));
    }
    let mut todo: VecDeque<OsString> = VecDeque::new();
    push_front(&mut todo, path);
    let mut cur = PathBuf::from("/");
    let root = std::fs::symlink_metadata(&cur).map_err(|e| unreadable(&cur, e))?;
    untrusted_if(&cur, meta(&root), true, trust::dir_problem)?;
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            // `cur` is a real path of checked directories.
            cur.pop();
            continue;
        }
        let next = cur.join(&name);
        let m = std::fs::symlink_metadata(&next).map_err(|e| unreadable(&next, e))?;
        let m = meta(&m);
        if m.is_symlink() {
            untrusted_if(&next, m, true, trust::link_problem)?;
            links += 1;
            if links > MAX_LINKS {
                return Err(Unusable::Unreadable(format!(
                    "cannot read the config file: more than {MAX_LINKS} symlinks on the way"
                )));
            }
            let target = std::fs::read_link(&next).map_err(|e| unreadable(&next, e))?;
            if target.is_absolute() {
                cur = PathBuf::from("/");
            }
            push_front(&mut todo, &target);
            continue;
        }
        if todo.is_empty() {
            return Ok((next, m));
        }
        untrusted_if(&next, m, true, trust::dir_problem)?;
        cur = next;
    }
    // The path ends in `/` or `..`: a directory.
    let m = std::fs::symlink_metadata(&cur).map_err(|e| unreadable(&cur, e))?;
    Ok((cur, meta(&m)))
}

/// Put the parts of `p` (`.` dropped, `..` kept) in front of `todo`.
fn push_front(todo: &mut VecDeque<OsString>, p: &Path) {
    let parts: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    for part in parts.into_iter().rev() {
        todo.push_front(part);
    }
}

fn untrusted_if(
    at: &Path,
    m: Meta,
    on_the_way: bool,
    problem: impl Fn(&Meta) -> Option<String>,
) -> Result<(), Unusable> {
    match problem(&m) {
        None => Ok(()),
        Some(reason) => Err(Unusable::Untrusted {
            at: at.to_path_buf(),
            meta: m,
            reason,
            on_the_way,
        }),
    }
}

/// The text of the config at `path`, if root may use it.
fn read_checked(path: &Path) -> Result<String, Unusable> {
    let (real, m) = resolve(path)?;
    untrusted_if(&real, m, false, trust::file_problem)?;
    // Every directory on the way is root's, so nobody else can have put
    // another file at `real` since; O_NOFOLLOW and O_NONBLOCK all the same,
    // and the opened file is checked again.
    let unreadable =
        |e: std::io::Error| Unusable::Unreadable(format!("cannot read the config file: {e}"));
    let file = File::options()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
        .open(&real)
        .map_err(unreadable)?;
    let opened = meta(&file.metadata().map_err(unreadable)?);
    untrusted_if(&real, opened, false, trust::file_problem)?;
    read_bounded(file).map_err(unreadable)
}

/// At most [`MAX_CONFIG_BYTES`] of UTF-8 text.
fn read_bounded(file: File) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::other(format!(
            "it grew past {MAX_CONFIG_BYTES} bytes while being read"
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

fn error(path: &Path, why: Unusable) -> ConfigError {
    let message = match why {
        Unusable::Unreadable(m) => m,
        Unusable::Untrusted {
            at,
            meta,
            reason,
            on_the_way,
        } => {
            let place = if on_the_way {
                format!("{} on the way to it: ", at.display())
            } else if at != path {
                format!("its target {}: ", at.display())
            } else {
                String::new()
            };
            format!(
                "root must not use this config: {place}{reason} ({}). The config must be \
                 a regular file of at most {} MiB that root owns and only root can write, \
                 in directories only root can change (e.g. `chown root: FILE; chmod 0644 \
                 FILE`)",
                meta.describe(),
                MAX_CONFIG_BYTES >> 20
            )
        }
    };
    ConfigError {
        file: path.to_path_buf(),
        line: None,
        key: None,
        message,
    }
}

/// The text of the config at `path`, if root may act on it.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    read_checked(path).map_err(|why| error(path, why))
}

/// Why root-side code would refuse the config at `path` (None: it would
/// use it, or it cannot be read at all). For tools that run as the user
/// and may read a config root would refuse (`carme-launch explain`).
pub fn trust_problem(path: &Path) -> Option<ConfigError> {
    match read_checked(path) {
        Err(why @ Unusable::Untrusted { .. }) => Some(error(path, why)),
        _ => None,
    }
}

/// The config at `path` with the limit rules `scope` needs (see
/// `Config::parse_scoped`), broken when root must not use it.
pub fn load_scoped(path: &Path, scope: Option<&Scope>) -> Loaded {
    match read_checked(path) {
        Ok(text) => Loaded::from_text_scoped(&text, path, scope),
        Err(why) => {
            let basics = match &why {
                Unusable::Unreadable(_) => GateBasics::default(),
                // Only the gate feature, so that Carme jobs are still told
                // why they are refused; never a path from this file, so
                // the state dir and job facts are the defaults.
                Unusable::Untrusted { .. } => {
                    let mut basics = GateBasics::default();
                    if let Some(f) = feature_of_untrusted(&why) {
                        basics.feature = f;
                    }
                    basics
                }
            };
            Loaded::Broken {
                error: error(path, why),
                basics,
            }
        }
    }
}

/// The gate feature an untrusted config names, when the file itself is
/// what fails (its owner or mode): then every directory and symlink on the
/// way is root's, so `real` is read with O_NOFOLLOW as a regular file of a
/// sane size. When a directory or symlink on the way fails, the path may
/// lead anywhere: nothing is read, the default feature stays.
fn feature_of_untrusted(why: &Unusable) -> Option<String> {
    let Unusable::Untrusted {
        at,
        on_the_way: false,
        ..
    } = why
    else {
        return None;
    };
    let file = File::options()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
        .open(at)
        .ok()?;
    let m = meta(&file.metadata().ok()?);
    if !m.is_file() || m.size > MAX_CONFIG_BYTES {
        return None;
    }
    let text = read_bounded(file).ok()?;
    Some(basics_of_broken_config(&text).feature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    const GOOD: &str = "[gate]\nfeature = \"boxed\"\n[runtime]\nkind = \"charliecloud\"\n\
                        path = \"/usr/bin/ch-run\"\n";

    /// A fresh root-owned 0755 directory under the (sticky) temp dir.
    fn scratch(name: &str) -> PathBuf {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests chown files: run them as root (make test does)"
        );
        let d =
            std::env::temp_dir().join(format!("carme-configfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        chmod(&d, 0o755);
        d
    }

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn write(p: &Path, text: &str, mode: u32) {
        std::fs::write(p, text).unwrap();
        chmod(p, mode);
    }

    fn chown(p: &Path, uid: u32) {
        std::os::unix::fs::lchown(p, Some(uid), None).unwrap();
    }

    fn refusal(path: &Path) -> String {
        read(path).expect_err("refused").to_string()
    }

    #[test]
    fn a_root_owned_config_closed_to_others_is_read() {
        let d = scratch("good");
        let f = d.join("carme.toml");
        write(&f, GOOD, 0o644);
        assert_eq!(read(&f).unwrap(), GOOD);
        assert!(matches!(load_scoped(&f, None), Loaded::Ready(_)));
        assert!(trust_problem(&f).is_none());
        // Through a root-owned symlink, also a relative one with `..`.
        let sub = d.join("sub");
        std::fs::create_dir(&sub).unwrap();
        chmod(&sub, 0o755);
        symlink("../carme.toml", sub.join("rel.toml")).unwrap();
        symlink(&f, d.join("abs.toml")).unwrap();
        assert_eq!(read(&sub.join("rel.toml")).unwrap(), GOOD);
        assert_eq!(read(&d.join("abs.toml")).unwrap(), GOOD);
        // A sticky world-writable directory (like /var/tmp) on the way is
        // fine: nobody else can replace what root owns there.
        chmod(&d, 0o1777);
        assert_eq!(read(&f).unwrap(), GOOD);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_config_others_can_change_is_refused_naming_file_and_mode() {
        let d = scratch("mode");
        let f = d.join("carme.toml");
        write(&f, GOOD, 0o664);
        let e = refusal(&f);
        assert!(
            e.starts_with(&format!(
                "{}: root must not use this config: group or others may write it \
                 (owner uid 0, mode 0664).",
                f.display()
            )),
            "{e}"
        );
        write(&f, GOOD, 0o646);
        assert!(refusal(&f).contains("group or others may write it (owner uid 0, mode 0646)"));

        write(&f, GOOD, 0o644);
        chown(&f, 1000);
        assert!(
            refusal(&f).contains(": it is not owned by root (owner uid 1000, mode 0644)."),
            "{}",
            refusal(&f)
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_config_in_a_directory_others_can_change_is_refused() {
        let d = scratch("dir");
        let etc = d.join("etc");
        std::fs::create_dir(&etc).unwrap();
        let f = etc.join("carme.toml");
        write(&f, GOOD, 0o644);
        chmod(&etc, 0o775);
        let e = refusal(&f);
        assert!(
            e.contains(&format!(
                "root must not use this config: {} on the way to it: group or others may \
                 write it (and it is not sticky) (owner uid 0, mode 0775).",
                etc.display()
            )),
            "{e}"
        );
        chmod(&etc, 0o755);
        chown(&etc, 1000);
        assert!(refusal(&f).contains("it is not owned by root (owner uid 1000, mode 0755)"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn symlinks_are_followed_only_when_root_owns_them_and_their_target() {
        let d = scratch("links");
        let f = d.join("real.toml");
        write(&f, GOOD, 0o644);
        // A user's symlink (as one planted in a sticky directory).
        let l = d.join("carme.toml");
        symlink(&f, &l).unwrap();
        chown(&l, 1000);
        assert!(
            refusal(&l).contains(&format!(
                "{} on the way to it: the symlink is not owned by root (owner uid 1000",
                l.display()
            )),
            "{}",
            refusal(&l)
        );
        // A root-owned symlink to a file others can write.
        std::fs::remove_file(&l).unwrap();
        symlink(&f, &l).unwrap();
        chmod(&f, 0o666);
        assert!(
            refusal(&l).contains(&format!(
                "its target {}: group or others may write it (owner uid 0, mode 0666)",
                f.display()
            )),
            "{}",
            refusal(&l)
        );
        // A loop.
        let a = d.join("a.toml");
        symlink("b.toml", &a).unwrap();
        symlink("a.toml", d.join("b.toml")).unwrap();
        assert!(
            refusal(&a).contains("more than 40 symlinks"),
            "{}",
            refusal(&a)
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn only_regular_files_of_at_most_4_mib() {
        let d = scratch("kind");
        let fifo = d.join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        // Refused before any open (which would block on a FIFO).
        assert!(refusal(&fifo).contains(": it is not a regular file"));
        assert!(refusal(&d).contains(": it is not a regular file"));
        let big = d.join("big.toml");
        let f = File::create(&big).unwrap();
        f.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        chmod(&big, 0o644);
        assert!(refusal(&big).contains("it has 4194305 bytes, more than the 4194304"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_untrusted_config_is_broken_and_keeps_only_its_gate_feature() {
        let d = scratch("broken");
        let f = d.join("carme.toml");
        let text = format!("{GOOD}[paths]\nstate_dir = \"/home/user/state\"\n");
        write(&f, &text, 0o664);
        match load_scoped(&f, Some(&Scope::NOBODY)) {
            Loaded::Broken { error, basics } => {
                assert!(error.to_string().contains("mode 0664"), "{error}");
                assert_eq!(basics.feature, "boxed");
                assert_eq!(basics.state_dir, GateBasics::default().state_dir);
                assert_eq!(basics.job_facts, GateBasics::default().job_facts);
            }
            other => panic!("used: {other:?}"),
        }
        assert!(trust_problem(&f).unwrap().to_string().contains("mode 0664"));
        // A directory others can change on the way: the file may be
        // anybody's, so not even the feature is read from it.
        chmod(&f, 0o644);
        chmod(&d, 0o777);
        match load_scoped(&f, Some(&Scope::NOBODY)) {
            Loaded::Broken { error, basics } => {
                assert!(error.to_string().contains("mode 0777"), "{error}");
                assert_eq!(basics, GateBasics::default());
            }
            other => panic!("used: {other:?}"),
        }
        chmod(&d, 0o755);
        // Missing: broken with the defaults, and not a trust problem.
        let missing = d.join("missing.toml");
        let e = refusal(&missing);
        assert!(e.contains("cannot read the config file: "), "{e}");
        assert!(trust_problem(&missing).is_none());
        assert!(matches!(
            load_scoped(&missing, None),
            Loaded::Broken { basics, .. } if basics == GateBasics::default()
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
