//! Batch jobs the tests submit: `sbatch --parsable` as a test user with a
//! unique job name and an output file in the user's home, the job's id,
//! its state as slurmctld tells it, and its output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Cluster, Lines, Out, home_of, unique_name};

/// How long a job may take to start or to end unless the test says.
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// States a job does not leave (MinJobAge keeps it listed in them).
const DONE: &[&str] = &[
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
];

enum Script {
    /// sbatch reads it from stdin (where a client never sees `#SBATCH`
    /// lines of the script: only slurmstepd does).
    Stdin(String),
    File(PathBuf),
    Wrap(String),
}

/// An `sbatch` to submit; see [`Cluster::sbatch`].
pub struct Sbatch<'a> {
    cluster: &'a Cluster,
    user: String,
    name: String,
    node: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    script: Option<Script>,
    output: Option<PathBuf>,
}

impl Cluster {
    /// An sbatch as `user`, its job named `unique_name(tag)`, its output
    /// in the user's home (`NAME.out`, removed when the [`BatchJob`] is
    /// dropped, unless the test is failing).
    pub fn sbatch(&self, user: &str, tag: &str) -> Sbatch<'_> {
        let name = unique_name(tag);
        Sbatch {
            cluster: self,
            user: user.to_string(),
            output: Some(home_of(user).join(format!("{name}.out"))),
            name,
            node: None,
            args: Vec::new(),
            env: Vec::new(),
            script: None,
        }
    }

    /// [`Cluster::sbatch`] on `node` (`-w NODE`).
    pub fn sbatch_on(&self, node: &str, user: &str, tag: &str) -> Sbatch<'_> {
        let mut s = self.sbatch(user, tag);
        s.node = Some(node.to_string());
        s
    }
}

impl Sbatch<'_> {
    /// More sbatch options (before the script).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// A variable in sbatch's environment.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The batch script, given on sbatch's stdin.
    pub fn script(mut self, text: &str) -> Self {
        self.script = Some(Script::Stdin(text.to_string()));
        self
    }

    /// The batch script, a file the user can read.
    pub fn script_file(mut self, path: &Path) -> Self {
        self.script = Some(Script::File(path.to_path_buf()));
        self
    }

    /// `--wrap CMD`.
    pub fn wrap(mut self, cmd: &str) -> Self {
        self.script = Some(Script::Wrap(cmd.to_string()));
        self
    }

    /// The job's output goes to /dev/null.
    pub fn discard_output(mut self) -> Self {
        self.output = None;
        self
    }

    /// The job's name (`-J`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Submit; sbatch must succeed.
    #[track_caller]
    pub fn submit(self) -> BatchJob {
        let job = self.sbatch(false);
        job.submitted.ok();
        job
    }

    /// Submit with `--wait` (sbatch returns when the job has ended, with
    /// its exit code: see [`BatchJob::expect_exit`]) and wait until
    /// slurmctld has it done.
    #[track_caller]
    pub fn run(self) -> BatchJob {
        let job = self.sbatch(true);
        job.wait_done();
        job
    }

    #[track_caller]
    fn sbatch(self, wait: bool) -> BatchJob {
        let output = self.output.as_ref().map(|p| p.display().to_string());
        let mut argv = vec!["sbatch", "--parsable"];
        if wait {
            argv.push("--wait");
        }
        argv.extend(["-J", &self.name]);
        if let Some(node) = &self.node {
            argv.extend(["-w", node]);
        }
        argv.extend(["-o", output.as_deref().unwrap_or("/dev/null")]);
        argv.extend(self.args.iter().map(String::as_str));
        let mut stdin = None;
        let file;
        match &self.script {
            Some(Script::Stdin(text)) => stdin = Some(text.as_str()),
            Some(Script::File(path)) => {
                file = path.display().to_string();
                argv.push(&file);
            }
            Some(Script::Wrap(cmd)) => argv.extend(["--wrap", cmd]),
            None => panic!("sbatch {}: no script given", self.name),
        }
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let submitted = self.cluster.run_full(&self.user, &argv, &env, stdin);
        // --parsable: "ID" or "ID;CLUSTER".
        let id = submitted
            .stdout
            .trim()
            .split(';')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no job id from sbatch:\n{}", submitted.all()));
        BatchJob {
            id,
            name: self.name,
            cluster: self.cluster.clone(),
            output: self.output,
            submitted,
            waited: wait,
        }
    }
}

/// A submitted batch job. Its output file is removed on drop unless the
/// test is failing (then it stays, for a look).
pub struct BatchJob {
    pub id: u32,
    pub name: String,
    cluster: Cluster,
    output: Option<PathBuf>,
    submitted: Out,
    waited: bool,
}

impl BatchJob {
    /// What sbatch printed.
    pub fn submitted(&self) -> &Out {
        &self.submitted
    }

