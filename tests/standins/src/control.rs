//! `CARME_STANDIN_*` variables: how tests steer the stand-in.
//!
//! They are read from the stand-in's incoming environment and removed from
//! it before anything else looks at it, so COMMAND never sees them and a
//! nested invocation does not inherit them. An unknown `CARME_STANDIN_*`
//! name or value is refused: a misspelt control variable would otherwise
//! silently test something else.

use std::path::PathBuf;

/// Prefix shared by all control variables.
const PREFIX: &str = "CARME_STANDIN_";

/// What the test asked of the stand-in.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Control {
    /// `CARME_STANDIN_LOG=FILE`: append one JSON record per invocation.
    pub log: Option<PathBuf>,
    /// `CARME_STANDIN_FAIL=1`: refuse after checking, without running.
    pub fail: bool,
    /// `CARME_STANDIN_NV=ok`: behave as if an NVIDIA driver were present.
    pub nv_ok: bool,
}

impl Control {
    /// Take the control variables out of `env`.
    pub fn take(env: &mut Vec<(String, String)>) -> Result<Control, String> {
        let mut control = Control::default();
        let mut error = None;
        env.retain(|(key, value)| {
            let Some(name) = key.strip_prefix(PREFIX) else {
                return true;
            };
            let outcome = match (name, value.as_str()) {
                ("LOG", path) => {
                    control.log = Some(PathBuf::from(path));
                    Ok(())
                }
                ("FAIL", "1") => {
                    control.fail = true;
                    Ok(())
                }
                ("FAIL", "0") => Ok(()),
                ("NV", "ok") => {
                    control.nv_ok = true;
                    Ok(())
                }
                ("FAIL", _) => Err(format!("{key}={value:?}: expected 1 or 0")),
                ("NV", _) => Err(format!("{key}={value:?}: expected ok")),
                _ => Err(format!(
                    "unknown control variable {key} (known: {PREFIX}LOG, {PREFIX}FAIL, {PREFIX}NV)"
                )),
            };
            if let Err(e) = outcome {
                error.get_or_insert(e);
            }
            false
        });
        match error {
            Some(e) => Err(e),
            None => Ok(control),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn takes_and_removes_control_variables() {
        let mut vars = env(&[
            ("A", "1"),
            ("CARME_STANDIN_LOG", "/tmp/log"),
            ("CARME_STANDIN_FAIL", "1"),
            ("CARME_STANDIN_NV", "ok"),
        ]);
        let control = Control::take(&mut vars).unwrap();
        assert_eq!(vars, env(&[("A", "1")]));
        assert_eq!(control.log, Some(PathBuf::from("/tmp/log")));
        assert!(control.fail && control.nv_ok);
    }

    #[test]
    fn refuses_unknown_names_and_values() {
        assert!(Control::take(&mut env(&[("CARME_STANDIN_FIAL", "1")])).is_err());
        assert!(Control::take(&mut env(&[("CARME_STANDIN_FAIL", "yes")])).is_err());
        assert!(Control::take(&mut env(&[("CARME_STANDIN_NV", "1")])).is_err());
        assert!(
            !Control::take(&mut env(&[("CARME_STANDIN_FAIL", "0")]))
                .unwrap()
                .fail
        );
    }
}
