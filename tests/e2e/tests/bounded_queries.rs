//! Issue 13 item 11: Carme's slurmctld queries have a time bound of their
//! own (15 s), whatever libslurm's `MessageTimeout` says, so a hung
//! controller cannot hang a step (or srun).
//!
//! The query is the one srun's plugin makes for a new Carme job when a
//! `max_running_jobs` limit applies (the user's running jobs), before srun
//! itself asks slurmctld for the allocation. (Steps inside a job ask
//! nothing from srun: slurmstepd decides.) srun gets a copy of the cluster's
//! slurm.conf whose controller is a socket that accepts connections and
//! never answers, with `MessageTimeout=60`: libslurm alone waits at least
//! 60 s there. The socket sees the plugin's query connect first and srun's
//! own request second: the gap between them is how long the plugin's query
//! held srun up. (The plugin's own line saying so is a debug line, and srun
//! sets its log level only after the SPANK options are processed.)

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use carme_e2e::{Cluster, ConfigSwap, STUDENT, exclusive_config, home_of};

/// The cluster's slurm.conf with its controller at `port` and `MessageTimeout=60`.
fn hung_controller_conf(c: &Cluster, port: u16) -> String {
    let conf = std::fs::read_to_string(&c.slurm_conf).unwrap();
    let mut out: Vec<String> = conf
        .lines()
        .filter(|l| !l.starts_with("SlurmctldPort=") && !l.starts_with("MessageTimeout="))
        .map(str::to_string)
        .collect();
    out.push(format!("SlurmctldPort={port}"));
    out.push("MessageTimeout=60".to_string());
    out.join("\n") + "\n"
}

#[test]
fn a_hung_controller_does_not_hang_the_query() {
    use std::os::unix::fs::PermissionsExt;
    let _cfg = exclusive_config();
    let c = Cluster::get();
    let original = std::fs::read_to_string(c.carme_toml()).unwrap();
    assert!(!original.contains("[limits"), "harness config changed");
    let _swap = ConfigSwap::new(
        &c.carme_toml(),
        &format!("{original}\n[limits.default]\nmax_running_jobs = 5\n"),
    );
    // Connections are accepted and kept open; nothing ever answers.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    hung.set_nonblocking(true).unwrap();
    let port = hung.local_addr().unwrap().port();
    let conf = c
        .dir
        .join(format!("etc/hung-controller-{}.conf", std::process::id()));
    std::fs::write(&conf, hung_controller_conf(&c, port)).unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();

    let started = Instant::now();
    let mut child = Command::new("runuser")
        .args(["-u", STUDENT, "--", "env"])
        .arg(format!("SLURM_CONF={}", conf.display()))
        .args(["srun", "-C", "carme", "--carme-image=base", "true"])
        .current_dir(home_of(STUDENT))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    // Two connections, at most 45 s (the old code's query alone took at
    // least MessageTimeout, 60 s, before srun's own request).
    let mut open = Vec::new();
    let mut at = Vec::new();
    while at.len() < 2 && started.elapsed() < Duration::from_secs(45) {
        match hung.accept() {
            Ok((stream, _)) => {
                at.push(started.elapsed());
                open.push(stream);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    // srun itself now waits for the same controller: end it.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_file(&conf);
    drop(open);

    assert_eq!(
        at.len(),
        2,
        "the controller saw {} connection(s) in 45 s ({at:?}): the plugin's query \
         held srun up past its bound",
        at.len()
    );
    assert!(at[0] < Duration::from_secs(10), "{at:?}");
    let held = at[1] - at[0];
    assert!(
        held >= Duration::from_secs(14) && held < Duration::from_secs(40),
        "the plugin's query held srun up for {held:?} (bound: 15 s)"
    );
}
