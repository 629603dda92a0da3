//! `carme-launch check-config` reports a config that root-side code would
//! refuse because others than root could change it (issue 13, item 7).
//! Run as root (make test does): the files are chowned.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const GOOD: &str = "[runtime]\nkind = \"charliecloud\"\npath = \"/usr/bin/ch-run\"\n";

fn scratch(name: &str) -> PathBuf {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests chown files: run them as root (make test does)"
    );
    let d = std::env::temp_dir().join(format!("carme-check-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    chmod(&d, 0o755);
    d
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn check(path: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_carme-launch"))
        .args(["check-config", "--config"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_reports_a_config_others_can_change() {
    let d = scratch("modes");
    let f = d.join("carme.toml");
    std::fs::write(&f, GOOD).unwrap();
    chmod(&f, 0o644);
    let (code, stdout, stderr) = check(&f);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(&format!("{}: OK", f.display())),
        "{stdout}"
    );

    chmod(&f, 0o664);
    // `images` (and `explain`) still show what the file says, after a
    // warning.
    let out = Command::new(env!("CARGO_BIN_EXE_carme-launch"))
        .args(["images", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{warning}");
    assert!(
        warning.starts_with(&format!(
            "carme: warning: Carme jobs refuse this config: {}: root must not use this \
             config: group or others may write it (owner uid 0, mode 0664).",
            f.display()
        )),
        "{warning}"
    );

    let (code, stdout, stderr) = check(&f);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.starts_with(&format!(
            "carme: {}: root must not use this config: group or others may write it \
             (owner uid 0, mode 0664).",
            f.display()
        )),
        "{stderr}"
    );

    chmod(&f, 0o644);
    std::os::unix::fs::chown(&f, Some(4242), None).unwrap();
    let (code, _, stderr) = check(&f);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("it is not owned by root (owner uid 4242, mode 0644)"),
        "{stderr}"
    );

    std::os::unix::fs::chown(&f, Some(0), None).unwrap();
    chmod(&d, 0o777);
    let (code, _, stderr) = check(&f);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "{} on the way to it: group or others",
            d.display()
        )),
        "{stderr}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
