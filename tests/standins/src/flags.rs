//! The `exec` flags of Apptainer 1.3 and SingularityCE 4.1, and what the
//! stand-in does with each.
//!
//! The list is the one the tools' CLI reference pages (`apptainer_exec`,
//! `singularity_exec`) are generated from: the cobra flag registrations for
//! the exec command in `cmd/internal/cli/action_flags.go` (and the common
//! flags in `apptainer.go` / `singularity.go`) at Apptainer v1.3.5 (the
//! source the 1.3 user guide is built from; 1.3.0-1.3.6 register the same
//! set) and SingularityCE v4.1.0 (4.1.0-4.1.5 likewise). Arity comes from
//! each flag's value type, so an argument word is never taken for the image.
//!
//! Flags the reference pages leave out (hidden or deprecated) are refused on
//! the command line: a strict stand-in must not let code depend on them.
//! They stay reachable through their documented `APPTAINER_*` /
//! `SINGULARITY_*` environment variables, which the real tools read for every
//! flag with an env key. `--pwd` is the exception: hidden since 1.3 / 4.0 but
//! named in both changelogs as kept for compatibility, so it is accepted
//! with a note that `--cwd` is the documented spelling.

use crate::tool::Tool;

/// How a flag takes its value; mirrors the pflag value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--flag`, `--flag=true|false`; never consumes the next word.
    Bool,
    /// One word; the last occurrence wins.
    Str,
    /// One decimal integer word; the last occurrence wins.
    Int,
    /// pflag `StringSlice`: each value is CSV-split, occurrences accumulate.
    Slice,
    /// pflag `StringArray`: each value is kept whole, occurrences accumulate.
    Array,
    /// pflag `StringToString`: `K=V[,K=V]`, occurrences merge.
    Map,
}

/// Which tools register the flag for `exec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Both,
    ApptainerOnly,
    SingularityOnly,
}

/// Whether the flag appears on the CLI reference page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Documented,
    /// Registered but hidden from help and the reference pages.
    Hidden,
    /// Registered, marked deprecated (pflag then hides it too).
    Deprecated,
}

/// What the stand-in does with the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulation {
    /// The stand-in does what the flag asks (as far as running on the host
    /// allows); see the modules for each.
    Emulated,
    /// Partly emulated; the note says which part is not.
    Partial(&'static str),
    /// Only matters for remote or encrypted images, which the stand-in
    /// refuses anyway; recorded silently.
    Inert,
    /// Would change what the command sees, but the stand-in cannot do it;
    /// recorded, with a note on stderr.
    NotEmulated,
}

/// One exec flag.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    pub name: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    /// Keys read from the environment with each config prefix
    /// (`BIND` -> `APPTAINER_BIND`).
    pub env_keys: &'static [&'static str],
    /// Environment values are appended to command-line ones (bind, mount)
    /// instead of only applying when the flag was not given.
    pub env_appends: bool,
    pub availability: Availability,
    pub visibility: Visibility,
    pub emulation: Emulation,
}

impl FlagSpec {
    pub fn available_in(&self, tool: Tool) -> bool {
        matches!(
            (self.availability, tool),
            (Availability::Both, _)
                | (Availability::ApptainerOnly, Tool::Apptainer)
                | (Availability::SingularityOnly, Tool::Singularity)
        )
    }
}

use Availability::{ApptainerOnly as A, Both as B, SingularityOnly as S};
use Emulation::{Emulated, Inert, NotEmulated, Partial};
use Kind::{Array, Bool, Int, Map, Slice, Str};
use Visibility::{Deprecated, Documented, Hidden};

const fn flag(
    name: &'static str,
    short: Option<char>,
    kind: Kind,
    env_keys: &'static [&'static str],
    availability: Availability,
    visibility: Visibility,
    emulation: Emulation,
) -> FlagSpec {
    FlagSpec {
        name,
        short,
        kind,
        env_keys,
        env_appends: false,
        availability,
        visibility,
        emulation,
    }
}

const fn appending(spec: FlagSpec) -> FlagSpec {
    FlagSpec {
        env_appends: true,
        ..spec
    }
}

const CONTAINALL_NOTE: &str =
    "only its --cleanenv part is emulated (--contain, --ipc and --pid are not)";
