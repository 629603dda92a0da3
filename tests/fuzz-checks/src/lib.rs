//! What each fuzz target checks, as plain functions of the input bytes:
//! the libFuzzer targets in `fuzz/` (nightly) call them, and on stable
//! `tests/replay.rs` feeds them every regression input and corpus file,
//! so a finding, once fixed, stays fixed in `make test`.
//!
//! Each check panics when an invariant breaks: no panic in the parser
//! itself, bounded results (memory and time are bounded by libFuzzer's
//! `-rss_limit_mb`/`-timeout` and by the replay's clock), parsers that
//! agree with each other, and, for hostlists and `--time`, with libslurm
//! ([`slurm`], the one module here that is `unsafe`).

#![deny(unsafe_code)]

pub mod slurm;

use std::ffi::OsString;
use std::path::{Component, Path};
use std::sync::OnceLock;
use std::time::Instant;

use carme_core::client_args::{self, Client};
use carme_core::config::{Config, Scope};
use carme_core::glob::Glob;
use carme_core::launch::{self, Mode, TaskFacts};
use carme_core::record::JobRecord;
use carme_core::slurminfo::{self, PlugstackLine, SlurmVersion};
use carme_core::template::PathTemplate;
use carme_core::{elf, gate, hostlist, sections, slurmtime, units};

/// What a target runs on one input; it panics when an invariant breaks.
pub type Check = fn(&[u8]);

/// Every target: its name (the directory of its corpus, regressions and
/// dictionary under `fuzz/`) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("hostlist", hostlist),
    ("hostlist_slurm", hostlist_slurm),
    ("slurmtime", slurmtime),
    ("slurmtime_slurm", slurmtime_slurm),
    ("gate", gate),
    ("units", units),
    ("glob", glob),
    ("template", template),
    ("record", record),
    ("client_args", client_args),
    ("config_scoped", config_scoped),
    ("launch_plan", launch_plan),
    ("plugin_elf", plugin_elf),
    ("slurm_output", slurm_output),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Hostlists: expand, measure and first agree; the result is bounded;
/// names are clean; CARME_NODES stays within its bound.
pub fn hostlist(data: &[u8]) {
    let Some(list) = text(data) else { return };
    match (
        hostlist::expand(list),
        hostlist::measure(list),
        hostlist::first(list),
    ) {
        (Ok(hosts), Ok(size), Ok(first)) => {
            assert!(!hosts.is_empty() && hosts.len() <= hostlist::MAX_HOSTS);
            assert_eq!(size.hosts, hosts.len());
            let bytes: u64 = hosts.iter().map(|h| h.len() as u64).sum();
            assert_eq!(size.bytes, bytes);
            assert!(bytes <= hostlist::MAX_BYTES);
            assert_eq!(first, hosts[0]);
            for h in &hosts {
                assert!(
                    !h.is_empty()
                        && h.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)),
                    "{h:?}"
                );
            }
            let (nodes, master) = launch::job_nodes(list).expect("accepted above");
            assert!(nodes.len() as u64 <= launch::CARME_NODES_MAX_EXPANDED.max(list.len() as u64));
            assert_eq!(master, first);
        }
        (Err(a), Err(b), Err(c)) => {
            assert_eq!(a, b);
            assert_eq!(a, c);
        }
        (a, b, c) => panic!("disagree on {list:?}: {:?} {b:?} {c:?}", a.map(|h| h.len())),
    }
}

/// Where carme-core accepts a hostlist, libslurm expands it to the same
/// names in the same order (lists of up to 100,000 names, to keep runs
/// short).
pub fn hostlist_slurm(data: &[u8]) {
    let Some(list) = text(data) else { return };
    let Ok(size) = hostlist::measure(list) else {
        return;
    };
    if size.hosts > 100_000 {
        return;
    }
    let ours = hostlist::expand(list).expect("measured above");
    let theirs = slurm::hostlist_expand(list, ours.len() + 1)
        .unwrap_or_else(|| panic!("libslurm refuses {list:?}, which carme-core accepts"));
    assert!(
        ours == theirs,
        "{list:?}: carme {ours:?} libslurm {theirs:?}"
    );
}

/// `--time`: the strict (config) and the request reading agree where both
/// read a value; what the strict one reads formats and parses back; a
/// request is never read past what Slurm computes exactly.
pub fn slurmtime(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let strict = slurmtime::parse(s);
    let request = slurmtime::parse_request(s);
    if let (Ok(a), Some(b)) = (&strict, request) {
        assert_eq!(*a, b, "{s:?}");
    }
    if let Ok(limit) = strict {
        assert_eq!(
            slurmtime::parse(&slurmtime::format(limit)),
            Ok(limit),
            "{s:?}"
        );
    }
    if let Some(Some(m)) = request {
        assert!(m * 60 <= i32::MAX as u64, "{s:?}: {m}");
    }
}

