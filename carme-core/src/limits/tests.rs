use super::*;
use crate::config::{Config, Scope};
use proptest::prelude::*;
use std::path::Path;

const CFG: &str = r#"
[runtime]
kind = "charliecloud"
path = "/usr/bin/ch-run"
[images.base]
path = "/i/base"
[images.pytorch-2]
path = "/i/pt2"
[images.tensorflow]
path = "/i/tf"

[limits.default]
images = ["base", "pytorch-*"]
max_gpus_per_job = 4
max_gpus_per_node = 4
max_nodes_per_job = 2
max_running_jobs = 2
max_time = "3-00:00:00"

[limits.groups.students]
images = ["base"]
max_gpus_per_job = 1

[limits.groups.staff]
max_gpus_per_job = 2
images = ["tensorflow"]

[limits.groups.nolimit]
max_time = "UNLIMITED"

[limits.accounts.projx]
max_nodes_per_job = 4

[limits.users.alice]
max_gpus_per_job = 8
"#;

fn cfg() -> Config {
    Config::parse(CFG, Path::new("/c.toml")).unwrap()
}

fn eff(user: &str, groups: &[&str], account: Account) -> Effective {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    effective(
        &cfg().limits,
        &Who {
            user,
            groups: &groups,
            account,
        },
    )
}

fn lim<T>(value: T, source: Source) -> Resolved<T> {
    Resolved::Limit { value, source }
}

fn groups(g: &[&str]) -> Source {
    Source::Groups(g.iter().map(|s| s.to_string()).collect())
}

#[test]
fn precedence_per_key() {
    use Account::*;
    // Default only.
    let e = eff("bob", &[], Known(None));
    assert_eq!(e.max_gpus_per_job, lim(4, Source::Default));
    assert_eq!(e.max_nodes_per_job, lim(2, Source::Default));
    assert_eq!(e.max_time, lim(3 * 1440, Source::Default));
    // A group beats the default; the user beats the group.
    assert_eq!(
        eff("bob", &["students"], Known(None)).max_gpus_per_job,
        lim(1, groups(&["students"]))
    );
    assert_eq!(
        eff("alice", &["students"], Known(None)).max_gpus_per_job,
        lim(8, Source::User("alice".into()))
    );
    // The most generous of the user's groups.
    assert_eq!(
        eff("bob", &["students", "staff"], Known(None)).max_gpus_per_job,
        lim(2, groups(&["staff"]))
    );
    // Groups that do not set a key do not count; the default decides.
    assert_eq!(
        eff("bob", &["staff"], Known(None)).max_nodes_per_job,
        lim(2, Source::Default)
    );
    // Image globs of several groups add up.
    let imgs = eff("bob", &["students", "staff"], Known(None)).images;
    match imgs {
        Resolved::Limit { value, source } => {
            let names: Vec<&str> = value.iter().map(Glob::as_str).collect();
            assert_eq!(names, ["base", "tensorflow"]);
            assert_eq!(source, groups(&["students", "staff"]));
        }
        other => panic!("{other:?}"),
    }
    // The account beats groups and default; unknown account: unknown
    // only for keys some account rule sets.
    assert_eq!(
        eff("bob", &["students"], Known(Some("projx"))).max_nodes_per_job,
        lim(4, Source::Account("projx".into()))
    );
    assert_eq!(
        eff("bob", &[], Unknown).max_nodes_per_job,
        Resolved::Unknown
    );
    assert_eq!(
        eff("bob", &[], Unknown).max_gpus_per_job,
        lim(4, Source::Default)
    );
    // Explicit UNLIMITED at the deciding level lifts the default.
    assert_eq!(
        eff("bob", &["nolimit"], Known(None)).max_time,
        Resolved::NoLimit
    );
    // An unset key everywhere is not limited.
    let none = effective(
        &Limits::default(),
        &Who {
            user: "x",
            groups: &[],
            account: Known(None),
        },
    );
    assert_eq!(none.max_gpus_per_job, Resolved::NoLimit);
    assert!(!none.needs_controller());
    assert!(eff("bob", &[], Known(None)).needs_controller());
}

