use std::path::Path;

use super::slurm::runs_ours;
use super::*;
use crate::config::Config;
use crate::slurminfo;

const CONFIG_PATH: &str = "/var/lib/carme-test/h-checknode/etc/carme.toml";
const PLUGSTACK: &str = "/var/lib/carme-test/h-checknode/etc/plugstack.conf";
const PLUGIN: &str = "/var/lib/carme-test/h-checknode/lib/libcarme_spank.so";
const PROLOG: &str = "/var/lib/carme-test/h-checknode/libexec/prolog.sh";
const EPILOG: &str = "/var/lib/carme-test/h-checknode/libexec/epilog.sh";
const SHOW_CONFIG_CGROUP: &str = include_str!("../../testdata/slurm-22.05/show-config-cgroup.txt");
const SHOW_CONFIG: &str = include_str!("../../testdata/slurm-22.05/show-config.txt");
const SHOW_CONFIG_NODEV: &str =
    include_str!("../../testdata/slurm-22.05/show-config-cgroup-nodevices.txt");
const NODE_N1: &str = include_str!("../../testdata/slurm-22.05/show-node-o-n1.txt");
const NODE_N3: &str = include_str!("../../testdata/slurm-22.05/show-node-n3.txt");

const TOML: &str = r#"
[gate]
feature = "carme"

