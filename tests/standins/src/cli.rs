//! Command-line parsing with the real tools' (cobra + pflag) rules.
//!
//! `<tool> [global flags] exec [exec flags] IMAGE COMMAND [ARGS...]`:
//! both flag sets stop at the first word that is not a flag (the tools set
//! `SetInterspersed(false)` on the root and on every subcommand), or after
//! `--`. Values are written `--flag value`, `--flag=value`, `-f value`,
//! `-fvalue` or `-f=value`; boolean shorthands combine (`-ec`). Global flags
//! are only recognised before the subcommand, as in the real tools.
//!
//! Errors the real tools report through cobra (unknown flag, missing value,
//! bad value, too few arguments) keep their wording and exit status 1; the
//! stand-in's own refusals (subcommands other than exec, undocumented flags)
//! are FATAL with status 255.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::csv;
use crate::flags::{self, Emulation, FlagSpec, GLOBAL_FLAGS, Kind, Visibility};
use crate::report::{Diagnostics, Refusal, Verbosity};
use crate::tool::Tool;

/// A parsed invocation of `exec`.
#[derive(Debug)]
pub struct Invocation {
    /// Accepted global flags that were given, by long name.
    pub global_flags: BTreeMap<&'static str, bool>,
    pub exec_flags: FlagValues,
    pub image: String,
    /// COMMAND and its ARGS.
    pub command: Vec<String>,
}

/// A flag's value, typed by its [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Str(String),
    Int(i64),
    List(Vec<String>),
    Map(BTreeMap<String, String>),
}

/// The exec flags that were set, from the command line or the environment.
#[derive(Debug, Default)]
pub struct FlagValues {
    values: BTreeMap<&'static str, Value>,
    /// Flag name -> the environment variables that set it.
    from_env: BTreeMap<&'static str, Vec<String>>,
    /// `--cwd` and `--pwd` write the same variable in the real tools, so the
    /// one given last decides.
    cwd: Option<String>,
}

impl FlagValues {
    /// Apply one occurrence of `spec` with `raw`, like pflag's `Value.Set`.
    /// The error is pflag's reason, without the flag name.
    fn set(&mut self, spec: &FlagSpec, raw: &str) -> Result<(), String> {
        let entry = self.values.get_mut(spec.name);
        match spec.kind {
            Kind::Bool => {
                self.values.insert(spec.name, Value::Bool(parse_bool(raw)?));
            }
            Kind::Str => {
                self.values.insert(spec.name, Value::Str(raw.to_string()));
            }
            Kind::Int => {
                self.values.insert(spec.name, Value::Int(parse_int(raw)?));
            }
            Kind::Slice => {
                let items = csv::read_first(raw)?;
                match entry {
                    Some(Value::List(list)) => list.extend(items),
                    _ => {
                        self.values.insert(spec.name, Value::List(items));
                    }
                }
            }
            Kind::Array => match entry {
                Some(Value::List(list)) => list.push(raw.to_string()),
                _ => {
                    self.values
                        .insert(spec.name, Value::List(vec![raw.to_string()]));
                }
            },
            Kind::Map => {
                let pairs = parse_string_map(raw)?;
                match entry {
                    Some(Value::Map(map)) => map.extend(pairs),
                    _ => {
                        self.values
                            .insert(spec.name, Value::Map(pairs.into_iter().collect()));
                    }
                }
            }
        }
        if spec.name == "cwd" || spec.name == "pwd" {
            self.cwd = Some(raw.to_string());
        }
        Ok(())
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A boolean flag's value; unset is false.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Bool(true)))
    }

