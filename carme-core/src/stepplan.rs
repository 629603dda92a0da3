//! How slurmstepd's facts and checks combine into one step's plan: the
//! gate ([`plan_step`]), then, for a Carme step, the job's limits and the
//! step's mount namespace, then whether this node can start the runtime.
//! A refusal at any point refuses the step ([`refused_step`]: a task
//! step fails; a batch script or interactive shell starts and its task
//! ends with the message), never runs it unconfined. The checks are the
//! executor's I/O, behind [`StepChecks`]; this module decides which run,
//! in which order, and what their results mean.

use crate::config::Loaded;
use crate::decide::{StepKind, StepPlan, plan_step, plan_unverified_step, refused_step};
use crate::logline::fields;
use crate::refusal::Refusal;

/// What slurmstepd learned of the job ([`crate::facts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gathered<'a> {
    /// Known not to be a Carme job, without further work.
    NotCarme,
    /// The job's constraint, from a trusted source.
    Job { constraint: Option<&'a str> },
    /// A Carme step cannot be checked: refuse it.
    Failed(Refusal),
    /// slurmctld could not be asked (why): the step may be a Carme job's.
    Unverified(&'a str),
}

/// The checks a Carme step needs, each run at most once, in this order,
/// and only while nothing refused the step.
pub trait StepChecks {
    /// Why the job's limits refuse this step in `image`, if they do.
    fn limits(&mut self, image: &str) -> Option<Refusal>;
    /// Build and hold the step's mount namespace; why it could not be, if not.
    fn namespace(&mut self) -> Option<Refusal>;
    /// Why this node cannot start a Carme task, if it cannot (the
    /// runtime, or carme-exec, not an executable file). Asked only for a
    /// task step with a valid config.
    fn runtime_problem(&mut self) -> Option<String>;
}

/// What slurmstepd does with a step, and what it says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDecision {
    pub plan: StepPlan,
    /// The config is broken and the step is (or may be) a Carme job's:
    /// log the config's error for the admins.
    pub log_config_error: bool,
    /// A line for the admins' log (the node cannot start the runtime).
    pub problem: Option<String>,
    /// The batch script's `--carme-image`, to give back to the sruns it
    /// runs (slurmstepd consumed the option).
    pub pass_image_on: Option<String>,
}

/// The decision for one step of job `job_id`, of `kind`, whose
/// `--carme-image` is `image`.
pub fn decide_step(
    loaded: &Loaded,
    job_id: u32,
    kind: StepKind,
    gathered: Gathered,
    image: Option<&str>,
    checks: &mut dyn StepChecks,
) -> StepDecision {
    let plan = match gathered {
        Gathered::NotCarme => StepPlan::Untouched,
        Gathered::Job { constraint } => match plan_step(loaded, kind, constraint, image) {
            StepPlan::Container { image } | StepPlan::HostForCarme { image } => {
                if let Some(r) = checks.limits(&image) {
                    refused_step(kind, r)
                } else if let Some(r) = checks.namespace() {
                    refused_step(kind, r)
                } else if kind == StepKind::Tasks {
                    StepPlan::Container { image }
                } else {
                    StepPlan::HostForCarme { image }
                }
            }
            plan => plan,
        },
        Gathered::Failed(r) => refused_step(kind, r),
        Gathered::Unverified(e) => plan_unverified_step(kind, job_id, image.is_some(), e),
    };
    let broken = matches!(loaded, Loaded::Broken { .. });
    let log_config_error = broken && plan != StepPlan::Untouched;
    let (plan, problem) = match plan {
        StepPlan::Container { image } if !broken => match checks.runtime_problem() {
            Some(problem) => (
                StepPlan::Refused(Refusal::node_not_ready(&problem)),
                Some(format!("carme: job {job_id}: {problem}")),
            ),
            None => (StepPlan::Container { image }, None),
        },
        plan => (plan, None),
    };
    let pass_image_on = match (&plan, image) {
        (StepPlan::HostForCarme { image }, Some(_)) => Some(image.clone()),
        _ => None,
    };
    StepDecision {
        plan,
        log_config_error,
        problem,
        pass_image_on,
    }
}

