//! Gathering the facts `carme-launch check-node` judges
//! ([`carme_core::nodecheck`] decides): stat and lstat, bounded reads of
//! the config, plugstack files, wrapper scripts and the plugin, and
//! Slurm's own tools (`slurmd -V`, `scontrol show config`/`show node`)
//! and each runtime's `--version`, every one under a time bound
//! ([`crate::bounded`]). Nothing on the node is changed.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use carme_core::config::{Config, ConfigError};
use carme_core::nodecheck::{
    self, BaseFacts, ConfigFacts, NodeFacts, PathFacts, PathStep, PluginFacts, PluginSearch,
    ProgramFacts, ScriptFacts,
};
use carme_core::slurminfo::{self, PlugstackLine};
use carme_core::trust::{self, MAX_CONFIG_BYTES};

use crate::bounded;
use crate::configfile::meta;
use crate::slurmctl;

/// Bound on each program check-node runs (`--version`, scontrol).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Plugin files larger than this are not read (ours are a few MiB).
const MAX_PLUGIN_BYTES: u64 = 256 << 20;
/// plugstack files and wrapper scripts larger than this are not read.
const MAX_TEXT_BYTES: u64 = 1 << 20;
/// How deep plugstack `include`s are followed (Slurm has no loops either).
const MAX_INCLUDE_DEPTH: usize = 8;

/// Where bounded runs keep their (unnamed) output file.
const CAPTURE_DIR: &str = "/tmp";

/// What to check.
pub struct Request<'a> {
    pub config: &'a Path,
    pub node: &'a str,
    /// The plugin file, instead of the one plugstack.conf loads.
    pub plugin: Option<&'a Path>,
}

/// This host's name up to its first dot: the node name slurmd uses when
/// not given one.
pub fn short_hostname() -> String {
    let h = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    h.split('.').next().unwrap_or_default().to_string()
}