#[test]
fn checks_and_messages() {
    let c = cfg();
    let student = eff("bob", &["students"], Account::Known(None));
    assert!(
        check(
            &c,
            &student,
            &Ask {
                image: Some("base"),
                gpus_per_job: Some(1),
                gpus_per_node: Some(1),
                nodes: Some(2),
                time: Some(Some(60)),
                running_jobs: Some(1)
            }
        )
        .is_ok()
    );
    let cases: Vec<(Ask, &[&str])> = vec![
        (
            Ask {
                image: Some("pytorch-2"),
                ..Ask::default()
            },
            &[
                "image 'pytorch-2' is not allowed for you by group students (allowed: base)",
                "--carme-image=NAME",
            ],
        ),
        (
            Ask {
                gpus_per_job: Some(2),
                ..Ask::default()
            },
            &[
                "you asked for 2 GPUs per job, but the limit for group students is 1",
                "--gpus=1",
            ],
        ),
        (
            Ask {
                gpus_per_node: Some(5),
                ..Ask::default()
            },
            &["5 GPUs per node", "the default limits is 4", "--gres=gpu:4"],
        ),
        (
            Ask {
                nodes: Some(3),
                ..Ask::default()
            },
            &[
                "you asked for 3 nodes, but the limit for the default limits is 2",
                "--nodes=2",
            ],
        ),
        (
            Ask {
                running_jobs: Some(2),
                ..Ask::default()
            },
            &[
                "you already run 2 Carme jobs and the limit for the default limits is 2",
                "scancel",
            ],
        ),
        (
            Ask {
                time: Some(Some(4 * 1440)),
                ..Ask::default()
            },
            &[
                "time limit is 4-00:00:00",
                "is 3-00:00:00",
                "--time=3-00:00:00",
            ],
        ),
        (
            Ask {
                time: Some(None),
                ..Ask::default()
            },
            &["time limit is UNLIMITED (from --time, or the partition's default)"],
        ),
    ];
    for (ask, words) in cases {
        let r = check(&c, &student, &ask).expect_err(&format!("{ask:?}"));
        assert!(
            r.message()
                .starts_with("carme: this Carme job is over its limits: "),
            "{r}"
        );
        for w in words {
            assert!(r.message().contains(w), "want {w:?} in {r}");
        }
    }
    // Several at once are all named.
    let r = check(
        &c,
        &student,
        &Ask {
            gpus_per_job: Some(3),
            nodes: Some(9),
            ..Ask::default()
        },
    )
    .unwrap_err();
    assert!(
        r.message().contains("GPUs per job") && r.message().contains("9 nodes"),
        "{r}"
    );
    // Unknown facts are not checked.
    assert!(check(&c, &student, &Ask::default()).is_ok());
}

#[test]
fn bad_limit_values_are_located() {
    let cases = [
        (
            "max_gpus_per_job = 1\n",
            "max_gpus_per_job = -1\n",
            "limits.groups.students.max_gpus_per_job",
            "invalid value",
        ),
        (
            "max_nodes_per_job = 4\n",
            "max_nodes_per_job = \"four\"\n",
            "limits.accounts.projx.max_nodes_per_job",
            "invalid type",
        ),
        (
            "max_time = \"3-00:00:00\"",
            "max_time = \"3 days\"",
            "limits.default.max_time",
            "not a Slurm time",
        ),
        (
            "images = [\"base\"]\n",
            "images = [\"base\", \"img[\"]\n",
            "limits.groups.students.images[1]",
            "unclosed `[`",
        ),
        (
            "max_gpus_per_job = 8\n",
            "max_gpus_per_job = 8\nmax_gpu = 1\n",
            "limits.users.alice.max_gpu",
            "unknown field",
        ),
        (
            "[limits.accounts.projx]",
            "[limits.project.projx]",
            "limits.project",
            "unknown field",
        ),
    ];
    for (from, to, key, words) in cases {
        assert!(CFG.contains(from), "{from}");
        let bad = CFG.replacen(from, to, 1);
        // The line of the offending key: the last line `to` wrote.
        let last = to.trim_end().lines().last().unwrap();
        let line = bad.lines().position(|l| l == last).unwrap() + 1;
        let err = Config::parse(&bad, Path::new("/c.toml")).expect_err(to);
        assert_eq!(err.key.as_deref(), Some(key), "{err}");
        assert!(err.message.contains(words), "{err}");
        assert_eq!(err.line, Some(line), "{err}");
    }
}

