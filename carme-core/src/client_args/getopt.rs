//! A model of GNU `getopt_long` as the clients call it (option string
//! starting with `+`: options stop at the first non-option).

use super::options::option_table;
use super::precedence::{Cli, EnvVars, Field};
use super::{ArgKind, Client, OptSpec, Release};

/// A client's table plus the SPANK options the caller vouches for.
pub(super) struct Table<'a> {
    pub(super) builtin: &'static [OptSpec],
    pub(super) plugin: &'a [OptSpec],
}

impl<'a> Table<'a> {
    pub(super) fn new(release: Release, client: Client, plugin: &'a [OptSpec]) -> Self {
        Table {
            builtin: option_table(release, client),
            plugin,
        }
    }

    /// A field's input variables, when this release's client has the option.
    pub(super) fn env_of(&self, field: &Field, vars: Option<EnvVars>) -> Option<EnvVars> {
        vars.filter(|_| self.builtin.iter().any(|o| o.long == field.canon))
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &OptSpec> {
        self.builtin.iter().chain(self.plugin)
    }

    pub(super) fn short(&self, c: u8) -> Option<&OptSpec> {
        // SPANK options are long-only.
        let c = c.is_ascii().then_some(c as char)?;
        self.builtin.iter().find(|o| o.short == Some(c))
    }

    pub(super) fn long(&self, name: &str) -> Lookup<'_> {
        // The empty name ("--=x") matches every option as a prefix.
        if let Some(o) = self.all().find(|o| o.long == name) {
            return Lookup::Found(o);
        }
        let mut found: Option<&OptSpec> = None;
        for o in self.all().filter(|o| o.long.starts_with(name)) {
            match found {
                None => found = Some(o),
                // glibc: a second abbreviation match is ambiguous unless it is
                // the same option under another name (same has_arg and val).
                Some(first) if canonical(first.long) != canonical(o.long) || first.arg != o.arg => {
                    return Lookup::Ambiguous;
                }
                Some(_) => {}
            }
        }
        found.map_or(Lookup::NotFound, Lookup::Found)
    }
}

pub(super) enum Lookup<'t> {
    Found(&'t OptSpec),
    Ambiguous,
    NotFound,
}

/// Long names Slurm registers twice for one option (same `val`).
pub(super) const ALIASES: &[(&str, &str)] = &[
    ("cpu_bind", "cpu-bind"),
    ("pack-group", "het-group"),
    ("tasks-per-node", "ntasks-per-node"),
];

pub(super) fn canonical(long: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == long)
        .map_or(long, |(_, canon)| canon)
}

