//! The stand-in runs what the real runtimes would run: argv shapes Carme
//! uses, exit statuses and signals, the container environment, and the
//! JSON record.

mod common;

use std::os::unix::process::ExitStatusExt;

use common::{Sandbox, host_has_nvidia_driver, stderr, stdout};
use serde_json::json;

#[test]
fn apptainer_exec_with_binds_runs_and_passes_the_exit_status() {
    let sb = Sandbox::new("apptainer-binds");
    let (src, data) = (sb.path("src"), sb.path("data"));
    let out = sb.run(
        "apptainer",
        &[
            "exec",
            "-B",
            &format!("{src}:/dst"),
            "-B",
            &format!("{data}:/b:ro"),
            &sb.image(),
            "sh",
            "-c",
            "echo \"binds=$APPTAINER_BIND\"; exit 7",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "binds=/dst,/b\n");
    let record = sb.record();
    assert_eq!(record["status"], "exec");
    assert_eq!(
        record["binds"],
        json!([
            {"src": src, "dest": "/dst", "opts": [], "via": "bind"},
            {"src": data, "dest": "/b", "opts": ["ro"], "via": "bind"},
        ])
    );
    assert_eq!(
        record["command"],
        json!(["sh", "-c", "echo \"binds=$APPTAINER_BIND\"; exit 7"])
    );
}

#[test]
fn singularity_exec_with_nv_runs() {
    let sb = Sandbox::new("singularity-nv");
    let src = sb.path("src");
    let bind = format!("{src}:/dst,{}:/d2:ro", sb.path("data"));
    let args = [
        "exec",
        "--nv",
        "-B",
        &bind,
        &sb.image(),
        "sh",
        "-c",
        "echo ok",
    ];

    let out = sb.run("singularity", &args, &[]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "ok\n");
    // Like the real tools, a missing driver is a warning, not a refusal.
    let warned = stderr(&out).contains("WARNING: stand-in: --nv: no NVIDIA driver found");
    assert_eq!(
        warned,
        !host_has_nvidia_driver(),
        "stderr: {}",
        stderr(&out)
    );

    let out = sb.run("singularity", &args, &[("CARME_STANDIN_NV", "ok")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains("NVIDIA"), "stderr: {}", stderr(&out));

    let record = &sb.records()[0];
    assert_eq!(record["tool"], "singularity");
    assert_eq!(record["flags"]["nv"], true);
    assert_eq!(
        record["binds"][1],
        json!({"src": sb.path("data"), "dest": "/d2", "opts": ["ro"], "via": "bind"})
    );
    // SingularityCE exports the bind specs as given.
    assert_eq!(
        record["env"]["SINGULARITY_BIND"],
        json!(format!("{src}:/dst,{}:/d2:ro", sb.path("data")))
    );
}

#[test]
fn signals_pass_through_because_the_command_is_execed() {
    let sb = Sandbox::new("signal");
    let out = sb.run(
        "apptainer",
        &["exec", &sb.image(), "sh", "-c", "kill -TERM $$"],
        &[],
    );
    assert_eq!(out.status.signal(), Some(15), "stderr: {}", stderr(&out));
}

#[test]
fn prefixed_variables_reach_the_command_without_their_prefix() {
    let sb = Sandbox::new("envprefix");
    let script = "echo \"X=$X APPTAINERENV_X=${APPTAINERENV_X-unset}\"";
    let out = sb.run(
        "apptainer",
        &["exec", &sb.image(), "sh", "-c", script],
        &[("APPTAINERENV_X", "1")],
    );
    assert_eq!(
        stdout(&out),
        "X=1 APPTAINERENV_X=unset\n",
        "stderr: {}",
        stderr(&out)
    );

    // SingularityCE only knows its own prefix; Apptainer's is a plain variable there.
    let script = "echo \"X=${X-unset} Y=$Y\"";
    let out = sb.run(
        "singularity",
        &["exec", &sb.image(), "sh", "-c", script],
        &[("APPTAINERENV_X", "1"), ("SINGULARITYENV_Y", "2")],
    );
    assert_eq!(stdout(&out), "X=unset Y=2\n", "stderr: {}", stderr(&out));
}

#[test]
fn apptainer_still_honours_singularityenv_with_lower_precedence() {
    let sb = Sandbox::new("legacyenv");
    let out = sb.run(
        "apptainer",
        &["exec", &sb.image(), "sh", "-c", "echo \"$A $B\""],
        &[
            ("SINGULARITYENV_A", "legacy"),
            ("APPTAINERENV_A", "new"),
            ("SINGULARITYENV_B", "legacy"),
        ],
    );
    assert_eq!(stdout(&out), "new legacy\n");
    assert!(
        stderr(&out).contains("SINGULARITYENV_B is set, but APPTAINERENV_B is preferred"),
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn cleanenv_drops_host_variables() {
    let sb = Sandbox::new("cleanenv");
    let script = "echo \"FOO=${FOO-unset} TERM=$TERM LANG=$LANG KEPT=$KEPT\"";
    let host = [
        ("FOO", "bar"),
        ("TERM", "xterm"),
        ("LANG", "de_DE.UTF-8"),
        ("APPTAINERENV_KEPT", "yes"),
    ];
    let out = sb.run(
        "apptainer",
        &["exec", &sb.image(), "sh", "-c", script],
        &host,
    );
    assert_eq!(
        stdout(&out),
        "FOO=bar TERM=xterm LANG=de_DE.UTF-8 KEPT=yes\n"
    );

    for flag in ["--cleanenv", "-e", "--containall", "-C", "--compat"] {
        let out = sb.run(
            "apptainer",
            &["exec", flag, &sb.image(), "sh", "-c", script],
            &host,
        );
        assert_eq!(
            stdout(&out),
            "FOO=unset TERM=xterm LANG=C KEPT=yes\n",
            "{flag}: stderr: {}",
            stderr(&out)
        );
    }
    // The same through the documented environment variable.
    let mut with_env = host.to_vec();
    with_env.push(("SINGULARITY_CLEANENV", "true"));
    let out = sb.run(
        "singularity",
        &["exec", &sb.image(), "sh", "-c", script],
        &with_env,
    );
    assert_eq!(stdout(&out), "FOO=unset TERM=xterm LANG=C KEPT=\n");
    assert_eq!(
        sb.records().last().unwrap()["flags_from_env"]["cleanenv"],
        json!(["SINGULARITY_CLEANENV"])
    );
}

#[test]
fn env_flag_sets_variables_and_wins_over_prefixed_ones() {
    let sb = Sandbox::new("envflag");
    let out = sb.run(
        "apptainer",
        &[
            "exec",
            "--env",
            "A=flag,B=flag",
            "--env=C=x,y",
            &sb.image(),
            "sh",
            "-c",
            "echo \"$A $B $C $D\"",
        ],
        &[("A", "host"), ("APPTAINERENV_B", "prefixed"), ("D", "host")],
    );
    assert_eq!(
        stdout(&out),
        "flag flag x,y host\n",
        "stderr: {}",
        stderr(&out)
    );
    // Apptainer 1.4.5 does not say that a host value was shadowed.
    assert!(!stderr(&out).contains("WARNING"), "{}", stderr(&out));
}

#[test]
fn env_file_sets_variables_below_env_flag() {
    let sb = Sandbox::new("envfile");
    let file = sb.path("vars.env");
    std::fs::write(&file, "# settings\nexport A=file\nB='from file'\n").unwrap();
    let out = sb.run(
        "singularity",
        &[
            "exec",
            "--env-file",
            &file,
            "--env",
            "A=flag",
            &sb.image(),
            "sh",
            "-c",
            "echo \"$A|$B\"",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "flag|from file\n", "stderr: {}", stderr(&out));
}

#[test]
fn cwd_and_pwd_set_the_working_directory() {
    let sb = Sandbox::new("cwd");
    let work = sb.path("work");
    for flag in ["--cwd", "--pwd"] {
        let out = sb.run(
            "apptainer",
            &[
                "exec",
                flag,
                &work,
                &sb.image(),
                "sh",
                "-c",
                "pwd; echo $PWD",
            ],
            &[],
        );
        assert_eq!(
            stdout(&out),
            format!("{work}\n{work}\n"),
            "{flag}: {}",
            stderr(&out)
        );
    }
    let records = sb.records();
    assert_eq!(records[0]["pwd"], json!(work));
    assert_eq!(records[0]["flags"]["cwd"], json!(work));
    assert_eq!(records[1]["flags"]["pwd"], json!(work));
}

#[test]
fn the_record_holds_what_was_asked() {
    let sb = Sandbox::new("record");
    let src = sb.path("src");
    let out = sb.run(
        "apptainer",
        &[
            "-q",
            "exec",
            "--nv",
            "--bind",
            &format!("{src}:/opt/src:ro"),
            "--mount",
            &format!("type=bind,src={},dst=/data", sb.path("data")),
            "--env",
            "CUDA_VISIBLE_DEVICES=0,1",
            "--writable-tmpfs",
            "--pids-limit",
            "12",
            &sb.image(),
            "env",
        ],
        &[("FOO", "bar")],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let record = sb.record();
    assert_eq!(record["tool"], "apptainer");
    assert_eq!(record["emulates"], "Apptainer 1.3");
    assert_eq!(record["subcommand"], "exec");
    assert_eq!(record["argv"][0], json!(sb.path("apptainer")));
    assert_eq!(record["argv"].as_array().unwrap().len(), 15);
    assert_eq!(record["global_flags"], json!({"quiet": true}));
    assert_eq!(record["image"], json!(sb.image()));
    assert_eq!(
        record["binds"],
        json!([
            {"src": src, "dest": "/opt/src", "opts": ["ro"], "via": "bind"},
            {"src": sb.path("data"), "dest": "/data", "opts": [], "via": "mount"},
        ])
    );
    assert_eq!(
        record["flags"],
        json!({
            "bind": [format!("{src}:/opt/src:ro")],
            "mount": [format!("type=bind,src={},dst=/data", sb.path("data"))],
            "env": {"CUDA_VISIBLE_DEVICES": "0,1"},
            "nv": true,
            "pids-limit": 12,
            "writable-tmpfs": true,
        })
    );
    assert_eq!(record["command"], json!(["env"]));
    assert!(record["program"].as_str().unwrap().ends_with("/env"));
    assert_eq!(record["pwd"], json!(sb.dir.to_string_lossy()));

    // The recorded environment is exactly what the command printed, and the
    // stand-in's control variables are not part of it.
    let printed: serde_json::Map<String, serde_json::Value> = stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    assert_eq!(record["env"], serde_json::Value::Object(printed));
    assert_eq!(record["env"]["FOO"], "bar");
    assert_eq!(record["env"]["CUDA_VISIBLE_DEVICES"], "0,1");
    assert_eq!(record["env"]["APPTAINER_BIND"], "/opt/src,/data");
    assert!(record["env"].get("CARME_STANDIN_LOG").is_none());
    // -q hides the "not emulated" notes.
    assert!(
        !stderr(&out).contains("not emulated"),
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn not_emulated_flags_are_accepted_with_a_note() {
    let sb = Sandbox::new("notes");
    let out = sb.run(
        "apptainer",
        &[
            "exec",
            "--writable-tmpfs",
            "--containall",
            "--no-home",
            &sb.image(),
            "true",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("INFO:    stand-in: --writable-tmpfs accepted but not emulated"),
        "{err}"
    );
    assert!(err.contains("--no-home accepted but not emulated"), "{err}");
    assert!(
        err.contains("--containall: only its --cleanenv part is emulated"),
        "{err}"
    );
}

#[test]
fn forced_failure_runs_nothing() {
    let sb = Sandbox::new("forcefail");
    let marker = sb.path("ran");
    let out = sb.run(
        "apptainer",
        &["exec", &sb.image(), "touch", &marker],
        &[("CARME_STANDIN_FAIL", "1")],
    );
    common::assert_refused(&out, 255, "failing on request");
    assert!(!std::path::Path::new(&marker).exists());
    let record = sb.record();
    assert_eq!(record["status"], "forced_failure");
    assert_eq!(record["command"], json!(["touch", marker]));
}

#[test]
fn every_invocation_appends_one_line() {
    let sb = Sandbox::new("append");
    for code in 0..3 {
        let script = format!("exit {code}");
        let out = sb.run(
            "apptainer",
            &["exec", &sb.image(), "sh", "-c", &script],
            &[],
        );
        assert_eq!(out.status.code(), Some(code));
    }
    let out = sb.run("apptainer", &["exec", "--nope", &sb.image(), "true"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let records = sb.records();
    assert_eq!(records.len(), 4);
    assert_eq!(records[2]["command"], json!(["sh", "-c", "exit 2"]));
    assert_eq!(records[3]["status"], "refused");
    assert_eq!(records[3]["exit_code"], 1);
    assert!(
        records[3]["error"]
            .as_str()
            .unwrap()
            .contains("unknown flag: --nope")
    );
}

#[test]
fn an_unwritable_log_is_fatal() {
    let sb = Sandbox::new("badlog");
    let marker = sb.path("ran");
    let out = sb.run(
        "apptainer",
        &["exec", &sb.image(), "touch", &marker],
        &[("CARME_STANDIN_LOG", "/nonexistent-dir/log")],
    );
    common::assert_refused(&out, 255, "CARME_STANDIN_LOG");
    assert!(!std::path::Path::new(&marker).exists());
}

/// Apptainer 1.4.5 runs `--nv` without a driver silently (checked live in
/// the Debian sid root); only SingularityCE warns.
#[test]
fn apptainer_exec_with_nv_runs_without_a_warning() {
    let sb = Sandbox::new("apptainer-nv");
    let out = sb.run("apptainer", &["exec", "--nv", &sb.image(), "true"], &[]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(!stderr(&out).contains("NVIDIA"), "stderr: {}", stderr(&out));
    assert_eq!(sb.record()["flags"]["nv"], true);
}
