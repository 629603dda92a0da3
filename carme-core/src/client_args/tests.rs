use super::getopt::ALIASES;
use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

/// Environment variables (or GPU requests) as name/value pairs.
type Env<'a> = &'a [(&'a str, &'a str)];

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn run(cmd: &str, env: &[(&str, &str)]) -> ClientRequest {
    let argv = words(cmd);
    let client = match argv[0].as_str() {
        "srun" => Client::Srun,
        "sbatch" => Client::Sbatch,
        "salloc" => Client::Salloc,
        other => panic!("no client {other}"),
    };
    same_in_every_release(|r| parse(r, client, &argv, &env_of(env)))
}

/// The answer of `parse_in` for 22.05, checked to be the same for every
/// release: the cases here use options every release has (only the notes
/// may also name the options newer releases add).
fn same_in_every_release(parse_in: impl Fn(Release) -> ClientRequest) -> ClientRequest {
    let first = parse_in(Release::V22_05);
    for r in &Release::ALL[1..] {
        let other = ClientRequest {
            notes: first.notes.clone(),
            ..parse_in(*r)
        };
        assert_eq!(other, first, "{r:?} differs from 22.05");
    }
    first
}

fn sbatch(cmd: &str, env: &[(&str, &str)], script: Option<&str>) -> ClientRequest {
    same_in_every_release(|r| parse_sbatch(r, &words(cmd), &env_of(env), script))
}

fn g(v: &str) -> Knowledge {
    Knowledge::Given(v.to_string())
}

use Knowledge::{Absent, Unknown};

#[test]
fn account_and_time_with_precedence() {
    // (command, environment, script, account, time)
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        Option<&'a str>,
        Knowledge,
        Knowledge,
    );
    let cases: &[Case] = &[
        ("srun -A projx -t 10 cmd", &[], None, g("projx"), g("10")),
        (
            "srun --account=projx --time=1-00:00 cmd",
            &[],
            None,
            g("projx"),
            g("1-00:00"),
        ),
        (
            "srun -Aprojx -t5 cmd",
            &[("SLURM_ACCOUNT", "env"), ("SLURM_TIMELIMIT", "7")],
            None,
            g("projx"),
            g("5"),
        ),
        (
            "srun cmd",
            &[("SLURM_ACCOUNT", "env"), ("SLURM_TIMELIMIT", "7")],
            None,
            g("env"),
            g("7"),
        ),
        ("srun cmd", &[("SBATCH_ACCOUNT", "x")], None, Absent, Absent),
        (
            "salloc cmd",
            &[("SALLOC_ACCOUNT", "a"), ("SALLOC_TIMELIMIT", "3")],
            None,
            g("a"),
            g("3"),
        ),
        (
            "sbatch job.sh",
            &[],
            Some("#!/bin/sh\n#SBATCH -A s\n#SBATCH --time=9\n"),
            g("s"),
            g("9"),
        ),
        (
            "sbatch job.sh",
            &[("SBATCH_ACCOUNT", "e")],
            Some("#!/bin/sh\n#SBATCH -A s\n"),
            g("e"),
            Absent,
        ),
        (
            "sbatch -A c job.sh",
            &[("SBATCH_ACCOUNT", "e")],
            Some("#!/bin/sh\n#SBATCH -A s\n"),
            g("c"),
            Absent,
        ),
        ("sbatch job.sh", &[], None, Unknown, Unknown),
        // Nothing after the unknown option could set --time.
        ("srun --bogus x -A a cmd", &[], None, Unknown, Absent),
    ];
    for (cmd, env, script, account, time) in cases {
        let r = if cmd.starts_with("sbatch") {
            sbatch(cmd, env, *script)
        } else {
            run(cmd, env)
        };
        assert_eq!((&r.account, &r.time), (account, time), "{cmd} {env:?}");
    }
}

