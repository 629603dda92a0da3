//! Driver matching: which image a task runs, given the CUDA version the
//! node's NVIDIA driver supports.
//!
//! An image may state the oldest CUDA it works with (`cuda = "12.4"`) and
//! list `variants`: other images, each with its own `cuda`, to fall back to
//! on nodes whose driver is older. The rule:
//!
//! 1. An image without `cuda` runs as it is: nothing to check.
//! 2. When the driver's CUDA version is not known (no NVML library: no
//!    NVIDIA driver on the node, or NVML failed), the image runs unchecked.
//! 3. When the driver supports the image's CUDA, the image runs (variants
//!    are fallbacks, never upgrades).
//! 4. Otherwise the newest variant the driver supports runs (highest
//!    `cuda`; on a tie, the one listed first).
//! 5. If none fits, the task is refused before it starts, with the
//!    driver's version and every candidate's.
//!
//! Variants are not followed further (a variant's own variants do not
//! count), and a variant runs with its own config (path, mounts, env, ...).
//! Pure: carme-launch probes NVML and passes what it learnt.

use crate::config::{Config, CudaVersion, Image};
use crate::refusal::Refusal;

/// What is known about this node's driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverFacts {
    /// Nobody asked NVML (the image states no `cuda`).
    NotProbed,
    /// NVML is not there or failed: why, for the debug log and `explain`.
    Unknown(String),
    /// The newest CUDA version the driver supports.
    Cuda(CudaVersion),
}

/// True when choosing between `image` and its variants needs the driver's
/// CUDA version (callers probe NVML only then).
pub fn needs_driver(image: &Image) -> bool {
    image.cuda.is_some()
}

/// How the image that runs was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The image states no CUDA version.
    NotNeeded,
    /// The driver's CUDA version is not known; the image runs unchecked.
    Skipped { needs: CudaVersion, why: String },
    /// The driver supports the image.
    Passed {
        driver: CudaVersion,
        needs: CudaVersion,
    },
    /// The driver is too old for the image; a variant runs instead.
    Variant {
        driver: CudaVersion,
        needs: CudaVersion,
        variant_needs: CudaVersion,
    },
}

/// The image asked for, and the one that runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice<'a> {
    pub requested: &'a Image,
    pub image: &'a Image,
    pub check: Check,
}

impl Choice<'_> {
    /// The line that tells the user (and the log) that a variant runs.
    pub fn variant_note(&self, node: &str) -> Option<String> {
        match &self.check {
            Check::Variant {
                driver,
                needs,
                variant_needs,
            } => Some(format!(
                "carme: image '{}' needs CUDA {needs}, but the NVIDIA driver on node {node} \
                 supports CUDA {driver}; running its variant '{}' (CUDA {variant_needs}) instead.",
                self.requested.name, self.image.name
            )),
            _ => None,
        }
    }

    /// What was decided, for the debug log.
    pub fn describe(&self) -> String {
        let name = &self.requested.name;
        match &self.check {
            Check::NotNeeded => format!("image '{name}' states no CUDA version: no driver check"),
            Check::Skipped { needs, why } => {
                format!("image '{name}' needs CUDA {needs}; driver check skipped: {why}")
            }
            Check::Passed { driver, needs } => format!(
                "image '{name}' needs CUDA {needs}; the driver supports CUDA {driver}: it runs"
            ),
            Check::Variant {
                driver,
                needs,
                variant_needs,
            } => format!(
                "image '{name}' needs CUDA {needs}; the driver supports CUDA {driver}: \
                 variant '{}' (CUDA {variant_needs}) runs",
                self.image.name
            ),
        }
    }
}

