//! The prolog's and the plugin's chmod for real, as root, in a temp dir
//! under /var/tmp: [`LinuxSyscall::chmod`] and the descriptor way it falls
//! back on where the C library has no `AT_SYMLINK_NOFOLLOW` chmod (glibc
//! < 2.32, EL8) change files, directories, FIFOs and device nodes (what
//! the job directories and the device view need), and never follow or
//! change a symlink, whatever it points to.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use carme_node::syscall::{LinuxSyscall, Syscall, chmod_by_fd, chmod_nofollow};
use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag, makedev, mknod};

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests make device nodes and change root's files: run them as root (make test does)"
    );
}

/// A fresh root-owned 0755 dir under /var/tmp, removed on drop.
struct TestRoot(PathBuf);

impl TestRoot {
    fn new(name: &str) -> TestRoot {
        require_root();
        let d = PathBuf::from(format!(
            "/var/tmp/carme-chmod-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        TestRoot(d)
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// Root's things a symlink may point to; each method checks they are as made.
struct Things {
    file: PathBuf,
    dir: PathBuf,
    fifo: PathBuf,
    null: PathBuf,
    links: Vec<PathBuf>,
}

impl Things {
    fn new(root: &Path) -> Things {
        let t = Things {
            file: root.join("file"),
            dir: root.join("dir"),
            fifo: root.join("fifo"),
            null: root.join("null"),
            links: ["to-file", "to-dir", "to-null", "dangling", "to-proc"]
                .iter()
                .map(|n| root.join(n))
                .collect(),
        };
        fs::write(&t.file, "root's\n").unwrap();
        fs::set_permissions(&t.file, fs::Permissions::from_mode(0o600)).unwrap();
        fs::create_dir(&t.dir).unwrap();
        fs::set_permissions(&t.dir, fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::mkfifo(&t.fifo, Mode::from_bits_truncate(0o600)).unwrap();
        // Like /dev/null: changing its mode must not open (or change) the device.
        mknod(&t.null, SFlag::S_IFCHR, Mode::empty(), makedev(1, 3)).unwrap();
        fs::set_permissions(&t.null, fs::Permissions::from_mode(0o600)).unwrap();
        for (link, to) in t.links.iter().zip([
            t.file.clone(),
            t.dir.clone(),
            t.null.clone(),
            root.join("nowhere"),
            PathBuf::from("/proc/self/fd/0"),
        ]) {
            std::os::unix::fs::symlink(to, link).unwrap();
        }
        t
    }

    /// chmod every thing to `mode` with `chmod`, check it took, and check
    /// that every symlink is refused and its target left as it was.
    fn check(&self, chmod: &dyn Fn(&Path, u32) -> std::io::Result<()>, mode: u32) {
        for p in [&self.file, &self.dir, &self.fifo, &self.null] {
            chmod(p, mode).unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
            assert_eq!(mode_of(p), mode, "{}", p.display());
        }
        let before: Vec<u32> = [&self.file, &self.dir, &self.null]
            .iter()
            .map(|p| mode_of(p))
            .collect();
        for l in &self.links {
            let e = chmod(l, 0o666).expect_err("a symlink is refused");
            assert!(e.to_string().contains("symlink"), "{}: {e}", l.display());
            assert!(fs::symlink_metadata(l).unwrap().is_symlink());
        }
        let after: Vec<u32> = [&self.file, &self.dir, &self.null]
            .iter()
            .map(|p| mode_of(p))
            .collect();
        assert_eq!(before, after, "a symlink's target changed");
        assert!(!self.file.parent().unwrap().join("nowhere").exists());
        assert_eq!(fs::read_to_string(&self.file).unwrap(), "root's\n");
        assert!(
            fs::symlink_metadata(&self.null)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}

#[test]
fn linux_chmod_changes_modes_and_never_follows_symlinks() {
    let root = TestRoot::new("linux");
    let t = Things::new(&root.0);
    t.check(&|p, m| LinuxSyscall.chmod(p, m), 0o644);
    t.check(&|p, m| LinuxSyscall.chmod(p, m), 0o1770);
}

#[test]
fn the_descriptor_way_alone_does_the_same() {
    let root = TestRoot::new("byfd");
    let t = Things::new(&root.0);
    t.check(&chmod_by_fd, 0o640);
    t.check(&chmod_by_fd, 0o2711);
}

#[test]
fn as_on_el8_where_the_nofollow_call_is_not_supported() {
    let root = TestRoot::new("el8");
    let t = Things::new(&root.0);
    let el8 = |p: &Path, m: u32| chmod_nofollow(p, m, |_, _| Err(Errno::ENOTSUP));
    t.check(&el8, 0o666);
    t.check(&el8, 0o755);
}