    /// A field of `scontrol show job -o` ("" where there is none).
    pub fn field(&self, key: &str) -> String {
        let out = self
            .cluster
            .root(&["scontrol", "show", "job", "-o", &self.id.to_string()]);
        let prefix = format!("{key}=");
        out.stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&prefix))
            .unwrap_or("")
            .to_string()
    }

    /// `JobState`, as slurmctld says now.
    pub fn state(&self) -> String {
        self.field("JobState")
    }

    /// The job, its state, sbatch's output and the job's, for messages.
    pub fn describe(&self) -> String {
        let text = match &self.output {
            Some(p) => format!(
                "--- job output ({})\n{}",
                p.display(),
                std::fs::read_to_string(p).unwrap_or_else(|e| format!("({e})\n"))
            ),
            None => "--- job output discarded\n".to_string(),
        };
        format!(
            "job {} ({}): JobState={} Reason={} ExitCode={}\n--- sbatch\n{}{text}",
            self.id,
            self.name,
            self.state(),
            self.field("Reason"),
            self.field("ExitCode"),
            self.submitted.all()
        )
    }

    #[track_caller]
    fn fail(&self, what: std::fmt::Arguments) -> ! {
        panic!("{what}\n{}", self.describe())
    }

    /// Wait until the job runs (RUNNING, no pending reason).
    #[track_caller]
    pub fn wait_running(&self) -> &Self {
        let running = self.cluster.wait_for(JOB_TIMEOUT, || {
            self.state() == "RUNNING" && self.field("Reason") == "None"
        });
        if !running {
            self.fail(format_args!("not running within {JOB_TIMEOUT:?}"));
        }
        self
    }

    /// Whether the job has ended (any final state).
    pub fn is_done(&self) -> bool {
        DONE.contains(&self.state().as_str())
    }

    /// Wait until the job has ended (any final state).
    #[track_caller]
    pub fn wait_done(&self) -> &Self {
        self.wait_done_within(JOB_TIMEOUT)
    }

    #[track_caller]
    pub fn wait_done_within(&self, within: Duration) -> &Self {
        if !self.cluster.wait_for(within, || self.is_done()) {
            self.fail(format_args!("not done within {within:?}"));
        }
        self
    }

    /// `scontrol release` the job (submitted held, `-H`).
    #[track_caller]
    pub fn release(&self) -> &Self {
        self.cluster
            .root(&["scontrol", "release", &self.id.to_string()])
            .ok();
        self
    }

    #[track_caller]
    pub fn expect_state(&self, want: &str) -> &Self {
        let state = self.state();
        if state != want {
            self.fail(format_args!("want JobState={want}, got {state}"));
        }
        self
    }

    /// The job's exit code (ExitCode=CODE:SIGNAL) is `code`, and so was
    /// sbatch's where it waited for the job ([`Sbatch::run`]).
    #[track_caller]
    pub fn expect_exit(&self, code: i32) -> &Self {
        let exit = self.field("ExitCode");
        if exit.split(':').next() != Some(code.to_string().as_str()) {
            self.fail(format_args!("want ExitCode={code}:*, got {exit}"));
        }
        if self.waited && self.submitted.code != code {
            self.fail(format_args!("want sbatch --wait to exit {code}"));
        }
        self
    }

    /// Where the job's output goes (not /dev/null: see
    /// [`Sbatch::discard_output`]).
    #[track_caller]
    pub fn output_path(&self) -> &Path {
        match &self.output {
            Some(p) => p,
            None => self.fail(format_args!("the job's output was discarded")),
        }
    }

    /// The job's output file; it must exist.
    #[track_caller]
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.output_path())
            .unwrap_or_else(|e| self.fail(format_args!("no job output: {e}")))
    }

    /// The output file's lines, for checks on them.
    #[track_caller]
    pub fn output_lines(&self) -> Lines {
        Lines::new(&self.output(), self.describe())
    }

    /// The output's lines are exactly `want`, in order.
    #[track_caller]
    pub fn expect_output_lines(&self, want: &[&str]) -> &Self {
        self.output_lines().expect(want);
        self
    }

    #[track_caller]
    pub fn expect_output_has(&self, needle: &str) -> &Self {
        if !self.output().contains(needle) {
            self.fail(format_args!("want {needle:?} in the job's output"));
        }
        self
    }

    #[track_caller]
    pub fn expect_output_lacks(&self, needle: &str) -> &Self {
        if self.output().contains(needle) {
            self.fail(format_args!("want no {needle:?} in the job's output"));
        }
        self
    }
}

impl Drop for BatchJob {
    fn drop(&mut self) {
        if let Some(p) = &self.output
            && !std::thread::panicking()
        {
            let _ = std::fs::remove_file(p);
        }
    }
}