[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
exec_helper = "/usr/libexec/carme/carme-exec"

[paths]
state_dir = "/run/carme/%n"
tmp_base = "/var/lib/carme/tmp/%n"
scratch_base = "/local/%n/%j/scratch"

[images.base]
path = "/srv/images/base"

[images.sif]
path = "/srv/images/x.sif"
runtime = "apptainer"
"#;

fn dir(uid: u32, mode: u32) -> Meta {
    Meta {
        uid,
        mode: 0o040_000 | mode,
        size: 0,
    }
}

fn file(uid: u32, mode: u32) -> Meta {
    Meta {
        uid,
        mode: 0o100_000 | mode,
        size: 1,
    }
}

fn link() -> Meta {
    Meta {
        uid: 0,
        mode: 0o120_777,
        size: 1,
    }
}

/// Every component of `path` a root-owned 0755 directory.
fn chain(path: &Path) -> BaseFacts {
    let mut steps = Vec::new();
    let mut cur = PathBuf::new();
    for c in path.components() {
        cur.push(c);
        steps.push(PathStep {
            path: cur.clone(),
            meta: Ok(dir(0, 0o755)),
        });
    }
    BaseFacts {
        steps,
        exists: true,
    }
}

fn program(version: &str) -> ProgramFacts {
    ProgramFacts {
        file: PathFacts::Found(file(0, 0o755)),
        version: Some(Ok(version.into())),
        unprobed: None,
    }
}

fn config_facts(text: &str) -> ConfigFacts {
    ConfigFacts {
        path: CONFIG_PATH.into(),
        trust: None,
        text: Some(text.into()),
        parsed: Config::parse_all(text, Path::new(CONFIG_PATH)),
    }
}

fn wrapper(program: &str) -> String {
    format!(
        "#!/bin/sh\nexec /var/lib/carme-test/h-checknode/libexec/{program} --config \
             {CONFIG_PATH}\n"
    )
}

/// A node where every check passes (Slurm 22.05, as captured).
fn good() -> NodeFacts {
    let config = config_facts(TOML);
    let cfg = config.parsed.clone().unwrap();
    NodeFacts {
        node: "n1".into(),
        runtimes: vec![
            ("/usr/bin/ch-run".into(), program("0.38")),
            (
                "/usr/bin/apptainer".into(),
                program("apptainer version 1.4.0"),
            ),
        ],
        images: vec![
            ("base".into(), PathFacts::Found(dir(0, 0o755))),
            ("sif".into(), PathFacts::Found(file(0, 0o644))),
        ],
        exec_helper: Some(program("")),
        bases: base_dirs(&cfg, "n1")
            .into_iter()
            .map(|b| {
                let c = chain(&b.path);
                (b, c)
            })
            .collect(),
        config,
        slurm_version: ("slurmd -V".into(), Ok("slurm-wlm 22.05.8\n".into())),
        show_config: Ok(SHOW_CONFIG_CGROUP.into()),
        show_node: Ok(NODE_N1.into()),
        plugin_search: PluginSearch::Plugstack {
            file: Some(PLUGSTACK.into()),
            unreadable: vec![],
        },
        plugins: vec![PluginFacts {
            line: Some((
                PLUGSTACK.into(),
                slurminfo::parse_plugstack(&format!("required {PLUGIN} config={CONFIG_PATH}"))
                    .remove(0),
            )),
            path: PLUGIN.into(),
            version: Ok(0x160508),
            others_can_change: None,
        }],
        prolog: vec![ScriptFacts {
            path: PROLOG.into(),
            real: Ok(PROLOG.into()),
            text: Some(wrapper("carme-prolog")),
            others_can_change: None,
        }],
        epilog: vec![ScriptFacts {
            path: EPILOG.into(),
            real: Ok(EPILOG.into()),
            text: Some(wrapper("carme-epilog")),
            others_can_change: None,
        }],
    }
}

fn not_ok(findings: &[Finding]) -> Vec<(&'static str, Status)> {
    findings
        .iter()
        .filter(|f| f.status != Status::Ok)
        .map(|f| (f.check, f.status))
        .collect()
}

#[test]
fn a_good_node_passes_every_check() {
    let all = evaluate(&good());
    assert_eq!(not_ok(&all), [], "{all:#?}");
    let checks: BTreeSet<_> = all.iter().map(|f| f.check).collect();
    for c in [
        "config",
        "config-trust",
        "slurm-version",
        "runtime",
        "image",
        "exec-helper",
        "base-dir",
        "plugin",
        "gate-feature",
        "prolog",
        "epilog",
        "prolog-flags",
        "constrain-devices",
    ] {
        assert!(checks.contains(c), "{c} missing: {all:#?}");
    }
    assert_eq!(tally(&all), (all.len(), 0, 0));
    // One finding per runtime, image and base.
    let n = |c| all.iter().filter(|f| f.check == c).count();
    assert_eq!((n("runtime"), n("image"), n("base-dir")), (2, 2, 4));
    let rt: Vec<_> = all.iter().filter(|f| f.check == "runtime").collect();
    assert!(
        rt[0]
            .message
            .contains("charliecloud runtime /usr/bin/ch-run ([runtime] path): 0.38")
    );
    assert!(
        rt[1]
            .message
            .contains("apptainer runtime /usr/bin/apptainer (for image sif)")
    );
}

use std::collections::BTreeSet;

type Case = (
    &'static str,
    fn(&mut NodeFacts),
    &'static [(&'static str, Status, &'static str)],
);

/// Each broken fact: exactly the findings it must cause, no others.
#[test]
fn every_check_fails_on_its_own_facts() {
    use Status::{Error, Warning};
    let cases: &[Case] = &[
        (
            "two config errors",
            |f| {
                f.config = config_facts(
                    &TOML
                        .replace("feature = \"carme\"", "feature = \"car me\"")
                        .replace("path = \"/srv/images/base\"", "path = \"base\""),
                )
            },
            &[
                ("config", Error, "gate.feature"),
                ("config", Error, "images.base.path"),
            ],
        ),
        (
            "untrusted config",
            |f| {
                f.config.trust = Some(ConfigError {
                    file: CONFIG_PATH.into(),
                    line: None,
                    key: None,
                    message: "root must not use this config: mode 0664".into(),
                })
            },
            &[("config-trust", Error, "mode 0664")],
        ),
        (
            "missing config",
            |f| {
                f.config.text = None;
                f.config.parsed = Err(vec![ConfigError {
                    file: CONFIG_PATH.into(),
                    line: None,
                    key: None,
                    message: "cannot read the config file: No such file".into(),
                }]);
            },
            &[("config", Error, "cannot read")],
        ),
        (
            "runtime missing",
            |f| f.runtimes[0].1.file = PathFacts::Missing,
            &[(
                "runtime",
                Error,
                "/usr/bin/ch-run ([runtime] path) does not exist",
            )],
        ),
        (
            "runtime not executable",
            |f| f.runtimes[1].1.file = PathFacts::Found(file(0, 0o644)),
            &[(
                "runtime",
                Error,
                "apptainer runtime /usr/bin/apptainer (for image sif) is not executable",
            )],
        ),
        (
            "runtime a directory",
            |f| f.runtimes[0].1.file = PathFacts::Found(dir(0, 0o755)),
            &[("runtime", Error, "is not a regular file")],
        ),
        (
            "runtime others may replace",
            |f| f.runtimes[0].1.file = PathFacts::Found(file(1000, 0o755)),
            &[(
                "runtime",
                Warning,
                "can be replaced by others than root (owner uid 1000",
            )],
        ),
        (
            "runtime version fails",
            |f| f.runtimes[0].1.version = Some(Err("exit status 1".into())),
            &[("runtime", Warning, "`--version` failed: exit status 1")],
        ),
        (
            "runtime in a directory others can write: not run as root",
            |f| {
                f.runtimes[0].1.version = None;
                f.runtimes[0].1.unprobed = Some("/opt is owned by uid 1000 with mode 0755".into());
            },
            &[(
                "runtime",
                Warning,
                "its version was not asked, as root: /opt is owned by uid 1000",
            )],
        ),
        (
            "plugin others can change",
            |f| f.plugins[0].others_can_change = Some("/opt/slurm is owned by uid 1000".into()),
            &[(
                "plugin",
                Error,
                "can be changed by others than root (/opt/slurm is owned by uid 1000)",
            )],
        ),
        (
            "Prolog= wrapper others can change",
            |f| f.prolog[0].others_can_change = Some("/etc/carme is owned by uid 1000".into()),
            &[(
                "prolog",
                Error,
                "can be changed by others than root (/etc/carme is owned by uid 1000): slurmd runs it",
            )],
        ),
        (
            "image missing",
            |f| f.images[0].1 = PathFacts::Missing,
            &[(
                "image",
                Error,
                "image `base` (/srv/images/base) does not exist",
            )],
        ),
        (
            "charliecloud image not a directory",
            |f| f.images[0].1 = PathFacts::Found(file(0, 0o644)),
            &[(
                "image",
                Error,
                "is not a directory: ch-run runs image directories",
            )],
        ),
        (
            "exec helper missing on 22.05",
            |f| f.exec_helper.as_mut().unwrap().file = PathFacts::Missing,
            &[(
                "exec-helper",
                Error,
                "carme-exec /usr/libexec/carme/carme-exec does not exist; Slurm 22.05 needs it",
            )],
        ),
        (
            "exec helper missing on 24.11: not needed",
            |f| {
                f.exec_helper.as_mut().unwrap().file = PathFacts::Missing;
                f.slurm_version.1 = Ok("slurm 24.11.5".into());
                f.plugins[0].version = Ok(0x180b05);
                f.show_node = Ok(NODE_N1.replace("22.05.8", "24.11.5"));
            },
            &[],
        ),
        (
            "Slurm version unknown",
            |f| {
                f.exec_helper.as_mut().unwrap().file = PathFacts::Missing;
                f.slurm_version = ("scontrol -V".into(), Err("exit status 1: fatal".into()));
            },
            &[
                (
                    "slurm-version",
                    Error,
                    "cannot tell the Slurm version: `scontrol -V`: exit status 1",
                ),
                ("exec-helper", Warning, "does not exist"),
                (
                    "plugin",
                    Warning,
                    "built for Slurm 22.05; the running Slurm's version is unknown",
                ),
            ],
        ),
        (
            "base group-writable",
            |f| f.bases[1].1.steps.last_mut().unwrap().meta = Ok(dir(0, 0o775)),
            &[(
                "base-dir",
                Error,
                "[paths] tmp_base /var/lib/carme/tmp/n1 (/var/lib/carme/tmp/%n): /var/lib/carme/tmp/n1 is writable by group or others (owner uid 0, mode 0775)",
            )],
        ),
        (
            "base parent sticky",
            |f| f.bases[1].1.steps[2].meta = Ok(dir(0, 0o1777)),
            &[(
                "base-dir",
                Error,
                "/var/lib is sticky and writable by others",
            )],
        ),
        (
            "base parent a user's",
            |f| f.bases[0].1.steps[1].meta = Ok(dir(1000, 0o755)),
            &[(
                "base-dir",
                Error,
                "/run is not root's (owner uid 1000, mode 0755)",
            )],
        ),
        (
            "base parent a symlink",
            |f| f.bases[0].1.steps[2].meta = Ok(link()),
            &[("base-dir", Error, "/run/carme is a symlink")],
        ),
        (
            "base parent unreadable",
            |f| f.bases[0].1.steps[2].meta = Err("Permission denied".into()),
            &[(
                "base-dir",
                Error,
                "/run/carme cannot be checked: Permission denied",
            )],
        ),
        (
            "plugin of another series",
            |f| f.plugins[0].version = Ok(0x180b05),
            &[(
                "plugin",
                Error,
                "is built for Slurm 24.11 but this node runs Slurm 22.05.8",
            )],
        ),
        (
            "plugin unreadable",
            |f| f.plugins[0].version = Err("it is not an ELF file".into()),
            &[(
                "plugin",
                Error,
                "cannot read its plugin_version: it is not an ELF file",
            )],
        ),
        (
            "no plugstack line",
            |f| f.plugins.clear(),
            &[(
                "plugin",
                Error,
                "no line of /var/lib/carme-test/h-checknode/etc/plugstack.conf (or the files it includes) loads Carme",
            )],
        ),
        (
            "plugstack include unreadable",
            |f| {
                f.plugin_search = PluginSearch::Plugstack {
                    file: Some(PLUGSTACK.into()),
                    unreadable: vec![(
                        "/etc/slurm/plugstack.conf.d/x.conf".into(),
                        "Permission denied".into(),
                    )],
                }
            },
            &[(
                "plugin",
                Error,
                "cannot read the plugstack file /etc/slurm/plugstack.conf.d/x.conf",
            )],
        ),
        (
            "plugin optional, other config",
            |f| {
                f.plugins[0].line.as_mut().unwrap().1 =
                    slurminfo::parse_plugstack(&format!("optional {PLUGIN}")).remove(0)
            },
            &[
                ("plugin", Warning, "is loaded `optional`"),
                (
                    "plugin",
                    Warning,
                    "reads the config /etc/carme/carme.toml, not /var/lib/carme-test/h-checknode/etc/carme.toml",
                ),
            ],
        ),
        (
            "loaded twice",
            |f| f.plugins.push(f.plugins[0].clone()),
            &[("plugin", Warning, "Carme is loaded 2 times")],
        ),
        (
            "node without the gate feature",
            |f| {
                f.node = "n3".into();
                f.show_node = Ok(NODE_N3.into());
            },
            &[(
                "gate-feature",
                Error,
                "node n3 lacks the gate feature `carme` ([gate] feature; its features: (none))",
            )],
        ),
        (
            "unknown node",
            |f| {
                f.node = "nope".into();
                f.show_node = Ok("Node nope not found\n".into());
            },
            &[(
                "gate-feature",
                Error,
                "slurmctld does not know a node nope: Node nope not found",
            )],
        ),
        (
            "feature not active",
            |f| {
                f.show_node =
                    Ok(NODE_N1.replace("ActiveFeatures=carme,beeond", "ActiveFeatures=beeond"))
            },
            &[("gate-feature", Warning, "is not active (active: beeond)")],
        ),
        (
            "broken config: the gate feature from what can be read",
            |f| {
                f.config =
                    config_facts(&TOML.replace("feature = \"carme\"", "feature = \"gpu\"\nx = 1"));
            },
            &[
                ("config", Error, "gate.x"),
                ("gate-feature", Error, "lacks the gate feature `gpu`"),
            ],
        ),
        (
            "slurmd restarted for another series",
            |f| f.show_node = Ok(NODE_N1.replace("Version=22.05.8", "Version=21.08.5")),
            &[(
                "slurm-version",
                Warning,
                "the slurmd running for n1 is 21.08.5, the one installed is 22.05.8",
            )],
        ),
        (
            "scontrol show node fails",
            |f| f.show_node = Err("timed out".into()),
            &[(
                "gate-feature",
                Error,
                "cannot ask slurmctld about node n1: timed out",
            )],
        ),
        (
            "no Prolog",
            |f| f.show_config = Ok(SHOW_CONFIG_CGROUP.replace(&format!("= {PROLOG}"), "= (null)")),
            &[("prolog", Error, "slurm.conf sets no Prolog")],
        ),
        (
            "Prolog of someone else",
            |f| f.prolog[0].text = Some("#!/bin/sh\nexec /etc/slurm/site-prolog\n".into()),
            &[("prolog", Error, "does not run carme-prolog")],
        ),
        (
            "Epilog runs the prolog",
            |f| f.epilog[0].text = Some(wrapper("carme-prolog")),
            &[("epilog", Error, "does not run carme-epilog")],
        ),
        (
            "PrologFlags without Alloc",
            |f| f.show_config = Ok(SHOW_CONFIG_CGROUP.replace("= Alloc", "= Serial")),
            &[("prolog-flags", Error, "PrologFlags=Serial lacks Alloc")],
        ),
        (
            "no cgroup plugin",
            |f| f.show_config = Ok(SHOW_CONFIG.into()),
            &[(
                "constrain-devices",
                Error,
                "no cgroup plugin constrains devices (TaskPlugin=task/none",
            )],
        ),
        (
            "ConstrainDevices=no",
            |f| f.show_config = Ok(SHOW_CONFIG_NODEV.into()),
            &[("constrain-devices", Error, "ConstrainDevices=no")],
        ),
        (
            "scontrol show config fails",
            |f| f.show_config = Err("exit status 1: Unable to contact slurm controller".into()),
            &[(
                "prolog",
                Error,
                "cannot read the running slurm.conf (`scontrol show config`): exit status 1",
            )],
        ),
    ];
    for (name, change, want) in cases {
        let mut f = good();
        change(&mut f);
        let all = evaluate(&f);
        let got = not_ok(&all);
        let want_kinds: Vec<_> = want.iter().map(|(c, s, _)| (*c, *s)).collect();
        assert_eq!(got, want_kinds, "{name}: {all:#?}");
        let bad: Vec<_> = all.iter().filter(|f| f.status != Status::Ok).collect();
        for (f, (_, _, text)) in bad.iter().zip(want.iter()) {
            assert!(
                f.message.contains(text),
                "{name}: {:?} lacks {text:?}",
                f.message
            );
            assert!(
                f.fix.as_deref().is_some_and(|x| !x.is_empty()),
                "{name}: no fix"
            );
        }
    }
}

#[test]
fn prolog_forms_that_run_ours() {
    let direct = |p: &str, real: &str| ScriptFacts {
        path: p.into(),
        real: Ok(real.into()),
        text: None,
        others_can_change: None,
    };
    let cases: &[(&str, Vec<ScriptFacts>, bool)] = &[
        (
            "the program itself",
            vec![direct(
                "/usr/libexec/carme/carme-prolog",
                "/usr/libexec/carme/carme-prolog",
            )],
            true,
        ),
        (
            "a prolog.d link to it",
            vec![
                direct("/etc/slurm/prolog.d/10-site", "/etc/slurm/prolog.d/10-site"),
                direct(
                    "/etc/slurm/prolog.d/50-carme",
                    "/usr/libexec/carme/carme-prolog",
                ),
            ],
            true,
        ),
        (
            "a wrapper that runs it first",
            vec![ScriptFacts {
                path: "/etc/slurm/prolog.sh".into(),
                real: Ok("/etc/slurm/prolog.sh".into()),
                text: Some(
                    "#!/bin/sh\n/usr/libexec/carme/carme-prolog || exit $?\nexec /etc/slurm/site\n"
                        .into(),
                ),
                others_can_change: None,
            }],
            true,
        ),
        (
            "the package's wrapper (packaging/files/prolog)",
            vec![ScriptFacts {
                path: "/etc/carme/prolog".into(),
                real: Ok("/etc/carme/prolog".into()),
                text: Some(include_str!("../../../packaging/files/prolog").into()),
                others_can_change: None,
            }],
            true,
        ),
        ("nothing there", vec![], false),
        (
            "a missing file",
            vec![ScriptFacts {
                path: "/etc/slurm/prolog.sh".into(),
                real: Err("No such file".into()),
                text: None,
                others_can_change: None,
            }],
            false,
        ),
    ];
    for (name, scripts, want) in cases {
        assert_eq!(
            runs_ours(scripts, "carme-prolog").is_some(),
            *want,
            "{name}"
        );
    }
}

#[test]
fn prolog_flags_that_imply_alloc() {
    for (flags, ok) in [
        ("Alloc", true),
        ("Alloc,Contain", true),
        ("Contain", true),
        ("RunInJob", true),
        ("alloc", true),
        ("Serial", false),
        ("NoHold", false),
    ] {
        let mut f = good();
        f.show_config = Ok(SHOW_CONFIG_CGROUP.replace("= Alloc", &format!("= {flags}")));
        let all = evaluate(&f);
        assert_eq!(not_ok(&all).is_empty(), ok, "{flags}: {all:#?}");
    }
    // Absent altogether.
    let mut f = good();
    f.show_config = Ok(SHOW_CONFIG_CGROUP.replace("PrologFlags             = Alloc\n", ""));
    assert_eq!(not_ok(&evaluate(&f)), [("prolog-flags", Status::Error)]);
}

#[test]
fn constrain_devices_only_where_gpus_are_hidden() {
    let mut f = good();
    f.config = config_facts(&format!("{TOML}\n[gpu]\nhide_unallocated = false\n"));
    f.show_config = Ok(SHOW_CONFIG.into());
    let all = evaluate(&f);
    assert_eq!(not_ok(&all), [], "{all:#?}");
    assert!(all.iter().any(|x| {
        x.check == "constrain-devices"
            && x.message
                .contains("not needed: [gpu] hide_unallocated is false")
    }));
}

#[test]
fn a_base_that_does_not_exist_yet() {
    let mut f = good();
    // /var/lib/carme exists, tmp/n1 below it not yet.
    let b = &mut f.bases[1].1;
    b.steps.truncate(4);
    b.exists = false;
    let all = evaluate(&f);
    assert_eq!(not_ok(&all), []);
    let tmp = all
        .iter()
        .find(|x| x.subject.as_deref() == Some("paths.tmp_base"))
        .unwrap();
    assert!(
        tmp.message
            .contains("does not exist yet (carme-prolog creates it); /var/lib/carme and every"),
        "{}",
        tmp.message
    );
    // ... but its nearest existing ancestor must pass.
    f.bases[1].1.steps[3].meta = Ok(dir(0, 0o777));
    assert_eq!(not_ok(&evaluate(&f)), [("base-dir", Status::Error)]);
}

#[test]
fn base_dirs_expand_the_node_and_stop_before_the_job() {
    let cfg = Config::parse(
        &format!(
            "{TOML}\n[beeond]\ndata_dir = \"/local/beeond/%n\"\nmount_base = \"/mnt/b/%n/%j\"\n"
        ),
        Path::new("/c.toml"),
    )
    .unwrap();
    let got: Vec<_> = base_dirs(&cfg, "n7")
        .into_iter()
        .map(|b| (b.key, b.path.display().to_string()))
        .collect();
    assert_eq!(
        got,
        [
            ("paths.state_dir", "/run/carme/n7".to_string()),
            ("paths.tmp_base", "/var/lib/carme/tmp/n7".into()),
            ("paths.scratch_base", "/local/n7".into()),
            ("paths.log_dir", "/var/log/carme".into()),
            ("beeond.data_dir", "/local/beeond/n7".into()),
            ("beeond.mount_base", "/mnt/b/n7".into()),
            ("beeond.status_dir", "/run/carme/beeond".into()),
        ]
    );
}

#[test]
fn exec_helper_by_series() {
    for (series, needed) in [
        ((22, 5), true),
        ((23, 2), true),
        ((23, 11), false),
        ((24, 11), false),
        ((26, 5), false),
    ] {
        assert_eq!(needs_exec_helper(series), needed, "{series:?}");
    }
}
