//! Carme's Apptainer launch path, live: `[runtime] kind = "apptainer"` with
//! jobs started by srun and sbatch through the plugin.
//!
//! The same tests run on every Slurm series. Where the release's root ships
//! Apptainer (Debian sid, Slurm 26.05: /usr/bin/apptainer) they run against
//! the real binary; elsewhere against the strict stand-in
//! (tests/standins), which runs COMMAND on the host in the step's
//! namespace. Each test asserts what both must show (everything the
//! stand-in claims: exit codes, signals, environment, working directory,
//! refusals, the step's /tmp, /dev/shm and GPU view) and, per runtime, what
//! only a container can show (read-only binds, the image's own files) or
//! what the stand-in records of its command line. `which_apptainer` fails
//! if 26.05 ever runs the stand-in.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use carme_e2e::{
    Cluster, ConfigSwap, Lines, Out, STAFF, STUDENT, exclusive_config, gpus_in, home_of,
    slurm_series, unique_name,
};

/// The Apptainer a release's root ships (Debian's package).
const REAL_APPTAINER: &str = "/usr/bin/apptainer";

struct Apptainer {
    path: PathBuf,
    real: bool,
}

/// The real Apptainer where the root has it, else the harness's stand-in.
fn apptainer(c: &Cluster) -> Apptainer {
    if Path::new(REAL_APPTAINER).exists() {
        Apptainer {
            path: REAL_APPTAINER.into(),
            real: true,
        }
    } else {
        Apptainer {
            path: c.dir.join("libexec/standins/apptainer"),
            real: false,
        }
    }
}

/// Files the tests bind and run, made once per test binary: bind sources
/// under DIR/appt, a fake `nvidia-smi` (what `--nv` binds in from the
/// PATH), and DIR/images/base.sif, built from the base sandbox with
/// `apptainer build` (as root; users run it).
fn fixtures(c: &Cluster) -> PathBuf {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let a = c.dir.join("appt");
        for sub in ["ro", "img-ro", "nvbin"] {
            std::fs::create_dir_all(a.join(sub)).unwrap();
        }
        std::fs::write(a.join("ro/file"), "global-ro\n").unwrap();
        std::fs::write(a.join("img-ro/file"), "image-ro\n").unwrap();
        let smi = a.join("nvbin/nvidia-smi");
        std::fs::write(&smi, "#!/bin/sh\necho fake-nvidia-smi\n").unwrap();
        std::fs::set_permissions(&smi, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sif = c.dir.join("images/base.sif");
        let rt = apptainer(c);
        c.root(&[
            rt.path.to_str().unwrap(),
            "build",
            "-F",
            sif.to_str().unwrap(),
            c.dir.join("images/base").to_str().unwrap(),
        ])
        .ok();
        std::fs::set_permissions(&sif, std::fs::Permissions::from_mode(0o755)).unwrap();
        a
    })
    .clone()
}

