//! `carme-beeond-standin` end to end: real tmpfs mounts, status file, data
//! and log directories, refusals, and the failure injection knobs.
//!
//! The stand-in mounts, so these tests must run as root (CI runs the suite
//! as root); as anyone else they fail, they do not skip. Every test works
//! in its own scratch directory whose guard lazily unmounts whatever is
//! still mounted below it and removes it, also when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// Mount points below `dir` whose source is the stand-in's.
fn standin_mounts_below(dir: &Path) -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split(' ');
            let (source, target) = (f.next()?, f.next()?);
            let target = PathBuf::from(target.replace("\\040", " "));
            (source == "beegfs_ondemand" && target.starts_with(dir)).then_some(target)
        })
        .collect()
}

fn mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    mounts.lines().any(|line| {
        let f: Vec<&str> = line.split(' ').collect();
        f[0] == "beegfs_ondemand" && Path::new(f[1]) == path && f[2] == "tmpfs"
    })
}

/// A scratch directory; on drop, lazily unmounts everything below it
/// (deepest first) and removes it.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        assert_eq!(
            euid(),
            0,
            "the beeond stand-in tests mount tmpfs and must run as root (CI runs them as root)"
        );
        let dir = std::env::temp_dir().join(format!(
            "carme-beeond-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Sandbox { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn arg(&self, rel: &str) -> String {
        self.path(rel).to_string_lossy().into_owned()
    }

    fn log(&self) -> PathBuf {
        self.path("invocations.jsonl")
    }

    fn nodefile(&self, nodes: &[&str]) -> String {
        let text: String = nodes.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(self.path("nodefile"), text).unwrap();
        self.arg("nodefile")
    }

    /// `CARME_BEEOND_STANDIN_NODE_MOUNTS` giving each node `mnt/<node>`.
    fn node_mounts(&self, nodes: &[&str]) -> String {
        let entries: Vec<String> = nodes
            .iter()
            .map(|n| format!("{n}={}", self.arg(&format!("mnt/{n}"))))
            .collect();
        entries.join(",")
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_carme-beeond-standin"));
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CARME_BEEOND_STANDIN_LOG", self.log())
            .current_dir(&self.dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().expect("run stand-in")
    }

    fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        self.command(args, env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn stand-in")
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }

    fn status(&self) -> Value {
        let text = std::fs::read_to_string(self.path("status")).expect("status file");
        serde_json::from_str(&text).expect("status JSON")
    }

    /// The usual start: -i status, -d data, -L logs, -p 2000.
    fn start(&self, nodes: &[&str], env: &[(&str, &str)]) -> Output {
        let nodefile = self.nodefile(nodes);
        let (data, mnt, status, logs) = (
            self.arg("data"),
            self.arg("mnt/c"),
            self.arg("status"),
            self.arg("logs"),
        );
        #[rustfmt::skip]
        let args = ["start", "-n", &nodefile, "-d", &data, "-c", &mnt, "-i", &status,
                    "-p", "2000", "-P", "-F", "-L", &logs, "-q"];
        self.run(&args, env)
    }

    fn stop(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let (nodefile, status) = (self.arg("nodefile"), self.arg("status"));
        let mut args = vec!["stop", "-n", &nodefile, "-i", &status];
        args.extend(extra);
        self.run(&args, env)
    }

    fn stoplocal(&self, node: &str, extra: &[&str]) -> Output {
        let status = self.arg("status");
        let mut args = vec!["stoplocal", "-i", &status];
        args.extend(extra);
        self.run(&args, &[("SLURMD_NODENAME", node)])
    }

    /// Wait until the stand-in has logged `status` (it logs `hang` just
    /// before it starts to sleep).
    fn wait_for_record(&self, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.records().iter().any(|r| r["status"] == status) {
            assert!(Instant::now() < deadline, "no {status:?} record");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let mut mounts = standin_mounts_below(&self.dir);
        mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(out));
}

/// Exit `code`, and an `ERROR: stand-in beeond:` line containing `text`.
#[track_caller]
fn assert_refused(out: &Output, code: i32, text: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("ERROR: stand-in beeond: "))
        .unwrap_or_else(|| panic!("no stand-in ERROR line in {err:?}"));
    assert!(line.contains(text), "expected {text:?} in {line:?}");
}

const NODES: [&str; 3] = ["n1", "n2", "n3"];

#[test]
fn start_mounts_every_node_and_stop_takes_it_all_down() {
    let sb = Sandbox::new("start-stop");
    let mounts = sb.node_mounts(&NODES);
    let env = [("CARME_BEEOND_STANDIN_NODE_MOUNTS", mounts.as_str())];
    let out = sb.start(&NODES, &env);
    assert_ok(&out);
    assert!(out.stdout.is_empty(), "-q prints no INFO");
    for node in NODES {
        let m = sb.path(&format!("mnt/{node}"));
        assert!(mounted(&m), "{node} not mounted");
        std::fs::write(m.join("probe"), node).expect("the mount is writable");
    }
    assert!(
        !sb.path("mnt/c").exists(),
        "-c itself is not used with per-node mounts"
    );
    let status = sb.status();
    assert_eq!(status["port_shift"], 2000);
    assert_eq!(status["nodes"].as_array().unwrap().len(), 3);
    assert!(
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["mounted"] == true)
    );
    assert_eq!(status["nodes"][0]["services"][0], "beegfs-mgmtd");
    for dir in ["beegfs-mgmtd", "beegfs-meta", "beegfs-storage"] {
        assert!(sb.path("data").join(dir).is_dir(), "{dir}");
    }
    let logs = std::fs::read_dir(sb.path("logs")).unwrap().count();
    assert!(logs >= 4, "log files: {logs}");

    // A second start on the same status file is refused, like beeond's.
    let again = sb.start(&NODES, &env);
    assert_refused(&again, 1, "already exists");
    assert!(NODES.iter().all(|n| mounted(&sb.path(&format!("mnt/{n}")))));

    let out = sb.stop(&["-L", "-d", "-P", "-c"], &[]);
    assert_ok(&out);
    for node in NODES {
        assert!(
            !mounted(&sb.path(&format!("mnt/{node}"))),
            "{node} still mounted"
        );
    }
    assert!(!sb.path("status").exists());
    assert!(
        std::fs::read_dir(sb.path("data")).unwrap().next().is_none(),
        "-d deletes data"
    );
    assert!(
        !sb.path("logs").exists(),
        "-L deletes the logs and the empty directory"
    );

    let records = sb.records();
    let statuses: Vec<&str> = records
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ok", "refused", "ok"]);
    assert_eq!(records[0]["action"], "start");
    assert_eq!(records[0]["options"]["port_shift"], 2000);
    assert_eq!(records[2]["options"]["cleanup"], true);
}

