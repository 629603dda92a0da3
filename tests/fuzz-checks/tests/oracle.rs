//! carme-core against libslurm's own parsers, where carme-core accepts:
//! hostlists must expand to the same names in the same order, `--time`
//! values must read as the same minutes (issue 14, finding 4).

use carme_core::{hostlist, slurmtime};
use carme_fuzz_checks::{hostlist_slurm, slurm, slurmtime_slurm};
use proptest::prelude::*;

#[test]
fn time_findings_against_libslurm() {
    // Slurm wraps these in 32 bits; carme-core must not claim to know them.
    for s in [
        "71582789",
        "49711-0",
        "1193047:0:0",
        "286331153:000001:000007",
        "1:4294967296",
        "4294967296",
    ] {
        assert_ne!(slurm::time_str2mins(s), Some(-2), "libslurm accepts {s}");
        assert_eq!(slurmtime::parse_request(s), None, "{s}");
    }
    // Slurm accepts these; carme-core reads them as it does.
    for (s, mins) in [
        ("2-", 2880),
        ("1-", 1440),
        ("000000000009", 9),
        ("35791393", 35791393),
    ] {
        assert_eq!(slurm::time_str2mins(s), Some(mins), "{s}");
        assert_eq!(slurmtime::parse_request(s), Some(Some(mins as u64)), "{s}");
    }
    for s in ["0-", "-1", "0", "UNLIMITED"] {
        assert!(matches!(slurm::time_str2mins(s), Some(0 | -1)), "{s}");
        assert_eq!(slurmtime::parse_request(s), Some(None), "{s}");
    }
}

#[test]
fn hostlists_against_libslurm() {
    for list in [
        "n[1-3],a",
        "n[01-3]",
        "n[9-11]",
        "a[1-2]b[3-4]c[5-6]",
        "rack[1-2]-n[01-02]",
        "n1,n1",
        "007",
    ] {
        assert_eq!(
            slurm::hostlist_expand(list, 1000),
            Some(hostlist::expand(list).unwrap()),
            "{list}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn time_agrees_with_libslurm(s in "[0-9]{0,11}(-[0-9]{0,3})?(:[0-9]{0,11}){0,3}|[0-9:-]{0,12}") {
        slurmtime_slurm(s.as_bytes());
    }

    #[test]
    fn time_agrees_with_libslurm_near_the_wrap(
        d in 0u64..30000, h in 0u64..100_000, m in 0u64..40_000_000, sec in 0u64..100_000, form in 0u8..5,
    ) {
        let s = match form {
            0 => format!("{m}"),
            1 => format!("{m}:{sec}"),
            2 => format!("{h}:{m}:{sec}"),
            3 => format!("{d}-{h}"),
            _ => format!("{d}-{h}:{m}:{sec}"),
        };
        slurmtime_slurm(s.as_bytes());
    }

    #[test]
    fn hostlist_agrees_with_libslurm(list in "(([a-c.-]{0,3}\\[[0-9]{1,3}(-[0-9]{1,3})?(,[0-9]{1,3}(-[0-9]{1,3})?)?\\]){1,3}|[a-c]{1,3}[0-9]{0,3})(,([a-c]{1,2}\\[[0-9]{1,2}(-[0-9]{1,2})?\\]|[a-c0-9.-]{1,4})){0,3}") {
        hostlist_slurm(list.as_bytes());
    }
}
