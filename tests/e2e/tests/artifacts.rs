//! The plugin the cluster loads exports exactly the symbols Slurm needs:
//! its identity and the callbacks it uses. An extra
//! `slurm_spank_job_prolog`/`_job_epilog` would make slurmd run a SPANK
//! prolog/epilog step for every job on the node.

use std::process::Command;

use carme_e2e::Cluster;

#[test]
fn plugin_exports_only_identity_and_used_callbacks() {
    let so = Cluster::get().dir.join("lib/libcarme_spank.so");
    let out = Command::new("nm")
        .args(["-D", "--defined-only", "--format=just-symbols"])
        .arg(&so)
        .output()
        .expect("nm (binutils) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "plugin_name",
            "plugin_type",
            "plugin_version",
            "slurm_spank_init",
            "slurm_spank_init_post_opt",
            "slurm_spank_local_user_init",
            "slurm_spank_task_init",
            "slurm_spank_task_init_privileged",
            "slurm_spank_user_init",
        ]
    );
}

#[test]
fn plugin_links_no_slurm_library() {
    // libslurm comes from the process that loads the plugin.
    let so = Cluster::get().dir.join("lib/libcarme_spank.so");
    let out = Command::new("readelf").arg("-d").arg(&so).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(NEEDED)"), "{text}");
    assert!(!text.contains("libslurm"), "{text}");
}
