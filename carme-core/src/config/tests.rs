use super::*;

const GOOD: &str = r#"
[gate]
feature = "carme"
default_image = "base"

[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
exec_helper = "/usr/libexec/carme/carme-exec"

[[mounts]]
source = "/home"
target = "/home"
mode = "rw"

[images.base]
path = "/srv/carme/images/base"
description = "Debian base"
mounts = [ { source = "/data/%n", target = "/data", mode = "ro" } ]

[images.pytorch-2]
path = "/srv/carme/images/pytorch.sif"

[paths]
state_dir = "/run/carme/%n"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/carme/carme.toml"))
}

/// The packages install etc/carme.toml as /etc/carme/carme.toml: it
/// must load as shipped with nothing a site has to fill in first (no
/// images, no scratch, no limits, no BeeOND), and every example it
/// shows commented out (`#[table]`, `#key = ...`) must be valid once
/// an admin removes the `#`.
#[test]
fn shipped_config_loads_and_its_examples_are_valid() {
    let shipped = include_str!("../../../etc/carme.toml");
    let c = parse(shipped).unwrap();
    assert!(c.images.is_empty() && c.gate.default_image.is_none());
    assert!(c.paths.scratch_base.is_none() && c.beeond.is_none());
    assert_eq!(c.limits, crate::limits::Limits::default());

    let is_example = |l: &str| {
        let rest = l.strip_prefix('#').unwrap_or("");
        rest.starts_with('[')
            || rest.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
    };
    let enabled: String = shipped
        .lines()
        .map(|l| if is_example(l) { &l[1..] } else { l })
        .flat_map(|l| [l, "\n"])
        .collect();
    let all = parse(&enabled).unwrap_or_else(|e| panic!("{e}\n{enabled}"));
    assert!(all.images.contains_key("base") && all.gate.default_image.is_some());
    assert!(all.paths.scratch_base.is_some() && all.beeond.is_some());
    assert!(!all.limits.users.is_empty() && !all.limits.groups.is_empty());
}

#[test]
fn good_config_parses_completely() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.gate.feature, "carme");
    assert_eq!(c.gate.default_image.as_deref(), Some("base"));
    assert_eq!(c.runtime.kind, RuntimeKind::Charliecloud);
    assert_eq!(c.runtime.path, Path::new("/usr/bin/ch-run"));
    assert_eq!(
        c.runtime.exec_helper,
        Path::new("/usr/libexec/carme/carme-exec")
    );
    assert_eq!(c.mounts.len(), 1);
    assert_eq!(c.mounts[0].mode, MountMode::Rw);
    let base = &c.images["base"];
    assert_eq!(base.description, "Debian base");
    assert_eq!(base.mounts[0].mode, MountMode::Ro);
    assert_eq!(
        base.mounts[0].source.expand("n1", None),
        Path::new("/data/n1")
    );
    assert_eq!(c.image_names(), ["base", "pytorch-2"]);
    assert_eq!(c.gate.job_facts, JobFactSource::Auto, "default");
    assert_eq!(
        c.paths.state_dir.expand("n2", None),
        Path::new("/run/carme/n2")
    );
    let all: Vec<_> = c.mounts_for(base).map(|m| m.target.clone()).collect();
    assert_eq!(all, [PathBuf::from("/home"), PathBuf::from("/data")]);
}

#[test]
fn defaults_for_optional_keys() {
    let c = parse("[runtime]\nkind = \"apptainer\"\npath = \"/usr/bin/apptainer\"\n").unwrap();
    assert_eq!(c.gate.feature, DEFAULT_FEATURE);
    assert_eq!(c.gate.default_image, None);
    assert_eq!(c.runtime.exec_helper, Path::new(DEFAULT_EXEC_HELPER));
    assert!(c.images.is_empty() && c.mounts.is_empty());
    let c = parse(&GOOD.replace("mode = \"rw\"\n", "")).unwrap();
    assert_eq!(c.mounts[0].mode, MountMode::Rw, "mode defaults to rw");
}

