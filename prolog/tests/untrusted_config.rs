//! carme-prolog acts on no config that others than root could change
//! (issue 13, item 7): from such a config root would run `[beeond]
//! command` and make directories where `[paths]` points. The job is then
//! not prepared (its steps are refused with the reason) and the node is
//! not drained. Run as root (make test does): the prolog makes root-owned
//! directories.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use carme_core::config::DEFAULT_STATE_DIR;
use carme_core::template::PathTemplate;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn prolog(config: &Path, job: u32, node: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carme-prolog"))
        .args(["--config".as_ref(), config.as_os_str()])
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("SLURM_JOB_CONSTRAINTS", "carme")
        .env("SLURM_JOB_ID", job.to_string())
        .env("SLURM_JOB_UID", "65534")
        .env("SLURM_JOB_GID", "65534")
        .env("SLURMD_NODENAME", node)
        .output()
        .unwrap()
}

#[test]
fn a_config_others_can_write_prepares_nothing() {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    assert!(
        std::fs::metadata("/proc/self").unwrap().uid() == 0,
        "the prolog makes root-owned directories: run as root (make test does)"
    );
    let node = format!("cfgtest{}", std::process::id());
    let d: PathBuf = std::env::temp_dir().join(format!("carme-prolog-{node}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    chmod(&d, 0o755);
    let config = d.join("carme.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\nkind = \"charliecloud\"\npath = \"/usr/bin/ch-run\"\n\
             [paths]\nstate_dir = \"{d}/state/%n\"\ntmp_base = \"{d}/tmp/%n\"\n\
             scratch_base = \"{d}/scratch/%n\"\nlog_dir = \"{d}/log\"\n",
            d = d.display()
        ),
    )
    .unwrap();
    let tmp = d.join("tmp").join(&node);

    // Root's config: the job's tmp directory is made.
    chmod(&config, 0o644);
    let out = prolog(&config, 41, &node);
    assert!(out.status.success(), "{out:?}");
    assert!(tmp.join("41").is_dir(), "{out:?}");

    // Group-writable: nothing is made where the file points, and the
    // reason (file and mode) is logged; exit 0, so no drain.
    chmod(&config, 0o664);
    let out = prolog(&config, 42, &node);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    assert!(!tmp.join("42").exists(), "{stderr}");
    assert!(!d.join("state").join(&node).join("job-42").exists());
    assert!(
        stderr.contains(&format!(
            "{}: root must not use this config: group or others may write it (owner uid 0, \
             mode 0664)",
            config.display()
        )),
        "{stderr}"
    );

    std::fs::remove_dir_all(&d).unwrap();
    // The record of the refused job went to the default state dir.
    let default = PathTemplate::parse(DEFAULT_STATE_DIR)
        .unwrap()
        .expand(&node, Some(42));
    let _ = std::fs::remove_dir_all(default);
}