    pub fn string(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// A slice or array flag's values; unset is empty.
    pub fn list(&self, name: &str) -> &[String] {
        match self.values.get(name) {
            Some(Value::List(list)) => list,
            _ => &[],
        }
    }

    /// The `--env` pairs; unset is empty.
    pub fn map(&self, name: &str) -> BTreeMap<String, String> {
        match self.values.get(name) {
            Some(Value::Map(map)) => map.clone(),
            _ => BTreeMap::new(),
        }
    }

    /// The container working directory asked for with `--cwd` or `--pwd`.
    pub fn cwd(&self) -> Option<&str> {
        self.cwd.as_deref()
    }

    /// The flags as JSON, for the record: booleans and integers as such,
    /// strings, lists of strings, and `--env` as an object.
    pub fn to_json(&self) -> serde_json::Map<String, Json> {
        self.values
            .iter()
            .map(|(name, value)| {
                let json = match value {
                    Value::Bool(b) => Json::from(*b),
                    Value::Str(s) => Json::from(s.as_str()),
                    Value::Int(i) => Json::from(*i),
                    Value::List(list) => Json::from(list.clone()),
                    Value::Map(map) => Json::Object(
                        map.iter()
                            .map(|(k, v)| (k.clone(), Json::from(v.as_str())))
                            .collect(),
                    ),
                };
                (name.to_string(), json)
            })
            .collect()
    }

    /// Which environment variables set which flags, for the record.
    pub fn env_sources_json(&self) -> serde_json::Map<String, Json> {
        self.from_env
            .iter()
            .map(|(name, vars)| (name.to_string(), Json::from(vars.clone())))
            .collect()
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing \"{raw}\": invalid syntax"
        )),
    }
}

/// A decimal integer. Go also accepts `0x`/`0o`/`0b` forms here; the
/// reference pages only show decimal, so the stand-in refuses the others.
fn parse_int(raw: &str) -> Result<i64, String> {
    let digits = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseInt: parsing \"{raw}\": invalid syntax (the stand-in takes decimal only)"
        ));
    }
    raw.parse::<i64>()
        .map_err(|_| format!("strconv.ParseInt: parsing \"{raw}\": value out of range"))
}

/// pflag's `StringToString.Set`: with a single `=` the whole value is one
/// pair (commas included, surrounding quotes trimmed); with more, the value
/// is CSV-split into pairs.
fn parse_string_map(raw: &str) -> Result<Vec<(String, String)>, String> {
    let pairs = match raw.matches('=').count() {
        0 => return Err(format!("{raw} must be formatted as key=value")),
        1 => vec![raw.trim_matches('"').to_string()],
        _ => csv::read_first(raw)?,
    };
    pairs
        .into_iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("{pair} must be formatted as key=value")),
        })
        .collect()
}

/// Parse `args` (argv without argv\[0\]).
pub fn parse(tool: Tool, args: &[String], diags: &mut Diagnostics) -> Result<Invocation, Refusal> {
    let mut rest = args.iter().map(String::as_str);
    let (global_flags, subcommand) = parse_globals(tool, &mut rest)?;
    diags.verbosity = if global_flags.contains_key("debug") || global_flags.contains_key("verbose")
    {
        Verbosity::Normal
    } else if global_flags.contains_key("quiet") {
        Verbosity::Quiet
    } else if global_flags.contains_key("silent") {
        Verbosity::Silent
    } else {
        Verbosity::Normal
    };

    match subcommand {
        None => {
            return Err(Refusal::fatal(
                "stand-in implements only exec; no subcommand given",
            ));
        }
        Some("exec") => {}
        Some(other) => {
            return Err(Refusal::fatal(format!(
                "stand-in implements only exec, not '{other}'"
            )));
        }
    }

    let (exec_flags, positional) = parse_exec_flags(tool, &mut rest, diags)?;
    // cobra.MinimumNArgs(2) on the exec command.
    if positional.len() < 2 {
        return Err(Refusal::usage(
            "exec",
            format!(
                "requires at least 2 arg(s), only received {}",
                positional.len()
            ),
        ));
    }
    let mut positional = positional.into_iter();
    let image = positional.next().unwrap_or_default();
    Ok(Invocation {
        global_flags,
        exec_flags,
        image,
        command: positional.collect(),
    })
}

