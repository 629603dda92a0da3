//! `carme_node::nvml::probe` against the NVML stand-in
//! (tests/standins/nvml: a shared library exporting only the NVML functions
//! nvml-wrapper calls for probe) and with no library at all (the fallback
//! on nodes without NVIDIA).
//!
//! Cargo builds the stand-in's cdylib before these tests because carme-node
//! dev-depends on its crate; it lies next to this test binary in
//! `target/<profile>/deps`. Each test installs its own copy as
//! `libnvidia-ml.so.1` in its own directory, so each probe loads a library
//! with fresh state (`dlopen` shares a loaded library only for the same
//! file). Tests that need `SLURMD_NODENAME` or `CARME_NVML_STANDIN_FAIL`
//! probe in a child process: this test binary run again for that test.

use carme_node::nvml::{NvmlError, NvmlFacts, NvmlGpu, probe};
use std::path::{Path, PathBuf};

#[path = "../../tests/standins/nvml/tests/support/standin.rs"]
mod standin;
use standin::{CHILD_LIB, child, install};

/// Three GPUs whose NVML order is neither minor nor PCI order.
const NODE: &str = r#"{"cuda_driver_version": 12040, "gpus": [
    {"minor": 2, "uuid": "GPU-2a0e5f2c-0c4b-4f7e-9d61-6f1d3a8e0b22", "pci_bus_id": "00000000:AF:00.0", "name": "Stand-in GPU"},
    {"minor": 0, "uuid": "GPU-0b5d9c1e-7a3f-4e2d-8c90-1f2e3d4c5b60", "pci_bus_id": "00000000:3B:00.0", "name": "Stand-in GPU"},
    {"minor": 1, "uuid": "GPU-9f8e7d6c-5b4a-4321-8fed-cba987654321", "pci_bus_id": "00000001:5E:1F.0", "name": "Stand-in GPU"}]}"#;

fn node_facts() -> NvmlFacts {
    let gpu = |index, minor, uuid: &str, pci: &str| NvmlGpu {
        index,
        minor,
        uuid: uuid.into(),
        pci_bus_id: pci.into(),
    };
    NvmlFacts {
        cuda_driver_version: 12040,
        gpus: vec![
            gpu(
                0,
                2,
                "GPU-2a0e5f2c-0c4b-4f7e-9d61-6f1d3a8e0b22",
                "00000000:AF:00.0",
            ),
            gpu(
                1,
                0,
                "GPU-0b5d9c1e-7a3f-4e2d-8c90-1f2e3d4c5b60",
                "00000000:3B:00.0",
            ),
            gpu(
                2,
                1,
                "GPU-9f8e7d6c-5b4a-4321-8fed-cba987654321",
                "00000001:5E:1F.0",
            ),
        ],
    }
}

fn failed(r: Result<NvmlFacts, NvmlError>) -> String {
    match r {
        Err(NvmlError::Failed(m)) => m,
        other => panic!("expected Failed, got {other:?}"),
    }
}

fn not_loaded(r: Result<NvmlFacts, NvmlError>) -> String {
    match r {
        Err(NvmlError::NotLoaded(m)) => m,
        other => panic!("expected NotLoaded, got {other:?}"),
    }
}

#[test]
fn reads_every_gpu_and_the_cuda_version_back_exactly() {
    let inst = install("exact", &[(".json", NODE)]);
    assert_eq!(probe(&inst.lib).unwrap(), node_facts());
}

#[test]
fn probes_again_from_scratch() {
    // Each Carme step probes anew: a second probe of the same library must
    // see the node as it is now (NVML shut down and reinitialised), not as
    // the first probe left it.
    let inst = install("again", &[(".json", NODE)]);
    assert_eq!(probe(&inst.lib).unwrap(), node_facts());
    let one = r#"{"cuda_driver_version": 12020, "gpus": [{"minor": 3, "uuid": "GPU-new", "pci_bus_id": "00000000:3B:00.0"}]}"#;
    std::fs::write(format!("{}.json", inst.lib.display()), one).unwrap();
    let facts = probe(&inst.lib).unwrap();
    assert_eq!(facts.cuda_driver_version, 12020);
    assert_eq!(
        facts.gpus,
        [NvmlGpu {
            index: 0,
            minor: 3,
            uuid: "GPU-new".into(),
            pci_bus_id: "00000000:3B:00.0".into()
        }]
    );
}

