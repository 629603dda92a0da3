//! The JSON line appended to `$CARME_BEEOND_STANDIN_LOG` for every invocation.
//!
//! Every record has `tool` ("beeond"), `emulates`, `status`, `argv`, `node`
//! (the node it ran as) and `pid`. `status` is `ok`, `failed` (ran, with
//! `errors`), `refused` (did nothing; `error`), `forced_failure`
//! (`CARME_BEEOND_STANDIN_FAIL`) or `hang` (written just before hanging).
//! All but `refused` carry `action` and `options`, the parsed command line.

use serde::Serialize;

use super::cli::Command;

#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub tool: &'static str,
    pub emulates: &'static str,
    pub status: &'static str,
    pub argv: &'a [String],
    pub node: &'a str,
    pub pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<&'a Command>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub errors: &'a [String],
    pub exit_code: Option<i32>,
}

pub use crate::jsonl::append;
