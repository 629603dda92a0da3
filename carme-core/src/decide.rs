//! The gate decision: is a job a Carme job, and which image does it get?
//! Used early by the clients (srun, sbatch, salloc) and authoritatively by
//! slurmstepd; the only difference is how much the caller knows.

use crate::config::{Config, Loaded};
use crate::gate::names_feature;
use crate::refusal::Refusal;

/// What the caller knows of the job's constraint expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint<'a> {
    /// Known for sure: `None` means the job has no constraint.
    Known(Option<&'a str>),
    /// The client could not tell (e.g. a batch script read from stdin).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRequest<'a> {
    pub constraint: Constraint<'a>,
    /// The `--carme-image` value, if given.
    pub image: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// Not a Carme job: Slurm runs it as if Carme were not installed.
    NotCarme,
    /// A Carme job running `image` (a name defined in the config).
    Carme { image: String },
    /// Nothing to refuse yet, but the constraint was unknown: the
    /// authoritative decision in slurmstepd settles it.
    Undetermined,
}

/// Decide from a possibly broken config.
pub fn classify(loaded: &Loaded, req: &JobRequest) -> Result<Classification, Refusal> {
    match loaded {
        Loaded::Ready(cfg) => classify_with(cfg, req),
        Loaded::Broken { error, basics } => {
            let feature = &basics.feature;
            let wants_carme = req.image.is_some()
                || matches!(req.constraint, Constraint::Known(Some(c)) if names_feature(c, feature));
            if wants_carme {
                Err(Refusal::broken_config(error, feature))
            } else if req.constraint == Constraint::Unknown {
                Ok(Classification::Undetermined)
            } else {
                Ok(Classification::NotCarme)
            }
        }
    }
}

/// Decide from a valid config.
pub fn classify_with(cfg: &Config, req: &JobRequest) -> Result<Classification, Refusal> {
    let is_carme = match req.constraint {
        Constraint::Known(c) => c.is_some_and(|c| names_feature(c, &cfg.gate.feature)),
        Constraint::Unknown => {
            if let Some(image) = req.image {
                check_image(cfg, image)?;
            }
            return Ok(Classification::Undetermined);
        }
    };
    if !is_carme {
        return match req.image {
            Some(image) => Err(Refusal::image_without_feature(image, &cfg.gate.feature)),
            None => Ok(Classification::NotCarme),
        };
    }
    let image = req
        .image
        .or(cfg.gate.default_image.as_deref())
        .ok_or_else(|| Refusal::no_image(cfg))?;
    check_image(cfg, image)?;
    Ok(Classification::Carme {
        image: image.to_string(),
    })
}

fn check_image(cfg: &Config, image: &str) -> Result<(), Refusal> {
    if cfg.images.contains_key(image) {
        Ok(())
    } else {
        Err(Refusal::unknown_image(image, cfg))
    }
}

/// What kind of step slurmstepd is starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The batch script (runs on the host; its sruns are Carme steps).
    Batch,
    /// salloc's interactive step (LaunchParameters=use_interactive_step).
    Interactive,
    /// The extern step that holds the allocation: never touched.
    Extern,
    /// A step launched by srun: its tasks run in the image.
    Tasks,
}

/// What slurmstepd does with one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepPlan {
    /// Not Carme's business: Slurm runs it exactly as without the plugin.
    Untouched,
    /// A Carme job's batch script or interactive shell: it runs on the
    /// host, and the sruns it starts run in `image`.
    HostForCarme { image: String },
    /// A refused batch script or interactive shell of a Carme job (or one
    /// that may be a Carme job's but cannot be confined): the step itself
    /// starts (failing it in slurmstepd would drain the node), and its task
    /// ends with this message before it runs. Never unconfined.
    TasksRefused(Refusal),
    /// Every task runs in `image`: the plugin hands it to the runtime.
    Container { image: String },
    /// The step fails with this message before any task starts.
    Refused(Refusal),
}