/// The per-step line in slurmd's log: `carme: job=12 step=batch
/// plan=host image=base`, or with `reason=` for a refused step.
pub fn decision_line(job_id: u32, step: &str, plan: &StepPlan) -> String {
    let job = job_id.to_string();
    let (name, image, reason) = match plan {
        StepPlan::Untouched => ("untouched", None, None),
        StepPlan::HostForCarme { image } => ("host", Some(image.as_str()), None),
        StepPlan::Container { image } => ("container", Some(image.as_str()), None),
        StepPlan::TasksRefused(r) => ("tasks-refused", None, Some(r.message())),
        StepPlan::Refused(r) => ("refused", None, Some(r.message())),
    };
    let mut pairs = vec![("job", job.as_str()), ("step", step), ("plan", name)];
    pairs.extend(image.map(|i| ("image", i)));
    pairs.extend(reason.map(|r| ("reason", r)));
    format!("carme: {}", fields(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::decide::tests::broken;
    use std::path::Path;

    fn ready() -> Loaded {
        let text = "[gate]\nfeature = \"carme\"\ndefault_image = \"base\"\n[runtime]\n\
                    kind = \"charliecloud\"\npath = \"/usr/bin/ch-run\"\n\
                    [images.base]\npath = \"/i/base\"\ndescription = \"Debian\"\n";
        Loaded::Ready(Box::new(Config::parse(text, Path::new("/c.toml")).unwrap()))
    }

    /// Scripted checks that note which ran.
    #[derive(Default)]
    struct Checks {
        limits: Option<&'static str>,
        namespace: Option<&'static str>,
        runtime: Option<&'static str>,
        ran: Vec<String>,
    }

    impl StepChecks for Checks {
        fn limits(&mut self, image: &str) -> Option<Refusal> {
            self.ran.push(format!("limits {image}"));
            self.limits.map(Refusal::new)
        }
        fn namespace(&mut self) -> Option<Refusal> {
            self.ran.push("namespace".into());
            self.namespace.map(Refusal::new)
        }
        fn runtime_problem(&mut self) -> Option<String> {
            self.ran.push("runtime".into());
            self.runtime.map(str::to_string)
        }
    }

    use StepKind::{Batch, Interactive, Tasks};

    fn carme() -> Gathered<'static> {
        Gathered::Job {
            constraint: Some("carme"),
        }
    }

    fn container(i: &str) -> StepPlan {
        StepPlan::Container { image: i.into() }
    }

    fn host(i: &str) -> StepPlan {
        StepPlan::HostForCarme { image: i.into() }
    }

    fn refused(kind: StepKind, text: &str) -> StepPlan {
        refused_step(kind, Refusal::new(text))
    }

    #[test]
    fn how_checks_combine_into_the_plan() {
        struct Row {
            kind: StepKind,
            gathered: Gathered<'static>,
            image: Option<&'static str>,
            checks: Checks,
            plan: StepPlan,
            ran: &'static [&'static str],
        }
        let checks = |l, n, r| Checks {
            limits: l,
            namespace: n,
            runtime: r,
            ran: Vec::new(),
        };
        let ok = || checks(None, None, None);
        let not_ready = |p: &str| StepPlan::Refused(Refusal::node_not_ready(p));
        let rows = [
            // Not a Carme job: nothing checked.
            Row {
                kind: Tasks,
                gathered: Gathered::NotCarme,
                image: None,
                checks: ok(),
                plan: StepPlan::Untouched,
                ran: &[],
            },
            Row {
                kind: Tasks,
                gathered: Gathered::Job { constraint: None },
                image: None,
                checks: ok(),
                plan: StepPlan::Untouched,
                ran: &[],
            },
            Row {
                kind: Tasks,
                gathered: Gathered::Job {
                    constraint: Some("gpu"),
                },
                image: None,
                checks: ok(),
                plan: StepPlan::Untouched,
                ran: &[],
            },
            // A Carme task step: every check, then the container.
            Row {
                kind: Tasks,
                gathered: carme(),
                image: None,
                checks: ok(),
                plan: container("base"),
                ran: &["limits base", "namespace", "runtime"],
            },
            // A batch script or interactive shell: no runtime check.
            Row {
                kind: Batch,
                gathered: carme(),
                image: None,
                checks: ok(),
                plan: host("base"),
                ran: &["limits base", "namespace"],
            },
            Row {
                kind: Interactive,
                gathered: carme(),
                image: None,
                checks: ok(),
                plan: host("base"),
                ran: &["limits base", "namespace"],
            },
            // Over a limit: refused, no namespace built.
            Row {
                kind: Tasks,
                gathered: carme(),
                image: None,
                checks: checks(Some("over"), None, None),
                plan: refused(Tasks, "over"),
                ran: &["limits base"],
            },
            Row {
                kind: Batch,
                gathered: carme(),
                image: None,
                checks: checks(Some("over"), None, None),
                plan: refused(Batch, "over"),
                ran: &["limits base"],
            },
            // No namespace: refused (a batch step's task ends with the message).
            Row {
                kind: Tasks,
                gathered: carme(),
                image: None,
                checks: checks(None, Some("no ns"), None),
                plan: refused(Tasks, "no ns"),
                ran: &["limits base", "namespace"],
            },
            Row {
                kind: Batch,
                gathered: carme(),
                image: None,
                checks: checks(None, Some("no ns"), None),
                plan: StepPlan::TasksRefused(Refusal::new("no ns")),
                ran: &["limits base", "namespace"],
            },
            // No runtime on the node: the task step is refused.
            Row {
                kind: Tasks,
                gathered: carme(),
                image: None,
                checks: checks(None, None, Some("no ch-run")),
                plan: not_ready("no ch-run"),
                ran: &["limits base", "namespace", "runtime"],
            },
            Row {
                kind: Batch,
                gathered: carme(),
                image: None,
                checks: checks(None, None, Some("no ch-run")),
                plan: host("base"),
                ran: &["limits base", "namespace"],
            },
            // An unknown image: refused by the gate, nothing checked.
            Row {
                kind: Tasks,
                gathered: carme(),
                image: Some("nope"),
                checks: ok(),
                plan: StepPlan::Refused(Refusal::unknown_image(
                    "nope",
                    match &ready() {
                        Loaded::Ready(c) => c,
                        _ => unreachable!(),
                    },
                )),
                ran: &[],
            },
            // Facts that failed, or could not be had: refused by kind.
            Row {
                kind: Tasks,
                gathered: Gathered::Failed(Refusal::new("no record")),
                image: None,
                checks: ok(),
                plan: refused(Tasks, "no record"),
                ran: &[],
            },
            Row {
                kind: Batch,
                gathered: Gathered::Failed(Refusal::new("no record")),
                image: None,
                checks: ok(),
                plan: refused(Batch, "no record"),
                ran: &[],
            },
            Row {
                kind: Tasks,
                gathered: Gathered::Unverified("timed out"),
                image: None,
                checks: ok(),
                plan: StepPlan::Refused(Refusal::job_unverifiable(7, "timed out")),
                ran: &[],
            },
            Row {
                kind: Batch,
                gathered: Gathered::Unverified("timed out"),
                image: Some("base"),
                checks: ok(),
                plan: StepPlan::TasksRefused(Refusal::controller_unreachable("timed out")),
                ran: &[],
            },
        ];
        let loaded = ready();
        for mut row in rows {
            let what = format!("{:?} {:?} image={:?}", row.kind, row.gathered, row.image);
            let d = decide_step(
                &loaded,
                7,
                row.kind,
                row.gathered,
                row.image,
                &mut row.checks,
            );
            assert_eq!(d.plan, row.plan, "{what}");
            assert_eq!(row.checks.ran, row.ran, "{what}");
            assert!(!d.log_config_error, "{what}");
        }
    }

    #[test]
    fn a_runtime_problem_is_logged_with_the_job() {
        let mut checks = Checks {
            runtime: Some("container runtime /usr/bin/ch-run: not found"),
            ..Checks::default()
        };
        let d = decide_step(&ready(), 7, Tasks, carme(), None, &mut checks);
        assert_eq!(
            d.problem.as_deref(),
            Some("carme: job 7: container runtime /usr/bin/ch-run: not found")
        );
        let d = decide_step(&ready(), 7, Tasks, carme(), None, &mut Checks::default());
        assert_eq!(d.problem, None);
    }

    #[test]
    fn a_broken_config_is_logged_only_for_steps_it_touches() {
        let loaded = broken();
        // Carme by its constraint: refused with the config's error, no check run.
        let mut checks = Checks::default();
        let d = decide_step(&loaded, 7, Tasks, carme(), None, &mut checks);
        assert!(matches!(d.plan, StepPlan::Refused(_)), "{:?}", d.plan);
        assert!(d.log_config_error);
        assert!(checks.ran.is_empty(), "{:?}", checks.ran);
        // Not a Carme job: Slurm runs it; the admins are not told per step.
        let d = decide_step(&loaded, 7, Tasks, Gathered::NotCarme, None, &mut checks);
        assert_eq!(d.plan, StepPlan::Untouched);
        assert!(!d.log_config_error);
        let d = decide_step(
            &loaded,
            7,
            Tasks,
            Gathered::Job {
                constraint: Some("gpu"),
            },
            None,
            &mut checks,
        );
        assert_eq!(d.plan, StepPlan::Untouched);
        assert!(!d.log_config_error);
    }

    #[test]
    fn only_a_batch_step_given_an_image_passes_it_on() {
        let rows = [
            (Batch, Some("base"), Some("base")),
            (Interactive, Some("base"), Some("base")),
            // The default image: the sruns get it from the config too.
            (Batch, None, None),
            (Tasks, Some("base"), None),
        ];
        for (kind, image, want) in rows {
            let d = decide_step(&ready(), 7, kind, carme(), image, &mut Checks::default());
            assert_eq!(d.pass_image_on.as_deref(), want, "{kind:?} {image:?}");
        }
        // Refused: nothing to pass on.
        let mut over = Checks {
            limits: Some("over"),
            ..Checks::default()
        };
        let d = decide_step(&ready(), 7, Batch, carme(), Some("base"), &mut over);
        assert_eq!(d.pass_image_on, None);
    }

    #[test]
    fn decision_lines_are_key_value_fields() {
        let rows = [
            (
                StepPlan::Untouched,
                "carme: job=7 step=batch plan=untouched",
            ),
            (host("base"), "carme: job=7 step=batch plan=host image=base"),
            (
                container("tools"),
                "carme: job=7 step=batch plan=container image=tools",
            ),
            (
                StepPlan::Refused(Refusal::new("over \"it\"")),
                "carme: job=7 step=batch plan=refused reason=\"carme: over \\\"it\\\"\"",
            ),
            (
                StepPlan::TasksRefused(Refusal::new("no")),
                "carme: job=7 step=batch plan=tasks-refused reason=\"carme: no\"",
            ),
        ];
        for (plan, want) in rows {
            assert_eq!(decision_line(7, "batch", &plan), want);
        }
    }
}