/// Where carme-core says what Slurm reads from a `--time` value, libslurm
/// reads exactly that (0 and INFINITE both mean no limit).
pub fn slurmtime_slurm(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let Some(ours) = slurmtime::parse_request(s) else {
        return;
    };
    let Some(theirs) = slurm::time_str2mins(s) else {
        return;
    };
    match ours {
        None => assert!(theirs == 0 || theirs == -1, "{s:?}: libslurm {theirs}"),
        Some(m) => assert_eq!(i64::from(theirs), m as i64, "{s:?}"),
    }
}

/// Constraint expressions: every feature named is a clean token that
/// `names_feature` finds; `carme` is found exactly when listed.
pub fn gate(data: &[u8]) {
    let Some(c) = text(data) else { return };
    let features: Vec<&str> = gate::features(c).collect();
    assert_eq!(gate::names_feature(c, "carme"), features.contains(&"carme"));
    for f in features {
        assert!(
            !f.is_empty()
                && f.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        );
        assert!(gate::names_feature(c, f));
    }
}

/// Sizes and durations: whatever is accepted is within the bounds every
/// use relies on.
pub fn units(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(b) = units::parse_size(s) {
        assert!(b > 0 && b <= units::MAX_SIZE, "{s:?}");
    }
    if let Ok(d) = units::parse_duration(s) {
        assert!(!d.is_zero() && d <= units::MAX_DURATION, "{s:?}");
        assert!(Instant::now().checked_add(d).is_some());
        assert!(u64::try_from(d.as_millis()).is_ok());
    }
}

/// Globs (`pattern\nname`): a pattern without wildcards matches only
/// itself; a valid pattern's text is valid again.
pub fn glob(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let (pattern, name) = s.split_once('\n').unwrap_or((s, s));
    let Ok(g) = Glob::new(pattern) else { return };
    let matched = g.matches(name);
    if !pattern.contains(['*', '?', '[', '\\']) {
        assert_eq!(matched, pattern == name, "{pattern:?} {name:?}");
    }
    assert!(g.matches(pattern) || pattern.contains(['*', '?', '[', '\\']));
    assert!(Glob::new(g.as_str()).is_ok());
}

/// Path templates (`template\nnode`): a node name never adds a `..`.
pub fn template(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let (t, node) = s.split_once('\n').unwrap_or((s, "n1"));
    let Ok(t) = PathTemplate::parse(t) else {
        return;
    };
    let p = t.expand(node, Some(7));
    let climbs = |p: &Path| {
        p.components()
            .filter(|c| *c == Component::ParentDir)
            .count()
    };
    if !node.is_empty() {
        assert!(
            climbs(&p) <= climbs(Path::new(t.as_str())),
            "{:?} with node {node:?}: {}",
            t.as_str(),
            p.display()
        );
    }
}

/// Job records: what parses writes back the same; any text as constraint
/// and account round-trips byte for byte.
pub fn record(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(r) = JobRecord::parse(s) {
        assert_eq!(JobRecord::parse(&r.to_text()), Ok(r));
    }
    let r = JobRecord {
        job_id: 1,
        uid: 2,
        gid: 3,
        constraint: s.to_string(),
        account: Some(s.to_string()).filter(|a| !a.is_empty()),
        gpus: None,
        until: None,
    };
    assert_eq!(JobRecord::parse(&r.to_text()), Ok(r));
}

/// Client options into the limit request (`argv lines` `\n\n` `script and
/// KEY=VALUE environment lines`), for srun, sbatch and salloc: no panic,
/// no wrapped count (overflow checks are on in tests and fuzz builds), a
/// `--time` only where Slurm reads it exactly.
pub fn client_args(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let (args, rest) = s.split_once("\n\n").unwrap_or((s, ""));
    let env: Vec<(&str, &str)> = rest.lines().filter_map(|l| l.split_once('=')).collect();
    let lookup = |k: &str| {
        env.iter()
            .find(|(a, _)| *a == k)
            .map(|(_, v)| v.to_string())
    };
    for (release, (client, name)) in client_args::Release::ALL.into_iter().flat_map(|r| {
        [
            (Client::Srun, "srun"),
            (Client::Sbatch, "sbatch"),
            (Client::Salloc, "salloc"),
        ]
        .map(|c| (r, c))
    }) {
        let argv: Vec<String> = std::iter::once(name)
            .chain(args.split('\n'))
            .map(str::to_string)
            .collect();
        let req = match client {
            Client::Sbatch => client_args::parse_sbatch(release, &argv, &lookup, Some(rest)),
            _ => client_args::parse(release, client, &argv, &lookup),
        };
        let ask = carme_core::limits::ask_of_request(&req);
        if let Some(Some(m)) = ask.time {
            assert!(m * 60 <= i32::MAX as u64);
        }
    }
}

fn skipped_rule(h: &sections::Header, scope: &Scope) -> bool {
    if h.array || h.key(0) != Some(b"limits") {
        return false;
    }
    let Some(name) = h.key(2) else { return false };
    match h.key(1) {
        Some(b"users") => name != scope.user.as_bytes(),
        Some(b"groups") => !scope.groups.iter().any(|g| g.as_bytes() == name),
        _ => false,
    }
}