#[test]
fn constraint_forms() {
    let cases: &[(&str, Knowledge)] = &[
        ("srun -C carme cmd", g("carme")),
        ("srun -Ccarme cmd", g("carme")),
        ("srun --constraint=carme cmd", g("carme")),
        ("srun --constraint carme cmd", g("carme")),
        ("srun --constraint= cmd", g("")),
        // Unambiguous prefixes, with either argument form.
        ("srun --constr=carme cmd", g("carme")),
        ("srun --constr carme cmd", g("carme")),
        ("srun --constra carme cmd", g("carme")),
        // Bundles: no-argument letters, then C with attached or next-word value.
        ("srun -vC carme cmd", g("carme")),
        ("srun -vlCcarme cmd", g("carme")),
        ("srun -lC x cmd", g("x")),
        // Last one wins.
        ("srun -C a -C b cmd", g("b")),
        ("srun --constraint=a -Cb cmd", g("b")),
        // Options stop at the command and after "--".
        ("srun cmd -C carme", Absent),
        ("srun -N1 -- -C carme", Absent),
        ("srun - -C carme", Absent),
        ("srun -C x cmd -C y", g("x")),
        // Optional arguments are taken only when attached.
        ("srun --exclusive -C carme cmd", g("carme")),
        ("srun --exclusive=user -C carme cmd", g("carme")),
        ("srun --exclusive carme -C x", Absent),
        ("srun -I -C x cmd", g("x")),
        ("srun -I5 -C x cmd", g("x")),
        ("srun -IC x cmd", Absent),
        ("srun -kC x cmd", Absent),
        // A required argument takes the next word whatever it looks like.
        ("srun --comment -C x", Absent),
        ("srun -J -C x", Absent),
        ("srun -J -- -C x cmd", g("x")),
        // -W: srun's takes an argument, sbatch's does not.
        ("srun -W -C x cmd", Absent),
        ("salloc -K -C x", g("x")),
        ("salloc -KC x", Absent),
        // Exact match wins over longer names; aliases are one option.
        ("srun --cpu_b=x -C y cmd", g("y")),
        ("srun --pack 0 -C y cmd", g("y")),
        ("srun --tasks-per 2 -C y cmd", g("y")),
        // Our own SPANK option, and others' with an attached value.
        ("srun --carme-image img -C x cmd", g("x")),
        ("srun --carme-im img -C x cmd", g("x")),
        ("srun --carme-beeond -C x cmd", g("x")),
        ("srun --carme-be -C x cmd", g("x")),
        ("srun --container-image=foo -C x cmd", g("x")),
        // Unknown or ambiguous words: what follows could be anything.
        ("srun --con=x cmd", Unknown),
        ("srun --=x -C y cmd", Unknown),
        ("srun --container-writable -C x cmd", Unknown),
        ("srun --container-writable --constr=x cmd", Unknown),
        ("srun --container-writable -vCx cmd", Unknown),
        ("srun -y -C x cmd", Unknown),
        ("srun --contiguous=yes -C x cmd", Unknown),
        ("srun -C", Unknown),
        // ... but what nothing after it can change stays known.
        ("srun -C x --container-writable cmd", g("x")),
        ("srun -C x --container-writable cmd -N2", g("x")),
        ("srun --container-writable cmd", Absent),
        ("srun -C x --bogus -C y cmd", Unknown),
        ("srun", Absent),
    ];
    for (cmd, want) in cases {
        assert_eq!(&run(cmd, &[]).constraint, want, "{cmd}");
    }
}

#[test]
fn sbatch_wait_takes_no_argument() {
    let r = sbatch("sbatch -W -C x job.sh", &[], Some("#!/bin/sh\n"));
    assert_eq!(r.constraint, g("x"));
    assert_eq!(r.script, g("job.sh"));
}

#[test]
fn nodes_and_jobid() {
    let cases: &[(&str, Env, Knowledge, Knowledge)] = &[
        ("srun -N2 cmd", &[], g("2"), Absent),
        ("srun --nodes=1-3 cmd", &[], g("1-3"), Absent),
        ("srun -vN 2 cmd", &[], g("2"), Absent),
        ("srun --nodes 4 cmd", &[], g("4"), Absent),
        ("srun --nod 4 cmd", &[], Unknown, Absent),
        ("srun --jobid=7 cmd", &[], Absent, g("7")),
        (
            "srun --jobid 7 cmd",
            &[("SLURM_JOB_ID", "8")],
            Absent,
            g("7"),
        ),
        ("srun cmd", &[("SLURM_JOB_ID", "8")], Absent, g("8")),
        // Inside a job srun takes -N from SLURM_JOB_NUM_NODES ...
        ("srun cmd", &[("SLURM_JOB_NUM_NODES", "3")], g("3"), Absent),
        (
            "srun -N1 cmd",
            &[("SLURM_JOB_NUM_NODES", "3")],
            g("1"),
            Absent,
        ),
        // ... and 22.05 never reads SLURM_NNODES, whatever srun(1) says.
        ("srun cmd", &[("SLURM_NNODES", "3")], Absent, Absent),
        (
            "salloc cmd",
            &[("SLURM_JOB_NUM_NODES", "3")],
            Absent,
            Absent,
        ),
        ("salloc cmd", &[("SLURM_JOB_ID", "3")], Absent, Absent),
        ("srun --bogus cmd", &[], Absent, Absent),
        ("srun --bogus -N2 cmd", &[], Unknown, Absent),
        ("srun --bogus --jobid=2 cmd", &[], Absent, Unknown),
    ];
    for (cmd, env, nodes, jobid) in cases {
        let r = run(cmd, env);
        assert_eq!(&r.nodes, nodes, "{cmd} {env:?}");
        assert_eq!(&r.jobid, jobid, "{cmd} {env:?}");
    }
}

#[test]
fn srun_local_het_step_drops_env_node_count() {
    let env = [("SLURM_JOB_ID", "5"), ("SLURM_JOB_NUM_NODES", "3")];
    let r = run("srun -n1 a : -n1 b", &env);
    assert!(r.het_job);
    assert_eq!(r.nodes, Absent);
    assert_eq!(r.jobid, g("5"));
    let het_alloc = [env[0], env[1], ("SLURM_HET_SIZE", "2")];
    assert_eq!(run("srun -n1 a : -n1 b", &het_alloc).nodes, g("3"));
    assert_eq!(run("srun -n1 a", &env).nodes, g("3"));
    // Unknown whether the ":" separates components.
    assert_eq!(run("srun --bogus a : b", &env).nodes, Unknown);
    assert_eq!(run("srun --bogus a b", &env).nodes, g("3"));
}

