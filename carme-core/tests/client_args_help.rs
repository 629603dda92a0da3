//! The option tables in `client_args` against the installed Slurm clients.
//!
//! 1. Every long option `srun/sbatch/salloc --help` lists is in the table
//!    with the same short letter and argument kind (`=...` required,
//!    `[=...]` optional), except where the help text is known to be wrong.
//! 2. Every option in the table behaves in the real binary as its kind says
//!    (getopt's own error messages tell the kinds apart), which also settles
//!    the lines where `--help` is wrong.
//!
//! The tables checked are those of the installed clients' release (from
//! dpkg's slurm-client); tests/cluster/check-series.sh runs this binary in
//! each release's root. The clients must be installed (Debian: slurm-client;
//! CI installs it): a missing binary fails these tests rather than skipping
//! them. The clients
//! read a throw-away slurm.conf with an empty plugin stack, so neither the
//! host's config nor site SPANK options play a part.

use carme_core::client_args::{ArgKind, Client, OptSpec, Release, option_table};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Lines where `--help` shows the wrong argument kind (as shown there), and
/// the releases whose help shows it. Each release's getopt table (`has_arg`
/// in src/common/slurm_opt.c) and its binaries (test 2) agree with
/// `client_args`, not with these lines.
const HELP_IS_WRONG: &[(Client, &str, ArgKind, &[Release])] = &[
    (Client::Srun, "bcast", ArgKind::Required, ALL),
    (Client::Srun, "container", ArgKind::None, TO_24_11),
    (Client::Srun, "container-id", ArgKind::None, ONLY_24_11),
    (Client::Srun, "kill-on-bad-exit", ArgKind::None, ALL),
    (Client::Srun, "no-kill", ArgKind::None, ALL),
    (Client::Srun, "overlap", ArgKind::None, ALL),
    (Client::Srun, "resv-ports", ArgKind::None, ALL),
    (Client::Sbatch, "container", ArgKind::None, TO_24_11),
    (Client::Sbatch, "container-id", ArgKind::None, ONLY_24_11),
    (Client::Sbatch, "export", ArgKind::Optional, ALL),
    (Client::Sbatch, "get-user-env", ArgKind::None, TO_24_11),
    (Client::Sbatch, "no-kill", ArgKind::None, ALL),
    (Client::Sbatch, "resv-ports", ArgKind::None, FROM_24_11),
    (Client::Sbatch, "wrap", ArgKind::Optional, ALL),
    (Client::Salloc, "container", ArgKind::None, TO_24_11),
    (Client::Salloc, "container-id", ArgKind::None, ONLY_24_11),
    (
        Client::Salloc,
        "get-user-env",
        ArgKind::None,
        &[Release::V22_05],
    ),
    (Client::Salloc, "no-kill", ArgKind::None, ALL),
    (Client::Salloc, "resv-ports", ArgKind::None, FROM_24_11),
];

/// Lines `--help` shows for options the client no longer has (its getopt
/// refuses them as unrecognized, which the test checks), and the releases
/// whose help shows them.
const HELP_LISTS_GONE: &[(Client, &str, &[Release])] = &[
    (Client::Srun, "power", FROM_24_11),
    (Client::Sbatch, "power", FROM_24_11),
    (Client::Salloc, "power", FROM_24_11),
    (Client::Salloc, "get-user-env", FROM_24_11),
];

const ALL: &[Release] = &Release::ALL;
const TO_24_11: &[Release] = &[Release::V22_05, Release::V24_11];
const ONLY_24_11: &[Release] = &[Release::V24_11];
const FROM_24_11: &[Release] = &[Release::V24_11, Release::V26_05];

/// The release of the installed clients (Debian's slurm-client package,
/// e.g. "24.11.5-4+deb13u1"), whose tables are checked. Run inside a
/// release root (tests/cluster/release.sh exec SERIES) for another one.
fn release() -> Release {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "slurm-client"])
        .output()
        .expect("cannot run dpkg-query: the Slurm clients must come from Debian's slurm-client");
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = version.split(['.', '-']);
    let (Some(Ok(major)), Some(Ok(minor))) = (
        parts.next().map(str::parse::<u32>),
        parts.next().map(str::parse::<u32>),
    ) else {
        panic!("slurm-client is not installed (dpkg-query says {version:?})");
    };
    let release = Release::for_series(major, minor);
    assert_eq!(
        release.series(),
        (major, minor),
        "no option tables for Slurm {major}.{minor}'s clients: add them to client_args"
    );
    release
}

