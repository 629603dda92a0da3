use super::*;

#[test]
fn only_absolute_config_paths() {
    assert_eq!(absolute_config_arg("/x.toml"), Ok(PathBuf::from("/x.toml")));
    for bad in ["rel.toml", "./x.toml", "", "~/x.toml"] {
        assert!(absolute_config_arg(bad).is_err(), "{bad:?}");
    }
}