/// The harness config with Apptainer as the runtime, a global read-only
/// and a global optional (absent) mount, and images for each behaviour.
fn config(c: &Cluster, original: &str) -> String {
    let rt = apptainer(c);
    let a = fixtures(c);
    let (d, a) = (c.dir.display(), a.display());
    let mut out = String::new();
    let mut section = "";
    for line in original.lines() {
        if line.starts_with('[') {
            section = if line == "[runtime]" { "runtime" } else { "" };
        }
        if section == "runtime" && line.starts_with("kind = ") {
            out.push_str("kind = \"apptainer\"\n");
        } else if section == "runtime" && line.starts_with("path = ") {
            out.push_str(&format!("path = \"{}\"\n", rt.path.display()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        r#"
[[mounts]]
source = "{a}/ro"
target = "/ro"
mode = "ro"

[[mounts]]
source = "{a}/absent"
target = "/optional"
optional = true

[images.sif]
path = "{d}/images/base.sif"
description = "the base sandbox as a SIF file"

[images.env]
path = "{d}/images/base"
description = "env, workdir, runtime_args, an image mount"
env = {{ LITERAL = "$HOME and $(id) stay", SPACED = "a  b", CARME_JOB_ID = "not-the-image's" }}
workdir = "/etc"
runtime_args = ["--env", "FROM_ARGS=runtime-args"]
mounts = [ {{ source = "{a}/img-ro", target = "/img", mode = "ro" }} ]

[images.gpu]
path = "{d}/images/base"
description = "with the GPU driver"
gpu = true

[images.broken]
path = "{d}/images/base"
description = "a required mount whose source is missing"
mounts = [ {{ source = "{a}/absent-required", target = "/required" }} ]
"#
    ));
    out
}

/// Swap in the Apptainer config for the guard's lifetime.
fn apptainer_config(c: &Cluster) -> ConfigSwap {
    let original = std::fs::read_to_string(c.carme_toml()).unwrap();
    ConfigSwap::new(&c.carme_toml(), &config(c, &original))
}

/// What one client command printed, and the stand-in's records of it
/// (none with the real Apptainer: a record there would mean the stand-in
/// ran).
struct Run {
    out: Out,
    records: Vec<serde_json::Value>,
}

/// Where the stand-in records the runtimes of one command (its
/// `CARME_STANDIN_LOG`, in the user's home).
struct StandinLog(String);

impl StandinLog {
    fn new(user: &str) -> StandinLog {
        let log = home_of(user).join(format!("{}.jsonl", unique_name("appt")));
        StandinLog(log.to_str().unwrap().to_string())
    }

    /// The records, read once the command has ended; the log is removed.
    fn records(&self, c: &Cluster) -> Vec<serde_json::Value> {
        let records: Vec<serde_json::Value> = std::fs::read_to_string(&self.0)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("stand-in record is JSON"))
            .collect();
        std::fs::remove_file(&self.0).ok();
        if apptainer(c).real {
            assert!(records.is_empty(), "the stand-in ran: {records:?}");
        }
        records
    }
}

fn run(c: &Cluster, user: &str, argv: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let log = StandinLog::new(user);
    let mut all_env = vec![("CARME_STANDIN_LOG", log.0.as_str())];
    all_env.extend_from_slice(env);
    let out = c.run_full(user, argv, &all_env, stdin);
    let records = log.records(c);
    Run { out, records }
}

/// `srun -C carme --carme-image=IMAGE [extra] sh -c SCRIPT` as STAFF.
fn srun(c: &Cluster, image: &str, extra: &[&str], script: &str) -> Run {
    let img = format!("--carme-image={image}");
    let mut argv = vec!["srun", "-C", "carme", img.as_str()];
    argv.extend_from_slice(extra);
    argv.extend_from_slice(&["sh", "-c", script]);
    run(c, STAFF, &argv, &[], None)
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// The (dest, opts) of each bind the stand-in was given.
fn binds(r: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    r["binds"]
        .as_array()
        .unwrap_or_else(|| panic!("no binds: {r}"))
        .iter()
        .map(|b| (b["dest"].as_str().unwrap().to_string(), strings(&b["opts"])))
        .collect()
}

/// The runtime's stderr without its INFO notes (SIF images: "fuse2fs not
/// found", "gocryptfs not found") and srun's own lines.
fn warnings(out: &Out) -> Lines {
    out.stderr_lines()
        .only(|l| !l.starts_with("INFO:") && !l.starts_with("srun: ") && !l.trim().is_empty())
}

#[test]
fn which_apptainer_runs() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let rt = apptainer(&c);
    // Debian packages Apptainer only in sid, the 26.05 root: there the real
    // binary must be the one these tests use, never the stand-in. (Where
    // another release has one installed, it is used too.)
    if slurm_series() >= (26, 5) {
        assert!(
            rt.real,
            "Slurm {:?}: {REAL_APPTAINER} missing",
            slurm_series()
        );
    }
    let version = c.root(&[rt.path.to_str().unwrap(), "--version"]);
    if rt.real {
        assert!(
            version.stdout.starts_with("apptainer version 1.4."),
            "{}",
            version.all()
        );
    }
    let _swap = apptainer_config(&c);
    let r = srun(
        &c,
        "base",
        &[],
        "echo \"$APPTAINER_CONTAINER\"; cat /CARME_IMAGE 2>/dev/null || echo no-image-files",
    );
    r.out.ok();
    let base = c.dir.join("images/base").display().to_string();
    if rt.real {
        r.out.expect_lines(&[base.as_str(), "base"]);
    } else {
        // The stand-in sets the runtime's variables but has no image.
        r.out.expect_lines(&[base.as_str(), "no-image-files"]);
        assert_eq!(r.records.len(), 1, "{:?}", r.records);
        assert_eq!(r.records[0]["status"], "exec");
        assert_eq!(
            strings(&r.records[0]["argv"])[0],
            rt.path.display().to_string()
        );
    }
}

#[test]
fn sandbox_and_sif_images_run() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let rt = apptainer(&c);
    let _swap = apptainer_config(&c);
    for (image, file) in [("base", "images/base"), ("sif", "images/base.sif")] {
        let r = srun(
            &c,
            image,
            &[],
            "echo \"$CARME_IMAGE_NAME $APPTAINER_CONTAINER\"; \
             cat /CARME_IMAGE 2>/dev/null || echo no-image-files; exit 3",
        );
        let first = format!("{image} {}", c.dir.join(file).display());
        // The SIF was built from the base sandbox: the same files.
        let inside = if rt.real { "base" } else { "no-image-files" };
        r.out.expect_code(3).expect_lines(&[first.as_str(), inside]);
        warnings(&r.out).expect(&[]);
        if !rt.real {
            assert_eq!(r.records.len(), 1, "{image}: {:?}", r.records);
            assert_eq!(
                r.records[0]["image"],
                c.dir.join(file).display().to_string()
            );
        }
    }
}

