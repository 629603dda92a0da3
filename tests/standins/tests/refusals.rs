//! What the stand-in refuses, and how: a `FATAL:   stand-in <tool>: ...`
//! line, exit 255 for what the real tools report with FATAL (and for the
//! stand-in's own limits), exit 1 for command-line errors (the real tools
//! report those through cobra and exit 1), exit 2 for an unknown name.

mod common;

use common::{Sandbox, assert_refused, stderr};

#[test]
fn unknown_flag_is_a_usage_error() {
    let sb = Sandbox::new("unknown-flag");
    let out = sb.run("apptainer", &["exec", "--foo", &sb.image(), "true"], &[]);
    assert_refused(&out, 1, "Error for command \"exec\": unknown flag: --foo");
    let out = sb.run("singularity", &["exec", "-Z", &sb.image(), "true"], &[]);
    assert_refused(&out, 1, "unknown shorthand flag: 'Z' in -Z");
    // A flag of the other tool is unknown too.
    let out = sb.run(
        "singularity",
        &["exec", "--sharens", &sb.image(), "true"],
        &[],
    );
    assert_refused(&out, 1, "unknown flag: --sharens");
    // Global flags only go before the subcommand.
    let out = sb.run("apptainer", &["exec", "--debug", &sb.image(), "true"], &[]);
    assert_refused(&out, 1, "unknown flag: --debug");
}

#[test]
fn undocumented_flags_are_refused() {
    let sb = Sandbox::new("undocumented");
    for flag in ["--nohttps", "--no-nv", "--underlay", "--containlibs=/x"] {
        let out = sb.run("apptainer", &["exec", flag, &sb.image(), "true"], &[]);
        assert_refused(&out, 255, "accepts documented flags only");
    }
}

#[test]
fn missing_flag_value_and_missing_command_are_usage_errors() {
    let sb = Sandbox::new("arity");
    let out = sb.run("apptainer", &["exec", "-B"], &[]);
    assert_refused(&out, 1, "flag needs an argument: 'B' in -B");
    let out = sb.run("apptainer", &["exec", &sb.image()], &[]);
    assert_refused(&out, 1, "requires at least 2 arg(s), only received 1");
    let out = sb.run(
        "apptainer",
        &["exec", "--nv=perhaps", &sb.image(), "true"],
        &[],
    );
    assert_refused(&out, 1, "invalid argument \"perhaps\" for \"--nv\" flag");
}

#[test]
fn other_subcommands_are_refused() {
    let sb = Sandbox::new("subcommand");
    for sub in ["run", "shell", "frobnicate"] {
        let out = sb.run("apptainer", &[sub, &sb.image()], &[]);
        assert_refused(&out, 255, "stand-in implements only exec");
    }
    let out = sb.run("singularity", &[], &[]);
    assert_refused(&out, 255, "stand-in implements only exec");
    let out = sb.run(
        "apptainer",
        &["--config", "/etc/x.conf", "exec", &sb.image(), "true"],
        &[],
    );
    assert_refused(&out, 255, "--config");
}

#[test]
fn missing_image_is_fatal() {
    let sb = Sandbox::new("noimage");
    let missing = sb.path("missing.sif");
    let out = sb.run("apptainer", &["exec", &missing, "true"], &[]);
    assert_refused(&out, 255, &format!("could not open image {missing}"));
}

#[test]
fn remote_images_are_refused() {
    let sb = Sandbox::new("remote");
    for uri in [
        "docker://alpine",
        "library://a/b/c",
        "oras://r/i:1",
        "shub://a/b",
    ] {
        let out = sb.run("singularity", &["exec", uri, "true"], &[]);
        assert_refused(&out, 255, "remote images not supported");
    }
}

#[test]
fn bind_destination_must_be_absolute() {
    let sb = Sandbox::new("relbind");
    let spec = format!("{}:relative/dest", sb.path("src"));
    let out = sb.run(
        "apptainer",
        &["exec", "-B", &spec, &sb.image(), "true"],
        &[],
    );
    assert_refused(&out, 255, "destination must be an absolute path");
}

#[test]
fn bind_source_must_exist() {
    let sb = Sandbox::new("nosrc");
    let spec = format!("{}:/dst", sb.path("nope"));
    let out = sb.run(
        "singularity",
        &["exec", "--bind", &spec, &sb.image(), "true"],
        &[],
    );
    assert_refused(&out, 255, "doesn't exist");
}

