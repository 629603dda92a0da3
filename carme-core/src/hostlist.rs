//! Slurm hostlist expressions (`n[01-04,07],gpu1`): parsing and expansion.
//!
//! The prolog and epilog get the job's nodes as `SLURM_JOB_NODELIST`, a
//! hostlist expression, and need the node names one by one (BeeOND's node
//! file, the job's first node). [`expand`] gives the names in exactly the
//! order, and with exactly the duplicates, that `scontrol show hostnames`
//! (Slurm 22.05) prints; `tests/hostlist_scontrol.rs` checks that against the
//! installed `scontrol`.
//!
//! The grammar accepted is the part of Slurm's that Slurm itself produces and
//! that expands unambiguously:
//!
//! ```text
//! list  = item ("," item)*
//! item  = text                          plain name, printed as written
//!       | (text? group)+                bracket groups; nothing after the last
//! group = "[" range ("," range)* "]"
//! range = digits | digits "-" digits    lo <= hi; lo's width zero-pads
//! text  = [A-Za-z0-9._-]+
//! ```
//!
//! What Slurm does with a list (checked in 22.05's `src/common/hostlist.c`
//! and against `scontrol`), and how we match it:
//!
//! - Every number of a range is printed zero-padded to the width of the range's
//!   lower bound as written: `n[01-3]` is n01 n02 n03, `n[9-11]` is n9 n10
//!   n11, `n[1-002]` is n1 n2. The upper bound's width plays no part.
//! - Items and ranges keep their order and their duplicates: `n[1-3,2-4]` and
//!   `n1,n1` are printed as written, never sorted or merged.
//! - Several bracket groups form a product, but not in reading order: the
//!   last group varies fastest, then the first, the second, ... and the
//!   second-to-last slowest (Slurm expands groups right to left, recursing on
//!   the prefix). `a[1-2]b[3-4]c[5-6]` starts a1b3c5 a1b3c6 a2b3c5 a2b3c6
//!   a1b4c5. With two groups this is plain row-major order.
//! - Text after the last group is an error (`n[1-3]x`), text between groups
//!   is not (`rack[1-2]-n[01-02]`).
//! - One range may hold at most 65,536 hosts and one bracket group before the
//!   last at most 65,536 in all (Slurm's `MAX_RANGE`, `MAX_PREFIX_CNT`).
//!
//! Where Slurm accepts something odd we refuse it instead, so that whatever
//! we accept, `scontrol` expands identically: whitespace as a separator
//! (`n1 n2`), empty items (`a,,b`), a range without upper bound (`n[1-]` is
//! n1 to Slurm), signs and spaces inside brackets (`n[+1]`), an unclosed `[`
//! (Slurm turns `n[1-3` into the single host `n]`), a stray `]` (kept as part
//! of the name), characters outside `[A-Za-z0-9._-]` (node names end up in
//! BeeOND's node file and in ssh/pdsh command lines) and numbers of 2^64 - 1
//! or more (Slurm saturates, wraps or crashes there). On top of Slurm's
//! limits a list may expand to at most [`MAX_HOSTS`] names of at most
//! [`MAX_BYTES`] bytes in all, so a hostile list cannot exhaust memory or
//! time (`"a"`×1000 + `[1-1000][1-1000]`, 1 KB, would be 1 GB of names);
//! both are known exactly ([`measure`]) before anything is expanded.

use std::fmt;

/// Most host names one list may expand to.
pub const MAX_HOSTS: usize = 1_000_000;

/// Most bytes the names of one list may take in all (separators not
/// counted): 16 MiB, a million names of 16 characters.
pub const MAX_BYTES: u64 = 16 << 20;

/// Most hosts one range may hold: Slurm refuses more (`MAX_RANGE`).
pub const MAX_RANGE_HOSTS: u64 = 64 * 1024;

/// Most hosts a bracket group before the last may hold in all: Slurm
/// refuses more (`MAX_PREFIX_CNT`).
pub const MAX_PREFIX_GROUP_HOSTS: u64 = 64 * 1024;