#[test]
fn mounts_global_per_image_read_only_and_optional() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let rt = apptainer(&c);
    let a = fixtures(&c);
    let _swap = apptainer_config(&c);
    let r = srun(
        &c,
        "env",
        &[],
        "cat /ro/file /img/file 2>/dev/null || echo no-binds; \
         echo w >/ro/w 2>/dev/null && echo ro-written; \
         echo w >/img/w 2>/dev/null && echo img-written; \
         test -e /optional && echo optional-there || echo optional-absent",
    );
    r.out.ok();
    if rt.real {
        // Bound, and read-only for real.
        r.out
            .expect_lines(&["global-ro", "image-ro", "optional-absent"]);
    } else {
        // The stand-in binds nothing; it was asked for read-only binds.
        r.out.expect_lines(&["no-binds", "optional-absent"]);
        let b = binds(&r.records[0]);
        assert!(b.contains(&("/ro".into(), vec!["ro".into()])), "{b:?}");
        assert!(b.contains(&("/img".into(), vec!["ro".into()])), "{b:?}");
        assert!(!b.iter().any(|(d, _)| d == "/optional"), "{b:?}");
    }
    assert!(!a.join("ro/w").exists() && !a.join("img-ro/w").exists());

    // A required mount whose source is missing refuses the task, before
    // the runtime runs.
    let r = srun(&c, "broken", &[], "echo ran");
    r.out
        .failed()
        .expect_stdout_lacks("ran")
        .expect_stderr_has(&format!(
            "carme: cannot start the task in image 'broken': the mount source {}/absent-required \
             (for /required, a mount of image 'broken') does not exist",
            a.display()
        ));
    assert!(r.records.is_empty(), "{:?}", r.records);
}

