//! `carme-launch check-node`: what an admin runs on a node after
//! installing or upgrading. carme-node gathers the facts (changing
//! nothing, every command bounded), carme-core judges them
//! ([`carme_core::nodecheck`] lists the checks); this prints every
//! finding, or one JSON document with `--json`, and exits 1 when any
//! check found an error (0 with warnings only).

use std::path::Path;
use std::process::ExitCode;

use carme_core::nodecheck::{self, Finding, Status};
use carme_core::text::escape_controls;
use carme_node::nodecheck::{Request, gather, short_hostname};

/// The `--json` document's format version.
const FORMAT: u32 = 1;

pub fn check_node(
    config: &Path,
    node: Option<&str>,
    plugin: Option<&Path>,
    json: bool,
) -> ExitCode {
    let node = node.map(str::to_string).unwrap_or_else(short_hostname);
    let facts = gather(&Request {
        config,
        node: &node,
        plugin,
    });
    let findings = nodecheck::evaluate(&facts);
    let (oks, warnings, errors) = nodecheck::tally(&findings);
    if json {
        println!("{}", to_json(config, &node, &findings));
    } else {
        for f in &findings {
            print!("{}", render(f));
        }
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let summary = format!(
            "node {}: {}, {}, {} ok",
            escape_controls(&node),
            count(errors, "error"),
            count(warnings, "warning"),
            oks
        );
        if errors > 0 {
            println!("carme: {summary}");
        } else {
            println!("{summary}");
        }
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One finding as text: ok lines plain, warnings and errors prefixed
/// `carme: ` with their fix below.
/// Values from the config or Slurm (image names, paths) are shown with
/// control characters escaped: one finding, one line each, so no text in a
/// file can rewrite the terminal or forge an `ok:` line.
fn render(f: &Finding) -> String {
    let message = escape_controls(&f.message);
    let mut s = match f.status {
        Status::Ok => format!("ok: [{}] {message}\n", f.check),
        Status::Warning | Status::Error => {
            format!("carme: {}: [{}] {message}\n", f.status.as_str(), f.check)
        }
    };
    if let Some(fix) = &f.fix {
        s.push_str(&format!("  fix: {}\n", escape_controls(fix)));
    }
    s
}

fn to_json(config: &Path, node: &str, findings: &[Finding]) -> String {
    let (ok, warning, error) = nodecheck::tally(findings);
    let list: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "check": f.check,
                "subject": f.subject,
                "status": f.status.as_str(),
                "message": f.message,
                "fix": f.fix,
            })
        })
        .collect();
    serde_json::json!({
        "format": FORMAT,
        "node": node,
        "config": config.display().to_string(),
        "summary": {"ok": ok, "warning": warning, "error": error},
        "findings": list,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(status: Status, fix: Option<&str>) -> Finding {
        Finding {
            check: "gate-feature",
            subject: None,
            status,
            message: "node n3 lacks the gate feature `carme`".into(),
            fix: fix.map(str::to_string),
        }
    }

    #[test]
    fn text_lines() {
        assert_eq!(
            render(&finding(Status::Ok, None)),
            "ok: [gate-feature] node n3 lacks the gate feature `carme`\n"
        );
        assert_eq!(
            render(&finding(Status::Error, Some("add it"))),
            "carme: error: [gate-feature] node n3 lacks the gate feature `carme`\n  fix: add it\n"
        );
        assert!(render(&finding(Status::Warning, Some("x"))).starts_with("carme: warning: "));
    }

    /// A config value with an escape sequence and a carriage return cannot
    /// erase an error line or forge an `ok:` one.
    #[test]
    fn findings_are_one_line_each() {
        let mut f = finding(Status::Error, Some("put it\nthere"));
        f.message = "image `x\u{1b}[2K\rok: [config-trust] fine` does not exist".into();
        let text = render(&f);
        assert_eq!(text.lines().count(), 2, "{text:?}");
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(
            text.starts_with("carme: error: [gate-feature] image `x\\x1b[2K\\rok"),
            "{text:?}"
        );
    }

    #[test]
    fn json_document() {
        let v: serde_json::Value = serde_json::from_str(&to_json(
            Path::new("/etc/carme/carme.toml"),
            "n3",
            &[
                finding(Status::Error, Some("add it")),
                finding(Status::Ok, None),
            ],
        ))
        .unwrap();
        assert_eq!(v["format"], 1);
        assert_eq!(v["node"], "n3");
        assert_eq!(v["config"], "/etc/carme/carme.toml");
        assert_eq!(
            v["summary"],
            serde_json::json!({"ok": 1, "warning": 0, "error": 1})
        );
        assert_eq!(v["findings"][0]["status"], "error");
        assert_eq!(v["findings"][0]["check"], "gate-feature");
        assert_eq!(v["findings"][0]["fix"], "add it");
        assert_eq!(v["findings"][1]["fix"], serde_json::Value::Null);
        assert_eq!(v["findings"][1]["subject"], serde_json::Value::Null);
    }
}
