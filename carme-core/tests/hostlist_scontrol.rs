//! `hostlist::expand` against the installed `scontrol show hostnames`.
//!
//! Thousands of random hostlist expressions, from a fixed seed, go through
//! both. Well-formed ones must expand identically. Mutated ones (characters
//! inserted, deleted, swapped) check the refusals: whatever we accept,
//! scontrol must print identically, and whatever scontrol rejects we must
//! reject too. A fixed table pins the edge cases, including the ones where
//! Slurm accepts something odd that we deliberately refuse.
//!
//! `scontrol` must be installed (Debian: slurm-client): a missing binary
//! fails the test rather than skipping it. It reads a throw-away slurm.conf;
//! `show hostnames` needs no controller. scontrol takes one list per call
//! and starts in a few milliseconds, so the calls run on a few threads.

use carme_core::hostlist::{expand, first};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// A minimal slurm.conf in a temp dir, removed on drop.
struct Conf {
    dir: PathBuf,
}

impl Conf {
    /// `tag` keeps the tests of one process (run in parallel) apart.
    fn new(tag: &str) -> Conf {
        let dir = std::env::temp_dir().join(format!("carme-hostlist-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("slurm.conf"),
            "ClusterName=carmetest\nSlurmctldHost=localhost\nMessageTimeout=1\n\
             NodeName=n1 CPUs=1 State=UNKNOWN\nPartitionName=p Nodes=n1 Default=YES\n",
        )
        .unwrap();
        Conf { dir }
    }
}

impl Drop for Conf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What scontrol made of one list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scontrol {
    /// The names it printed, nothing on stderr.
    Hosts(Vec<String>),
    /// Anything on stderr ("Invalid hostlist", "Invalid range", ...);
    /// scontrol exits 0 either way. Holds stdout and stderr.
    Refused(String, String),
}

/// Run `scontrol show hostnames LIST` for every list, on a few threads.
fn scontrol_all(conf: &Conf, lists: &[String]) -> Vec<Scontrol> {
    let results = Mutex::new(vec![None; lists.len()]);
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= lists.len() {
                        break;
                    }
                    let outcome = scontrol(conf, &lists[i]);
                    results.lock().unwrap()[i] = Some(outcome);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

fn scontrol(conf: &Conf, list: &str) -> Scontrol {
    // `--` so that a list starting with '-' is not taken for an option.
    let out = Command::new("scontrol")
        .args(["--", "show", "hostnames", list])
        .env("SLURM_CONF", conf.dir.join("slurm.conf"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run scontrol ({e}); install Slurm's client tools (Debian: slurm-client)")
        });
    assert!(out.status.success(), "scontrol {list:?}: {out:?}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stderr.is_empty() {
        Scontrol::Hosts(stdout.lines().map(String::from).collect())
    } else {
        Scontrol::Refused(stdout, stderr)
    }
}

/// SplitMix64: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick(&mut self, chars: &str) -> char {
        let chars: Vec<char> = chars.chars().collect();
        chars[self.below(chars.len() as u64) as usize]
    }
}

const LETTERS: &str = "abcnrxyzABNZ";
const NAME_CHARS: &str = "abcnrxyzABNZ0123456789._-";

/// Name text: mostly letters, sometimes digits, dots, dashes, underscores.
fn text(rng: &mut Rng, min: u64, max: u64) -> String {
    let len = min + rng.below(max - min + 1);
    (0..len)
        .map(|i| {
            if i == 0 || rng.chance(60) {
                rng.pick(LETTERS)
            } else {
                rng.pick(NAME_CHARS)
            }
        })
        .collect()
}

/// A number as written, sometimes zero-padded.
fn number(rng: &mut Rng, value: u64) -> String {
    let pad = if rng.chance(30) {
        rng.below(3) as usize
    } else {
        0
    };
    format!("{}{value}", "0".repeat(pad))
}

/// The inside of a bracket group, with at most `max_size` hosts per range;
/// `small` keeps the numbers below 30, so that edits cannot merge them into
/// huge ranges.
fn group(rng: &mut Rng, ranges: u64, max_size: u64, small: bool) -> String {
    let parts: Vec<String> = (0..1 + rng.below(ranges))
        .map(|_| {
            // Around powers of ten, so that widths change inside ranges.
            let lo = match rng.below(4) {
                _ if small => rng.below(30),
                0 => rng.below(12),
                1 => 95 + rng.below(10),
                2 => 995 + rng.below(10),
                _ => rng.below(100_000),
            };
            if rng.chance(30) {
                number(rng, lo)
            } else {
                let hi = lo + rng.below(max_size);
                format!("{}-{}", number(rng, lo), number(rng, hi))
            }
        })
        .collect();
    parts.join(",")
}

