//! carme-exec, the hop a Carme task takes on Slurm < 23.11 (the harness's
//! Slurm 22.05 runs every Carme task through it; skeleton.rs and
//! namespaces.rs check those jobs). Here its contract directly: exactly
//! the command line in the plugin's variable (`CARME_LAUNCH_EXEC` plus a
//! newline, which no TaskProlog can set) plus its own argv[1..], the
//! environment without `CARME_LAUNCH_*`, never a plain `CARME_LAUNCH_EXEC`
//! (what a `--task-prolog` can export), clear refusals, and no dynamic
//! loader (its whole point is a cheap exec).

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use carme_e2e::{Cluster, Out, STUDENT, run_here, shared_config, unique_name};

/// The plugin's variable (carme_core::launch::EXEC_SPEC_ENV).
const EXEC: &str = "CARME_LAUNCH_EXEC\n";

fn helper() -> PathBuf {
    Cluster::get().dir.join("libexec/carme-exec")
}

/// The encoding the plugin writes (carme_core::launch::exec_spec).
fn spec(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(format!("{}:", a.len()).as_bytes());
        out.extend_from_slice(a);
    }
    out
}

fn run(exec: Option<&[u8]>, own_args: &[&str], extra_env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(helper());
    cmd.args(own_args).env_clear().env("KEEP", "kept");
    if let Some(e) = exec {
        cmd.env(EXEC, std::ffi::OsStr::from_bytes(e));
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    run_here(&mut cmd)
}

/// A script printing its argv (one per line, `[...]` around each) and env.
fn show_script() -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name("exec-helper"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("show");
    // Written by a child process: a file this (multi-threaded) test
    // process held open for writing would be inherited by a fork in
    // another test's thread, and exec'ing it could then fail with "Text
    // file busy".
    let mut sh = Command::new("sh")
        .args(["-c", "cat >\"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(&path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    sh.stdin
        .take()
        .unwrap()
        .write_all(
            b"#!/bin/sh\nfor a in \"$0\" \"$@\"; do printf '[%s]\\n' \"$a\"; done\necho --\nenv | sort\n",
        )
        .unwrap();
    assert!(sh.wait().unwrap().success(), "writing {}", path.display());
    path
}

#[test]
fn execs_the_spec_then_its_own_arguments_without_plumbing_variables() {
    let show = show_script();
    let exec = spec(&[
        show.as_os_str().as_bytes(),
        b"-b",
        b"/a b:/c",
        b"",
        b"line1\nline2",
        b"9:x",
        b"task-argv0",
    ]);
    let out = run(
        Some(&exec),
        &["own 1", "own2"],
        &[("CARME_LAUNCH_DEBUG", "1"), ("CARME_LAUNCH_OTHER", "x")],
    );
    let (argv, env) = out.ok().stdout.split_once("--\n").expect("separator");
    assert_eq!(
        argv,
        format!(
            "[{}]\n[-b]\n[/a b:/c]\n[]\n[line1\nline2]\n[9:x]\n[task-argv0]\n[own 1]\n[own2]\n",
            show.display()
        )
    );
    let names: Vec<&str> = env
        .lines()
        .map(|l| l.split('=').next().unwrap())
        .filter(|n| !["PWD", "SHLVL", "_"].contains(n))
        .collect();
    assert_eq!(names, ["KEEP"], "{env}");
}

#[test]
fn refuses_without_or_with_a_malformed_spec() {
    let show = show_script();
    let path = show.as_os_str().as_bytes();
    let mut bad: Vec<(Option<Vec<u8>>, &str)> = vec![
        (None, "found no command line from the Carme plugin"),
        (
            Some(Vec::new()),
            "the command line from the Carme plugin is empty",
        ),
        (Some(b"abc".to_vec()), "is malformed"),
        (Some(b"5:ab".to_vec()), "is malformed"),
        (Some(b"02:ab".to_vec()), "is malformed"),
        (Some(b"-1:a".to_vec()), "is malformed"),
        (Some(b"99999999999999999999999:a".to_vec()), "is malformed"),
    ];
    // A good record followed by garbage is refused as a whole.
    let mut tail = spec(&[path]);
    tail.extend_from_slice(b"x");
    bad.push((Some(tail), "is malformed"));
    for (exec, want) in bad {
        let out = run(exec.as_deref(), &[], &[]);
        // The script did not run.
        out.expect_code(125)
            .expect_stdout("")
            .expect_stderr_has(want)
            .expect_stderr_has("not by hand (use `carme-launch run`)");
        assert!(
            out.stderr.starts_with("carme: cannot start the task: "),
            "{}",
            out.all()
        );
    }
}

/// A plain `CARME_LAUNCH_EXEC` is what a user's `--task-prolog` can
/// export (Slurm runs it after the plugin's task_init): alone it is
/// refused, next to the plugin's variable it is ignored and dropped.
#[test]
fn a_plain_carme_launch_exec_never_chooses_the_program() {
    let show = show_script();
    let host_sh = spec(&[b"/bin/sh", b"-c", b"echo on-the-host", b"sh"]);
    let host_sh = std::str::from_utf8(&host_sh).unwrap();
    let out = run(None, &[], &[("CARME_LAUNCH_EXEC", host_sh)]);
    // /bin/sh did not run.
    out.expect_code(125).expect_stdout("");
    assert!(
        out.stderr.starts_with(
            "carme: cannot start the task: CARME_LAUNCH_EXEC was set by something other \
             than the Carme plugin"
        ),
        "{}",
        out.all()
    );

    let exec = spec(&[show.as_os_str().as_bytes(), b"task-argv0"]);
    let out = run(Some(&exec), &[], &[("CARME_LAUNCH_EXEC", host_sh)]);
    let (argv, env) = out.ok().stdout.split_once("--\n").expect("separator");
    assert_eq!(argv, format!("[{}]\n[task-argv0]\n", show.display()));
    assert!(!env.contains("CARME_LAUNCH_"), "{env}");
}

/// The same on the cluster: a `--task-prolog` exporting a whole hand-off
/// to `/bin/sh` on the host leaves the task in its image.
#[test]
fn a_task_prolog_cannot_redirect_a_carme_task() {
    let _g = shared_config();
    let c = Cluster::get();
    let prolog = carme_e2e::home_of(STUDENT).join(format!("{}.sh", unique_name("task-prolog")));
    let host_sh = spec(&[b"/bin/sh", b"-c", b"echo on-the-host", b"sh"]);
    std::fs::write(
        &prolog,
        format!(
            "#!/bin/sh\necho 'export CARME_LAUNCH_EXEC={}'\n",
            std::str::from_utf8(&host_sh).unwrap()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&prolog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = c.run_as(
        STUDENT,
        &[
            "srun",
            "--constraint=carme",
            "--carme-image=base",
            &format!("--task-prolog={}", prolog.display()),
            "cat",
            "/CARME_IMAGE",
        ],
    );
    std::fs::remove_file(&prolog).unwrap();
    out.ok().expect_stdout("base\n");
}

#[test]
fn a_missing_or_unrunnable_runtime_is_127_or_126() {
    let show = show_script();
    let dir = show.parent().unwrap();
    let missing = dir.join("no-such-runtime");
    let out = run(
        Some(&spec(&[missing.as_os_str().as_bytes(), b"x"])),
        &[],
        &[],
    );
    out.expect_code(127);
    assert_eq!(
        out.stderr,
        format!(
            "carme: cannot run the container runtime {}: No such file or directory. \
             Please tell your cluster admins.\n",
            missing.display()
        ),
        "{}",
        out.all()
    );
    let plain = dir.join("not-executable");
    std::fs::write(&plain, "data").unwrap();
    run(Some(&spec(&[plain.as_os_str().as_bytes(), b"x"])), &[], &[])
        .expect_code(126)
        .expect_stderr_has(": Permission denied. Please tell");
}

#[test]
fn is_a_static_executable_without_an_interpreter() {
    // ELF64 program headers: no PT_INTERP (3), so no dynamic loader runs.
    let elf = std::fs::read(helper()).unwrap();
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    assert!(phnum > 0);
    let types: Vec<u32> = (0..phnum)
        .map(|i| {
            let o = phoff + i * phentsize;
            u32::from_le_bytes(elf[o..o + 4].try_into().unwrap())
        })
        .collect();
    assert!(types.contains(&1), "has a PT_LOAD: {types:?}");
    assert!(!types.contains(&3), "has a PT_INTERP: {types:?}");
    assert!(!types.contains(&2), "has a PT_DYNAMIC: {types:?}");
    assert!(elf.len() < 64 * 1024, "{} bytes", elf.len());
}