/// (what to change in GOOD, expected line, expected key, text in message)
#[test]
fn every_bad_value_is_located() {
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        (
            "feature = \"carme\"",
            "feature = \"carme\"\nfoo = 1",
            4,
            "gate.foo",
            "unknown field",
        ),
        (
            "feature = \"carme\"",
            "feature = \"car me\"",
            3,
            "gate.feature",
            "not a usable node feature",
        ),
        (
            "feature = \"carme\"",
            "feature = \"\"",
            3,
            "gate.feature",
            "not a usable",
        ),
        (
            "default_image = \"base\"",
            "default_image = \"nope\"",
            4,
            "gate.default_image",
            "not defined; defined images: base, pytorch-2",
        ),
        (
            "kind = \"charliecloud\"",
            "kind = \"docker\"",
            7,
            "runtime.kind",
            "unknown variant `docker`",
        ),
        (
            "path = \"/usr/bin/ch-run\"",
            "path = \"ch-run\"",
            8,
            "runtime.path",
            "must be an absolute path",
        ),
        (
            "path = \"/usr/bin/ch-run\"",
            "path = \"/usr/../bin/ch-run\"",
            8,
            "runtime.path",
            "must not contain `..`",
        ),
        (
            "exec_helper = \"/usr/libexec/carme/carme-exec\"",
            "exec_helper = 5",
            9,
            "runtime.exec_helper",
            "invalid type",
        ),
        (
            "[[mounts]]\nsource = \"/home\"",
            "[[mounts]]\nsource = \"home\"",
            12,
            "mounts[0].source",
            "absolute",
        ),
        (
            "[[mounts]]\nsource = \"/home\"",
            "[[mounts]]\nsource = \"/home/%x\"",
            12,
            "mounts[0].source",
            "`%x`",
        ),
        (
            "[[mounts]]\nsource = \"/home\"",
            "[[mounts]]\nsource = \"/data/x,/etc\"",
            12,
            "mounts[0].source",
            "must not contain `:` or `,`",
        ),
        (
            "[[mounts]]\nsource = \"/home\"",
            "[[mounts]]\nsource = \"/home:/etc\"",
            12,
            "mounts[0].source",
            "must not contain `:` or `,`",
        ),
        (
            "[[mounts]]\nsource = \"/home\"",
            "[[mounts]]\nsource = \"/home/%n/../..\"",
            12,
            "mounts[0].source",
            "must not contain `..`",
        ),
        (
            "source = \"/data/%n\"",
            "source = \"/data/%n,/etc\"",
            19,
            "images.base.mounts[0].source",
            "must not contain `:` or `,`",
        ),
        (
            "target = \"/home\"",
            "target = \"/\"",
            13,
            "mounts[0].target",
            "container's `/`",
        ),
        (
            "target = \"/home\"",
            "target = \"/ho:me\"",
            13,
            "mounts[0].target",
            "`:`",
        ),
        (
            "mode = \"rw\"",
            "mode = \"rx\"",
            14,
            "mounts[0].mode",
            "unknown variant `rx`",
        ),
        (
            "mode = \"rw\"",
            "mode = \"rw\"\nextra = 1",
            15,
            "mounts[0].extra",
            "unknown field",
        ),
        (
            "description = \"Debian base\"",
            "description = 3",
            18,
            "images.base.description",
            "invalid type",
        ),
        (
            "[images.base]",
            "[images.\"a/b\"]",
            16,
            "images.a/b",
            "not a valid image name",
        ),
        (
            "mode = \"ro\" }",
            "mode = \"ro\", x = 1 }",
            19,
            "images.base.mounts[0].x",
            "unknown field",
        ),
        (
            "target = \"/data\"",
            "target = \"/home\"",
            19,
            "images.base.mounts[0].target",
            "already the target",
        ),
        (
            "[images.pytorch-2]\npath",
            "[images.pytorch-2]\nshape",
            22,
            "images.pytorch-2.shape",
            "unknown field",
        ),
        ("[[mounts]]", "[[mountz]]", 11, "mountz", "unknown field"),
        (
            "default_image = \"base\"",
            "default_image = \"base\"\njob_facts = \"ask\"",
            5,
            "gate.job_facts",
            "unknown variant `ask`",
        ),
        (
            "state_dir = \"/run/carme/%n\"",
            "state_dir = \"run/carme\"",
            25,
            "paths.state_dir",
            "absolute",
        ),
        (
            "state_dir = \"/run/carme/%n\"",
            "state_dir = \"/run/%u\"",
            25,
            "paths.state_dir",
            "`%u`",
        ),
        (
            "state_dir = \"/run/carme/%n\"",
            "state_dir = \"/run\"\nlog = 1",
            26,
            "paths.log",
            "unknown field",
        ),
    ];
    for (from, to, line, key, text) in cases {
        assert!(GOOD.contains(from), "case {from:?} does not apply");
        let bad = GOOD.replacen(from, to, 1);
        let err = parse(&bad).expect_err(&format!("{to:?} must be refused"));
        assert_eq!(err.file, Path::new("/etc/carme/carme.toml"));
        assert_eq!(err.key.as_deref(), Some(*key), "{to:?}: {err}");
        assert_eq!(err.line, Some(*line), "{to:?}: {err}");
        assert!(err.message.contains(text), "{to:?}: {err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("/etc/carme/carme.toml:{line}: key `{key}`: ")),
            "{shown}"
        );
    }
}