type GlobalParse<'a> = (BTreeMap<&'static str, bool>, Option<&'a str>);

fn parse_globals<'a>(
    tool: Tool,
    rest: &mut impl Iterator<Item = &'a str>,
) -> Result<GlobalParse<'a>, Refusal> {
    let mut given = BTreeMap::new();
    let root = tool.name();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            return Ok((given, rest.next()));
        }
        if !arg.starts_with('-') || arg == "-" {
            return Ok((given, Some(arg)));
        }
        // Resolve the word into (spec, inline value) pairs.
        let mut occurrences = Vec::new();
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = split_inline(long);
            let spec = GLOBAL_FLAGS
                .iter()
                .find(|g| g.name == name)
                .ok_or_else(|| Refusal::usage(root, format!("unknown flag: --{name}")))?;
            occurrences.push((spec, inline.map(str::to_string)));
        } else {
            let shorthands = &arg[1..];
            for (i, c) in shorthands.char_indices() {
                let spec = GLOBAL_FLAGS
                    .iter()
                    .find(|g| g.short == Some(c))
                    .ok_or_else(|| {
                        Refusal::usage(
                            root,
                            format!("unknown shorthand flag: '{c}' in -{shorthands}"),
                        )
                    })?;
                let after = &shorthands[i + c.len_utf8()..];
                if let Some(value) = after.strip_prefix('=') {
                    occurrences.push((spec, Some(value.to_string())));
                    break;
                }
                if spec.takes_value && !after.is_empty() {
                    occurrences.push((spec, Some(after.to_string())));
                    break;
                }
                occurrences.push((spec, None));
            }
        }
        for (spec, inline) in occurrences {
            if let Some(why) = spec.refusal {
                return Err(Refusal::fatal(format!("--{}: {why}", spec.name)));
            }
            let on = match inline {
                Some(v) => parse_bool(&v).map_err(|e| {
                    Refusal::usage(
                        root,
                        format!("invalid argument \"{v}\" for \"--{}\" flag: {e}", spec.name),
                    )
                })?,
                None => true,
            };
            if on {
                given.insert(spec.name, true);
            } else {
                given.remove(spec.name);
            }
        }
    }
    Ok((given, None))
}

fn split_inline(long: &str) -> (&str, Option<&str>) {
    match long.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (long, None),
    }
}

fn display_name(spec: &FlagSpec) -> String {
    match spec.short {
        Some(c) => format!("-{c}, --{}", spec.name),
        None => format!("--{}", spec.name),
    }
}

fn parse_exec_flags<'a>(
    tool: Tool,
    rest: &mut impl Iterator<Item = &'a str>,
    diags: &mut Diagnostics,
) -> Result<(FlagValues, Vec<String>), Refusal> {
    let mut values = FlagValues::default();
    let mut positional = Vec::new();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg.to_string());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            if long.is_empty() || long.starts_with(['-', '=']) {
                return Err(Refusal::usage("exec", format!("bad flag syntax: {arg}")));
            }
            let (name, inline) = split_inline(long);
            let spec = lookup_long(tool, name, diags)?;
            let value = match (inline, spec.kind) {
                (Some(v), _) => v.to_string(),
                (None, Kind::Bool) => "true".to_string(),
                (None, _) => rest.next().map(str::to_string).ok_or_else(|| {
                    Refusal::usage("exec", format!("flag needs an argument: {arg}"))
                })?,
            };
            set_from_cli(&mut values, spec, &value)?;
        } else {
            let shorthands = &arg[1..];
            for (i, c) in shorthands.char_indices() {
                let spec = lookup_short(tool, c, shorthands)?;
                let after = &shorthands[i + c.len_utf8()..];
                let value = if let Some(v) = after.strip_prefix('=') {
                    Some(v.to_string())
                } else if spec.kind == Kind::Bool {
                    None
                } else if !after.is_empty() {
                    Some(after.to_string())
                } else {
                    Some(rest.next().map(str::to_string).ok_or_else(|| {
                        Refusal::usage(
                            "exec",
                            format!("flag needs an argument: '{c}' in -{shorthands}"),
                        )
                    })?)
                };
                match value {
                    // The value used up the rest of the word.
                    Some(v) => {
                        set_from_cli(&mut values, spec, &v)?;
                        break;
                    }
                    None => set_from_cli(&mut values, spec, "true")?,
                }
            }
        }
    }
    positional.extend(rest.map(str::to_string));
    Ok((values, positional))
}