/// Most ranges one bracket group may hold. Slurm's own limit is 256 Ki
/// (`MAX_RANGES`, where it aborts the process); ours is lower, like the
/// per-range limit.
pub const MAX_RANGES_PER_GROUP: usize = 64 * 1024;

/// Largest number accepted. Slurm handles 2^64 - 1 inconsistently (a range
/// ending there crashes `scontrol`, a longer suffix saturates to it).
const MAX_NUMBER: u64 = u64::MAX - 1;

/// Why a hostlist expression was refused. Positions count characters from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostlistError {
    /// The list is empty.
    Empty,
    /// Two commas in a row, or a comma at the start or end.
    EmptyItem { position: usize },
    /// A character no node name or range may contain.
    BadChar { ch: char, position: usize },
    /// A `[` without its `]`.
    UnclosedBracket { position: usize },
    /// A `]` without a `[` before it.
    UnopenedBracket { position: usize },
    /// A `[` inside brackets.
    NestedBracket { position: usize },
    /// Text after the last bracket group of an item (`n[1-3]x`).
    TextAfterBrackets { item: String },
    /// A range that is not `N` or `N-M` (empty, no bound, two dashes).
    BadRange { range: String, why: &'static str },
    /// A range whose lower bound is above its upper bound.
    ReversedRange { range: String },
    /// A number of 2^64 - 1 or more.
    NumberTooLarge { number: String },
    /// A range of more than [`MAX_RANGE_HOSTS`] hosts.
    RangeTooLarge { range: String, count: u64 },
    /// A group before the last of more than [`MAX_PREFIX_GROUP_HOSTS`] hosts.
    GroupTooLarge { group: String, count: u64 },
    /// A group of more than [`MAX_RANGES_PER_GROUP`] ranges.
    TooManyRanges { group: String },
    /// The list expands to more than [`MAX_HOSTS`] names.
    TooManyHosts,
    /// The names the list expands to take more than [`MAX_BYTES`].
    TooManyBytes,
}

impl fmt::Display for HostlistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostlistError::Empty => write!(f, "the hostlist is empty"),
            HostlistError::EmptyItem { position } => {
                write!(f, "empty item at position {position} (stray comma)")
            }
            HostlistError::BadChar { ch, position } => write!(
                f,
                "character {ch:?} at position {position} is not allowed (node names use \
                 A-Z a-z 0-9 . _ -, ranges inside [] use digits , -)"
            ),
            HostlistError::UnclosedBracket { position } => {
                write!(f, "'[' at position {position} is never closed")
            }
            HostlistError::UnopenedBracket { position } => {
                write!(f, "']' at position {position} has no '[' before it")
            }
            HostlistError::NestedBracket { position } => {
                write!(f, "'[' at position {position} is inside another '[...]'")
            }
            HostlistError::TextAfterBrackets { item } => write!(
                f,
                "{item:?}: Slurm allows no text after the last '[...]' of a name"
            ),
            HostlistError::BadRange { range, why } => write!(f, "range {range:?}: {why}"),
            HostlistError::ReversedRange { range } => write!(
                f,
                "range {range:?} is reversed (the first number must not be above the second)"
            ),
            HostlistError::NumberTooLarge { number } => {
                write!(f, "number {number} is too large (limit {MAX_NUMBER})")
            }
            HostlistError::RangeTooLarge { range, count } => write!(
                f,
                "range {range:?} holds {count} hosts; Slurm allows at most {MAX_RANGE_HOSTS}"
            ),
            HostlistError::GroupTooLarge { group, count } => write!(
                f,
                "[{group}] holds {count} hosts; Slurm allows at most {MAX_PREFIX_GROUP_HOSTS} \
                 in a '[...]' before the last"
            ),
            HostlistError::TooManyRanges { group } => {
                let shown: String = group.chars().take(40).collect();
                write!(
                    f,
                    "[{shown}...] holds more than {MAX_RANGES_PER_GROUP} ranges"
                )
            }
            HostlistError::TooManyHosts => {
                write!(f, "the hostlist expands to more than {MAX_HOSTS} hosts")
            }
            HostlistError::TooManyBytes => write!(
                f,
                "the hostlist expands to names of more than {MAX_BYTES} bytes in all"
            ),
        }
    }
}