const COMPAT_NOTE: &str = "only the implied --containall's --cleanenv part is emulated";
const HOME_NOTE: &str = "only $HOME is set; nothing is mounted";

/// Every exec flag of either tool, alphabetically.
// One row per flag keeps the table easy to check against the reference pages.
#[rustfmt::skip]
pub const EXEC_FLAGS: &[FlagSpec] = &[
    flag("add-caps", None, Str, &["ADD_CAPS"], B, Documented, NotEmulated),
    flag("allow-setuid", None, Bool, &["ALLOW_SETUID"], B, Documented, NotEmulated),
    flag("app", None, Str, &["APP", "APPNAME"], B, Documented, NotEmulated),
    flag("apply-cgroups", None, Str, &["APPLY_CGROUPS"], B, Documented, NotEmulated),
    flag("authfile", None, Str, &["AUTHFILE"], S, Documented, Inert),
    // Apptainer keeps each --bind value whole (StringArray) so that escaped
    // commas survive; SingularityCE CSV-splits it (StringSlice). Both are
    // listed so the arity and splitting match the tool.
    appending(flag("bind", Some('B'), Array, &["BIND", "BINDPATH"], A, Documented, Emulated)),
    appending(flag("bind", Some('B'), Slice, &["BIND", "BINDPATH"], S, Documented, Emulated)),
    flag("blkio-weight", None, Int, &["BLKIO_WEIGHT"], B, Documented, NotEmulated),
    flag("blkio-weight-device", None, Slice, &["BLKIO_WEIGHT_DEVICE"], B, Documented, NotEmulated),
    flag("cdi-dirs", None, Slice, &[], S, Documented, NotEmulated),
    flag("cleanenv", Some('e'), Bool, &["CLEANENV"], B, Documented, Emulated),
    flag("compat", None, Bool, &["COMPAT"], B, Documented, Partial(COMPAT_NOTE)),
    flag("contain", Some('c'), Bool, &["CONTAIN"], B, Documented, NotEmulated),
    flag("containall", Some('C'), Bool, &["CONTAINALL"], B, Documented, Partial(CONTAINALL_NOTE)),
    flag("containlibs", None, Slice, &["CONTAINLIBS"], B, Hidden, NotEmulated),
    flag("cpu-shares", None, Int, &["CPU_SHARES"], B, Documented, NotEmulated),
    // Both tools really read --cpus from *_CPU_SHARES.
    flag("cpus", None, Str, &["CPU_SHARES"], B, Documented, NotEmulated),
    flag("cpuset-cpus", None, Str, &["CPUSET_CPUS"], B, Documented, NotEmulated),
    flag("cpuset-mems", None, Str, &["CPUSET_MEMS"], B, Documented, NotEmulated),
    flag("cwd", None, Str, &["CWD", "TARGET_CWD"], B, Documented, Emulated),
    flag("device", None, Slice, &[], S, Documented, NotEmulated),
    flag("disable-cache", None, Bool, &["DISABLE_CACHE"], B, Documented, Inert),
    flag("dns", None, Str, &["DNS"], B, Documented, NotEmulated),
    flag("docker-host", None, Str, &["DOCKER_HOST"], B, Documented, Inert),
    flag("docker-login", None, Bool, &["DOCKER_LOGIN"], B, Documented, Inert),
    flag("docker-password", None, Str, &["DOCKER_PASSWORD"], B, Hidden, Inert),
    flag("docker-username", None, Str, &["DOCKER_USERNAME"], B, Hidden, Inert),
    flag("drop-caps", None, Str, &["DROP_CAPS"], B, Documented, NotEmulated),
    flag("env", None, Map, &[], B, Documented, Emulated),
    flag("env-file", None, Str, &["ENV_FILE"], B, Documented, Emulated),
    flag("fakeroot", Some('f'), Bool, &["FAKEROOT"], B, Documented, NotEmulated),
    flag("fusemount", None, Slice, &["FUSESPEC"], B, Documented, NotEmulated),
    flag("home", Some('H'), Str, &["HOME"], B, Documented, Partial(HOME_NOTE)),
    flag("hostname", None, Str, &["HOSTNAME"], B, Documented, NotEmulated),
    flag("ignore-fakeroot-command", None, Bool, &["IGNORE_FAKEROOT_COMMAND"], A, Hidden, NotEmulated),
    flag("ignore-subuid", None, Bool, &["IGNORE_SUBUID"], A, Hidden, NotEmulated),
    flag("ignore-userns", None, Bool, &["IGNORE_USERNS"], A, Hidden, NotEmulated),
    flag("ipc", Some('i'), Bool, &["IPC", "UNSHARE_IPC"], B, Documented, NotEmulated),
    flag("keep-layers", None, Bool, &["KEEP_LAYERS"], S, Documented, NotEmulated),
    flag("keep-privs", None, Bool, &["KEEP_PRIVS"], B, Documented, NotEmulated),
    flag("memory", None, Str, &["MEMORY"], B, Documented, NotEmulated),
    flag("memory-reservation", None, Str, &["MEMORY_RESERVATION"], B, Documented, NotEmulated),
    flag("memory-swap", None, Str, &["MEMORY_SWAP"], B, Documented, NotEmulated),
    appending(flag("mount", None, Array, &["MOUNT"], B, Documented, Emulated)),
    flag("net", Some('n'), Bool, &["NET", "UNSHARE_NET"], B, Documented, NotEmulated),
    flag("network", None, Str, &["NETWORK"], B, Documented, NotEmulated),
    flag("network-args", None, Slice, &["NETWORK_ARGS"], B, Documented, NotEmulated),
    flag("no-compat", None, Bool, &["NO_COMPAT"], S, Documented, NotEmulated),
    // The stand-in never shell-evaluates variables, which is what --no-eval asks.
    flag("no-eval", None, Bool, &["NO_EVAL"], B, Documented, Emulated),
    flag("no-home", None, Bool, &["NO_HOME"], B, Documented, NotEmulated),
    flag("no-https", None, Bool, &["NOHTTPS", "NO_HTTPS"], B, Documented, Inert),
    flag("no-init", None, Bool, &["NOSHIMINIT"], B, Documented, NotEmulated),
    flag("no-mount", None, Slice, &["NO_MOUNT"], B, Documented, NotEmulated),
    flag("no-nv", None, Bool, &["NV_OFF", "NO_NV"], B, Hidden, NotEmulated),
    // Native (non-OCI) mode is the only mode the stand-in has.
    flag("no-oci", None, Bool, &["NO_OCI"], S, Documented, Emulated),
    flag("no-pid", None, Bool, &["NO_PID"], B, Documented, NotEmulated),
    flag("no-privs", None, Bool, &["NO_PRIVS"], B, Documented, NotEmulated),
    flag("no-rocm", None, Bool, &["ROCM_OFF", "NO_ROCM"], B, Hidden, NotEmulated),
    flag("no-setgroups", None, Bool, &["NO_SETGROUPS"], S, Documented, NotEmulated),
    flag("no-tmp-sandbox", None, Bool, &["NO_TMP_SANDBOX"], S, Documented, NotEmulated),
    flag("no-umask", None, Bool, &["NO_UMASK"], B, Documented, NotEmulated),
    flag("nohttps", None, Bool, &[], B, Deprecated, Inert),
    flag("nv", None, Bool, &["NV"], B, Documented, Emulated),
    flag("nvccli", None, Bool, &["NVCCLI"], B, Documented, NotEmulated),
    flag("oci", None, Bool, &["OCI"], S, Documented, NotEmulated),
    flag("oom-kill-disable", None, Bool, &["OOM_KILL_DISABLE"], B, Documented, NotEmulated),
    flag("overlay", Some('o'), Slice, &["OVERLAY", "OVERLAYIMAGE"], B, Documented, NotEmulated),
    flag("passphrase", None, Bool, &[], B, Documented, NotEmulated),
    flag("pem-path", None, Str, &[], B, Documented, NotEmulated),
    flag("pid", Some('p'), Bool, &["PID", "UNSHARE_PID"], B, Documented, NotEmulated),
    flag("pids-limit", None, Int, &["PIDS_LIMIT"], B, Documented, NotEmulated),
    flag("proot", None, Str, &["PROOT"], S, Hidden, NotEmulated),
    flag("pwd", None, Str, &["PWD", "TARGET_PWD"], B, Hidden, Emulated),
    flag("rocm", None, Bool, &["ROCM"], B, Documented, NotEmulated),
    flag("scratch", Some('S'), Slice, &["SCRATCH", "SCRATCHDIR"], B, Documented, NotEmulated),
    flag("security", None, Slice, &["SECURITY"], B, Documented, NotEmulated),
    flag("sharens", None, Bool, &["SHARENS"], A, Documented, NotEmulated),
    flag("sif-fuse", None, Bool, &["SIF_FUSE"], S, Deprecated, NotEmulated),
    flag("tmp-sandbox", None, Bool, &["TMP_SANDBOX"], S, Documented, NotEmulated),
    flag("tmpdir", None, Str, &["TMPDIR"], B, Hidden, Inert),
    flag("underlay", None, Bool, &["UNDERLAY"], A, Deprecated, NotEmulated),
    flag("unsquash", None, Bool, &["UNSQUASH"], A, Documented, NotEmulated),
    flag("userns", Some('u'), Bool, &["USERNS", "UNSHARE_USERNS"], B, Documented, NotEmulated),
    flag("uts", None, Bool, &["UTS", "UNSHARE_UTS"], B, Documented, NotEmulated),
    flag("workdir", Some('W'), Str, &["WORKDIR"], B, Documented, NotEmulated),
    flag("writable", Some('w'), Bool, &["WRITABLE"], B, Documented, NotEmulated),
    flag("writable-tmpfs", None, Bool, &["WRITABLE_TMPFS"], B, Documented, NotEmulated),
];