fn help_is_wrong(
    release: Release,
    client: Client,
) -> impl Iterator<Item = (&'static str, ArgKind)> {
    HELP_IS_WRONG
        .iter()
        .filter(move |(c, _, _, rs)| *c == client && rs.contains(&release))
        .map(|(_, l, k, _)| (*l, *k))
}

fn binary(client: Client) -> &'static str {
    match client {
        Client::Srun => "srun",
        Client::Sbatch => "sbatch",
        Client::Salloc => "salloc",
    }
}

/// A minimal slurm.conf: the clients refuse to start without one. A client
/// that gets past option parsing looks for a controller that is not there;
/// `MessageTimeout=1` makes it give up at once instead of after 10 s.
struct Conf {
    dir: PathBuf,
}

impl Conf {
    fn new(tag: &str) -> Conf {
        let dir =
            std::env::temp_dir().join(format!("carme-client-args-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plugstack = dir.join("plugstack.conf");
        std::fs::write(&plugstack, "").unwrap();
        let conf = format!(
            "ClusterName=carmetest\nSlurmctldHost=localhost\nMessageTimeout=1\nPlugStackConfig={}\n\
             NodeName=n1 CPUs=1 State=UNKNOWN\nPartitionName=p Nodes=n1 Default=YES\n",
            plugstack.display()
        );
        std::fs::write(dir.join("slurm.conf"), conf).unwrap();
        Conf { dir }
    }

    /// Run the client with `args`; stdout and stderr together. Killed after
    /// 30 s (a client that gets past option parsing may try to reach a
    /// controller, which does not exist here).
    fn run(&self, client: Client, args: &[&str]) -> String {
        let bin = binary(client);
        let mut child = Command::new(bin)
            .args(args)
            .env("SLURM_CONF", self.dir.join("slurm.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {bin} ({e}): install the Slurm clients (Debian: slurm-client)")
            });
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                child.kill().unwrap();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = child.wait_with_output().unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }
}

impl Drop for Conf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// (long name, short letter, argument kind) of each option line of `--help`.
/// Option lines put `--` in column 6: "  -A, --account=name",
/// "  -B  --extra-node-info=...", "      --bb=<spec>"; continuation lines are
/// indented further, even when they mention an option.
fn listed_options(help: &str) -> Vec<(String, Option<char>, ArgKind)> {
    let mut out = Vec::new();
    for line in help.lines() {
        let b = line.as_bytes();
        if b.len() < 9 || &b[6..8] != b"--" {
            continue;
        }
        let short = match &b[..6] {
            [b' ', b' ', b'-', c, b',' | b' ', b' '] if c.is_ascii_alphabetic() => Some(*c as char),
            b"      " => None,
            _ => continue,
        };
        let rest = &line[8..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let after = &rest[name.len()..];
        let kind = if after.starts_with('=') {
            ArgKind::Required
        } else if after.starts_with("[=") {
            ArgKind::Optional
        } else {
            ArgKind::None
        };
        out.push((name, short, kind));
    }
    out
}

fn find(release: Release, client: Client, long: &str) -> Option<OptSpec> {
    option_table(release, client)
        .iter()
        .find(|o| o.long == long)
        .copied()
}

fn help_agrees_with_table(client: Client) {
    let release = release();
    let conf = Conf::new(&format!("help-{}", binary(client)));
    let help = conf.run(client, &["--help"]);
    let listed = listed_options(&help);
    // Guard against an extractor that silently finds nothing.
    assert!(
        listed.len() > 60,
        "only {} options found in {} --help:\n{help}",
        listed.len(),
        binary(client)
    );
    let mut problems = Vec::new();
    let gone: Vec<&str> = HELP_LISTS_GONE
        .iter()
        .filter(|(c, _, rs)| *c == client && rs.contains(&release))
        .map(|(_, l, _)| *l)
        .collect();
    for long in &gone {
        if !listed.iter().any(|(l, _, _)| l == long) {
            problems.push(format!("--{long} is in HELP_LISTS_GONE but not listed"));
        }
        if find(release, client, long).is_some() {
            problems.push(format!("--{long} is in HELP_LISTS_GONE and in the table"));
        }
        match kind_in_binary(&conf, client, long) {
            Err(e) if e.contains("is unrecognized") => {}
            other => problems.push(format!(
                "--{long} is in HELP_LISTS_GONE but the binary knows it: {other:?}"
            )),
        }
    }
    for (long, short, kind) in listed
        .iter()
        .filter(|(l, _, _)| !gone.contains(&l.as_str()))
    {
        let Some(spec) = find(release, client, long) else {
            problems.push(format!("--{long} is listed but not in the table"));
            continue;
        };
        if short.is_some() && spec.short != *short {
            problems.push(format!("--{long}: help -{short:?}, table {:?}", spec.short));
        }
        let wrong = help_is_wrong(release, client).find(|(l, _)| l == long);
        match wrong {
            None if spec.arg != *kind => {
                problems.push(format!("--{long}: help {kind:?}, table {:?}", spec.arg));
            }
            Some((_, shown)) if shown != *kind || spec.arg == *kind => problems.push(format!(
                "--{long}: HELP_IS_WRONG says help shows {shown:?} unlike the table; \
                 help shows {kind:?}, table {:?}",
                spec.arg
            )),
            _ => {}
        }
    }
    // Every exception must still be needed.
    for (long, _) in help_is_wrong(release, client) {
        if !listed.iter().any(|(l, _, _)| l == long) {
            problems.push(format!("--{long} is in HELP_IS_WRONG but not listed"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} --help ({release:?}) vs client_args:\n{}",
        binary(client),
        problems.join("\n")
    );
}

/// What getopt in the real client does with the option, judged by getopt's
/// own messages: `--name=x` is refused only for no-argument options, a
/// final `--name` only for required ones, and an optional one leaves the
/// following `--usage` alone.
fn kind_in_binary(conf: &Conf, client: Client, long: &str) -> Result<ArgKind, String> {
    let with_value = conf.run(client, &[&format!("--{long}=x"), "--usage"]);
    if with_value.contains("unrecognized option") {
        return Err(format!("--{long} is unrecognized: {with_value}"));
    }
    if with_value.contains("doesn't allow an argument") {
        return Ok(ArgKind::None);
    }
    let last = conf.run(client, &[&format!("--{long}")]);
    if last.contains("requires an argument") {
        return Ok(ArgKind::Required);
    }
    let before_usage = conf.run(client, &[&format!("--{long}"), "--usage"]);
    if before_usage.contains("Usage:") {
        return Ok(ArgKind::Optional);
    }
    Err(format!(
        "--{long}: cannot tell its kind: {with_value}\n{last}\n{before_usage}"
    ))
}

fn binary_agrees_with_table(client: Client) {
    let release = release();
    let conf = Conf::new(&format!("probe-{}", binary(client)));
    let problems: Vec<String> = option_table(release, client)
        .iter()
        .filter_map(|o| match kind_in_binary(&conf, client, o.long) {
            Ok(kind) if kind == o.arg => None,
            Ok(kind) => Some(format!("--{}: binary {kind:?}, table {:?}", o.long, o.arg)),
            Err(e) => Some(e),
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{} ({release:?}) vs client_args:\n{}",
        binary(client),
        problems.join("\n")
    );
}

#[test]
fn srun_help_agrees_with_table() {
    help_agrees_with_table(Client::Srun);
}

#[test]
fn sbatch_help_agrees_with_table() {
    help_agrees_with_table(Client::Sbatch);
}

#[test]
fn salloc_help_agrees_with_table() {
    help_agrees_with_table(Client::Salloc);
}

#[test]
fn srun_binary_agrees_with_table() {
    binary_agrees_with_table(Client::Srun);
}

#[test]
fn sbatch_binary_agrees_with_table() {
    binary_agrees_with_table(Client::Sbatch);
}

#[test]
fn salloc_binary_agrees_with_table() {
    binary_agrees_with_table(Client::Salloc);
}

#[test]
fn help_extractor_reads_the_three_layouts() {
    let help = "  -A, --account=name          charge job\n\
                \x20     --bb=<spec>             burst buffer\n\
                \x20 -B  --extra-node-info=S[:C[:T]]  combine\n\
                \x20     --nice[=value]          priority\n\
                \x20 -H, --hold                  held\n\
                \x20                             --mem >= --mem-per-cpu if --mem\n";
    let got = listed_options(help);
    let want = [
        ("account", Some('A'), ArgKind::Required),
        ("bb", None, ArgKind::Required),
        ("extra-node-info", Some('B'), ArgKind::Required),
        ("nice", None, ArgKind::Optional),
        ("hold", Some('H'), ArgKind::None),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(l, s, k)| (l.to_string(), *s, *k))
        .collect();
    assert_eq!(got, want);
}
