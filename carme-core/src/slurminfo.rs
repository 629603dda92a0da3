//! What Slurm's own tools print, read as data for `carme-launch
//! check-node`: `slurmd -V` / `scontrol -V`, `scontrol show config` (the
//! running slurm.conf and, where a cgroup plugin is used, cgroup.conf),
//! `scontrol show node`, and plugstack.conf lines. Tested on output
//! captured from the harness's Slurm 22.05 (testdata/).

use std::collections::BTreeMap;
use std::fmt;

/// A Slurm release; plugins load only into their own `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlurmVersion {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

impl SlurmVersion {
    /// From `SLURM_VERSION_NUMBER` / a plugin's `plugin_version`
    /// (`0x180b05` is 24.11.5).
    pub fn from_number(n: u32) -> SlurmVersion {
        SlurmVersion {
            major: n >> 16,
            minor: (n >> 8) & 0xff,
            micro: n & 0xff,
        }
    }

    /// `(major, minor)`: what must match between a plugin and Slurm.
    pub fn series(&self) -> (u32, u32) {
        (self.major, self.minor)
    }

    /// `24.11`, for messages.
    pub fn series_text(&self) -> String {
        format!("{}.{:02}", self.major, self.minor)
    }

    /// `22.05.8` (or `24.11.0-0rc1`-like text's numbers).
    pub fn parse(text: &str) -> Option<SlurmVersion> {
        let mut parts = text.split('.');
        let num = |p: Option<&str>| -> Option<u32> {
            let digits: String = p?.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let major = num(parts.next())?;
        let minor = num(parts.next())?;
        let micro = num(parts.next()).unwrap_or(0);
        (major < 256 && minor < 256).then_some(SlurmVersion {
            major,
            minor,
            micro,
        })
    }
}

impl fmt::Display for SlurmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}.{}", self.major, self.minor, self.micro)
    }
}

/// The version in `slurmd -V` / `scontrol -V` output (`slurm 24.11.5`,
/// Debian's `slurm-wlm 22.05.8`).
pub fn parse_version_output(text: &str) -> Option<SlurmVersion> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let mut words = line.split_whitespace();
    match words.next()? {
        "slurm" | "slurm-wlm" => SlurmVersion::parse(words.next()?),
        _ => None,
    }
}

/// `scontrol show config`: the running slurm.conf's settings and, when a
/// cgroup plugin is in use (Slurm prints them only then), cgroup.conf's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShowConfig {
    pub settings: BTreeMap<String, String>,
    /// None: the "Cgroup Support Configuration" section is absent.
    pub cgroup: Option<BTreeMap<String, String>>,
}

impl ShowConfig {
    /// A setting's value; None when absent or `(null)`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty() && *v != "(null)")
    }

    /// A list setting such as `Prolog`: 22.05 prints `Prolog = a,b`;
    /// from 23.02 on each entry has its own line, `Prolog[0] = a`,
    /// `Prolog[1] = b`. The entries in order, as one comma list.
    pub fn list(&self, key: &str) -> Option<String> {
        if let Some(v) = self.get(key) {
            return Some(v.to_string());
        }
        let entries: Vec<&str> = (0..)
            .map_while(|i| self.get(&format!("{key}[{i}]")))
            .collect();
        (!entries.is_empty()).then(|| entries.join(","))
    }
}

const CGROUP_HEADER: &str = "Cgroup Support Configuration:";

/// Read `scontrol show config` output: `Key = value` lines, the first
/// block being slurm.conf's, later blocks each under a title line.
pub fn parse_show_config(text: &str) -> ShowConfig {
    enum In {
        Main,
        Cgroup,
        Other,
    }
    let mut out = ShowConfig::default();
    let mut at = In::Main;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t == CGROUP_HEADER {
            at = In::Cgroup;
            out.cgroup.get_or_insert_with(BTreeMap::new);
            continue;
        }
        if t.starts_with("Configuration data as of") {
            at = In::Main;
            continue;
        }
        let Some((k, v)) = line.split_once(" = ").or_else(|| {
            // `PowerPlugin             = ` (an empty value).
            line.trim_end().strip_suffix(" =").map(|k| (k, ""))
        }) else {
            // A title (`MPI Plugins Configuration:`) or a status line.
            at = In::Other;
            continue;
        };
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            at = In::Other;
            continue;
        }
        let v = v.trim().to_string();
        match at {
            In::Main => {
                out.settings.insert(k.to_string(), v);
            }
            In::Cgroup => {
                if let Some(c) = out.cgroup.as_mut() {
                    c.insert(k.to_string(), v);
                }
            }
            In::Other => {}
        }
    }
    out
}

/// One node as `scontrol show node [-o]` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub available_features: Vec<String>,
    pub active_features: Vec<String>,
    /// The running slurmd's version (`Version=`), when it has registered.
    pub version: Option<String>,
    pub state: Option<String>,
}

