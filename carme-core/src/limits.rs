//! Carme's limits on top of Slurm's: which images a user may run, how many
//! GPUs and nodes a job may have, how many Carme jobs a user may run at
//! once, and the longest time limit.
//!
//! Per key, the first level that sets it decides: the user's rule, then the
//! job's account, then the user's groups (the most generous of those that
//! set the key), then the default. A key no level sets is not limited.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::Config;
use crate::glob::Glob;
use crate::refusal::Refusal;
use crate::slurmtime;

/// One rule: `[limits.default]`, `[limits.users.NAME]`, ...
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitSet {
    pub images: Option<Vec<Glob>>,
    pub max_gpus_per_job: Option<u32>,
    pub max_gpus_per_node: Option<u32>,
    pub max_nodes_per_job: Option<u32>,
    pub max_running_jobs: Option<u32>,
    /// `Some(None)`: explicitly unlimited (overrides lower levels).
    pub max_time: Option<slurmtime::Limit>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub default: LimitSet,
    pub users: BTreeMap<String, LimitSet>,
    pub groups: BTreeMap<String, LimitSet>,
    pub accounts: BTreeMap<String, LimitSet>,
}

/// Whose job it is. The account may be unknown early (srun, sbatch without
/// `--account`: Slurm then uses the user's default account).
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub account: Account<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account<'a> {
    Known(Option<&'a str>),
    Unknown,
}

/// Where an effective limit comes from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    User(String),
    Account(String),
    Groups(Vec<String>),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::User(u) => write!(f, "user {u}"),
            Source::Account(a) => write!(f, "account {a}"),
            Source::Groups(g) if g.len() == 1 => write!(f, "group {}", g[0]),
            Source::Groups(g) => write!(f, "groups {}", g.join(", ")),
            Source::Default => f.write_str("the default limits"),
        }
    }
}

/// An effective limit on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<T> {
    /// No level sets the key.
    NoLimit,
    Limit {
        value: T,
        source: Source,
    },
    /// An account rule sets the key but the job's account is not known yet.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub images: Resolved<Vec<Glob>>,
    pub max_gpus_per_job: Resolved<u32>,
    pub max_gpus_per_node: Resolved<u32>,
    pub max_nodes_per_job: Resolved<u32>,
    pub max_running_jobs: Resolved<u32>,
    /// `value: None` would mean unlimited; such a key resolves to NoLimit.
    pub max_time: Resolved<u64>,
}

impl Effective {
    /// True when checking needs facts only slurmctld has (the running jobs
    /// or the job's time limit), so callers ask it only then.
    pub fn needs_controller(&self) -> bool {
        !matches!(self.max_running_jobs, Resolved::NoLimit)
            || !matches!(self.max_time, Resolved::NoLimit)
    }
}

/// Resolve one key through the levels. `pick` reads the key from a rule,
/// `generous` merges two group values into the more generous one.
fn resolve<T: Clone + PartialEq>(
    limits: &Limits,
    who: &Who,
    pick: impl Fn(&LimitSet) -> Option<T>,
    generous: impl Fn(&T, &T) -> T,
) -> Resolved<Option<T>> {
    if let Some(v) = limits.users.get(who.user).and_then(&pick) {
        return Resolved::Limit {
            value: Some(v),
            source: Source::User(who.user.to_string()),
        };
    }
    match who.account {
        Account::Known(Some(a)) => {
            if let Some(v) = limits.accounts.get(a).and_then(&pick) {
                return Resolved::Limit {
                    value: Some(v),
                    source: Source::Account(a.to_string()),
                };
            }
        }
        Account::Known(None) => {}
        Account::Unknown => {
            if limits.accounts.values().any(|r| pick(r).is_some()) {
                return Resolved::Unknown;
            }
        }
    }
    let mut best: Option<(T, Vec<String>)> = None;
    for g in who.groups {
        let Some(v) = limits.groups.get(g).and_then(&pick) else {
            continue;
        };
        best = Some(match best {
            None => (v, vec![g.clone()]),
            Some((b, mut names)) => {
                let merged = generous(&b, &v);
                if merged == b && merged == v {
                    names.push(g.clone());
                    (b, names)
                } else if merged == b {
                    (b, names)
                } else if merged == v {
                    (v, vec![g.clone()])
                } else {
                    names.push(g.clone());
                    (merged, names)
                }
            }
        });
    }
    if let Some((value, names)) = best {
        return Resolved::Limit {
            value: Some(value),
            source: Source::Groups(names),
        };
    }
    match pick(&limits.default) {
        Some(v) => Resolved::Limit {
            value: Some(v),
            source: Source::Default,
        },
        None => Resolved::NoLimit,
    }
}