#[test]
fn scoped_load_skips_other_rules_and_their_mistakes() {
    let broken = CFG.replacen(
        "[limits.users.alice]\nmax_gpus_per_job = 8",
        "[limits.users.alice]\nmax_gpus_per_job = -8",
        1,
    );
    assert!(Config::parse(&broken, Path::new("/c.toml")).is_err());
    let groups = vec!["students".to_string()];
    let bob = Scope {
        user: "bob",
        groups: &groups,
    };
    let c = Config::parse_scoped(&broken, Path::new("/c.toml"), Some(&bob)).unwrap();
    assert!(c.limits.users.is_empty());
    assert_eq!(c.limits.groups.keys().collect::<Vec<_>>(), ["students"]);
    assert!(
        c.limits.accounts.contains_key("projx"),
        "accounts are always loaded"
    );
    // Alice's own jobs see her mistake, with its line.
    let alice = Scope {
        user: "alice",
        groups: &groups,
    };
    let err = Config::parse_scoped(&broken, Path::new("/c.toml"), Some(&alice)).unwrap_err();
    assert_eq!(
        err.key.as_deref(),
        Some("limits.users.alice.max_gpus_per_job")
    );
    let want = broken
        .lines()
        .position(|l| l == "max_gpus_per_job = -8")
        .unwrap()
        + 1;
    assert_eq!(err.line, Some(want));
}

fn rule_text(kind: &str, name: &str, n: u32, style: u8) -> String {
    let key = match style % 3 {
        0 => name.to_string(),
        1 => format!("\"{name}\""),
        _ => format!("'{name}'"),
    };
    let pad = if style.is_multiple_of(2) { "" } else { " " };
    format!(
        "\n[{pad}limits.{kind}.{key}{pad}]  # rule\nmax_gpus_per_job = {n}\nimages = [\n  \"img{n}-*\", # [x]\n  \"[x]\",\n]\nmax_time = \"\"\"\n1-00:00:00\"\"\"\n"
    )
}

/// Finding 3 of issue 14: a typo in bob's rule swallowed every later
/// header, and alice's scoped load succeeded with the defaults gone.
/// It must fail like the full load does, naming file and line.
#[test]
fn scoped_load_fails_where_a_typo_hides_the_sections() {
    let groups: Vec<String> = Vec::new();
    let alice = Scope {
        user: "alice",
        groups: &groups,
    };
    for typo in [
        "images = [\"base\"",
        "images = \"\"\"base",
        "images = [\"base\\\n\"]",
        "images = {a = [\"base\"]",
    ] {
        let text = format!(
            "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n[limits.users.bob]\n{typo}\n\
                 [limits.default]\nmax_gpus_per_job = 1\n"
        );
        let full = Config::parse(&text, Path::new("/c.toml")).unwrap_err();
        let scoped =
            Config::parse_scoped(&text, Path::new("/c.toml"), Some(&alice)).expect_err(&text);
        assert_eq!(scoped, full, "{text}");
        assert!(scoped.line.is_some(), "{scoped}");
    }
}

const TOKENS: &[&str] = &[
    "[",
    "]",
    "\"",
    "\"\"\"",
    "'",
    "'''",
    "\\",
    "\n",
    "{",
    "}",
    "#",
    "=",
    ",",
    " ",
    "x",
    "\n[limits.default]\n",
    "[limits.users.a]",
    "\"\\\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    // Oracle over mutated configs: where the full load succeeds the
    // scoped load equals it filtered to the scope; where it fails the
    // scoped load fails too, or (a mistake in a rule the scope skips)
    // equals the unmutated config's view of this user.
    #[test]
    fn scoped_equals_full_filtered_or_fails_like_it(
        users in proptest::collection::vec(("[a-c]", 0u32..9, 0u8..6), 0..5),
        groups in proptest::collection::vec(("[a-c]", 0u32..9, 0u8..6), 0..4),
        me in "[a-c]",
        my_groups in proptest::collection::vec("[a-c]", 0..2),
        at in any::<proptest::sample::Index>(),
        token in 0..TOKENS.len(),
        delete in any::<bool>(),
    ) {
        let mut text = "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n[limits.default]\nmax_nodes_per_job = 3\n".to_string();
        let mut seen = std::collections::BTreeSet::new();
        for (kind, list) in [("users", &users), ("groups", &groups)] {
            for (name, n, style) in list {
                if seen.insert((kind, name.clone())) {
                    text += &rule_text(kind, name, *n, *style);
                }
            }
        }
        text += "[limits.accounts.p]\nmax_gpus_per_node = 1\n";
        let path = Path::new("/c.toml");
        let base = Config::parse(&text, path).unwrap();
        let p = at.index(text.len());
        let mut mutated = text.clone();
        if delete {
            mutated.remove(p);
        } else {
            mutated.insert_str(p, TOKENS[token]);
        }
        let filter = |mut c: Config| {
            c.limits.users.retain(|u, _| *u == me);
            c.limits.groups.retain(|g, _| my_groups.contains(g));
            c
        };
        let scope = Scope { user: &me, groups: &my_groups };
        let scoped = Config::parse_scoped(&mutated, path, Some(&scope));
        match (Config::parse(&mutated, path), scoped) {
            (Ok(full), scoped) => prop_assert_eq!(scoped, Ok(filter(full))),
            (Err(_), Err(_)) => {}
            (Err(e), Ok(scoped)) => {
                // A mistake the scope skips (another user's or group's
                // rule) leaves this user's view as it was: the scoped
                // load must then equal the unmutated config's. Never a
                // different view (a header of ours swallowed, the
                // defaults or accounts lost): that would fail open.
                prop_assert_eq!(scoped, filter(base), "full load: {}\n{}", e, mutated);
            }
        }
    }
}