/// Every node in `scontrol show node` output (one line each with `-o`,
/// or blocks separated by blank lines).
pub fn parse_nodes(text: &str) -> Vec<NodeInfo> {
    let mut nodes: Vec<NodeInfo> = Vec::new();
    // Free text (Reason=, Comment=, Extra=) may hold `NodeName=` or
    // `AvailableFeatures=` words: a node starts only at a line's first
    // word, the first value of each key counts, and a node's words end at
    // its first free-text field.
    let mut open = false;
    let mut seen: Vec<&str> = Vec::new();
    for line in text.lines() {
        for (i, word) in line.split_whitespace().enumerate() {
            let Some((k, v)) = word.split_once('=') else {
                continue;
            };
            let list = |v: &str| -> Vec<String> {
                if v == "(null)" || v.is_empty() {
                    Vec::new()
                } else {
                    v.split(',').map(str::to_string).collect()
                }
            };
            if k == "NodeName" && i == 0 {
                nodes.push(NodeInfo {
                    name: v.to_string(),
                    ..NodeInfo::default()
                });
                open = true;
                seen.clear();
                continue;
            }
            if matches!(k, "Reason" | "Comment" | "Extra") {
                open = false;
            }
            let Some(node) = nodes.last_mut().filter(|_| open) else {
                continue;
            };
            if seen.contains(&k) {
                continue;
            }
            seen.push(k);
            match k {
                "AvailableFeatures" => node.available_features = list(v),
                "ActiveFeatures" => node.active_features = list(v),
                "Version" if v != "(null)" && v != "N/A" => node.version = Some(v.to_string()),
                "State" => node.state = Some(v.to_string()),
                _ => {}
            }
        }
    }
    nodes
}

/// One meaningful line of a plugstack.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlugstackLine {
    /// `include PATTERN`: more files (a glob; relative to this file's
    /// directory when not absolute).
    Include { pattern: String, line: usize },
    /// `required|optional PLUGIN [ARGS...]`.
    Plugin {
        required: bool,
        path: String,
        args: Vec<String>,
        line: usize,
    },
    /// Anything else (Slurm refuses such a file).
    Unknown { text: String, line: usize },
}

impl PlugstackLine {
    /// Whether this line loads Carme: the plugin's file name or its
    /// `config=` names carme.
    pub fn is_carme(&self) -> bool {
        match self {
            PlugstackLine::Plugin { path, args, .. } => {
                let file = path.rsplit('/').next().unwrap_or(path);
                file.contains("carme")
                    || args.iter().any(|a| {
                        a.strip_prefix("config=")
                            .is_some_and(|c| c.contains("carme"))
                    })
            }
            _ => false,
        }
    }

    /// The `config=` argument of a plugin line.
    pub fn config_arg(&self) -> Option<&str> {
        match self {
            PlugstackLine::Plugin { args, .. } => {
                args.iter().find_map(|a| a.strip_prefix("config="))
            }
            _ => None,
        }
    }
}

/// The lines of a plugstack.conf (comments from `#`, blank lines dropped).
pub fn parse_plugstack(text: &str) -> Vec<PlugstackLine> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or_default();
        let mut words = content.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        let rest: Vec<String> = words.map(str::to_string).collect();
        out.push(match (first, rest.split_first()) {
            ("include", Some((pattern, []))) => PlugstackLine::Include {
                pattern: pattern.clone(),
                line,
            },
            ("required" | "optional", Some((path, args))) => PlugstackLine::Plugin {
                required: first == "required",
                path: path.clone(),
                args: args.to_vec(),
                line,
            },
            _ => PlugstackLine::Unknown {
                text: content.trim().to_string(),
                line,
            },
        });
    }
    out
}

