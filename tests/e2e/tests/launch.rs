//! Images and launch (issue 6), end to end on the harness cluster:
//! Charliecloud for real (mounts, environment, working directory), the
//! strict Apptainer/SingularityCE stand-ins for the argv and environment
//! contract (with `--cleanenv`, across two nodes), an MPI-like rank check
//! on both Carme nodes, driver matching against the NVML stand-in (and
//! without any NVML), and `carme-launch explain` / `images`.
//!
//! The NVML stand-in (tests/standins/nvml) is the harness's copy
//! (`DIR/lib/nvml`), installed again with node files of the test's own.
//!
//! Tests that change the cluster's carme.toml build theirs from the
//! harness's own `[gate]`, `[paths]` and `[gpu]` tables (so the step
//! namespace keeps its harness paths) plus their own runtime, mounts and
//! images, all under a directory of their own in the cluster dir.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use carme_e2e::{
    Cluster, ConfigSwap, OTHER, STAFF, STUDENT, exclusive_config, home_of, run_here, shared_config,
    unique_name,
};

/// A directory of the test's own under the cluster dir (readable by the
/// test users), removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(c: &Cluster, what: &str) -> Scratch {
        let dir = c.dir.join(unique_name(&format!("launch-{what}")));
        std::fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o755);
        Scratch { dir }
    }

    /// A copy of the harness's base image whose /CARME_IMAGE says `name`,
    /// with extra (mount point) directories.
    fn image(&self, c: &Cluster, name: &str, dirs: &[&str]) -> PathBuf {
        let dest = self.dir.join(format!("img-{name}"));
        let out = Command::new("cp")
            .arg("-a")
            .arg(c.dir.join("images/base"))
            .arg(&dest)
            .output()
            .unwrap();
        assert!(out.status.success(), "cp: {out:?}");
        std::fs::write(dest.join("CARME_IMAGE"), format!("{name}\n")).unwrap();
        for d in dirs {
            std::fs::create_dir_all(dest.join(d)).unwrap();
            chmod(&dest.join(d), 0o755);
        }
        dest
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The harness config's `[gate]`, `[paths]` and `[gpu]` tables: everything
/// before its `[runtime]` table.
fn harness_head(original: &str) -> String {
    let at = original
        .find("\n[runtime]")
        .expect("the harness config has a [runtime] table");
    original[..at + 1].to_string()
}

fn runtime_table(c: &Cluster, kind: &str) -> String {
    let d = c.dir.display();
    let path = if kind == "charliecloud" {
        which("ch-run")
    } else {
        format!("{d}/libexec/standins/{kind}")
    };
    format!(
        "[runtime]\nkind = \"{kind}\"\npath = \"{path}\"\n\
         exec_helper = \"{d}/libexec/carme-exec\"\n"
    )
}

fn which(program: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!path.is_empty(), "{program} is not installed");
    path
}

fn records(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("stand-in record is JSON"))
        .collect()
}

/// The MPI-like check every rank runs: it fails unless the Slurm task
/// environment is intact and agrees with Carme's node list, and prints one
/// line per rank.
const RANK_CHECK: &str = r#"#!/bin/sh
for v in SLURM_PROCID SLURM_NTASKS SLURM_NODEID SLURM_LOCALID SLURM_STEP_NUM_NODES \
         SLURMD_NODENAME CARME_NODES CARME_MASTER CARME_IMAGE_NAME; do
    eval "x=\${$v-}"
    [ -n "$x" ] || { echo "rank check: $v is not set" >&2; exit 3; }
done
[ "$SLURM_PROCID" -lt "$SLURM_NTASKS" ] || { echo "rank check: bad rank" >&2; exit 4; }
me=$(echo "$CARME_NODES" | tr ',' '\n' | sed -n "$((SLURM_NODEID + 1))p")
[ "$me" = "$SLURMD_NODENAME" ] || { echo "rank check: node $SLURM_NODEID is $me, not $SLURMD_NODENAME" >&2; exit 5; }
echo "rank=$SLURM_PROCID ntasks=$SLURM_NTASKS nodeid=$SLURM_NODEID node=$SLURMD_NODENAME nodes=$CARME_NODES master=$CARME_MASTER image=$CARME_IMAGE_NAME gpus=${CUDA_VISIBLE_DEVICES-none} greeting=${GREETING-} user=${USER_ONLY-}"
"#;

/// Write the rank check into the harness's shared dir (bound at /data in
/// the harness config); its host path.
fn rank_check(c: &Cluster) -> PathBuf {
    let path = c
        .dir
        .join("shared")
        .join(format!("{}.sh", unique_name("rankcheck")));
    std::fs::write(&path, RANK_CHECK).unwrap();
    chmod(&path, 0o755);
    path
}