#[test]
fn env_is_literal_with_carme_variables_workdir_and_runtime_args() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = apptainer_config(&c);
    let r = srun(
        &c,
        "env",
        &["-N1", "--job-name=a $(name)"],
        "printf '%s\\n' \"$LITERAL\" \"$SPACED\" \"$FROM_ARGS\" \"$CARME_IMAGE_NAME\" \
         \"$CARME_JOB_NAME\" \"$CARME_NODES\" \"$CARME_MASTER\" \"$CARME_TMPDIR\" \"$TMPDIR\" \
         \"$(pwd)\"; test \"$CARME_JOB_ID\" = \"$SLURM_JOB_ID\" && echo job-id-ok",
    );
    let lines = r.out.ok().stdout_lines();
    let node = lines.get(5).map(String::as_str).unwrap_or("");
    assert!(node == "n1" || node == "n2", "{}", r.out.all());
    lines.expect(&[
        "$HOME and $(id) stay",
        "a  b",
        "runtime-args",
        "env",
        "a $(name)",
        node,
        node,
        "/tmp",
        "/tmp",
        "/etc",
        "job-id-ok",
    ]);
    // Without an image workdir: the submit directory, through its bind.
    let r = srun(&c, "base", &[], "pwd; echo \"$HOME\"");
    let home = home_of(STAFF).display().to_string();
    r.out.ok().expect_lines(&[home.as_str(), home.as_str()]);
}

#[test]
fn gpu_true_gives_nv_and_runs_without_a_driver() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let rt = apptainer(&c);
    let a = fixtures(&c);
    let _swap = apptainer_config(&c);
    // `--nv` binds the driver's programs it finds on the PATH (here a fake
    // nvidia-smi) into the container's /usr/bin. This node has no NVIDIA
    // driver: the job runs all the same, without a warning.
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", a.join("nvbin").display());
    for (image, nv) in [("gpu", true), ("base", false)] {
        let img = format!("--carme-image={image}");
        let r = run(
            &c,
            STAFF,
            &[
                "srun",
                "-C",
                "carme",
                "--gres=gpu:1",
                &img,
                "sh",
                "-c",
                "/usr/bin/nvidia-smi 2>/dev/null || echo no-nvidia-smi; echo ran",
            ],
            &[("PATH", &path)],
            None,
        );
        r.out.ok();
        warnings(&r.out).expect(&[]);
        if rt.real {
            let smi = if nv {
                "fake-nvidia-smi"
            } else {
                "no-nvidia-smi"
            };
            r.out.expect_lines(&[smi, "ran"]);
        } else {
            r.out.expect_lines(&["no-nvidia-smi", "ran"]);
            assert_eq!(
                r.records[0]["flags"]["nv"].as_bool() == Some(true),
                nv,
                "{image}"
            );
        }
    }
}

#[test]
fn exit_codes_and_signals_pass_through() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = apptainer_config(&c);
    srun(&c, "base", &[], "exit 42").out.expect_code(42);
    // A task that kills itself: srun reports the signal.
    srun(&c, "base", &[], "kill -TERM $$")
        .out
        .failed()
        .expect_stderr_has("Terminated");

    // A signal sent to the step reaches the command in the image.
    let name = unique_name("apptsig");
    let marker = home_of(STAFF).join(format!("{name}.ready"));
    let script = format!(
        "trap 'echo got-usr1; exit 0' USR1; touch {}; i=0; \
         while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; echo no-signal",
        marker.display()
    );
    let job = {
        let c = c.clone();
        let name = name.clone();
        std::thread::spawn(move || {
            let job = format!("--job-name={name}");
            srun(&c, "base", &[job.as_str()], &script)
        })
    };
    assert!(
        c.wait_for(Duration::from_secs(30), || marker.exists()),
        "the step never started"
    );
    c.root(&["scancel", "--signal=USR1", "--name", &name]).ok();
    let r = job.join().unwrap();
    std::fs::remove_file(&marker).ok();
    r.out.ok().expect_lines(&["got-usr1"]);
}

