use super::*;
use std::time::Duration;

const ALL: &str = r#"
[runtime]
kind = "apptainer"
path = "/usr/bin/apptainer"

[paths]
state_dir = "/run/carme/%n"
tmp_base = "/var/tmp/carme/%n"
scratch_base = "/local/carme/%n"
scratch_target = "/scratch"
shm_size = "2G"
log_dir = "/var/log/carme"

[gpu]
device_dir = "/dev"
hide_unallocated = false
nvml = "/opt/nvidia/lib/libnvidia-ml.so.1"

[beeond]
command = "/usr/bin/beeond"
feature = "beeond"
data_dir = "/local/beeond/%n"
mount_base = "/mnt/beeond"
status_dir = "/run/carme/beeond"
start_timeout = "90s"
stop_timeout = "1m"
wait_timeout = "150s"
extra_start_args = ["-T", "-r"]

[images.pytorch]
path = "/srv/pt.sif"
gpu = true
runtime = "singularity"
cuda = "12.4"
workdir = "/work"
runtime_args = ["--writable-tmpfs"]
variants = ["pytorch-cu11"]
env = { OMP_NUM_THREADS = "4" }
mounts = [ { source = "/datasets", target = "/datasets", mode = "ro", optional = true } ]

[images.pytorch-cu11]
path = "/srv/pt11.sif"
cuda = "11.8"
"#;

fn parse(t: &str) -> Result<Config, ConfigError> {
    Config::parse(t, Path::new("/c.toml"))
}

#[test]
fn every_node_key_parses() {
    let c = parse(ALL).unwrap();
    assert_eq!(
        c.paths.tmp_base.expand("n1", Some(7)),
        Path::new("/var/tmp/carme/n1")
    );
    assert_eq!(
        c.paths.scratch_base.as_ref().unwrap().as_str(),
        "/local/carme/%n"
    );
    assert_eq!(c.paths.shm_size, 2 << 30);
    assert!(!c.gpu.hide_unallocated);
    assert_eq!(c.gpu.nvml, Path::new("/opt/nvidia/lib/libnvidia-ml.so.1"));
    let b = c.beeond.as_ref().unwrap();
    assert_eq!(
        (b.start_timeout, b.stop_timeout),
        (Duration::from_secs(90), Duration::from_secs(60))
    );
    assert_eq!(b.extra_start_args, ["-T", "-r"]);
    let pt = &c.images["pytorch"];
    assert!(pt.gpu);
    assert_eq!(pt.runtime, Some(RuntimeKind::Singularity));
    assert_eq!(pt.cuda, Some(CudaVersion(12040)));
    assert_eq!(pt.cuda.unwrap().to_string(), "12.4");
    assert_eq!(pt.env["OMP_NUM_THREADS"], "4");
    assert!(pt.mounts[0].optional);
    assert_eq!(pt.variants, ["pytorch-cu11"]);
}

#[test]
fn node_key_defaults() {
    let c = parse("[runtime]\nkind = \"charliecloud\"\npath = \"/x\"\n").unwrap();
    assert_eq!(c.paths.tmp_base.as_str(), DEFAULT_TMP_BASE);
    assert_eq!(c.paths.scratch_base, None);
    assert_eq!(c.paths.scratch_target, Path::new("/scratch"));
    assert_eq!(c.paths.shm_size, 8 << 30);
    assert_eq!(c.gpu.device_dir.as_str(), "/dev");
    assert!(c.gpu.hide_unallocated);
    assert_eq!(c.gpu.nvml, Path::new("libnvidia-ml.so.1"));
    assert_eq!(c.beeond, None, "no [beeond]: BeeOND is off");
    let c = parse("[runtime]\nkind = \"charliecloud\"\npath = \"/x\"\n[beeond]\n").unwrap();
    let b = c.beeond.unwrap();
    assert_eq!(
        (b.feature.as_str(), b.wait_timeout),
        ("beeond", Duration::from_secs(150))
    );
}

/// Issue 13: with status_dir in /var/tmp (the old default) any user
/// could plant the status file beeond stop reads as root.
#[test]
fn status_dir_in_a_user_writable_dir_is_a_config_error() {
    for bad in [
        "/var/tmp",
        "/var/tmp/carme-beeond",
        "/tmp",
        "/dev/shm/b",
        "/run/lock/%n",
    ] {
        let t = ALL.replace(
            "status_dir = \"/run/carme/beeond\"",
            &format!("status_dir = \"{bad}\""),
        );
        let e = parse(&t).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("beeond.status_dir"), "{bad}");
        assert!(e.message.contains("every user can create files"), "{e}");
        assert!(e.line.is_some(), "{e}");
    }
    for good in ["/run/carme/beeond", "/var/lib/carme/beeond", "/tmpfs/b"] {
        let t = ALL.replace(
            "status_dir = \"/run/carme/beeond\"",
            &format!("status_dir = \"{good}\""),
        );
        assert!(parse(&t).is_ok(), "{good}");
    }
    // The default: the job's status file under /run, never /var/tmp.
    let c = parse("[runtime]\nkind = \"charliecloud\"\npath = \"/x\"\n[beeond]\n").unwrap();
    assert_eq!(
        c.beeond.unwrap().status_dir.as_str(),
        DEFAULT_BEEOND_STATUS_DIR
    );
    assert_eq!(DEFAULT_BEEOND_STATUS_DIR, "/run/carme/beeond");
}

