//! Sizes (`8G`, like tmpfs's size=) and durations (`120s`) in the config.

use std::time::Duration;

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
        Some(b) => Ok(b),
        None => Err(format!("`{s}` is too large")),
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
        for bad in ["", "0", "0G", "8X", "G", "1.5G", "-1G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "120", "0s", "s", "1.5s", "2d", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panic(s in "\\PC{0,12}") {
            let _ = parse_size(&s);
            let _ = parse_duration(&s);
        }
    }
}
