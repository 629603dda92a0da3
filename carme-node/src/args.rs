//! Command line of the root-run programs (carme-prolog, carme-epilog):
//! `[--config PATH]` and nothing else. The config path comes from argv
//! only, never from the job's environment: `SPANK_*` and other job
//! variables are set by the user's client and must not steer root.

use std::path::PathBuf;

use carme_core::config::DEFAULT_CONFIG_PATH;

/// Parse `args` (without argv[0]); Err carries the usage message.
pub fn config_path(me: &str, args: impl IntoIterator<Item = String>) -> Result<PathBuf, String> {
    let mut args = args.into_iter();
    let mut config = PathBuf::from(DEFAULT_CONFIG_PATH);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => match args.next() {
                Some(p) if p.starts_with('/') => config = PathBuf::from(p),
                _ => return Err(format!("{me}: --config needs an absolute path")),
            },
            _ => {
                return Err(format!(
                    "{me}: unknown argument `{a}`; usage: {me} [--config PATH]"
                ));
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_only_config() {
        assert_eq!(
            config_path("p", v(&[])).unwrap(),
            PathBuf::from(DEFAULT_CONFIG_PATH)
        );
        assert_eq!(
            config_path("p", v(&["--config", "/x.toml"])).unwrap(),
            PathBuf::from("/x.toml")
        );
        assert!(config_path("p", v(&["--config"])).is_err());
        assert!(config_path("p", v(&["--config", "rel.toml"])).is_err());
        assert!(
            config_path("p", v(&["-v"]))
                .unwrap_err()
                .contains("usage: p [--config PATH]")
        );
    }
}