#[test]
fn syntax_errors_and_missing_sections_are_located() {
    let err = parse("[runtime\nkind = 1").unwrap_err();
    assert_eq!(err.line, Some(1), "{err}");
    let err = parse("[gate]\n").unwrap_err();
    assert!(err.message.contains("missing field `runtime`"), "{err}");
    let err = parse(&GOOD.replacen(
        "path = \"/srv/carme/images/base\"",
        "path = \"/a\"\npath = \"/b\"",
        1,
    ))
    .unwrap_err();
    assert_eq!(err.line, Some(18), "duplicate key: {err}");
}

fn parse_all(text: &str) -> Result<Config, Vec<ConfigError>> {
    Config::parse_all(text, Path::new("/etc/carme/carme.toml"))
}

fn keys_and_lines(errors: &[ConfigError]) -> Vec<(Option<&str>, Option<usize>)> {
    errors.iter().map(|e| (e.key.as_deref(), e.line)).collect()
}

/// check-node reports every error; the first is parse()'s.
#[test]
fn parse_all_reports_every_validation_error() {
    assert_eq!(parse_all(GOOD).unwrap(), parse(GOOD).unwrap());
    let bad = GOOD
        .replacen("feature = \"carme\"", "feature = \"car me\"", 1)
        .replacen(
            "path = \"/srv/carme/images/pytorch.sif\"",
            "path = \"x.sif\"",
            1,
        )
        .replacen(
            "state_dir = \"/run/carme/%n\"",
            "state_dir = \"/run/%u\"",
            1,
        );
    let all = parse_all(&bad).unwrap_err();
    assert_eq!(
        keys_and_lines(&all),
        [
            (Some("gate.feature"), Some(3)),
            (Some("images.pytorch-2.path"), Some(22)),
            (Some("paths.state_dir"), Some(25)),
        ]
    );
    assert_eq!(all[0], parse(&bad).unwrap_err());
    assert!(
        all[1].message.contains("must be an absolute path"),
        "{}",
        all[1]
    );
    assert!(all[2].message.contains("`%u`"), "{}", all[2]);
}

#[test]
fn parse_all_reads_past_unknown_keys() {
    let bad = GOOD
        .replacen("feature = \"carme\"", "feature = \"carme\"\nfoo = 1", 1)
        .replacen("[[mounts]]", "[mountz]\nx = 1\n\n[[mounts]]", 1)
        .replacen("state_dir = \"/run/carme/%n\"", "state_dir = \"run\"", 1);
    let all = parse_all(&bad).unwrap_err();
    assert_eq!(
        keys_and_lines(&all),
        [
            (Some("gate.foo"), Some(4)),
            (Some("mountz"), Some(12)),
            (Some("paths.state_dir"), Some(29)),
        ],
        "{all:?}"
    );
    assert!(all[1].message.contains("unknown field"), "{}", all[1]);
    assert_eq!(all[0], parse(&bad).unwrap_err());
}

#[test]
fn parse_all_stops_where_the_file_cannot_be_read_on() {
    // Syntax: nothing after it can be trusted.
    let all = parse_all(&format!("{GOOD}\n[paths\nfoo = 1\n")).unwrap_err();
    assert_eq!(all.len(), 1, "{all:?}");
    // A wrong type (not an unknown key) stops deserialization.
    let bad = GOOD
        .replacen("default_image = \"base\"", "default_image = 5", 1)
        .replacen("state_dir = \"/run/carme/%n\"", "state_dir = \"run\"", 1);
    let all = parse_all(&bad).unwrap_err();
    assert_eq!(
        keys_and_lines(&all),
        [(Some("gate.default_image"), Some(4))]
    );
}

#[test]
fn parse_all_does_not_blame_what_names_a_broken_image() {
    // `base` is broken (its path): the default image and a variant
    // naming it are not errors of their own.
    let bad = GOOD
        .replacen("path = \"/srv/carme/images/base\"", "path = \"base\"", 1)
        .replacen(
            "path = \"/srv/carme/images/pytorch.sif\"",
            "path = \"/p.sif\"\ncuda = \"12.4\"\nvariants = [\"base\"]",
            1,
        );
    let all = parse_all(&bad).unwrap_err();
    assert_eq!(
        keys_and_lines(&all),
        [(Some("images.base.path"), Some(17))],
        "{all:?}"
    );
    // Without the broken image, a variant naming a missing one is.
    let bad = bad.replacen("variants = [\"base\"]", "variants = [\"nope\"]", 1);
    let all = parse_all(&bad).unwrap_err();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1].key.as_deref(), Some("images.pytorch-2.variants[0]"));
}