proptest! {
    // Oracle: a scoped load equals the full load filtered to the scope.
    #[test]
    fn scoped_equals_full_filtered(
        users in proptest::collection::vec(("[a-d]{1,2}", 0u32..9, 0u8..6), 0..12),
        groups in proptest::collection::vec(("[a-d]{1,2}", 0u32..9, 0u8..6), 0..12),
        me in "[a-d]{1,2}",
        my_groups in proptest::collection::vec("[a-d]{1,2}", 0..3),
    ) {
        let mut text = "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n[limits.default]\nmax_nodes_per_job = 3\n".to_string();
        let mut seen = std::collections::BTreeSet::new();
        for (name, n, style) in &users {
            if seen.insert(("u", name.clone())) { text += &rule_text("users", name, *n, *style); }
        }
        for (name, n, style) in &groups {
            if seen.insert(("g", name.clone())) { text += &rule_text("groups", name, *n, *style); }
        }
        text += "[limits.accounts.p]\nmax_gpus_per_node = 1\n";
        let full = Config::parse(&text, Path::new("/c.toml")).unwrap();
        let scope = Scope { user: &me, groups: &my_groups };
        let scoped = Config::parse_scoped(&text, Path::new("/c.toml"), Some(&scope)).unwrap();
        let mut want = full.limits.clone();
        want.users.retain(|u, _| *u == me);
        want.groups.retain(|g, _| my_groups.contains(g));
        prop_assert_eq!(scoped.limits, want);
    }
}

#[test]
fn which_images_the_limits_allow() {
    let rows: &[(&str, &[&str], &str, Option<bool>)] = &[
        // The default rule's list, with its glob.
        ("bob", &[], "base", Some(true)),
        ("bob", &[], "pytorch-2", Some(true)),
        ("bob", &[], "tensorflow", Some(false)),
        // A group's own list replaces the default's.
        ("bob", &["students"], "base", Some(true)),
        ("bob", &["students"], "pytorch-2", Some(false)),
        // Two groups: the more generous union.
        ("bob", &["students", "staff"], "tensorflow", Some(true)),
        ("bob", &["students", "staff"], "base", Some(true)),
        // Not a configured image, but matched by a glob: the limits allow
        // it (whether it exists is another check).
        ("bob", &[], "pytorch-9", Some(true)),
    ];
    for &(user, gs, image, want) in rows {
        let e = eff(user, gs, Account::Known(None));
        assert_eq!(e.image_allowed(image), want, "{user} {gs:?} {image}");
    }
    // No images key at any level: every image.
    let open = Config::parse(
        "[runtime]\nkind = \"charliecloud\"\npath = \"/usr/bin/ch-run\"\n[images.base]\npath = \"/i\"\n",
        Path::new("/c.toml"),
    )
    .unwrap();
    let who = Who {
        user: "bob",
        groups: &[],
        account: Account::Unknown,
    };
    assert_eq!(
        effective(&open.limits, &who).image_allowed("base"),
        Some(true)
    );
    // An account rule with images: unknown until the account is.
    let by_account = Config::parse(
        &format!("{CFG}\n[limits.accounts.projy]\nimages = [\"tensorflow\"]\n"),
        Path::new("/c.toml"),
    )
    .unwrap();
    let unknown = effective(&by_account.limits, &who);
    assert_eq!(unknown.image_allowed("base"), None);
    let projy = Who {
        account: Account::Known(Some("projy")),
        ..who
    };
    let known = effective(&by_account.limits, &projy);
    assert_eq!(known.image_allowed("tensorflow"), Some(true));
    assert_eq!(known.image_allowed("base"), Some(false));
}
