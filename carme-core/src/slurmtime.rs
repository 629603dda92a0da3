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

/// Largest time Slurm computes exactly, in seconds: it sums the parts in
/// a 32-bit int, and rounds up to minutes by adding 59.
const SLURM_EXACT_SECONDS: u64 = i32::MAX as u64 - 59;

/// What Slurm will read from a job's `--time` value (`SBATCH_TIMELIMIT`,
/// `#SBATCH -t`): `Some(limit)` only where that is certain, `None`
/// ("unknown": defer to slurmstepd) wherever it is not. Slurm's parser
/// accepts forms [`parse`] refuses (`2-`, `-1`, leading zeros) and wraps
/// silently past 2^31 seconds (`71582789` is one minute to it), so the
/// early check must neither refuse what Slurm runs nor trust a value
/// Slurm reads differently.
pub fn parse_request(s: &str) -> Option<Limit> {
    if s.eq_ignore_ascii_case("unlimited") || s.eq_ignore_ascii_case("infinite") || s == "-1" {
        return Some(None);
    }
    // Digits only; leading zeros are fine (Slurm reads them as numbers),
    // anything past what fits exactly is unknown.
    let num = |p: &str| -> Option<u64> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let t = p.trim_start_matches('0');
        if t.len() > 10 {
            return None;
        }
        Some(t.parse().unwrap_or(0))
    };
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(num(d)?), r),
        None => (None, s),
    };
    let nums: Vec<u64> = if days.is_some() && rest.is_empty() {
        Vec::new() // `D-`: days only
    } else {
        rest.split(':').map(num).collect::<Option<_>>()?
    };
    let hms = |h: u64, m: u64, s: u64| -> Option<u64> {
        h.checked_mul(3600)?
            .checked_add(m.checked_mul(60)?)?
            .checked_add(s)
    };
    let seconds = match (days, nums.as_slice()) {
        (None, [m]) => hms(0, *m, 0)?,
        (None, [m, s]) => hms(0, *m, *s)?,
        (None, [h, m, s]) => hms(*h, *m, *s)?,
        (Some(d), []) => hms(d.checked_mul(24)?, 0, 0)?,
        (Some(d), [h]) => hms(d.checked_mul(24)?.checked_add(*h)?, 0, 0)?,
        (Some(d), [h, m]) => hms(d.checked_mul(24)?.checked_add(*h)?, *m, 0)?,
        (Some(d), [h, m, s]) => hms(d.checked_mul(24)?.checked_add(*h)?, *m, *s)?,
        _ => return None,
    };
    if seconds > SLURM_EXACT_SECONDS {
        return None;
    }
    let minutes = seconds.div_ceil(60);
    Some((minutes > 0).then_some(minutes))
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

    #[test]
    fn requests_read_as_slurm_does_or_unknown() {
        // Finding 4 of issue 14: Slurm wraps these past 2^31 seconds
        // (71582789 is one minute to it); the early check must not trust them.
        for wraps in [
            "71582789",
            "49711-0",
            "1193047:0:0",
            "286331153:000001:000007",
            "1:4294967296",
            "4294967296",
            "35791394",
            "35791395",
        ] {
            assert_eq!(parse_request(wraps), None, "{wraps}");
        }
        // ... and Slurm accepts these, which `parse` refuses.
        let slurm = [
            ("2-", Some(Some(2880))),
            ("1-", Some(Some(1440))),
            ("0-", Some(None)),
            ("-1", Some(None)),
            ("000000000009", Some(Some(9))),
            ("35791393", Some(Some(35791393))),
            ("30", Some(Some(30))),
            ("0:1", Some(Some(1))),
            ("1-02:03:01", Some(Some(1440 + 124))),
            ("Unlimited", Some(None)),
        ];
        for (s, want) in slurm {
            assert_eq!(parse_request(s), want, "{s}");
        }
        // Unsure forms stay unknown, never an error or a guess.
        for odd in ["-0", "-5", "", " 5", "1:2:3:4", "1-:", "x"] {
            assert_eq!(parse_request(odd), None, "{odd:?}");
        }
    }

    proptest! {
        // Where both read a value, they read the same one.
        #[test]
        fn request_agrees_with_parse(s in "[0-9:-]{0,14}") {
            if let (Ok(a), Some(b)) = (parse(&s), parse_request(&s)) {
                prop_assert_eq!(a, b);
            }
        }

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
