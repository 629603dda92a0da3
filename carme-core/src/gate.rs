//! Is this a Carme job? A job is one when its constraint expression names the
//! configured feature as a whole token (`carme`, `carme&gpu`, `gpu,carme`,
//! `[carme|other]`, `carme*2`), never as part of a longer name (`carmen`).

/// Characters Slurm allows in a feature name; everything else in a
/// constraint expression is an operator, bracket or count separator.
fn is_feature_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The feature names a constraint expression mentions, in order.
pub fn features(constraint: &str) -> impl Iterator<Item = &str> {
    constraint
        .split(|c: char| !is_feature_char(c))
        .filter(|t| !t.is_empty())
}

/// True when `constraint` names `feature` as a whole token.
pub fn names_feature(constraint: &str, feature: &str) -> bool {
    features(constraint).any(|t| t == feature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases = [
            ("carme", true),
            ("carme&gpu", true),
            ("gpu,carme", true),
            ("[carme|other]", true),
            ("(gpu|carme)&fast", true),
            ("carme*2", true),
            ("[rack1*2&carme*4]", true),
            ("carmen", false),
            ("nocarme", false),
            ("carme-x", false),
            ("x.carme", false),
            ("", false),
            ("gpu", false),
            ("CARME", false),
        ];
        for (c, want) in cases {
            assert_eq!(names_feature(c, "carme"), want, "constraint {c:?}");
        }
    }

    proptest! {
        // Gluing any feature character onto the name makes it another name.
        #[test]
        fn longer_names_never_match(prefix in "[a-z0-9_.-]{0,3}", suffix in "[a-z0-9_.-]{0,3}") {
            prop_assume!(!prefix.is_empty() || !suffix.is_empty());
            let c = format!("{prefix}carme{suffix}");
            prop_assert!(!names_feature(&c, "carme"));
        }

        // Surrounded by any operators, the whole token always matches.
        #[test]
        fn operators_around_match(left in "[&|,\\[\\]()*0-9a-z]{0,6}", right in "[&|,\\[\\]()*]{1}[a-z0-9]{0,4}") {
            let sep = if left.is_empty() { String::new() } else { "&".to_string() };
            let c = format!("{left}{sep}carme{right}");
            prop_assert!(names_feature(&c, "carme"));
        }
    }
}
