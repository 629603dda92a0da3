//! From an invocation to the command to run: the checks the real runtime
//! makes before starting the container, in its order (flags, environment
//! flags, image, binds, environment, working directory, command lookup).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::binds::{self, Bind};
use crate::cli;
use crate::control::Control;
use crate::environment::{self, Request};
use crate::record::PlanRecord;
use crate::report::{Diagnostics, Refusal};
use crate::tool::Tool;

/// Where a real runtime would fetch the image from; the stand-in only runs
/// local images, which is all Carme uses.
const REMOTE_SCHEMES: &[&str] = &["docker", "library", "oras", "shub", "http", "https"];

/// A checked run, ready to exec.
#[derive(Debug)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub pwd: PathBuf,
    pub record: PlanRecord,
}

/// Check `argv` the way `tool` would and work out what to run.
pub fn plan(
    tool: Tool,
    argv: &[String],
    incoming: &[(String, String)],
    control: &Control,
    diags: &mut Diagnostics,
) -> Result<Launch, Refusal> {
    let mut inv = cli::parse(tool, argv.get(1..).unwrap_or_default(), diags)?;
    let env_lookup: BTreeMap<String, String> = incoming.iter().cloned().collect();
    cli::apply_env(tool, &mut inv.exec_flags, &env_lookup)?;
    cli::note_unemulated(tool, &inv.exec_flags, diags);
    let flags = &inv.exec_flags;

    let cwd = std::env::current_dir()
        .map_err(|e| Refusal::fatal(format!("cannot determine the current directory: {e}")))?;
    let image = check_image(&inv.image, &cwd)?;

    let binds = collect_binds(tool, flags)?;
    for bind in &binds {
        if !cwd.join(&bind.src).exists() {
            // Apptainer 1.4.5 warns first, then fails on the same source.
            diags.warn(format!(
                "skipping mount of {src}: stat {src}: no such file or directory",
                src = bind.src
            ));
        }
        binds::check(bind, &cwd)
            .map_err(|e| Refusal::fatal(format!("container creation failed: {e}")))?;
    }

    // --containall and --compat imply --cleanenv; --compat implies --no-eval.
    let compat = flags.flag("compat");
    let clean = flags.flag("cleanenv") || flags.flag("containall") || compat;
    let env_file = match flags.string("env-file") {
        Some(file) => Some((file, read_env_file(file, &cwd)?)),
        None => None,
    };
    let home = home_dir(flags.string("home"), incoming);
    let env_flag = flags.map("env");
    let image_abs = image.to_string_lossy().into_owned();
    let pwd = working_dir(flags.cwd(), &cwd)?;
    let mut env = environment::container_env(
        &Request {
            tool,
            host: incoming,
            clean,
            no_eval: flags.flag("no-eval") || compat,
            env_flag: &env_flag,
            env_file,
            home: &home,
            image: &image_abs,
            binds: &binds,
            bind_specs: flags.list("bind"),
        },
        diags,
    );

    // The container's action script exports the shell's PWD, i.e. the
    // directory COMMAND starts in, not the caller's.
    env.insert("PWD".to_string(), pwd.to_string_lossy().into_owned());

    // Without a driver both tools carry on without GPU libraries.
    // Apptainer 1.4.5 (checked live, Debian sid) says nothing unless -v;
    // SingularityCE warns ("Could not find any nv files on this host!").
    if tool == Tool::Singularity
        && flags.flag("nv")
        && !control.nv_ok
        && !Path::new("/proc/driver/nvidia/version").exists()
    {
        diags.warn("--nv: no NVIDIA driver found (stand-in)");
    }

    let program = resolve_command(
        &inv.command[0],
        env.get("PATH").map_or("", String::as_str),
        &pwd,
    )?;

    let record = PlanRecord {
        subcommand: "exec",
        global_flags: inv.global_flags.clone(),
        image: inv.image.clone(),
        binds,
        flags: flags.to_json(),
        flags_from_env: flags.env_sources_json(),
        env: env.clone(),
        pwd: pwd.to_string_lossy().into_owned(),
        command: inv.command.clone(),
        program: program.to_string_lossy().into_owned(),
    };
    Ok(Launch {
        program,
        args: inv.command[1..].to_vec(),
        env,
        pwd,
        record,
    })
}

