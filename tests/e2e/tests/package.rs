//! The package as an admin meets it (issue 12). tests/e2e/run.sh names the
//! suite's .deb in CARME_E2E_DEB.
//!
//! - Slurm 24.11 and 26.05 (Debian roots): run.sh installed the .deb and
//!   enabled it with the link the shipped snippet describes; the cluster
//!   runs the installed files. Here: `dpkg -r` leaves Slurm working for
//!   every job that does not use Carme (the enabling link dangles, which
//!   Slurm skips; the Prolog=/Epilog= wrappers stay and do nothing), and
//!   a reinstall brings Carme back with the admin's config kept.
//! - Slurm 22.05 (this machine, whose /usr the harness never installs
//!   into): the cluster loads the very plugin build the bookworm .deb
//!   carries, and the .deb is pinned to 22.05.

use std::path::Path;
use std::process::Command;

use carme_e2e::{Cluster, STAFF, exclusive_config, slurm_series};

const INSTALLED_SO: &str = "/usr/lib/x86_64-linux-gnu/slurm-wlm/spank_carme.so";
const ENABLE_LINK: &str = "/etc/slurm/plugstack.conf.d/carme.conf";
const SNIPPET: &str = "/usr/share/carme/plugstack.conf";

fn deb() -> String {
    std::env::var("CARME_E2E_DEB")
        .expect("tests/e2e/run.sh names the suite's .deb in CARME_E2E_DEB")
}

/// A file out of the .deb, by its path in the package.
fn from_deb(deb: &str, path: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .args([
            "-c",
            "dpkg-deb --fsys-tarfile \"$1\" | tar -xOf - \"./$2\"",
            "sh",
            deb,
            path,
        ])
        .output()
        .expect("dpkg-deb");
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "{path} from {deb}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn deb_field(deb: &str, field: &str) -> String {
    let out = Command::new("dpkg-deb")
        .args(["-f", deb, field])
        .output()
        .expect("dpkg-deb");
    assert!(out.status.success(), "dpkg-deb -f {deb} {field}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sh(cmd: &[&str]) -> (bool, String) {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A Carme step in the `base` image: it prints the image's name.
fn carme_step(c: &Cluster) -> carme_e2e::Out {
    c.run_as(
        STAFF,
        &[
            "srun",
            "-N1",
            "--constraint=carme",
            "--carme-image=base",
            "cat",
            "/CARME_IMAGE",
        ],
    )
}

#[test]
fn the_package_is_what_runs_and_removing_it_leaves_slurm_working() {
    let c = Cluster::get();
    let deb = deb();
    let (major, minor) = slurm_series();
    let series = format!("{major}.{minor:02}");
    let depends = deb_field(&deb, "Depends");
    assert!(
        depends.contains(&format!("slurm-wlm-basic-plugins (>= {series}~)")),
        "{deb} is not pinned to the running Slurm {series}: {depends}"
    );
    let packaged_so = from_deb(&deb, INSTALLED_SO.trim_start_matches('/'));
    let loaded = std::fs::read(c.dir.join("lib/libcarme_spank.so")).expect("the cluster's plugin");
    assert!(
        packaged_so == loaded,
        "the cluster does not load the plugin {deb} carries"
    );

    if (major, minor) < (23, 11) {
        // 22.05 runs on this machine: nothing is installed; the bytes above
        // are the link between the bookworm package and the suite's run.
        return;
    }

    // Installed and enabled by run.sh, as the docs tell admins.
    let link = c.dir.join("lib/libcarme_spank.so");
    assert_eq!(
        std::fs::read_link(&link).expect("a link to the installed plugin"),
        Path::new(INSTALLED_SO)
    );
    assert_eq!(
        std::fs::read_link(ENABLE_LINK).expect("the enabling link"),
        Path::new(SNIPPET)
    );
    let (ok, version) = sh(&["dpkg-query", "-W", "-f", "${Version}", "carme-slurm"]);
    assert!(
        ok && version == deb_field(&deb, "Version"),
        "installed: {version}"
    );
    carme_step(&c).ok().expect_lines(&["base"]);

    // Nothing else may run while the plugin is gone.
    let _only_us = exclusive_config();
    struct Reinstall<'a>(&'a str, bool);
    impl Drop for Reinstall<'_> {
        fn drop(&mut self) {
            if !self.1 {
                // Leave the cluster as the other tests expect it.
                let _ = sh(&["dpkg", "-i", "--force-confold", "--force-confdef", self.0]);
            }
        }
    }
    let mut guard = Reinstall(&deb, false);

    let config_link =
        std::fs::read_link("/etc/carme/carme.toml").expect("the cluster's config link");
    let (ok, text) = sh(&["dpkg", "-r", "carme-slurm"]);
    assert!(ok, "dpkg -r: {text}");
    assert!(!Path::new(INSTALLED_SO).exists(), "dpkg -r left the plugin");
    assert!(
        !Path::new("/usr/bin/carme-launch").exists(),
        "dpkg -r left carme-launch"
    );
    // The admin's link stays and dangles; the conffile (here the admin's
    // link to the cluster's config) stays until purge.
    assert_eq!(
        std::fs::read_link(ENABLE_LINK).expect("the enabling link stays"),
        Path::new(SNIPPET)
    );
    assert!(!Path::new(SNIPPET).exists());
    assert_eq!(
        std::fs::read_link("/etc/carme/carme.toml").ok(),
        Some(config_link.clone())
    );
    // So do the Prolog=/Epilog= wrappers slurm.conf names: a missing
    // program there would drain every node at the next job.
    for f in ["/etc/carme/prolog", "/etc/carme/epilog"] {
        assert!(Path::new(f).is_file(), "dpkg -r removed {f}");
    }

    // Every job that does not use Carme runs: steps on all three nodes
    // (each slurmstepd reads the plugstack), a batch job, and a job that
    // names the gate feature, now without Carme.
    c.run_as(STAFF, &["srun", "-N3", "hostname"])
        .ok()
        .stdout_lines()
        .expect_count(3);
    c.sbatch(STAFF, "nopkg")
        .args(&["-N1"])
        .discard_output()
        .wrap("true")
        .run()
        .expect_exit(0);
    // A carme-constrained job, on the host without Carme.
    c.run_as(
        STAFF,
        &[
            "srun",
            "-N1",
            "--constraint=carme",
            "test",
            "!",
            "-e",
            "/CARME_IMAGE",
        ],
    )
    .ok();
    // Carme's own option is gone with the plugin: refused by srun itself.
    carme_step(&c).failed().expect_stderr_has("carme-image");

    // Reinstall: enabled again through the same link, the config kept.
    let (ok, text) = sh(&["dpkg", "-i", "--force-confold", "--force-confdef", &deb]);
    assert!(ok, "dpkg -i: {text}");
    guard.1 = true;
    assert_eq!(
        std::fs::read_link("/etc/carme/carme.toml").ok(),
        Some(config_link)
    );
    assert!(std::fs::read(INSTALLED_SO).expect("the plugin again") == packaged_so);
    // After the reinstall.
    carme_step(&c).ok().expect_lines(&["base"]);
}
