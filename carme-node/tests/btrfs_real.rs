//! A btrfs subvolume in a job's directory (any user may
//! `btrfs subvolume create` in a directory of theirs) is on another device
//! but is no mount: the epilog removes it like a directory and never
//! drains the node for it. On a real btrfs, loop-mounted from a sparse
//! file under /var/tmp, with the subvolumes made by an unprivileged uid;
//! the file system is unmounted, the loop device detached and the file
//! removed also when a test fails. Needs root, btrfs-progs and a loop
//! device: a test fails (never skips) where it cannot set them up.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use carme_core::config::Config;
use carme_node::jobclean::{self, Cleaned, Source};
use carme_node::joblog::{Level, MemoryLog};
use carme_node::jobprep;
use carme_node::nodejob::{self, JobFacts, NodeJob};
use carme_node::nodeops::LinuxNode;
use carme_node::rmtree::MAX_DEPTH;

const UID: u32 = 54321;
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests mount a btrfs on a loop device: run them as root (make test does)"
    );
}

/// Run `argv` (root), failing the test with its output if it fails.
fn run(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .env("PATH", PATH)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): btrfs-progs and util-linux are needed \
                 (tests/cluster/install-deps.sh installs them)",
                argv[0]
            )
        });
    assert!(
        out.status.success(),
        "{argv:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run the shell `script` as UID (no groups), as a user would.
fn as_user(script: &str) {
    let (u, g) = (format!("--reuid={UID}"), format!("--regid={UID}"));
    run(&["setpriv", &u, &g, "--clear-groups", "sh", "-ec", script]);
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A 300 MB btrfs (sparse) mounted at `dir`, a root-owned 0755 directory
/// under /var/tmp; torn down on drop, whatever happened.
struct Btrfs {
    dir: PathBuf,
    image: PathBuf,
    loop_dev: Option<String>,
    mounted: bool,
}

impl Btrfs {
    fn new(name: &str) -> Btrfs {
        require_root();
        let dir = PathBuf::from(format!(
            "/var/tmp/carme-btrfs-{name}-{}",
            std::process::id()
        ));
        let mut b = Btrfs {
            image: dir.with_extension("img"),
            dir,
            loop_dev: None,
            mounted: false,
        };
        fs::create_dir(&b.dir).unwrap();
        fs::File::create(&b.image)
            .and_then(|f| f.set_len(300 << 20))
            .unwrap();
        let image = b.image.to_str().unwrap().to_string();
        run(&["mkfs.btrfs", "-q", "-f", &image]);
        let dev = run(&["losetup", "--find", "--show", &image])
            .trim()
            .to_string();
        b.loop_dev = Some(dev.clone());
        nix::mount::mount(
            Some(dev.as_str()),
            &b.dir,
            Some("btrfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .unwrap_or_else(|e| panic!("cannot mount the btrfs on {dev}: {e}"));
        b.mounted = true;
        chmod(&b.dir, 0o755);
        b
    }
}

impl Drop for Btrfs {
    fn drop(&mut self) {
        if self.mounted {
            // A tmpfs a test mounted inside, then the btrfs itself.
            let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Some(dev) = &self.loop_dev {
            // Detaching a device still in use (lazily unmounted) leaves it
            // to be freed when its last user goes (autoclear).
            let _ = Command::new("losetup")
                .args(["-d", dev])
                .env("PATH", PATH)
                .status();
        }
        let _ = fs::remove_file(&self.image);
        let _ = fs::remove_dir(&self.dir);
    }
}

/// A config whose job directories are on the btrfs at `fs`.
fn config(fs: &Path) -> Config {
    let r = fs.display();
    Config::parse(
        &format!(
            r#"
[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
[paths]
state_dir = "{r}/state/%n"
tmp_base = "{r}/tmp/%n"
scratch_base = "{r}/scratch/%n"
log_dir = "{r}/log"
"#
        ),
        Path::new("/test.toml"),
    )
    .unwrap()
}

/// The prolog's work for job 42 of UID on node n1: its directories made
/// (owned by UID, 0700) and its record written.
fn prolog(fs: &Path) -> (LinuxNode, NodeJob, PathBuf) {
    let job = nodejob::plan(
        &config(fs),
        &JobFacts {
            job_id: 42,
            uid: UID,
            gid: UID,
            node: "n1".into(),
            nodelist: Some("n1".into()),
            constraint: "carme".into(),
            restart: 0,
            beeond_option: false,
        },
    )
    .unwrap();
    let state = fs.join("state/n1");
    let ops = LinuxNode::new(Path::new("/var/tmp"), &[]);
    let log = MemoryLog::default();
    jobprep::prepare(&ops, &log, &job, &state).unwrap_or_else(|f| panic!("{f:?}"));
    for dir in [fs.join("tmp/n1/42"), fs.join("scratch/n1/42")] {
        let md = fs::metadata(&dir).unwrap();
        assert_eq!(
            (md.uid(), md.mode() & 0o7777),
            (UID, 0o700),
            "{}",
            log.text()
        );
    }
    assert!(nodejob::read(&state, 42).unwrap().is_some());
    (ops, job, state)
}

fn dev(p: &Path) -> u64 {
    fs::symlink_metadata(p).unwrap().dev()
}

/// Root's file outside the job directories, for a user's symlink to point to.
fn outside(fs: &Path) -> PathBuf {
    let f = fs.join("secret");
    fs::write(&f, "root's\n").unwrap();
    chmod(&f, 0o600);
    f
}

fn intact(f: &Path) {
    let md = fs::metadata(f).unwrap();
    assert_eq!(fs::read_to_string(f).unwrap(), "root's\n");
    assert_eq!((md.uid(), md.mode() & 0o7777, md.nlink()), (0, 0o600, 1));
}

#[test]
fn subvolumes_in_job_dirs_are_removed_and_never_drain_the_node() {
    let b = Btrfs::new("epilog");
    let secret = outside(&b.dir);
    let (ops, job, state) = prolog(&b.dir);
    let tmp = b.dir.join("tmp/n1/42");
    let scratch = b.dir.join("scratch/n1/42");
    let deep: Vec<String> = (0..2 * MAX_DEPTH).map(|i| format!("d{i}")).collect();
    as_user(&format!(
        "cd {tmp}
         btrfs -q subvolume create sv
         mkdir -p sv/a/b; echo x > sv/a/b/f
         btrfs -q subvolume create sv/inner; echo y > sv/inner/g
         ln -s {secret} sv/out; ln -s / sv/inner/root
         mkdir -p sv/inner/{deep}; echo z > sv/inner/{deep}/f
         cd {scratch}
         mkdir x y z; echo w > y/f
         mkdir -p z/{deep}; echo u > z/{deep}/f
         btrfs -q subvolume create x/sv2; echo v > x/sv2/h",
        tmp = tmp.display(),
        scratch = scratch.display(),
        secret = secret.display(),
        deep = deep.join("/"),
    ));
    // What the old epilog took for mounts it could not detach.
    assert_ne!(dev(&tmp.join("sv")), dev(&tmp));
    assert_ne!(dev(&tmp.join("sv/inner")), dev(&tmp.join("sv")));
    assert_ne!(dev(&scratch.join("x/sv2")), dev(&scratch));

    let log = MemoryLog::default();
    let r = jobclean::clean(&ops, &log, &job, Source::Record, &state);
    assert_eq!(
        r,
        Ok(Cleaned::Clean),
        "the node would be drained: {}",
        log.text()
    );
    assert!(!tmp.exists() && !scratch.exists(), "{}", log.text());
    assert!(
        log.has(
            Level::Info,
            &format!("removed 2 subvolume(s) found in {}", tmp.display())
        ),
        "{}",
        log.text()
    );
    assert!(
        log.has(
            Level::Info,
            &format!("removed 1 subvolume(s) found in {}", scratch.display())
        ),
        "{}",
        log.text()
    );
    assert!(!log.has(Level::Error, ""), "{}", log.text());
    assert!(!log.has(Level::Warning, ""), "{}", log.text());
    assert_eq!(nodejob::read(&state, 42).unwrap(), None, "record left");
    intact(&secret);
    // The subvolumes are gone from the file system, not just unlinked.
    let list = run(&["btrfs", "subvolume", "list", b.dir.to_str().unwrap()]);
    assert_eq!(list.trim(), "", "subvolumes left: {list}");
}

#[test]
fn read_only_snapshots_are_logged_and_mounts_in_subvolumes_still_detached() {
    let b = Btrfs::new("snap");
    let (ops, job, state) = prolog(&b.dir);
    let tmp = b.dir.join("tmp/n1/42");
    as_user(&format!(
        "cd {tmp}
         btrfs -q subvolume create sv
         mkdir sv/m sv/d; for i in $(seq 1000); do echo $i > sv/d/f$i; done
         btrfs -q subvolume snapshot -r sv snap",
        tmp = tmp.display(),
    ));
    // A mount in the subvolume (as a user's FUSE mount would be).
    let m = tmp.join("sv/m");
    nix::mount::mount(
        Some("tmpfs"),
        &m,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .unwrap();
    fs::write(m.join("on-tmpfs"), "keep").unwrap();
    let held = nix::fcntl::open(
        &m,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();

    let log = MemoryLog::default();
    let r = jobclean::clean(&ops, &log, &job, Source::Record, &state);
    // The snapshot stays (kept for a retry, item 12), never a drain.
    assert!(
        matches!(r, Ok(Cleaned::Left { .. })),
        "the node would be drained: {r:?} {}",
        log.text()
    );
    assert!(
        log.has(Level::Warning, "detached 1 mount(s)"),
        "{}",
        log.text()
    );
    let on_tmpfs = std::ffi::CString::new("on-tmpfs").unwrap();
    assert!(
        nix::sys::stat::fstatat(&held, on_tmpfs.as_c_str(), nix::fcntl::AtFlags::empty()).is_ok(),
        "the removal went into the mounted file system"
    );
    assert!(!tmp.join("sv").exists(), "{}", log.text());
    assert!(
        log.has(Level::Info, "removed 1 subvolume(s)"),
        "{}",
        log.text()
    );
    // The read-only snapshot stays: nothing in it can be removed, and it
    // is given up on at the first entry, not tried entry by entry.
    assert!(tmp.join("snap/d/f1000").exists());
    let wanted = format!("{}: 2 entries could not be removed: ", tmp.display());
    assert!(log.has(Level::Warning, &wanted), "{}", log.text());
    // Kept for a retry by later prologs/epilogs (item 12), said as an error.
    let kept = format!(
        "left {} (2 entries could not be removed). The record",
        tmp.display()
    );
    assert!(log.has(Level::Error, &kept), "{}", log.text());
    assert!(
        log.has(Level::Warning, &format!("{}/snap/", tmp.display())),
        "{}",
        log.text()
    );
    assert!(
        log.has(
            Level::Warning,
            &format!("cannot remove the btrfs subvolume {}/snap: ", tmp.display())
        ),
        "{}",
        log.text()
    );
    assert!(
        log.has(Level::Warning, "`btrfs subvolume delete` removes it"),
        "{}",
        log.text()
    );
}