/// Choose the image that runs on a node with `driver` (see the module doc).
pub fn choose<'a>(
    cfg: &'a Config,
    requested: &'a Image,
    driver: &DriverFacts,
    node: &str,
) -> Result<Choice<'a>, Refusal> {
    let unchanged = |check| Choice {
        requested,
        image: requested,
        check,
    };
    let Some(needs) = requested.cuda else {
        return Ok(unchanged(Check::NotNeeded));
    };
    let driver = match driver {
        DriverFacts::Cuda(v) => *v,
        DriverFacts::NotProbed => {
            return Ok(unchanged(Check::Skipped {
                needs,
                why: "the driver was not probed".to_string(),
            }));
        }
        DriverFacts::Unknown(why) => {
            return Ok(unchanged(Check::Skipped {
                needs,
                why: why.clone(),
            }));
        }
    };
    if needs <= driver {
        return Ok(unchanged(Check::Passed { driver, needs }));
    }
    // Config validation makes every variant an image with a `cuda`.
    let variants: Vec<(&Image, CudaVersion)> = requested
        .variants
        .iter()
        .filter_map(|v| cfg.images.get(v))
        .filter_map(|img| img.cuda.map(|c| (img, c)))
        .collect();
    let mut best: Option<(&Image, CudaVersion)> = None;
    for &(img, c) in &variants {
        if c <= driver && best.is_none_or(|(_, b)| c > b) {
            best = Some((img, c));
        }
    }
    match best {
        Some((image, variant_needs)) => Ok(Choice {
            requested,
            image,
            check: Check::Variant {
                driver,
                needs,
                variant_needs,
            },
        }),
        None => {
            let others = if variants.is_empty() {
                String::new()
            } else {
                format!(
                    ", and none of its variants fits either ({})",
                    variants
                        .iter()
                        .map(|(img, c)| format!("'{}' needs {c}", img.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            Err(Refusal::new(format!(
                "image '{}' needs CUDA {needs}, but the NVIDIA driver on node {node} supports \
                 only CUDA {driver}{others}. Choose an image that runs with CUDA {driver} \
                 (`carme-launch images` lists them), or ask your cluster admins to update the \
                 driver on {node}.",
                requested.name
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CFG: &str = r#"
[runtime]
kind = "apptainer"
path = "/usr/bin/apptainer"
[images.plain]
path = "/i/plain"
[images.pt]
path = "/i/pt"
cuda = "12.4"
variants = ["pt-cu118", "pt-cu121", "pt-cu121b", "pt-cu110"]
[images.pt-cu118]
path = "/i/pt118"
cuda = "11.8"
[images.pt-cu121]
path = "/i/pt121"
cuda = "12.1"
[images.pt-cu121b]
path = "/i/pt121b"
cuda = "12.1"
[images.pt-cu110]
path = "/i/pt110"
cuda = "11.0"
variants = ["pt-cu105"]
[images.pt-cu105]
path = "/i/pt105"
cuda = "10.5"
[images.lonely]
path = "/i/lonely"
cuda = "12.0"
"#;

    fn cfg() -> Config {
        Config::parse(CFG, Path::new("/c.toml")).unwrap()
    }

    fn v(s: &str) -> CudaVersion {
        CudaVersion::parse(s).unwrap()
    }

    /// (requested, driver, the image that runs or None for a refusal)
    #[test]
    fn the_choice_table() {
        let c = cfg();
        let cases: &[(&str, DriverFacts, Option<&str>)] = &[
            ("plain", DriverFacts::Cuda(v("9.0")), Some("plain")),
            ("plain", DriverFacts::NotProbed, Some("plain")),
            ("pt", DriverFacts::Unknown("no NVML".into()), Some("pt")),
            ("pt", DriverFacts::NotProbed, Some("pt")),
            ("pt", DriverFacts::Cuda(v("12.4")), Some("pt")),
            ("pt", DriverFacts::Cuda(v("12.8")), Some("pt")),
            // Newest variant that fits; 12.1 twice: the one listed first.
            ("pt", DriverFacts::Cuda(v("12.3")), Some("pt-cu121")),
            ("pt", DriverFacts::Cuda(v("12.1")), Some("pt-cu121")),
            ("pt", DriverFacts::Cuda(v("12.0")), Some("pt-cu118")),
            ("pt", DriverFacts::Cuda(v("11.8")), Some("pt-cu118")),
            ("pt", DriverFacts::Cuda(v("11.2")), Some("pt-cu110")),
            // A variant's own variants do not count.
            ("pt", DriverFacts::Cuda(v("10.9")), None),
            ("pt-cu110", DriverFacts::Cuda(v("10.9")), Some("pt-cu105")),
            ("lonely", DriverFacts::Cuda(v("11.9")), None),
            ("lonely", DriverFacts::Cuda(v("12.0")), Some("lonely")),
        ];
        for (requested, driver, want) in cases {
            let got = choose(&c, &c.images[*requested], driver, "n1");
            match (got, want) {
                (Ok(choice), Some(w)) => {
                    assert_eq!(choice.image.name, *w, "{requested} on {driver:?}");
                    assert_eq!(choice.requested.name, *requested);
                }
                (Err(r), None) => {
                    assert!(r.message().starts_with("carme: "), "{}", r.message())
                }
                (got, want) => panic!("{requested} on {driver:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn checks_say_what_happened() {
        let c = cfg();
        let pt = &c.images["pt"];
        let ch = choose(&c, pt, &DriverFacts::Cuda(v("12.2")), "n1").unwrap();
        assert_eq!(
            ch.check,
            Check::Variant {
                driver: v("12.2"),
                needs: v("12.4"),
                variant_needs: v("12.1")
            }
        );
        assert_eq!(
            ch.variant_note("n1").unwrap(),
            "carme: image 'pt' needs CUDA 12.4, but the NVIDIA driver on node n1 supports \
             CUDA 12.2; running its variant 'pt-cu121' (CUDA 12.1) instead."
        );
        let ok = choose(&c, pt, &DriverFacts::Cuda(v("12.4")), "n1").unwrap();
        assert_eq!(ok.variant_note("n1"), None);
        assert!(ok.describe().contains("it runs"), "{}", ok.describe());
        let skipped = choose(&c, pt, &DriverFacts::Unknown("no NVML".into()), "n1").unwrap();
        assert_eq!(
            skipped.check,
            Check::Skipped {
                needs: v("12.4"),
                why: "no NVML".into()
            }
        );
        assert!(skipped.describe().contains("skipped: no NVML"));
        let plain = choose(&c, &c.images["plain"], &DriverFacts::NotProbed, "n1").unwrap();
        assert_eq!(plain.check, Check::NotNeeded);
        assert!(!needs_driver(&c.images["plain"]) && needs_driver(pt));
    }

    #[test]
    fn refusal_names_both_versions_and_the_way_out() {
        let c = cfg();
        let r = choose(&c, &c.images["pt"], &DriverFacts::Cuda(v("10.2")), "n7").unwrap_err();
        assert_eq!(
            r.message(),
            "carme: image 'pt' needs CUDA 12.4, but the NVIDIA driver on node n7 supports only \
             CUDA 10.2, and none of its variants fits either ('pt-cu118' needs 11.8, 'pt-cu121' \
             needs 12.1, 'pt-cu121b' needs 12.1, 'pt-cu110' needs 11.0). Choose an image that \
             runs with CUDA 10.2 (`carme-launch images` lists them), or ask your cluster admins \
             to update the driver on n7."
        );
        let r = choose(&c, &c.images["lonely"], &DriverFacts::Cuda(v("11.0")), "n1").unwrap_err();
        assert!(
            r.message().contains(
                "needs CUDA 12.0, but the NVIDIA driver on node n1 supports only CUDA 11.0. Choose"
            ),
            "{}",
            r.message()
        );
    }
}