#[test]
fn srun_ranks_on_two_nodes_keep_slurms_environment() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let _swap = apptainer_config(&c);
    let r = srun(
        &c,
        "base",
        &["-N2", "-n4"],
        "echo \"$SLURM_PROCID $SLURM_NTASKS $SLURM_NNODES $SLURMD_NODENAME $SLURM_NODEID \
         $SLURM_LOCALID $SLURM_STEP_ID $CARME_NODES $APPTAINER_NAME\"",
    );
    // Sorted by rank (one digit, the first field).
    let lines = r.out.ok().stdout_lines().sorted();
    lines.expect_count(4);
    let mut nodes = std::collections::BTreeSet::new();
    for (rank, l) in lines.iter().enumerate() {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 9, "{}", r.out.all());
        assert_eq!(f[0], rank.to_string(), "{}", r.out.all());
        assert_eq!(&f[1..3], ["4", "2"], "{}", r.out.all());
        assert!(f[3] == "n1" || f[3] == "n2", "{}", r.out.all());
        assert_eq!(
            f[4],
            if f[3] == "n1" { "0" } else { "1" },
            "{}",
            r.out.all()
        );
        assert!(f[6].parse::<u32>().is_ok(), "{}", r.out.all());
        assert_eq!(f[7], "n1,n2", "{}", r.out.all());
        assert_eq!(f[8], "base", "{}", r.out.all());
        nodes.insert(f[3]);
    }
    assert_eq!(nodes.len(), 2, "{}", r.out.all());
    if !apptainer(&c).real {
        assert_eq!(r.records.len(), 4, "one runtime per task: {:?}", r.records);
    }
}

#[test]
fn srun_pty_gives_a_shell_in_the_image() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let rt = apptainer(&c);
    let _swap = apptainer_config(&c);
    // `script` gives srun a terminal; the shell reads our commands from it.
    let r = run(
        &c,
        STUDENT,
        &[
            "script",
            "-qec",
            "srun -C carme --carme-image=base --pty /bin/sh -i",
            "/dev/null",
        ],
        &[],
        Some(
            "echo \"in:$APPTAINER_CONTAINER:$(cat /CARME_IMAGE 2>/dev/null)\"; \
             test -t 0 && echo has-tty\nexit 5\n",
        ),
    );
    r.out.expect_code(5);
    let inside = if rt.real { "base" } else { "" };
    let want = format!("in:{}:{inside}", c.dir.join("images/base").display());
    // The shell's prompt ("Apptainer> ") may share the line.
    r.out
        .stdout_lines()
        .expect_some(|l| l.trim_end().ends_with(&want));
    r.out.expect_stdout_has("has-tty");
}

#[test]
fn sbatch_script_on_the_node_and_its_sruns_in_the_image() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let rt = apptainer(&c);
    let _swap = apptainer_config(&c);
    let script = "#!/bin/sh\n\
        echo \"batch:$APPTAINER_CONTAINER:$(cat /CARME_IMAGE 2>/dev/null)\"\n\
        srun -n2 sh -c 'echo \"step:$SLURM_PROCID:$APPTAINER_CONTAINER:$(cat /CARME_IMAGE 2>/dev/null)\"'\n";
    let log = StandinLog::new(STAFF);
    let job = c
        .sbatch(STAFF, "apptbatch")
        .args(&["-N2", "-C", "carme", "--carme-image=base"])
        .env("CARME_STANDIN_LOG", &log.0)
        .script(script)
        .run();
    let records = log.records(&c);
    job.expect_exit(0);
    let base = c.dir.join("images/base").display().to_string();
    let inside = if rt.real { "base" } else { "" };
    job.output_lines()
        .only(|l| !l.starts_with("INFO:"))
        .sorted()
        .expect(&[
            // The script itself runs on the node (in the step's namespace).
            "batch::",
            &format!("step:0:{base}:{inside}"),
            &format!("step:1:{base}:{inside}"),
        ]);
    if !rt.real {
        // One runtime per task.
        assert_eq!(records.len(), 2, "{records:?}");
    }
}

