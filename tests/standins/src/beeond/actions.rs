//! What `start`, `stop` and `stoplocal` do, in beeond's order and with its
//! error handling, on one host.
//!
//! - start: check the node file and that no status file exists, write the
//!   status file, create the log files and the server data directories
//!   (`DATA/beegfs-mgmtd` on the first node, `-meta` on the first -m nodes,
//!   `-storage` on the first -s; -F empties them first), then mount each
//!   node's client. beeond hangs, when it does, while waiting for the
//!   servers, after the status file exists and before the clients mount:
//!   that is where `CARME_BEEOND_STANDIN_HANG=start` hangs too.
//! - stop: for every node in the node file, unmount, then delete data (-d)
//!   and logs (-L), then remove the node's status, even after errors. A
//!   node without status is an error unless -c. As with beeond, errors make
//!   the exit status 1 only with -P (via pdsh's exit status); over ssh
//!   beeond ignores them and exits 0.
//! - stoplocal: the same for this node only (`SLURMD_NODENAME`); -u only
//!   unmounts, -s only stops servers, and both keep the status.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use super::cli::{Start, Stop, StopLocal};
use super::control::Control;
use super::status::{self, NodePart, Status};
use super::system;
use super::{EXIT_BEEOND, Refusal, error_line};

/// What the action found and did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Errors reported (already printed).
    pub errors: Vec<String>,
    pub exit_code: i32,
}

/// How an action talks to its caller.
pub struct Context<'a> {
    pub control: &'a Control,
    /// The node this invocation runs as.
    pub node: String,
    pub quiet: bool,
    /// Writes the `hang` record and sleeps until killed (never returns).
    pub hang: &'a dyn Fn() -> Infallible,
}

impl Context<'_> {
    fn hang(&self) -> ! {
        match (self.hang)() {}
    }

    /// beeond's `INFO:` lines go to stdout unless -q.
    fn info(&self, message: &str) {
        if !self.quiet {
            println!("INFO: stand-in beeond: {message}");
        }
    }
}

/// Errors that do not stop the action (stop, stoplocal): printed at once.
#[derive(Default)]
struct Errors(Vec<String>);

impl Errors {
    fn report(&mut self, message: String) {
        eprintln!("{}", error_line(&message));
        self.0.push(message);
    }
}