impl std::error::Error for HostlistError {}

/// How many names a list stands for, and how many bytes they take in all
/// (separators not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub hosts: usize,
    pub bytes: u64,
}

impl Size {
    /// The length of the names joined by one-byte separators.
    pub fn joined_len(&self) -> u64 {
        self.bytes + self.hosts.saturating_sub(1) as u64
    }
}

/// The [`Size`] of what `list` expands to, after checking it as [`expand`]
/// does, without expanding it.
pub fn measure(list: &str) -> Result<Size, HostlistError> {
    total_size(&parse(list)?)
}

/// Every host name `list` stands for, in `scontrol show hostnames` order.
pub fn expand(list: &str) -> Result<Vec<String>, HostlistError> {
    let items = parse(list)?;
    let mut hosts = Vec::with_capacity(total_size(&items)?.hosts);
    for item in &items {
        item.expand_into(&mut hosts);
    }
    Ok(hosts)
}

/// The first host of `list` (the job's first node, where BeeOND starts),
/// after checking the whole list as [`expand`] does, without expanding it.
pub fn first(list: &str) -> Result<String, HostlistError> {
    let items = parse(list)?;
    total_size(&items)?;
    // `parse` refuses empty lists and every item stands for at least one host.
    Ok(items[0].first())
}

/// One bracket group: the text before it and its ranges, in order.
#[derive(Debug)]
struct Group {
    before: String,
    ranges: Vec<Range>,
}

/// `lo-hi`, printed zero-padded to `width` digits.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: u64,
    hi: u64,
    width: usize,
}

/// One comma-separated item: a plain name, or groups forming a product.
#[derive(Debug)]
enum Item {
    Plain(String),
    Product(Vec<Group>),
}

impl Group {
    fn count(&self) -> u64 {
        // Each range holds at most MAX_RANGE_HOSTS and there are at most
        // MAX_RANGES_PER_GROUP of them: 2^32 at most, no overflow.
        self.ranges.iter().map(|r| r.hi - r.lo + 1).sum()
    }

    /// Bytes of the group's part of every name it contributes to: its
    /// text and its numbers (each as wide as its range's width or its
    /// digits), summed over its numbers. At most 2^32 numbers of at most
    /// 20 digits plus the text: no overflow in u128.
    fn bytes(&self) -> u128 {
        let mut total = self.count() as u128 * self.before.len() as u128;
        for r in &self.ranges {
            // Numbers of d digits are [10^(d-1), 10^d - 1] (0 has one).
            let mut low: u64 = 0;
            for d in 1..=20u32 {
                let high = 10u64.checked_pow(d).map_or(u64::MAX, |p| p - 1);
                let (a, b) = (r.lo.max(low), r.hi.min(high));
                if a <= b {
                    total += u128::from(b - a + 1) * (r.width.max(d as usize) as u128);
                }
                if high >= r.hi {
                    break;
                }
                low = high + 1;
            }
        }
        total
    }

    /// Each number of the group, formatted, in order.
    fn numbers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.ranges {
            for n in r.lo..=r.hi {
                out.push(format!("{n:0width$}", width = r.width));
            }
        }
        out
    }
}

impl Item {
    /// How many hosts the item stands for; `None` past `u64`.
    fn count(&self) -> Option<u64> {
        match self {
            Item::Plain(_) => Some(1),
            Item::Product(groups) => groups
                .iter()
                .try_fold(1u64, |n, g| n.checked_mul(g.count())),
        }
    }

