//! Limits benchmark (issue 3): a config with 10,000 user rules and 1,000
//! group rules; load it for one user and decide, in-process, many times.
//! Target: median load + decide <= 2 ms. The full (unscoped) load, as
//! `carme-launch check-config` does it, is measured beside it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use carme_core::config::{Config, Scope};
use carme_core::limits::{Account, Ask, Who, check, effective};

fn config_text(users: usize, groups: usize) -> String {
    let mut s = String::from(
        "[gate]\nfeature = \"carme\"\ndefault_image = \"base\"\n\
         [runtime]\nkind = \"charliecloud\"\npath = \"/usr/bin/ch-run\"\n\
         [[mounts]]\nsource = \"/home\"\ntarget = \"/home\"\n\
         [images.base]\npath = \"/srv/base\"\n[images.pytorch-2]\npath = \"/srv/pt\"\n\
         [limits.default]\nimages = [\"base\", \"pytorch-*\"]\nmax_gpus_per_job = 4\n\
         max_gpus_per_node = 4\nmax_nodes_per_job = 2\nmax_running_jobs = 2\n\
         max_time = \"3-00:00:00\"\n",
    );
    for i in 0..users {
        s += &format!(
            "\n[limits.users.user{i:05}]\nmax_gpus_per_job = {}\nimages = [\"base\", \"pytorch-*\"]\n",
            1 + i % 8
        );
    }
    for i in 0..groups {
        s += &format!(
            "\n[limits.groups.group{i:04}]\nimages = [\"base\"]\nmax_gpus_per_job = {}\nmax_time = \"1-00:00:00\"\n",
            1 + i % 4
        );
    }
    for i in 0..20 {
        s += &format!("\n[limits.accounts.proj{i}]\nmax_nodes_per_job = 4\n");
    }
    s
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("carme-bench-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("carme.toml");
    let text = config_text(10_000, 1_000);
    std::fs::write(&path, &text).unwrap();
    let groups = vec![
        "group0007".to_string(),
        "group0500".to_string(),
        "users".to_string(),
    ];
    let scope = Scope {
        user: "user04242",
        groups: &groups,
    };
    let ask = Ask {
        image: Some("base"),
        gpus_per_job: Some(1),
        gpus_per_node: Some(1),
        nodes: Some(1),
        time: Some(Some(60)),
        running_jobs: Some(0),
    };

    let rounds = 200;
    let (mut scoped, mut full) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let cfg = Config::load_scoped(&path, Some(&scope)).expect("scoped load");
        let who = Who {
            user: scope.user,
            groups: &groups,
            account: Account::Known(Some("proj3")),
        };
        let eff = effective(&cfg.limits, &who);
        check(&cfg, &eff, &ask).expect("within limits");
        scoped.push(t.elapsed().as_secs_f64() * 1e3);
        if full.len() < 20 {
            let t = Instant::now();
            let cfg = Config::load(Path::new(&path)).expect("full load");
            std::hint::black_box(&cfg);
            full.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    let (s, f) = (median(scoped), median(full));
    println!(
        "== limits: {} KiB config, 10,000 user + 1,000 group rules ({rounds} rounds)",
        text.len() / 1024
    );
    println!("scoped load + decide (per job)   median {s:8.3} ms  (target <= 2 ms)");
    println!(
        "full load (check-config)         median {f:8.3} ms  ratio {:.1}x",
        f / s
    );
    if s <= 2.0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
