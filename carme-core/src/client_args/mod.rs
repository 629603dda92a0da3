//! What srun, sbatch or salloc will ask Slurm for, worked out from the
//! client's own argv, its input environment variables and, for sbatch, the
//! `#SBATCH` lines of the batch script.
//!
//! The SPANK plugin runs inside the client ("local"/"allocator" contexts) and
//! sees none of the client's own options, so it re-reads them with this
//! module to refuse bad Carme jobs before anything is queued. The rule is:
//! correct where it claims to know, `Unknown` where it cannot be sure. The
//! authoritative check comes later in slurmstepd, so a missed early refusal
//! only costs friendliness while a wrong one would be a bug.
//!
//! Owned here:
//! - the option tables of the three clients (name, short letter, argument
//!   kind) of each Slurm release the plugin is built for (22.05, 24.11,
//!   26.05; see [`Release`]), checked against `--help` and the installed
//!   binaries of each release by `tests/client_args_help.rs`, and against
//!   `src/common/slurm_opt.c` of `slurm-22-05-8-1`, `slurm-24-11-5-1` and
//!   `slurm-26-05-3-1` when written. An option a release's clients have but
//!   its table lacks would make everything after it `Unknown`;
//! - a model of GNU `getopt_long` as the clients call it (option string
//!   starting with `+`: options stop at the first non-option);
//! - the precedence Slurm applies: command line over input environment
//!   variables over `#SBATCH` directives;
//! - sbatch's reading of `#SBATCH` lines (`get_argument` in sbatch/opt.c).
//!
//! Facts taken from the 22.05 sources that the man pages get wrong or omit,
//! so that nobody "fixes" them back:
//! - srun reads `-N` from `SLURM_JOB_NUM_NODES`, not `SLURM_NNODES` (the man
//!   page lists the latter, the code never reads it);
//! - `*_GPUS_PER_SOCKET` is read by all three clients though undocumented;
//! - srun also reads every variable with a `_PACK_GROUP_<n>` and then a
//!   `_HET_GROUP_<n>` suffix (n = het group, 0 unless `--het-group`), later
//!   ones winning, and falls back to `SLURM_STEP_GRES` for the step's gres;
//! - sbatch translates `#PBS`/`#BSUB` lines after `#SBATCH` ones unless
//!   `--ignore-pbs`/`SBATCH_IGNORE_PBS`;
//! - `--help` shows the wrong argument kind for a few options (see the
//!   integration test); the table follows what getopt is really given.
//!
//! Files: the option tables in `options.rs`, the getopt model in `getopt.rs`,
//! the `#SBATCH` scanner in `directives.rs`, the fields and precedence rules
//! in `precedence.rs`; here the types, the entry points and each client's
//! reading (sbatch's passes, srun/salloc's variables).

mod directives;
mod getopt;
mod options;
mod precedence;
#[cfg(test)]
mod tests;

use directives::{c_isspace, scan_directives};
use getopt::{Scan, Table, getopt};
pub use options::option_table;
use precedence::{
    ACCOUNT, ACCOUNT_VARS, CONSTRAINT, CONSTRAINT_VARS, Cli, EnvValue, EnvVars, Field, GPU_FIELDS,
    HET_GROUP, IGNORE_PBS, JOBID, MULTI_PROG, NODES, Script, TIME, TIME_VARS, WRAP, combine,
};

/// The Slurm release whose clients' option tables apply. The plugin takes
/// the one of the Slurm it is built for (its headers' SLURM_VERSION_NUMBER):
/// Slurm only loads a plugin built for its own major.minor, so the clients
/// around it are of that release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Release {
    V22_05,
    V24_11,
    V26_05,
}

impl Release {
    pub const ALL: [Release; 3] = [Release::V22_05, Release::V24_11, Release::V26_05];

    /// (major, minor).
    pub fn series(self) -> (u32, u32) {
        match self {
            Release::V22_05 => (22, 5),
            Release::V24_11 => (24, 11),
            Release::V26_05 => (26, 5),
        }
    }

    /// The table for Slurm `major.minor`: the newest known release not newer
    /// than it (options only come and go between releases, and a series
    /// between two known ones has at least the older one's). Before 22.05,
    /// the oldest table: no such Slurm is supported.
    pub fn for_series(major: u32, minor: u32) -> Release {
        Release::ALL
            .into_iter()
            .rev()
            .find(|r| r.series() <= (major, minor))
            .unwrap_or(Release::V22_05)
    }

