//! `--bind` and `--mount` specifications: parsing and the checks the real
//! runtimes make before mounting.
//!
//! `-B src[:dest[:opts]][,spec...]`: dest defaults to src; opts are `ro`,
//! `rw`, `image-src=PATH` and `id=N` (bind_paths_and_mounts in both user
//! guides). Commas separate both specs and options: a word that is an
//! option continues the previous spec's option list, anything else starts a
//! new spec. The real parsers give `/a:/b,ro` (an option after a spec that
//! has no opts field) the destination `/b,ro`; that is never what was meant,
//! so the stand-in refuses it. Apptainer's backslash escapes for `,` and `:`
//! are not emulated and refused.
//!
//! `--mount type=bind,src=...,dst=...[,ro]` is a CSV record (several records
//! separated by newlines); keys as in the real `ParseMountString`.
//!
//! Checks made when the container is set up, and their wording: the source
//! must exist (`mount source X doesn't exist`), the destination must be
//! absolute (`destination must be an absolute path`). A relative source is
//! taken relative to the current directory, as the real tools do.

use std::path::Path;

use serde::Serialize;

use crate::csv;
use crate::tool::Tool;

/// One bind mount the container would get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bind {
    pub src: String,
    pub dest: String,
    /// Options in the order given, e.g. `["ro"]`, `["image-src=/"]`.
    pub opts: Vec<String>,
    /// `"bind"` for `-B/--bind`, `"mount"` for `--mount`.
    pub via: &'static str,
}

fn is_option(word: &str) -> bool {
    matches!(word, "ro" | "rw") || word.starts_with("image-src=") || word.starts_with("id=")
}

/// Parse one `--bind` value into its specs.
pub fn parse_bind_value(tool: Tool, value: &str) -> Result<Vec<Bind>, String> {
    if tool == Tool::Apptainer && value.contains('\\') {
        return Err(format!(
            "bind spec {value:?}: backslash escapes are not emulated by the stand-in (use --mount for paths with ',' or ':')"
        ));
    }
    let mut binds: Vec<Bind> = Vec::new();
    // Whether the last spec had an opts field, so options may follow it.
    let mut last_has_opts = false;
    let mut last_parts = 0;
    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        if is_option(word) && last_parts == 2 && !last_has_opts {
            return Err(format!(
                "ambiguous bind spec {value:?}: option '{word}' follows a spec without an options field; \
                 the real runtime would make it part of the destination (write src:dest:{word})"
            ));
        }
        if is_option(word) && last_has_opts {
            if let Some(last) = binds.last_mut() {
                last.opts.push(word.to_string());
            }
            continue;
        }
        let parts: Vec<&str> = word.split(':').collect();
        if parts.len() > 3 {
            return Err(format!(
                "bad bind syntax {word:?}: should be src[:dest[:opts]]"
            ));
        }
        if parts[0].is_empty() {
            return Err(format!("empty bind source for bind path {word:?}"));
        }
        let opts: Vec<String> = match parts.get(2) {
            Some(opt) => vec![opt.to_string()],
            None => Vec::new(),
        };
        for opt in &opts {
            if !is_option(opt) {
                return Err(format!("{opt} is not a valid bind option"));
            }
        }
        binds.push(Bind {
            src: parts[0].to_string(),
            dest: parts.get(1).unwrap_or(&parts[0]).to_string(),
            opts,
            via: "bind",
        });
        last_parts = parts.len();
        last_has_opts = parts.len() == 3;
    }
    Ok(binds)
}

/// Parse one `--mount` value (one or more newline-separated CSV records).
pub fn parse_mount_value(tool: Tool, value: &str) -> Result<Vec<Bind>, String> {
    let records = csv::read_records(value).map_err(|e| format!("error parsing mount: {e}"))?;
    let mut binds = Vec::new();
    for record in records {
        let (mut src, mut dest, mut opts) = (None, None, Vec::new());
        for field in record {
            let (key, val) = field.split_once('=').unwrap_or((field.as_str(), ""));
            match key {
                "type" if val == "bind" => {}
                "type" => {
                    return Err(format!(
                        "unsupported mount type {val:?}, only 'bind' is supported"
                    ));
                }
                "source" | "src" if val.is_empty() => {
                    return Err("mount source cannot be empty".into());
                }
                "source" | "src" => src = Some(val.to_string()),
                "destination" | "dst" | "target" if val.is_empty() => {
                    return Err("mount destination cannot be empty".into());
                }
                "destination" | "dst" | "target" => dest = Some(val.to_string()),
                "ro" | "readonly" => opts.push("ro".to_string()),
                "image-src" | "id" if val.is_empty() => {
                    return Err(format!("{key} cannot be empty"));
                }
                "image-src" | "id" => opts.push(format!("{key}={val}")),
                "bind-propagation" => {
                    return Err(format!(
                        "bind-propagation not supported for individual mounts, check {}.conf for global setting",
                        tool.name()
                    ));
                }
                _ => return Err(format!("invalid key {key:?} in mount specification")),
            }
        }
        match (src, dest) {
            (Some(src), Some(dest)) => binds.push(Bind {
                src,
                dest,
                opts,
                via: "mount",
            }),
            _ => return Err("mounts must specify a source and a destination".into()),
        }
    }
    Ok(binds)
}