/// Every fact check-node judges, for `req`.
pub fn gather(req: &Request) -> NodeFacts {
    let (config, trusted) = config_facts(req.config);
    let cfg = config.parsed.as_ref().ok();
    let slurm_version = slurm_version();
    // The facts hold the error's text: check-node's finding shows it.
    let show_config =
        slurmctl::scontrol(&["show", "config"], Path::new(CAPTURE_DIR)).map_err(|e| e.to_string());
    let show_node = show_node(req.node);
    let conf = show_config
        .as_ref()
        .ok()
        .map(|t| slurminfo::parse_show_config(t));
    let (plugin_search, plugins) = match req.plugin {
        Some(p) => (
            PluginSearch::Given,
            vec![PluginFacts {
                line: None,
                path: p.to_path_buf(),
                version: plugin_version(p),
                others_can_change: others_can_change(p),
            }],
        ),
        None => plugstack(conf.as_ref()),
    };
    let scripts = |key: &str| {
        conf.as_ref()
            .and_then(|c| c.list(key))
            .map(|v| script_facts(&v))
            .unwrap_or_default()
    };
    NodeFacts {
        node: req.node.to_string(),
        runtimes: cfg.map(|c| runtimes(c, trusted)).unwrap_or_default(),
        images: cfg
            .map(|c| {
                c.images
                    .values()
                    .map(|i| (i.name.clone(), path_facts(&i.path)))
                    .collect()
            })
            .unwrap_or_default(),
        exec_helper: cfg.map(|c| ProgramFacts {
            file: path_facts(&c.runtime.exec_helper),
            version: None,
            unprobed: None,
        }),
        bases: cfg
            .map(|c| {
                nodecheck::base_dirs(c, req.node)
                    .into_iter()
                    .map(|b| {
                        let facts = base_facts(&b.path);
                        (b, facts)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        prolog: scripts("Prolog"),
        epilog: scripts("Epilog"),
        config,
        slurm_version,
        show_config,
        show_node,
        plugin_search,
        plugins,
    }
}

/// `stat` (following symlinks).
fn path_facts(p: &Path) -> PathFacts {
    match std::fs::metadata(p) {
        Ok(m) => PathFacts::Found(meta(&m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PathFacts::Missing,
        Err(e) => PathFacts::Unreadable(e.to_string()),
    }
}

/// At most `max` bytes of the regular file at `p` (never blocking on a
/// FIFO or device); Err when larger, not a file, or unreadable.
fn read_bounded(p: &Path, max: u64) -> Result<Vec<u8>, String> {
    // Never open what is not a regular file: opening some devices acts
    // (a watchdog starts, a tape rewinds). The file opened must be the
    // one looked at.
    let before = std::fs::metadata(p).map_err(|e| e.to_string())?;
    if !before.is_file() {
        return Err("not a regular file".into());
    }
    let f = File::options()
        .read(true)
        .custom_flags(libc_flags())
        .open(p)
        .map_err(|e| e.to_string())?;
    let m = f.metadata().map_err(|e| e.to_string())?;
    if !m.is_file() || (m.dev(), m.ino()) != (before.dev(), before.ino()) {
        return Err("not a regular file, or replaced while being read".into());
    }
    if m.len() > max {
        return Err(format!("larger than {max} bytes"));
    }
    let mut bytes = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(format!("larger than {max} bytes"));
    }
    Ok(bytes)
}

fn libc_flags() -> i32 {
    (nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_NOCTTY).bits()
}

/// The config as root-side code reads it (`configfile::read`: owner,
/// modes, every directory and link on the way, size), and whether that
/// read succeeded: only then is the config root's alone (`trust` None) and
/// may check-node run what it names. A config that read refuses is still
/// read plainly, to report its errors, but runs nothing.
fn config_facts(path: &Path) -> (ConfigFacts, bool) {
    let unreadable = |e: String| ConfigError {
        file: path.to_path_buf(),
        line: None,
        key: None,
        message: format!("cannot read the config file: {e}"),
    };
    let checked = crate::configfile::read(path);
    let trusted = checked.is_ok();
    let text = match &checked {
        Ok(t) => Ok(t.clone()),
        Err(_) => read_bounded(path, MAX_CONFIG_BYTES).and_then(|b| {
            String::from_utf8(b).map_err(|_| "stream did not contain valid UTF-8".to_string())
        }),
    };
    let (text, parsed) = match text {
        Ok(t) => {
            let parsed = Config::parse_all(&t, path);
            (Some(t), parsed)
        }
        Err(e) => (None, Err(vec![unreadable(e)])),
    };
    let facts = ConfigFacts {
        path: path.to_path_buf(),
        // Whatever made the checked read fail (untrusted, or gone between
        // two reads) is the trust finding: never "ok" without it.
        trust: checked.err(),
        text,
        parsed,
    };
    (facts, trusted)
}

/// `PATH --version`'s first line.
fn version_of(path: &Path) -> Result<String, String> {
    let ran = bounded::run(
        &[path.into(), "--version".into()],
        &bounded::tool_env(&[]),
        TIMEOUT,
        Path::new(CAPTURE_DIR),
    );
    let first = ran
        .output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(200).collect::<String>());
    match (ran.ok(), first) {
        (true, Some(l)) => Ok(l),
        (true, None) => Err("it printed nothing".into()),
        (false, l) => Err(format!(
            "{}{}",
            ran.exit,
            l.map(|l| format!(": {l}")).unwrap_or_default()
        )),
    }
}

/// Each runtime's facts; `--version` is run (as root) only where the
/// config is root's alone (`trusted`) and the binary and every directory
/// above it are too, and then by its resolved path.
fn runtimes(cfg: &Config, trusted: bool) -> Vec<(PathBuf, ProgramFacts)> {
    nodecheck::runtimes(cfg)
        .into_iter()
        .map(|(_, path, _)| {
            let file = path_facts(&path);
            let runnable =
                matches!(&file, PathFacts::Found(m) if m.is_file() && m.mode & 0o111 != 0);
            let (mut version, mut unprobed) = (None, None);
            if runnable && !trusted {
                unprobed = Some("the config is not root's alone (see config-trust)".into());
            } else if runnable {
                match root_only(&path) {
                    Ok(real) => version = Some(version_of(&real)),
                    Err(why) => unprobed = Some(why),
                }
            }
            (
                path,
                ProgramFacts {
                    file,
                    version,
                    unprobed,
                },
            )
        })
        .collect()
}

/// Why others than root could change what root runs or loads at `path`
/// (see [`root_only`]); None where root's alone, or where it does not
/// exist (other checks say so).
fn others_can_change(path: &Path) -> Option<String> {
    path.exists().then(|| root_only(path).err()).flatten()
}

/// `path` resolved, when it and every directory above it are root's and
/// not writable by group or others (sticky ones neither); else why not.
fn root_only(path: &Path) -> Result<PathBuf, String> {
    let real = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for p in real.ancestors() {
        let m = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if let Some(why) = trust::program_step_problem(p, &meta(&m)) {
            return Err(why);
        }
    }
    Ok(real)
}

/// `lstat` of each component of `path` from `/` down, until one is
/// missing or cannot be checked.
fn base_facts(path: &Path) -> BaseFacts {
    let mut steps = Vec::new();
    let mut cur = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::Normal(_) => cur.push(c),
            // Templates are absolute and without `..` (config checks).
            _ => continue,
        }
        match std::fs::symlink_metadata(&cur) {
            Ok(m) => {
                let m = meta(&m);
                steps.push(PathStep {
                    path: cur.clone(),
                    meta: Ok(m),
                });
                // Nothing below a symlink or a file is looked at.
                if !m.is_dir() {
                    return BaseFacts {
                        steps,
                        exists: false,
                    };
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return BaseFacts {
                    steps,
                    exists: false,
                };
            }
            Err(e) => {
                steps.push(PathStep {
                    path: cur.clone(),
                    meta: Err(e.to_string()),
                });
                return BaseFacts {
                    steps,
                    exists: false,
                };
            }
        }
    }
    BaseFacts {
        steps,
        exists: true,
    }
}

/// The node's daemon binary: beside scontrol (`<prefix>/sbin/slurmd`),
/// else in the usual places.
fn slurmd_path() -> Option<PathBuf> {
    let beside =
        slurmctl::scontrol_path().and_then(|s| Some(s.parent()?.parent()?.join("sbin/slurmd")));
    beside
        .into_iter()
        .chain(
            ["/usr/sbin", "/usr/local/sbin", "/opt/slurm/sbin"]
                .iter()
                .map(|d| Path::new(d).join("slurmd")),
        )
        .find(|p| p.is_file())
}

/// `slurmd -V`, else `scontrol -V`.
fn slurm_version() -> (String, Result<String, String>) {
    if let Some(slurmd) = slurmd_path() {
        let argv: Vec<OsString> = vec![slurmd.clone().into(), "-V".into()];
        let ran = bounded::run(
            &argv,
            &bounded::tool_env(&[]),
            TIMEOUT,
            Path::new(CAPTURE_DIR),
        );
        let cmd = format!("{} -V", slurmd.display());
        if ran.ok() {
            return (cmd, Ok(ran.output));
        }
    }
    (
        "scontrol -V".into(),
        slurmctl::scontrol(&["-V"], Path::new(CAPTURE_DIR)).map_err(|e| e.to_string()),
    )
}

/// `scontrol show node -o NODE`; a node slurmctld does not know is an
/// answer too (its message is the output).
fn show_node(node: &str) -> Result<String, String> {
    let ran = slurmctl::run_scontrol(&["show", "node", "-o", node], Path::new(CAPTURE_DIR))
        .map_err(|e| e.to_string())?;
    if ran.ok() || (ran.exit == bounded::Exit::Code(1) && ran.output.contains("not found")) {
        Ok(ran.output)
    } else {
        Err(format!(
            "{}{}",
            ran.exit,
            ran.reason_line()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        ))
    }
}

fn plugin_version(p: &Path) -> Result<u32, String> {
    let bytes = read_bounded(p, MAX_PLUGIN_BYTES)?;
    carme_core::elf::exported_u32(&bytes, "plugin_version").map_err(|e| e.to_string())
}

/// The paths `pattern` names: itself, or (with `*`, `?` or `[` in its
/// file name) the matching entries of its directory, sorted, as glob(3)
/// gives them to Slurm (names starting with `.` only when the pattern's
/// does).
fn expand(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let wild = |s: &str| s.contains(['*', '?', '[']);
    let text = pattern.to_string_lossy();
    if !wild(&text) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
        return Err("not a path".into());
    };
    let name = name.to_string_lossy();
    if wild(&dir.to_string_lossy()) {
        return Err("check-node follows wildcards in the file name only".into());
    }
    let glob = carme_core::glob::Glob::new(&name)?;
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('.') && !name.starts_with('.') {
            continue;
        }
        if glob.matches(&n) {
            out.push(dir.join(n));
        }
    }
    out.sort();
    Ok(out)
}

/// Carme's plugins through the plugstack config Slurm uses.
fn plugstack(conf: Option<&slurminfo::ShowConfig>) -> (PluginSearch, Vec<PluginFacts>) {
    let Some(file) = conf
        .and_then(|c| c.get("PlugStackConfig"))
        .map(PathBuf::from)
    else {
        return (
            PluginSearch::Plugstack {
                file: None,
                unreadable: vec![],
            },
            vec![],
        );
    };
    let plugin_dirs: Vec<PathBuf> = conf
        .and_then(|c| c.get("PluginDir"))
        .map(|d| d.split(':').map(PathBuf::from).collect())
        .unwrap_or_default();
    let mut walk = Walk {
        plugin_dirs,
        unreadable: Vec::new(),
        plugins: Vec::new(),
        seen: BTreeSet::new(),
    };
    walk.file(&file, 0);
    (
        PluginSearch::Plugstack {
            file: Some(file),
            unreadable: walk.unreadable,
        },
        walk.plugins,
    )
}

struct Walk {
    plugin_dirs: Vec<PathBuf>,
    unreadable: Vec<(PathBuf, String)>,
    plugins: Vec<PluginFacts>,
    seen: BTreeSet<PathBuf>,
}

impl Walk {
    fn file(&mut self, file: &Path, depth: usize) {
        if !self.seen.insert(file.to_path_buf()) {
            return;
        }
        if depth > MAX_INCLUDE_DEPTH {
            self.unreadable.push((
                file.to_path_buf(),
                format!("included more than {MAX_INCLUDE_DEPTH} levels deep"),
            ));
            return;
        }
        let text = match read_bounded(file, MAX_TEXT_BYTES)
            .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string()))
        {
            Ok(t) => t,
            Err(e) => {
                self.unreadable.push((file.to_path_buf(), e));
                return;
            }
        };
        let here = file.parent().unwrap_or(Path::new("/"));
        for line in slurminfo::parse_plugstack(&text) {
            match &line {
                PlugstackLine::Include { pattern, .. } => {
                    let pattern = here.join(pattern);
                    match expand(&pattern) {
                        Ok(files) => {
                            for f in files {
                                self.file(&f, depth + 1);
                            }
                        }
                        Err(e) => self.unreadable.push((pattern, e)),
                    }
                }
                PlugstackLine::Plugin { path, .. } if line.is_carme() => {
                    let path = self.resolve(Path::new(path));
                    self.plugins.push(PluginFacts {
                        version: plugin_version(&path),
                        others_can_change: others_can_change(&path),
                        line: Some((file.to_path_buf(), line.clone())),
                        path,
                    });
                }
                _ => {}
            }
        }
    }

    /// A relative plugin path is looked up in PluginDir, as Slurm does.
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        self.plugin_dirs
            .iter()
            .map(|d| d.join(p))
            .find(|c| c.exists())
            .unwrap_or_else(|| p.to_path_buf())
    }
}