/// Where getopt stopped understanding the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stop {
    /// First word whose meaning is unknown; it and all after it are opaque.
    pub(super) at: usize,
    pub(super) why: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scan {
    /// Options understood, in order: (canonical long name, value).
    pub(super) opts: Vec<(&'static str, Option<String>)>,
    /// getopt's final optind (first word after the options), or where
    /// understanding stopped.
    pub(super) end: Result<usize, Stop>,
}

impl Scan {
    pub(super) fn empty() -> Self {
        Scan {
            opts: Vec::new(),
            end: Ok(1),
        }
    }

    /// The field's last value on these words (string options: last one wins).
    pub(super) fn value(&self, words: &[String], field: &Field) -> Cli {
        if let Err(stop) = &self.end
            && could_set(&words[stop.at..], field)
        {
            return Cli::Unknown;
        }
        match self
            .opts
            .iter()
            .rev()
            .find(|(name, _)| *name == field.canon)
        {
            Some((_, v)) => Cli::Set(v.clone().unwrap_or_default()),
            None => Cli::NotSet,
        }
    }

    pub(super) fn flag(&self, words: &[String], field: &Field) -> Option<bool> {
        match self.value(words, field) {
            Cli::Set(_) => Some(true),
            Cli::NotSet => Some(false),
            Cli::Unknown => None,
        }
    }
}

/// Could any of these words, read as an option, set the field? Used for the
/// words after an unknown option, where it is unknown which words are
/// options and which are arguments.
pub(super) fn could_set(words: &[String], field: &Field) -> bool {
    words.iter().any(|w| {
        if let Some(body) = w.strip_prefix("--") {
            let name = body.split('=').next().unwrap_or("");
            !name.is_empty() && field.names.iter().any(|n| n.starts_with(name))
        } else if w.len() > 1 && w.starts_with('-') {
            field.short.is_some_and(|c| w[1..].contains(c))
        } else {
            false
        }
    })
}

/// GNU getopt_long over `words` (words[0] is the program name) with a `+`
/// option string: stop at the first non-option, after `--`, or where the
/// meaning of a word cannot be known.
pub(super) fn getopt(table: &Table, words: &[String]) -> Scan {
    let mut opts = Vec::new();
    let stop = |at: usize, why: String, opts: Vec<_>| Scan {
        opts,
        end: Err(Stop { at, why }),
    };
    let mut i = 1;
    while i < words.len() {
        let w = &words[i];
        if w == "--" {
            return Scan {
                opts,
                end: Ok(i + 1),
            };
        }
        if w.len() < 2 || !w.starts_with('-') {
            return Scan { opts, end: Ok(i) };
        }
        if let Some(body) = w.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            match table.long(name) {
                Lookup::Found(spec) => match (spec.arg, inline) {
                    (ArgKind::None, Some(_)) => {
                        let why = format!(
                            "'--{}' takes no argument (the client rejects '{w}')",
                            spec.long
                        );
                        return stop(i, why, opts);
                    }
                    (ArgKind::None, None) => opts.push((canonical(spec.long), None)),
                    (_, Some(v)) => opts.push((canonical(spec.long), Some(v.to_string()))),
                    (ArgKind::Optional, None) => opts.push((canonical(spec.long), None)),
                    (ArgKind::Required, None) => match words.get(i + 1) {
                        Some(v) => {
                            opts.push((canonical(spec.long), Some(v.clone())));
                            i += 1;
                        }
                        None => {
                            let why = format!("'{w}' lacks its argument (the client rejects it)");
                            return stop(i, why, opts);
                        }
                    },
                },
                Lookup::Ambiguous => {
                    return stop(i, format!("option '{w}' is ambiguous"), opts);
                }
                // An unknown `--name=value` (a SPANK option of another plugin,
                // or an error the client exits on) never takes the next word.
                Lookup::NotFound if inline.is_some() => {}
                Lookup::NotFound => {
                    let why = format!(
                        "unrecognized option '{w}' (a SPANK option?): whether it takes the next word is unknown"
                    );
                    return stop(i, why, opts);
                }
            }
        } else {
            // A bundle of short options: "-vN2", "-C", "-Ccarme".
            let bytes = w.as_bytes();
            let mut k = 1;
            while k < bytes.len() {
                let Some(spec) = table.short(bytes[k]) else {
                    let why = format!("invalid option in '{w}'");
                    return stop(i, why, opts);
                };
                let rest = &w[k + 1..];
                match spec.arg {
                    ArgKind::None => {
                        opts.push((canonical(spec.long), None));
                        k += 1;
                        continue;
                    }
                    ArgKind::Optional => {
                        let v = (!rest.is_empty()).then(|| rest.to_string());
                        opts.push((canonical(spec.long), v));
                    }
                    ArgKind::Required if !rest.is_empty() => {
                        opts.push((canonical(spec.long), Some(rest.to_string())));
                    }
                    ArgKind::Required => match words.get(i + 1) {
                        Some(v) => {
                            opts.push((canonical(spec.long), Some(v.clone())));
                            i += 1;
                        }
                        None => {
                            let why = format!("'{w}' lacks its argument (the client rejects it)");
                            return stop(i, why, opts);
                        }
                    },
                }
                break;
            }
        }
        i += 1;
    }
    Scan { opts, end: Ok(i) }
}