#[test]
fn env_precedence_srun_salloc() {
    let cases: &[(&str, Env, Knowledge)] = &[
        ("srun cmd", &[("SLURM_CONSTRAINT", "e")], g("e")),
        ("srun -C c cmd", &[("SLURM_CONSTRAINT", "e")], g("c")),
        ("srun cmd", &[("SLURM_CONSTRAINT", "")], g("")),
        ("srun cmd", &[("SBATCH_CONSTRAINT", "e")], Absent),
        (
            "srun cmd",
            &[
                ("SLURM_CONSTRAINT", "e"),
                ("SLURM_CONSTRAINT_PACK_GROUP_0", "p"),
            ],
            g("p"),
        ),
        (
            "srun cmd",
            &[
                ("SLURM_CONSTRAINT_HET_GROUP_0", "h"),
                ("SLURM_CONSTRAINT_PACK_GROUP_0", "p"),
            ],
            g("h"),
        ),
        (
            "srun --het-group=1 cmd",
            &[
                ("SLURM_CONSTRAINT_HET_GROUP_0", "h0"),
                ("SLURM_CONSTRAINT_HET_GROUP_1", "h1"),
            ],
            g("h1"),
        ),
        (
            "srun --het-group=0,1 cmd",
            &[("SLURM_CONSTRAINT", "e")],
            Unknown,
        ),
        (
            "srun --het-group=0,1 -C c cmd",
            &[("SLURM_CONSTRAINT", "e")],
            g("c"),
        ),
        ("srun --het-group=0,1 cmd", &[], Unknown),
        (
            "srun --het-group=01 cmd",
            &[("SLURM_CONSTRAINT_HET_GROUP_1", "h1")],
            g("h1"),
        ),
        (
            "srun --het-group=[1] cmd",
            &[("SLURM_CONSTRAINT_HET_GROUP_1", "h1")],
            g("h1"),
        ),
        ("salloc", &[("SALLOC_CONSTRAINT", "e")], g("e")),
        ("salloc -C c", &[("SALLOC_CONSTRAINT", "e")], g("c")),
        ("salloc", &[("SLURM_CONSTRAINT", "e")], Absent),
        ("salloc", &[("SLURM_CONSTRAINT_HET_GROUP_0", "e")], Absent),
        // Unknown argv, but nothing after the unknown word can set -C.
        ("srun --bogus cmd", &[("SLURM_CONSTRAINT", "e")], g("e")),
    ];
    for (cmd, env, want) in cases {
        assert_eq!(&run(cmd, env).constraint, want, "{cmd} {env:?}");
    }
}

