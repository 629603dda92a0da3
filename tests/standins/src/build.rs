//! `apptainer build [-F|--force] TARGET.sif SANDBOX`: the one build the
//! Carme tests make (a SIF file from a sandbox directory, as a site turns a
//! sandbox into the file it deploys). There is no container, so the "SIF"
//! is a small file that names its sandbox; the stand-in's exec accepts any
//! regular file as an image, as the real exec accepts a SIF.
//!
//! Checked against Apptainer 1.4.5 (Debian sid): an existing target
//! without `--force` is refused with FATAL (255); the build reports its
//! steps as INFO lines. Everything else `build` can do (definition files,
//! remote sources, other flags, other output formats) is refused as the
//! stand-in's limit.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::report::Refusal;
use crate::tool::Tool;

/// The first line of a real SIF file (it can be run as a script).
const SIF_LAUNCH: &str = "#!/usr/bin/env run-singularity\n";

/// Build `args` (what follows `build`); the lines to print on success.
pub fn build(tool: Tool, args: &[String]) -> Result<Vec<String>, Refusal> {
    let mut force = false;
    let mut positional = Vec::new();
    for a in args {
        match a.as_str() {
            "-F" | "--force" => force = true,
            f if f.starts_with('-') => {
                return Err(Refusal::fatal(format!(
                    "stand-in build takes only -F/--force, not {f}"
                )));
            }
            p => positional.push(p),
        }
    }
    let [target, source] = positional[..] else {
        // cobra.ExactArgs(2) on the build command.
        return Err(Refusal::usage(
            "build",
            format!("accepts 2 arg(s), received {}", positional.len()),
        ));
    };
    if source.contains("://") || !Path::new(source).is_dir() {
        return Err(Refusal::fatal(format!(
            "stand-in build makes a SIF from a sandbox directory only; {source:?} is not one"
        )));
    }
    if !target.ends_with(".sif") {
        return Err(Refusal::fatal(format!(
            "stand-in build writes SIF files only (TARGET ending in .sif), not {target:?}"
        )));
    }
    if Path::new(target).exists() && !force {
        let name = Path::new(target)
            .file_name()
            .map_or(target.into(), |n| n.to_string_lossy());
        return Err(Refusal::fatal(format!(
            "While checking build target: build target '{name}' already exists. \
             Use --force if you want to overwrite it"
        )));
    }
    let source_abs = fs::canonicalize(source)
        .map_err(|e| Refusal::fatal(format!("unable to open {source}: {e}")))?;
    let content = format!(
        "{SIF_LAUNCH}# stand-in {} SIF of the sandbox {}\n",
        tool.name(),
        source_abs.display()
    );
    // Written aside and renamed, like the real build, so a half-written
    // image is never run.
    let tmp = format!("{target}.standin-build");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)
        .map_err(|e| Refusal::fatal(format!("while creating SIF {target}: {e}")))?;
    f.write_all(content.as_bytes())
        .and_then(|()| f.set_permissions(fs::Permissions::from_mode(0o755)))
        .and_then(|()| fs::rename(&tmp, target))
        .map_err(|e| Refusal::fatal(format!("while creating SIF {target}: {e}")))?;
    Ok(vec![
        "Starting build...".into(),
        "Creating SIF file...".into(),
        format!("Build complete: {target}"),
    ])
}
