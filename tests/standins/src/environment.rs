//! The environment COMMAND gets, built the way the real runtimes build the
//! container's environment (user guide "Environment and Metadata", section
//! "Environment Variable Precedence", and `SetContainerEnv` in both tools).
//!
//! In order:
//! 1. `--env-file` then `--env` pairs are turned into `APPTAINERENV_K=V`
//!    (`SINGULARITYENV_` for SingularityCE), `--env` winning over the file
//!    and both over variables already set on the host.
//! 2. `*ENV_K=V` host variables become overrides `K=V`; Apptainer also reads
//!    `SINGULARITYENV_` (lower precedence, with an info message). `HOME`
//!    cannot be overridden; `PATH`, `PREPEND_PATH` and `APPEND_PATH` are
//!    applied to the container's `PATH`.
//! 3. Host variables pass through unless `--cleanenv`; never the runtime's
//!    own `APPTAINER_*` / `SINGULARITY_*` configuration, nor `HOME`, `PATH`
//!    or `LD_LIBRARY_PATH`. `TERM` and the proxy variables always pass.
//!    With `--cleanenv`, `LANG=C`.
//! 4. `HOME` is the home directory, `PATH` the runtime default
//!    (`/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`), the
//!    base image sets `LD_LIBRARY_PATH=/.singularity.d/libs` and `PS1`; the
//!    overrides are applied on top.
//! 5. The runtime variables `<P>_CONTAINER`, `<P>_NAME`, `<P>_COMMAND`,
//!    `<P>_ENVIRONMENT` and `<P>_BIND` are set.
//!
//! Not emulated: variables from the image itself (there is no image), shell
//! evaluation of values (the stand-in always behaves as with `--no-eval` and
//! says so when a value would have been evaluated), `USER_PATH`/`IMAGE_ARG`
//! (undocumented leftovers the real tools still export).

use std::collections::BTreeMap;

use crate::binds::Bind;
use crate::report::Diagnostics;
use crate::tool::Tool;

/// The runtime's default container `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the environment script of the image lives inside the container.
const ENVIRONMENT_SCRIPT: &str = "/.singularity.d/env/91-environment.sh";

/// Variables forwarded even with `--cleanenv`.
const ALWAYS_PASS: &[&str] = &[
    "TERM",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "ftp_proxy",
    "FTP_PROXY",
];

/// Variables the shell would refuse to set from an env file (bash
/// read-only or special); the real tools drop them.
const READ_ONLY: &[&str] = &["EUID", "GID", "HOME", "IFS", "OPTIND", "PWD", "UID"];

/// Host variables never forwarded, and whether an `*ENV_` override of them
/// is allowed.
fn always_omit(tool: Tool, key: &str) -> Option<bool> {
    match key {
        "HOME" | "PATH" | "SINGULARITY_SHELL" | "SINGULARITY_APPNAME" => Some(false),
        "APPTAINER_SHELL" | "APPTAINER_APPNAME" if tool == Tool::Apptainer => Some(false),
        "LD_LIBRARY_PATH" => Some(true),
        _ => None,
    }
}

/// Everything the container environment depends on.
pub struct Request<'a> {
    pub tool: Tool,
    /// The runtime's incoming environment in process order, without the
    /// stand-in's own control variables.
    pub host: &'a [(String, String)],
    /// `--cleanenv`, or implied by `--containall` / `--compat`.
    pub clean: bool,
    /// `--no-eval`, or implied by `--compat`.
    pub no_eval: bool,
    pub env_flag: &'a BTreeMap<String, String>,
    /// `--env-file` pairs in file order, and the file's name for messages.
    pub env_file: Option<(&'a str, Vec<(String, String)>)>,
    pub home: &'a str,
    /// The image as an absolute path.
    pub image: &'a str,
    pub binds: &'a [Bind],
    /// The raw `--bind` specs (SingularityCE exports these, Apptainer the
    /// destinations).
    pub bind_specs: &'a [String],
}

/// Special `*ENV_` keys that edit `PATH` rather than set a variable.
#[derive(Default)]
struct PathEdits {
    replace: Option<String>,
    prepend: Option<String>,
    append: Option<String>,
}