/// Whether a shell script's text runs `program` (a word whose file name
/// is `program`, outside comments): how a wrapper named in `Prolog=`
/// hands over to carme-prolog.
pub fn script_runs(text: &str, program: &str) -> bool {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || ";|&()`'\"<>".contains(c)))
        .any(|w| w.rsplit('/').next() == Some(program))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = include_str!("../testdata/slurm-22.05/show-config.txt");
    const CONFIG_CGROUP: &str = include_str!("../testdata/slurm-22.05/show-config-cgroup.txt");
    const CONFIG_NODEV: &str =
        include_str!("../testdata/slurm-22.05/show-config-cgroup-nodevices.txt");

    #[test]
    fn versions() {
        let v = parse_version_output(include_str!("../testdata/slurm-22.05/slurmd-V.txt"));
        assert_eq!(
            v,
            Some(SlurmVersion {
                major: 22,
                minor: 5,
                micro: 8
            })
        );
        assert_eq!(v.unwrap().series_text(), "22.05");
        assert_eq!(
            parse_version_output("slurm 24.11.5\n").map(|v| v.series()),
            Some((24, 11))
        );
        assert_eq!(
            parse_version_output("slurm 23.11.0-0rc1").map(|v| v.series()),
            Some((23, 11))
        );
        for bad in [
            "",
            "scontrol: fatal: Could not establish a configuration source",
            "slurm x.y",
            "slurm 24",
        ] {
            assert_eq!(parse_version_output(bad), None, "{bad}");
        }
        for (n, text) in [
            (0x160508, "22.05.8"),
            (0x180b05, "24.11.5"),
            (0x1a0505, "26.05.5"),
        ] {
            let v = SlurmVersion::from_number(n);
            assert_eq!(v.to_string(), text);
            assert_eq!(Some(v), SlurmVersion::parse(text));
        }
        assert!(SlurmVersion::parse("23.02.7") < SlurmVersion::parse("23.11.0"));
    }

    #[test]
    fn show_config_without_cgroup_plugins() {
        let c = parse_show_config(CONFIG);
        assert_eq!(
            c.get("Prolog"),
            Some("/var/lib/carme-test/h-checknode/libexec/prolog.sh")
        );
        assert_eq!(c.get("PrologFlags"), Some("Alloc"));
        assert_eq!(
            c.get("PlugStackConfig"),
            Some("/var/lib/carme-test/h-checknode/etc/plugstack.conf")
        );
        assert_eq!(
            c.get("PluginDir"),
            Some("/usr/lib/x86_64-linux-gnu/slurm-wlm")
        );
        assert_eq!(c.get("SLURM_VERSION"), Some("22.05.8"));
        assert_eq!(c.get("TaskPlugin"), Some("task/none"));
        assert_eq!(c.get("SlurmctldHost[0]"), Some("vm(127.0.0.1)"));
        // `(null)` and empty values count as unset.
        assert_eq!(c.get("EpilogSlurmctld"), None);
        assert_eq!(c.get("PowerPlugin"), None);
        assert!(c.settings.contains_key("PowerPlugin"));
        // The status line after the settings is not one.
        assert!(!c.settings.keys().any(|k| k.starts_with("Slurmctld(")));
        assert_eq!(c.cgroup, None);
    }

    /// Slurm >= 23.02 (captured from 24.11) gives each Prolog/Epilog
    /// entry its own indexed line.
    #[test]
    fn indexed_list_settings() {
        let c = parse_show_config(
            "Prolog[0]               = /etc/slurm/prolog.d/*\n\
             Prolog[1]               = /etc/carme/prolog\n\
             PrologEpilogTimeout     = 65534\n\
             PrologFlags             = Alloc\n\
             Epilog                  = /etc/carme/epilog\n",
        );
        assert_eq!(
            c.list("Prolog").as_deref(),
            Some("/etc/slurm/prolog.d/*,/etc/carme/prolog")
        );
        assert_eq!(c.list("Epilog").as_deref(), Some("/etc/carme/epilog"));
        assert_eq!(c.list("PrologSlurmctld"), None);
    }

    #[test]
    fn show_config_with_cgroup_settings() {
        let c = parse_show_config(CONFIG_CGROUP);
        assert_eq!(c.get("TaskPlugin"), Some("task/cgroup,task/affinity"));
        let cg = c.cgroup.as_ref().unwrap();
        assert_eq!(cg.get("ConstrainDevices").map(String::as_str), Some("yes"));
        assert_eq!(
            cg.get("CgroupPlugin").map(String::as_str),
            Some("autodetect")
        );
        assert_eq!(cg.get("MinRAMSpace").map(String::as_str), Some("30 MB"));
        // cgroup.conf's keys stay out of slurm.conf's.
        assert!(!c.settings.contains_key("ConstrainDevices"));
        let c = parse_show_config(CONFIG_NODEV);
        assert_eq!(
            c.cgroup
                .unwrap()
                .get("ConstrainDevices")
                .map(String::as_str),
            Some("no")
        );
        // Sections after cgroup's are not read into it.
        let text = "Configuration data as of x\nA = 1\n\nCgroup Support Configuration:\n\
                    ConstrainDevices = yes\n\nMPI Plugins Configuration:\nPMIxCliTmpDirBase = (null)\n";
        let c = parse_show_config(text);
        assert_eq!(c.cgroup.unwrap().len(), 1);
        assert_eq!(c.settings.len(), 1);
    }

    /// Text an admin (or a drain reason) put in free-text fields cannot
    /// add a node or change its features.
    #[test]
    fn free_text_fields_add_no_node() {
        let one = "NodeName=n1 Arch=x86_64 AvailableFeatures=carme ActiveFeatures=carme \
                   State=IDLE Reason=NodeName=n2 AvailableFeatures=beeond [root@2026-12-02]\n";
        let nodes = parse_nodes(one);
        assert_eq!(nodes.len(), 1, "{nodes:?}");
        assert_eq!(nodes[0].available_features, ["carme"]);
        let block = "NodeName=n1 Arch=x86_64 CoresPerSocket=1\n   AvailableFeatures=carme\n   \
                     Comment=AvailableFeatures=x State=DOWN\n   State=IDLE\n";
        let nodes = parse_nodes(block);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].available_features, ["carme"]);
        assert_eq!(
            nodes[0].state, None,
            "after Comment= nothing counts: {nodes:?}"
        );
    }

    #[test]
    fn nodes() {
        for text in [
            include_str!("../testdata/slurm-22.05/show-node-n1.txt"),
            include_str!("../testdata/slurm-22.05/show-node-o-n1.txt"),
        ] {
            let n = parse_nodes(text);
            assert_eq!(n.len(), 1, "{text}");
            assert_eq!(n[0].name, "n1");
            assert_eq!(n[0].available_features, ["carme", "beeond"]);
            assert_eq!(n[0].active_features, ["carme", "beeond"]);
            assert_eq!(n[0].version.as_deref(), Some("22.05.8"));
            assert_eq!(n[0].state.as_deref(), Some("IDLE"));
        }
        let n = parse_nodes(include_str!("../testdata/slurm-22.05/show-node-n3.txt"));
        assert_eq!(n[0].name, "n3");
        assert!(n[0].available_features.is_empty() && n[0].active_features.is_empty());
        assert!(
            parse_nodes(include_str!(
                "../testdata/slurm-22.05/show-node-unknown.txt"
            ))
            .is_empty()
        );
        let two = parse_nodes(
            "NodeName=a AvailableFeatures=x ActiveFeatures=(null)\nNodeName=b AvailableFeatures=y,z\n",
        );
        assert_eq!(two.len(), 2);
        assert_eq!(two[1].available_features, ["y", "z"]);
        assert!(two[0].active_features.is_empty());
    }

    #[test]
    fn plugstack_lines() {
        let text = "# Carme\n\
                    required /usr/lib/carme/libcarme_spank.so config=/etc/carme/carme.toml # ours\n\
                    \n\
                    optional /usr/lib/slurm/spank_pyxis.so runtime_path=/run/pyxis\n\
                    include /etc/slurm/plugstack.conf.d/*.conf\n\
                    required carme_spank.so\n\
                    required /opt/x.so config=/site/carme.toml\n\
                    bogus line here\n";
        let lines = parse_plugstack(text);
        assert_eq!(
            lines[0],
            PlugstackLine::Plugin {
                required: true,
                path: "/usr/lib/carme/libcarme_spank.so".into(),
                args: vec!["config=/etc/carme/carme.toml".into()],
                line: 2
            }
        );
        assert_eq!(lines[0].config_arg(), Some("/etc/carme/carme.toml"));
        assert!(lines[0].is_carme());
        assert!(!lines[1].is_carme(), "pyxis");
        assert_eq!(
            lines[2],
            PlugstackLine::Include {
                pattern: "/etc/slurm/plugstack.conf.d/*.conf".into(),
                line: 5
            }
        );
        assert!(lines[3].is_carme(), "by file name, relative");
        assert!(lines[4].is_carme(), "by its config=");
        assert_eq!(
            lines[5],
            PlugstackLine::Unknown {
                text: "bogus line here".into(),
                line: 8
            }
        );
        assert_eq!(lines.len(), 6);
        assert!(
            !PlugstackLine::Plugin {
                required: true,
                path: "/usr/lib/carme-like/other.so".into(),
                args: vec![],
                line: 1
            }
            .is_carme(),
            "a directory name alone does not make it ours"
        );
    }

    #[test]
    fn scripts_that_run_a_program() {
        let harness = "#!/bin/sh\nd=/x/etc/prolog-delay/$SLURM_JOB_ID; [ -f \"$d\" ] && sleep 1\n\
                       exec /x/libexec/carme-prolog --config /x/etc/carme.toml";
        assert!(script_runs(harness, "carme-prolog"));
        assert!(!script_runs(harness, "carme-epilog"));
        assert!(script_runs(
            "#!/bin/sh\n/usr/libexec/carme/carme-prolog || exit $?\nexec /etc/slurm/prolog.site\n",
            "carme-prolog"
        ));
        assert!(!script_runs(
            "#!/bin/sh\n# exec /usr/libexec/carme/carme-prolog\nexit 0\n",
            "carme-prolog"
        ));
        assert!(!script_runs(
            "#!/bin/sh\nexec /x/carme-prolog-old\n",
            "carme-prolog"
        ));
    }
}