#[test]
fn a_missing_library_is_not_loaded() {
    // By name, searched by the dynamic loader, and by path.
    let m = not_loaded(probe(Path::new("libnvidia-ml-carme-test-absent.so.1")));
    assert!(m.contains("libnvidia-ml-carme-test-absent.so.1"), "{m}");
    let m = not_loaded(probe(Path::new("/nonexistent/carme/libnvidia-ml.so.1")));
    assert!(m.contains("/nonexistent/carme/libnvidia-ml.so.1"), "{m}");
}

#[test]
fn a_library_that_is_there_but_not_nvml_failed() {
    let inst = install("notnvml", &[(".json", NODE)]);
    // Not a shared object at all.
    let json = PathBuf::from(format!("{}.json", inst.lib.display()));
    let m = failed(probe(&json));
    assert!(m.contains("cannot be loaded"), "{m}");
    // A shared object without nvmlInit_v2 (glibc's libm, found by name).
    let m = failed(probe(Path::new("libm.so.6")));
    assert!(m.contains("not an NVML library"), "{m}");
    // A directory, and no name at all.
    failed(probe(&inst.dir));
    failed(probe(Path::new("")));
}

#[test]
fn init_fails_without_a_node_file() {
    let inst = install("nofile", &[]);
    let m = failed(probe(&inst.lib));
    assert!(m.contains("nvmlInit_v2"), "{m}");
    std::fs::write(
        format!("{}.json", inst.lib.display()),
        r#"{"gpus": "none"}"#,
    )
    .unwrap();
    let m = failed(probe(&inst.lib));
    assert!(m.contains("nvmlInit_v2"), "{m}");
    // The file fixed: the next probe works (the failed init left nothing).
    std::fs::write(format!("{}.json", inst.lib.display()), NODE).unwrap();
    assert_eq!(probe(&inst.lib).unwrap(), node_facts());
}

#[test]
fn a_failing_call_after_init_failed_and_shuts_down() {
    // NVML without libcuda: nvmlSystemGetCudaDriverVersion_v2 fails.
    let no_cuda = r#"{"gpus": [{"minor": 0, "uuid": "GPU-a", "pci_bus_id": "00000000:3B:00.0"}]}"#;
    let inst = install("nocuda", &[(".json", no_cuda)]);
    let m = failed(probe(&inst.lib));
    assert!(m.contains("nvmlSystemGetCudaDriverVersion_v2"), "{m}");
    // Shut down on that error path too: with the version there, the next
    // probe re-reads the file and succeeds.
    let with_cuda = no_cuda.replacen('{', r#"{"cuda_driver_version": 11080, "#, 1);
    std::fs::write(format!("{}.json", inst.lib.display()), with_cuda).unwrap();
    assert_eq!(probe(&inst.lib).unwrap().cuda_driver_version, 11080);
}

// ---- the ones that need their own environment: run in a child process ----

/// In a child: probe and print the outcome on one line.
fn child_report(lib: &Path) {
    let line = match probe(lib) {
        Ok(f) => {
            let gpus: Vec<String> = f
                .gpus
                .iter()
                .map(|g| format!("{}:{}:{}:{}", g.index, g.minor, g.uuid, g.pci_bus_id))
                .collect();
            format!("ok {} {}", f.cuda_driver_version, gpus.join(" "))
        }
        Err(NvmlError::NotLoaded(m)) => format!("not-loaded {m}"),
        Err(NvmlError::Failed(m)) => format!("failed {m}"),
    };
    println!("CHILD-RESULT {line}");
}

#[test]
fn each_node_reads_its_own_file() {
    if let Some(lib) = std::env::var_os(CHILD_LIB) {
        return child_report(Path::new(&lib));
    }
    // Several slurmd on one host load the same library; SLURMD_NODENAME
    // picks `<lib>.<node>.json`, else `<lib>.json`.
    let n2 = r#"{"cuda_driver_version": 12060, "gpus": [
        {"minor": 1, "uuid": "GPU-n2-one", "pci_bus_id": "00000000:3B:00.0"},
        {"minor": 0, "uuid": "GPU-n2-zero", "pci_bus_id": "00000000:3C:00.0"}]}"#;
    let n3 = r#"{"cuda_driver_version": 11080, "gpus": [
        {"minor": 0, "uuid": "GPU-n3-zero", "pci_bus_id": "00000000:3B:00.0"}]}"#;
    let inst = install(
        "nodename",
        &[(".json", NODE), (".n2.json", n2), (".n3.json", n3)],
    );
    let t = "each_node_reads_its_own_file";
    assert_eq!(
        child(t, &inst.lib, &[("SLURMD_NODENAME", "n2")]),
        "ok 12060 0:1:GPU-n2-one:00000000:3B:00.0 1:0:GPU-n2-zero:00000000:3C:00.0"
    );
    assert_eq!(
        child(t, &inst.lib, &[("SLURMD_NODENAME", "n3")]),
        "ok 11080 0:0:GPU-n3-zero:00000000:3B:00.0"
    );
    let default = "ok 12040 0:2:GPU-2a0e5f2c-0c4b-4f7e-9d61-6f1d3a8e0b22:00000000:AF:00.0 \
                   1:0:GPU-0b5d9c1e-7a3f-4e2d-8c90-1f2e3d4c5b60:00000000:3B:00.0 \
                   2:1:GPU-9f8e7d6c-5b4a-4321-8fed-cba987654321:00000001:5E:1F.0";
    assert_eq!(child(t, &inst.lib, &[("SLURMD_NODENAME", "n1")]), default);
    assert_eq!(child(t, &inst.lib, &[]), default);
}

