//! Generates the SPANK/libslurm bindings from the installed Slurm headers
//! (or from `CARME_SLURM_INCLUDE`, a directory holding `slurm/spank.h`, to
//! build against another Slurm release), and tells the code whether the
//! headers have `spank_prepend_task_argv` (Slurm >= 23.11).

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=CARME_SLURM_INCLUDE");
    println!("cargo::rustc-check-cfg=cfg(carme_prepend_argv)");
    let include = env::var_os("CARME_SLURM_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let spank_h = include.join("slurm/spank.h");
    if !spank_h.exists() {
        panic!(
            "{} not found: install libslurm-dev (tests/cluster/install-deps.sh does) \
             or point CARME_SLURM_INCLUDE at a directory holding slurm/spank.h",
            spank_h.display()
        );
    }
    for h in ["spank.h", "slurm.h", "slurm_version.h", "slurm_errno.h"] {
        println!(
            "cargo::rerun-if-changed={}",
            include.join("slurm").join(h).display()
        );
    }

    let bindings = bindgen::Builder::default()
        .header_contents(
            "carme_slurm.h",
            "#include <slurm/spank.h>\n#include <slurm/slurm.h>\n#include <slurm/slurm_version.h>\n",
        )
        .clang_arg(format!("-I{}", include.display()))
        .allowlist_function("spank_.*")
        .allowlist_function("slurm_(error|info|verbose|debug|debug2|debug3)")
        .allowlist_type("spank_.*")
        .allowlist_type("job_info_msg_t")
        .allowlist_type("slurm_job_info_t")
        .allowlist_var("SLURM_VERSION_NUMBER")
        .allowlist_var("SLURM_(BATCH_SCRIPT|EXTERN_CONT|INTERACTIVE_STEP|PENDING_STEP)")
        .allowlist_var("ESPANK_.*")
        .allowlist_var("JOB_STATE_BASE")
        .allowlist_type("job_states")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("bindgen failed on the Slurm headers");

    let text = bindings.to_string();
    if text.contains("pub fn spank_prepend_task_argv") {
        println!("cargo::rustc-cfg=carme_prepend_argv");
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("slurm_bindings.rs");
    std::fs::write(&out, text).expect("cannot write bindings");
}