/// A well-formed hostlist expression.
fn valid_list(rng: &mut Rng, small: bool) -> String {
    let items: Vec<String> = (0..1 + rng.below(4))
        .map(|_| {
            if rng.chance(30) {
                // A plain name, often ending in (padded) digits.
                let mut name = text(rng, 1, 6);
                if rng.chance(60) {
                    let n = rng.below(1000);
                    name.push_str(&number(rng, n));
                }
                return name;
            }
            let most = if rng.chance(70) { 1 } else { 4 };
            let groups = 1 + rng.below(most);
            let (ranges, size) = if groups == 1 { (4, 12) } else { (2, 3) };
            let mut item = String::new();
            for g in 0..groups {
                // The first prefix is usually there; texts between groups often are not.
                if (g == 0 && rng.chance(90)) || rng.chance(50) {
                    item.push_str(&text(rng, 1, 5));
                }
                item.push('[');
                item.push_str(&group(rng, ranges, size, small));
                item.push(']');
            }
            item
        })
        .collect();
    items.join(",")
}

/// A list with a few random edits, often malformed.
fn mutated_list(rng: &mut Rng) -> String {
    let mut chars: Vec<char> = valid_list(rng, true).chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() as u64 + 1) as usize;
        match rng.below(4) {
            0 => chars.insert(at, rng.pick("[]-,,x 0123+a.")),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            2 if at + 1 < chars.len() => chars.swap(at, at + 1),
            _ if at < chars.len() => {
                let c = chars[at];
                chars.insert(at, c);
            }
            _ => chars.push(rng.pick("[]-,")),
        }
    }
    chars.into_iter().collect()
}

/// An upper bound on how many names scontrol could print for `list`,
/// however it parses it: every range it accepts lies inside some `[...]`
/// (from a `[` to the next `]`), so the product of those spans, times the
/// number of items, bounds every expansion. Edits can merge small numbers
/// into ranges of millions, which scontrol takes minutes to print.
fn size_bound(list: &str) -> u64 {
    let mut bound: u64 = 1;
    let mut rest = list;
    while let Some(open) = rest.find('[') {
        let close = rest[open..].find(']').map_or(rest.len(), |c| open + c);
        let span: u64 = rest[open + 1..close]
            .split(',')
            .map(|part| {
                let numbers: Vec<u64> = part
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|d| d.parse().ok())
                    .collect();
                match (numbers.iter().min(), numbers.iter().max()) {
                    (Some(lo), Some(hi)) => hi - lo + 1,
                    _ => 1,
                }
            })
            .fold(0u64, u64::saturating_add);
        bound = bound.saturating_mul(span.max(1));
        rest = &rest[open + 1..];
    }
    let items = list.matches([',', ' ']).count() as u64 + 1;
    bound.saturating_mul(items)
}

/// Well-formed random lists expand exactly as scontrol expands them.
#[test]
fn random_lists_expand_like_scontrol() {
    let conf = Conf::new("random");
    let mut rng = Rng(0x5EED_CA4E_0001);
    let lists: Vec<String> = (0..3000).map(|_| valid_list(&mut rng, false)).collect();
    let started = Instant::now();
    let slurm = scontrol_all(&conf, &lists);
    let mut hosts_seen = 0;
    for (list, slurm) in lists.iter().zip(&slurm) {
        let ours = expand(list).unwrap_or_else(|e| panic!("{list:?}: {e}"));
        assert_eq!(&Scontrol::Hosts(ours.clone()), slurm, "{list:?}");
        assert_eq!(first(list).as_ref(), Ok(&ours[0]), "{list:?}");
        hosts_seen += ours.len();
    }
    eprintln!(
        "{} lists ({hosts_seen} hosts) agree with scontrol; {:.1?} of scontrol",
        lists.len(),
        started.elapsed()
    );
}