fn flatten<T>(r: Resolved<Option<T>>) -> Resolved<T> {
    match r {
        Resolved::Limit {
            value: Some(value),
            source,
        } => Resolved::Limit { value, source },
        Resolved::Limit { value: None, .. } | Resolved::NoLimit => Resolved::NoLimit,
        Resolved::Unknown => Resolved::Unknown,
    }
}

pub fn effective(limits: &Limits, who: &Who) -> Effective {
    let max = |a: &u32, b: &u32| *a.max(b);
    Effective {
        images: flatten(resolve(
            limits,
            who,
            |r| r.images.clone(),
            |a, b| {
                // A union: any group allowing an image allows it.
                let mut u = a.clone();
                u.extend(b.iter().filter(|g| !a.contains(g)).cloned());
                u
            },
        )),
        max_gpus_per_job: flatten(resolve(limits, who, |r| r.max_gpus_per_job, max)),
        max_gpus_per_node: flatten(resolve(limits, who, |r| r.max_gpus_per_node, max)),
        max_nodes_per_job: flatten(resolve(limits, who, |r| r.max_nodes_per_job, max)),
        max_running_jobs: flatten(resolve(limits, who, |r| r.max_running_jobs, max)),
        max_time: flatten(
            match resolve(
                limits,
                who,
                |r| r.max_time,
                |a, b| match (a, b) {
                    (None, _) | (_, None) => None,
                    (Some(x), Some(y)) => Some(*x.max(y)),
                },
            ) {
                // Some(None) at the deciding level: explicitly unlimited.
                Resolved::Limit {
                    value: Some(None), ..
                } => Resolved::NoLimit,
                Resolved::Limit {
                    value: Some(Some(m)),
                    source,
                } => Resolved::Limit {
                    value: Some(m),
                    source,
                },
                Resolved::Limit { value: None, .. } | Resolved::NoLimit => Resolved::NoLimit,
                Resolved::Unknown => Resolved::Unknown,
            },
        ),
    }
}

/// What a job asks for; `None` where the caller does not know (the check
/// for that key is then skipped, to be done where it is known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ask<'a> {
    pub image: Option<&'a str>,
    /// GPU counts are `u64`: a sum or product of the user's counts that
    /// passes `u32` must still read as over the limit, not wrap.
    pub gpus_per_job: Option<u64>,
    pub gpus_per_node: Option<u64>,
    pub nodes: Option<u32>,
    /// The job's time limit: `Some(None)` = no time limit.
    pub time: Option<slurmtime::Limit>,
    /// The user's other Carme jobs that count against max_running_jobs.
    pub running_jobs: Option<u32>,
}