/// The image must be a local file or directory; returns its absolute path.
fn check_image(image: &str, cwd: &Path) -> Result<PathBuf, Refusal> {
    if let Some((scheme, _)) = image.split_once("://") {
        return Err(Refusal::fatal(if REMOTE_SCHEMES.contains(&scheme) {
            format!("remote images not supported: {image} (Carme runs local image files)")
        } else if scheme == "instance" {
            format!("instances are not emulated: {image}")
        } else {
            format!("image URI scheme '{scheme}://' not supported: {image}")
        }));
    }
    let path = absolute(cwd, Path::new(image));
    match fs::metadata(&path) {
        Ok(meta) if meta.is_file() || meta.is_dir() => Ok(path),
        Ok(_) => Err(Refusal::fatal(format!(
            "could not open image {image}: not a regular file or directory"
        ))),
        Err(e) => Err(Refusal::fatal(format!("could not open image {image}: {e}"))),
    }
}

/// `path` made absolute against `cwd` and cleaned lexically, like Go's
/// `filepath.Abs`.
fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in cwd.join(path).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// All binds, `--bind` first, then `--mount`, as the real launcher orders
/// them.
fn collect_binds(tool: Tool, flags: &cli::FlagValues) -> Result<Vec<Bind>, Refusal> {
    let parse_err = |e: String| Refusal::fatal(format!("while parsing bind path: {e}"));
    let mut all = Vec::new();
    match tool {
        // Apptainer parses each --bind value on its own.
        Tool::Apptainer => {
            for value in flags.list("bind") {
                all.extend(binds::parse_bind_value(tool, value).map_err(parse_err)?);
            }
        }
        // SingularityCE joins all values with ',' and parses once.
        Tool::Singularity => {
            let joined = flags.list("bind").join(",");
            all.extend(binds::parse_bind_value(tool, &joined).map_err(parse_err)?);
        }
    }
    for value in flags.list("mount") {
        all.extend(binds::parse_mount_value(tool, value).map_err(parse_err)?);
    }
    Ok(all)
}

fn read_env_file(file: &str, cwd: &Path) -> Result<Vec<(String, String)>, Refusal> {
    let content = fs::read_to_string(cwd.join(file))
        .map_err(|e| Refusal::fatal(format!("could not read {file:?} environment file: {e}")))?;
    environment::parse_env_file(&content)
        .map_err(|e| Refusal::fatal(format!("while processing {file}: {e}")))
}

/// `$HOME` in the container: the destination of `--home src[:dest]`, else
/// the user's home directory from the passwd database (as the real tools
/// use, not `$HOME`), else `$HOME`, else `/`.
fn home_dir(home_flag: Option<&str>, incoming: &[(String, String)]) -> String {
    if let Some(spec) = home_flag {
        return match spec.split_once(':') {
            Some((_, dest)) => dest.to_string(),
            None => spec.to_string(),
        };
    }
    passwd_home()
        .or_else(|| {
            incoming
                .iter()
                .find(|(k, _)| k == "HOME")
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|| "/".to_string())
}

fn passwd_home() -> Option<String> {
    // The owner of /proc/self is the process's effective uid; this avoids
    // libc (and unsafe) just to call geteuid.
    let uid = fs::metadata("/proc/self").ok()?.uid();
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [_, _, id, _, _, home, ..] if id.parse::<u32>().ok() == Some(uid) => {
                Some(home.to_string())
            }
            _ => None,
        }
    })
}