#[test]
fn without_node_mounts_only_this_nodes_mount_point_is_mounted() {
    let sb = Sandbox::new("local");
    let out = sb.start(&["n1", "n2"], &[("SLURMD_NODENAME", "n2")]);
    assert_ok(&out);
    assert!(mounted(&sb.path("mnt/c")));
    let status = sb.status();
    assert_eq!(status["nodes"][0]["mount"], Value::Null);
    assert_eq!(status["nodes"][1]["mount"], sb.arg("mnt/c"));

    // n2's stoplocal takes down n2's part; n1 has nothing mounted here.
    assert_ok(&sb.stoplocal("n2", &["-L", "-d", "-c"]));
    assert!(!mounted(&sb.path("mnt/c")));
    assert_eq!(sb.status()["nodes"].as_array().unwrap().len(), 1);
    assert_ok(&sb.stoplocal("n1", &["-L", "-d", "-c"]));
    assert!(
        !sb.path("status").exists(),
        "the last part removes the status file"
    );
}

#[test]
fn stoplocal_takes_down_only_its_node() {
    let sb = Sandbox::new("stoplocal");
    let mounts = sb.node_mounts(&NODES);
    assert_ok(&sb.start(&NODES, &[("CARME_BEEOND_STANDIN_NODE_MOUNTS", &mounts)]));

    assert_ok(&sb.stoplocal("n2", &["-L", "-d", "-c"]));
    assert!(!mounted(&sb.path("mnt/n2")));
    assert!(mounted(&sb.path("mnt/n1")) && mounted(&sb.path("mnt/n3")));
    let left: Vec<Value> = sb.status()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["node"].clone())
        .collect();
    assert_eq!(left, ["n1", "n3"]);

    // n2 has no status any more: an error without -c, nothing with it.
    assert_ok(&sb.stoplocal("n2", &["-c"]));
    assert_refused(&sb.stoplocal("n2", &[]), 1, "not found");

    // -u only unmounts and keeps the status.
    assert_ok(&sb.stoplocal("n3", &["-u"]));
    assert!(!mounted(&sb.path("mnt/n3")));
    assert_eq!(sb.status()["nodes"].as_array().unwrap().len(), 2);

    // The distributed stop cleans up the rest; n2's missing status and
    // n3's missing mount are no errors with -c.
    assert_ok(&sb.stop(&["-L", "-d", "-P", "-c"], &[]));
    assert!(standin_mounts_below(&sb.dir).is_empty());
    assert!(!sb.path("status").exists());
}

