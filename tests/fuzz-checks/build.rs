//! Bindings to libslurm's hostlist functions from the installed headers
//! (or `CARME_SLURM_INCLUDE`, as for the plugin), and the link to libslurm:
//! the oracle the differential checks compare carme-core with.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=CARME_SLURM_INCLUDE");
    let include = env::var_os("CARME_SLURM_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let slurm_h = include.join("slurm/slurm.h");
    if !slurm_h.exists() {
        panic!(
            "{} not found: install libslurm-dev (tests/cluster/install-deps.sh does) \
             or point CARME_SLURM_INCLUDE at a directory holding slurm/slurm.h",
            slurm_h.display()
        );
    }
    println!("cargo::rerun-if-changed={}", slurm_h.display());
    let bindings = bindgen::Builder::default()
        .header_contents("carme_oracle.h", "#include <slurm/slurm.h>\n")
        .clang_arg(format!("-I{}", include.display()))
        .allowlist_function("slurm_hostlist_(create|shift|destroy)")
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("bindgen failed on the Slurm headers");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("slurm_oracle.rs");
    std::fs::write(&out, bindings.to_string()).expect("cannot write bindings");
    println!("cargo::rustc-link-lib=dylib=slurm");
}
