//! Sizes (`8G`, like tmpfs's size=) and durations (`120s`) in the config.

use std::time::Duration;

/// Largest size accepted: 1 PiB, far above any node's memory or disk, far
/// below where byte counts overflow in the tools that get them.
pub const MAX_SIZE: u64 = 1 << 50;

/// Longest duration accepted: a day. Every duration key is a timeout of
/// something a job waits for; a bound keeps `Instant::now() + d` and the
/// milliseconds the node record keeps from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Bytes from `N` or `N` followed by K, M, G or T (powers of 1024, as tmpfs
/// reads them). Zero is refused: tmpfs would read it as "unlimited".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("`{s}`: unknown unit `{c}`; use K, M, G or T")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size such as 8G, 512M or 1048576"))?;
    match n.checked_mul(mult) {
        Some(0) => Err(format!("`{s}`: a size of 0 is not allowed")),
        Some(b) if b <= MAX_SIZE => Ok(b),
        _ => Err(format!("`{s}` is too large: at most 1024T (1 PiB)")),
    }
}

/// A duration with its unit: `500ms`, `120s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{s}` has no unit; write e.g. 120s, 2m or 1h"))?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 120s, 2m or 1h"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("`{s}`: unknown unit `{unit}`; use ms, s, m or h")),
    };
    if d.is_zero() {
        return Err(format!("`{s}`: a duration of 0 is not allowed"));
    }
    if d > MAX_DURATION {
        return Err(format!("`{s}` is too long: at most 24h"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1024T"), Ok(MAX_SIZE));
        for bad in [
            "",
            "0",
            "0G",
            "8X",
            "G",
            "1.5G",
            "-1G",
            "99999999999T",
            "1025T",
            "18446744073709551615",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("24h"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("86400000ms"), Ok(MAX_DURATION));
        // Finding 5 of issue 14: this passed check-config, then
        // `Instant::now() + d` panicked in the prolog.
        for bad in [
            "",
            "120",
            "0s",
            "s",
            "1.5s",
            "2d",
            "-1s",
            "18446744073709551615s",
            "18446744073709551615ms",
            "99999999999999999999h",
            "25h",
            "86401s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panic(s in "\\PC{0,12}") {
            let _ = parse_size(&s);
            let _ = parse_duration(&s);
        }

        // Whatever is accepted is within the bounds, so every use (deadline
        // arithmetic, milliseconds in a u64) is safe.
        #[test]
        fn accepted_values_are_bounded(n in any::<u64>(), unit in "(ms|s|m|h|K|M|G|T|)") {
            let s = format!("{n}{unit}");
            if let Ok(d) = parse_duration(&s) {
                prop_assert!(d <= MAX_DURATION && !d.is_zero());
                prop_assert!(std::time::Instant::now().checked_add(d).is_some());
            }
            if let Ok(b) = parse_size(&s) {
                prop_assert!(b <= MAX_SIZE && b > 0);
            }
        }
    }
}