/// Parse the rank check's lines and check what every MPI launcher relies
/// on: ranks 0..n-1 once each, both Carme nodes, node ids in node order.
fn check_ranks(stdout: &str, n: usize) -> Vec<std::collections::BTreeMap<String, String>> {
    let lines: Vec<std::collections::BTreeMap<String, String>> = stdout
        .lines()
        .filter(|l| l.starts_with("rank="))
        .map(|l| {
            l.split(' ')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    assert_eq!(lines.len(), n, "{stdout}");
    let ranks: BTreeSet<usize> = lines.iter().map(|l| l["rank"].parse().unwrap()).collect();
    assert_eq!(ranks, (0..n).collect(), "{stdout}");
    for l in &lines {
        assert_eq!(l["ntasks"], n.to_string(), "{stdout}");
        assert_eq!(l["nodes"], "n1,n2", "{stdout}");
        assert_eq!(l["master"], "n1", "{stdout}");
        let want = if l["node"] == "n1" { "0" } else { "1" };
        assert_eq!(l["nodeid"], want, "{stdout}");
    }
    let nodes: BTreeSet<&str> = lines.iter().map(|l| l["node"].as_str()).collect();
    assert_eq!(nodes.into_iter().collect::<Vec<_>>(), ["n1", "n2"]);
    lines
}

#[test]
fn mpi_like_ranks_across_both_carme_nodes_in_charliecloud() {
    let _g = shared_config();
    let c = Cluster::get();
    let script = rank_check(&c);
    let in_image = format!("/data/{}", script.file_name().unwrap().to_str().unwrap());
    let out = c.run_as(
        STAFF,
        &[
            "srun",
            "-N2",
            "-n4",
            "--constraint=carme",
            "--carme-image=tools",
            "sh",
            &in_image,
        ],
    );
    std::fs::remove_file(&script).ok();
    out.ok();
    for l in check_ranks(&out.stdout, 4) {
        assert_eq!(l["image"], "tools");
    }
}

#[test]
fn charliecloud_mounts_environment_and_workdir() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let original = std::fs::read_to_string(c.carme_toml()).unwrap();
    let s = Scratch::new(&c, "cc");
    let img = s.image(&c, "envimg", &["ro-in", "opt-in", "req-in"]);
    let ro_src = s.path("ro-src");
    std::fs::create_dir_all(&ro_src).unwrap();
    chmod(&ro_src, 0o755);
    std::fs::write(ro_src.join("hello.txt"), "ro content\n").unwrap();
    let sub = unique_name("sub");
    let shared_sub = c.dir.join("shared").join(&sub);
    std::fs::create_dir_all(&shared_sub).unwrap();
    chmod(&shared_sub, 0o755);
    let d = c.dir.display();
    let absent = s.path("absent");
    let config = format!(
        "{head}{runtime}\
         [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
         [[mounts]]\nsource = \"{d}/shared\"\ntarget = \"/data\"\n\
         [[mounts]]\nsource = \"{ro}\"\ntarget = \"/ro-in\"\nmode = \"ro\"\n\
         [[mounts]]\nsource = \"{absent}\"\ntarget = \"/opt-in\"\noptional = true\n\
         [images.base]\npath = \"{d}/images/base\"\n\
         [images.envimg]\npath = \"{img}\"\ndescription = \"env test\"\n\
         env = {{ GREETING = \"hello world\", TRICKY = \"'q' $HOME\", CARME_JOB_ID = \"image\" }}\n\
         [images.wd]\npath = \"{img}\"\nworkdir = \"/data\"\n\
         [images.broken]\npath = \"{img}\"\n\
         mounts = [ {{ source = \"{absent}-req\", target = \"/req-in\" }} ]\n",
        head = harness_head(&original),
        runtime = runtime_table(&c, "charliecloud"),
        ro = ro_src.display(),
        img = img.display(),
        absent = absent.display(),
    );
    let _swap = ConfigSwap::new(&c.carme_toml(), &config);

    // Environment (literal values; Carme's job variables win), binds (the
    // optional one with a missing source left out), cwd under /home.
    let out = c.run_as(
        STAFF,
        &[
            "srun",
            "-C",
            "carme",
            "--carme-image=envimg",
            "sh",
            "-c",
            "echo \"G=$GREETING\"; echo \"T=$TRICKY\"; echo \"J=$CARME_JOB_ID/$SLURM_JOB_ID\"; \
             echo \"I=$CARME_IMAGE_NAME\"; echo \"TMP=$TMPDIR\"; cat /ro-in/hello.txt; \
             echo \"opt=$(ls -A /opt-in | wc -l)\"; pwd; \
             echo \"SSD=$CARME_LOCAL_SSD_PATH $CARME_TMPDIR\"",
        ],
    );
    let lines = out.ok().stdout_lines();
    assert_eq!(lines[0], "G=hello world", "{}", out.all());
    assert_eq!(lines[1], "T='q' $HOME", "{}", out.all());
    let (carme_job, slurm_job) = lines[2][2..].split_once('/').unwrap();
    assert_eq!(carme_job, slurm_job, "{}", out.all());
    assert!(carme_job.parse::<u32>().is_ok(), "{}", out.all());
    assert_eq!(lines[3], "I=envimg");
    assert_eq!(lines[4], "TMP=/tmp");
    // The read-only mount is there; ch-run 0.31 cannot make it read-only
    // (docs/images.md), which `explain` says (read_only_enforced: false).
    assert_eq!(lines[5], "ro content");
    assert_eq!(
        lines[6],
        "opt=0",
        "optional mount bound anyway: {}",
        out.all()
    );
    assert_eq!(lines[7], home_of(STAFF).to_str().unwrap(), "{}", out.all());
    // The plugin's Carme paths pass through ch-run.
    assert_eq!(lines[8], format!("SSD={d}/scratch /tmp"), "{}", out.all());

    // The image's workdir.
    c.run_as(STAFF, &["srun", "-C", "carme", "--carme-image=wd", "pwd"])
        .ok()
        .expect_lines(&["/data"]);

    // The submit dir under a bind whose container path differs: translated.
    let chdir = format!("--chdir={}", shared_sub.display());
    c.run_as(
        STAFF,
        &["srun", &chdir, "-C", "carme", "--carme-image=envimg", "pwd"],
    )
    .ok()
    .expect_lines(&[&format!("/data/{sub}")]);

    // A required mount without its source: refused before the runtime runs.
    let want = format!(
        "carme: cannot start the task in image 'broken': the mount source {}-req (for \
         /req-in, a mount of image 'broken') does not exist on node n",
        absent.display()
    );
    c.run_as(
        STAFF,
        &["srun", "-C", "carme", "--carme-image=broken", "true"],
    )
    .expect_code(125)
    .expect_stderr_has(&want);
    std::fs::remove_dir_all(&shared_sub).ok();
}

#[test]
fn apptainer_and_singularity_get_the_job_env_through_cleanenv_on_two_nodes() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let original = std::fs::read_to_string(c.carme_toml()).unwrap();
    let s = Scratch::new(&c, "app");
    let d = c.dir.display();
    let image = |name: &str, extra: &str| {
        format!(
            "[images.{name}]\npath = \"{d}/images/base\"\ngpu = true\n\
             runtime_args = [\"--cleanenv\"]\n\
             env = {{ GREETING = \"hello world\", TRICKY = \"'q' $HOME `x`\" }}\n{extra}"
        )
    };
    let config = format!(
        "{head}{runtime}\
         [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
         [[mounts]]\nsource = \"{d}/shared\"\ntarget = \"/data\"\nmode = \"ro\"\n\
         [[mounts]]\nsource = \"{absent}\"\ntarget = \"/opt-in\"\noptional = true\n\
         [images.base]\npath = \"{d}/images/base\"\n{app}{sing}",
        head = harness_head(&original),
        runtime = runtime_table(&c, "apptainer"),
        absent = s.path("absent").display(),
        app = image("app", ""),
        sing = image("sing", "runtime = \"singularity\"\n"),
    );
    let _swap = ConfigSwap::new(&c.carme_toml(), &config);
    let script = rank_check(&c);
    let home = home_of(STAFF);
    for (image, tool, prefix) in [
        ("app", "apptainer", "APPTAINERENV_"),
        ("sing", "singularity", "SINGULARITYENV_"),
    ] {
        let log = home.join(format!("{}.jsonl", unique_name(tool)));
        let img = format!("--carme-image={image}");
        let out = c.run_full(
            STAFF,
            &[
                "srun",
                "-N2",
                "-n4",
                "--gres=gpu:1",
                "-C",
                "carme",
                &img,
                "sh",
                script.to_str().unwrap(),
            ],
            &[
                ("CARME_STANDIN_LOG", log.to_str().unwrap()),
                ("CARME_STANDIN_NV", "ok"),
                ("USER_ONLY", "from-the-user"),
            ],
            None,
        );
        let recs = records(&log);
        std::fs::remove_file(&log).ok();
        assert_eq!(out.code, 0, "{image}: {}\n{recs:?}", out.all());
        for l in check_ranks(&out.stdout, 4) {
            assert_eq!(l["image"], image);
            assert_eq!(l["greeting"], "hello", "{image}: {}", out.stdout);
            // --cleanenv: the user's own variables stay out ...
            assert_eq!(l["user"], "", "{image}: {}", out.stdout);
            // ... the GPU selection gets in.
            assert_ne!(l["gpus"], "none", "{image}: {}", out.stdout);
        }
        assert_eq!(recs.len(), 4, "{image}: one exec per task: {recs:?}");
        for r in &recs {
            assert_eq!(r["tool"], tool, "{r}");
            assert_eq!(r["status"], "exec", "{r}");
            let f = &r["flags"];
            assert_eq!(f["cleanenv"], true, "{r}");
            assert_eq!(f["nv"], true, "{r}");
            assert_eq!(f["no-eval"], true, "{r}");
            assert_eq!(f["cwd"], home.to_str().unwrap(), "{r}");
            let binds: Vec<&str> = r["binds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["dest"].as_str().unwrap())
                .collect();
            assert!(!binds.contains(&"/opt-in"), "optional mount bound: {r}");
            let env = &r["env"];
            for k in [
                "SLURM_PROCID",
                "SLURM_NTASKS",
                "SLURM_NODEID",
                "SLURM_JOB_ID",
                "CUDA_VISIBLE_DEVICES",
                "CARME_TMPDIR",
                "CARME_LOCAL_SSD_PATH",
                "TMPDIR",
            ] {
                assert!(env[k].is_string(), "{image}: {k} missing: {r}");
            }
            assert_eq!(env["CARME_JOB_ID"], env["SLURM_JOB_ID"], "{r}");
            assert_eq!(env["CARME_NODES"], "n1,n2", "{r}");
            assert_eq!(env["CARME_MASTER"], "n1", "{r}");
            assert_eq!(env["CARME_IMAGE_NAME"], image, "{r}");
            assert_eq!(env["CARME_JOB_GPUS"], env["SLURM_STEP_GPUS"], "{r}");
            assert_eq!(env["GREETING"], "hello world", "{r}");
            assert_eq!(env["TRICKY"], "'q' $HOME `x`", "{r}");
            assert!(env.get("USER_ONLY").is_none(), "{r}");
            assert!(
                env.as_object()
                    .unwrap()
                    .keys()
                    .all(|k| !k.starts_with("CARME_LAUNCH_") && !k.starts_with(prefix)),
                "plumbing or prefixed copies leaked: {r}"
            );
        }
    }
    std::fs::remove_file(&script).ok();
}

/// `carme-launch run` outside Slurm against the stand-ins: the exact argv
/// and the prefixed environment, for every per-image key.
#[test]
fn argv_and_env_contract_for_every_image_key() {
    let _g = shared_config();
    let c = Cluster::get();
    let s = Scratch::new(&c, "contract");
    let d = c.dir.display();
    let workdir = s.path("work");
    std::fs::create_dir_all(&workdir).unwrap();
    for (kind, prefix) in [
        ("apptainer", "APPTAINERENV_"),
        ("singularity", "SINGULARITYENV_"),
    ] {
        let cfg = s.path(&format!("{kind}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "{runtime}\
                 [[mounts]]\nsource = \"{d}/shared\"\ntarget = \"/data\"\nmode = \"ro\"\n\
                 [[mounts]]\nsource = \"{d}/nope\"\ntarget = \"/nope\"\noptional = true\n\
                 [images.full]\npath = \"{d}/images/base\"\ngpu = true\nworkdir = \"{w}\"\n\
                 runtime_args = [\"--containall\", \"--writable-tmpfs\"]\n\
                 env = {{ OMP_NUM_THREADS = \"8\", LANG = \"C\", PATH = \"/opt/x/bin:/usr/bin:/bin\" }}\n\
                 mounts = [ {{ source = \"{d}/images\", target = \"/images\" }} ]\n",
                runtime = runtime_table(&c, kind),
                w = workdir.display(),
            ),
        )
        .unwrap();
        let log = s.path(&format!("{kind}.jsonl"));
        let out = run_here(
            Command::new(c.dir.join("libexec/carme-launch"))
                .args(["run", "--config", cfg.to_str().unwrap(), "--image", "full"])
                .args([
                    "--",
                    "sh",
                    "-c",
                    "echo $OMP_NUM_THREADS-$LANG-$SLURM_PROCID",
                ])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("LANG", "de_DE.UTF-8")
                .env("SLURMD_NODENAME", "n1")
                .env("SLURM_JOB_ID", "4711")
                .env("SLURM_JOB_NAME", "a $name")
                .env("SLURM_JOB_NODELIST", "n[1-2]")
                .env("SLURM_PROCID", "1")
                .env("SLURM_STEP_GPUS", "2")
                .env("CUDA_VISIBLE_DEVICES", "0")
                .env("PMI_RANK", "1")
                .env("CARME_LAUNCH_DEBUG", "1")
                .env("CARME_STANDIN_LOG", &log)
                .env("CARME_STANDIN_NV", "ok"),
        );
        out.ok()
            .expect_lines(&["8-C-1"])
            .expect_stderr_has("carme: debug: optional mount");
        let recs = records(&log);
        assert_eq!(recs.len(), 1, "{kind}: {recs:?}");
        let r = &recs[0];
        assert_eq!(r["status"], "exec", "{r}");
        let argv: Vec<&str> = r["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let w = workdir.to_str().unwrap();
        let shared = format!("{d}/shared:/data:ro");
        let images = format!("{d}/images:/images");
        let image = format!("{d}/images/base");
        let tool = format!("{d}/libexec/standins/{kind}");
        assert_eq!(
            argv,
            [
                tool.as_str(),
                "exec",
                "-B",
                &shared,
                "-B",
                &images,
                // The step's /tmp in place of the node's /var/tmp.
                "-B",
                "/tmp:/var/tmp",
                "--nv",
                "--no-eval",
                "--cwd",
                w,
                "--containall",
                "--writable-tmpfs",
                &image,
                "sh",
                "-c",
                "echo $OMP_NUM_THREADS-$LANG-$SLURM_PROCID"
            ],
            "{kind}"
        );
        let env = &r["env"];
        for (k, v) in [
            ("OMP_NUM_THREADS", "8"),
            ("LANG", "C"),
            ("PATH", "/opt/x/bin:/usr/bin:/bin"),
            ("SLURM_PROCID", "1"),
            ("PMI_RANK", "1"),
            ("CUDA_VISIBLE_DEVICES", "0"),
            ("CARME_JOB_ID", "4711"),
            ("CARME_JOB_NAME", "a $name"),
            ("CARME_NODES", "n1,n2"),
            ("CARME_MASTER", "n1"),
            ("CARME_IMAGE_NAME", "full"),
            ("CARME_JOB_GPUS", "2"),
        ] {
            assert_eq!(env[k], v, "{kind}: {k}: {r}");
        }
        assert_eq!(r["pwd"], w, "{r}");
        let keys: Vec<&String> = env.as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| !k.starts_with("CARME_LAUNCH_") && !k.starts_with(prefix)),
            "{kind}: {keys:?}"
        );
    }
}

