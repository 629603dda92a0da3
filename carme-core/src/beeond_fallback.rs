//! `--carme-beeond` on nodes without the BeeOND feature: asked for with
//! the option rather than the constraint, Slurm did not pick BeeOND nodes.
//! Where one of the job's nodes lacks the feature, BeeOND could not start
//! there, through no fault of the node: the job runs without it. Every
//! node of the job asks the same question, so all decide alike.

use crate::gate::names_feature;

/// Why the job runs without the BeeOND it asked for, as the line for the
/// job's log, or None to keep it. `constraint` is the job's; `lacking`
/// asks slurmctld which of the job's nodes lack `beeond_feature` (asked
/// only where the constraint does not name it).
pub fn without_beeond<E: std::fmt::Display>(
    constraint: &str,
    gate_feature: &str,
    beeond_feature: &str,
    lacking: impl FnOnce() -> Result<Vec<String>, E>,
) -> Option<String> {
    if names_feature(constraint, beeond_feature) {
        return None;
    }
    let why = match lacking() {
        Ok(l) if l.is_empty() => return None,
        Ok(l) => format!(
            "node(s) {} lack the feature '{beeond_feature}'",
            l.join(",")
        ),
        Err(e) => format!("the job's nodes could not be checked: {e}"),
    };
    Some(format!(
        "the job asked for BeeOND with --carme-beeond, but {why}: it runs without \
         BeeOND (ask with --constraint='{gate_feature}&{beeond_feature}' so Slurm picks \
         BeeOND nodes)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn fallback_table() {
        let hint = "it runs without BeeOND (ask with --constraint='carme&beeond' so Slurm \
                    picks BeeOND nodes)";
        type Answer = Result<Vec<String>, String>;
        // (constraint, slurmctld's answer, asked, the log line's reason or None)
        let rows: [(&str, Answer, bool, Option<&str>); 6] = [
            // Slurm picked BeeOND nodes: nothing to ask.
            ("carme&beeond", Ok(vec!["n2".into()]), false, None),
            ("carme", Ok(vec![]), true, None),
            (
                "carme",
                Ok(vec!["n2".into(), "n3".into()]),
                true,
                Some("node(s) n2,n3 lack the feature 'beeond'"),
            ),
            (
                "carme",
                Err("scontrol timed out".into()),
                true,
                Some("the job's nodes could not be checked: scontrol timed out"),
            ),
            // "beeondx" is not the feature: asked.
            (
                "carme&beeondx",
                Ok(vec!["n1".into()]),
                true,
                Some("node(s) n1 lack the feature 'beeond'"),
            ),
            // names_feature's reading of an expression that names it.
            ("carme|beeond", Ok(vec!["n1".into()]), false, None),
        ];
        for (constraint, answer, asked, want) in rows {
            let was_asked = Cell::new(false);
            let got = without_beeond(constraint, "carme", "beeond", || {
                was_asked.set(true);
                answer.clone()
            });
            assert_eq!(was_asked.get(), asked, "{constraint} {answer:?}");
            let want = want
                .map(|w| format!("the job asked for BeeOND with --carme-beeond, but {w}: {hint}"));
            assert_eq!(got, want, "{constraint} {answer:?}");
        }
    }
}