/// Build the environment COMMAND runs with.
pub fn container_env(req: &Request, diags: &mut Diagnostics) -> BTreeMap<String, String> {
    let tool = req.tool;
    let mut host: Vec<(String, String)> = req.host.to_vec();
    inject_requested(req, &mut host, diags);

    let (overrides, path_edits) = collect_overrides(tool, &host, diags);

    let mut env = BTreeMap::new();
    if req.clean {
        env.insert("LANG".to_string(), "C".to_string());
    }
    for (key, value) in &host {
        let is_runtime_config = tool.config_prefixes().iter().any(|p| key.starts_with(p));
        let is_override = tool.env_prefixes().iter().any(|p| key.starts_with(p));
        if is_runtime_config || is_override || !forwarded(tool, key, req.clean) {
            continue;
        }
        // A host value shadowed by an override is dropped silently:
        // Apptainer 1.4.5 says nothing about it, even with -v (checked live
        // in the Debian sid root).
        if !overrides.contains_key(key) {
            env.insert(key.clone(), value.clone());
        }
    }
    env.insert("HOME".to_string(), req.home.to_string());
    env.insert(
        "LD_LIBRARY_PATH".to_string(),
        "/.singularity.d/libs".to_string(),
    );
    env.insert("PS1".to_string(), tool.prompt().to_string());

    for (key, value) in &overrides {
        if !req.no_eval && (value.contains('$') || value.contains('`')) {
            diags.info(format!(
                "value of {key} contains '$' or '`'; the real runtime would shell-evaluate it in the container (unless --no-eval), the stand-in passes it literally"
            ));
        }
        env.insert(key.clone(), value.clone());
    }
    let mut path = path_edits
        .replace
        .unwrap_or_else(|| DEFAULT_PATH.to_string());
    if let Some(prepend) = path_edits.prepend {
        path = format!("{prepend}:{path}");
    }
    if let Some(append) = path_edits.append {
        path = format!("{path}:{append}");
    }
    env.insert("PATH".to_string(), path);

    set_runtime_vars(req, &mut env);
    env
}