#[test]
fn steps_tmp_shm_and_gpus_inside_apptainer() {
    let _g = exclusive_config();
    let c = Cluster::get();
    let rt = apptainer(&c);
    let _swap = apptainer_config(&c);
    let d = c.dir.display();
    // The job's /tmp (kept: Apptainer binds the step's /tmp, the job's own
    // directory), /var/tmp (replaced: the same directory), /dev/shm (the
    // step's own tmpfs, shm_size 64M, through Apptainer's /dev) and the
    // device dir with only the step's GPU. $HOME is the user's, writable.
    let write_var_tmp = if rt.real {
        "echo v >/var/tmp/vt-$SLURM_JOB_ID; cat /tmp/vt-$SLURM_JOB_ID;"
    } else {
        // The stand-in binds nothing; /var/tmp is the node's here.
        "echo v;"
    };
    let script = format!(
        "echo t >/tmp/t-$SLURM_JOB_ID && cat /tmp/t-$SLURM_JOB_ID; {write_var_tmp} \
         ls /tmp | wc -l; \
         grep ' /dev/shm ' /proc/mounts | grep -o 'size=[0-9]*k' | tail -n1; \
         ls {d}/nodes/$SLURMD_NODENAME/dev | tr '\\n' ' '; echo; \
         touch $HOME/.appt-$SLURM_JOB_ID && echo home-writable && rm $HOME/.appt-$SLURM_JOB_ID"
    );
    let r = srun(&c, "base", &["-N1", "--gres=gpu:1"], &script);
    let lines = r.out.ok().stdout_lines();
    lines.expect_count(6);
    assert_eq!(&lines[..2], ["t", "v"], "{}", r.out.all());
    // A fresh /tmp: only what this job wrote (with the real runtime, the
    // /var/tmp file is there too).
    assert_eq!(lines[2], if rt.real { "2" } else { "1" }, "{}", r.out.all());
    assert_eq!(lines[3], "size=65536k", "{}", r.out.all());
    assert_eq!(gpus_in(&lines[4]).len(), 1, "{}", r.out.all());
    assert_eq!(lines[5], "home-writable", "{}", r.out.all());
    if !rt.real {
        let b = binds(&r.records[0]);
        assert!(b.contains(&("/var/tmp".into(), vec![])), "{b:?}");
        let r0 = &r.records[0];
        let argv = strings(&r0["argv"]);
        let i = argv
            .iter()
            .position(|x| x == "/tmp:/var/tmp")
            .expect("bind");
        assert_eq!(argv[i - 1], "-B");
    }
    // Another job's /tmp (and /var/tmp) is its own again.
    srun(
        &c,
        "base",
        &["-N1"],
        "ls -A /tmp /var/tmp | grep -c '^[tv]t\\?-' || true",
    )
    .out
    .ok()
    .expect_lines(&["0"]);
}