#[test]
fn stop_without_status_file_behaves_like_beeond() {
    let sb = Sandbox::new("no-status");
    sb.nodefile(&NODES);
    // Over pdsh the nodes' failures make beeond fail ...
    assert_refused(&sb.stop(&["-P"], &[]), 1, "not found");
    // ... over ssh beeond ignores them (exit 0, errors printed) ...
    let out = sb.stop(&[], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    // ... and -c silences them.
    let out = sb.stop(&["-P", "-c"], &[]);
    assert_ok(&out);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert_refused(&sb.stoplocal("n1", &["-L", "-d"]), 1, "not found");
    assert_ok(&sb.stoplocal("n1", &["-L", "-d", "-c"]));
}

#[test]
fn unknown_actions_flags_and_bad_command_lines_are_refused() {
    let sb = Sandbox::new("refusals");
    let nodefile = sb.nodefile(&NODES);
    let (data, mnt, status) = (sb.arg("data"), sb.arg("mnt/c"), sb.arg("status"));
    let start = |extra: &[&str]| {
        let mut args = vec![
            "start", "-n", &nodefile, "-d", &data, "-c", &mnt, "-i", &status,
        ];
        args.extend(extra);
        sb.run(&args, &[])
    };
    assert_refused(&start(&["-x"]), 1, "invalid option: -x");
    assert_refused(&start(&["--quiet"]), 1, "invalid option: --");
    assert_refused(&start(&["-p"]), 1, "Option -p requires an argument");
    assert_refused(&start(&["-p", "ten"]), 1, "port shift must be numeric");
    assert_refused(&start(&["-G", "8010"]), 1, "invalid option: -G"); // 8.x only
    assert_refused(&start(&["extra"]), 2, "unexpected argument \"extra\"");
    assert_refused(&sb.run(&["restart"], &[]), 1, "unknown action \"restart\"");
    assert_refused(&sb.run(&[], &[]), 1, "no action");
    assert_refused(
        &sb.run(&["start", "-d", &data, "-c", &mnt, "-i", &status], &[]),
        1,
        "Node file undefined",
    );
    assert_refused(
        &sb.run(&["start", "-n", &nodefile, "-d", &data, "-c", &mnt], &[]),
        2,
        "-i FILENAME is required",
    );
    assert_refused(
        &sb.run(
            &[
                "start", "-n", "nodefile", "-d", &data, "-c", &mnt, "-i", &status,
            ],
            &[],
        ),
        2,
        "absolute path",
    );
    let missing = sb.arg("missing");
    assert_refused(
        &sb.run(
            &[
                "start", "-n", &missing, "-d", &data, "-c", &mnt, "-i", &status,
            ],
            &[],
        ),
        1,
        "Node file does not exist",
    );
    // A start flag is unknown to stop, and the other way round.
    assert_refused(&sb.stop(&["-F"], &[]), 1, "invalid option: -F");
    assert_refused(
        &sb.stoplocal("n1", &["-n", &nodefile]),
        1,
        "invalid option: -n",
    );
    assert_refused(&sb.stoplocal("n1", &["-u", "-s"]), 1, "mutually exclusive");
    // A misspelt control variable is refused, not ignored.
    let out = start(&[]);
    assert_ok(&out);
    assert_ok(&sb.stop(&["-c"], &[]));
    let out = sb.run(
        &["stop", "-n", &nodefile, "-i", &status],
        &[("CARME_BEEOND_STANDIN_HANG", "forever")],
    );
    assert_refused(&out, 2, "CARME_BEEOND_STANDIN_HANG");
    let out = sb.run(
        &["stop", "-n", &nodefile, "-i", &status],
        &[("CARME_BEEOND_STANDIN_FIAL", "stop")],
    );
    assert_refused(&out, 2, "unknown control variable");

    // Nothing of the refused starts was left behind.
    assert!(standin_mounts_below(&sb.dir).is_empty());
    assert!(!sb.path("status").exists());
    let refused = sb
        .records()
        .iter()
        .filter(|r| r["status"] == "refused")
        .count();
    assert_eq!(
        refused, 15,
        "one record per refusal that got past the control variables"
    );
}

#[test]
fn refuses_a_mount_point_that_is_still_mounted() {
    let sb = Sandbox::new("stale");
    let stale = sb.path("mnt/c");
    std::fs::create_dir_all(&stale).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "beegfs_ondemand"])
        .arg(&stale)
        .status()
        .unwrap();
    assert!(ok.success());
    assert_refused(
        &sb.start(&["n1"], &[("SLURMD_NODENAME", "n1")]),
        2,
        "already a mount point",
    );
    assert!(!sb.path("status").exists());
}