    /// Bytes of all the item's names together; `None` past `u128`.
    fn bytes(&self) -> Option<u128> {
        match self {
            Item::Plain(name) => Some(name.len() as u128),
            Item::Product(groups) => {
                // Each group's part appears once per combination of the
                // other groups' numbers.
                let mut total: u128 = 0;
                for (g, group) in groups.iter().enumerate() {
                    let others = groups
                        .iter()
                        .enumerate()
                        .filter(|&(h, _)| h != g)
                        .try_fold(1u128, |n, (_, o)| n.checked_mul(u128::from(o.count())))?;
                    total = total.checked_add(group.bytes().checked_mul(others)?)?;
                }
                Some(total)
            }
        }
    }

    /// The order in which Slurm nests the groups, outermost first: the
    /// second-to-last group, then backwards to the first, then the last.
    fn nesting(groups: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..groups.saturating_sub(1)).rev().collect();
        order.push(groups - 1);
        order
    }

    fn host(groups: &[Group], numbers: &[Vec<String>], index: &[usize]) -> String {
        let mut name = String::new();
        for (g, group) in groups.iter().enumerate() {
            name.push_str(&group.before);
            name.push_str(&numbers[g][index[g]]);
        }
        name
    }

    fn first(&self) -> String {
        match self {
            Item::Plain(name) => name.clone(),
            Item::Product(groups) => groups
                .iter()
                .map(|g| {
                    let r = g.ranges[0];
                    format!("{}{:0width$}", g.before, r.lo, width = r.width)
                })
                .collect(),
        }
    }

    fn expand_into(&self, hosts: &mut Vec<String>) {
        let groups = match self {
            Item::Plain(name) => {
                hosts.push(name.clone());
                return;
            }
            Item::Product(groups) => groups,
        };
        let numbers: Vec<Vec<String>> = groups.iter().map(Group::numbers).collect();
        let order = Item::nesting(groups.len());
        let mut index = vec![0usize; groups.len()];
        // An odometer whose fastest digit is the last of `order`.
        'hosts: loop {
            hosts.push(Item::host(groups, &numbers, &index));
            for &g in order.iter().rev() {
                index[g] += 1;
                if index[g] < numbers[g].len() {
                    continue 'hosts;
                }
                index[g] = 0;
            }
            break;
        }
    }
}

