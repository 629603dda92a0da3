use super::*;
use crate::client_args::{Client, Release, parse};

fn ask(cmd: &str) -> Ask<'static> {
    let argv: Vec<String> = cmd.split(' ').map(str::to_string).collect();
    ask_of_request(&parse(Release::V22_05, Client::Srun, &argv, &|_| None))
}

#[test]
fn asks_from_options() {
    let a = ask("srun -N2 --gres=gpu:2 -t 1-00:00:00 cmd");
    assert_eq!(
        (a.nodes, a.gpus_per_node, a.gpus_per_job, a.time),
        (Some(2), Some(2), Some(4), Some(Some(1440)))
    );
    let a = ask("srun -N1-3 --gres=gpu:2 cmd");
    assert_eq!(
        (a.nodes, a.gpus_per_node, a.gpus_per_job),
        (Some(3), Some(2), Some(2)),
        "2 GPUs at least"
    );
    let a = ask("srun -N1-3 --gpus=a100:5 cmd");
    assert_eq!(
        (a.nodes, a.gpus_per_node, a.gpus_per_job),
        (Some(3), None, Some(5))
    );
    // Without -N: one node at least, so at least the per-node count.
    let a = ask("srun --gres=gpu:t4:1,nic:2 cmd");
    assert_eq!(
        (a.nodes, a.gpus_per_node, a.gpus_per_job),
        (None, Some(1), Some(1))
    );
    let a = ask("srun --gres=gpu cmd");
    assert_eq!(a.gpus_per_node, Some(1));
    let a = ask("srun --gpus-per-task=2 -n4 cmd");
    assert_eq!(
        (a.gpus_per_node, a.gpus_per_job),
        (None, None),
        "depends on the scheduler"
    );
    let a = ask("srun cmd");
    assert_eq!(a, Ask::default());
    assert_eq!(ask("srun -t UNLIMITED cmd").time, Some(None));
}

proptest::proptest! {
    // Any counts: never a panic, and a count that is known is exact
    // (the sum and product computed wide), never wrapped.
    #[test]
    fn counts_are_exact_or_unknown(
        counts in proptest::collection::vec(proptest::prelude::any::<u64>(), 1..4),
        nodes in proptest::prelude::any::<u32>(),
    ) {
        let gres: Vec<String> = counts.iter().map(|c| format!("gpu:{c}")).collect();
        let a = ask(&format!("srun -N{nodes} --gres={} cmd", gres.join(",")));
        let sum: u128 = counts.iter().map(|&c| u128::from(c)).sum();
        let want = u64::try_from(sum).ok();
        proptest::prop_assert_eq!(a.gpus_per_node, want);
        proptest::prop_assert_eq!(
            a.gpus_per_job,
            want.and_then(|w| u64::try_from(u128::from(w) * u128::from(nodes)).ok())
        );
    }
}

/// Finding 1 of issue 14: counts past `u32` panicked (debug) or
/// wrapped to 0 (release), and the early check let the request pass.
#[test]
fn huge_counts_never_wrap() {
    let limits = Config::parse(
        "[runtime]\nkind = \"apptainer\"\npath = \"/a\"\n[limits.default]\n\
             max_gpus_per_job = 4\nmax_gpus_per_node = 4\n",
        std::path::Path::new("/c.toml"),
    )
    .unwrap();
    let eff = effective(
        &limits.limits,
        &Who {
            user: "u",
            groups: &[],
            account: Account::Known(None),
        },
    );
    let refused = |a: &Ask| check(&limits, &eff, a).is_err();
    let a = ask("srun --gres=gpu:4294967295,gpu:1 cmd");
    assert_eq!(a.gpus_per_node, Some(1 << 32));
    assert!(refused(&a), "{a:?}");
    let a = ask("srun -N65536 --gres=gpu:65536 cmd");
    assert_eq!(a.gpus_per_job, Some(1 << 32));
    assert!(refused(&a), "{a:?}");
    let a = ask("srun -N4294967295 --gres=gpu:18446744073709551615 cmd");
    assert_eq!((a.gpus_per_node, a.gpus_per_job), (Some(u64::MAX), None));
    assert!(refused(&a), "{a:?}");
    // A sum past u64, a suffix, a number no u64 holds: unknown, not a guess.
    for unsure in [
        "srun --gres=gpu:18446744073709551615,gpu:1 cmd",
        "srun --gres=gpu:1k cmd",
        "srun --gres=gpu:99999999999999999999999 cmd",
        "srun --gres=gpu:a100:1k cmd",
        "srun --gpus-per-node=1k cmd",
    ] {
        assert_eq!(ask(unsure).gpus_per_node, None, "{unsure}");
    }
    // The same values through the environment and #SBATCH.
    let env = |k: &str| (k == "SLURM_GRES").then(|| "gpu:4294967295,gpu:1".to_string());
    let argv: Vec<String> = ["srun", "cmd"].map(String::from).to_vec();
    let a = ask_of_request(&parse(Release::V22_05, Client::Srun, &argv, &env));
    assert_eq!(a.gpus_per_node, Some(1 << 32));
    let env = |k: &str| (k == "SBATCH_GRES").then(|| "gpu:65536".to_string());
    let argv: Vec<String> = ["sbatch", "-N65536", "job.sh"].map(String::from).to_vec();
    let a = ask_of_request(&crate::client_args::parse_sbatch(
        Release::V22_05,
        &argv,
        &env,
        Some("#!/bin/sh\n"),
    ));
    assert_eq!(a.gpus_per_job, Some(1 << 32));
    let script = "#!/bin/sh\n#SBATCH --gres=gpu:4294967295,gpu:1\n#SBATCH -N65536\n";
    let argv: Vec<String> = ["sbatch", "job.sh"].map(String::from).to_vec();
    let a = ask_of_request(&crate::client_args::parse_sbatch(
        Release::V22_05,
        &argv,
        &|_| None,
        Some(script),
    ));
    assert_eq!(
        (a.gpus_per_node, a.gpus_per_job),
        (Some(1 << 32), Some(1 << 48))
    );
    assert!(refused(&a), "{a:?}");
}