/// Issue 13 (review): a BeeOND data dir or mount base a user could
/// create first would drain the node; refused at load.
#[test]
fn beeond_dirs_in_user_writable_dirs_are_config_errors() {
    for (from, to, key) in [
        (
            "data_dir = \"/local/beeond/%n\"",
            "data_dir = \"/var/tmp/beeond/%n\"",
            "beeond.data_dir",
        ),
        (
            "mount_base = \"/mnt/beeond\"",
            "mount_base = \"/tmp/beeond\"",
            "beeond.mount_base",
        ),
    ] {
        assert!(ALL.contains(from), "{from}");
        let e = parse(&ALL.replace(from, to)).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.message.contains("drain the node"), "{e}");
    }
}

/// Issue 13: no default root-managed directory lies where a user could
/// create it first.
#[test]
fn defaults_are_not_in_user_writable_dirs() {
    for d in [
        DEFAULT_STATE_DIR,
        DEFAULT_TMP_BASE,
        DEFAULT_LOG_DIR,
        DEFAULT_BEEOND_STATUS_DIR,
    ] {
        assert_eq!(in_shared_writable_dir(Path::new(d)), None, "{d}");
    }
    let c = parse("[runtime]\nkind = \"charliecloud\"\npath = \"/x\"\n[beeond]\n").unwrap();
    let b = c.beeond.unwrap();
    for t in [
        &b.data_dir,
        &b.mount_base,
        &c.paths.tmp_base,
        &c.paths.state_dir,
    ] {
        assert_eq!(in_shared_writable_dir(Path::new(t.as_str())), None, "{t:?}");
    }
}

#[test]
fn bad_node_keys_are_located() {
    let cases = [
        ("shm_size = \"2G\"", "shm_size = \"0\"", "paths.shm_size"),
        (
            "scratch_target = \"/scratch\"",
            "scratch_target = \"/\"",
            "paths.scratch_target",
        ),
        (
            "tmp_base = \"/var/tmp/carme/%n\"",
            "tmp_base = \"tmp\"",
            "paths.tmp_base",
        ),
        (
            "nvml = \"/opt/nvidia/lib/libnvidia-ml.so.1\"",
            "nvml = \"lib/x.so\"",
            "gpu.nvml",
        ),
        (
            "hide_unallocated = false",
            "hide_unallocated = \"no\"",
            "gpu.hide_unallocated",
        ),
        (
            "start_timeout = \"90s\"",
            "start_timeout = \"90\"",
            "beeond.start_timeout",
        ),
        (
            "feature = \"beeond\"",
            "feature = \"bee ond\"",
            "beeond.feature",
        ),
        (
            "extra_start_args = [\"-T\", \"-r\"]",
            "extra_start_args = [\"-c\", \"/x\"]",
            "beeond.extra_start_args",
        ),
        (
            "cuda = \"12.4\"",
            "cuda = \"twelve\"",
            "images.pytorch.cuda",
        ),
        (
            "workdir = \"/work\"",
            "workdir = \"work\"",
            "images.pytorch.workdir",
        ),
        (
            "runtime = \"singularity\"",
            "runtime = \"podman\"",
            "images.pytorch.runtime",
        ),
        (
            "variants = [\"pytorch-cu11\"]",
            "variants = [\"nope\"]",
            "images.pytorch.variants[0]",
        ),
        (
            "variants = [\"pytorch-cu11\"]",
            "variants = [\"pytorch\"]",
            "images.pytorch.variants[0]",
        ),
        (
            "env = { OMP_NUM_THREADS = \"4\" }",
            "env = { \"1X\" = \"4\" }",
            "images.pytorch.env.1X",
        ),
        (
            "env = { OMP_NUM_THREADS = \"4\" }",
            "env = { CARME_LAUNCH_IMAGE = \"x\" }",
            "images.pytorch.env.CARME_LAUNCH_IMAGE",
        ),
        (
            "optional = true",
            "optional = 1",
            "images.pytorch.mounts[0].optional",
        ),
    ];
    for (from, to, key) in cases {
        assert!(ALL.contains(from), "{from}");
        let bad = ALL.replacen(from, to, 1);
        let err = parse(&bad).expect_err(to);
        assert_eq!(err.key.as_deref(), Some(key), "{to}: {err}");
        let want = bad
            .lines()
            .position(|l| l.contains(to.lines().next().unwrap()))
            .unwrap()
            + 1;
        assert_eq!(err.line, Some(want), "{to}: {err}");
    }
    // A variant without a CUDA version cannot be chosen among.
    let bad = ALL.replacen("cuda = \"11.8\"", "", 1);
    assert_eq!(
        parse(&bad).unwrap_err().key.as_deref(),
        Some("images.pytorch.variants[0]")
    );
}