/// Sum of the items' host counts and bytes, refused past [`MAX_HOSTS`]
/// or [`MAX_BYTES`].
fn total_size(items: &[Item]) -> Result<Size, HostlistError> {
    let mut hosts: u64 = 0;
    let mut bytes: u128 = 0;
    for item in items {
        hosts = item
            .count()
            .and_then(|n| hosts.checked_add(n))
            .filter(|&n| n <= MAX_HOSTS as u64)
            .ok_or(HostlistError::TooManyHosts)?;
        bytes = item
            .bytes()
            .and_then(|n| bytes.checked_add(n))
            .filter(|&n| n <= u128::from(MAX_BYTES))
            .ok_or(HostlistError::TooManyBytes)?;
    }
    Ok(Size {
        hosts: hosts as usize,
        bytes: bytes as u64,
    })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Split `list` into items and parse each.
fn parse(list: &str) -> Result<Vec<Item>, HostlistError> {
    if list.is_empty() {
        return Err(HostlistError::Empty);
    }
    // All accepted characters are ASCII, so byte offsets are positions.
    let mut items = Vec::new();
    let mut start = 0;
    let mut open: Option<usize> = None;
    for (i, c) in list.char_indices() {
        match (c, open) {
            ('[', None) => open = Some(i),
            ('[', Some(_)) => return Err(HostlistError::NestedBracket { position: i + 1 }),
            (']', None) => return Err(HostlistError::UnopenedBracket { position: i + 1 }),
            (']', Some(_)) => open = None,
            (',', None) => {
                items.push(parse_item(&list[start..i], start)?);
                start = i + 1;
            }
            (c, Some(_)) if c.is_ascii_digit() || c == '-' || c == ',' => {}
            (c, None) if is_name_char(c) => {}
            (ch, _) => {
                let position = list[..i].chars().count() + 1;
                return Err(HostlistError::BadChar { ch, position });
            }
        }
    }
    if let Some(i) = open {
        return Err(HostlistError::UnclosedBracket { position: i + 1 });
    }
    items.push(parse_item(&list[start..], start)?);
    Ok(items)
}

/// Parse one item; `offset` is where it starts in the list. The characters
/// and brackets were checked by `parse`.
fn parse_item(item: &str, offset: usize) -> Result<Item, HostlistError> {
    if item.is_empty() {
        return Err(HostlistError::EmptyItem {
            position: offset + 1,
        });
    }
    let mut groups = Vec::new();
    let mut rest = item;
    while let Some(open) = rest.find('[') {
        let close = open + rest[open..].find(']').expect("brackets balanced by parse");
        let ranges = parse_group(&rest[open + 1..close])?;
        groups.push(Group {
            before: rest[..open].to_string(),
            ranges,
        });
        rest = &rest[close + 1..];
    }
    if groups.is_empty() {
        check_trailing_number(item)?;
        return Ok(Item::Plain(item.to_string()));
    }
    if !rest.is_empty() {
        return Err(HostlistError::TextAfterBrackets {
            item: item.to_string(),
        });
    }
    // Every group but the last is a prefix group to Slurm, with its own limit.
    for group in &groups[..groups.len() - 1] {
        let count = group.count();
        if count > MAX_PREFIX_GROUP_HOSTS {
            return Err(HostlistError::GroupTooLarge {
                group: group_text(group),
                count,
            });
        }
    }
    Ok(Item::Product(groups))
}

/// The ranges of a group as written (for messages).
fn group_text(group: &Group) -> String {
    let parts: Vec<String> = group
        .ranges
        .iter()
        .map(|r| {
            if r.lo == r.hi {
                format!("{:0w$}", r.lo, w = r.width)
            } else {
                format!("{:0w$}-{}", r.lo, r.hi, w = r.width)
            }
        })
        .collect();
    parts.join(",")
}

/// Slurm reprints a plain name's trailing digits through an unsigned long:
/// refuse a value it cannot hold unchanged.
fn check_trailing_number(name: &str) -> Result<(), HostlistError> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        parse_number(&name[name.len() - digits..])?;
    }
    Ok(())
}

fn parse_number(digits: &str) -> Result<u64, HostlistError> {
    digits
        .parse::<u64>()
        .ok()
        .filter(|&n| n <= MAX_NUMBER)
        .ok_or_else(|| HostlistError::NumberTooLarge {
            number: digits.to_string(),
        })
}

/// The inside of `[...]`: comma-separated `N` or `N-M`.
fn parse_group(text: &str) -> Result<Vec<Range>, HostlistError> {
    let mut ranges = Vec::new();
    for part in text.split(',') {
        if ranges.len() == MAX_RANGES_PER_GROUP {
            return Err(HostlistError::TooManyRanges {
                group: text.to_string(),
            });
        }
        ranges.push(parse_range(part)?);
    }
    Ok(ranges)
}

