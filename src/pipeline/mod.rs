//! The handler pipeline: one engine that runs every command of every protocol
//! through the same phases (ProFTPD's `pr_cmd_dispatch_phase`).
//!
//! ```text
//!   PRE_CMD   all handlers, in priority order; the first Error fails the command
//!      │ ok
//!   CMD       handlers in priority order until one returns Handled
//!      │         Declined → next handler;  Error → failed;  nobody → unsupported
//!      ├── handled ──► POST_CMD      (results logged, not acted on)
//!      └── failed ───► POST_CMD_ERR  (results logged, not acted on)
//!   LOG_CMD   always, exactly once, from one place, with `cmd.outcome` set
//! ```
//!
//! Then the front-end renders the chain the outcome selects (success chain,
//! error chain, or one "unsupported" reply).
//!
//! # Cancel safety
//! [`Pipeline::dispatch`] is not cancel-safe: dropping its future part-way skips
//! `LOG_CMD` and may abandon a transfer. Front-ends therefore always drive it to
//! completion (HTTP runs it in its own task; FTP awaits it in the session task).

mod handler;
pub mod modules;
mod registry;

pub use handler::{FnHandler, Handler, HandlerResult, Phase};
pub use registry::{DuplicateHandler, Registration, Registry, VerbMatch};

use crate::command::CommandRecord;
use crate::response::Outcome;

/// The engine with its table.
#[derive(Debug)]
pub struct Pipeline {
    registry: Registry,
}

impl Pipeline {
    /// Builds the pipeline from a table; duplicates are refused.
    pub fn new(rows: Vec<Registration>) -> Result<Self, DuplicateHandler> {
        Ok(Pipeline {
            registry: Registry::build(rows)?,
        })
    }

    /// The table (for `HELP`-style introspection).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs `cmd` through every phase and returns the outcome (also left on
    /// `cmd.outcome`). Replies are on `cmd.responses`.
    pub async fn dispatch(&self, cmd: &mut CommandRecord<'_>) -> Outcome {
        let key = cmd.verb.key();
        let outcome = self.run_command_phases(cmd, &key).await;
        cmd.outcome = Some(outcome);
        // The single exit point: logging cannot be skipped by an early return above.
        for h in self.registry.handlers(Phase::LogCmd, &key).iter() {
            h.handle(cmd).await;
        }
        outcome
    }

    async fn run_command_phases(&self, cmd: &mut CommandRecord<'_>, key: &str) -> Outcome {
        if let Some(reply) = cmd.rejected.take() {
            cmd.responses.push_err(reply);
            self.run_post(cmd, key, Phase::PostCmdErr).await;
            return Outcome::Failed;
        }
        for h in self.registry.handlers(Phase::PreCmd, key).iter() {
            if h.handle(cmd).await == HandlerResult::Error {
                self.run_post(cmd, key, Phase::PostCmdErr).await;
                return Outcome::Failed;
            }
        }
        let mut handled = false;
        for h in self.registry.handlers(Phase::Cmd, key).iter() {
            match h.handle(cmd).await {
                HandlerResult::Handled => {
                    handled = true;
                    break;
                }
                HandlerResult::Declined => continue,
                HandlerResult::Error => {
                    self.run_post(cmd, key, Phase::PostCmdErr).await;
                    return Outcome::Failed;
                }
            }
        }
        if !handled {
            return Outcome::Unsupported;
        }
        self.run_post(cmd, key, Phase::PostCmd).await;
        Outcome::Handled
    }

    async fn run_post(&self, cmd: &mut CommandRecord<'_>, key: &str, phase: Phase) {
        for h in self.registry.handlers(phase, key).iter() {
            if h.handle(cmd).await == HandlerResult::Error {
                tracing::debug!(?phase, verb = key, "a post-command handler reported an error; ignored");
            }
        }
    }
}

#[cfg(test)]
mod tests;