fn gpus(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn gpu_requests() {
    let cases: &[(&str, Env, Env, bool)] = &[
        ("srun cmd", &[], &[], false),
        (
            "srun --gres=gpu:2 -G 1 --gpus-per-node=1 --gpus-per-task 3 --gpus-per-socket=4 cmd",
            &[],
            &[
                ("gpus", "1"),
                ("gpus-per-node", "1"),
                ("gpus-per-socket", "4"),
                ("gpus-per-task", "3"),
                ("gres", "gpu:2"),
            ],
            false,
        ),
        ("srun -G1 -G2 cmd", &[], &[("gpus", "2")], false),
        (
            "srun -vG2 cmd",
            &[("SLURM_GPUS", "3")],
            &[("gpus", "2")],
            false,
        ),
        ("srun cmd", &[("SLURM_GPUS", "3")], &[("gpus", "3")], false),
        (
            "srun cmd",
            &[("SLURM_GPUS_PER_SOCKET", "1")],
            &[("gpus-per-socket", "1")],
            false,
        ),
        (
            "srun cmd",
            &[("SLURM_GRES_HET_GROUP_0", "gpu:1")],
            &[("gres", "gpu:1")],
            false,
        ),
        // A step without --gres asks for SLURM_STEP_GRES.
        (
            "srun cmd",
            &[("SLURM_STEP_GRES", "gpu:1")],
            &[("gres", "gpu:1")],
            false,
        ),
        (
            "srun cmd",
            &[("SLURM_STEP_GRES", "gpu:1"), ("SLURM_GRES", "gpu:2")],
            &[("gres", "gpu:2")],
            false,
        ),
        (
            "srun --gres=none cmd",
            &[("SLURM_STEP_GRES", "gpu:1")],
            &[("gres", "none")],
            false,
        ),
        ("salloc", &[("SLURM_STEP_GRES", "gpu:1")], &[], false),
        (
            "salloc --gpus-per-node=2",
            &[],
            &[("gpus-per-node", "2")],
            false,
        ),
        (
            "salloc",
            &[("SALLOC_GPUS_PER_TASK", "2")],
            &[("gpus-per-task", "2")],
            false,
        ),
        ("salloc", &[("SLURM_GPUS", "2")], &[], false),
        // --tres-per-task (24.11 on): each_release_knows_its_own_options.
        // After an unknown word: what it cannot change stays, the rest is unknown.
        ("srun -G1 --bogus cmd", &[], &[("gpus", "1")], false),
        (
            "srun -G1 --bogus --gres gpu:1 cmd",
            &[],
            &[("gpus", "1")],
            true,
        ),
        ("srun --bogus -G1 cmd", &[], &[], true),
        ("srun --bogus --gpus-per-n=1 cmd", &[], &[], true),
    ];
    for (cmd, env, want, unknown) in cases {
        let r = run(cmd, env);
        assert_eq!(r.gpu_requests, gpus(want), "{cmd} {env:?}");
        assert_eq!(r.gpu_requests_unknown, *unknown, "{cmd} {env:?}");
    }
}

#[test]
fn multi_prog() {
    let cases: &[(&str, Env, bool)] = &[
        ("srun cmd", &[], false),
        ("srun --multi-prog conf", &[], true),
        ("srun --multi conf", &[], true),
        ("srun conf --multi-prog", &[], false),
        ("srun conf", &[("SLURM_SRUN_MULTI", "")], true),
        ("srun conf", &[("SLURM_SRUN_MULTI", "yes")], true),
        ("srun conf", &[("SLURM_SRUN_MULTI", " 1")], true),
        ("srun conf", &[("SLURM_SRUN_MULTI", "0")], false),
        ("srun conf", &[("SLURM_SRUN_MULTI", "no")], false),
        ("srun conf", &[("SLURM_SRUN_MULTI", "1x")], false),
        (
            "srun conf",
            &[
                ("SLURM_SRUN_MULTI", "1"),
                ("SLURM_SRUN_MULTI_HET_GROUP_0", "0"),
            ],
            false,
        ),
        ("salloc --multi-prog x", &[], false),
    ];
    for (cmd, env, want) in cases {
        assert_eq!(run(cmd, env).multi_prog, *want, "{cmd} {env:?}");
    }
}

#[test]
fn env_flag_like_slurm() {
    for yes in [
        "",
        "yes",
        "YES",
        "1",
        "-1",
        "+7",
        "  3",
        "99999999999999999999",
    ] {
        assert!(env_flag(yes), "{yes:?}");
    }
    for no in ["0", "no", "true", "1 ", "0x1", "+", "-", "00"] {
        assert!(!env_flag(no), "{no:?}");
    }
}

#[test]
fn het_jobs() {
    let cases: &[(&str, bool, Knowledge)] = &[
        ("srun -C a hostname : -C b hostname", true, g("a")),
        ("srun -C a : -C b hostname", true, g("a")),
        ("srun --comment : hostname", false, Absent),
        ("srun --het-group=1 hostname", true, Absent),
        ("salloc -C a : -C b", true, g("a")),
        // salloc only splits where its options stop.
        ("salloc -C a bash : x", false, g("a")),
    ];
    for (cmd, het, constraint) in cases {
        let r = run(cmd, &[]);
        assert_eq!(r.het_job, *het, "{cmd}");
        assert_eq!(&r.constraint, constraint, "{cmd}");
    }
}

const SCRIPT: &str = "#!/bin/sh\n#SBATCH -C s -N 4\n#SBATCH --gres=gpu:1\nsrun x\n";

#[test]
fn sbatch_precedence() {
    let r = sbatch("sbatch job.sh", &[], Some(SCRIPT));
    assert_eq!(r.constraint, g("s"));
    assert_eq!(r.nodes, g("4"));
    assert_eq!(r.gpu_requests, gpus(&[("gres", "gpu:1")]));
    assert!(!r.incomplete, "{:?}", r.notes);

    let env = [("SBATCH_CONSTRAINT", "e"), ("SBATCH_GRES", "gpu:2")];
    let r = sbatch("sbatch job.sh", &env, Some(SCRIPT));
    assert_eq!(r.constraint, g("e"));
    assert_eq!(r.gpu_requests, gpus(&[("gres", "gpu:2")]));

    let r = sbatch("sbatch -C c --gres=gpu:3 job.sh", &env, Some(SCRIPT));
    assert_eq!(r.constraint, g("c"));
    assert_eq!(r.gpu_requests, gpus(&[("gres", "gpu:3")]));
    // sbatch has no environment variable for -N; srun's is not read.
    let r = sbatch(
        "sbatch job.sh",
        &[("SLURM_JOB_NUM_NODES", "9")],
        Some(SCRIPT),
    );
    assert_eq!(r.nodes, g("4"));
    // Script arguments are not options.
    let r = sbatch("sbatch job.sh -C c", &[], Some(SCRIPT));
    assert_eq!(r.constraint, g("s"));
    assert_eq!(r.script, g("job.sh"));
}

#[test]
fn sbatch_unreadable_script_is_unknown() {
    let r = sbatch("sbatch", &[], None);
    assert_eq!(r.script, Absent);
    assert_eq!(r.constraint, Unknown);
    assert_eq!(r.nodes, Unknown);
    assert!(r.gpu_requests_unknown);
    assert!(r.incomplete);

    let r = sbatch("sbatch -C c -N1 -G1", &[("SBATCH_GRES", "gpu:1")], None);
    assert_eq!(r.constraint, g("c"));
    assert_eq!(r.nodes, g("1"));
    assert_eq!(r.gpu_requests, gpus(&[("gpus", "1"), ("gres", "gpu:1")]));
    assert!(r.gpu_requests_unknown);

    let r = sbatch("sbatch job.sh", &[("SBATCH_CONSTRAINT", "e")], None);
    assert_eq!(r.constraint, g("e"));
    // parse() for sbatch has no script text.
    let r = run("sbatch -C c job.sh", &[]);
    assert_eq!((r.constraint, r.nodes), (g("c"), Unknown));
}

#[test]
fn sbatch_wrap_has_no_directives() {
    let r = sbatch("sbatch --wrap=hostname", &[], None);
    assert!(r.wrap);
    assert_eq!(r.script, Absent);
    assert_eq!(r.constraint, Absent);
    assert!(!r.gpu_requests_unknown);
    assert!(!r.incomplete, "{:?}", r.notes);
    let r = sbatch("sbatch --wrap hostname -C x", &[], Some(SCRIPT));
    assert_eq!(r.constraint, g("x"));
    assert_eq!(r.nodes, Absent);
    // --wrap is read from every component.
    assert!(sbatch("sbatch -N1 : --wrap=hostname", &[], None).wrap);
}

#[test]
fn sbatch_components_and_script_path() {
    let r = sbatch("sbatch -N1 : -N2 job.sh", &[], Some("#!/bin/sh\n"));
    assert!(r.het_job);
    assert_eq!(r.nodes, g("1"));
    assert_eq!(r.script, g("job.sh"));

    let r = sbatch("sbatch job.sh a : b", &[], Some("#!/bin/sh\n"));
    assert!(!r.het_job);
    assert_eq!(r.script, g("job.sh"));

    let r = sbatch("sbatch -- job.sh -N3", &[], Some("#!/bin/sh\n"));
    assert_eq!(r.script, g("job.sh"));
    assert_eq!(r.nodes, Absent);

    // sbatch drops ":" words before finding the script, so here --comment
    // swallows job.sh and the script comes from stdin.
    let r = sbatch("sbatch --comment : job.sh", &[], None);
    assert_eq!(r.script, Absent);

    let r = sbatch("sbatch --bogus job.sh", &[], None);
    assert_eq!(r.script, Unknown);
    assert!(r.incomplete);

    let het = "#!/bin/sh\n#SBATCH -C a\n#SBATCH hetjob\n#SBATCH -C b\n";
    let r = sbatch("sbatch job.sh", &[], Some(het));
    assert!(r.het_job);
    assert_eq!(r.constraint, g("a"));
}

#[test]
fn directives() {
    let cases: &[(&str, &[&str])] = &[
        ("#!/bin/sh\n#SBATCH -C s -N 4\n", &["-C", "s", "-N", "4"]),
        (
            "#!/bin/sh\n#SBATCH -C s\necho\n#SBATCH -N 4\n",
            &["-C", "s"],
        ),
        (
            "#!/bin/sh\n\n# comment\n  # indented\n\t\n#SBATCH -N1\n",
            &["-N1"],
        ),
        ("#!/bin/sh\n  #SBATCH -N1\n", &[]),
        (
            "#!/bin/sh\n#SBATCH  --constraint=\"a b\"\n",
            &["--constraint=a b"],
        ),
        (
            "#!/bin/sh\n#SBATCH -C 'x&y' # comment -N2\n",
            &["-C", "x&y"],
        ),
        // A backslash cannot join words: get_argument tests for whitespace first.
        ("#!/bin/sh\n#SBATCH -C a\\ b\n", &["-C", "a", "b"]),
        ("#!/bin/sh\n#SBATCH -C a\\#b\n", &["-C", "a#b"]),
        ("#!/bin/sh\n#SBATCH -C a#b -N2\n", &["-C", "a"]),
        (
            "#!/bin/sh\n#SBATCH --comment=\"x # y\"\n",
            &["--comment=x # y"],
        ),
        ("#!/bin/sh\n#SBATCH -C \"a\"'b'c\n", &["-C", "abc"]),
        ("#!/bin/sh\n#SBATCH -C \\\"a\n", &["-C", "\"a"]),
        ("#!/bin/sh\n#SLURM -N1\n", &["-N1"]),
        ("#!/bin/sh\n#SBATCH--nodes=2\n", &["--nodes=2"]),
        ("#!/bin/sh\n#sbatch -N1\n", &[]),
        // An empty word ends sbatch's reading of the line.
        (
            "#!/bin/sh\n#SBATCH -C \"\" -N2\n#SBATCH -N3\n",
            &["-C", "-N3"],
        ),
        ("#!/bin/sh\n#SBATCH -N1 hetjob -N3\n", &["-N1"]),
        (
            "#!/bin/sh\n#SBATCH -N1\n#SBATCH HetJob\n#SBATCH -N3\n",
            &["-N1"],
        ),
        (
            "#!/bin/sh\n#SBATCH -N1\n#SBATCH hetjobs -N3\n",
            &["-N1", "hetjobs", "-N3"],
        ),
        ("#!/bin/sh\r\n#SBATCH -N1\r\n", &["-N1"]),
        // Syntax errors: the words before them.
        (
            "#!/bin/sh\n#SBATCH -N1\n#SBATCH -C \"a\n#SBATCH -n1\n",
            &["-N1", "-C"],
        ),
        ("#!/bin/sh\n#SBATCH -N1 :x\n", &["-N1"]),
        ("", &[]),
    ];
    for (text, want) in cases {
        assert_eq!(batch_directives(text), want.to_vec(), "{text:?}");
    }
}

#[test]
fn directives_sbatch_would_refuse_make_script_unknown() {
    let cases: &[&str] = &[
        "#!/bin/sh\n#SBATCH -C \"a\n",
        "#!/bin/sh\n#SBATCH -N1 :x\n",
        "#!/bin/sh\n#SBATCH foo\n",
        "#!/bin/sh\n#SBATCH --nodes\n",
        "#!/bin/sh\n#SBATCH --container-writable -N1\n",
    ];
    for text in cases {
        let r = sbatch("sbatch job.sh", &[], Some(text));
        assert_eq!(r.nodes, Unknown, "{text:?}");
        assert_eq!(r.constraint, Unknown, "{text:?}");
        // The command line still decides what it sets.
        let r = sbatch("sbatch -C c job.sh", &[], Some(text));
        assert_eq!(r.constraint, g("c"), "{text:?}");
    }
}

#[test]
fn pbs_lines_make_script_unknown_unless_ignored() {
    let text = "#!/bin/sh\n#SBATCH -C s\n#PBS -l nodes=2:gpus=1\nhostname\n";
    let r = sbatch("sbatch job.sh", &[], Some(text));
    assert_eq!((&r.constraint, &r.nodes), (&Unknown, &Unknown));
    assert!(r.gpu_requests_unknown);
    for (cmd, env) in [
        ("sbatch --ignore-pbs job.sh", &[][..]),
        ("sbatch -N1 : --ignore-pbs job.sh", &[][..]),
        ("sbatch job.sh", &[("SBATCH_IGNORE_PBS", "1")][..]),
    ] {
        let r = sbatch(cmd, env, Some(text));
        assert_eq!(r.constraint, g("s"), "{cmd} {env:?}");
        assert!(!r.gpu_requests_unknown, "{cmd} {env:?}");
    }
    let r = sbatch("sbatch job.sh", &[("SBATCH_IGNORE_PBS", "0")], Some(text));
    assert_eq!(r.constraint, Unknown);
    let ignored = "#!/bin/sh\n#SBATCH --ignore-pbs\n#SBATCH -N2\n#BSUB -n 4\n";
    assert_eq!(sbatch("sbatch job.sh", &[], Some(ignored)).nodes, g("2"));
    // xlate.c gives up after 100 non-comment lines.
    let late = format!(
        "#!/bin/sh\n#SBATCH -N2\n{}#PBS -l nodes=3\n",
        "true\n".repeat(101)
    );
    assert_eq!(sbatch("sbatch job.sh", &[], Some(&late)).nodes, g("2"));
}

#[test]
fn plugin_options() {
    let pyxis = [OptSpec {
        long: "container-writable",
        short: None,
        arg: ArgKind::None,
    }];
    let argv = words("srun --container-writable -C x cmd");
    let r = parse_with_plugin_options(Release::V22_05, Client::Srun, &argv, &no_env, &pyxis);
    assert_eq!(r.constraint, g("x"));
    // An option given as a plugin's cannot shadow a builtin one.
    let fake = [OptSpec {
        long: "constraint",
        short: None,
        arg: ArgKind::None,
    }];
    let argv = words("srun --constraint x cmd");
    let r = parse_with_plugin_options(Release::V22_05, Client::Srun, &argv, &no_env, &fake);
    assert_eq!(r.constraint, g("x"));
    // Without the Carme option, its next-word form is opaque.
    let argv = words("srun --carme-image img -C x cmd");
    let r = parse_with_plugin_options(Release::V22_05, Client::Srun, &argv, &no_env, &[]);
    assert_eq!(r.constraint, Unknown);
}

#[test]
fn notes_explain_unknowns() {
    let r = run("srun --container-writable -C x cmd", &[]);
    assert!(r.incomplete);
    assert!(
        r.notes.iter().any(|n| n.contains("--container-writable")),
        "{:?}",
        r.notes
    );
    assert!(r.notes.iter().any(|n| n.contains("--constraint unknown")));
    let r = run("srun -C x cmd", &[]);
    assert!(!r.incomplete);
    assert!(r.notes.is_empty());
}

#[test]
fn tables_are_consistent() {
    for release in Release::ALL {
        for client in [Client::Srun, Client::Sbatch, Client::Salloc] {
            let table = option_table(release, client);
            for (i, a) in table.iter().enumerate() {
                for b in &table[i + 1..] {
                    assert_ne!(a.long, b.long, "{release:?} {client:?}");
                    if a.short.is_some() {
                        assert_ne!(a.short, b.short, "{client:?} {} {}", a.long, b.long);
                    }
                }
            }
            for long in ["constraint", "nodes", "gpus", "gres", "help"] {
                assert!(table.iter().any(|o| o.long == long), "{client:?} {long}");
            }
        }
        for (alias, canon) in ALIASES {
            let find = |l: &str| {
                option_table(release, Client::Srun)
                    .iter()
                    .find(|o| o.long == l)
                    .map(|o| o.arg)
            };
            assert_eq!(find(alias), find(canon), "{alias}");
            assert!(find(alias).is_some(), "{alias}");
        }
        let find = |c, l| {
            option_table(release, c)
                .iter()
                .find(|o| o.long == l)
                .copied()
        };
        assert_eq!(
            find(Client::Srun, "jobid").map(|o| o.arg),
            Some(ArgKind::Required)
        );
        assert_eq!(find(Client::Sbatch, "jobid"), None);
        assert_eq!(
            find(Client::Sbatch, "wait").map(|o| o.arg),
            Some(ArgKind::None)
        );
        assert_eq!(
            find(Client::Srun, "wait").map(|o| o.arg),
            Some(ArgKind::Required)
        );
    }
    // What changed between releases (slurm_opt.c at each tag).
    let arg = |r, c, l| {
        option_table(r, c)
            .iter()
            .find(|o| o.long == l)
            .map(|o| o.arg)
    };
    assert_eq!(arg(Release::V22_05, Client::Srun, "tres-per-task"), None);
    assert_eq!(
        arg(Release::V24_11, Client::Srun, "tres-per-task"),
        Some(ArgKind::Required)
    );
    assert_eq!(
        arg(Release::V22_05, Client::Srun, "pty"),
        Some(ArgKind::None)
    );
    assert_eq!(
        arg(Release::V24_11, Client::Srun, "pty"),
        Some(ArgKind::Optional)
    );
    assert_eq!(arg(Release::V24_11, Client::Salloc, "uid"), None);
    assert_eq!(arg(Release::V24_11, Client::Srun, "power"), None);
    assert_eq!(arg(Release::V24_11, Client::Srun, "async"), None);
    assert_eq!(
        arg(Release::V26_05, Client::Srun, "async"),
        Some(ArgKind::None)
    );
    assert_eq!(
        arg(Release::V26_05, Client::Sbatch, "requeue"),
        Some(ArgKind::Optional)
    );
}

#[test]
fn release_of_a_series_is_the_nearest_older_known() {
    for (major, minor, want) in [
        (21, 8, Release::V22_05),
        (22, 5, Release::V22_05),
        (23, 11, Release::V22_05),
        (24, 5, Release::V22_05),
        (24, 11, Release::V24_11),
        (25, 11, Release::V24_11),
        (26, 5, Release::V26_05),
        (27, 11, Release::V26_05),
    ] {
        assert_eq!(Release::for_series(major, minor), want, "{major}.{minor}");
    }
    assert_eq!(Release::for_version_number(0x160508), Release::V22_05);
    assert_eq!(Release::for_version_number(0x180b05), Release::V24_11);
    assert_eq!(Release::for_version_number(0x1a0505), Release::V26_05);
}

/// An option only a newer release has: known to that release's table
/// (what follows it stays known), unknown to the older one's.
#[test]
fn each_release_knows_its_own_options() {
    let argv = words("srun --tres-bind gres/gpu:verbose -C carme cmd");
    let old = parse(Release::V22_05, Client::Srun, &argv, &no_env);
    assert!(old.constraint.is_unknown(), "{old:?}");
    for r in [Release::V24_11, Release::V26_05] {
        let new = parse(r, Client::Srun, &argv, &no_env);
        assert_eq!(new.constraint, g("carme"), "{r:?}");
        assert!(!new.incomplete, "{r:?} {new:?}");
    }
    let argv = words("srun --async -C carme cmd");
    assert!(
        parse(Release::V24_11, Client::Srun, &argv, &no_env)
            .constraint
            .is_unknown()
    );
    assert_eq!(
        parse(Release::V26_05, Client::Srun, &argv, &no_env).constraint,
        g("carme")
    );
    // --tres-per-task and its input variables exist from 24.11 on.
    let env = env_of(&[("SLURM_TRES_PER_TASK", "gres/gpu:2")]);
    let argv = words("srun -C carme cmd");
    assert!(
        parse(Release::V22_05, Client::Srun, &argv, &env)
            .gpu_requests
            .is_empty()
    );
    for r in [Release::V24_11, Release::V26_05] {
        let req = parse(r, Client::Srun, &argv, &env);
        assert_eq!(
            req.gpu_requests,
            vec![("tres-per-task".to_string(), "gres/gpu:2".to_string())],
            "{r:?}"
        );
        let cmd = words("srun --tres-per-task=gres/gpu:1 cmd");
        let req = parse(r, Client::Srun, &cmd, &no_env);
        assert_eq!(
            req.gpu_requests,
            vec![("tres-per-task".to_string(), "gres/gpu:1".to_string())]
        );
    }
}

// -- properties ---------------------------------------------------------

fn any_release() -> impl Strategy<Value = Release> {
    prop::sample::select(Release::ALL.to_vec())
}

fn any_client() -> impl Strategy<Value = Client> {
    prop_oneof![
        Just(Client::Srun),
        Just(Client::Sbatch),
        Just(Client::Salloc)
    ]
}

/// Words that look like what users type, plus junk.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-=:a-zA-Z0-9 \"'#\\\\]{0,10}",
        Just("--".to_string()),
        Just(":".to_string()),
        Just("-".to_string()),
        "-[a-zA-Z]{1,3}[a-z0-9=]{0,3}",
        "--(con|constraint|gres|gpus|nodes|wrap|het-group|jobid|multi)[=a-z0-9:]{0,4}",
        any::<String>(),
    ]
}