fn nvml_node(cuda: u32) -> String {
    let gpus: Vec<String> = (0..4)
        .map(|i| {
            format!(
                "{{\"minor\": {i}, \"uuid\": \"GPU-{i:08x}-0000-0000-0000-000000000000\", \
                 \"pci_bus_id\": \"00000000:{:02X}:00.0\"}}",
                0x3b + i
            )
        })
        .collect();
    format!(
        "{{\"cuda_driver_version\": {cuda}, \"gpus\": [{}]}}",
        gpus.join(", ")
    )
}

#[test]
fn driver_matching_picks_a_variant_per_node_and_refuses_too_old_drivers() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let original = std::fs::read_to_string(c.carme_toml()).unwrap();
    let s = Scratch::new(&c, "nvml");
    // The harness's NVML stand-in, with nodes of our own beside it.
    let lib = s.path("libnvidia-ml.so.1");
    std::fs::copy(c.dir.join("lib/nvml/libnvidia-ml.so.1"), &lib).unwrap();
    chmod(&lib, 0o755);
    // n1's driver supports CUDA 12.4, n2's only 11.8.
    for (node, cuda) in [("n1", 12040), ("n2", 11080)] {
        let f = format!("{}.{node}.json", lib.display());
        std::fs::write(&f, nvml_node(cuda)).unwrap();
        chmod(Path::new(&f), 0o644);
    }
    let mut images = format!(
        "[images.base]\npath = \"{}/images/base\"\n",
        c.dir.display()
    );
    for (name, cuda, variants) in [
        ("cu", "12.2", "[\"cu-old\", \"cu-mid\"]"),
        ("cu-mid", "11.8", "[]"),
        ("cu-old", "11.0", "[]"),
        ("cu-new", "12.6", "[]"),
    ] {
        let img = s.image(&c, name, &[]);
        images.push_str(&format!(
            "[images.{name}]\npath = \"{}\"\ncuda = \"{cuda}\"\nvariants = {variants}\n",
            img.display()
        ));
    }
    // The harness's [gpu] table without its own `nvml`.
    let head: String = harness_head(&original)
        .lines()
        .filter(|l| !l.starts_with("nvml ="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(head.contains("\n[gpu]\n"), "{head}");
    let with_nvml = |library: &Path| {
        format!(
            "{}{runtime}[[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n{images}",
            head.replacen(
                "\n[gpu]\n",
                &format!("\n[gpu]\nnvml = \"{}\"\n", library.display()),
                1
            ),
            runtime = runtime_table(&c, "charliecloud"),
        )
    };

    {
        let _swap = ConfigSwap::new(&c.carme_toml(), &with_nvml(&lib));
        let out = c.run_as(
            STAFF,
            &[
                "srun",
                "-N2",
                "-n2",
                "-C",
                "carme",
                "--carme-image=cu",
                "sh",
                "-c",
                "echo $SLURMD_NODENAME $(cat /CARME_IMAGE) $CARME_IMAGE_NAME",
            ],
        );
        out.ok()
            .stdout_lines()
            .sorted()
            .expect(&["n1 cu cu", "n2 cu-mid cu-mid"]);
        let note = "carme: image 'cu' needs CUDA 12.2, but the NVIDIA driver on node n2 \
                    supports CUDA 11.8; running its variant 'cu-mid' (CUDA 11.8) instead.";
        assert_eq!(out.stderr.matches(note).count(), 1, "{}", out.all());
        out.expect_stderr_lacks("node n1");

        c.run_as(
            STAFF,
            &[
                "srun",
                "-w",
                "n2",
                "-C",
                "carme",
                "--carme-image=cu-new",
                "cat",
                "/CARME_IMAGE",
            ],
        )
        .expect_code(125)
        // The payload did not run.
        .expect_stdout("")
        .expect_stderr_has(
            "carme: image 'cu-new' needs CUDA 12.6, but the NVIDIA driver on node n2 \
             supports only CUDA 11.8. Choose an image that runs with CUDA 11.8",
        );
    }

    // No NVML library at all (a node without NVIDIA): the check is skipped,
    // with a debug line when asked for.
    let _swap = ConfigSwap::new(
        &c.carme_toml(),
        &with_nvml(&s.path("absent/libnvidia-ml.so.1")),
    );
    c.run_full(
        STAFF,
        &[
            "srun",
            "-w",
            "n2",
            "-C",
            "carme",
            "--carme-image=cu-new",
            "sh",
            "-c",
            "cat /CARME_IMAGE; env | grep -c '^CARME_LAUNCH_' || true",
        ],
        &[("CARME_LAUNCH_DEBUG", "1")],
        None,
    )
    .ok()
    .expect_stdout("cu-new\n0\n")
    .expect_stderr_has("carme: debug: no NVML, CUDA driver check skipped")
    .expect_stderr_has(
        "carme: debug: image 'cu-new' needs CUDA 12.6; driver check skipped: no NVML library",
    );
}

// ---- explain and images ----------------------------------------------------------

/// A config for explain/images only (no job runs with it).
fn explain_config(c: &Cluster, s: &Scratch) -> PathBuf {
    let d = c.dir.display();
    let path = s.path("explain.toml");
    std::fs::write(
        &path,
        format!(
            "[gate]\nfeature = \"carme\"\ndefault_image = \"base\"\n\
             {runtime}\
             [gpu]\nnvml = \"{nvml}\"\n\
             [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
             [[mounts]]\nsource = \"{d}/shared\"\ntarget = \"/data\"\nmode = \"ro\"\n\
             [[mounts]]\nsource = \"{d}/nope\"\ntarget = \"/opt\"\noptional = true\n\
             [images.base]\npath = \"{d}/images/base\"\ndescription = \"busybox base image\"\n\
             [images.tools]\npath = \"{d}/images/tools\"\ndescription = \"busybox with tools\"\n\
             gpu = true\ncuda = \"12.4\"\nenv = {{ A = \"1\" }}\n\
             [images.wd]\npath = \"{d}/images/base\"\nworkdir = \"/data\"\n\
             mounts = [ {{ source = \"{d}/nope-req\", target = \"/req\" }} ]\n\
             [limits.default]\nimages = [\"base\", \"wd\"]\nmax_gpus_per_job = 4\n\
             [limits.groups.carmetest-students]\nimages = [\"base\"]\nmax_gpus_per_job = 1\n\
             [limits.groups.carmetest-staff]\nimages = [\"*\"]\n\
             [limits.accounts.projx]\nmax_nodes_per_job = 4\n",
            runtime = runtime_table(c, "apptainer"),
            nvml = s.path("no/libnvidia-ml.so.1").display(),
        ),
    )
    .unwrap();
    chmod(&path, 0o644);
    path
}

fn launch_as(c: &Cluster, user: &str, args: &[&str]) -> carme_e2e::Out {
    let launcher = c.dir.join("libexec/carme-launch");
    let mut argv = vec![launcher.to_str().unwrap()];
    argv.extend_from_slice(args);
    c.run_as(user, &argv)
}

fn json_of(out: &carme_e2e::Out) -> Value {
    out.ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()))
}