/// What `Prolog=`/`Epilog=` (a comma list, each maybe a glob) names.
fn script_facts(value: &str) -> Vec<ScriptFacts> {
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let paths = expand(Path::new(part)).unwrap_or_else(|_| vec![PathBuf::from(part)]);
        for path in paths {
            let real = std::fs::canonicalize(&path).map_err(|e| e.to_string());
            let text = read_bounded(&path, MAX_TEXT_BYTES)
                .ok()
                .filter(|b| b.starts_with(b"#!"))
                .and_then(|b| String::from_utf8(b).ok());
            let others_can_change = others_can_change(&path);
            out.push(ScriptFacts {
                path,
                real,
                text,
                others_can_change,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("carme-nodecheck-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn expands_globs_in_the_file_name() {
        let d = scratch("glob");
        for n in ["10-site.conf", "50-carme.conf", "x.txt", ".hidden.conf"] {
            std::fs::write(d.join(n), "").unwrap();
        }
        assert_eq!(
            expand(&d.join("*.conf")).unwrap(),
            [d.join("10-site.conf"), d.join("50-carme.conf")]
        );
        assert_eq!(expand(&d.join("x.txt")).unwrap(), [d.join("x.txt")]);
        assert_eq!(expand(&d.join("none*")).unwrap(), Vec::<PathBuf>::new());
        assert!(expand(&d.join("*/x.conf")).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn follows_plugstack_includes_to_carmes_line() {
        let d = scratch("plugstack");
        std::fs::create_dir(d.join("plugstack.conf.d")).unwrap();
        std::fs::write(
            d.join("plugstack.conf"),
            "optional /usr/lib/spank/pyxis.so\ninclude plugstack.conf.d/*.conf\n",
        )
        .unwrap();
        let so = d.join("libcarme_spank.so");
        std::fs::write(&so, b"not an ELF").unwrap();
        std::fs::write(
            d.join("plugstack.conf.d/carme.conf"),
            format!("required {} config=/etc/carme/carme.toml\n", so.display()),
        )
        .unwrap();
        // A loop of includes ends.
        std::fs::write(
            d.join("plugstack.conf.d/loop.conf"),
            format!("include {}\n", d.join("plugstack.conf").display()),
        )
        .unwrap();
        let conf = slurminfo::parse_show_config(&format!(
            "PlugStackConfig = {}\nPluginDir = /nonexistent\n",
            d.join("plugstack.conf").display()
        ));
        let (search, plugins) = plugstack(Some(&conf));
        assert_eq!(
            search,
            PluginSearch::Plugstack {
                file: Some(d.join("plugstack.conf")),
                unreadable: vec![]
            }
        );
        assert_eq!(plugins.len(), 1, "{plugins:?}");
        assert_eq!(plugins[0].path, so);
        assert_eq!(plugins[0].version, Err("it is not an ELF file".into()));
        assert_eq!(
            plugins[0].line.as_ref().unwrap().0,
            d.join("plugstack.conf.d/carme.conf")
        );
        // An unreadable include is reported.
        std::fs::write(d.join("plugstack.conf"), "include /nonexistent/x.conf\n").unwrap();
        let (search, plugins) = plugstack(Some(&conf));
        assert!(plugins.is_empty());
        match search {
            PluginSearch::Plugstack { unreadable, .. } => {
                assert_eq!(unreadable.len(), 1, "{unreadable:?}");
                assert_eq!(unreadable[0].0, PathBuf::from("/nonexistent/x.conf"));
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn base_facts_stop_at_the_first_missing_component() {
        let d = scratch("base");
        let f = base_facts(&d.join("a/b"));
        assert!(!f.exists);
        assert_eq!(f.steps.last().unwrap().path, d);
        assert_eq!(f.steps[0].path, Path::new("/"));
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        let f = base_facts(&d.join("a/b"));
        assert!(f.exists);
        assert_eq!(f.steps.last().unwrap().path, d.join("a/b"));
        // A symlink on the way: reported as such, nothing below looked at.
        std::os::unix::fs::symlink(d.join("a"), d.join("l")).unwrap();
        let f = base_facts(&d.join("l/b"));
        assert!(!f.exists);
        assert!(f.steps.last().unwrap().meta.as_ref().unwrap().is_symlink());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn wrapper_scripts_are_read() {
        let d = scratch("scripts");
        let s = d.join("prolog.sh");
        std::fs::write(&s, "#!/bin/sh\nexec /x/carme-prolog\n").unwrap();
        std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = d.join("carme-epilog");
        std::fs::write(&bin, b"\x7fELF...").unwrap();
        std::os::unix::fs::symlink(&bin, d.join("50-carme")).unwrap();
        let got = script_facts(&format!("{},{}", s.display(), d.join("5*").display()));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0].text.as_deref(),
            Some("#!/bin/sh\nexec /x/carme-prolog\n")
        );
        assert_eq!(got[1].path, d.join("50-carme"));
        assert_eq!(got[1].real.as_deref(), Ok(bin.as_path()));
        assert_eq!(got[1].text, None, "not a script");
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// check-node runs `--version` as root: never on a program under a
    /// directory others can write (here /tmp), nor by a link's name.
    #[test]
    fn versions_are_asked_only_of_root_only_programs() {
        let d = scratch("rootonly");
        let p = d.join("ch-run");
        std::fs::write(&p, "#!/bin/sh\necho 'ch-run 0.38'\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let why = root_only(&p).unwrap_err();
        assert!(why.contains("/tmp") && why.contains("mode 1777"), "{why}");
        let real = root_only(Path::new("/bin/sh")).unwrap();
        assert!(
            real.is_absolute() && real.ancestors().count() > 2,
            "{real:?}"
        );

        let toml = format!(
            "[runtime]\nkind = \"charliecloud\"\npath = \"{}\"\n",
            p.display()
        );
        let cfg = carme_core::Config::parse(&toml, Path::new("/etc/carme/carme.toml")).unwrap();
        let facts = runtimes(&cfg, true);
        assert_eq!(facts[0].1.version, None);
        assert!(
            facts[0]
                .1
                .unprobed
                .as_deref()
                .is_some_and(|w| w.contains("/tmp"))
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn versions_of_programs() {
        let d = scratch("version");
        let p = d.join("tool");
        std::fs::write(&p, "#!/bin/sh\necho\necho 'tool version 1.2'\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(version_of(&p), Ok("tool version 1.2".into()));
        std::fs::write(&p, "#!/bin/sh\necho 'no such option' >&2; exit 2\n").unwrap();
        assert_eq!(version_of(&p), Err("exit status 2: no such option".into()));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn config_that_cannot_be_read() {
        let (f, trusted) = config_facts(Path::new("/nonexistent/carme.toml"));
        assert!(!trusted);
        assert_eq!(f.text, None);
        let e = f.parsed.unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(
            e[0].message.starts_with("cannot read the config file: "),
            "{e:?}"
        );
        // The checked read failed: never reported as root's alone.
        assert!(f.trust.is_some());
    }

    /// A config others can write is still read and reported, but counts as
    /// untrusted, and nothing it names is run (review finding: a relative
    /// path once passed as trusted).
    #[test]
    fn a_config_others_can_write_runs_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let d = scratch("untrusted");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = d.join("carme.toml");
        std::fs::write(
            &p,
            "[runtime]\nkind = \"charliecloud\"\npath = \"/usr/bin/id\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let (f, trusted) = config_facts(&p);
        assert!(!trusted && f.trust.is_some());
        assert!(f.parsed.is_ok() && f.text.is_some());
        let facts = runtimes(f.parsed.as_ref().unwrap(), trusted);
        assert_eq!(facts[0].1.version, None);
        assert!(
            facts[0]
                .1
                .unprobed
                .as_deref()
                .unwrap()
                .contains("not root's alone")
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
