//! What a handler is: an async function of the command record, registered for a
//! phase, that answers Handled, Declined or Error.

use async_trait::async_trait;

use crate::command::CommandRecord;

/// The phases a command goes through, in order (ProFTPD's dispatch phases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Checks before the command runs (auth, path validity, permissions, limits).
    /// Every handler runs; the first `Error` fails the command.
    PreCmd,
    /// The command itself: handlers run in order until one returns `Handled`.
    Cmd,
    /// After a handled command (results are logged, not acted on).
    PostCmd,
    /// After a failed command (results are logged, not acted on).
    PostCmdErr,
    /// Logging and metrics: runs exactly once for every command, whatever happened,
    /// and sees the outcome on the record (`cmd.outcome`). There is deliberately no
    /// separate `LogCmdErr` phase: one log handler sees successes and failures alike.
    LogCmd,
}

impl Phase {
    /// How many phases there are.
    pub const COUNT: usize = 5;
    /// Every phase, in order.
    pub const ALL: [Phase; Phase::COUNT] = [
        Phase::PreCmd,
        Phase::Cmd,
        Phase::PostCmd,
        Phase::PostCmdErr,
        Phase::LogCmd,
    ];

    /// The phase's position in [`Phase::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

pub use crate::command::HandlerResult;

/// A phase handler. Implementations hold the shared state they need (storage, user
/// database, config); per-command state lives on the record.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles `cmd` in the phase it was registered for.
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult;
}

/// Adapts a closure that returns a boxed future into a [`Handler`] (for small
/// handlers and tests).
pub struct FnHandler<F>(pub F);

#[async_trait]
impl<F> Handler for FnHandler<F>
where
    F: for<'c, 'r> Fn(&'c mut CommandRecord<'r>) -> futures_util::future::BoxFuture<'c, HandlerResult>
        + Send
        + Sync
        + 'static,
{
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        (self.0)(cmd).await
    }
}