fn parse_range(text: &str) -> Result<Range, HostlistError> {
    let bad = |why| HostlistError::BadRange {
        range: text.to_string(),
        why,
    };
    if text.is_empty() {
        return Err(bad("empty range"));
    }
    let (lo_text, hi_text) = match text.split_once('-') {
        None => (text, text),
        Some(("", _)) => return Err(bad("no lower bound")),
        Some((_, "")) => return Err(bad("no upper bound")),
        Some((_, hi)) if hi.contains('-') => return Err(bad("more than one '-'")),
        Some((lo, hi)) => (lo, hi),
    };
    let lo = parse_number(lo_text)?;
    let hi = parse_number(hi_text)?;
    if lo > hi {
        return Err(HostlistError::ReversedRange {
            range: text.to_string(),
        });
    }
    let count = hi - lo + 1;
    if count > MAX_RANGE_HOSTS {
        return Err(HostlistError::RangeTooLarge {
            range: text.to_string(),
            count,
        });
    }
    Ok(Range {
        lo,
        hi,
        width: lo_text.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(list: &str) -> Vec<String> {
        expand(list).unwrap_or_else(|e| panic!("{list:?}: {e}"))
    }

    #[test]
    fn expands_like_scontrol() {
        // (list, what `scontrol show hostnames` prints, space-separated)
        let table: &[(&str, &str)] = &[
            ("n1", "n1"),
            ("n[1-3]", "n1 n2 n3"),
            ("n[1-3,7]", "n1 n2 n3 n7"),
            ("a,b[1-2],c", "a b1 b2 c"),
            ("n[001-003]", "n001 n002 n003"),
            ("n[9-11]", "n9 n10 n11"),
            ("n[01-3]", "n01 n02 n03"),
            ("n[1-002]", "n1 n2"),
            ("n[9-010]", "n9 n10"),
            ("n[0-0]", "n0"),
            ("n[00-00]", "n00"),
            ("n[5]", "n5"),
            ("n[1,1,2]", "n1 n1 n2"),
            ("n[1-3,2-4]", "n1 n2 n3 n2 n3 n4"),
            ("n1,n1", "n1 n1"),
            ("n1,n01,n001", "n1 n01 n001"),
            ("n[1-2],n[1-2]", "n1 n2 n1 n2"),
            ("[1-2]", "1 2"),
            ("5", "5"),
            ("007", "007"),
            (
                "rack[1-2]-n[01-02]",
                "rack1-n01 rack1-n02 rack2-n01 rack2-n02",
            ),
            ("a[1-2][3-4]", "a13 a14 a23 a24"),
            ("n[1-2]-[3]", "n1-3 n2-3"),
            ("a[1-3]b[01-2]", "a1b01 a1b02 a2b01 a2b02 a3b01 a3b02"),
            (
                "a[1-2]b[3-4]c[5-6]",
                "a1b3c5 a1b3c6 a2b3c5 a2b3c6 a1b4c5 a1b4c6 a2b4c5 a2b4c6",
            ),
            (
                "a[1-2]b[3-4]c[5]d[7-8]",
                "a1b3c5d7 a1b3c5d8 a2b3c5d7 a2b3c5d8 a1b4c5d7 a1b4c5d8 a2b4c5d7 a2b4c5d8",
            ),
            ("a.b_c-d[1-2]", "a.b_c-d1 a.b_c-d2"),
            ("-x", "-x"),
            ("n18446744073709551614", "n18446744073709551614"),
            (
                "n0000000000000000000000000001",
                "n0000000000000000000000000001",
            ),
        ];
        for (list, want) in table {
            let want: Vec<&str> = want.split(' ').collect();
            assert_eq!(names(list), want, "{list}");
            assert_eq!(first(list).unwrap(), want[0], "first of {list}");
        }
    }

    #[test]
    fn refuses_malformed_lists() {
        use HostlistError as E;
        let table: &[(&str, E)] = &[
            ("", E::Empty),
            (",n", E::EmptyItem { position: 1 }),
            ("n,", E::EmptyItem { position: 3 }),
            ("a,,b", E::EmptyItem { position: 3 }),
            (
                "n1 n2",
                E::BadChar {
                    ch: ' ',
                    position: 3,
                },
            ),
            (
                "n[1, 2]",
                E::BadChar {
                    ch: ' ',
                    position: 5,
                },
            ),
            (
                "n[+1]",
                E::BadChar {
                    ch: '+',
                    position: 3,
                },
            ),
            (
                "n[a-b]",
                E::BadChar {
                    ch: 'a',
                    position: 3,
                },
            ),
            (
                "ü1",
                E::BadChar {
                    ch: 'ü',
                    position: 1,
                },
            ),
            (
                "n;rm",
                E::BadChar {
                    ch: ';',
                    position: 2,
                },
            ),
            ("n[1-3", E::UnclosedBracket { position: 2 }),
            ("n1-3]", E::UnopenedBracket { position: 5 }),
            ("n[1-2]]", E::UnopenedBracket { position: 7 }),
            ("n[[1]]", E::NestedBracket { position: 3 }),
            (
                "n[1-3]x",
                E::TextAfterBrackets {
                    item: "n[1-3]x".into(),
                },
            ),
            (
                "a[1-2]b[3-4]c",
                E::TextAfterBrackets {
                    item: "a[1-2]b[3-4]c".into(),
                },
            ),
            (
                "n[]",
                E::BadRange {
                    range: "".into(),
                    why: "empty range",
                },
            ),
            (
                "n[1,]",
                E::BadRange {
                    range: "".into(),
                    why: "empty range",
                },
            ),
            (
                "n[-1]",
                E::BadRange {
                    range: "-1".into(),
                    why: "no lower bound",
                },
            ),
            (
                "n[1-]",
                E::BadRange {
                    range: "1-".into(),
                    why: "no upper bound",
                },
            ),
            (
                "n[1--2]",
                E::BadRange {
                    range: "1--2".into(),
                    why: "more than one '-'",
                },
            ),
            (
                "n[1-2-3]",
                E::BadRange {
                    range: "1-2-3".into(),
                    why: "more than one '-'",
                },
            ),
            (
                "n[3-1]",
                E::ReversedRange {
                    range: "3-1".into(),
                },
            ),
            (
                "n[010-9]",
                E::ReversedRange {
                    range: "010-9".into(),
                },
            ),
            (
                "n[18446744073709551615]",
                E::NumberTooLarge {
                    number: "18446744073709551615".into(),
                },
            ),
            (
                "n99999999999999999999999",
                E::NumberTooLarge {
                    number: "99999999999999999999999".into(),
                },
            ),
            (
                "n[0-65536]",
                E::RangeTooLarge {
                    range: "0-65536".into(),
                    count: 65537,
                },
            ),
            (
                "a[1-40000,1-40000]b[1]",
                E::GroupTooLarge {
                    group: "1-40000,1-40000".into(),
                    count: 80000,
                },
            ),
            ("a[1-1000]b[1-1001]", E::TooManyHosts),
            ("a[1-60000]b[1-60000]c[1-60000]d[1-2]", E::TooManyHosts),
        ];
        for (list, want) in table {
            assert_eq!(expand(list).as_ref(), Err(want), "{list}");
            assert_eq!(first(list).as_ref(), Err(want), "first of {list}");
        }
    }

    #[test]
    fn limits_are_inclusive() {
        assert_eq!(expand("n[1-65536]").unwrap().len(), 65536);
        assert_eq!(expand("a[1-1000]b[1-1000]").unwrap().len(), MAX_HOSTS);
        assert_eq!(first("a[1-1000]b[0001-1000]").unwrap(), "a1b0001");
        // Many small ranges: the count, not the text, is what is bounded.
        let ranges = vec!["1"; MAX_RANGES_PER_GROUP].join(",");
        assert_eq!(expand(&format!("n[{ranges}]")).unwrap().len(), 65536);
        let over = format!("n[{ranges},1]");
        assert!(matches!(
            expand(&over),
            Err(HostlistError::TooManyRanges { .. })
        ));
    }

    /// Finding 2 of issue 14: 1 KB of text expanded to 1.95 GiB in 7 s.
    #[test]
    fn bytes_are_bounded_before_expanding() {
        let bomb = format!("{}[1-1000][1-1000]", "a".repeat(1000));
        let t = std::time::Instant::now();
        assert_eq!(expand(&bomb), Err(HostlistError::TooManyBytes));
        assert_eq!(first(&bomb), Err(HostlistError::TooManyBytes));
        assert_eq!(measure(&bomb), Err(HostlistError::TooManyBytes));
        assert!(t.elapsed().as_millis() < 500, "{:?}", t.elapsed());
        // Just at the limit is fine, one byte more is not.
        let per = (MAX_BYTES / 1000) as usize - 3; // names `x…x` + 3 digits
        let exact = format!(
            "{}[100-999],{}",
            "x".repeat(per),
            "y".repeat((MAX_BYTES - 900 * (per as u64 + 3)) as usize)
        );
        assert_eq!(measure(&exact).unwrap().bytes, MAX_BYTES);
        assert_eq!(
            measure(&format!("{exact}y")),
            Err(HostlistError::TooManyBytes)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        // Bounded memory and time whatever the list: long names times
        // large products are refused from their size alone, before
        // anything is expanded.
        #[test]
        fn expansion_is_bounded(
            prefix in 0usize..3000, a in 1u64..2000, b in 1u64..2000, plain in 0usize..2000,
        ) {
            let list = format!("{}[1-{a}]x[1-{b}],{}", "p".repeat(prefix), "q".repeat(plain + 1));
            let t = std::time::Instant::now();
            match expand(&list) {
                Ok(hosts) => {
                    let bytes: u64 = hosts.iter().map(|h| h.len() as u64).sum();
                    prop_assert!(bytes <= MAX_BYTES && hosts.len() <= MAX_HOSTS);
                }
                Err(e) => prop_assert!(
                    matches!(e, HostlistError::TooManyBytes | HostlistError::TooManyHosts),
                    "{e}"
                ),
            }
            prop_assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
        }
    }

    proptest! {
        // `measure` is exact: it says what `expand` produces.
        #[test]
        fn measure_is_exact(list in "([a-c]{0,3}(\\[[0-9]{1,3}(-[0-9]{1,3})?(,[0-9]{1,2})?\\])?){1,3}(,[a-c]{1,3}[0-9]{0,2}){0,2}") {
            match (measure(&list), expand(&list)) {
                (Ok(size), Ok(hosts)) => {
                    prop_assert_eq!(size.hosts, hosts.len());
                    prop_assert_eq!(size.bytes, hosts.iter().map(|h| h.len() as u64).sum::<u64>());
                    prop_assert_eq!(size.joined_len(), hosts.join(",").len() as u64);
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
            }
        }
    }

    #[test]
    fn messages_say_what_and_where() {
        let e = expand("n[3-1]").unwrap_err().to_string();
        assert!(e.contains("\"3-1\"") && e.contains("reversed"), "{e}");
        let e = expand("n[1-3").unwrap_err().to_string();
        assert!(
            e.contains("position 2") && e.contains("never closed"),
            "{e}"
        );
        let e = expand("n[1-3]x").unwrap_err().to_string();
        assert!(e.contains("no text after"), "{e}");
        let e = expand("a[1-1000]b[1-1001]").unwrap_err().to_string();
        assert!(e.contains("1000000"), "{e}");
    }

    proptest! {
        #[test]
        fn never_panics_and_accepts_only_clean_names(list in "[a-c0-9\\[\\],\\- ]{0,24}") {
            if let Ok(hosts) = expand(&list) {
                prop_assert!(!hosts.is_empty() && hosts.len() <= MAX_HOSTS);
                prop_assert_eq!(first(&list).unwrap(), hosts[0].clone());
                for h in &hosts {
                    prop_assert!(!h.is_empty() && h.chars().all(is_name_char), "{:?}", h);
                }
            } else {
                prop_assert!(first(&list).is_err());
            }
        }

        #[test]
        fn count_is_the_product_of_the_groups(
            a in 0u64..50, an in 1u64..5, b in 0u64..50, bn in 1u64..5, w in 1usize..4,
        ) {
            let list = format!("x[{a:0w$}-{}]y[{b}-{}]", a + an - 1, b + bn - 1);
            let hosts = expand(&list).unwrap();
            prop_assert_eq!(hosts.len() as u64, an * bn);
            prop_assert_eq!(&hosts[0], &format!("x{a:0w$}y{b}"));
        }
    }
}
