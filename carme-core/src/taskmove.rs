//! What each task of a step does, once slurmstepd has decided the step
//! ([`crate::stepplan`]): the plugin's per-task callbacks gather nothing
//! new and only carry these answers out.

use std::path::Path;

use crate::decide::StepPlan;
use crate::trust::Meta;

/// A task's move in `task_init` (as the user, just before Slurm's execve);
/// `L` is the step's prepared launch.
#[derive(Debug, PartialEq, Eq)]
pub enum TaskMove<'a, L> {
    /// Not a Carme step (or a Carme batch script or shell, which runs on
    /// the host): nothing to do per task.
    Nothing,
    /// Hand the task to the runtime, in `image`, as `launch` prepared.
    Start { image: &'a str, launch: &'a L },
    /// The whole step was refused; user_init told the user why. The task
    /// fails before its execve, so the payload never runs.
    FailStep,
    /// A refused batch script or interactive shell: print the message on
    /// the task's stderr and end the task as one that cannot start in its
    /// image does (125), before it runs.
    Refuse(&'a str),
    /// A container step without a prepared launch: the plugin's own
    /// fault, for the admins' log; the task fails.
    NotDecided,
}

/// The move of each task of a step planned as `plan` (None: the step was
/// never decided, e.g. no job id), with the step's launch (the config and
/// driver facts for the runtime's command line) if it was prepared.
pub fn task_move<'a, L>(plan: Option<&'a StepPlan>, launch: Option<&'a L>) -> TaskMove<'a, L> {
    match (plan, launch) {
        (Some(StepPlan::Container { image }), Some(launch)) => TaskMove::Start { image, launch },
        (Some(StepPlan::Container { .. }), None) => TaskMove::NotDecided,
        (Some(StepPlan::Refused(_)), _) => TaskMove::FailStep,
        (Some(StepPlan::TasksRefused(r)), _) => TaskMove::Refuse(r.message()),
        (Some(StepPlan::HostForCarme { .. } | StepPlan::Untouched) | None, _) => TaskMove::Nothing,
    }
}

/// Whether the tasks of a step planned as `plan` must enter the step's
/// mount namespace (in `task_init_privileged`, as root): every Carme step
/// that runs, the batch script and shell included, so nothing of the
/// user's runs outside it.
pub fn enters_namespace(plan: Option<&StepPlan>) -> bool {
    matches!(
        plan,
        Some(StepPlan::Container { .. } | StepPlan::HostForCarme { .. })
    )
}

/// What `stat` (following links) found for one program the node runs.
pub type ProgramFacts = Result<Meta, String>;