fn names(v: &Value) -> Vec<&str> {
    v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect()
}

#[test]
fn images_lists_what_each_user_may_use() {
    let _g = shared_config();
    let c = Cluster::get();
    let s = Scratch::new(&c, "images");
    let cfg = explain_config(&c, &s);
    let cfg = cfg.to_str().unwrap();
    let student = json_of(&launch_as(
        &c,
        STUDENT,
        &["images", "--config", cfg, "--json"],
    ));
    assert_eq!(student["version"], 1);
    assert_eq!(student["user"], STUDENT);
    assert_eq!(names(&student), ["base"]);
    assert_eq!(student["limited_by"], "group carmetest-students");
    assert_eq!(student["default_image"], "base");
    assert_eq!(student["images"][0]["default"], true);
    assert_eq!(student["images"][0]["description"], "busybox base image");

    let staff = json_of(&launch_as(
        &c,
        STAFF,
        &["images", "--config", cfg, "--json"],
    ));
    assert_eq!(names(&staff), ["base", "tools", "wd"]);
    let tools = &staff["images"][1];
    assert_eq!(
        (&tools["cuda"], &tools["gpu"], &tools["runtime"]),
        (
            &Value::from("12.4"),
            &Value::from(true),
            &Value::from("apptainer")
        )
    );
    let other = json_of(&launch_as(
        &c,
        OTHER,
        &["images", "--config", cfg, "--json"],
    ));
    assert_eq!(names(&other), ["base", "wd"]);
    assert_eq!(other["limited_by"], "the default limits");

    // An admin asking about a user sees what that user sees.
    let out = c.root(&[
        c.dir.join("libexec/carme-launch").to_str().unwrap(),
        "images",
        "--config",
        cfg,
        "--json",
        "--user",
        STUDENT,
    ]);
    assert_eq!(json_of(&out), student);

    let text = launch_as(&c, STUDENT, &["images", "--config", cfg]);
    text.ok();
    assert!(
        text.stdout.starts_with(
            "Images you may use (--carme-image=NAME):\n  base  busybox base image [default]\n"
        ),
        "{}",
        text.all()
    );
    text.expect_stdout_lacks("tools");

    let out = launch_as(&c, STAFF, &["images", "--config", "/nonexistent.toml"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .starts_with("carme: the Carme config is broken (/nonexistent.toml"),
        "{}",
        out.all()
    );
}

#[test]
fn explain_shows_what_a_job_gets() {
    let _g = shared_config();
    let c = Cluster::get();
    let s = Scratch::new(&c, "explain");
    let cfg = explain_config(&c, &s);
    let cfg = cfg.to_str().unwrap();
    let home = home_of(STAFF);
    let d = c.dir.display().to_string();

    let e = json_of(&launch_as(
        &c,
        STAFF,
        &[
            "explain", "--config", cfg, "--image", "tools", "--json", "--", "echo", "hi",
        ],
    ));
    assert_eq!(e["version"], 1);
    assert_eq!(e["user"]["name"], STAFF);
    assert_eq!(e["image"]["requested"], "tools");
    assert_eq!(e["image"]["runs"], "tools");
    assert_eq!(e["image"]["runtime"], "apptainer");
    assert_eq!(e["access"]["allowed"], true);
    assert_eq!(e["access"]["source"], "group carmetest-staff");
    assert_eq!(e["driver"]["check"], "skipped");
    assert_eq!(e["driver"]["image_cuda"], "12.4");
    assert_eq!(e["driver"]["nvml"]["status"], "not_loaded");
    assert_eq!(e["gpus"]["runtime_flag"], "--nv");
    let mounts: Vec<(&str, &str, &str, bool)> = e["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["target"].as_str().unwrap(),
                m["mode"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
                m["read_only_enforced"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            ("/home", "rw", "bound", false),
            ("/data", "ro", "bound", true),
            ("/opt", "rw", "skipped", false),
            // The step's /tmp, in place of the node's /var/tmp.
            ("/var/tmp", "rw", "bound", false)
        ]
    );
    assert_eq!(e["workdir"]["path"], home.to_str().unwrap());
    assert_eq!(e["workdir"]["from"], "working_directory");
    let env = e["env"].as_array().unwrap();
    let var = |n: &str| env.iter().find(|v| v["name"] == n).cloned();
    assert_eq!(var("A").unwrap()["source"], "image");
    let job = var("CARME_JOB_ID").unwrap();
    assert_eq!(
        (&job["value"], &job["from"]),
        (&Value::Null, &Value::from("SLURM_JOB_ID"))
    );
    assert_eq!(var("CARME_IMAGE_NAME").unwrap()["value"], "tools");
    let tmp = var("CARME_TMPDIR").unwrap();
    assert_eq!(
        (&tmp["value"], &tmp["source"]),
        (&Value::from("/tmp"), &Value::from("plugin"))
    );
    assert_eq!(e["forwarded"]["via"], "APPTAINERENV_");
    assert!(
        e["runtime_env"]["set"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "APPTAINERENV_CARME_JOB_ID" && v["value"] == "<SLURM_JOB_ID>"),
        "{e}"
    );
    assert_eq!(e["refusals"], serde_json::json!([]));
    assert_eq!(
        e["limits"]["max_nodes_per_job"]["state"],
        "depends_on_account"
    );
    // The command line is exactly the one `argv` prints.
    let argv = launch_as(
        &c,
        STAFF,
        &[
            "argv", "--config", cfg, "--image", "tools", "--", "echo", "hi",
        ],
    );
    argv.ok();
    let words: Vec<&str> = argv.stdout.split_whitespace().collect();
    let json_argv: Vec<&str> = e["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(words, json_argv);
    assert_eq!(json_argv[0], format!("{d}/libexec/standins/apptainer"));
    assert!(json_argv.contains(&"--nv") && json_argv.contains(&"--no-eval"));

    // For a student: not allowed, with the refusal the job would get, and
    // the limits of the student's group and of an account.
    let e = json_of(&c.root(&[
        c.dir.join("libexec/carme-launch").to_str().unwrap(),
        "explain",
        "--config",
        cfg,
        "--image",
        "tools",
        "--user",
        STUDENT,
        "--account",
        "projx",
        "--json",
    ]));
    assert_eq!(e["access"]["allowed"], false);
    assert_eq!(e["access"]["source"], "group carmetest-students");
    let refusals = e["refusals"].as_array().unwrap();
    assert!(
        refusals[0]
            .as_str()
            .unwrap()
            .starts_with("carme: this Carme job is over its limits: image 'tools' is not allowed"),
        "{e}"
    );
    assert_eq!(
        e["limits"]["max_gpus_per_job"],
        serde_json::json!({"state": "limit", "value": 1, "source": "group carmetest-students"})
    );
    assert_eq!(
        e["limits"]["max_nodes_per_job"],
        serde_json::json!({"state": "limit", "value": 4, "source": "account projx"})
    );
    assert_eq!(e["limits"]["max_running_jobs"]["state"], "none");

    // A required mount whose source is missing, and the image's workdir.
    let e = json_of(&launch_as(
        &c,
        OTHER,
        &["explain", "--config", cfg, "--image", "wd", "--json"],
    ));
    assert_eq!(e["workdir"]["path"], "/data");
    assert_eq!(e["workdir"]["from"], "image");
    let req = e["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["target"] == "/req")
        .unwrap()
        .clone();
    assert_eq!(
        (&req["status"], &req["origin"]),
        (&Value::from("missing"), &Value::from("image"))
    );
    assert!(
        e["refusals"][0].as_str().unwrap().contains(&format!(
            "the mount source {d}/nope-req (for /req, a mount of image 'wd') does not exist"
        )),
        "{e}"
    );
    assert_eq!(e["argv"].as_array().unwrap().last().unwrap(), "<command>");

    // Text for people.
    let t = launch_as(&c, STAFF, &["explain", "--config", cfg, "--image", "tools"]);
    t.ok();
    assert!(
        t.stdout.starts_with(&format!(
            "Image 'tools' for user {STAFF} (groups carmetest-staff, {STAFF}) on node "
        )),
        "{}",
        t.all()
    );
    for want in [
        "runtime   apptainer (",
        "allowed   yes, by group carmetest-staff",
        "driver    needs CUDA 12.4; not checked: no NVML library",
        "/data  (ro)",
        "optional, source missing: left out",
        "CARME_JOB_ID=<SLURM_JOB_ID>",
        "runtime command line",
        "set   APPTAINERENV_A=1",
    ] {
        t.expect_stdout_has(want);
    }

    for (args, want) in [
        (
            vec!["explain", "--config", cfg, "--image", "nope"],
            "carme: image 'nope' is not known on this cluster. Choose one with --carme-image=NAME; images: base (busybox base image), tools (busybox with tools), wd.",
        ),
        (
            vec![
                "explain",
                "--config",
                cfg,
                "--image",
                "base",
                "--user",
                "nobody-carme-xyz",
            ],
            "carme: user 'nobody-carme-xyz' is not known on this host",
        ),
    ] {
        let out = launch_as(&c, STAFF, &args);
        out.expect_code(1);
        assert!(out.stderr.starts_with(want), "{}", out.all());
    }
}