/// Step 1: `--env-file` and `--env` become `*ENV_` variables of the runtime.
fn inject_requested(req: &Request, host: &mut Vec<(String, String)>, diags: &mut Diagnostics) {
    let prefix = req.tool.env_prefixes()[0];
    let mut requested: Vec<(String, String)> = Vec::new();
    if let Some((file, pairs)) = &req.env_file {
        for (key, value) in pairs {
            if req.env_flag.contains_key(key) {
                diags.warn(format!(
                    "Ignore environment variable {key} from {file}: override from --env"
                ));
            } else {
                requested.push((key.clone(), value.clone()));
            }
        }
    }
    requested.extend(req.env_flag.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (key, value) in requested {
        if key.is_empty() {
            diags.warn(format!(
                "Ignore environment variable {key}={value}: variable name missing"
            ));
            continue;
        }
        // Like os.Setenv: replace in place, or append.
        let name = format!("{prefix}{key}");
        match host.iter_mut().find(|(k, _)| *k == name) {
            Some(entry) => entry.1 = value,
            None => host.push((name, value)),
        }
    }
}

/// Step 2: the `*ENV_` overrides, highest-precedence prefix first.
fn collect_overrides(
    tool: Tool,
    host: &[(String, String)],
    diags: &mut Diagnostics,
) -> (BTreeMap<String, String>, PathEdits) {
    let mut overrides = BTreeMap::new();
    let mut path = PathEdits::default();
    let primary = tool.env_prefixes()[0];
    for (rank, prefix) in tool.env_prefixes().iter().enumerate() {
        for (var, value) in host {
            let Some(key) = var.strip_prefix(prefix) else {
                continue;
            };
            if key.is_empty() {
                continue;
            }
            let is_legacy = rank > 0;
            if is_legacy && !host.iter().any(|(k, _)| *k == format!("{primary}{key}")) {
                diags.info(format!(
                    "Environment variable {var} is set, but {primary}{key} is preferred"
                ));
            }
            let slot = match key {
                "PATH" => Some(&mut path.replace),
                "PREPEND_PATH" => Some(&mut path.prepend),
                "APPEND_PATH" => Some(&mut path.append),
                _ => None,
            };
            if let Some(slot) = slot {
                slot.get_or_insert_with(|| value.clone());
                continue;
            }
            if always_omit(tool, key) == Some(false) {
                diags.warn(format!(
                    "Overriding {key} environment variable with {var} is not permitted"
                ));
                continue;
            }
            match overrides.get(key) {
                Some(old) if old != value => diags.warn(format!(
                    "Skipping environment variable [{var}={value}], {key} is already overridden with different value [{old}]"
                )),
                Some(_) => {}
                None => {
                    overrides.insert(key.to_string(), value.clone());
                }
            }
        }
    }
    (overrides, path)
}

/// Step 3: whether a plain host variable is forwarded.
fn forwarded(tool: Tool, key: &str, clean: bool) -> bool {
    if ALWAYS_PASS.contains(&key) {
        return true;
    }
    always_omit(tool, key).is_none() && !clean
}

/// Step 5: what the runtime tells the container about itself.
fn set_runtime_vars(req: &Request, env: &mut BTreeMap<String, String>) {
    let name = std::path::Path::new(req.image)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bind_list = match req.tool {
        Tool::Apptainer => req
            .binds
            .iter()
            .map(|b| b.dest.as_str())
            .collect::<Vec<_>>()
            .join(","),
        Tool::Singularity => req.bind_specs.join(","),
    };
    // Apptainer sets these under both prefixes for old container scripts.
    let both: &[&str] = match req.tool {
        Tool::Apptainer => &["APPTAINER_", "SINGULARITY_"],
        Tool::Singularity => &["SINGULARITY_"],
    };
    for prefix in both {
        env.insert(format!("{prefix}CONTAINER"), req.image.to_string());
        env.insert(format!("{prefix}NAME"), name.clone());
        // An empty variable is unset by the container's action script.
        if !bind_list.is_empty() {
            env.insert(format!("{prefix}BIND"), bind_list.clone());
        }
    }
    let prefix = req.tool.runtime_prefix();
    env.insert(format!("{prefix}COMMAND"), "exec".to_string());
    env.insert(
        format!("{prefix}ENVIRONMENT"),
        ENVIRONMENT_SCRIPT.to_string(),
    );
}

/// Parse an `--env-file`. The real tools run it through an embedded shell
/// with command execution disabled; the stand-in takes the subset that has
/// no evaluation: blank lines, `#` comments, `[export] NAME=VALUE` with the
/// value bare, `'single'` or `"double"` quoted (backslash escapes only),
/// and an optional trailing comment. Anything else is refused rather than
/// guessed at.
pub fn parse_env_file(content: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (index, raw_line) in content.lines().enumerate() {
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let unsupported = |why: &str| {
            format!(
                "line {}: {why} ({line:?}); the stand-in understands only [export] NAME=VALUE lines without expansion",
                index + 1
            )
        };
        let assignment = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((name, rest)) = assignment.split_once('=') else {
            return Err(unsupported("not an assignment"));
        };
        let valid_name = name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
            && !name.is_empty();
        if !valid_name {
            return Err(unsupported("not a variable name"));
        }
        let value = parse_shell_word(rest).map_err(|why| unsupported(&why))?;
        if !READ_ONLY.contains(&name) {
            pairs.push((name.to_string(), value));
        }
    }
    Ok(pairs)
}

/// One shell word without expansions, followed by nothing but an optional
/// comment.
fn parse_shell_word(input: &str) -> Result<String, String> {
    let mut value = String::new();
    let mut chars = input.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err("unterminated single quote".into()),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\' | '$' | '`')) => value.push(c),
                        Some(c) => {
                            value.push('\\');
                            value.push(c);
                        }
                        None => return Err("unterminated double quote".into()),
                    },
                    Some('$' | '`') => return Err("expansion in double quotes".into()),
                    Some(c) => value.push(c),
                    None => return Err("unterminated double quote".into()),
                }
            },
            '\\' => match chars.next() {
                Some(c) => value.push(c),
                None => return Err("trailing backslash".into()),
            },
            ' ' | '\t' => {
                let rest = chars.as_str().trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    return Ok(value);
                }
                return Err("more than one word".into());
            }
            '$' | '`' => return Err("expansion".into()),
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => return Err("shell operator".into()),
            c => value.push(c),
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn build(
        tool: Tool,
        host: &[(&str, &str)],
        clean: bool,
        env_flag: &[(&str, &str)],
    ) -> (BTreeMap<String, String>, Diagnostics) {
        let host = pairs(host);
        let env_flag: BTreeMap<String, String> = pairs(env_flag).into_iter().collect();
        let mut diags = Diagnostics::default();
        let env = container_env(
            &Request {
                tool,
                host: &host,
                clean,
                no_eval: false,
                env_flag: &env_flag,
                env_file: None,
                home: "/home/u",
                image: "/img/x.sif",
                binds: &[],
                bind_specs: &[],
            },
            &mut diags,
        );
        (env, diags)
    }

    fn get<'a>(env: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
        env.get(key).map(String::as_str)
    }

    #[test]
    fn host_passes_through_except_runtime_and_omitted() {
        let (env, _) = build(
            Tool::Apptainer,
            &[
                ("FOO", "1"),
                ("PATH", "/host/bin"),
                ("HOME", "/elsewhere"),
                ("LD_LIBRARY_PATH", "/host/lib"),
                ("APPTAINER_CACHEDIR", "/c"),
                ("SINGULARITY_TMPDIR", "/t"),
            ],
            false,
            &[],
        );
        assert_eq!(get(&env, "FOO"), Some("1"));
        assert_eq!(get(&env, "PATH"), Some(DEFAULT_PATH));
        assert_eq!(get(&env, "HOME"), Some("/home/u"));
        assert_eq!(get(&env, "LD_LIBRARY_PATH"), Some("/.singularity.d/libs"));
        assert_eq!(get(&env, "APPTAINER_CACHEDIR"), None);
        assert_eq!(get(&env, "SINGULARITY_TMPDIR"), None);
        assert_eq!(get(&env, "APPTAINER_CONTAINER"), Some("/img/x.sif"));
        assert_eq!(get(&env, "APPTAINER_NAME"), Some("x.sif"));
        assert_eq!(get(&env, "APPTAINER_COMMAND"), Some("exec"));
    }

    #[test]
    fn singularity_forwards_apptainer_variables_as_plain_ones() {
        let (env, _) = build(
            Tool::Singularity,
            &[("APPTAINERENV_X", "a"), ("SINGULARITYENV_Y", "b")],
            false,
            &[],
        );
        assert_eq!(get(&env, "APPTAINERENV_X"), Some("a"));
        assert_eq!(get(&env, "X"), None);
        assert_eq!(get(&env, "Y"), Some("b"));
        assert_eq!(get(&env, "SINGULARITY_COMMAND"), Some("exec"));
    }

    #[test]
    fn cleanenv_keeps_only_what_the_docs_list() {
        let (env, _) = build(
            Tool::Apptainer,
            &[
                ("FOO", "1"),
                ("TERM", "xterm"),
                ("APPTAINERENV_BAR", "2"),
                ("LANG", "de_DE"),
            ],
            true,
            &[("BAZ", "3")],
        );
        assert_eq!(get(&env, "FOO"), None);
        assert_eq!(get(&env, "TERM"), Some("xterm"));
        assert_eq!(get(&env, "BAR"), Some("2"));
        assert_eq!(get(&env, "BAZ"), Some("3"));
        assert_eq!(get(&env, "LANG"), Some("C"));
    }

    #[test]
    fn precedence_env_flag_over_prefix_over_legacy_over_host() {
        let (env, diags) = build(
            Tool::Apptainer,
            &[
                ("A", "host"),
                ("SINGULARITYENV_A", "legacy"),
                ("APPTAINERENV_A", "prefixed"),
                ("SINGULARITYENV_B", "legacy"),
                ("APPTAINERENV_C", "prefixed"),
            ],
            false,
            &[("C", "flag")],
        );
        assert_eq!(get(&env, "A"), Some("prefixed"));
        assert_eq!(get(&env, "B"), Some("legacy"));
        assert_eq!(get(&env, "C"), Some("flag"));
        assert!(diags.has("SINGULARITYENV_B is set, but APPTAINERENV_B is preferred"));
    }

    #[test]
    fn path_and_home_overrides() {
        let (env, diags) = build(
            Tool::Apptainer,
            &[
                ("APPTAINERENV_PREPEND_PATH", "/first"),
                ("APPTAINERENV_APPEND_PATH", "/last"),
                ("APPTAINERENV_HOME", "/nope"),
            ],
            false,
            &[],
        );
        assert_eq!(
            get(&env, "PATH").unwrap(),
            format!("/first:{DEFAULT_PATH}:/last")
        );
        assert_eq!(get(&env, "HOME"), Some("/home/u"));
        assert!(diags.has("Overriding HOME environment variable"));
        let (env, _) = build(Tool::Apptainer, &[], false, &[("PATH", "/only")]);
        assert_eq!(get(&env, "PATH"), Some("/only"));
    }

    #[test]
    fn env_file_subset() {
        let got = parse_env_file(
            "# comment\n\nexport A=1\nB='x y $z'\nC=\"q \\\"r\\\"\" # trailing\nHOME=/x\nD=\n",
        )
        .unwrap();
        assert_eq!(
            got,
            pairs(&[("A", "1"), ("B", "x y $z"), ("C", "q \"r\""), ("D", "")])
        );
        for bad in [
            "A=$HOME", "A=\"$x\"", "A=1 B=2", "echo hi", "1A=x", "A=`id`",
        ] {
            assert!(parse_env_file(bad).is_err(), "{bad}");
        }
    }
}