#[test]
fn parse_all_reports_bad_limit_rules_each() {
    let text = format!(
        "{GOOD}[limits.users.a]\nmax_time = \"x\"\n[limits.users.b]\nmax_time = \"1\"\n\
             [limits.groups.c]\nimages = [\"[\"]\n"
    );
    let all = parse_all(&text).unwrap_err();
    let keys: Vec<_> = all.iter().map(|e| e.key.as_deref().unwrap()).collect();
    assert_eq!(
        keys,
        ["limits.users.a.max_time", "limits.groups.c.images[0]"]
    );
}

#[test]
fn parse_all_reports_at_most_its_bound() {
    let many: String = (0..MAX_REPORTED_ERRORS + 20)
        .map(|i| format!("k{i} = 1\n"))
        .collect();
    let all = parse_all(&format!("{GOOD}{many}")).unwrap_err();
    assert_eq!(all.len(), MAX_REPORTED_ERRORS);
    assert_eq!(all[0].key.as_deref(), Some("paths.k0"));
    assert_eq!(all[1].key.as_deref(), Some("paths.k1"));
}

#[test]
fn unreadable_file_is_a_config_error() {
    let err = Config::load(Path::new("/nonexistent/carme.toml")).unwrap_err();
    assert!(err.message.contains("cannot read"), "{err}");
}

#[test]
fn broken_config_still_yields_the_gate_basics() {
    let text = "[gate]\nfeature = \"ai\"\njob_facts = \"prolog\"\n[paths]\n\
                    state_dir = \"/run/x/%n\"\n[runtime]\nkind = \"nope\"\n";
    match Loaded::from_text(text, Path::new("/c.toml")) {
        Loaded::Broken { basics, error } => {
            assert_eq!(basics.feature, "ai");
            assert_eq!(basics.job_facts, JobFactSource::Prolog);
            assert_eq!(basics.state_dir.as_str(), "/run/x/%n");
            assert_eq!(error.key.as_deref(), Some("runtime.kind"));
        }
        other => panic!("{other:?}"),
    }
    // Unparseable TOML: fall back to the defaults.
    assert_eq!(
        basics_of_broken_config("[gate\nfeature=\"ai\""),
        GateBasics::default()
    );
    // Unusable values are not trusted either.
    let b = basics_of_broken_config(
        "[gate]\nfeature=\"a b\"\njob_facts=\"x\"\n[paths]\nstate_dir=\"rel/%q\"",
    );
    assert_eq!(b, GateBasics::default());
    assert_eq!(GateBasics::default().job_facts, JobFactSource::Auto);
    // Each valid source is kept from a broken config.
    for (v, want) in [
        ("auto", JobFactSource::Auto),
        ("slurmctld", JobFactSource::Slurmctld),
        ("prolog", JobFactSource::Prolog),
    ] {
        let b = basics_of_broken_config(&format!("[gate]\njob_facts=\"{v}\"\nx=1"));
        assert_eq!(b.job_facts, want, "{v}");
    }
}

#[test]
fn every_job_facts_source_parses() {
    for (v, want) in [
        ("auto", JobFactSource::Auto),
        ("slurmctld", JobFactSource::Slurmctld),
        ("prolog", JobFactSource::Prolog),
    ] {
        let text = format!(
            "[gate]\njob_facts = \"{v}\"\n[runtime]\nkind = \"charliecloud\"\n\
                 path = \"/usr/bin/ch-run\"\n"
        );
        match Loaded::from_text(&text, Path::new("/c.toml")) {
            Loaded::Ready(c) => assert_eq!(c.gate.job_facts, want, "{v}"),
            Loaded::Broken { error, .. } => panic!("{v}: {error}"),
        }
    }
}

#[test]
fn image_names() {
    for ok in ["base", "pytorch-2.1", "a_b", "9x"] {
        assert!(valid_image_name(ok), "{ok}");
    }
    for bad in [
        "",
        "-x",
        ".x",
        "a/b",
        "/srv/x",
        "a b",
        "a:b",
        &"x".repeat(65),
    ] {
        assert!(!valid_image_name(bad), "{bad}");
    }
}
