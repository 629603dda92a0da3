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

/// The builtin getopt table of `client` of `release`, without SPANK options.
pub fn option_table(release: Release, client: Client) -> &'static [OptSpec] {
    use Release::*;
    match (release, client) {
        (V22_05, Client::Srun) => &SRUN_22_05,
        (V22_05, Client::Sbatch) => &SBATCH_22_05,
        (V22_05, Client::Salloc) => &SALLOC_22_05,
        (V24_11, Client::Srun) => &SRUN_24_11,
        (V24_11, Client::Sbatch) => &SBATCH_24_11,
        (V24_11, Client::Salloc) => &SALLOC_24_11,
        (V26_05, Client::Srun) => &SRUN_26_05,
        (V26_05, Client::Sbatch) => &SBATCH_26_05,
        (V26_05, Client::Salloc) => &SALLOC_26_05,
    }
}

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

// ---------------------------------------------------------------------------
// Fields and precedence

/// A value a request can carry: its canonical option name, every long name
/// that sets it (aliases included) and its short letter.
struct Field {
    canon: &'static str,
    names: &'static [&'static str],
    short: Option<char>,
}

const CONSTRAINT: Field = Field {
    canon: "constraint",
    names: &["constraint"],
    short: Some('C'),
};
const NODES: Field = Field {
    canon: "nodes",
    names: &["nodes"],
    short: Some('N'),
};
const ACCOUNT: Field = Field {
    canon: "account",
    names: &["account"],
    short: Some('A'),
};
const TIME: Field = Field {
    canon: "time",
    names: &["time"],
    short: Some('t'),
};
const JOBID: Field = Field {
    canon: "jobid",
    names: &["jobid"],
    short: None,
};
const WRAP: Field = Field {
    canon: "wrap",
    names: &["wrap"],
    short: None,
};
const MULTI_PROG: Field = Field {
    canon: "multi-prog",
    names: &["multi-prog"],
    short: None,
};
const IGNORE_PBS: Field = Field {
    canon: "ignore-pbs",
    names: &["ignore-pbs"],
    short: None,
};
const HET_GROUP: Field = Field {
    canon: "het-group",
    names: &["het-group", "pack-group"],
    short: None,
};

/// Input environment variable of one option, per client.
#[derive(Clone, Copy)]
struct EnvVars {
    srun: &'static str,
    sbatch: &'static str,
    salloc: &'static str,
}

const CONSTRAINT_VARS: EnvVars = EnvVars {
    srun: "SLURM_CONSTRAINT",
    sbatch: "SBATCH_CONSTRAINT",
    salloc: "SALLOC_CONSTRAINT",
};

const ACCOUNT_VARS: EnvVars = EnvVars {
    srun: "SLURM_ACCOUNT",
    sbatch: "SBATCH_ACCOUNT",
    salloc: "SALLOC_ACCOUNT",
};

const TIME_VARS: EnvVars = EnvVars {
    srun: "SLURM_TIMELIMIT",
    sbatch: "SBATCH_TIMELIMIT",
    salloc: "SALLOC_TIMELIMIT",
};

/// GPU-ish options in report order, with their input variables (read only
/// by releases whose clients have the option: 22.05 has no --tres-per-task).
const GPU_FIELDS: &[(&Field, Option<EnvVars>)] = &[
    (
        &Field {
            canon: "gpus",
            names: &["gpus"],
            short: Some('G'),
        },
        Some(EnvVars {
            srun: "SLURM_GPUS",
            sbatch: "SBATCH_GPUS",
            salloc: "SALLOC_GPUS",
        }),
    ),
    (
        &Field {
            canon: "gpus-per-node",
            names: &["gpus-per-node"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_GPUS_PER_NODE",
            sbatch: "SBATCH_GPUS_PER_NODE",
            salloc: "SALLOC_GPUS_PER_NODE",
        }),
    ),
    (
        &Field {
            canon: "gpus-per-socket",
            names: &["gpus-per-socket"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_GPUS_PER_SOCKET",
            sbatch: "SBATCH_GPUS_PER_SOCKET",
            salloc: "SALLOC_GPUS_PER_SOCKET",
        }),
    ),
    (
        &Field {
            canon: "gpus-per-task",
            names: &["gpus-per-task"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_GPUS_PER_TASK",
            sbatch: "SBATCH_GPUS_PER_TASK",
            salloc: "SALLOC_GPUS_PER_TASK",
        }),
    ),
    (
        &Field {
            canon: "gres",
            names: &["gres"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_GRES",
            sbatch: "SBATCH_GRES",
            salloc: "SALLOC_GRES",
        }),
    ),
    (
        &Field {
            canon: "tres-per-task",
            names: &["tres-per-task"],
            short: None,
        },
        Some(EnvVars {
            srun: "SLURM_TRES_PER_TASK",
            sbatch: "SBATCH_TRES_PER_TASK",
            salloc: "SALLOC_TRES_PER_TASK",
        }),
    ),
];

/// One source's say on a field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cli {
    Set(String),
    NotSet,
    Unknown,
}

enum EnvValue {
    Known(Option<String>),
    Unknown,
}

/// Command line over environment over batch script.
fn combine(cli: Cli, env: EnvValue, script: Cli) -> Knowledge {
    match cli {
        Cli::Set(v) => Knowledge::Given(v),
        Cli::Unknown => Knowledge::Unknown,
        Cli::NotSet => match env {
            EnvValue::Known(Some(v)) => Knowledge::Given(v),
            EnvValue::Unknown => Knowledge::Unknown,
            EnvValue::Known(None) => match script {
                Cli::Set(v) => Knowledge::Given(v),
                Cli::NotSet => Knowledge::Absent,
                Cli::Unknown => Knowledge::Unknown,
            },
        },
    }
}

enum Script {
    Known { scan: Scan, words: Vec<String> },
    Unknown(String),
}

// ---------------------------------------------------------------------------
// getopt_long

/// A client's table plus the SPANK options the caller vouches for.
struct Table<'a> {
    builtin: &'static [OptSpec],
    plugin: &'a [OptSpec],
}

impl<'a> Table<'a> {
    fn new(release: Release, client: Client, plugin: &'a [OptSpec]) -> Self {
        Table {
            builtin: option_table(release, client),
            plugin,
        }
    }

    /// A field's input variables, when this release's client has the option.
    fn env_of(&self, field: &Field, vars: Option<EnvVars>) -> Option<EnvVars> {
        vars.filter(|_| self.builtin.iter().any(|o| o.long == field.canon))
    }

    fn all(&self) -> impl Iterator<Item = &OptSpec> {
        self.builtin.iter().chain(self.plugin)
    }

    fn short(&self, c: u8) -> Option<&OptSpec> {
        // SPANK options are long-only.
        let c = c.is_ascii().then_some(c as char)?;
        self.builtin.iter().find(|o| o.short == Some(c))
    }

    fn long(&self, name: &str) -> Lookup<'_> {
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

enum Lookup<'t> {
    Found(&'t OptSpec),
    Ambiguous,
    NotFound,
}

/// Long names Slurm registers twice for one option (same `val`).
const ALIASES: &[(&str, &str)] = &[
    ("cpu_bind", "cpu-bind"),
    ("pack-group", "het-group"),
    ("tasks-per-node", "ntasks-per-node"),
];

fn canonical(long: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == long)
        .map_or(long, |(_, canon)| canon)
}

