//! Module `site`: FTP `SITE` subcommands as ordinary handlers. `SITE HELP` lists
//! the `SITE` subcommands that have a handler in the table, so a custom module
//! that registers `SITE FOO` shows up without touching this file.

use async_trait::async_trait;

use crate::command::CommandRecord;
use crate::pipeline::{Handler, HandlerResult};

/// `SITE HELP`.
#[derive(Debug)]
pub struct SiteHelp {
    /// The subcommands to list (taken from the table when the pipeline is built).
    pub subcommands: Vec<String>,
}

#[async_trait]
impl Handler for SiteHelp {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        // 214: help message (RFC 959). Several lines with one code become one multi-line reply.
        let _ = cmd
            .responses
            .add_raw(214, "The following SITE commands are recognized:");
        for sub in &self.subcommands {
            cmd.responses.dup(sub.clone());
        }
        let _ = cmd.responses.add_raw(214, "Direct comments to the administrator.");
        HandlerResult::Handled
    }
}