#[test]
fn refuses_a_status_file_it_did_not_write() {
    let sb = Sandbox::new("foreign");
    sb.nodefile(&NODES);
    std::fs::write(
        sb.path("status"),
        "n1,beegfs-client,/mnt/beeond,/var/log/c.log,-\n",
    )
    .unwrap();
    assert_refused(&sb.stop(&["-c"], &[]), 2, "not written by the stand-in");
}

#[test]
fn forced_failures_do_nothing() {
    let sb = Sandbox::new("fail");
    let mounts = sb.node_mounts(&NODES);
    let fail_start = [
        ("CARME_BEEOND_STANDIN_NODE_MOUNTS", mounts.as_str()),
        ("CARME_BEEOND_STANDIN_FAIL", "start"),
    ];
    assert_refused(&sb.start(&NODES, &fail_start), 1, "failing on request");
    assert!(!sb.path("status").exists());
    assert!(standin_mounts_below(&sb.dir).is_empty());

    assert_ok(&sb.start(&NODES, &fail_start[..1]));
    let fail_stop = [("CARME_BEEOND_STANDIN_FAIL", "stop")];
    assert_refused(
        &sb.stop(&["-L", "-d", "-P", "-c"], &fail_stop),
        1,
        "failing on request",
    );
    assert_eq!(
        standin_mounts_below(&sb.dir).len(),
        3,
        "a failed stop leaves the mounts"
    );
    let status = sb.arg("status");
    let out = sb.run(
        &["stoplocal", "-i", &status, "-c"],
        &[
            ("SLURMD_NODENAME", "n1"),
            ("CARME_BEEOND_STANDIN_FAIL", "stoplocal"),
        ],
    );
    assert_refused(&out, 1, "failing on request");
    assert!(mounted(&sb.path("mnt/n1")));
    assert_ok(&sb.stop(&["-L", "-d", "-P", "-c"], &[]));
    assert!(standin_mounts_below(&sb.dir).is_empty());

    let statuses: Vec<String> = sb
        .records()
        .iter()
        .map(|r| r["status"].to_string())
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| *s == "\"forced_failure\"")
            .count(),
        3
    );
}