/// The config loaded for one user: equal to the full load filtered to the
/// user where that succeeds, failing with it otherwise, unless only rules
/// of others are broken and no line of theirs could be a swallowed header.
pub fn config_scoped(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let groups = vec!["g".to_string(), "staff".to_string()];
    let scope = Scope {
        user: "alice",
        groups: &groups,
    };
    let path = Path::new("/etc/carme/carme.toml");
    let scoped = Config::parse_scoped(s, path, Some(&scope));
    match (Config::parse(s, path), scoped) {
        (Ok(mut full), scoped) => {
            full.limits.users.retain(|u, _| u == "alice");
            full.limits.groups.retain(|g, _| groups.contains(g));
            assert_eq!(scoped, Ok(full));
        }
        (Err(_), Err(_)) => {}
        (Err(e), Ok(_)) => {
            let (secs, sure) = sections::split_checked(s);
            assert!(
                sure,
                "scoped load succeeded on text the lexer is unsure of: {e}"
            );
            for sec in secs {
                let Some(h) = sec.header else { continue };
                if !skipped_rule(&h, &scope) {
                    continue;
                }
                for line in s[sec.start..sec.end].lines().skip(1) {
                    assert!(
                        !line.trim_start_matches([' ', '\t']).starts_with('['),
                        "a skipped rule holds a line that may be a header: {line:?} ({e})"
                    );
                }
            }
        }
    }
}

fn launch_config() -> &'static Config {
    static CFG: OnceLock<Config> = OnceLock::new();
    CFG.get_or_init(|| {
        Config::parse(
            "[runtime]\nkind = \"apptainer\"\npath = \"/usr/bin/apptainer\"\n\
             [[mounts]]\nsource = \"/scratch/%n/%j\"\ntarget = \"/scratch\"\n\
             [images.base]\npath = \"/srv/base.sif\"\ngpu = true\n",
            Path::new("/etc/carme/carme.toml"),
        )
        .expect("the fuzz config is valid")
    })
}

/// The launch plan from a task environment (`KEY=VALUE` lines): no panic,
/// and no variable or argument past what Linux allows one string.
pub fn launch_plan(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let env: Vec<(OsString, OsString)> = s
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let cfg = launch_config();
    let facts = TaskFacts {
        node: "n1",
        job: Some(7),
        env: &env,
        cwd: Some(Path::new("/home/u")),
        source_exists: &|_| true,
    };
    let cmd: Vec<OsString> = vec!["true".into()];
    let plan = launch::plan(cfg, &cfg.images["base"], &facts, &cmd, Mode::Exec);
    // What the plan adds itself stays under 128 KiB a string; values the
    // task already had pass through as they are.
    let longest_input = env
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .max()
        .unwrap_or(0);
    for (k, v) in &plan.env_set {
        let n = k.len() + v.len();
        assert!(
            n < 128 << 10 || n <= longest_input + 64,
            "{k:?} is {n} bytes"
        );
    }
    for v in &plan.container_env {
        if v.name == "CARME_NODES" {
            let n = v.value.as_ref().map_or(0, |x| x.len()) as u64;
            assert!(n <= launch::CARME_NODES_MAX_EXPANDED.max(longest_input as u64));
        }
    }
}

/// A plugin file's bytes (check-node reads `plugin_version` from
/// whatever file plugstack.conf names): an answer or an error, never a
/// panic; the same answer twice.
pub fn plugin_elf(data: &[u8]) {
    let first = elf::exported_u32(data, "plugin_version");
    assert_eq!(first, elf::exported_u32(data, "plugin_version"));
    let _ = elf::exported_u32(data, "");
}

/// Slurm tools' output and plugstack.conf text, as check-node reads it:
/// no panic; keys are single words; plugstack line numbers lie in the
/// text; a version read prints and parses back the same.
pub fn slurm_output(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let conf = slurminfo::parse_show_config(s);
    for k in conf
        .settings
        .keys()
        .chain(conf.cgroup.iter().flat_map(|c| c.keys()))
    {
        assert!(!k.is_empty() && !k.contains(char::is_whitespace), "{k:?}");
    }
    for n in slurminfo::parse_nodes(s) {
        assert!(!n.name.contains(char::is_whitespace), "{:?}", n.name);
    }
    let lines = s.lines().count();
    for l in slurminfo::parse_plugstack(s) {
        let (PlugstackLine::Include { line, .. }
        | PlugstackLine::Plugin { line, .. }
        | PlugstackLine::Unknown { line, .. }) = l;
        assert!((1..=lines).contains(&line), "line {line} of {lines}");
    }
    if let Some(v) = slurminfo::parse_version_output(s) {
        assert_eq!(SlurmVersion::parse(&v.to_string()), Some(v), "{s:?}");
    }
    let _ = slurminfo::script_runs(s, "carme-prolog");
}