#[test]
fn unknown_bind_options_are_fatal() {
    let sb = Sandbox::new("bindopt");
    let src = sb.path("src");
    for spec in [format!("{src}:/dst:rx"), format!("{src}:/dst:noexec")] {
        let out = sb.run(
            "apptainer",
            &["exec", "-B", &spec, &sb.image(), "true"],
            &[],
        );
        assert_refused(&out, 255, "is not a valid bind option");
    }
    // After a comma, a word that is not an option starts a new spec, as
    // with the real parsers: here one whose source "noexec" does not exist.
    let spec = format!("{src}:/dst:ro,noexec");
    let out = sb.run(
        "apptainer",
        &["exec", "-B", &spec, &sb.image(), "true"],
        &[],
    );
    assert_refused(&out, 255, "mount source noexec doesn't exist");
    // "ro" after a spec without an options field would end up in the
    // destination with the real tools; the stand-in refuses the ambiguity.
    let spec = format!("{src}:/dst,ro");
    let out = sb.run(
        "apptainer",
        &["exec", "-B", &spec, &sb.image(), "true"],
        &[],
    );
    assert_refused(&out, 255, "ambiguous bind spec");
}

#[test]
fn working_directory_must_exist() {
    let sb = Sandbox::new("nocwd");
    let out = sb.run(
        "apptainer",
        &["exec", "--cwd", "/no/such/dir", &sb.image(), "true"],
        &[],
    );
    assert_refused(&out, 255, "could not set working directory /no/such/dir");
}

#[test]
fn unknown_command_is_fatal() {
    let sb = Sandbox::new("nocmd");
    let out = sb.run(
        "apptainer",
        &["exec", &sb.image(), "no-such-command-xyz"],
        &[],
    );
    assert_refused(
        &out,
        255,
        "\"no-such-command-xyz\": executable file not found in $PATH",
    );
}

#[test]
fn unknown_control_variable_is_fatal() {
    let sb = Sandbox::new("control");
    let out = sb.run(
        "apptainer",
        &["exec", &sb.image(), "true"],
        &[("CARME_STANDIN_FIAL", "1")],
    );
    assert_refused(&out, 255, "unknown control variable CARME_STANDIN_FIAL");
}

#[test]
fn bad_basename_exits_2() {
    let sb = Sandbox::new("basename");
    let out = sb.run("docker", &["exec", &sb.image(), "true"], &[]);
    assert_refused(&out, 2, "invoked as");
    assert!(stderr(&out).contains("'apptainer' or 'singularity'"));
    assert!(sb.records().is_empty(), "nothing to record without a tool");
}

#[test]
fn refusals_are_recorded() {
    let sb = Sandbox::new("refusal-record");
    let out = sb.run("apptainer", &["exec", "docker://alpine", "true"], &[]);
    assert_eq!(out.status.code(), Some(255));
    let record = sb.record();
    assert_eq!(record["status"], "refused");
    assert_eq!(record["exit_code"], 255);
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("remote images not supported")
    );
    assert_eq!(record["argv"][1], "exec");
}

/// `build` makes a SIF from a sandbox directory, and nothing else.
#[test]
fn build_makes_a_sif_from_a_sandbox_only() {
    let sb = Sandbox::new("build");
    let sif = sb.path("made.sif");
    let out = sb.run("apptainer", &["build", &sif, &sb.path("src")], &[]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("Build complete"), "{}", stderr(&out));
    // The stand-in's exec takes it as an image.
    let out = sb.run("apptainer", &["exec", &sif, "true"], &[]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    // Like Apptainer 1.4.5: an existing target needs --force.
    let out = sb.run("apptainer", &["build", &sif, &sb.path("src")], &[]);
    assert_refused(&out, 255, "already exists. Use --force");
    let out = sb.run("apptainer", &["build", "-F", &sif, &sb.path("src")], &[]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    for (args, code, text) in [
        (
            vec!["build", "x.sif", "docker://alpine"],
            255,
            "sandbox directory only",
        ),
        (
            vec!["build", "x.sif", "image.sif"],
            255,
            "sandbox directory only",
        ),
        (vec!["build", "x.img", "src"], 255, "SIF files only"),
        (
            vec!["build", "--sandbox", "x", "src"],
            255,
            "only -F/--force",
        ),
    ] {
        let out = sb.run("apptainer", &args, &[]);
        assert_refused(&out, code, text);
    }
    let out = sb.run("apptainer", &["build", "x.sif"], &[]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
}