#[test]
fn hang_start_hangs_before_mounting_until_killed() {
    let sb = Sandbox::new("hang-start");
    let mounts = sb.node_mounts(&NODES);
    let nodefile = sb.nodefile(&NODES);
    let (data, mnt, status) = (sb.arg("data"), sb.arg("mnt/c"), sb.arg("status"));
    let mut child = sb.spawn(
        &[
            "start", "-n", &nodefile, "-d", &data, "-c", &mnt, "-i", &status, "-P", "-F", "-q",
        ],
        &[
            ("CARME_BEEOND_STANDIN_NODE_MOUNTS", &mounts),
            ("CARME_BEEOND_STANDIN_HANG", "start"),
        ],
    );
    sb.wait_for_record("hang");
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "it hangs");
    assert!(
        sb.path("status").exists(),
        "beeond hangs after writing its status file"
    );
    assert!(
        standin_mounts_below(&sb.dir).is_empty(),
        "... and before mounting"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // The epilog's cleanup stop copes with the half-started instance.
    assert_ok(&sb.stop(&["-L", "-d", "-P", "-c"], &[]));
    assert!(!sb.path("status").exists());
    // Without -c the missing mounts are errors.
    assert_ok(&sb.start(&NODES, &[("CARME_BEEOND_STANDIN_NODE_MOUNTS", &mounts)]));
    for node in NODES {
        Command::new("umount")
            .arg(sb.path(&format!("mnt/{node}")))
            .status()
            .unwrap();
    }
    assert_refused(&sb.stop(&["-P"], &[]), 1, "problem unmounting");
}

#[test]
fn hang_stop_hangs_before_unmounting_until_killed() {
    let sb = Sandbox::new("hang-stop");
    let mounts = sb.node_mounts(&NODES);
    assert_ok(&sb.start(&NODES, &[("CARME_BEEOND_STANDIN_NODE_MOUNTS", &mounts)]));
    let (nodefile, status) = (sb.arg("nodefile"), sb.arg("status"));
    let mut child = sb.spawn(
        &[
            "stop", "-n", &nodefile, "-i", &status, "-L", "-d", "-P", "-c",
        ],
        &[("CARME_BEEOND_STANDIN_HANG", "stop")],
    );
    sb.wait_for_record("hang");
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "it hangs");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        standin_mounts_below(&sb.dir).len(),
        3,
        "nothing was unmounted"
    );

    // The per-node fallback takes each node down; the hung stop held no lock.
    for node in NODES {
        assert_ok(&sb.stoplocal(node, &["-L", "-d", "-c"]));
    }
    assert!(standin_mounts_below(&sb.dir).is_empty());
    assert!(!sb.path("status").exists());
}

#[test]
fn concurrent_stoplocals_on_one_host_lose_no_update() {
    let sb = Sandbox::new("concurrent");
    let nodes: Vec<String> = (1..=8).map(|i| format!("n{i}")).collect();
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let mounts = sb.node_mounts(&nodes);
    assert_ok(&sb.start(&nodes, &[("CARME_BEEOND_STANDIN_NODE_MOUNTS", &mounts)]));
    std::thread::scope(|scope| {
        for node in &nodes {
            let sb = &sb;
            scope.spawn(move || assert_ok(&sb.stoplocal(node, &["-L", "-d"])));
        }
    });
    assert!(standin_mounts_below(&sb.dir).is_empty());
    assert!(!sb.path("status").exists(), "every node's part was removed");
}
