//! Module `times`: sets a file's modification time (FTP `MFMT` and `MFF modify`,
//! draft-somers-ftp-mfxx), so that mirroring clients (rclone, FileZilla, lftp)
//! keep the times of what they upload. Registered only over a back-end that can
//! set times ([`Capabilities::set_modified_times`](crate::storage::Capabilities));
//! elsewhere the verbs get no handler (502) and FEAT does not list them.

use async_trait::async_trait;

use crate::command::{CommandRecord, RawCommand};
use crate::pipeline::{Handler, HandlerResult};
use crate::response::Status;

/// `MFMT <time> <path>` / `MFF modify=<time>; <path>`.
#[derive(Debug)]
pub struct SetModified;

#[async_trait]
impl Handler for SetModified {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let (Some(modified), Some(path), Some(volume)) = (cmd.args.modified, cmd.path.clone(), cmd.volume()) else {
            return cmd.fail(Status::BadArguments, "Usage: MFMT YYYYMMDDHHMMSS <path>.");
        };
        if let Err(err) = volume.set_modified(&path, modified).await {
            return cmd.fail_storage(&err);
        }
        // The reply echoes the time and the path as the client sent it.
        let value = proto_ftp::listing::mdtm_value(modified);
        let text = match &cmd.raw {
            RawCommand::Ftp(proto_ftp::Command::Mff { path, .. }) => format!("modify={value}; {path}"),
            RawCommand::Ftp(proto_ftp::Command::Mfmt { path, .. }) => format!("Modify={value}; {path}"),
            _ => format!("Modify={value}; {path}"),
        };
        let _ = cmd.responses.add_raw(213, text);
        HandlerResult::Handled
    }
}
