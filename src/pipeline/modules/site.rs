//! Module `site`: FTP `SITE` subcommands as ordinary handlers. `SITE HELP` lists
//! the `SITE` subcommands that have a handler in the table, so a custom module
//! that registers `SITE FOO` shows up without touching this file. `SITE CHMOD` is
//! registered only over a back-end whose modes can be changed, and where that
//! depends on the volume (an upstream FTP server without `SITE CHMOD`), `SITE
//! HELP` leaves it out for a session whose volume cannot, and the volume refuses
//! it up front (502): neither pretends otherwise.

use async_trait::async_trait;

use crate::command::CommandRecord;
use crate::pipeline::{Handler, HandlerResult};
use crate::response::Status;

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
        let capabilities = cmd.volume().map(|v| v.capabilities());
        for sub in &self.subcommands {
            if sub == "CHMOD" && capabilities.is_some_and(|c| !c.set_modes) {
                continue;
            }
            cmd.responses.dup(sub.clone());
        }
        let _ = cmd.responses.add_raw(214, "Direct comments to the administrator.");
        HandlerResult::Handled
    }
}

/// `SITE CHMOD <mode> <path>`: sets permission bits where the back-end has them.
#[derive(Debug)]
pub struct SiteChmod;

#[async_trait]
impl Handler for SiteChmod {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (Some(mode), Some(path), Some(volume)) = (cmd.args.mode, cmd.path.clone(), cmd.volume()) else {
            return cmd.fail(Status::BadArguments, "Usage: SITE CHMOD <octal mode> <path>.");
        };
        if let Err(err) = volume.set_mode(&path, mode).await {
            return cmd.fail_storage(&err);
        }
        let _ = cmd.responses.add_raw(200, "SITE CHMOD command successful.");
        HandlerResult::Handled
    }
}