fn junk_env(vars: Vec<(String, String)>) -> impl Fn(&str) -> Option<String> {
    move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

proptest! {
    #[test]
    fn never_panics(
        release in any_release(),
        client in any_client(),
        argv in prop::collection::vec(word(), 0..12),
        env in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "SLURM_CONSTRAINT", "SLURM_JOB_ID", "SLURM_JOB_NUM_NODES",
                    "SLURM_GRES", "SLURM_STEP_GRES", "SLURM_SRUN_MULTI",
                    "SBATCH_IGNORE_PBS", "SBATCH_GPUS", "SALLOC_GPUS",
                    "SLURM_HET_SIZE", "SLURM_GPUS_HET_GROUP_1",
                ]).prop_map(str::to_string),
                word(),
            ),
            0..4,
        ),
        script in prop::option::of(
            prop::collection::vec(
                prop_oneof![
                    "#SBATCH [-=:a-zA-Z0-9 \"'#\\\\]{0,20}",
                    "#(PBS|BSUB|SLURM) .{0,10}",
                    ".{0,20}",
                ],
                0..6,
            ).prop_map(|lines| lines.join("\n"))
        ),
    ) {
        let env = junk_env(env);
        let _ = parse(release, client, &argv, &env);
        let _ = parse_sbatch(release, &argv, &env, script.as_deref());
        let _ = batch_directives(script.as_deref().unwrap_or(""));
    }

    #[test]
    fn directives_never_panic(text in any::<String>()) {
        let _ = batch_directives(&text);
    }
}