/// The authoritative decision for one step, from facts slurmctld gave
/// (`constraint`) and the user's `--carme-image` (`image`).
pub fn plan_step(
    loaded: &Loaded,
    kind: StepKind,
    constraint: Option<&str>,
    image: Option<&str>,
) -> StepPlan {
    if kind == StepKind::Extern {
        return StepPlan::Untouched;
    }
    let req = JobRequest {
        constraint: Constraint::Known(constraint),
        image,
    };
    match (classify(loaded, &req), kind) {
        (Ok(Classification::Carme { image }), StepKind::Tasks) => StepPlan::Container { image },
        (Ok(Classification::Carme { image }), _) => StepPlan::HostForCarme { image },
        // Undetermined cannot happen with a known constraint; treat it as
        // not Carme rather than guess.
        (Ok(_), _) => StepPlan::Untouched,
        (Err(r), kind) => refused_step(kind, r),
    }
}

/// A step whose job slurmctld could not describe (`detail`: the error),
/// where slurmctld is the source of job facts. Without the job's constraint
/// no one can tell whether it is a Carme job, and a Carme job's step must
/// not run unconfined (its own /tmp, hidden GPUs, limits): so fail closed,
/// whether or not the step asked for an image (a Carme job needs none when
/// the config has a default image). Task steps are refused; the task of a
/// batch or interactive step ends with the message before it runs (the
/// step itself is not failed: that would drain the node, and a user must
/// never be able to drain one).
/// slurmctld is also the only source of the node's features, so the
/// plugin cannot tell a node with the gate feature from one without: every
/// node that loads the plugin counts as one that may run Carme jobs.
pub fn plan_unverified_step(
    kind: StepKind,
    job_id: u32,
    wants_image: bool,
    detail: &str,
) -> StepPlan {
    let why = if wants_image {
        Refusal::controller_unreachable(detail)
    } else {
        Refusal::job_unverifiable(job_id, detail)
    };
    match kind {
        StepKind::Extern => StepPlan::Untouched,
        kind => refused_step(kind, why),
    }
}

/// How a step of a Carme job is refused (over its limits, an unknown
/// image, a broken config, facts or namespace missing): a task step fails
/// before its tasks start; the task of a batch or interactive step ends
/// with the message before it runs (failing those steps in slurmstepd
/// would drain the node). Never run unconfined.
pub fn refused_step(kind: StepKind, why: Refusal) -> StepPlan {
    match kind {
        StepKind::Tasks => StepPlan::Refused(why),
        _ => StepPlan::TasksRefused(why),
    }
}