/// `apptainer exec` by hand, as a user, outside Slurm: the command-line and
/// environment rules the stand-in claims (tests/standins), checked against
/// whichever Apptainer this release has, with the same expectations.
#[test]
fn exec_by_hand_follows_the_documented_rules() {
    let c = Cluster::get();
    let rt = apptainer(&c);
    let a = fixtures(&c);
    let home = home_of(STAFF).display().to_string();
    let img = c.dir.join("images/base").display().to_string();
    let app = rt.path.display().to_string();
    let default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let (x, y) = (a.join("ro"), a.join("img-ro"));
    let bx = format!("{}:/x", x.display());
    let by = format!("{}:/y:ro", y.display());
    let lit = "$HOME x";
    // (what, flags before the image, extra env, script, exit code, stdout,
    // what stderr must contain; None: no warning at all)
    type Case<'a> = (
        &'a str,
        Vec<&'a str>,
        Vec<(&'a str, &'a str)>,
        &'a str,
        i32,
        String,
        Option<Vec<&'a str>>,
    );
    let cases: Vec<Case> = vec![
        (
            "HOME from passwd, the default PATH, the caller's directory, host variables pass",
            vec![],
            vec![("HOME", "/nothome"), ("USER_ONLY", "u")],
            "echo \"$HOME|$PATH|$PWD|$(pwd)|$USER_ONLY|$LANG\"",
            0,
            format!("{home}|{default_path}|{home}|{home}|u|C.UTF-8"),
            None,
        ),
        (
            "--cwd",
            vec!["--cwd", "/etc"],
            vec![],
            "echo \"$PWD|$(pwd)\"",
            0,
            "/etc|/etc".into(),
            None,
        ),
        (
            "--no-eval keeps *ENV_ values literal",
            vec!["--no-eval"],
            vec![("APPTAINERENV_FOO", lit)],
            "echo \"$FOO\"",
            0,
            lit.into(),
            None,
        ),
        (
            "--cleanenv drops host variables, keeps *ENV_, LANG=C",
            vec!["--cleanenv"],
            vec![("USER_ONLY", "u"), ("APPTAINERENV_KEEP", "k")],
            "echo \"$USER_ONLY|$KEEP|$LANG\"",
            0,
            "|k|C".into(),
            None,
        ),
        (
            "--env wins over *ENV_ and the host, silently",
            vec!["--env", "A=1"],
            vec![("APPTAINERENV_A", "2"), ("A", "3")],
            "echo \"$A\"",
            0,
            "1".into(),
            None,
        ),
        (
            "*ENV_ wins over the host, silently",
            vec![],
            vec![("APPTAINERENV_A", "2"), ("A", "3")],
            "echo \"$A\"",
            0,
            "2".into(),
            None,
        ),
        (
            "the runtime's own variables",
            vec!["-B", &bx, "-B", &by],
            vec![],
            "echo \"$APPTAINER_BIND|$APPTAINER_NAME|$APPTAINER_CONTAINER|$APPTAINER_COMMAND\"",
            0,
            format!("/x,/y|base|{img}|exec"),
            None,
        ),
        (
            "*ENV_PATH replaces the PATH",
            vec![],
            vec![("APPTAINERENV_PATH", "/opt/x:/bin")],
            "echo \"$PATH\"",
            0,
            "/opt/x:/bin".into(),
            None,
        ),
        (
            "*ENV_PREPEND_PATH",
            vec![],
            vec![("APPTAINERENV_PREPEND_PATH", "/pre")],
            "echo \"$PATH\"",
            0,
            format!("/pre:{default_path}"),
            None,
        ),
        (
            "HOME cannot be overridden",
            vec![],
            vec![("APPTAINERENV_HOME", "/h")],
            "echo \"$HOME\"",
            0,
            home.clone(),
            Some(vec![
                "WARNING:",
                "Overriding HOME environment variable with APPTAINERENV_HOME is not permitted",
            ]),
        ),
        (
            "the command's exit code",
            vec![],
            vec![],
            "exit 7",
            7,
            String::new(),
            None,
        ),
        (
            "the command's signal",
            vec![],
            vec![],
            "kill -TERM $$",
            128 + 15,
            String::new(),
            None,
        ),
        (
            "a missing bind source",
            vec!["-B", "/nonexistent/carme:/x"],
            vec![],
            "echo ran",
            255,
            String::new(),
            Some(vec![
                "WARNING:",
                "skipping mount of /nonexistent/carme: stat /nonexistent/carme: no such file or directory",
                "FATAL:",
                "mount source /nonexistent/carme doesn't exist",
            ]),
        ),
    ];
    for (what, flags, env, script, code, stdout, stderr) in &cases {
        let mut argv = vec![app.as_str(), "exec"];
        argv.extend_from_slice(flags);
        argv.extend_from_slice(&[img.as_str(), "sh", "-c", script]);
        let out = c.run_full(STAFF, &argv, env, None);
        out.expect_code(*code);
        assert_eq!(out.stdout.trim_end(), stdout, "{what}: {}", out.all());
        match stderr {
            None => {
                warnings(&out).only(|l| l != "Terminated").expect(&[]);
            }
            Some(parts) => {
                for p in parts {
                    out.expect_stderr_has(p);
                }
            }
        }
    }
    // Refusals of the command line.
    c.run_full(STAFF, &[&app, "exec", &img, "nonexist-cmd"], &[], None)
        .expect_code(255)
        .expect_stderr_has("\"nonexist-cmd\": executable file not found in $PATH");
    c.run_full(STAFF, &[&app, "exec", &img], &[], None)
        .expect_code(1)
        .expect_stderr_has(
            "Error for command \"exec\": requires at least 2 arg(s), only received 1",
        );
    // build: an existing SIF needs --force.
    let sif = c.dir.join("images/base.sif");
    c.root(&[&app, "build", sif.to_str().unwrap(), &img])
        .expect_code(255)
        .expect_stderr_has(
            "While checking build target: build target 'base.sif' already exists. \
             Use --force if you want to overwrite it",
        );
}