/// The exec flags `tool` registers.
pub fn exec_flags(tool: Tool) -> impl Iterator<Item = &'static FlagSpec> {
    EXEC_FLAGS.iter().filter(move |f| f.available_in(tool))
}

/// A global (pre-subcommand) flag of both tools.
#[derive(Debug, Clone, Copy)]
pub struct GlobalSpec {
    pub name: &'static str,
    pub short: Option<char>,
    pub takes_value: bool,
    /// `None` if accepted; otherwise why the stand-in refuses it.
    pub refusal: Option<&'static str>,
}

/// The documented global flags (`apptainer --help`, `singularity --help`).
/// Those that only change verbosity or colour are accepted; the others
/// select configuration or print help, which a test run never needs.
pub const GLOBAL_FLAGS: &[GlobalSpec] = &[
    global("debug", Some('d'), false, None),
    global("quiet", Some('q'), false, None),
    global("silent", Some('s'), false, None),
    global("verbose", Some('v'), false, None),
    global("nocolor", None, false, None),
    global(
        "config",
        Some('c'),
        true,
        Some("a custom configuration file cannot be emulated"),
    ),
    global(
        "build-config",
        None,
        false,
        Some("the build configuration cannot be emulated"),
    ),
    global(
        "help",
        Some('h'),
        false,
        Some("help output is not emulated"),
    ),
    global(
        "version",
        None,
        false,
        Some("version output is not emulated"),
    ),
];