/// One use of a known option, rendered in one of its valid forms.
fn option_use(release: Release, client: Client) -> impl Strategy<Value = Vec<String>> {
    let table: Vec<OptSpec> = option_table(release, client)
        .iter()
        .filter(|o| o.long != "constraint")
        .copied()
        .collect();
    // sbatch drops every ":" word before its first pass.
    let value = "[a-zA-Z0-9_=,.:-]{1,8}".prop_filter("not a separator", |v| v != ":");
    (prop::sample::select(table), value, 0..4u8).prop_map(|(o, v, form)| {
        let long = format!("--{}", o.long);
        match (o.arg, o.short, form) {
            (ArgKind::None, Some(c), 0 | 1) => vec![format!("-{c}")],
            (ArgKind::None, _, _) => vec![long],
            (ArgKind::Required, Some(c), 0) => vec![format!("-{c}{v}")],
            (ArgKind::Required, Some(c), 1) => vec![format!("-{c}"), v],
            (ArgKind::Required, _, 2) => vec![long, v],
            (ArgKind::Required, _, _) => vec![format!("{long}={v}")],
            (ArgKind::Optional, Some(c), 0) => vec![format!("-{c}{v}")],
            (ArgKind::Optional, Some(c), 1) => vec![format!("-{c}")],
            (ArgKind::Optional, _, 2) => vec![long],
            (ArgKind::Optional, _, _) => vec![format!("{long}={v}")],
        }
    })
}