fn set_from_cli(values: &mut FlagValues, spec: &FlagSpec, raw: &str) -> Result<(), Refusal> {
    values.set(spec, raw).map_err(|e| {
        Refusal::usage(
            "exec",
            format!(
                "invalid argument \"{raw}\" for \"{}\" flag: {e}",
                display_name(spec)
            ),
        )
    })
}

fn lookup_long(
    tool: Tool,
    name: &str,
    diags: &mut Diagnostics,
) -> Result<&'static FlagSpec, Refusal> {
    if name == "help" {
        return Err(Refusal::fatal("--help: help output is not emulated"));
    }
    let spec = flags::exec_flags(tool)
        .find(|f| f.name == name)
        .ok_or_else(|| Refusal::usage("exec", format!("unknown flag: --{name}")))?;
    match spec.visibility {
        Visibility::Documented => {}
        // Hidden since the --cwd rename, but both changelogs promise it
        // keeps working; code using it works on the real tools.
        Visibility::Hidden if spec.name == "pwd" => {
            diags.info("--pwd is a hidden compatibility alias; the documented flag is --cwd")
        }
        Visibility::Hidden | Visibility::Deprecated => {
            return Err(Refusal::fatal(format!(
                "--{name} is not on the {} exec reference page ({}); \
                 the stand-in accepts documented flags only",
                tool.emulates(),
                if spec.visibility == Visibility::Hidden {
                    "hidden flag"
                } else {
                    "deprecated flag"
                }
            )));
        }
    }
    Ok(spec)
}

fn lookup_short(tool: Tool, c: char, shorthands: &str) -> Result<&'static FlagSpec, Refusal> {
    if c == 'h' {
        return Err(Refusal::fatal("-h: help output is not emulated"));
    }
    // Every flag with a shorthand is documented, so no visibility check.
    flags::exec_flags(tool)
        .find(|f| f.short == Some(c))
        .ok_or_else(|| {
            Refusal::usage(
                "exec",
                format!("unknown shorthand flag: '{c}' in -{shorthands}"),
            )
        })
}

/// Apply the `APPTAINER_<KEY>` / `SINGULARITY_<KEY>` variables that the real
/// tools read for exec flags. A variable only fills a flag the command line
/// left unset, except for bind and mount, whose values are appended; for
/// each key the first config prefix that is set wins.
pub fn apply_env(
    tool: Tool,
    values: &mut FlagValues,
    env: &BTreeMap<String, String>,
) -> Result<(), Refusal> {
    for spec in flags::exec_flags(tool) {
        for key in spec.env_keys {
            let found = tool.config_prefixes().iter().find_map(|prefix| {
                let var = format!("{prefix}{key}");
                env.get(&var).map(|value| (var, value))
            });
            let Some((var, value)) = found else { continue };
            let trimmed = value.trim();
            if trimmed.is_empty() || (values.is_set(spec.name) && !spec.env_appends) {
                continue;
            }
            // The real tools trim blanks around slice items given this way.
            let value = if spec.kind == Kind::Slice {
                trimmed
                    .split(',')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                value.clone()
            };
            values.set(spec, &value).map_err(|e| {
                Refusal::fatal(format!(
                    "While parsing environment variables: unable to set flag {} to value {value} (from {var}): {e}",
                    spec.name
                ))
            })?;
            values.from_env.entry(spec.name).or_default().push(var);
        }
    }
    Ok(())
}