#[test]
fn an_nvml_whose_init_fails_failed() {
    if let Some(lib) = std::env::var_os(CHILD_LIB) {
        return child_report(Path::new(&lib));
    }
    // As on a node whose NVIDIA driver is not running.
    let inst = install("failinit", &[(".json", NODE)]);
    let t = "an_nvml_whose_init_fails_failed";
    let r = child(t, &inst.lib, &[("CARME_NVML_STANDIN_FAIL", "init")]);
    assert!(
        r.starts_with("failed ") && r.contains("nvmlInit_v2") && r.contains("driver is not loaded"),
        "{r}"
    );
    // The same library without the failure works, in a child too.
    assert!(child(t, &inst.lib, &[]).starts_with("ok 12040 "));
}

/// In a child: probe and print the answer as slurmstepd's forked probe
/// hands it back ([`carme_node::nvml::encode_answer`]).
fn child_answer(lib: &Path) {
    let answer = carme_node::nvml::encode_answer(&probe(lib));
    println!("CHILD-ANSWER {}", String::from_utf8_lossy(&answer));
}

/// Run this test binary again as a child that probes `lib`, and wait for
/// its answer as slurmstepd does: at most `bound`.
fn bounded_child(
    test: &str,
    lib: &Path,
    env: &[(&str, &str)],
    bound: std::time::Duration,
) -> Result<Vec<u8>, carme_node::error::ChildFailure> {
    use std::process::{Command, Stdio};
    // collect_answer reaps it (waitpid), as it does the plugin's forks.
    #[allow(clippy::zombie_processes)]
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_LIB, lib)
        .env_remove("CARME_NVML_STANDIN_FAIL")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out: std::os::fd::OwnedFd = c.stdout.take().unwrap().into();
    let pid = nix::unistd::Pid::from_raw(c.id() as i32);
    carme_node::bounded::collect_answer(pid, out, bound, carme_node::nvml::MAX_ANSWER)
}

#[test]
fn a_hung_driver_is_cut_off_at_the_bound() {
    if let Some(lib) = std::env::var_os(CHILD_LIB) {
        return child_answer(Path::new(&lib));
    }
    use std::time::{Duration, Instant};
    let inst = install("hang", &[(".json", NODE)]);
    let t = "a_hung_driver_is_cut_off_at_the_bound";
    // A driver that stopped answering: nvmlInit_v2 never returns. The
    // probe's child is killed at the bound and the caller goes on.
    let started = Instant::now();
    let r = bounded_child(
        t,
        &inst.lib,
        &[("CARME_NVML_STANDIN_FAIL", "hang")],
        Duration::from_secs(2),
    );
    let took = started.elapsed();
    assert_eq!(
        r,
        Err(carme_node::error::ChildFailure::NoAnswer(
            Duration::from_secs(2)
        ))
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // The same library, answering: the facts come back whole.
    let bytes = bounded_child(t, &inst.lib, &[], Duration::from_secs(60)).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let answer = text
        .lines()
        .find_map(|l| l.split_once("CHILD-ANSWER ").map(|(_, a)| a))
        .unwrap_or_else(|| panic!("no answer in {text}"));
    let facts = carme_node::nvml::decode_answer(&inst.lib, answer.as_bytes()).unwrap();
    assert_eq!(facts, node_facts());
    // A garbled answer is a failed probe, not a panic.
    assert!(matches!(
        carme_node::nvml::decode_answer(&inst.lib, b"{\"Ok\":"),
        Err(NvmlError::Failed(m)) if m.contains("garbled")
    ));
}