    /// From a SLURM_VERSION_NUMBER (0xMMmmpp).
    pub fn for_version_number(n: u32) -> Release {
        Release::for_series((n >> 16) & 0xff, (n >> 8) & 0xff)
    }
}

/// Which client's argv this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Srun,
    Sbatch,
    Salloc,
}

/// Whether an option takes an argument, as in `struct option.has_arg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// `no_argument`: `--name=value` is an error.
    None,
    /// `required_argument`: `--name=value`, `--name value`, `-Xvalue`, `-X value`.
    Required,
    /// `optional_argument`: a value only when attached (`--name=value`, `-Xvalue`).
    Optional,
}

/// One row of a client's getopt table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptSpec {
    pub long: &'static str,
    pub short: Option<char>,
    pub arg: ArgKind,
}

/// What the client will ask for. All values are the raw strings the user gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientRequest {
    /// `-C`/`--constraint`.
    pub constraint: Knowledge,
    /// srun only: `--jobid` or `SLURM_JOB_ID` (srun then runs a step inside
    /// that existing job). Always `Absent` for sbatch and salloc.
    pub jobid: Knowledge,
    /// `-N`/`--nodes` raw value ("2", "1-3"). `Absent` does not mean one node:
    /// Slurm may derive a count from `--nodelist`, `-n`, ...
    pub nodes: Knowledge,
    /// `-A`/`--account`. `Absent`: Slurm uses the user's default account.
    pub account: Knowledge,
    /// `-t`/`--time` raw value. `Absent`: the partition's default applies.
    pub time: Knowledge,
    /// Every GPU-ish request whose final value is known, as (canonical long
    /// option name, value), one entry per option, in this order: "gpus",
    /// "gpus-per-node", "gpus-per-socket", "gpus-per-task", "gres",
    /// "tres-per-task". For srun, "gres" falls back to `SLURM_STEP_GRES`,
    /// which srun asks for the step only (inside a job that is the point).
    pub gpu_requests: Vec<(String, String)>,
    /// True when some GPU option's final value is not known: there may be
    /// requests missing from `gpu_requests` (the listed ones are certain).
    pub gpu_requests_unknown: bool,
    /// sbatch only: the script path (first non-option argument). `Absent`:
    /// sbatch reads the script from stdin (or builds it from `--wrap`).
    pub script: Knowledge,
    /// sbatch `--wrap` seen.
    pub wrap: bool,
    /// srun `--multi-prog` (or `SLURM_SRUN_MULTI`) seen.
    pub multi_prog: bool,
    /// A heterogeneous job (a `:` component separator, srun `--het-group`,
    /// or a `#SBATCH hetjob` line): only component 0 is described.
    pub het_job: bool,
    /// Part of the input could not be understood (see `notes`). The fields
    /// above say precisely what that affects; the bools are then only what
    /// was seen (false may mean "not seen").
    pub incomplete: bool,
    /// Human-readable reasons for anything `Unknown` (for debug logs).
    pub notes: Vec<String>,
}

/// What is known of one value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Knowledge {
    /// Known not to be given.
    #[default]
    Absent,
    /// Known to be given with this value.
    Given(String),
    /// Could not be determined.
    Unknown,
}

