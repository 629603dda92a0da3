//! What a user is told when Carme refuses a job: one message that starts with
//! `carme: `, says what was refused, why (limit and values) and what to do.

use std::fmt;

use crate::config::{Config, ConfigError};
use crate::text::{escape, escape_controls};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    message: String,
}

impl Refusal {
    /// `text` is everything after the `carme: ` prefix. Whatever it
    /// holds, the message is one line without control characters; values
    /// from users are best [`escape`]d where they go in (that also bounds
    /// their length).
    pub fn new(text: impl Into<String>) -> Refusal {
        Refusal {
            message: format!("carme: {}", escape_controls(&text.into())),
        }
    }

    /// A refusal recorded earlier (its message already starts `carme: `).
    pub fn from_message(message: String) -> Refusal {
        if message.starts_with("carme: ") {
            Refusal {
                message: escape_controls(&message).into_owned(),
            }
        } else {
            Refusal::new(message)
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn image_without_feature(image: &str, feature: &str) -> Refusal {
        let image = escape(image);
        Refusal::new(format!(
            "--carme-image={image} was refused: this job is not a Carme job because its \
             constraint does not name the feature '{feature}'. Add --constraint={feature} to run \
             in a Carme image, or drop --carme-image to run without one."
        ))
    }

    pub fn no_image(cfg: &Config) -> Refusal {
        Refusal::new(format!(
            "this Carme job names no image and the cluster has no default image. \
             Choose one with --carme-image=NAME; images: {}.",
            image_list(cfg)
        ))
    }

    pub fn unknown_image(image: &str, cfg: &Config) -> Refusal {
        let image = escape(image);
        Refusal::new(format!(
            "image '{image}' is not known on this cluster. Choose one with \
             --carme-image=NAME; images: {}.",
            image_list(cfg)
        ))
    }

    pub fn broken_config(err: &ConfigError, feature: &str) -> Refusal {
        Refusal::new(format!(
            "Carme jobs cannot run right now because the Carme config is broken ({err}). \
             Please tell your cluster admins; jobs without --constraint={feature} and \
             --carme-image still run."
        ))
    }

    pub fn multi_prog_unsupported() -> Refusal {
        Refusal::new(
            "srun --multi-prog is not supported for Carme jobs on this Slurm version \
             (the per-task program cannot be put into the image). Run one srun per \
             program, or drop --constraint and --carme-image to run on the host.",
        )
    }
}

fn image_list(cfg: &Config) -> String {
    if cfg.images.is_empty() {
        return "none are configured (ask your cluster admins)".to_string();
    }
    cfg.images
        .values()
        .map(|i| {
            if i.description.is_empty() {
                i.name.clone()
            } else {
                format!("{} ({})", i.name, i.description)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    pub fn controller_unreachable(detail: impl fmt::Display) -> Refusal {
        Refusal::new(format!(
            "this job step asked for a Carme image, but the node could not ask slurmctld \
             whether the job is a Carme job ({detail}). Try again in a minute; if it keeps \
             failing, tell your cluster admins."
        ))
    }

    /// slurmctld could not say whether `job` is a Carme job (no image was
    /// asked for, so the step may or may not be one).
    pub fn job_unverifiable(job: u32, detail: &str) -> Refusal {
        Refusal::new(format!(
            "this node could not ask slurmctld whether job {job} is a Carme job ({detail}). \
             A Carme job's steps must not run without Carme's setup, so this step's tasks \
             are refused (a batch script or interactive shell still runs, on the host; the \
             sruns in it ask again). Try again in a minute; if it keeps failing, tell your \
             cluster admins."
        ))
    }

    /// `--carme-beeond` on a step of an existing job.
    pub fn beeond_in_step(job: &str) -> Refusal {
        let job = escape(job);
        Refusal::new(format!(
            "--carme-beeond was refused: BeeOND is started for a whole job when the job \
             starts, and this srun is a step of job {job}. Ask for it when you submit the \
             job (sbatch --carme-beeond or salloc --carme-beeond), or drop it here."
        ))
    }

    /// `--carme-beeond` on a job that is not a Carme job.
    pub fn beeond_without_feature(feature: &str) -> Refusal {
        Refusal::new(format!(
            "--carme-beeond was refused: BeeOND is for Carme jobs, and this job's constraint \
             does not name the feature '{feature}'. Add --constraint={feature}, or drop \
             --carme-beeond."
        ))
    }

    /// `--carme-beeond` where the config has no `[beeond]`.
    pub fn beeond_not_configured(cfg: &Config) -> Refusal {
        Refusal::new(format!(
            "--carme-beeond was refused: this cluster has no BeeOND (no [beeond] table in \
             {}). Drop --carme-beeond; ask your cluster admins if your jobs need it.",
            cfg.source.display()
        ))
    }

    pub fn node_not_ready(detail: &str) -> Refusal {
        Refusal::new(format!(
            "this node cannot start Carme jobs right now ({detail}). Please tell your cluster \
             admins; until then, exclude the node with --exclude=NODE."
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        let text = "[runtime]\nkind = \"charliecloud\"\npath = \"/usr/bin/ch-run\"\n\
                    [images.base]\npath = \"/srv/base\"\n";
        Config::parse(text, Path::new("/etc/carme/carme.toml")).unwrap()
    }

    /// A user's value can neither add a line nor reach the terminal as an
    /// escape sequence: the message is one line that shows it escaped.
    #[test]
    fn user_values_are_shown_escaped_on_one_line() {
        let image = "x\nforged: line\x1b[31m\r\u{9b}";
        let shown = "x\\nforged: line\\x1b[31m\\r\\u{9b}";
        for r in [
            Refusal::unknown_image(image, &cfg()),
            Refusal::image_without_feature(image, "carme"),
            Refusal::beeond_in_step(image),
            Refusal::node_not_ready(image),
            Refusal::controller_unreachable(image),
            Refusal::new(format!("anything with {image}")),
            Refusal::from_message(format!("carme: recorded {image}")),
        ] {
            let m = r.message();
            assert_eq!(m.lines().count(), 1, "{m:?}");
            assert!(!m.contains(['\x1b', '\r', '\u{9b}']), "{m:?}");
            assert!(m.starts_with("carme: ") && m.contains(shown), "{m:?}");
        }
    }

    #[test]
    fn long_image_names_are_cut() {
        let image = "a".repeat(1 << 20);
        let m = Refusal::unknown_image(&image, &cfg()).message().to_string();
        assert!(m.len() < 1024, "{} bytes", m.len());
        assert!(m.contains(&format!("…({} bytes)", 1 << 20)), "{m}");
    }
}