/// Mutated lists: we accept only what scontrol expands identically, and
/// refuse whatever it rejects.
#[test]
fn mutated_lists_are_refused_or_expand_like_scontrol() {
    let conf = Conf::new("mutated");
    let mut rng = Rng(0x5EED_CA4E_0002);
    let generated: Vec<String> = (0..1500).map(|_| mutated_list(&mut rng)).collect();
    let lists: Vec<String> = generated
        .iter()
        .filter(|l| size_bound(l) <= 200_000)
        .cloned()
        .collect();
    assert!(
        lists.len() * 10 >= generated.len() * 9,
        "{} of {} mutated lists are too large to try",
        generated.len() - lists.len(),
        generated.len()
    );
    let started = Instant::now();
    let slurm = scontrol_all(&conf, &lists);
    let (mut both_accept, mut both_refuse, mut only_slurm_accepts) = (0, 0, 0);
    let mut deliberate = std::collections::BTreeMap::new();
    for (list, slurm) in lists.iter().zip(&slurm) {
        match (expand(list), slurm) {
            (Ok(ours), slurm) => {
                assert_eq!(&Scontrol::Hosts(ours), slurm, "{list:?}");
                both_accept += 1;
            }
            (Err(_), Scontrol::Refused(..)) => both_refuse += 1,
            (Err(e), Scontrol::Hosts(_)) => {
                only_slurm_accepts += 1;
                // Which of our refusals Slurm lets pass (the variant's name).
                let kind = format!("{e:?}");
                let kind = kind.split([' ', '{', '(']).next().unwrap().to_string();
                *deliberate.entry(kind).or_insert(0) += 1;
            }
        }
    }
    eprintln!(
        "{both_accept} accepted by both, {both_refuse} refused by both, \
         {only_slurm_accepts} accepted by scontrol only (deliberately refused), \
         {} too large to try; {:.1?} of scontrol; our refusals scontrol accepts: {deliberate:?}",
        generated.len() - lists.len(),
        started.elapsed()
    );
    // Each kind must actually occur, or the mutations test nothing.
    for (kind, n) in [
        ("accepted by both", both_accept),
        ("refused by both", both_refuse),
        ("accepted by scontrol only", only_slurm_accepts),
    ] {
        assert!(
            n >= 100,
            "only {n} lists {kind}; the generator needs a look"
        );
    }
}

/// Edge cases, with what scontrol itself does with them.
#[test]
fn edge_cases_match_scontrol() {
    let conf = Conf::new("edge");
    // Accepted by both, expanded identically (the expansion is compared).
    let agreed = [
        "n[1-3]",
        "a,b[1-2],c",
        "n[9-11]",
        "n[01-3]",
        "n[001-010]",
        "n[1-002]",
        "n[9-010]",
        "rack[1-2]-n[01-02]",
        "a[1-2][3-4]",
        "a[1-2]b[3-4]c[5-6]",
        "a[1-2]b[3-4]c[5-6]d[7-8]",
        "n[1,1,2]",
        "n[1-3,2-4]",
        "n1,n1",
        "n1,n01,n001",
        "n[9,10],n11",
        "n[1-2],n3",
        "[1-2]",
        "007",
        "-x",
        "n[0-0]",
        "n[1-65536]",
        "n18446744073709551614",
        "n[18446744073709551613-18446744073709551614]",
    ];
    // Refused by both.
    let both_refuse = [
        "n[1-3]x",
        "a[1-2]b[3-4]c",
        "n[3-1]",
        "n[010-9]",
        "n[a-b]",
        "n[]",
        "n[-1]",
        "n[1--2]",
        "n[1-2]]",
        "n[0-65536]",
        "a[1-40000,1-40000]b[1]",
    ];
    // Accepted by scontrol, in some odd way, and refused by us.
    let only_slurm: [(&str, &[&str]); 10] = [
        ("n[1-3", &["n]"]),
        ("n1-3]", &["n1-3]"]),
        ("n[1-]", &["n1"]),
        ("n[+1]", &["n01"]),
        ("n1 n2", &["n1", "n2"]),
        ("a,,b", &["a", "b"]),
        (",n", &["n"]),
        ("", &[]),
        ("n18446744073709551616", &["n18446744073709551615"]),
        ("n99999999999999999999999", &["n00018446744073709551615"]),
    ];
    let mut lists: Vec<String> = agreed.iter().map(|s| s.to_string()).collect();
    lists.extend(both_refuse.iter().map(|s| s.to_string()));
    lists.extend(only_slurm.iter().map(|(s, _)| s.to_string()));
    let slurm = scontrol_all(&conf, &lists);
    let mut slurm = slurm.into_iter();
    for list in agreed {
        let ours = expand(list).unwrap_or_else(|e| panic!("{list:?}: {e}"));
        assert_eq!(Scontrol::Hosts(ours), slurm.next().unwrap(), "{list:?}");
    }
    for list in both_refuse {
        assert!(expand(list).is_err(), "we accept {list:?}");
        let s = slurm.next().unwrap();
        assert!(matches!(s, Scontrol::Refused(..)), "{list:?}: {s:?}");
    }
    for (list, slurm_hosts) in only_slurm {
        assert!(expand(list).is_err(), "we accept {list:?}");
        let want: Vec<String> = slurm_hosts.iter().map(|s| s.to_string()).collect();
        assert_eq!(slurm.next().unwrap(), Scontrol::Hosts(want), "{list:?}");
    }
}