/// Notes for flags that were set but are not (fully) emulated.
pub fn note_unemulated(tool: Tool, values: &FlagValues, diags: &mut Diagnostics) {
    for spec in flags::exec_flags(tool) {
        if !values.is_set(spec.name) || values.values.get(spec.name) == Some(&Value::Bool(false)) {
            continue;
        }
        let source = match values.from_env.get(spec.name) {
            Some(vars) => format!(" (from {})", vars.join(", ")),
            None => String::new(),
        };
        match spec.emulation {
            Emulation::NotEmulated => {
                diags.info(format!("--{}{source} accepted but not emulated", spec.name));
            }
            Emulation::Partial(note) => diags.info(format!("--{}{source}: {note}", spec.name)),
            Emulation::Emulated | Emulation::Inert => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn parse_ok(tool: Tool, words: &[&str]) -> Invocation {
        parse(tool, &args(words), &mut Diagnostics::default()).expect("parses")
    }

    fn verbosity(words: &[&str]) -> Verbosity {
        let mut diags = Diagnostics::default();
        parse(Tool::Apptainer, &args(words), &mut diags).expect("parses");
        diags.verbosity
    }

    fn parse_err(tool: Tool, words: &[&str]) -> Refusal {
        parse(tool, &args(words), &mut Diagnostics::default()).expect_err("refused")
    }

    #[test]
    fn flags_stop_at_the_image() {
        let inv = parse_ok(
            Tool::Apptainer,
            &[
                "-q", "exec", "-B", "/a:/b", "--nv", "img", "cmd", "--nv", "-B",
            ],
        );
        assert_eq!(inv.image, "img");
        assert_eq!(inv.command, args(&["cmd", "--nv", "-B"]));
        assert_eq!(inv.exec_flags.list("bind"), args(&["/a:/b"]));
        assert!(inv.exec_flags.flag("nv"));
        assert_eq!(verbosity(&["-q", "exec", "i", "c"]), Verbosity::Quiet);
        assert_eq!(verbosity(&["-s", "exec", "i", "c"]), Verbosity::Silent);
        assert_eq!(verbosity(&["-dq", "exec", "i", "c"]), Verbosity::Normal);
    }

    #[test]
    fn value_syntaxes() {
        let inv = parse_ok(
            Tool::Apptainer,
            &[
                "exec",
                "--bind=/a",
                "-B/b",
                "-B=/c",
                "-eB",
                "/d",
                "--cwd",
                "/w",
                "--nv=false",
                "--",
                "img",
                "cmd",
            ],
        );
        assert_eq!(inv.exec_flags.list("bind"), args(&["/a", "/b", "/c", "/d"]));
        assert!(inv.exec_flags.flag("cleanenv"));
        assert!(!inv.exec_flags.flag("nv"));
        assert_eq!(inv.exec_flags.cwd(), Some("/w"));
    }

    #[test]
    fn argument_words_are_not_taken_for_the_image() {
        let inv = parse_ok(
            Tool::Singularity,
            &[
                "exec",
                "--security",
                "seccomp:x",
                "-W",
                "/tmp/w",
                "--pids-limit",
                "5",
                "img",
                "c",
            ],
        );
        assert_eq!(inv.image, "img");
        assert_eq!(inv.exec_flags.list("security"), args(&["seccomp:x"]));
    }

    #[test]
    fn slices_split_and_arrays_keep_commas() {
        let a = parse_ok(Tool::Apptainer, &["exec", "-B", "/a,/b", "img", "c"]);
        assert_eq!(a.exec_flags.list("bind"), args(&["/a,/b"]));
        let s = parse_ok(Tool::Singularity, &["exec", "-B", "/a,/b", "img", "c"]);
        assert_eq!(s.exec_flags.list("bind"), args(&["/a", "/b"]));
    }

    #[test]
    fn env_map_follows_pflag() {
        let inv = parse_ok(
            Tool::Apptainer,
            &["exec", "--env", "A=x,y", "--env", "B=1,C=2", "img", "c"],
        );
        let env = inv.exec_flags.map("env");
        assert_eq!(env.get("A").map(String::as_str), Some("x,y"));
        assert_eq!(env.get("B").map(String::as_str), Some("1"));
        assert_eq!(env.get("C").map(String::as_str), Some("2"));
        let err = parse_err(Tool::Apptainer, &["exec", "--env", "NOPE", "img", "c"]);
        assert_eq!(err.exit_code, crate::report::EXIT_USAGE);
        assert!(err.message.contains("must be formatted as key=value"));
    }

    #[test]
    fn usage_errors_exit_1_like_cobra() {
        for (words, text) in [
            (&["exec", "--foo", "img", "c"][..], "unknown flag: --foo"),
            (
                &["exec", "-Z", "img", "c"][..],
                "unknown shorthand flag: 'Z' in -Z",
            ),
            (
                &["exec", "img"][..],
                "requires at least 2 arg(s), only received 1",
            ),
            (&["exec", "--bind"][..], "flag needs an argument: --bind"),
            (
                &["exec", "--nv=maybe", "img", "c"][..],
                "invalid argument \"maybe\"",
            ),
            (&["--frob", "exec"][..], "unknown flag: --frob"),
        ] {
            let err = parse_err(Tool::Apptainer, words);
            assert_eq!(err.exit_code, 1, "{words:?}");
            assert!(err.message.contains(text), "{words:?}: {}", err.message);
        }
    }

    #[test]
    fn stand_in_refusals_are_fatal() {
        for words in [
            &["run", "img"][..],
            &[][..],
            &["--config", "x", "exec", "img", "c"][..],
            &["exec", "--nohttps", "img", "c"][..],
            &["exec", "--no-nv", "img", "c"][..],
            &["exec", "--help"][..],
        ] {
            let err = parse_err(Tool::Apptainer, words);
            assert_eq!(err.exit_code, 255, "{words:?}");
        }
    }

    #[test]
    fn tool_specific_flags() {
        parse_ok(Tool::Apptainer, &["exec", "--sharens", "img", "c"]);
        let err = parse_err(Tool::Singularity, &["exec", "--sharens", "img", "c"]);
        assert!(err.message.contains("unknown flag: --sharens"));
        parse_ok(Tool::Singularity, &["exec", "--oci", "img", "c"]);
    }

    #[test]
    fn pwd_is_accepted_with_a_note() {
        let mut diags = Diagnostics::default();
        let inv = parse(
            Tool::Apptainer,
            &args(&["exec", "--pwd", "/w", "img", "c"]),
            &mut diags,
        )
        .unwrap();
        assert_eq!(inv.exec_flags.cwd(), Some("/w"));
        assert!(diags.has("--pwd is a hidden compatibility alias"));
    }

    #[test]
    fn environment_fills_unset_flags_and_appends_binds() {
        let mut inv = parse_ok(
            Tool::Apptainer,
            &["exec", "-B", "/a", "--cwd", "/w", "img", "c"],
        );
        let env: BTreeMap<String, String> = [
            ("APPTAINER_BIND", "/b"),
            ("SINGULARITY_BIND", "/ignored-because-apptainer-is-set"),
            ("SINGULARITY_BINDPATH", "/c"),
            ("APPTAINER_CLEANENV", "1"),
            ("APPTAINER_CWD", "/not-this"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        apply_env(Tool::Apptainer, &mut inv.exec_flags, &env).unwrap();
        assert_eq!(inv.exec_flags.list("bind"), args(&["/a", "/b", "/c"]));
        assert!(inv.exec_flags.flag("cleanenv"));
        assert_eq!(inv.exec_flags.cwd(), Some("/w"));

        let bad: BTreeMap<String, String> =
            [("APPTAINER_NV".to_string(), "yes".to_string())].into();
        let err = apply_env(Tool::Apptainer, &mut FlagValues::default(), &bad).unwrap_err();
        assert_eq!(err.exit_code, 255);
    }
}