/// Check `ask` against the limits; a refusal names every limit exceeded,
/// its source, the value asked and what to ask for instead.
pub fn check(cfg: &Config, eff: &Effective, ask: &Ask) -> Result<(), Refusal> {
    let mut why: Vec<String> = Vec::new();
    if let (Some(image), Resolved::Limit { value, source }) = (ask.image, &eff.images)
        && !value.iter().any(|g| g.matches(image))
    {
        let allowed: Vec<&str> = cfg
            .images
            .keys()
            .filter(|n| value.iter().any(|g| g.matches(n)))
            .map(String::as_str)
            .collect();
        why.push(format!(
            "image '{image}' is not allowed for you by {source} (allowed: {}). Choose \
             one of those with --carme-image=NAME.",
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        ));
    }
    let mut over =
        |asked: Option<u64>, limit: &Resolved<u32>, what: &str, fix: &dyn Fn(u32) -> String| {
            if let (Some(a), Resolved::Limit { value, source }) = (asked, limit)
                && a > u64::from(*value)
            {
                why.push(format!(
                    "you asked for {a} {what}, but the limit for {source} is {value}. {}",
                    fix(*value)
                ));
            }
        };
    over(
        ask.gpus_per_job,
        &eff.max_gpus_per_job,
        "GPUs per job",
        &|v| {
            format!(
                "Ask for at most {v} GPU{} in all: --gpus={v}, or fewer nodes/GPUs per node.",
                plural(v)
            )
        },
    );
    over(
        ask.gpus_per_node,
        &eff.max_gpus_per_node,
        "GPUs per node",
        &|v| {
            format!(
                "Ask for at most {v} GPU{} per node: --gres=gpu:{v}.",
                plural(v)
            )
        },
    );
    over(
        ask.nodes.map(u64::from),
        &eff.max_nodes_per_job,
        "nodes",
        &|v| format!("Ask for at most {v} node{}: --nodes={v}.", plural(v)),
    );
    if let (Some(n), Resolved::Limit { value, source }) = (ask.running_jobs, &eff.max_running_jobs)
        && n >= *value
    {
        why.push(format!(
            "you already run {n} Carme job{} and the limit for {source} is {value}. Wait \
             for one to end or cancel one (squeue --me; scancel JOBID), then submit again.",
            plural(n)
        ));
    }
    if let (Some(t), Resolved::Limit { value, source }) = (ask.time, &eff.max_time) {
        let too_long = match t {
            None => true,
            Some(m) => m > *value,
        };
        if too_long {
            let limit = slurmtime::format(Some(*value));
            why.push(format!(
                "the job's time limit is {} (from --time, or the partition's default), but \
                 the limit for {source} is {limit}. Ask for at most that: --time={limit}.",
                slurmtime::format(t)
            ));
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(Refusal::new(format!(
            "this Carme job is over its limits: {}",
            why.join(" Also: ")
        )))
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
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
}

/// What a client's options ask for, as far as they say (anything that
/// depends on what the scheduler decides stays unknown). Numbers are the
/// user's: counts are added and multiplied in `u64` with checked
/// arithmetic, and a count that cannot be read exactly (too large, a
/// suffix such as `1k`) leaves the key unknown, so the early check is
/// never fooled by a wrapped value.
pub fn ask_of_request(req: &crate::client_args::ClientRequest) -> Ask<'static> {
    use crate::client_args::Knowledge;
    // "2" or "1-3": the job may get the maximum, and has at least the
    // minimum (one node when -N is not given).
    let (nodes, min_nodes) = match &req.nodes {
        Knowledge::Given(n) => (
            n.rsplit('-').next().and_then(|m| m.parse().ok()),
            n.split('-').next().and_then(|m| m.parse::<u32>().ok()),
        ),
        Knowledge::Absent => (None, Some(1)),
        Knowledge::Unknown => (None, None),
    };
    let mut gpus_per_node = None;
    let mut gpus_per_job = None;
    if !req.gpu_requests_unknown {
        for (opt, value) in &req.gpu_requests {
            match opt.as_str() {
                "gres" => gpus_per_node = gres_gpus(value),
                "gpus-per-node" => gpus_per_node = count_after_type(value),
                "gpus" => gpus_per_job = count_after_type(value),
                _ => {}
            }
        }
        // At least this many: enough to refuse a request that is over
        // for sure, never one that might fit.
        if let (None, Some(per_node), Some(n)) = (gpus_per_job, gpus_per_node, min_nodes) {
            gpus_per_job = per_node.checked_mul(u64::from(n));
        }
    }
    let time = match &req.time {
        Knowledge::Given(t) => slurmtime::parse_request(t),
        _ => None,
    };
    Ask {
        image: None,
        gpus_per_job,
        gpus_per_node,
        nodes,
        time,
        running_jobs: None,
    }
}

/// GPUs per node in a `--gres` value: `gpu`, `gpu:2`, `gpu:a100:2`
/// (comma-separated with other GRES); `None` when unsure.
fn gres_gpus(value: &str) -> Option<u64> {
    let mut total: Option<u64> = None;
    for item in value.split(',') {
        let item = item.strip_prefix("gres/").unwrap_or(item);
        let mut parts = item.split(':');
        if parts.next() != Some("gpu") {
            continue;
        }
        let rest: Vec<&str> = parts.collect();
        let n = match rest.as_slice() {
            [] => 1,
            // A count (Slurm reads a leading digit as one, suffixes
            // included), else a TYPE, which is one GPU.
            [x] if x.starts_with(|c: char| c.is_ascii_digit()) => count(x)?,
            [_] => 1,
            [_, n] => count(n)?,
            _ => return None,
        };
        total = Some(total.unwrap_or(0).checked_add(n)?);
    }
    total
}

/// A plain decimal count; `None` for anything else (suffixes, signs,
/// values past `u64`), which the caller treats as unknown.
fn count(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `N` or `TYPE:N` (as `--gpus`, `--gpus-per-node` take).
fn count_after_type(value: &str) -> Option<u64> {
    count(value.rsplit(':').next()?)
}

/// What a running job has, from slurmctld's record.
pub fn ask_of_job(job: &crate::slurmjob::JobInfo) -> Ask<'static> {
    Ask {
        image: None,
        gpus_per_job: Some(u64::from(job.gpus_total())),
        gpus_per_node: Some(u64::from(job.gpus_per_node_max())),
        nodes: Some(job.num_nodes),
        time: Some(job.time_limit),
        running_jobs: None,
    }
}

#[cfg(test)]
mod ask_tests {
    use super::*;
    use crate::client_args::{Client, Release, parse};

    fn ask(cmd: &str) -> Ask<'static> {
        let argv: Vec<String> = cmd.split(' ').map(str::to_string).collect();
        ask_of_request(&parse(Release::V22_05, Client::Srun, &argv, &|_| None))
    }

    #[test]
    fn asks_from_options() {
        let a = ask("srun -N2 --gres=gpu:2 -t 1-00:00:00 cmd");
        assert_eq!(
            (a.nodes, a.gpus_per_node, a.gpus_per_job, a.time),
            (Some(2), Some(2), Some(4), Some(Some(1440)))
        );
        let a = ask("srun -N1-3 --gres=gpu:2 cmd");
        assert_eq!(
            (a.nodes, a.gpus_per_node, a.gpus_per_job),
            (Some(3), Some(2), Some(2)),
            "2 GPUs at least"
        );
        let a = ask("srun -N1-3 --gpus=a100:5 cmd");
        assert_eq!(
            (a.nodes, a.gpus_per_node, a.gpus_per_job),
            (Some(3), None, Some(5))
        );
        // Without -N: one node at least, so at least the per-node count.
        let a = ask("srun --gres=gpu:t4:1,nic:2 cmd");
        assert_eq!(
            (a.nodes, a.gpus_per_node, a.gpus_per_job),
            (None, Some(1), Some(1))
        );
        let a = ask("srun --gres=gpu cmd");
        assert_eq!(a.gpus_per_node, Some(1));
        let a = ask("srun --gpus-per-task=2 -n4 cmd");
        assert_eq!(
            (a.gpus_per_node, a.gpus_per_job),
            (None, None),
            "depends on the scheduler"
        );
        let a = ask("srun cmd");
        assert_eq!(a, Ask::default());
        assert_eq!(ask("srun -t UNLIMITED cmd").time, Some(None));
    }

    proptest::proptest! {
        // Any counts: never a panic, and a count that is known is exact
        // (the sum and product computed wide), never wrapped.
        #[test]
        fn counts_are_exact_or_unknown(
            counts in proptest::collection::vec(proptest::prelude::any::<u64>(), 1..4),
            nodes in proptest::prelude::any::<u32>(),
        ) {
            let gres: Vec<String> = counts.iter().map(|c| format!("gpu:{c}")).collect();
            let a = ask(&format!("srun -N{nodes} --gres={} cmd", gres.join(",")));
            let sum: u128 = counts.iter().map(|&c| u128::from(c)).sum();
            let want = u64::try_from(sum).ok();
            proptest::prop_assert_eq!(a.gpus_per_node, want);
            proptest::prop_assert_eq!(
                a.gpus_per_job,
                want.and_then(|w| u64::try_from(u128::from(w) * u128::from(nodes)).ok())
            );
        }
    }

    /// Finding 1 of issue 14: counts past `u32` panicked (debug) or
    /// wrapped to 0 (release), and the early check let the request pass.
    #[test]
    fn huge_counts_never_wrap() {
        let limits = Config::parse(
            "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n[limits.default]\n\
             max_gpus_per_job = 4\nmax_gpus_per_node = 4\n",
            std::path::Path::new("/c.toml"),
        )
        .unwrap();
        let eff = effective(
            &limits.limits,
            &Who {
                user: "u",
                groups: &[],
                account: Account::Known(None),
            },
        );
        let refused = |a: &Ask| check(&limits, &eff, a).is_err();
        let a = ask("srun --gres=gpu:4294967295,gpu:1 cmd");
        assert_eq!(a.gpus_per_node, Some(1 << 32));
        assert!(refused(&a), "{a:?}");
        let a = ask("srun -N65536 --gres=gpu:65536 cmd");
        assert_eq!(a.gpus_per_job, Some(1 << 32));
        assert!(refused(&a), "{a:?}");
        let a = ask("srun -N4294967295 --gres=gpu:18446744073709551615 cmd");
        assert_eq!((a.gpus_per_node, a.gpus_per_job), (Some(u64::MAX), None));
        assert!(refused(&a), "{a:?}");
        // A sum past u64, a suffix, a number no u64 holds: unknown, not a guess.
        for unsure in [
            "srun --gres=gpu:18446744073709551615,gpu:1 cmd",
            "srun --gres=gpu:1k cmd",
            "srun --gres=gpu:99999999999999999999999 cmd",
            "srun --gres=gpu:a100:1k cmd",
            "srun --gpus-per-node=1k cmd",
        ] {
            assert_eq!(ask(unsure).gpus_per_node, None, "{unsure}");
        }
        // The same values through the environment and #SBATCH.
        let env = |k: &str| (k == "SLURM_GRES").then(|| "gpu:4294967295,gpu:1".to_string());
        let argv: Vec<String> = ["srun", "cmd"].map(String::from).to_vec();
        let a = ask_of_request(&parse(Release::V22_05, Client::Srun, &argv, &env));
        assert_eq!(a.gpus_per_node, Some(1 << 32));
        let env = |k: &str| (k == "SBATCH_GRES").then(|| "gpu:65536".to_string());
        let argv: Vec<String> = ["sbatch", "-N65536", "job.sh"].map(String::from).to_vec();
        let a = ask_of_request(&crate::client_args::parse_sbatch(
            Release::V22_05,
            &argv,
            &env,
            Some("#!/bin/sh\n"),
        ));
        assert_eq!(a.gpus_per_job, Some(1 << 32));
        let script = "#!/bin/sh\n#SBATCH --gres=gpu:4294967295,gpu:1\n#SBATCH -N65536\n";
        let argv: Vec<String> = ["sbatch", "job.sh"].map(String::from).to_vec();
        let a = ask_of_request(&crate::client_args::parse_sbatch(
            Release::V22_05,
            &argv,
            &|_| None,
            Some(script),
        ));
        assert_eq!(
            (a.gpus_per_node, a.gpus_per_job),
            (Some(1 << 32), Some(1 << 48))
        );
        assert!(refused(&a), "{a:?}");
    }
}