/// Where getopt stopped understanding the words.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stop {
    /// First word whose meaning is unknown; it and all after it are opaque.
    at: usize,
    why: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Scan {
    /// Options understood, in order: (canonical long name, value).
    opts: Vec<(&'static str, Option<String>)>,
    /// getopt's final optind (first word after the options), or where
    /// understanding stopped.
    end: Result<usize, Stop>,
}

impl Scan {
    fn empty() -> Self {
        Scan {
            opts: Vec::new(),
            end: Ok(1),
        }
    }

    /// The field's last value on these words (string options: last one wins).
    fn value(&self, words: &[String], field: &Field) -> Cli {
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

    fn flag(&self, words: &[String], field: &Field) -> Option<bool> {
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
fn could_set(words: &[String], field: &Field) -> bool {
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
fn getopt(table: &Table, words: &[String]) -> Scan {
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

// ---------------------------------------------------------------------------
// #SBATCH directives

struct Directives {
    /// Option words of het component 0.
    words: Vec<String>,
    /// A `hetjob`/`packjob` separator line was reached.
    het: bool,
    /// Why sbatch would refuse the script, if it would.
    error: Option<String>,
    /// `#PBS`/`#BSUB` lines sbatch would translate.
    wrapper_lines: bool,
}

/// C `isspace` in the C locale.
fn c_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `word` (case-insensitive) followed by the end or whitespace.
fn starts_with_word(s: &[u8], word: &str) -> bool {
    s.len() >= word.len()
        && s[..word.len()].eq_ignore_ascii_case(word.as_bytes())
        && s.get(word.len()).is_none_or(|b| c_isspace(*b))
}

fn is_het_separator(s: &[u8]) -> bool {
    starts_with_word(s, "packjob") || starts_with_word(s, "hetjob")
}

fn scan_directives(text: &str) -> Directives {
    let mut d = Directives {
        words: Vec::new(),
        het: false,
        error: None,
        wrapper_lines: wrapper_lines(text),
    };
    for line in text.split('\n') {
        let rest = match line
            .strip_prefix("#SBATCH")
            .or_else(|| line.strip_prefix("#SLURM"))
        {
            Some(rest) => rest.as_bytes(),
            None => {
                // Reading stops at the first line with a command on it.
                match line.bytes().find(|b| !c_isspace(*b)) {
                    Some(b'#') | None => continue,
                    Some(_) => break,
                }
            }
        };
        let start = rest
            .iter()
            .position(|b| !c_isspace(*b))
            .unwrap_or(rest.len());
        if is_het_separator(&rest[start..]) {
            d.het = true;
            break;
        }
        let mut pos = 0;
        loop {
            match get_argument(&rest[pos..]) {
                Ok(Some((word, used))) => {
                    d.words.push(word);
                    pos += used;
                }
                Ok(None) => break,
                Err(e) => {
                    d.error = Some(e);
                    return d;
                }
            }
        }
    }
    d
}

/// sbatch's get_argument: the next word of a directive line and the bytes
/// used, None when the line has no more words.
fn get_argument(s: &[u8]) -> Result<Option<(String, usize)>, String> {
    let mut p = s.iter().position(|b| !c_isspace(*b)).unwrap_or(s.len());
    // A separator word is blanked, which ends the line's words.
    if is_het_separator(&s[p..]) {
        return Ok(None);
    }
    if s.get(p) == Some(&b':') {
        return Err("unexpected ':' in an #SBATCH line".into());
    }
    let mut arg = Vec::new();
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    while p < s.len() && (quote.is_some() || !c_isspace(s[p])) {
        let c = s[p];
        p += 1;
        if escaped {
            escaped = false;
        } else if c == b'\\' {
            escaped = true;
            continue;
        } else if let Some(q) = quote {
            if c == q {
                quote = None;
                continue;
            }
        } else if c == b'"' || c == b'\'' {
            quote = Some(c);
            continue;
        } else if c == b'#' {
            // An unquoted '#' starts a comment.
            p -= 1;
            break;
        }
        arg.push(c);
    }
    if quote.is_some() {
        return Err("unmatched quote in an #SBATCH line".into());
    }
    // Nothing copied (e.g. `""`): sbatch sees no word and stops the line.
    if arg.is_empty() {
        return Ok(None);
    }
    Ok(Some((String::from_utf8_lossy(&arg).into_owned(), p)))
}

/// Does xlate.c find `#BSUB` or `#PBS` lines (it looks until more than 100
/// non-comment lines have passed)?
fn wrapper_lines(text: &str) -> bool {
    let mut non_comments = 0;
    for line in text.split('\n') {
        if line.starts_with("#PBS") || line.starts_with("#BSUB") {
            return true;
        }
        if !line.starts_with('#') {
            non_comments += 1;
            if non_comments > 100 {
                return false;
            }
        }
    }
    false
}

// ---------------------------------------------------------------------------
// The option tables, one list for all releases: a row holds from its
// `since` release (22.05 when not given) up to, not including, its `until`
// release. Sources: `--help` and the man pages of each release, and the
// `slurm_opt_*` definitions in src/common/slurm_opt.c at its tag (an option
// belongs to a client when it has a set function for it).

const R: u8 = 1; // srun
const B: u8 = 2; // sbatch
const A: u8 = 4; // salloc
const RB: u8 = R | B;
const RA: u8 = R | A;
const BA: u8 = B | A;
const RBA: u8 = R | B | A;

const NO: ArgKind = ArgKind::None;
const REQ: ArgKind = ArgKind::Required;
const OPT: ArgKind = ArgKind::Optional;

use Release::{V24_11, V26_05};

#[derive(Clone, Copy)]
struct Row {
    clients: u8,
    since: Release,
    until: Option<Release>,
    spec: OptSpec,
}

impl Row {
    const fn since(self, release: Release) -> Row {
        Row {
            since: release,
            ..self
        }
    }

    const fn until(self, release: Release) -> Row {
        Row {
            until: Some(release),
            ..self
        }
    }

    const fn holds(&self, mask: u8, release: Release) -> bool {
        let r = release as u8;
        self.clients & mask != 0
            && self.since as u8 <= r
            && match self.until {
                Some(u) => r < u as u8,
                None => true,
            }
    }
}

const fn o(clients: u8, long: &'static str, short: Option<char>, arg: ArgKind) -> Row {
    Row {
        clients,
        since: Release::V22_05,
        until: None,
        spec: OptSpec { long, short, arg },
    }
}

#[rustfmt::skip]
const OPTIONS: &[Row] = &[
    o(R,   "accel-bind",          None,      REQ),
    o(RBA, "account",             Some('A'), REQ),
    o(RBA, "acctg-freq",          None,      REQ),
    o(B,   "array",               Some('a'), REQ),
    o(B,   "batch",               None,      REQ),
    o(R,   "bcast",               None,      OPT), // --help shows "=<dest_path>"
    o(R,   "bcast-exclude",       None,      REQ),
    o(RBA, "bb",                  None,      REQ),
    o(RBA, "bbf",                 None,      REQ),
    o(RBA, "begin",               Some('b'), REQ),
    o(A,   "bell",                None,      NO),
    o(RBA, "chdir",               Some('D'), REQ),
    o(RBA, "cluster",             None,      REQ), // undocumented, in the getopt table
    o(RBA, "cluster-constraint",  None,      REQ),
    o(RBA, "clusters",            Some('M'), REQ),
    o(RBA, "comment",             None,      REQ),
    o(R,   "compress",            None,      OPT),
    o(RBA, "constraint",          Some('C'), REQ),
    o(RBA, "container",           None,      REQ), // --help shows no argument
    o(RBA, "context",             None,      REQ),
    o(RBA, "contiguous",          None,      NO),
    o(RBA, "core-spec",           Some('S'), REQ),
    o(RBA, "cores-per-socket",    None,      REQ),
    o(R,   "cpu-bind",            None,      REQ),
    o(R,   "cpu_bind",            None,      REQ),
    o(RBA, "cpu-freq",            None,      REQ),
    o(RBA, "cpus-per-gpu",        None,      REQ),
    o(RBA, "cpus-per-task",       Some('c'), REQ),
    o(RBA, "deadline",            None,      REQ),
    o(R,   "debugger-test",       None,      NO),
    o(RBA, "delay-boot",          None,      REQ),
    o(RBA, "dependency",          Some('d'), REQ),
    o(R,   "disable-status",      Some('X'), NO),
    o(RBA, "distribution",        Some('m'), REQ),
    o(R,   "epilog",              None,      REQ),
    o(RB,  "error",               Some('e'), REQ),
    o(R,   "exact",               None,      NO),
    o(RBA, "exclude",             Some('x'), REQ),
    o(RBA, "exclusive",           None,      OPT),
    o(RB,  "export",              None,      REQ), // sbatch --help shows "[=names]"
    o(B,   "export-file",         None,      REQ),
    o(RBA, "extra-node-info",     Some('B'), REQ),
    o(BA,  "get-user-env",        None,      OPT).until(V24_11), // --help shows no argument
    o(B,   "get-user-env",        None,      OPT).since(V24_11).until(V26_05),
    o(B,   "get-user-env",        None,      NO).since(V26_05),
    o(RBA, "gid",                 None,      REQ).until(V24_11),
    o(B,   "gid",                 None,      REQ).since(V24_11),
    o(RBA, "gpu-bind",            None,      REQ),
    o(RBA, "gpu-freq",            None,      REQ),
    o(RBA, "gpus",                Some('G'), REQ),
    o(RBA, "gpus-per-node",       None,      REQ),
    o(RBA, "gpus-per-socket",     None,      REQ),
    o(RBA, "gpus-per-task",       None,      REQ),
    o(RBA, "gres",                None,      REQ),
    o(RBA, "gres-flags",          None,      REQ),
    o(RBA, "help",                Some('h'), NO),
    o(R,   "het-group",           None,      REQ),
    o(RBA, "hint",                None,      REQ),
    o(RBA, "hold",                Some('H'), NO),
    o(B,   "ignore-pbs",          None,      NO),
    o(RA,  "immediate",           Some('I'), OPT),
    o(RB,  "input",               Some('i'), REQ),
    o(R,   "interactive",         None,      NO),
    o(RBA, "job-name",            Some('J'), REQ),
    o(R,   "jobid",               None,      REQ),
    o(A,   "kill-command",        Some('K'), OPT),
    o(R,   "kill-on-bad-exit",    Some('K'), OPT), // --help shows no argument
    o(B,   "kill-on-invalid-dep", None,      REQ),
    o(R,   "label",               Some('l'), NO),
    o(RBA, "licenses",            Some('L'), REQ),
    o(RBA, "mail-type",           None,      REQ),
    o(RBA, "mail-user",           None,      REQ),
    o(RBA, "mcs-label",           None,      REQ),
    o(RBA, "mem",                 None,      REQ),
    o(RBA, "mem-bind",            None,      REQ),
    o(RBA, "mem-per-cpu",         None,      REQ),
    o(RBA, "mem-per-gpu",         None,      REQ),
    o(RBA, "mincpus",             None,      REQ),
    o(R,   "mpi",                 None,      REQ),
    o(R,   "msg-timeout",         None,      REQ),
    o(R,   "multi-prog",          None,      NO),
    o(RBA, "network",             None,      REQ),
    o(RBA, "nice",                None,      OPT),
    o(R,   "no-allocate",         Some('Z'), NO),
    o(A,   "no-bell",             None,      NO),
    o(RBA, "no-kill",             Some('k'), OPT), // --help shows no argument
    o(B,   "no-requeue",          None,      NO),
    o(A,   "no-shell",            None,      NO),
    o(RBA, "nodefile",            Some('F'), REQ),
    o(RBA, "nodelist",            Some('w'), REQ),
    o(RBA, "nodes",               Some('N'), REQ),
    o(RBA, "ntasks",              Some('n'), REQ),
    o(RBA, "ntasks-per-core",     None,      REQ),
    o(RBA, "ntasks-per-gpu",      None,      REQ),
    o(RBA, "ntasks-per-node",     None,      REQ),
    o(RBA, "ntasks-per-socket",   None,      REQ),
    o(RBA, "ntasks-per-tres",     None,      REQ),
    o(RB,  "open-mode",           None,      REQ),
    o(RB,  "output",              Some('o'), REQ),
    o(RBA, "overcommit",          Some('O'), NO),
    o(R,   "overlap",             None,      OPT), // --help shows no argument
    o(RBA, "oversubscribe",       Some('s'), NO),
    o(R,   "pack-group",          None,      REQ),
    o(B,   "parsable",            None,      NO).until(V26_05),
    o(RB,  "parsable",            None,      NO).since(V26_05),
    o(RBA, "partition",           Some('p'), REQ),
    o(RBA, "power",               None,      REQ).until(V24_11),
    o(RBA, "prefer",              None,      REQ),
    o(R,   "preserve-env",        Some('E'), NO),
    o(RBA, "priority",            None,      REQ),
    o(RBA, "profile",             None,      REQ),
    o(R,   "prolog",              None,      REQ),
    o(RB,  "propagate",           None,      OPT),
    o(R,   "pty",                 None,      NO).until(V24_11),
    o(R,   "pty",                 None,      OPT).since(V24_11),
    o(RBA, "qos",                 Some('q'), REQ),
    o(RBA, "quiet",               Some('Q'), NO),
    o(R,   "quit-on-interrupt",   None,      NO),
    o(RBA, "reboot",              None,      NO),
    o(R,   "relative",            Some('r'), REQ),
    o(B,   "requeue",             None,      NO).until(V26_05),
    o(B,   "requeue",             None,      OPT).since(V26_05),
    o(RBA, "reservation",         None,      REQ),
    o(R,   "resv-ports",          None,      OPT).until(V24_11), // --help shows no argument
    o(RBA, "resv-ports",          None,      OPT).since(V24_11),
    o(R,   "send-libs",           None,      OPT),
    o(RBA, "signal",              None,      REQ),
    o(R,   "slurmd-debug",        None,      REQ),
    o(RBA, "sockets-per-node",    None,      REQ),
    o(RBA, "spread-job",          None,      NO),
    o(RBA, "switches",            None,      REQ),
    o(R,   "task-epilog",         None,      REQ),
    o(R,   "task-prolog",         None,      REQ),
    o(RBA, "tasks-per-node",      None,      REQ),
    o(RB,  "test-only",           None,      NO),
    o(RBA, "thread-spec",         None,      REQ),
    o(R,   "threads",             Some('T'), REQ),
    o(RBA, "threads-per-core",    None,      REQ),
    o(RBA, "time",                Some('t'), REQ),
    o(RBA, "time-min",            None,      REQ),
    o(RBA, "tmp",                 None,      REQ),
    o(RBA, "uid",                 None,      REQ).until(V24_11),
    o(B,   "uid",                 None,      REQ).since(V24_11),
    o(R,   "unbuffered",          Some('u'), NO),
    o(RBA, "usage",               None,      NO),
    o(RBA, "use-min-nodes",       None,      NO),
    o(RBA, "verbose",             Some('v'), NO),
    o(RBA, "version",             Some('V'), NO),
    o(B,   "wait",                Some('W'), NO),
    o(R,   "wait",                Some('W'), REQ),
    o(BA,  "wait-all-nodes",      None,      REQ),
    o(RBA, "wckey",               None,      REQ),
    o(R,   "whole",               None,      NO),
    o(B,   "wrap",                None,      REQ), // --help shows "[=command string]"
    o(RA,  "x11",                 None,      OPT), // built in on Debian; --help omits it
    // New in 24.11 (since 22.05).
    o(RBA, "autocomplete",        None,      REQ).since(V24_11), // undocumented
    o(RBA, "container-id",        None,      REQ).since(V24_11), // 24.11 --help shows no argument
    o(R,   "external-launcher",   None,      OPT).since(V24_11), // undocumented
    o(RBA, "extra",               None,      REQ).since(V24_11),
    o(RBA, "oom-kill-step",       None,      OPT).since(V24_11),
    o(RBA, "segment",             None,      REQ).since(V24_11),
    o(RBA, "stepmgr",             None,      NO).since(V24_11),
    o(R,   "treewidth",           None,      REQ).since(V24_11),
    o(RBA, "tres-bind",           None,      REQ).since(V24_11),
    o(RBA, "tres-per-task",       None,      REQ).since(V24_11),
    // New in 26.05.
    o(R,   "async",               None,      NO).since(V26_05),
    o(RBA, "consolidate-segments", None,     NO).since(V26_05),
    o(RBA, "container-type",      None,      REQ).since(V26_05),
    o(B,   "external",            None,      NO).since(V26_05),
    o(R,   "ignore-signals",      None,      REQ).since(V26_05),
    o(RBA, "mem-update",          None,      REQ).since(V26_05),
    o(RBA, "resources",           None,      REQ).since(V26_05),
    o(RBA, "spread-segments",     None,      NO).since(V26_05),
    o(R,   "wait-for-children",   None,      NO).since(V26_05),
];

const fn count(mask: u8, release: Release) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < OPTIONS.len() {
        if OPTIONS[i].holds(mask, release) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn select<const N: usize>(mask: u8, release: Release) -> [OptSpec; N] {
    let mut out = [OptSpec {
        long: "",
        short: None,
        arg: ArgKind::None,
    }; N];
    let mut i = 0;
    let mut j = 0;
    while i < OPTIONS.len() {
        if OPTIONS[i].holds(mask, release) {
            out[j] = OPTIONS[i].spec;
            j += 1;
        }
        i += 1;
    }
    out
}

macro_rules! table {
    ($name:ident, $mask:expr, $release:expr) => {
        static $name: [OptSpec; count($mask, $release)] = select($mask, $release);
    };
}
table!(SRUN_22_05, R, Release::V22_05);
table!(SBATCH_22_05, B, Release::V22_05);
table!(SALLOC_22_05, A, Release::V22_05);
table!(SRUN_24_11, R, Release::V24_11);
table!(SBATCH_24_11, B, Release::V24_11);
table!(SALLOC_24_11, A, Release::V24_11);
table!(SRUN_26_05, R, Release::V26_05);
table!(SBATCH_26_05, B, Release::V26_05);
table!(SALLOC_26_05, A, Release::V26_05);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Environment variables (or GPU requests) as name/value pairs.
    type Env<'a> = &'a [(&'a str, &'a str)];

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn run(cmd: &str, env: &[(&str, &str)]) -> ClientRequest {
        let argv = words(cmd);
        let client = match argv[0].as_str() {
            "srun" => Client::Srun,
            "sbatch" => Client::Sbatch,
            "salloc" => Client::Salloc,
            other => panic!("no client {other}"),
        };
        same_in_every_release(|r| parse(r, client, &argv, &env_of(env)))
    }

    /// The answer of `parse_in` for 22.05, checked to be the same for every
    /// release: the cases here use options every release has (only the notes
    /// may also name the options newer releases add).
    fn same_in_every_release(parse_in: impl Fn(Release) -> ClientRequest) -> ClientRequest {
        let first = parse_in(Release::V22_05);
        for r in &Release::ALL[1..] {
            let other = ClientRequest {
                notes: first.notes.clone(),
                ..parse_in(*r)
            };
            assert_eq!(other, first, "{r:?} differs from 22.05");
        }
        first
    }

    fn sbatch(cmd: &str, env: &[(&str, &str)], script: Option<&str>) -> ClientRequest {
        same_in_every_release(|r| parse_sbatch(r, &words(cmd), &env_of(env), script))
    }

    fn g(v: &str) -> Knowledge {
        Knowledge::Given(v.to_string())
    }

    use Knowledge::{Absent, Unknown};

    #[test]
    fn account_and_time_with_precedence() {
        // (command, environment, script, account, time)
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            Option<&'a str>,
            Knowledge,
            Knowledge,
        );
        let cases: &[Case] = &[
            ("srun -A projx -t 10 cmd", &[], None, g("projx"), g("10")),
            (
                "srun --account=projx --time=1-00:00 cmd",
                &[],
                None,
                g("projx"),
                g("1-00:00"),
            ),
            (
                "srun -Aprojx -t5 cmd",
                &[("SLURM_ACCOUNT", "env"), ("SLURM_TIMELIMIT", "7")],
                None,
                g("projx"),
                g("5"),
            ),
            (
                "srun cmd",
                &[("SLURM_ACCOUNT", "env"), ("SLURM_TIMELIMIT", "7")],
                None,
                g("env"),
                g("7"),
            ),
            ("srun cmd", &[("SBATCH_ACCOUNT", "x")], None, Absent, Absent),
            (
                "salloc cmd",
                &[("SALLOC_ACCOUNT", "a"), ("SALLOC_TIMELIMIT", "3")],
                None,
                g("a"),
                g("3"),
            ),
            (
                "sbatch job.sh",
                &[],
                Some("#!/bin/sh\n#SBATCH -A s\n#SBATCH --time=9\n"),
                g("s"),
                g("9"),
            ),
            (
                "sbatch job.sh",
                &[("SBATCH_ACCOUNT", "e")],
                Some("#!/bin/sh\n#SBATCH -A s\n"),
                g("e"),
                Absent,
            ),
            (
                "sbatch -A c job.sh",
                &[("SBATCH_ACCOUNT", "e")],
                Some("#!/bin/sh\n#SBATCH -A s\n"),
                g("c"),
                Absent,
            ),
            ("sbatch job.sh", &[], None, Unknown, Unknown),
            // Nothing after the unknown option could set --time.
            ("srun --bogus x -A a cmd", &[], None, Unknown, Absent),
        ];
        for (cmd, env, script, account, time) in cases {
            let r = if cmd.starts_with("sbatch") {
                sbatch(cmd, env, *script)
            } else {
                run(cmd, env)
            };
            assert_eq!((&r.account, &r.time), (account, time), "{cmd} {env:?}");
        }
    }

    #[test]
    fn constraint_forms() {
        let cases: &[(&str, Knowledge)] = &[
            ("srun -C carme cmd", g("carme")),
            ("srun -Ccarme cmd", g("carme")),
            ("srun --constraint=carme cmd", g("carme")),
            ("srun --constraint carme cmd", g("carme")),
            ("srun --constraint= cmd", g("")),
            // Unambiguous prefixes, with either argument form.
            ("srun --constr=carme cmd", g("carme")),
            ("srun --constr carme cmd", g("carme")),
            ("srun --constra carme cmd", g("carme")),
            // Bundles: no-argument letters, then C with attached or next-word value.
            ("srun -vC carme cmd", g("carme")),
            ("srun -vlCcarme cmd", g("carme")),
            ("srun -lC x cmd", g("x")),
            // Last one wins.
            ("srun -C a -C b cmd", g("b")),
            ("srun --constraint=a -Cb cmd", g("b")),
            // Options stop at the command and after "--".
            ("srun cmd -C carme", Absent),
            ("srun -N1 -- -C carme", Absent),
            ("srun - -C carme", Absent),
            ("srun -C x cmd -C y", g("x")),
            // Optional arguments are taken only when attached.
            ("srun --exclusive -C carme cmd", g("carme")),
            ("srun --exclusive=user -C carme cmd", g("carme")),
            ("srun --exclusive carme -C x", Absent),
            ("srun -I -C x cmd", g("x")),
            ("srun -I5 -C x cmd", g("x")),
            ("srun -IC x cmd", Absent),
            ("srun -kC x cmd", Absent),
            // A required argument takes the next word whatever it looks like.
            ("srun --comment -C x", Absent),
            ("srun -J -C x", Absent),
            ("srun -J -- -C x cmd", g("x")),
            // -W: srun's takes an argument, sbatch's does not.
            ("srun -W -C x cmd", Absent),
            ("salloc -K -C x", g("x")),
            ("salloc -KC x", Absent),
            // Exact match wins over longer names; aliases are one option.
            ("srun --cpu_b=x -C y cmd", g("y")),
            ("srun --pack 0 -C y cmd", g("y")),
            ("srun --tasks-per 2 -C y cmd", g("y")),
            // Our own SPANK option, and others' with an attached value.
            ("srun --carme-image img -C x cmd", g("x")),
            ("srun --carme-im img -C x cmd", g("x")),
            ("srun --carme-beeond -C x cmd", g("x")),
            ("srun --carme-be -C x cmd", g("x")),
            ("srun --container-image=foo -C x cmd", g("x")),
            // Unknown or ambiguous words: what follows could be anything.
            ("srun --con=x cmd", Unknown),
            ("srun --=x -C y cmd", Unknown),
            ("srun --container-writable -C x cmd", Unknown),
            ("srun --container-writable --constr=x cmd", Unknown),
            ("srun --container-writable -vCx cmd", Unknown),
            ("srun -y -C x cmd", Unknown),
            ("srun --contiguous=yes -C x cmd", Unknown),
            ("srun -C", Unknown),
            // ... but what nothing after it can change stays known.
            ("srun -C x --container-writable cmd", g("x")),
            ("srun -C x --container-writable cmd -N2", g("x")),
            ("srun --container-writable cmd", Absent),
            ("srun -C x --bogus -C y cmd", Unknown),
            ("srun", Absent),
        ];
        for (cmd, want) in cases {
            assert_eq!(&run(cmd, &[]).constraint, want, "{cmd}");
        }
    }

    #[test]
    fn sbatch_wait_takes_no_argument() {
        let r = sbatch("sbatch -W -C x job.sh", &[], Some("#!/bin/sh\n"));
        assert_eq!(r.constraint, g("x"));
        assert_eq!(r.script, g("job.sh"));
    }

    #[test]
    fn nodes_and_jobid() {
        let cases: &[(&str, Env, Knowledge, Knowledge)] = &[
            ("srun -N2 cmd", &[], g("2"), Absent),
            ("srun --nodes=1-3 cmd", &[], g("1-3"), Absent),
            ("srun -vN 2 cmd", &[], g("2"), Absent),
            ("srun --nodes 4 cmd", &[], g("4"), Absent),
            ("srun --nod 4 cmd", &[], Unknown, Absent),
            ("srun --jobid=7 cmd", &[], Absent, g("7")),
            (
                "srun --jobid 7 cmd",
                &[("SLURM_JOB_ID", "8")],
                Absent,
                g("7"),
            ),
            ("srun cmd", &[("SLURM_JOB_ID", "8")], Absent, g("8")),
            // Inside a job srun takes -N from SLURM_JOB_NUM_NODES ...
            ("srun cmd", &[("SLURM_JOB_NUM_NODES", "3")], g("3"), Absent),
            (
                "srun -N1 cmd",
                &[("SLURM_JOB_NUM_NODES", "3")],
                g("1"),
                Absent,
            ),
            // ... and 22.05 never reads SLURM_NNODES, whatever srun(1) says.
            ("srun cmd", &[("SLURM_NNODES", "3")], Absent, Absent),
            (
                "salloc cmd",
                &[("SLURM_JOB_NUM_NODES", "3")],
                Absent,
                Absent,
            ),
            ("salloc cmd", &[("SLURM_JOB_ID", "3")], Absent, Absent),
            ("srun --bogus cmd", &[], Absent, Absent),
            ("srun --bogus -N2 cmd", &[], Unknown, Absent),
            ("srun --bogus --jobid=2 cmd", &[], Absent, Unknown),
        ];
        for (cmd, env, nodes, jobid) in cases {
            let r = run(cmd, env);
            assert_eq!(&r.nodes, nodes, "{cmd} {env:?}");
            assert_eq!(&r.jobid, jobid, "{cmd} {env:?}");
        }
    }

    #[test]
    fn srun_local_het_step_drops_env_node_count() {
        let env = [("SLURM_JOB_ID", "5"), ("SLURM_JOB_NUM_NODES", "3")];
        let r = run("srun -n1 a : -n1 b", &env);
        assert!(r.het_job);
        assert_eq!(r.nodes, Absent);
        assert_eq!(r.jobid, g("5"));
        let het_alloc = [env[0], env[1], ("SLURM_HET_SIZE", "2")];
        assert_eq!(run("srun -n1 a : -n1 b", &het_alloc).nodes, g("3"));
        assert_eq!(run("srun -n1 a", &env).nodes, g("3"));
        // Unknown whether the ":" separates components.
        assert_eq!(run("srun --bogus a : b", &env).nodes, Unknown);
        assert_eq!(run("srun --bogus a b", &env).nodes, g("3"));
    }

    #[test]
    fn env_precedence_srun_salloc() {
        let cases: &[(&str, Env, Knowledge)] = &[
            ("srun cmd", &[("SLURM_CONSTRAINT", "e")], g("e")),
            ("srun -C c cmd", &[("SLURM_CONSTRAINT", "e")], g("c")),
            ("srun cmd", &[("SLURM_CONSTRAINT", "")], g("")),
            ("srun cmd", &[("SBATCH_CONSTRAINT", "e")], Absent),
            (
                "srun cmd",
                &[
                    ("SLURM_CONSTRAINT", "e"),
                    ("SLURM_CONSTRAINT_PACK_GROUP_0", "p"),
                ],
                g("p"),
            ),
            (
                "srun cmd",
                &[
                    ("SLURM_CONSTRAINT_HET_GROUP_0", "h"),
                    ("SLURM_CONSTRAINT_PACK_GROUP_0", "p"),
                ],
                g("h"),
            ),
            (
                "srun --het-group=1 cmd",
                &[
                    ("SLURM_CONSTRAINT_HET_GROUP_0", "h0"),
                    ("SLURM_CONSTRAINT_HET_GROUP_1", "h1"),
                ],
                g("h1"),
            ),
            (
                "srun --het-group=0,1 cmd",
                &[("SLURM_CONSTRAINT", "e")],
                Unknown,
            ),
            (
                "srun --het-group=0,1 -C c cmd",
                &[("SLURM_CONSTRAINT", "e")],
                g("c"),
            ),
            ("srun --het-group=0,1 cmd", &[], Unknown),
            (
                "srun --het-group=01 cmd",
                &[("SLURM_CONSTRAINT_HET_GROUP_1", "h1")],
                g("h1"),
            ),
            (
                "srun --het-group=[1] cmd",
                &[("SLURM_CONSTRAINT_HET_GROUP_1", "h1")],
                g("h1"),
            ),
            ("salloc", &[("SALLOC_CONSTRAINT", "e")], g("e")),
            ("salloc -C c", &[("SALLOC_CONSTRAINT", "e")], g("c")),
            ("salloc", &[("SLURM_CONSTRAINT", "e")], Absent),
            ("salloc", &[("SLURM_CONSTRAINT_HET_GROUP_0", "e")], Absent),
            // Unknown argv, but nothing after the unknown word can set -C.
            ("srun --bogus cmd", &[("SLURM_CONSTRAINT", "e")], g("e")),
        ];
        for (cmd, env, want) in cases {
            assert_eq!(&run(cmd, env).constraint, want, "{cmd} {env:?}");
        }
    }

    fn gpus(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn gpu_requests() {
        let cases: &[(&str, Env, Env, bool)] = &[
            ("srun cmd", &[], &[], false),
            (
                "srun --gres=gpu:2 -G 1 --gpus-per-node=1 --gpus-per-task 3 --gpus-per-socket=4 cmd",
                &[],
                &[
                    ("gpus", "1"),
                    ("gpus-per-node", "1"),
                    ("gpus-per-socket", "4"),
                    ("gpus-per-task", "3"),
                    ("gres", "gpu:2"),
                ],
                false,
            ),
            ("srun -G1 -G2 cmd", &[], &[("gpus", "2")], false),
            (
                "srun -vG2 cmd",
                &[("SLURM_GPUS", "3")],
                &[("gpus", "2")],
                false,
            ),
            ("srun cmd", &[("SLURM_GPUS", "3")], &[("gpus", "3")], false),
            (
                "srun cmd",
                &[("SLURM_GPUS_PER_SOCKET", "1")],
                &[("gpus-per-socket", "1")],
                false,
            ),
            (
                "srun cmd",
                &[("SLURM_GRES_HET_GROUP_0", "gpu:1")],
                &[("gres", "gpu:1")],
                false,
            ),
            // A step without --gres asks for SLURM_STEP_GRES.
            (
                "srun cmd",
                &[("SLURM_STEP_GRES", "gpu:1")],
                &[("gres", "gpu:1")],
                false,
            ),
            (
                "srun cmd",
                &[("SLURM_STEP_GRES", "gpu:1"), ("SLURM_GRES", "gpu:2")],
                &[("gres", "gpu:2")],
                false,
            ),
            (
                "srun --gres=none cmd",
                &[("SLURM_STEP_GRES", "gpu:1")],
                &[("gres", "none")],
                false,
            ),
            ("salloc", &[("SLURM_STEP_GRES", "gpu:1")], &[], false),
            (
                "salloc --gpus-per-node=2",
                &[],
                &[("gpus-per-node", "2")],
                false,
            ),
            (
                "salloc",
                &[("SALLOC_GPUS_PER_TASK", "2")],
                &[("gpus-per-task", "2")],
                false,
            ),
            ("salloc", &[("SLURM_GPUS", "2")], &[], false),
            // --tres-per-task (24.11 on): each_release_knows_its_own_options.
            // After an unknown word: what it cannot change stays, the rest is unknown.
            ("srun -G1 --bogus cmd", &[], &[("gpus", "1")], false),
            (
                "srun -G1 --bogus --gres gpu:1 cmd",
                &[],
                &[("gpus", "1")],
                true,
            ),
            ("srun --bogus -G1 cmd", &[], &[], true),
            ("srun --bogus --gpus-per-n=1 cmd", &[], &[], true),
        ];
        for (cmd, env, want, unknown) in cases {
            let r = run(cmd, env);
            assert_eq!(r.gpu_requests, gpus(want), "{cmd} {env:?}");
            assert_eq!(r.gpu_requests_unknown, *unknown, "{cmd} {env:?}");
        }
    }

    #[test]
    fn multi_prog() {
        let cases: &[(&str, Env, bool)] = &[
            ("srun cmd", &[], false),
            ("srun --multi-prog conf", &[], true),
            ("srun --multi conf", &[], true),
            ("srun conf --multi-prog", &[], false),
            ("srun conf", &[("SLURM_SRUN_MULTI", "")], true),
            ("srun conf", &[("SLURM_SRUN_MULTI", "yes")], true),
            ("srun conf", &[("SLURM_SRUN_MULTI", " 1")], true),
            ("srun conf", &[("SLURM_SRUN_MULTI", "0")], false),
            ("srun conf", &[("SLURM_SRUN_MULTI", "no")], false),
            ("srun conf", &[("SLURM_SRUN_MULTI", "1x")], false),
            (
                "srun conf",
                &[
                    ("SLURM_SRUN_MULTI", "1"),
                    ("SLURM_SRUN_MULTI_HET_GROUP_0", "0"),
                ],
                false,
            ),
            ("salloc --multi-prog x", &[], false),
        ];
        for (cmd, env, want) in cases {
            assert_eq!(run(cmd, env).multi_prog, *want, "{cmd} {env:?}");
        }
    }

    #[test]
    fn env_flag_like_slurm() {
        for yes in [
            "",
            "yes",
            "YES",
            "1",
            "-1",
            "+7",
            "  3",
            "99999999999999999999",
        ] {
            assert!(env_flag(yes), "{yes:?}");
        }
        for no in ["0", "no", "true", "1 ", "0x1", "+", "-", "00"] {
            assert!(!env_flag(no), "{no:?}");
        }
    }

    #[test]
    fn het_jobs() {
        let cases: &[(&str, bool, Knowledge)] = &[
            ("srun -C a hostname : -C b hostname", true, g("a")),
            ("srun -C a : -C b hostname", true, g("a")),
            ("srun --comment : hostname", false, Absent),
            ("srun --het-group=1 hostname", true, Absent),
            ("salloc -C a : -C b", true, g("a")),
            // salloc only splits where its options stop.
            ("salloc -C a bash : x", false, g("a")),
        ];
        for (cmd, het, constraint) in cases {
            let r = run(cmd, &[]);
            assert_eq!(r.het_job, *het, "{cmd}");
            assert_eq!(&r.constraint, constraint, "{cmd}");
        }
    }

    const SCRIPT: &str = "#!/bin/sh\n#SBATCH -C s -N 4\n#SBATCH --gres=gpu:1\nsrun x\n";

    #[test]
    fn sbatch_precedence() {
        let r = sbatch("sbatch job.sh", &[], Some(SCRIPT));
        assert_eq!(r.constraint, g("s"));
        assert_eq!(r.nodes, g("4"));
        assert_eq!(r.gpu_requests, gpus(&[("gres", "gpu:1")]));
        assert!(!r.incomplete, "{:?}", r.notes);

        let env = [("SBATCH_CONSTRAINT", "e"), ("SBATCH_GRES", "gpu:2")];
        let r = sbatch("sbatch job.sh", &env, Some(SCRIPT));
        assert_eq!(r.constraint, g("e"));
        assert_eq!(r.gpu_requests, gpus(&[("gres", "gpu:2")]));

        let r = sbatch("sbatch -C c --gres=gpu:3 job.sh", &env, Some(SCRIPT));
        assert_eq!(r.constraint, g("c"));
        assert_eq!(r.gpu_requests, gpus(&[("gres", "gpu:3")]));
        // sbatch has no environment variable for -N; srun's is not read.
        let r = sbatch(
            "sbatch job.sh",
            &[("SLURM_JOB_NUM_NODES", "9")],
            Some(SCRIPT),
        );
        assert_eq!(r.nodes, g("4"));
        // Script arguments are not options.
        let r = sbatch("sbatch job.sh -C c", &[], Some(SCRIPT));
        assert_eq!(r.constraint, g("s"));
        assert_eq!(r.script, g("job.sh"));
    }

    #[test]
    fn sbatch_unreadable_script_is_unknown() {
        let r = sbatch("sbatch", &[], None);
        assert_eq!(r.script, Absent);
        assert_eq!(r.constraint, Unknown);
        assert_eq!(r.nodes, Unknown);
        assert!(r.gpu_requests_unknown);
        assert!(r.incomplete);

        let r = sbatch("sbatch -C c -N1 -G1", &[("SBATCH_GRES", "gpu:1")], None);
        assert_eq!(r.constraint, g("c"));
        assert_eq!(r.nodes, g("1"));
        assert_eq!(r.gpu_requests, gpus(&[("gpus", "1"), ("gres", "gpu:1")]));
        assert!(r.gpu_requests_unknown);

        let r = sbatch("sbatch job.sh", &[("SBATCH_CONSTRAINT", "e")], None);
        assert_eq!(r.constraint, g("e"));
        // parse() for sbatch has no script text.
        let r = run("sbatch -C c job.sh", &[]);
        assert_eq!((r.constraint, r.nodes), (g("c"), Unknown));
    }

    #[test]
    fn sbatch_wrap_has_no_directives() {
        let r = sbatch("sbatch --wrap=hostname", &[], None);
        assert!(r.wrap);
        assert_eq!(r.script, Absent);
        assert_eq!(r.constraint, Absent);
        assert!(!r.gpu_requests_unknown);
        assert!(!r.incomplete, "{:?}", r.notes);
        let r = sbatch("sbatch --wrap hostname -C x", &[], Some(SCRIPT));
        assert_eq!(r.constraint, g("x"));
        assert_eq!(r.nodes, Absent);
        // --wrap is read from every component.
        assert!(sbatch("sbatch -N1 : --wrap=hostname", &[], None).wrap);
    }

    #[test]
    fn sbatch_components_and_script_path() {
        let r = sbatch("sbatch -N1 : -N2 job.sh", &[], Some("#!/bin/sh\n"));
        assert!(r.het_job);
        assert_eq!(r.nodes, g("1"));
        assert_eq!(r.script, g("job.sh"));

        let r = sbatch("sbatch job.sh a : b", &[], Some("#!/bin/sh\n"));
        assert!(!r.het_job);
        assert_eq!(r.script, g("job.sh"));

        let r = sbatch("sbatch -- job.sh -N3", &[], Some("#!/bin/sh\n"));
        assert_eq!(r.script, g("job.sh"));
        assert_eq!(r.nodes, Absent);

        // sbatch drops ":" words before finding the script, so here --comment
        // swallows job.sh and the script comes from stdin.
        let r = sbatch("sbatch --comment : job.sh", &[], None);
        assert_eq!(r.script, Absent);

        let r = sbatch("sbatch --bogus job.sh", &[], None);
        assert_eq!(r.script, Unknown);
        assert!(r.incomplete);

        let het = "#!/bin/sh\n#SBATCH -C a\n#SBATCH hetjob\n#SBATCH -C b\n";
        let r = sbatch("sbatch job.sh", &[], Some(het));
        assert!(r.het_job);
        assert_eq!(r.constraint, g("a"));
    }

    #[test]
    fn directives() {
        let cases: &[(&str, &[&str])] = &[
            ("#!/bin/sh\n#SBATCH -C s -N 4\n", &["-C", "s", "-N", "4"]),
            (
                "#!/bin/sh\n#SBATCH -C s\necho\n#SBATCH -N 4\n",
                &["-C", "s"],
            ),
            (
                "#!/bin/sh\n\n# comment\n  # indented\n\t\n#SBATCH -N1\n",
                &["-N1"],
            ),
            ("#!/bin/sh\n  #SBATCH -N1\n", &[]),
            (
                "#!/bin/sh\n#SBATCH  --constraint=\"a b\"\n",
                &["--constraint=a b"],
            ),
            (
                "#!/bin/sh\n#SBATCH -C 'x&y' # comment -N2\n",
                &["-C", "x&y"],
            ),
            // A backslash cannot join words: get_argument tests for whitespace first.
            ("#!/bin/sh\n#SBATCH -C a\\ b\n", &["-C", "a", "b"]),
            ("#!/bin/sh\n#SBATCH -C a\\#b\n", &["-C", "a#b"]),
            ("#!/bin/sh\n#SBATCH -C a#b -N2\n", &["-C", "a"]),
            (
                "#!/bin/sh\n#SBATCH --comment=\"x # y\"\n",
                &["--comment=x # y"],
            ),
            ("#!/bin/sh\n#SBATCH -C \"a\"'b'c\n", &["-C", "abc"]),
            ("#!/bin/sh\n#SBATCH -C \\\"a\n", &["-C", "\"a"]),
            ("#!/bin/sh\n#SLURM -N1\n", &["-N1"]),
            ("#!/bin/sh\n#SBATCH--nodes=2\n", &["--nodes=2"]),
            ("#!/bin/sh\n#sbatch -N1\n", &[]),
            // An empty word ends sbatch's reading of the line.
            (
                "#!/bin/sh\n#SBATCH -C \"\" -N2\n#SBATCH -N3\n",
                &["-C", "-N3"],
            ),
            ("#!/bin/sh\n#SBATCH -N1 hetjob -N3\n", &["-N1"]),
            (
                "#!/bin/sh\n#SBATCH -N1\n#SBATCH HetJob\n#SBATCH -N3\n",
                &["-N1"],
            ),
            (
                "#!/bin/sh\n#SBATCH -N1\n#SBATCH hetjobs -N3\n",
                &["-N1", "hetjobs", "-N3"],
            ),
            ("#!/bin/sh\r\n#SBATCH -N1\r\n", &["-N1"]),
            // Syntax errors: the words before them.
            (
                "#!/bin/sh\n#SBATCH -N1\n#SBATCH -C \"a\n#SBATCH -n1\n",
                &["-N1", "-C"],
            ),
            ("#!/bin/sh\n#SBATCH -N1 :x\n", &["-N1"]),
            ("", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(batch_directives(text), want.to_vec(), "{text:?}");
        }
    }

    #[test]
    fn directives_sbatch_would_refuse_make_script_unknown() {
        let cases: &[&str] = &[
            "#!/bin/sh\n#SBATCH -C \"a\n",
            "#!/bin/sh\n#SBATCH -N1 :x\n",
            "#!/bin/sh\n#SBATCH foo\n",
            "#!/bin/sh\n#SBATCH --nodes\n",
            "#!/bin/sh\n#SBATCH --container-writable -N1\n",
        ];
        for text in cases {
            let r = sbatch("sbatch job.sh", &[], Some(text));
            assert_eq!(r.nodes, Unknown, "{text:?}");
            assert_eq!(r.constraint, Unknown, "{text:?}");
            // The command line still decides what it sets.
            let r = sbatch("sbatch -C c job.sh", &[], Some(text));
            assert_eq!(r.constraint, g("c"), "{text:?}");
        }
    }

    #[test]
    fn pbs_lines_make_script_unknown_unless_ignored() {
        let text = "#!/bin/sh\n#SBATCH -C s\n#PBS -l nodes=2:gpus=1\nhostname\n";
        let r = sbatch("sbatch job.sh", &[], Some(text));
        assert_eq!((&r.constraint, &r.nodes), (&Unknown, &Unknown));
        assert!(r.gpu_requests_unknown);
        for (cmd, env) in [
            ("sbatch --ignore-pbs job.sh", &[][..]),
            ("sbatch -N1 : --ignore-pbs job.sh", &[][..]),
            ("sbatch job.sh", &[("SBATCH_IGNORE_PBS", "1")][..]),
        ] {
            let r = sbatch(cmd, env, Some(text));
            assert_eq!(r.constraint, g("s"), "{cmd} {env:?}");
            assert!(!r.gpu_requests_unknown, "{cmd} {env:?}");
        }
        let r = sbatch("sbatch job.sh", &[("SBATCH_IGNORE_PBS", "0")], Some(text));
        assert_eq!(r.constraint, Unknown);
        let ignored = "#!/bin/sh\n#SBATCH --ignore-pbs\n#SBATCH -N2\n#BSUB -n 4\n";
        assert_eq!(sbatch("sbatch job.sh", &[], Some(ignored)).nodes, g("2"));
        // xlate.c gives up after 100 non-comment lines.
        let late = format!(
            "#!/bin/sh\n#SBATCH -N2\n{}#PBS -l nodes=3\n",
            "true\n".repeat(101)
        );
        assert_eq!(sbatch("sbatch job.sh", &[], Some(&late)).nodes, g("2"));
    }

    #[test]
    fn plugin_options() {
        let pyxis = [OptSpec {
            long: "container-writable",
            short: None,
            arg: ArgKind::None,
        }];
        let argv = words("srun --container-writable -C x cmd");
        let r = parse_with_plugin_options(Release::V22_05, Client::Srun, &argv, &no_env, &pyxis);
        assert_eq!(r.constraint, g("x"));
        // An option given as a plugin's cannot shadow a builtin one.
        let fake = [OptSpec {
            long: "constraint",
            short: None,
            arg: ArgKind::None,
        }];
        let argv = words("srun --constraint x cmd");
        let r = parse_with_plugin_options(Release::V22_05, Client::Srun, &argv, &no_env, &fake);
        assert_eq!(r.constraint, g("x"));
        // Without the Carme option, its next-word form is opaque.
        let argv = words("srun --carme-image img -C x cmd");
        let r = parse_with_plugin_options(Release::V22_05, Client::Srun, &argv, &no_env, &[]);
        assert_eq!(r.constraint, Unknown);
    }

    #[test]
    fn notes_explain_unknowns() {
        let r = run("srun --container-writable -C x cmd", &[]);
        assert!(r.incomplete);
        assert!(
            r.notes.iter().any(|n| n.contains("--container-writable")),
            "{:?}",
            r.notes
        );
        assert!(r.notes.iter().any(|n| n.contains("--constraint unknown")));
        let r = run("srun -C x cmd", &[]);
        assert!(!r.incomplete);
        assert!(r.notes.is_empty());
    }

    #[test]
    fn tables_are_consistent() {
        for release in Release::ALL {
            for client in [Client::Srun, Client::Sbatch, Client::Salloc] {
                let table = option_table(release, client);
                for (i, a) in table.iter().enumerate() {
                    for b in &table[i + 1..] {
                        assert_ne!(a.long, b.long, "{release:?} {client:?}");
                        if a.short.is_some() {
                            assert_ne!(a.short, b.short, "{client:?} {} {}", a.long, b.long);
                        }
                    }
                }
                for long in ["constraint", "nodes", "gpus", "gres", "help"] {
                    assert!(table.iter().any(|o| o.long == long), "{client:?} {long}");
                }
            }
            for (alias, canon) in ALIASES {
                let find = |l: &str| {
                    option_table(release, Client::Srun)
                        .iter()
                        .find(|o| o.long == l)
                        .map(|o| o.arg)
                };
                assert_eq!(find(alias), find(canon), "{alias}");
                assert!(find(alias).is_some(), "{alias}");
            }
            let find = |c, l| {
                option_table(release, c)
                    .iter()
                    .find(|o| o.long == l)
                    .copied()
            };
            assert_eq!(
                find(Client::Srun, "jobid").map(|o| o.arg),
                Some(ArgKind::Required)
            );
            assert_eq!(find(Client::Sbatch, "jobid"), None);
            assert_eq!(
                find(Client::Sbatch, "wait").map(|o| o.arg),
                Some(ArgKind::None)
            );
            assert_eq!(
                find(Client::Srun, "wait").map(|o| o.arg),
                Some(ArgKind::Required)
            );
        }
        // What changed between releases (slurm_opt.c at each tag).
        let arg = |r, c, l| {
            option_table(r, c)
                .iter()
                .find(|o| o.long == l)
                .map(|o| o.arg)
        };
        assert_eq!(arg(Release::V22_05, Client::Srun, "tres-per-task"), None);
        assert_eq!(
            arg(Release::V24_11, Client::Srun, "tres-per-task"),
            Some(ArgKind::Required)
        );
        assert_eq!(
            arg(Release::V22_05, Client::Srun, "pty"),
            Some(ArgKind::None)
        );
        assert_eq!(
            arg(Release::V24_11, Client::Srun, "pty"),
            Some(ArgKind::Optional)
        );
        assert_eq!(arg(Release::V24_11, Client::Salloc, "uid"), None);
        assert_eq!(arg(Release::V24_11, Client::Srun, "power"), None);
        assert_eq!(arg(Release::V24_11, Client::Srun, "async"), None);
        assert_eq!(
            arg(Release::V26_05, Client::Srun, "async"),
            Some(ArgKind::None)
        );
        assert_eq!(
            arg(Release::V26_05, Client::Sbatch, "requeue"),
            Some(ArgKind::Optional)
        );
    }

    #[test]
    fn release_of_a_series_is_the_nearest_older_known() {
        for (major, minor, want) in [
            (21, 8, Release::V22_05),
            (22, 5, Release::V22_05),
            (23, 11, Release::V22_05),
            (24, 5, Release::V22_05),
            (24, 11, Release::V24_11),
            (25, 11, Release::V24_11),
            (26, 5, Release::V26_05),
            (27, 11, Release::V26_05),
        ] {
            assert_eq!(Release::for_series(major, minor), want, "{major}.{minor}");
        }
        assert_eq!(Release::for_version_number(0x160508), Release::V22_05);
        assert_eq!(Release::for_version_number(0x180b05), Release::V24_11);
        assert_eq!(Release::for_version_number(0x1a0505), Release::V26_05);
    }

    /// An option only a newer release has: known to that release's table
    /// (what follows it stays known), unknown to the older one's.
    #[test]
    fn each_release_knows_its_own_options() {
        let argv = words("srun --tres-bind gres/gpu:verbose -C carme cmd");
        let old = parse(Release::V22_05, Client::Srun, &argv, &no_env);
        assert!(old.constraint.is_unknown(), "{old:?}");
        for r in [Release::V24_11, Release::V26_05] {
            let new = parse(r, Client::Srun, &argv, &no_env);
            assert_eq!(new.constraint, g("carme"), "{r:?}");
            assert!(!new.incomplete, "{r:?} {new:?}");
        }
        let argv = words("srun --async -C carme cmd");
        assert!(
            parse(Release::V24_11, Client::Srun, &argv, &no_env)
                .constraint
                .is_unknown()
        );
        assert_eq!(
            parse(Release::V26_05, Client::Srun, &argv, &no_env).constraint,
            g("carme")
        );
        // --tres-per-task and its input variables exist from 24.11 on.
        let env = env_of(&[("SLURM_TRES_PER_TASK", "gres/gpu:2")]);
        let argv = words("srun -C carme cmd");
        assert!(
            parse(Release::V22_05, Client::Srun, &argv, &env)
                .gpu_requests
                .is_empty()
        );
        for r in [Release::V24_11, Release::V26_05] {
            let req = parse(r, Client::Srun, &argv, &env);
            assert_eq!(
                req.gpu_requests,
                vec![("tres-per-task".to_string(), "gres/gpu:2".to_string())],
                "{r:?}"
            );
            let cmd = words("srun --tres-per-task=gres/gpu:1 cmd");
            let req = parse(r, Client::Srun, &cmd, &no_env);
            assert_eq!(
                req.gpu_requests,
                vec![("tres-per-task".to_string(), "gres/gpu:1".to_string())]
            );
        }
    }

    // -- properties ---------------------------------------------------------

    fn any_release() -> impl Strategy<Value = Release> {
        prop::sample::select(Release::ALL.to_vec())
    }

    fn any_client() -> impl Strategy<Value = Client> {
        prop_oneof![
            Just(Client::Srun),
            Just(Client::Sbatch),
            Just(Client::Salloc)
        ]
    }

    /// Words that look like what users type, plus junk.
    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            "[-=:a-zA-Z0-9 \"'#\\\\]{0,10}",
            Just("--".to_string()),
            Just(":".to_string()),
            Just("-".to_string()),
            "-[a-zA-Z]{1,3}[a-z0-9=]{0,3}",
            "--(con|constraint|gres|gpus|nodes|wrap|het-group|jobid|multi)[=a-z0-9:]{0,4}",
            any::<String>(),
        ]
    }

    fn junk_env(vars: Vec<(String, String)>) -> impl Fn(&str) -> Option<String> {
        move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    proptest! {
        #[test]
        fn never_panics(
            release in any_release(),
            client in any_client(),
            argv in prop::collection::vec(word(), 0..12),
            env in prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "SLURM_CONSTRAINT", "SLURM_JOB_ID", "SLURM_JOB_NUM_NODES",
                        "SLURM_GRES", "SLURM_STEP_GRES", "SLURM_SRUN_MULTI",
                        "SBATCH_IGNORE_PBS", "SBATCH_GPUS", "SALLOC_GPUS",
                        "SLURM_HET_SIZE", "SLURM_GPUS_HET_GROUP_1",
                    ]).prop_map(str::to_string),
                    word(),
                ),
                0..4,
            ),
            script in prop::option::of(
                prop::collection::vec(
                    prop_oneof![
                        "#SBATCH [-=:a-zA-Z0-9 \"'#\\\\]{0,20}",
                        "#(PBS|BSUB|SLURM) .{0,10}",
                        ".{0,20}",
                    ],
                    0..6,
                ).prop_map(|lines| lines.join("\n"))
            ),
        ) {
            let env = junk_env(env);
            let _ = parse(release, client, &argv, &env);
            let _ = parse_sbatch(release, &argv, &env, script.as_deref());
            let _ = batch_directives(script.as_deref().unwrap_or(""));
        }

        #[test]
        fn directives_never_panic(text in any::<String>()) {
            let _ = batch_directives(&text);
        }
    }

    /// One use of a known option, rendered in one of its valid forms.
    fn option_use(release: Release, client: Client) -> impl Strategy<Value = Vec<String>> {
        let table: Vec<OptSpec> = option_table(release, client)
            .iter()
            .filter(|o| o.long != "constraint")
            .copied()
            .collect();
        // sbatch drops every ":" word before its first pass.
        let value = "[a-zA-Z0-9_=,.:-]{1,8}".prop_filter("not a separator", |v| v != ":");
        (prop::sample::select(table), value, 0..4u8).prop_map(|(o, v, form)| {
            let long = format!("--{}", o.long);
            match (o.arg, o.short, form) {
                (ArgKind::None, Some(c), 0 | 1) => vec![format!("-{c}")],
                (ArgKind::None, _, _) => vec![long],
                (ArgKind::Required, Some(c), 0) => vec![format!("-{c}{v}")],
                (ArgKind::Required, Some(c), 1) => vec![format!("-{c}"), v],
                (ArgKind::Required, _, 2) => vec![long, v],
                (ArgKind::Required, _, _) => vec![format!("{long}={v}")],
                (ArgKind::Optional, Some(c), 0) => vec![format!("-{c}{v}")],
                (ArgKind::Optional, Some(c), 1) => vec![format!("-{c}")],
                (ArgKind::Optional, _, 2) => vec![long],
                (ArgKind::Optional, _, _) => vec![format!("{long}={v}")],
            }
        })
    }

    fn constraint_use(x: String, form: u8) -> Vec<String> {
        match form {
            0 => vec!["-C".into(), x],
            1 => vec![format!("-C{x}")],
            2 => vec![format!("--constraint={x}")],
            3 => vec!["--constraint".into(), x],
            4 => vec![format!("--constr={x}")],
            _ => vec![format!("-vC{x}")],
        }
    }

    fn with_constraint_among_options()
    -> impl Strategy<Value = (Release, Client, Vec<String>, String)> {
        (any_release(), any_client()).prop_flat_map(|(release, client)| {
            (
                Just(release),
                Just(client),
                prop::collection::vec(option_use(release, client), 0..8),
                prop::collection::vec(option_use(release, client), 0..8),
                "[a-zA-Z0-9&|_*\\[\\]-]{1,10}",
                0..6u8,
                prop::collection::vec(word(), 0..4),
            )
                .prop_map(|(release, client, before, after, x, form, tail)| {
                    let name = match client {
                        Client::Srun => "srun",
                        Client::Sbatch => "sbatch",
                        Client::Salloc => "salloc",
                    };
                    let mut argv = vec![name.to_string()];
                    argv.extend(before.into_iter().flatten());
                    argv.extend(constraint_use(x.clone(), form));
                    argv.extend(after.into_iter().flatten());
                    // The command (or script) and its arguments, which are not options.
                    argv.push("job.sh".into());
                    argv.extend(tail);
                    (release, client, argv, x)
                })
        })
    }

    proptest! {
        #[test]
        fn constraint_among_known_options_is_given(
            (release, client, argv, x) in with_constraint_among_options()
        ) {
            let env = env_of(&[
                ("SLURM_CONSTRAINT", "env"),
                ("SBATCH_CONSTRAINT", "env"),
                ("SALLOC_CONSTRAINT", "env"),
            ]);
            let script = "#!/bin/sh\n#SBATCH -C script\n";
            let r = match client {
                Client::Sbatch => parse_sbatch(release, &argv, &env, Some(script)),
                _ => parse(release, client, &argv, &env),
            };
            prop_assert_eq!(r.constraint, Knowledge::Given(x), "{:?}", argv);
        }
    }
}