/// Why this node cannot start a Carme task, if it cannot: the container
/// runtime, and where the series needs it (Slurm < 23.11) the exec
/// helper, must be executable regular files. `exec_helper` is None where
/// the task's command line is prepended instead.
pub fn runtime_problem(
    runtime: (&Path, &ProgramFacts),
    exec_helper: Option<(&Path, &ProgramFacts)>,
) -> Option<String> {
    let problem = |what: &str, (path, facts): (&Path, &ProgramFacts)| match facts {
        Err(e) => Some(format!("{what} {}: {e}", path.display())),
        Ok(m) if !m.is_file() || m.mode & 0o111 == 0 => Some(format!(
            "{what} {} is not an executable file",
            path.display()
        )),
        Ok(_) => None,
    };
    problem("container runtime", runtime)
        .or_else(|| exec_helper.and_then(|h| problem("exec helper", h)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refusal::Refusal;

    fn image(i: &str) -> StepPlan {
        StepPlan::Container { image: i.into() }
    }

    #[test]
    fn each_plan_gives_its_task_move() {
        let refusal = Refusal::node_not_ready("the job's record was lost");
        let tasks_refused = StepPlan::TasksRefused(refusal.clone());
        let refused = StepPlan::Refused(refusal.clone());
        let host = StepPlan::HostForCarme {
            image: "base".into(),
        };
        let base = image("base");
        let launch = "the step's launch";
        let ready = Some(&launch);
        let rows: Vec<(Option<&StepPlan>, Option<&&str>, TaskMove<&str>)> = vec![
            (
                Some(&base),
                ready,
                TaskMove::Start {
                    image: "base",
                    launch: &launch,
                },
            ),
            (Some(&base), None, TaskMove::NotDecided),
            (Some(&refused), ready, TaskMove::FailStep),
            (Some(&refused), None, TaskMove::FailStep),
            (
                Some(&tasks_refused),
                None,
                TaskMove::Refuse(refusal.message()),
            ),
            (Some(&host), ready, TaskMove::Nothing),
            (Some(&host), None, TaskMove::Nothing),
            (Some(&StepPlan::Untouched), ready, TaskMove::Nothing),
            (None, None, TaskMove::Nothing),
            (None, ready, TaskMove::Nothing),
        ];
        for (plan, launch, want) in rows {
            assert_eq!(task_move(plan, launch), want, "{plan:?}, launch {launch:?}");
        }
    }

    #[test]
    fn carme_steps_that_run_enter_the_namespace_others_never() {
        let refusal = Refusal::node_not_ready("x");
        let rows = [
            (Some(image("base")), true),
            (
                Some(StepPlan::HostForCarme {
                    image: "base".into(),
                }),
                true,
            ),
            (Some(StepPlan::TasksRefused(refusal.clone())), false),
            (Some(StepPlan::Refused(refusal)), false),
            (Some(StepPlan::Untouched), false),
            (None, false),
        ];
        for (plan, want) in rows {
            assert_eq!(enters_namespace(plan.as_ref()), want, "{plan:?}");
        }
    }

    #[test]
    fn the_runtime_and_the_exec_helper_must_be_executable_files() {
        const FILE: u32 = 0o100_000;
        const DIR: u32 = 0o040_000;
        let meta = |mode| {
            Ok(Meta {
                uid: 0,
                mode,
                size: 1,
            })
        };
        let rt = Path::new("/usr/bin/ch-run");
        let ex = Path::new("/usr/libexec/carme/carme-exec");
        let ok: ProgramFacts = meta(FILE | 0o755);
        let missing: ProgramFacts = Err("No such file or directory (os error 2)".into());
        let rows: Vec<(ProgramFacts, Option<ProgramFacts>, Option<String>)> = vec![
            (ok.clone(), None, None),
            (ok.clone(), Some(ok.clone()), None),
            // Any execute bit will do, as for execve.
            (meta(FILE | 0o100), Some(meta(FILE | 0o001)), None),
            (
                missing.clone(),
                Some(ok.clone()),
                Some(
                    "container runtime /usr/bin/ch-run: No such file or directory (os error 2)"
                        .into(),
                ),
            ),
            (
                meta(FILE | 0o644),
                None,
                Some("container runtime /usr/bin/ch-run is not an executable file".into()),
            ),
            (
                meta(DIR | 0o755),
                None,
                Some("container runtime /usr/bin/ch-run is not an executable file".into()),
            ),
            (
                ok.clone(),
                Some(missing),
                Some(
                    "exec helper /usr/libexec/carme/carme-exec: No such file or directory \
                     (os error 2)"
                        .into(),
                ),
            ),
            (
                ok.clone(),
                Some(meta(FILE | 0o600)),
                Some("exec helper /usr/libexec/carme/carme-exec is not an executable file".into()),
            ),
            // The runtime's problem is named first.
            (
                meta(FILE | 0o600),
                Some(meta(FILE | 0o600)),
                Some("container runtime /usr/bin/ch-run is not an executable file".into()),
            ),
        ];
        for (runtime, helper, want) in rows {
            let got = runtime_problem((rt, &runtime), helper.as_ref().map(|h| (ex, h)));
            assert_eq!(got, want, "{runtime:?} {helper:?}");
        }
    }
}