/// `--carme-beeond`, as a client sees it: only for a new job (`in_job`:
/// the job an srun step belongs to) that is, or may yet be, a Carme job
/// (`class`: the early decision, None for a plain non-Carme job), on a
/// cluster with `[beeond]`. A broken config is refused by `classify`.
pub fn check_beeond_option(
    loaded: &Loaded,
    class: Option<&Classification>,
    in_job: Option<&str>,
) -> Result<(), Refusal> {
    if let Some(job) = in_job {
        return Err(Refusal::beeond_in_step(job));
    }
    if matches!(class, None | Some(Classification::NotCarme)) {
        return Err(Refusal::beeond_without_feature(&loaded.basics().feature));
    }
    match loaded {
        Loaded::Ready(cfg) if cfg.beeond.is_none() => Err(Refusal::beeond_not_configured(cfg)),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};
    use std::path::{Path, PathBuf};

    fn cfg(default_image: Option<&str>) -> Loaded {
        let default = default_image
            .map(|d| format!("default_image = \"{d}\"\n"))
            .unwrap_or_default();
        let text = format!(
            "[gate]\nfeature = \"carme\"\n{default}\n[runtime]\nkind = \"charliecloud\"\n\
             path = \"/usr/bin/ch-run\"\n[images.base]\npath = \"/i/base\"\n\
             description = \"Debian\"\n[images.tools]\npath = \"/i/tools\"\n"
        );
        Loaded::Ready(Box::new(
            Config::parse(&text, Path::new("/c.toml")).unwrap(),
        ))
    }

    /// A config that failed to load (shared with stepplan's tests).
    pub(crate) fn broken() -> Loaded {
        Loaded::Broken {
            error: ConfigError {
                file: PathBuf::from("/c.toml"),
                line: Some(3),
                key: Some("runtime.kindd".into()),
                message: "unknown field".into(),
            },
            basics: crate::config::GateBasics::default(),
        }
    }

    fn req<'a>(constraint: Constraint<'a>, image: Option<&'a str>) -> JobRequest<'a> {
        JobRequest { constraint, image }
    }

    use Constraint::{Known, Unknown};

    #[test]
    fn classification_table() {
        let with_default = cfg(Some("base"));
        let no_default = cfg(None);
        let broken = broken();
        let carme = |i: &str| Ok(Classification::Carme { image: i.into() });
        // (config, constraint, image, expected Ok or the refusal's words)
        type Case<'a> = (
            &'a Loaded,
            Constraint<'a>,
            Option<&'a str>,
            Result<Classification, &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                &with_default,
                Known(None),
                None,
                Ok(Classification::NotCarme),
            ),
            (
                &with_default,
                Known(Some("gpu")),
                None,
                Ok(Classification::NotCarme),
            ),
            (
                &with_default,
                Known(Some("carmen")),
                None,
                Ok(Classification::NotCarme),
            ),
            (&with_default, Known(Some("carme")), None, carme("base")),
            (
                &with_default,
                Known(Some("gpu&carme")),
                Some("tools"),
                carme("tools"),
            ),
            (
                &with_default,
                Known(Some("[carme|x]")),
                Some("base"),
                carme("base"),
            ),
            (
                &with_default,
                Known(None),
                Some("base"),
                Err("--constraint=carme"),
            ),
            (
                &with_default,
                Known(Some("carmen")),
                Some("base"),
                Err("--carme-image=base was refused"),
            ),
            (
                &with_default,
                Known(Some("carme")),
                Some("nope"),
                Err("image 'nope' is not known"),
            ),
            (
                &with_default,
                Known(Some("carme")),
                Some("/i/base"),
                Err("is not known"),
            ),
            (
                &no_default,
                Known(Some("carme")),
                None,
                Err("names no image"),
            ),
            (&no_default, Unknown, None, Ok(Classification::Undetermined)),
            (
                &no_default,
                Unknown,
                Some("tools"),
                Ok(Classification::Undetermined),
            ),
            (&no_default, Unknown, Some("nope"), Err("not known")),
            (
                &broken,
                Known(Some("carme")),
                None,
                Err("config is broken (/c.toml:3: key `runtime.kindd`"),
            ),
            (&broken, Known(None), Some("base"), Err("config is broken")),
            (&broken, Unknown, Some("base"), Err("config is broken")),
            (
                &broken,
                Known(Some("gpu")),
                None,
                Ok(Classification::NotCarme),
            ),
            (&broken, Unknown, None, Ok(Classification::Undetermined)),
        ];
        for (loaded, constraint, image, want) in cases {
            let got = classify(loaded, &req(constraint, image));
            match (&got, &want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{constraint:?} {image:?}"),
                (Err(r), Err(words)) => {
                    assert!(r.message().starts_with("carme: "), "{r}");
                    assert!(r.message().contains(words), "{constraint:?} {image:?}: {r}");
                }
                _ => panic!("{constraint:?} {image:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn unknown_image_message_lists_images_with_descriptions() {
        let r = classify(&cfg(None), &req(Known(Some("carme")), Some("x"))).unwrap_err();
        assert!(r.message().contains("images: base (Debian), tools."), "{r}");
    }

    #[test]
    fn step_plans() {
        let l = cfg(Some("base"));
        use StepKind::*;
        let cases = [
            (
                Tasks,
                Some("carme"),
                None,
                StepPlan::Container {
                    image: "base".into(),
                },
            ),
            (
                Tasks,
                Some("carme"),
                Some("tools"),
                StepPlan::Container {
                    image: "tools".into(),
                },
            ),
            (
                Batch,
                Some("carme"),
                Some("tools"),
                StepPlan::HostForCarme {
                    image: "tools".into(),
                },
            ),
            (
                Interactive,
                Some("carme"),
                None,
                StepPlan::HostForCarme {
                    image: "base".into(),
                },
            ),
            (Extern, Some("carme"), Some("tools"), StepPlan::Untouched),
            (Tasks, None, None, StepPlan::Untouched),
            (Batch, Some("gpu"), None, StepPlan::Untouched),
        ];
        for (kind, constraint, image, want) in cases {
            assert_eq!(
                plan_step(&l, kind, constraint, image),
                want,
                "{kind:?} {constraint:?} {image:?}"
            );
        }
        // Refusals: fail task steps; the task of a batch/interactive step
        // ends before it runs (a failed batch step would drain the node).
        assert!(matches!(
            plan_step(&l, Tasks, None, Some("base")),
            StepPlan::Refused(_)
        ));
        assert!(matches!(
            plan_step(&l, Batch, None, Some("base")),
            StepPlan::TasksRefused(_)
        ));
        assert!(matches!(
            plan_step(&l, Interactive, Some("carme"), Some("x")),
            StepPlan::TasksRefused(_)
        ));
        assert!(matches!(
            plan_step(&broken(), Tasks, Some("carme"), None),
            StepPlan::Refused(_)
        ));
        assert_eq!(
            plan_step(&broken(), Tasks, Some("gpu"), None),
            StepPlan::Untouched
        );
    }

    #[test]
    fn unverified_steps_fail_closed_and_never_fail_a_batch_step() {
        let r = Refusal::node_not_ready("x");
        assert_eq!(
            refused_step(StepKind::Tasks, r.clone()),
            StepPlan::Refused(r.clone())
        );
        assert_eq!(
            refused_step(StepKind::Batch, r.clone()),
            StepPlan::TasksRefused(r)
        );
        use StepKind::*;
        let detail = "slurm_load_job(17): no answer within 15 s";
        let plain = Refusal::job_unverifiable(17, detail);
        let imaged = Refusal::controller_unreachable(detail);
        // (kind, asked for an image, plan)
        let cases = [
            (Tasks, false, StepPlan::Refused(plain.clone())),
            (Tasks, true, StepPlan::Refused(imaged.clone())),
            // Issue 13 (review): never unconfined, never a failed step.
            (Batch, false, StepPlan::TasksRefused(plain.clone())),
            (Batch, true, StepPlan::TasksRefused(imaged.clone())),
            (Interactive, false, StepPlan::TasksRefused(plain.clone())),
            (Extern, false, StepPlan::Untouched),
        ];
        for (kind, image, want) in cases {
            assert_eq!(
                plan_unverified_step(kind, 17, image, detail),
                want,
                "{kind:?} image={image}"
            );
        }
        for m in [plain.message(), imaged.message()] {
            assert!(m.starts_with("carme: "), "{m}");
            assert!(m.contains(detail) && m.contains("Try again"), "{m}");
        }
        assert!(plain.message().contains("job 17 is a Carme job"), "{plain}");
    }

    #[test]
    fn beeond_option_needs_a_new_carme_job_and_a_beeond_config() {
        let carme = Classification::Carme {
            image: "base".into(),
        };
        let no_beeond = cfg(None);
        let text = "[runtime]\nkind = \"charliecloud\"\npath = \"/c\"\n[beeond]\n\
                    [images.base]\npath = \"/i\"\n";
        let with_beeond =
            Loaded::Ready(Box::new(Config::parse(text, Path::new("/c.toml")).unwrap()));
        let msg = |r: Result<(), Refusal>| r.unwrap_err().message().to_string();

        assert_eq!(
            check_beeond_option(&with_beeond, Some(&carme), None),
            Ok(())
        );
        assert_eq!(
            check_beeond_option(&with_beeond, Some(&Classification::Undetermined), None),
            Ok(())
        );
        let m = msg(check_beeond_option(&with_beeond, Some(&carme), Some("17")));
        assert!(m.starts_with("carme: --carme-beeond was refused"), "{m}");
        assert!(
            m.contains("job 17") && m.contains("sbatch --carme-beeond"),
            "{m}"
        );
        for class in [None, Some(&Classification::NotCarme)] {
            let m = msg(check_beeond_option(&with_beeond, class, None));
            assert!(m.contains("--constraint=carme"), "{m}");
        }
        let m = msg(check_beeond_option(&no_beeond, Some(&carme), None));
        assert!(m.contains("no [beeond] table in /c.toml"), "{m}");
    }
}
