//! `CARME_BEEOND_STANDIN_*` variables: how tests steer the stand-in.
//!
//! An unknown name or value is refused: a misspelt control variable would
//! otherwise silently test something else.

use std::collections::BTreeMap;
use std::path::PathBuf;

const PREFIX: &str = "CARME_BEEOND_STANDIN_";

/// What the test asked of the stand-in.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Control {
    /// `_LOG=FILE`: append one JSON record per invocation.
    pub log: Option<PathBuf>,
    /// `_HANG=ACTION`: that action checks its arguments, does what the real
    /// tool does before its usual hanging point, then sleeps until killed.
    pub hang: Option<String>,
    /// `_FAIL=ACTION`: that action checks its arguments, then fails without
    /// doing anything.
    pub fail: Option<String>,
    /// `_NODE_MOUNTS=n1=/a,n2=/b`: where each node's view of the mount point
    /// is on this host (all test nodes share one host).
    pub node_mounts: Option<BTreeMap<String, PathBuf>>,
}

const ACTIONS: [&str; 3] = ["start", "stop", "stoplocal"];

impl Control {
    /// Read the control variables from `env`.
    pub fn from_env(env: impl Iterator<Item = (String, String)>) -> Result<Control, String> {
        let mut control = Control::default();
        for (key, value) in env {
            let Some(name) = key.strip_prefix(PREFIX) else {
                continue;
            };
            let action = || {
                if ACTIONS.contains(&value.as_str()) {
                    Ok(Some(value.clone()))
                } else {
                    Err(format!("{key}={value:?}: expected one of {ACTIONS:?}"))
                }
            };
            match name {
                "LOG" => control.log = Some(PathBuf::from(&value)),
                "HANG" => control.hang = action()?,
                "FAIL" => control.fail = action()?,
                "NODE_MOUNTS" => control.node_mounts = Some(node_mounts(&key, &value)?),
                _ => {
                    return Err(format!(
                        "unknown control variable {key} (known: {PREFIX}LOG, {PREFIX}HANG, \
                         {PREFIX}FAIL, {PREFIX}NODE_MOUNTS)"
                    ));
                }
            }
        }
        Ok(control)
    }

    pub fn hangs(&self, action: &str) -> bool {
        self.hang.as_deref() == Some(action)
    }

    pub fn fails(&self, action: &str) -> bool {
        self.fail.as_deref() == Some(action)
    }
}

/// `n1=/path/one,n2=/path/two`: distinct nodes, distinct absolute paths.
fn node_mounts(key: &str, value: &str) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut map = BTreeMap::new();
    for entry in value.split(',') {
        let Some((node, path)) = entry
            .split_once('=')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        else {
            return Err(format!("{key}: {entry:?} is not NODE=/PATH"));
        };
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(format!("{key}: {entry:?}: the path must be absolute"));
        }
        if map.values().any(|p| p == &path) {
            return Err(format!(
                "{key}: {} is given twice; each node needs its own mount point",
                path.display()
            ));
        }
        if map.insert(node.to_string(), path).is_some() {
            return Err(format!("{key}: node {node} is given twice"));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(vars: &[(&str, &str)]) -> Result<Control, String> {
        Control::from_env(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn reads_the_knobs() {
        let c = control(&[
            ("PATH", "/bin"),
            ("CARME_BEEOND_STANDIN_LOG", "/tmp/log"),
            ("CARME_BEEOND_STANDIN_HANG", "stop"),
            ("CARME_BEEOND_STANDIN_FAIL", "start"),
            ("CARME_BEEOND_STANDIN_NODE_MOUNTS", "n1=/m/1,n2=/m/2"),
        ])
        .unwrap();
        assert!(c.hangs("stop") && !c.hangs("start") && c.fails("start"));
        assert_eq!(c.log, Some(PathBuf::from("/tmp/log")));
        let mounts = c.node_mounts.unwrap();
        assert_eq!(mounts["n2"], PathBuf::from("/m/2"));
    }

    #[test]
    fn refuses_unknown_names_and_values() {
        for vars in [
            [("CARME_BEEOND_STANDIN_HAGN", "start")],
            [("CARME_BEEOND_STANDIN_HANG", "forever")],
            [("CARME_BEEOND_STANDIN_FAIL", "1")],
            [("CARME_BEEOND_STANDIN_NODE_MOUNTS", "n1")],
            [("CARME_BEEOND_STANDIN_NODE_MOUNTS", "n1=rel")],
            [("CARME_BEEOND_STANDIN_NODE_MOUNTS", "n1=/a,n2=/a")],
            [("CARME_BEEOND_STANDIN_NODE_MOUNTS", "n1=/a,n1=/b")],
            [("CARME_BEEOND_STANDIN_NODE_MOUNTS", "")],
        ] {
            assert!(control(&vars).is_err(), "{vars:?}");
        }
    }
}