/// Node names as the node file gives them, as beeond reads it (empty lines
/// dropped, adjacent repeats merged like `uniq`), refusing what beeond would
/// silently mangle.
fn read_nodefile(path: &Path) -> Result<Vec<String>, Refusal> {
    if !path.is_file() {
        return Err(Refusal::beeond(format!(
            "Node file does not exist: {}",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Refusal::standin(format!("cannot read {}: {e}", path.display())))?;
    let mut nodes: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || nodes.last().is_some_and(|last| last == line) {
            continue;
        }
        let clean = line
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !clean {
            return Err(Refusal::standin(format!(
                "line {} of node file {}: {line:?} is not a host name (beeond would split it \
                 at whitespace and pass it to ssh/pdsh unquoted)",
                n + 1,
                path.display()
            )));
        }
        if nodes.iter().any(|node| node == line) {
            return Err(Refusal::standin(format!(
                "node file {}: {line} appears twice; beeond would start its services there twice",
                path.display()
            )));
        }
        nodes.push(line.to_string());
    }
    if nodes.is_empty() {
        return Err(Refusal::beeond(format!(
            "node file {} lists no hosts",
            path.display()
        )));
    }
    Ok(nodes)
}

/// `YYYYmmdd-HHMMSS` in UTC, as beeond names its log files.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The server count for -m/-s: 0 or more than there are nodes means all.
fn servers(asked: u32, nodes: usize) -> usize {
    match asked as usize {
        0 => nodes,
        n => n.min(nodes),
    }
}

pub fn start(s: &Start, ctx: &Context) -> Result<Outcome, Refusal> {
    let nodes = read_nodefile(&s.nodefile)?;
    // Each node's mount point on this host; without the per-node map only
    // this node (or, run elsewhere, the master) can be mounted.
    let mounts: Vec<Option<PathBuf>> = match &ctx.control.node_mounts {
        Some(map) => nodes
            .iter()
            .map(|node| {
                map.get(node).cloned().map(Some).ok_or_else(|| {
                    Refusal::standin(format!(
                        "CARME_BEEOND_STANDIN_NODE_MOUNTS names no mount point for node {node}"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        None => {
            let local = if nodes.contains(&ctx.node) {
                ctx.node.as_str()
            } else {
                nodes[0].as_str()
            };
            nodes
                .iter()
                .map(|n| (n == local).then(|| s.mount.clone()))
                .collect()
        }
    };
    let host = &nodes[0];
    let cannot_create = || {
        Refusal::beeond(format!(
            "Could not create status file {} on host {host}",
            s.status.display()
        ))
    };
    let lock = status::lock_dir(&s.status)
        .map_err(Refusal::standin)?
        .ok_or_else(cannot_create)?;
    if s.status.exists() {
        return Err(Refusal::beeond(format!(
            "Status file {} on host {host} already exists. Maybe a session is already running \
             or the previous session was not properly shut down.",
            s.status.display()
        )));
    }
    for path in mounts.iter().flatten() {
        if system::any_mounted(path).map_err(Refusal::standin)? {
            return Err(Refusal::standin(format!(
                "{} is already a mount point: an earlier instance was not cleaned up (beeond \
                 would mount over it)",
                path.display()
            )));
        }
    }
    ctx.info(&format!(
        "Using status information file: {}",
        s.status.display()
    ));

    let metas = servers(s.meta_servers, nodes.len());
    let storages = servers(s.storage_servers, nodes.len());
    let stamp = timestamp();
    let parts: Vec<NodePart> = nodes
        .iter()
        .zip(mounts)
        .enumerate()
        .map(|(i, (node, mount))| {
            let mut services = Vec::new();
            if i == 0 {
                services.push("beegfs-mgmtd");
            }
            if i < metas {
                services.push("beegfs-meta");
            }
            if i < storages {
                services.push("beegfs-storage");
            }
            let data_dirs = services.iter().map(|svc| s.data.join(svc)).collect();
            services.extend(["beegfs-helperd", "beegfs-client"]);
            let log_files = match &s.log_dir {
                Some(dir) => services
                    .iter()
                    .map(|svc| dir.join(format!("{svc}_{stamp}.log")))
                    .collect(),
                None => Vec::new(),
            };
            NodePart {
                node: node.clone(),
                mount,
                mounted: false,
                services: services.into_iter().map(String::from).collect(),
                data_dirs,
                log_files,
            }
        })
        .collect();
    let mut state = Status {
        standin: status::STANDIN.into(),
        pid: std::process::id(),
        nodefile: s.nodefile.clone(),
        data_dir: s.data.clone(),
        mount: s.mount.clone(),
        log_dir: s.log_dir.clone(),
        port_shift: s.port_shift,
        nodes: parts,
    };
    status::save(&s.status, &state).map_err(|_| cannot_create())?;

    if let Some(dir) = &s.log_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Refusal::beeond(format!(
                "Could not create log path {} on host {host} ({e})",
                dir.display()
            ))
        })?;
    }
    for part in &state.nodes {
        for file in &part.log_files {
            let line = format!("stand-in beeond: {} services started\n", part.node);
            append_line(file, &line).map_err(Refusal::beeond)?;
        }
        for dir in &part.data_dirs {
            // -F: beeond runs `rm -rf DATA/beegfs-<service>` before each start.
            if s.clear_data {
                remove_tree(dir).map_err(Refusal::beeond)?;
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| Refusal::beeond(format!("cannot create {} ({e})", dir.display())))?;
        }
    }

    if ctx.control.hangs("start") {
        drop(lock);
        ctx.hang();
    }

    for i in 0..state.nodes.len() {
        let Some(path) = state.nodes[i].mount.clone() else {
            continue;
        };
        if let Err(e) = system::mount(&path) {
            let message = format!(
                "Unable to start BeeGFS client on host: {} ({e})",
                state.nodes[i].node
            );
            eprintln!("{}", error_line(&message));
            status::save(&s.status, &state).map_err(Refusal::standin)?;
            return Ok(Outcome {
                errors: vec![message],
                exit_code: EXIT_BEEOND,
            });
        }
        state.nodes[i].mounted = true;
        ctx.info(&format!(
            "{} mounted at {}",
            state.nodes[i].node,
            path.display()
        ));
    }
    status::save(&s.status, &state).map_err(Refusal::standin)?;
    Ok(Outcome::default())
}

fn append_line(path: &Path, line: &str) -> Result<(), String> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `rm -rf PATH`.
fn remove_tree(path: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot delete {}: {e}", path.display())),
    }
}

/// Which parts of a node's shutdown to do.
#[derive(Clone, Copy)]
struct Shutdown {
    unmount: bool,
    stop_servers: bool,
    delete_data: bool,
    delete_logs: bool,
    cleanup: bool,
}

/// Take down what `part` holds, as beeond's stoplocal does.
fn shut_down(part: &mut NodePart, how: Shutdown, ctx: &Context, errors: &mut Errors) {
    let before = errors.0.len();
    if how.unmount
        && let Some(path) = &part.mount
    {
        ctx.info(&format!("Unmounting {} on {}", path.display(), part.node));
        let result = match system::stand_in_mounted(path) {
            Ok(true) => system::unmount(path),
            Ok(false) => Err(format!(
                "nothing of the stand-in's is mounted at {}",
                path.display()
            )),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => part.mounted = false,
            // beeond's -c silences a failed unmount.
            Err(_) if how.cleanup => part.mounted = false,
            Err(e) => errors.report(format!(
                "There was a problem unmounting the ondemand file system on host {} ({e})",
                part.node
            )),
        }
    }
    if how.stop_servers && how.delete_data {
        for dir in &part.data_dirs {
            ctx.info(&format!(
                "Deleting stored data; Data path: {}",
                dir.display()
            ));
            if let Err(e) = remove_tree(dir) {
                errors.report(format!(
                    "There was a problem deleting {} on host {} ({e})",
                    dir.display(),
                    part.node
                ));
            }
        }
    }
    // Logs go only after an error-free shutdown, each step its own logs.
    if how.delete_logs && errors.0.len() == before {
        let client_log = |f: &PathBuf| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("beegfs-client"))
        };
        let mut dirs = Vec::new();
        for file in part
            .log_files
            .iter()
            .filter(|f| (how.unmount || !client_log(f)) && (how.stop_servers || client_log(f)))
        {
            let _ = std::fs::remove_file(file);
            if let Some(dir) = file.parent()
                && !dirs.contains(&dir)
            {
                dirs.push(dir);
            }
        }
        for dir in dirs {
            let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
            if empty && std::fs::remove_dir(dir).is_ok() {
                ctx.info(&format!("Deleted log directory {}", dir.display()));
            }
        }
    }
}

/// Load the status under the directory lock (held until the returned file
/// is dropped).
fn locked_status(path: &Path) -> Result<(Option<std::fs::File>, Option<Status>), Refusal> {
    let lock = status::lock_dir(path).map_err(Refusal::standin)?;
    let state = match &lock {
        Some(_) => status::load(path).map_err(Refusal::standin)?,
        None => None,
    };
    Ok((lock, state))
}

pub fn stop(s: &Stop, ctx: &Context) -> Result<Outcome, Refusal> {
    let nodes = read_nodefile(&s.nodefile)?;
    if ctx.control.hangs("stop") {
        ctx.hang();
    }
    let (_lock, mut state) = locked_status(&s.status)?;
    let mut errors = Errors::default();
    let how = Shutdown {
        unmount: true,
        stop_servers: true,
        delete_data: s.delete_data,
        delete_logs: s.delete_logs,
        cleanup: s.cleanup,
    };
    for node in &nodes {
        match state.as_mut().and_then(|st| st.part_mut(node)) {
            Some(part) => shut_down(part, how, ctx, &mut errors),
            None if s.cleanup => {}
            None => errors.report(format!(
                "Status file {} not found on host {node}.",
                s.status.display()
            )),
        }
    }
    // beeond then removes the status file on every node, errors or not.
    if let Some(st) = &mut state {
        st.nodes.retain(|p| !nodes.contains(&p.node));
        status::save_or_remove(&s.status, st).map_err(Refusal::standin)?;
    }
    let mut exit_code = 0;
    if !errors.0.is_empty() && s.pdsh {
        errors.report(
            "Execution of a command failed. Please see pdsh output for more information.".into(),
        );
        exit_code = EXIT_BEEOND;
    }
    Ok(Outcome {
        errors: errors.0,
        exit_code,
    })
}

pub fn stoplocal(s: &StopLocal, ctx: &Context) -> Result<Outcome, Refusal> {
    if ctx.control.hangs("stoplocal") {
        ctx.hang();
    }
    let (_lock, mut state) = locked_status(&s.status)?;
    let Some(st) = state.as_mut().filter(|st| st.part(&ctx.node).is_some()) else {
        if s.cleanup {
            return Ok(Outcome::default());
        }
        let message = format!(
            "Status file {} not found (node {}).",
            s.status.display(),
            ctx.node
        );
        eprintln!("{}", error_line(&message));
        return Ok(Outcome {
            errors: vec![message],
            exit_code: EXIT_BEEOND,
        });
    };
    if s.cleanup {
        ctx.info("Status file found.");
    }
    let mut errors = Errors::default();
    let how = Shutdown {
        unmount: !s.only_stop_servers,
        stop_servers: !s.only_unmount,
        delete_data: s.delete_data,
        delete_logs: s.delete_logs,
        cleanup: s.cleanup,
    };
    let part = st.part_mut(&ctx.node).expect("checked above");
    shut_down(part, how, ctx, &mut errors);
    // Only a full shutdown removes the status.
    if how.unmount && how.stop_servers {
        st.nodes.retain(|p| p.node != ctx.node);
    }
    status::save_or_remove(&s.status, st).map_err(Refusal::standin)?;
    let exit_code = if errors.0.is_empty() { 0 } else { EXIT_BEEOND };
    Ok(Outcome {
        errors: errors.0,
        exit_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_has_beeonds_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 15, "{t}");
        assert_eq!(&t[8..9], "-");
        assert!(t.starts_with("20"), "{t}");
    }

    #[test]
    fn server_counts() {
        assert_eq!(servers(0, 3), 3);
        assert_eq!(servers(1, 3), 1);
        assert_eq!(servers(9, 3), 3);
    }

    #[test]
    fn node_files() {
        let dir = std::env::temp_dir().join(format!("beeond-nodefile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("nodes");
        let read = |text: &str| {
            std::fs::write(&file, text).unwrap();
            read_nodefile(&file)
        };
        assert_eq!(read("n1\n\nn1\nn2\n").unwrap(), ["n1", "n2"]);
        assert_eq!(read("n1\nn2\nn1\n").unwrap_err().exit_code, 2);
        assert_eq!(read("n1 n2\n").unwrap_err().exit_code, 2);
        assert_eq!(read("\n\n").unwrap_err().exit_code, 1);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            read_nodefile(&file)
                .unwrap_err()
                .message
                .contains("does not exist")
        );
    }
}
