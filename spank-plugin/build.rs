//! Generates the SPANK/libslurm bindings from the installed Slurm headers
//! (or from `CARME_SLURM_INCLUDE`, a directory holding `slurm/spank.h`, to
//! build against another Slurm release), and tells the code which of the
//! version-dependent paths those headers call for:
//! - `carme_prepend_argv`: the headers have `spank_prepend_task_argv`
//!   (Slurm >= 23.11);
//! - `carme_load_job_step_id`: `slurm_load_job` takes a `slurm_step_id_t`
//!   by value (Slurm >= 26.05), not a `uint32_t` job id.
//!
//! The libslurm functions the plugin resolves at run time (it links no Slurm
//! library) get their Rust types from the headers too: the compiler derives
//! a function-pointer typedef from each real declaration, and bindgen turns
//! that into the type the symbol is cast to, so no hand-written signature
//! can drift from the release the plugin is built for.

use std::env;
use std::path::PathBuf;

/// libslurm functions taken from the hosting process; each gets a type
/// `carme_<name>_fn` in the bindings.
const HOST_FUNCTIONS: &[&str] = &[
    "slurm_load_job",
    "slurm_load_job_user",
    "slurm_free_job_info_msg",
    "slurm_strerror",
];

fn main() {
    println!("cargo::rerun-if-env-changed=CARME_SLURM_INCLUDE");
    println!("cargo::rustc-check-cfg=cfg(carme_prepend_argv)");
    println!("cargo::rustc-check-cfg=cfg(carme_load_job_step_id)");
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

    // `&name` with no parenthesis after it names the function even where
    // a function-like macro of that name exists (26.05's _Generic wrappers).
    let mut header = String::from(
        "#include <slurm/spank.h>\n#include <slurm/slurm.h>\n\
         #include <slurm/slurm_errno.h>\n#include <slurm/slurm_version.h>\n",
    );
    for f in HOST_FUNCTIONS {
        header.push_str(&format!("typedef __typeof__(&{f}) carme_{f}_fn;\n"));
    }
    // Which key slurm_load_job takes: exactly one known form must match, or
    // the build stops here (a third form needs new code, not a guess).
    header.push_str(
        "#define CARME_LOAD_JOB_TAKES(T) __builtin_types_compatible_p(carme_slurm_load_job_fn, \
         int (*)(job_info_msg_t **, T, uint16_t))\n\
         enum { carme_load_job_step_id = CARME_LOAD_JOB_TAKES(slurm_step_id_t), \
         carme_load_job_job_id = CARME_LOAD_JOB_TAKES(uint32_t) };\n\
         _Static_assert(carme_load_job_step_id + carme_load_job_job_id == 1, \
         \"carme: slurm_load_job in these Slurm headers takes neither a uint32_t job id \
         nor a slurm_step_id_t; teach spank-plugin/src/ffi.rs the new form\");\n",
    );

    let mut builder = bindgen::Builder::default()
        .header_contents("carme_slurm.h", &header)
        .clang_arg(format!("-I{}", include.display()))
        .allowlist_function("spank_.*")
        .allowlist_function("slurm_(error|info|verbose|debug|debug2|debug3)")
        .allowlist_type("spank_.*")
        .allowlist_type("job_info_msg_t")
        .allowlist_type("slurm_job_info_t")
        .allowlist_type("slurm_step_id_t")
        .allowlist_var("SLURM_VERSION_NUMBER")
        .allowlist_var("SLURM_(BATCH_SCRIPT|EXTERN_CONT|INTERACTIVE_STEP|PENDING_STEP)")
        .allowlist_var("NO_VAL")
        .allowlist_var("ESPANK_.*")
        .allowlist_var("JOB_STATE_BASE")
        .allowlist_var("carme_load_job_.*")
        .allowlist_type("job_states")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(false)
        .generate_comments(false);
    for f in HOST_FUNCTIONS {
        builder = builder.allowlist_type(format!("carme_{f}_fn"));
    }
    let bindings = builder
        .generate()
        .expect("bindgen failed on the Slurm headers");

    let text = bindings.to_string();
    for f in HOST_FUNCTIONS {
        assert!(
            text.contains(&format!("pub type carme_{f}_fn")),
            "the Slurm headers declare no {f}"
        );
    }
    if text.contains("pub fn spank_prepend_task_argv") {
        println!("cargo::rustc-cfg=carme_prepend_argv");
    }
    let step_id = flag(&text, "carme_load_job_step_id");
    let job_id = flag(&text, "carme_load_job_job_id");
    assert!(
        step_id != job_id,
        "slurm_load_job: cannot tell its key type from the bindings"
    );
    if step_id {
        println!("cargo::rustc-cfg=carme_load_job_step_id");
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("slurm_bindings.rs");
    std::fs::write(&out, text).expect("cannot write bindings");
}

/// The value (0 or 1) bindgen gave the anonymous enum constant `name`.
fn flag(text: &str, name: &str) -> bool {
    let line = text
        .lines()
        .find(|l| l.contains(&format!("pub const {name}:")))
        .unwrap_or_else(|| panic!("{name} missing from the bindings"));
    match line
        .trim()
        .trim_end_matches(';')
        .rsplit('=')
        .next()
        .map(str::trim)
    {
        Some("1") => true,
        Some("0") => false,
        _ => panic!("{name}: unexpected binding {line}"),
    }
}