/// The directory COMMAND runs in: `--cwd`/`--pwd`, else the current one.
/// The stand-in runs COMMAND on the host, so the directory must exist there.
fn working_dir(asked: Option<&str>, cwd: &Path) -> Result<PathBuf, Refusal> {
    let Some(dir) = asked else {
        return Ok(cwd.to_path_buf());
    };
    if !dir.starts_with('/') {
        return Err(Refusal::fatal(format!(
            "--cwd {dir:?}: not an absolute path; how the real runtime resolves a relative one is undocumented"
        )));
    }
    if !Path::new(dir).is_dir() {
        return Err(Refusal::fatal(format!(
            "could not set working directory {dir}: no such directory (the stand-in runs COMMAND on the host, so it must exist there)"
        )));
    }
    Ok(PathBuf::from(dir))
}

/// Find COMMAND like the container's shell would: names with a `/` are
/// taken as they are (relative to the working directory), others are looked
/// up in the container's `PATH`.
fn resolve_command(command: &str, path: &str, pwd: &Path) -> Result<PathBuf, Refusal> {
    let is_executable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        let candidate = pwd.join(command);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        let why = if candidate.exists() {
            "permission denied"
        } else {
            "no such file or directory"
        };
        return Err(Refusal::fatal(format!("\"{command}\": {why}")));
    }
    if !command.is_empty() {
        for dir in path.split(':') {
            // An empty PATH entry means the current directory.
            let dir = if dir.is_empty() { "." } else { dir };
            let candidate = pwd.join(dir).join(command);
            if is_executable(&candidate) {
                return Ok(absolute(pwd, &candidate));
            }
        }
    }
    Err(Refusal::fatal(format!(
        "\"{command}\": executable file not found in $PATH"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_cleans_like_go() {
        let cwd = Path::new("/a/b");
        assert_eq!(
            absolute(cwd, Path::new("x/../y.sif")),
            PathBuf::from("/a/b/y.sif")
        );
        assert_eq!(absolute(cwd, Path::new("/c/./d")), PathBuf::from("/c/d"));
        assert_eq!(absolute(cwd, Path::new("../../../e")), PathBuf::from("/e"));
    }

    #[test]
    fn image_uris_are_refused() {
        let cwd = Path::new("/");
        for (image, text) in [
            ("docker://alpine", "remote images not supported"),
            ("library://x/y", "remote images not supported"),
            ("oras://r/i", "remote images not supported"),
            ("shub://a/b", "remote images not supported"),
            ("instance://i", "instances"),
            ("oci-archive://x.tar", "scheme"),
        ] {
            let err = check_image(image, cwd).unwrap_err();
            assert!(err.message.contains(text), "{image}: {}", err.message);
        }
        assert!(
            check_image("/no/such.sif", cwd)
                .unwrap_err()
                .message
                .contains("could not open image")
        );
        assert!(check_image("/", cwd).is_ok());
    }

    #[test]
    fn home_from_flag() {
        assert_eq!(home_dir(Some("/h/src:/h/dest"), &[]), "/h/dest");
        assert_eq!(home_dir(Some("/h/src"), &[]), "/h/src");
    }

    #[test]
    fn commands_are_found_in_the_container_path() {
        let sh = resolve_command("sh", environment::DEFAULT_PATH, Path::new("/")).unwrap();
        assert!(sh.ends_with("sh") && sh.is_absolute());
        let err = resolve_command(
            "no-such-command-xyz",
            environment::DEFAULT_PATH,
            Path::new("/"),
        )
        .unwrap_err();
        assert!(err.message.contains("executable file not found in $PATH"));
        assert!(resolve_command("./nope", "", Path::new("/")).is_err());
    }

    #[test]
    fn working_dir_must_exist_and_be_absolute() {
        assert!(working_dir(Some("/"), Path::new("/tmp")).is_ok());
        assert!(working_dir(Some("rel"), Path::new("/tmp")).is_err());
        assert!(working_dir(Some("/no/such/dir"), Path::new("/tmp")).is_err());
        assert_eq!(
            working_dir(None, Path::new("/tmp")).unwrap(),
            PathBuf::from("/tmp")
        );
    }
}