const fn global(
    name: &'static str,
    short: Option<char>,
    takes_value: bool,
    refusal: Option<&'static str>,
) -> GlobalSpec {
    GlobalSpec {
        name,
        short,
        takes_value,
        refusal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tool_has_each_name_and_shorthand_once() {
        for tool in [Tool::Apptainer, Tool::Singularity] {
            let mut names: Vec<_> = exec_flags(tool).map(|f| f.name).collect();
            let mut shorts: Vec<_> = exec_flags(tool).filter_map(|f| f.short).collect();
            let (n, s) = (names.len(), shorts.len());
            names.sort();
            names.dedup();
            shorts.sort();
            shorts.dedup();
            assert_eq!(names.len(), n, "{tool:?} has a duplicate flag name");
            assert_eq!(shorts.len(), s, "{tool:?} has a duplicate shorthand");
        }
    }

    #[test]
    fn tool_specific_flags_are_where_they_belong() {
        let has = |tool, name| exec_flags(tool).any(|f| f.name == name);
        assert!(has(Tool::Apptainer, "sharens"));
        assert!(!has(Tool::Singularity, "sharens"));
        assert!(has(Tool::Singularity, "oci"));
        assert!(!has(Tool::Apptainer, "oci"));
        // 4.2+ only; the stand-in emulates 4.1.
        assert!(!has(Tool::Singularity, "data"));
    }
}