fn constraint_use(x: String, form: u8) -> Vec<String> {
    match form {
        0 => vec!["-C".into(), x],
        1 => vec![format!("-C{x}")],
        2 => vec![format!("--constraint={x}")],
        3 => vec!["--constraint".into(), x],
        4 => vec![format!("--constr={x}")],
        _ => vec![format!("-vC{x}")],
    }
}

fn with_constraint_among_options() -> impl Strategy<Value = (Release, Client, Vec<String>, String)>
{
    (any_release(), any_client()).prop_flat_map(|(release, client)| {
        (
            Just(release),
            Just(client),
            prop::collection::vec(option_use(release, client), 0..8),
            prop::collection::vec(option_use(release, client), 0..8),
            "[a-zA-Z0-9&|_*\\[\\]-]{1,10}",
            0..6u8,
            prop::collection::vec(word(), 0..4),
        )
            .prop_map(|(release, client, before, after, x, form, tail)| {
                let name = match client {
                    Client::Srun => "srun",
                    Client::Sbatch => "sbatch",
                    Client::Salloc => "salloc",
                };
                let mut argv = vec![name.to_string()];
                argv.extend(before.into_iter().flatten());
                argv.extend(constraint_use(x.clone(), form));
                argv.extend(after.into_iter().flatten());
                // The command (or script) and its arguments, which are not options.
                argv.push("job.sh".into());
                argv.extend(tail);
                (release, client, argv, x)
            })
    })
}

proptest! {
    #[test]
    fn constraint_among_known_options_is_given(
        (release, client, argv, x) in with_constraint_among_options()
    ) {
        let env = env_of(&[
            ("SLURM_CONSTRAINT", "env"),
            ("SBATCH_CONSTRAINT", "env"),
            ("SALLOC_CONSTRAINT", "env"),
        ]);
        let script = "#!/bin/sh\n#SBATCH -C script\n";
        let r = match client {
            Client::Sbatch => parse_sbatch(release, &argv, &env, Some(script)),
            _ => parse(release, client, &argv, &env),
        };
        prop_assert_eq!(r.constraint, Knowledge::Given(x), "{:?}", argv);
    }
}