/// The runtime checks on a parsed bind, relative sources taken from `cwd`.
pub fn check(bind: &Bind, cwd: &Path) -> Result<(), String> {
    if !cwd.join(&bind.src).exists() {
        return Err(format!("mount source {} doesn't exist", bind.src));
    }
    if !bind.dest.starts_with('/') {
        return Err(format!(
            "unable to add {} to mount list: destination must be an absolute path (got {:?})",
            bind.src, bind.dest
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(src: &str, dest: &str, opts: &[&str]) -> Bind {
        Bind {
            src: src.into(),
            dest: dest.into(),
            opts: opts.iter().map(|o| o.to_string()).collect(),
            via: "bind",
        }
    }

    #[test]
    fn spec_forms() {
        let t = Tool::Apptainer;
        assert_eq!(
            parse_bind_value(t, "/a").unwrap(),
            vec![bind("/a", "/a", &[])]
        );
        assert_eq!(
            parse_bind_value(t, "/a:/b").unwrap(),
            vec![bind("/a", "/b", &[])]
        );
        assert_eq!(
            parse_bind_value(t, "/a:/b:ro,rw,/c,/d:/e:ro").unwrap(),
            vec![
                bind("/a", "/b", &["ro", "rw"]),
                bind("/c", "/c", &[]),
                bind("/d", "/e", &["ro"])
            ]
        );
        assert_eq!(
            parse_bind_value(t, "img.sif:/data:image-src=/,id=2").unwrap(),
            vec![bind("img.sif", "/data", &["image-src=/", "id=2"])]
        );
        assert_eq!(parse_bind_value(t, "").unwrap(), vec![]);
    }

    #[test]
    fn bad_specs() {
        let t = Tool::Apptainer;
        assert!(
            parse_bind_value(t, "/a:/b:rx")
                .unwrap_err()
                .contains("rx is not a valid bind option")
        );
        assert!(
            parse_bind_value(t, "/a:/b:ro:x")
                .unwrap_err()
                .contains("bad bind syntax")
        );
        assert!(
            parse_bind_value(t, ":/b")
                .unwrap_err()
                .contains("empty bind source")
        );
        assert!(
            parse_bind_value(t, "/a:/b,ro")
                .unwrap_err()
                .contains("ambiguous")
        );
        assert!(
            parse_bind_value(t, "/a\\,b:/c")
                .unwrap_err()
                .contains("backslash")
        );
        // SingularityCE has no escapes; the backslash is part of the path.
        assert_eq!(
            parse_bind_value(Tool::Singularity, "/a\\b").unwrap(),
            vec![bind("/a\\b", "/a\\b", &[])]
        );
    }

    #[test]
    fn mount_specs() {
        let t = Tool::Apptainer;
        // Unlike --bind, --mount has no "rw" key.
        let got = parse_mount_value(t, "type=bind,src=/a,dst=/b,rw").unwrap_err();
        assert!(got.contains("invalid key \"rw\""), "{got}");
        let two = parse_mount_value(t, "src=/a,dst=/b\nsrc=/c,dst=/d").unwrap();
        assert_eq!(two.len(), 2);
        let got = parse_mount_value(t, "type=bind,\"src=/a,b\",destination=/m,readonly").unwrap();
        assert_eq!(
            got,
            vec![Bind {
                via: "mount",
                ..bind("/a,b", "/m", &["ro"])
            }]
        );
        assert!(
            parse_mount_value(t, "type=volume,src=/a,dst=/b")
                .unwrap_err()
                .contains("unsupported")
        );
        assert!(
            parse_mount_value(t, "src=/a")
                .unwrap_err()
                .contains("source and a destination")
        );
    }

    #[test]
    fn runtime_checks() {
        let root = Path::new("/");
        assert!(check(&bind("/", "/x", &[]), root).is_ok());
        assert!(
            check(&bind("/no/such/dir", "/x", &[]), root)
                .unwrap_err()
                .contains("doesn't exist")
        );
        assert!(
            check(&bind("/", "x", &[]), root)
                .unwrap_err()
                .contains("absolute")
        );
        // A relative source is looked up from the current directory.
        assert!(check(&bind("etc", "/x", &[]), root).is_ok());
    }
}
