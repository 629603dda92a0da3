//! Slurm's time-limit syntax (`--time`, `MaxTime`): "minutes",
//! "minutes:seconds", "hours:minutes:seconds", "days-hours",
//! "days-hours:minutes", "days-hours:minutes:seconds", and "UNLIMITED" /
//! "INFINITE" (or 0, for `--time`) for no limit. Resolution is one minute;
//! seconds round up to the next minute, as Slurm does.

/// Minutes, or `None` for no limit.
pub type Limit = Option<u64>;

pub fn parse(s: &str) -> Result<Limit, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
        return Ok(None);
    }
    let bad = || {
        format!(
            "`{s}` is not a Slurm time: use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, \
             D-HH:MM:SS or UNLIMITED"
        )
    };
    let num = |p: &str| -> Result<u64, String> {
        if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse().map_err(|_| bad())
    };
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(num(d)?), r),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let nums: Vec<u64> = parts.iter().map(|p| num(p)).collect::<Result<_, _>>()?;
    let seconds = match (days, nums.as_slice()) {
        (None, [m]) => m * 60,
        (None, [m, s]) => m * 60 + s,
        (None, [h, m, s]) => h * 3600 + m * 60 + s,
        (Some(d), [h]) => d * 86400 + h * 3600,
        (Some(d), [h, m]) => d * 86400 + h * 3600 + m * 60,
        (Some(d), [h, m, s]) => d * 86400 + h * 3600 + m * 60 + s,
        _ => return Err(bad()),
    };
    let minutes = seconds.div_ceil(60);
    // A zero limit means "no limit" for jobs (documented for --time).
    Ok((minutes > 0).then_some(minutes))
}

/// Slurm's own rendering: `D-HH:MM:SS` (or `HH:MM:SS` under a day).
pub fn format(limit: Limit) -> String {
    match limit {
        None => "UNLIMITED".to_string(),
        Some(m) => {
            let (d, h, mm) = (m / 1440, (m % 1440) / 60, m % 60);
            if d > 0 {
                format!("{d}-{h:02}:{mm:02}:00")
            } else {
                format!("{h:02}:{mm:02}:00")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases = [
            ("30", Some(30)),
            ("0", None),
            ("1:30", Some(2)), // seconds round up
            ("2:00", Some(2)),
            ("01:00:00", Some(60)),
            ("1-0", Some(1440)),
            ("3-00:00:00", Some(3 * 1440)),
            ("1-02:03", Some(1440 + 123)),
            ("1-02:03:01", Some(1440 + 124)),
            ("UNLIMITED", None),
            ("infinite", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s), Ok(want), "{s}");
        }
        for bad in [
            "",
            "x",
            "1:2:3:4",
            "-1",
            "1-",
            "1-2:3:4:5",
            "1.5",
            "1 h",
            "1-a",
            ":5",
            "99999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_like_slurm() {
        assert_eq!(format(Some(3 * 1440)), "3-00:00:00");
        assert_eq!(format(Some(90)), "01:30:00");
        assert_eq!(format(None), "UNLIMITED");
    }

    proptest! {
        // Every form of the same duration agrees; format() parses back.
        #[test]
        fn forms_agree(d in 0u64..400, h in 0u64..24, m in 0u64..60) {
            let total = d * 1440 + h * 60 + m;
            let want = (total > 0).then_some(total);
            prop_assert_eq!(parse(&format!("{d}-{h:02}:{m:02}:00")), Ok(want));
            prop_assert_eq!(parse(&format!("{d}-{h}:{m}")), Ok(want));
            prop_assert_eq!(parse(&format!("{}:{m}:00", d * 24 + h)), Ok(want));
            prop_assert_eq!(parse(&total.to_string()), Ok(want));
            prop_assert_eq!(parse(&format(want)), Ok(want));
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = parse(&s);
        }
    }
}