impl Knowledge {
    /// The value when it is known to be given.
    pub fn given(&self) -> Option<&str> {
        match self {
            Knowledge::Given(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Knowledge::Unknown)
    }
}

/// The options the Carme SPANK plugin registers itself. `parse` and
/// `parse_sbatch` know them, so `--carme-image NAME` (argument as the next
/// word) does not make the rest of the command line unknown. The plugin must
/// register exactly these names and argument kinds.
pub const CARME_SPANK_OPTIONS: &[OptSpec] = &[
    OptSpec {
        long: "carme-image",
        short: None,
        arg: ArgKind::Required,
    },
    OptSpec {
        long: "carme-beeond",
        short: None,
        arg: ArgKind::None,
    },
];

/// Work out what `argv` (including argv[0]) asks for; `env` looks up the
/// process environment. For sbatch this is `parse_sbatch` with no script
/// text: whatever the script could set is then `Unknown`.
pub fn parse(
    release: Release,
    client: Client,
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> ClientRequest {
    parse_with_plugin_options(release, client, argv, env, CARME_SPANK_OPTIONS)
}

/// sbatch: like `parse`, also applying the `#SBATCH` directives of
/// `script_text` (None = the script could not be read, e.g. it comes from
/// stdin: whatever it could have set is then `Unknown`, not `Absent`).
pub fn parse_sbatch(
    release: Release,
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    script_text: Option<&str>,
) -> ClientRequest {
    parse_sbatch_with_plugin_options(release, argv, env, script_text, CARME_SPANK_OPTIONS)
}

/// `parse` with the SPANK options known to be registered (by Carme and by
/// other plugins, e.g. pyxis). Without them an unknown `--name value` makes
/// what follows it unknown, since nobody can tell whether it took `value`.
pub fn parse_with_plugin_options(
    release: Release,
    client: Client,
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    plugin_options: &[OptSpec],
) -> ClientRequest {
    match client {
        Client::Sbatch => {
            parse_sbatch_with_plugin_options(release, argv, env, None, plugin_options)
        }
        Client::Srun | Client::Salloc => {
            parse_srun_salloc(release, client, argv, env, plugin_options)
        }
    }
}

/// `parse_sbatch` with the SPANK options known to be registered.
pub fn parse_sbatch_with_plugin_options(
    release: Release,
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    script_text: Option<&str>,
    plugin_options: &[OptSpec],
) -> ClientRequest {
    let table = Table::new(release, Client::Sbatch, plugin_options);
    let mut out = ClientRequest::default();

    // First pass (process_options_first_pass): sbatch drops every ":" word,
    // parses all components' options and takes the first non-option as the
    // script. --wrap and --ignore-pbs set here survive into later passes.
    let local: Vec<String> = argv.iter().filter(|w| *w != ":").cloned().collect();
    let first = getopt(&table, &local);
    let wrap = first.flag(&local, &WRAP);
    let ignore_pbs_cli = first.flag(&local, &IGNORE_PBS);
    let mut script_argc = 0;
    match first.end {
        Ok(optind) => {
            script_argc = local.len().saturating_sub(optind);
            out.script = match local.get(optind) {
                Some(path) => Knowledge::Given(path.clone()),
                None => Knowledge::Absent,
            };
        }
        Err(ref stop) => {
            out.script = Knowledge::Unknown;
            out.note(format!("script path unknown: {}", stop.why));
        }
    }
    out.wrap = wrap == Some(true);

    // Second pass, component 0: the original argv minus the script and its
    // arguments; a ":" right where the options stop starts component 1.
    let argv2 = &argv[..argv.len() - script_argc.min(argv.len())];
    let second = getopt(&table, argv2);
    match second.end {
        Ok(optind) => out.het_job = argv2.get(optind).is_some_and(|w| w == ":"),
        Err(ref stop) => out.note(format!("command line: {}", stop.why)),
    }

    // What the batch script sets. With --wrap sbatch hands an empty buffer
    // to the directive reader, so a wrapped command sets nothing.
    let script = match (wrap, script_text) {
        (Some(true), _) => Script::Known {
            scan: Scan::empty(),
            words: Vec::new(),
        },
        (None, _) => Script::Unknown("whether --wrap is given is unknown".into()),
        (Some(false), None) => Script::Unknown("the batch script could not be read".into()),
        (Some(false), Some(text)) => {
            let dirs = scan_directives(text);
            if dirs.het {
                out.het_job = true;
            }
            let mut words = vec!["sbatch".to_string()];
            words.extend(dirs.words.iter().cloned());
            let scan = getopt(&table, &words);
            let ignore_pbs_env = env("SBATCH_IGNORE_PBS").map(|v| env_flag(&v));
            let ignore_pbs = any_true([
                ignore_pbs_cli,
                ignore_pbs_env,
                scan.flag(&words, &IGNORE_PBS),
            ]);
            if let Some(err) = dirs.error {
                Script::Unknown(format!("sbatch rejects this script: {err}"))
            } else if let Err(stop) = &scan.end {
                Script::Unknown(format!("#SBATCH lines: {}", stop.why))
            } else if scan.end != Ok(words.len()) {
                Script::Unknown("sbatch rejects a non-option word in the #SBATCH lines".into())
            } else if dirs.wrapper_lines && ignore_pbs != Some(true) {
                Script::Unknown(
                    "the script has #PBS/#BSUB lines, which sbatch translates (no --ignore-pbs)"
                        .into(),
                )
            } else {
                Script::Known { scan, words }
            }
        }
    };
    if let Script::Unknown(why) = &script {
        out.note(format!("batch script directives unknown: {why}"));
    }

    let env_of = |var: &str| EnvValue::Known(env(var));
    let resolve = |field: &Field, var: Option<&str>| {
        let from_script = match &script {
            Script::Known { scan, words } => scan.value(words, field),
            Script::Unknown(_) => Cli::Unknown,
        };
        combine(
            second.value(argv2, field),
            var.map_or(EnvValue::Known(None), env_of),
            from_script,
        )
    };

    out.constraint = resolve(&CONSTRAINT, Some(CONSTRAINT_VARS.sbatch));
    out.nodes = resolve(&NODES, None);
    out.account = resolve(&ACCOUNT, Some(ACCOUNT_VARS.sbatch));
    out.time = resolve(&TIME, Some(TIME_VARS.sbatch));
    let gpu: Vec<(&Field, Knowledge)> = GPU_FIELDS
        .iter()
        .map(|(f, var)| (*f, resolve(f, table.env_of(f, *var).map(|v| v.sbatch))))
        .collect();
    out.set_gpus(gpu);
    out.finish();
    out
}

/// The option words of a batch script's `#SBATCH` (and legacy `#SLURM`) lines
/// as sbatch reads them for het component 0: lines must start in column 0;
/// reading stops at the first line that is neither blank nor a comment, and
/// at a `hetjob` separator; words split at whitespace, `'`/`"` quote, `\`
/// escapes, an unquoted `#` starts a comment. On a syntax error sbatch itself
/// refuses the script; the words before the error are returned.
pub fn batch_directives(script_text: &str) -> Vec<String> {
    scan_directives(script_text).words
}

// ---------------------------------------------------------------------------
// srun and salloc

fn parse_srun_salloc(
    release: Release,
    client: Client,
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    plugin_options: &[OptSpec],
) -> ClientRequest {
    let table = Table::new(release, client, plugin_options);
    let scan = getopt(&table, argv);
    let mut out = ClientRequest::default();
    let srun = client == Client::Srun;

    // Component separators. srun ends component 0's command at any ":" after
    // the options; salloc only looks at the word where the options stop.
    let het_sep: Option<bool> = match &scan.end {
        Ok(optind) => {
            let rest = argv.get(*optind..).unwrap_or(&[]);
            Some(if srun {
                rest.iter().any(|w| w == ":")
            } else {
                rest.first().is_some_and(|w| w == ":")
            })
        }
        Err(stop) => {
            out.note(format!("command line: {}", stop.why));
            argv[stop.at..].iter().all(|w| w != ":").then_some(false)
        }
    };
    out.het_job = het_sep == Some(true);

    // srun reads VAR, VAR_PACK_GROUP_<n>, VAR_HET_GROUP_<n> for het group n.
    let group: Option<String> = if srun {
        match scan.value(argv, &HET_GROUP) {
            Cli::NotSet => Some("0".into()),
            Cli::Set(v) => {
                out.het_job = true;
                // Slurm reads the value as a hostlist-style range of numbers.
                let inner = v.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
                let single = inner.unwrap_or(&v);
                if !single.is_empty() && single.bytes().all(|b| b.is_ascii_digit()) {
                    single.parse::<u32>().ok().map(|n| n.to_string())
                } else {
                    out.note(format!(
                        "--het-group={v} names several groups: environment variables unknown"
                    ));
                    None
                }
            }
            Cli::Unknown => {
                out.note("--het-group unknown: environment variables unknown".into());
                None
            }
        }
    } else {
        Some(String::new())
    };
    let lookup = |var: &str| -> EnvValue {
        if !srun {
            return EnvValue::Known(env(var));
        }
        let Some(n) = &group else {
            return EnvValue::Unknown;
        };
        let mut value = env(var);
        for suffix in ["PACK_GROUP", "HET_GROUP"] {
            if let Some(v) = env(&format!("{var}_{suffix}_{n}")) {
                value = Some(v);
            }
        }
        EnvValue::Known(value)
    };
    let var_of = |vars: EnvVars| if srun { vars.srun } else { vars.salloc };

    out.constraint = combine(
        scan.value(argv, &CONSTRAINT),
        lookup(var_of(CONSTRAINT_VARS)),
        Cli::NotSet,
    );
    out.account = combine(
        scan.value(argv, &ACCOUNT),
        lookup(var_of(ACCOUNT_VARS)),
        Cli::NotSet,
    );
    out.time = combine(
        scan.value(argv, &TIME),
        lookup(var_of(TIME_VARS)),
        Cli::NotSet,
    );

    let nodes_env = if srun {
        // A het step inside a non-het allocation: srun drops the node
        // count it took from SLURM_JOB_NUM_NODES (opt.c, local_het_step).
        let in_job = env("SLURM_JOB_ID").is_some() && env("SLURM_HET_SIZE").is_none();
        match (in_job, het_sep) {
            (false, _) | (true, Some(false)) => lookup("SLURM_JOB_NUM_NODES"),
            (true, Some(true)) => EnvValue::Known(None),
            (true, None) => EnvValue::Unknown,
        }
    } else {
        EnvValue::Known(None)
    };
    out.nodes = combine(scan.value(argv, &NODES), nodes_env, Cli::NotSet);

    if srun {
        // SLURM_JOB_ID is read without het-group suffixes.
        out.jobid = combine(
            scan.value(argv, &JOBID),
            EnvValue::Known(env("SLURM_JOB_ID")),
            Cli::NotSet,
        );
        let multi_env = group
            .as_deref()
            .map(|n| srun_env_flag(env, n, "SLURM_SRUN_MULTI"));
        out.multi_prog = any_true([scan.flag(argv, &MULTI_PROG), multi_env]) == Some(true);
    }

    let mut gpu = Vec::new();
    for (field, vars) in GPU_FIELDS {
        let env_value = match table.env_of(field, *vars) {
            Some(v) => lookup(var_of(v)),
            None => EnvValue::Known(None),
        };
        let mut k = combine(scan.value(argv, field), env_value, Cli::NotSet);
        if srun && field.canon == "gres" && k == Knowledge::Absent {
            // launch.c: a step without --gres asks for SLURM_STEP_GRES.
            if let Some(v) = env("SLURM_STEP_GRES") {
                k = Knowledge::Given(v);
            }
        }
        gpu.push((*field, k));
    }
    out.set_gpus(gpu);
    out.finish();
    out
}

/// srun's flag variables: each of VAR, VAR_PACK_GROUP_n, VAR_HET_GROUP_n sets
/// or resets the flag in turn.
fn srun_env_flag(env: &dyn Fn(&str) -> Option<String>, group: &str, var: &str) -> bool {
    let mut set = false;
    let names = [
        var.to_string(),
        format!("{var}_PACK_GROUP_{group}"),
        format!("{var}_HET_GROUP_{group}"),
    ];
    for name in names {
        if let Some(v) = env(&name) {
            set = env_flag(&v);
        }
    }
    set
}

/// How slurm_process_option reads a flag option from the environment: set
/// when empty, "yes" (any case) or a non-zero integer (strtol, whole value).
fn env_flag(value: &str) -> bool {
    if value.is_empty() || value.eq_ignore_ascii_case("yes") {
        return true;
    }
    let t = value.trim_start_matches(|c: char| c.is_ascii() && c_isspace(c as u8));
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.bytes().any(|b| b != b'0')
}

fn any_true<const N: usize>(parts: [Option<bool>; N]) -> Option<bool> {
    if parts.contains(&Some(true)) {
        Some(true)
    } else if parts.contains(&None) {
        None
    } else {
        Some(false)
    }
}

impl ClientRequest {
    fn note(&mut self, note: String) {
        self.incomplete = true;
        self.notes.push(note);
    }

    fn set_gpus(&mut self, gpu: Vec<(&Field, Knowledge)>) {
        for (field, k) in gpu {
            match k {
                Knowledge::Given(v) => self.gpu_requests.push((field.canon.to_string(), v)),
                Knowledge::Absent => {}
                Knowledge::Unknown => {
                    self.gpu_requests_unknown = true;
                    self.notes.push(format!("--{} unknown", field.canon));
                }
            }
        }
    }

    fn finish(&mut self) {
        for (name, k) in [
            ("constraint", &self.constraint),
            ("nodes", &self.nodes),
            ("account", &self.account),
            ("time", &self.time),
            ("jobid", &self.jobid),
        ] {
            if k.is_unknown() {
                self.notes.push(format!("--{name} unknown"));
            }
        }
        if self.gpu_requests_unknown
            || self.constraint.is_unknown()
            || self.nodes.is_unknown()
            || self.jobid.is_unknown()
            || self.script.is_unknown()
        {
            self.incomplete = true;
        }
    }
}
