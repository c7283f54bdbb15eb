//! Engine tests: phase order, Declined fall-through, errors, unsupported commands,
//! duplicate registrations, LOG_CMD exactly once on every path, and a custom
//! command module added through the table like any other.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::*;
use crate::channel::Channel;
use crate::command::{Protocol, RawCommand, Verb};
use crate::pipeline::modules::Table;
use crate::response::{Status, ftp};
use crate::session::Session;

/// Records which handler ran, in order, and answers as configured.
struct Probe {
    name: &'static str,
    answer: HandlerResult,
    trace: Arc<Mutex<Vec<String>>>,
    reply: Option<(bool, Status, &'static str)>,
}

#[async_trait]
impl Handler for Probe {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        let seen = match cmd.outcome {
            Some(o) => format!("{}({o:?})", self.name),
            None => self.name.to_owned(),
        };
        self.trace.lock().unwrap().push(seen);
        if let Some((ok, status, text)) = self.reply {
            if ok {
                cmd.responses.add(status, text);
            } else {
                cmd.responses.add_err(status, text);
            }
        }
        self.answer
    }
}

type Trace = Arc<Mutex<Vec<String>>>;

fn probe(trace: &Trace, name: &'static str, answer: HandlerResult) -> Arc<Probe> {
    Arc::new(Probe {
        name,
        answer,
        trace: trace.clone(),
        reply: None,
    })
}

fn session() -> Session {
    let a = "127.0.0.1:1".parse().unwrap();
    Session::new(Protocol::Ftp, a, a)
}

async fn run(table: Table, verb: Verb) -> (Outcome, Vec<u8>) {
    let pipeline = Pipeline::new(table.0).unwrap();
    let mut s = session();
    let mut cmd = CommandRecord::new(Protocol::Ftp, verb, RawCommand::FtpUnparsed, &mut s, Channel::none());
    cmd.requires_login = false;
    let outcome = pipeline.dispatch(&mut cmd).await;
    let mut out = Vec::new();
    ftp::render(&cmd.responses.selected(outcome, cmd.unsupported_status()), &mut out);
    (outcome, out)
}

fn xfoo() -> Verb {
    Verb::Custom("XFOO".into())
}

#[tokio::test]
async fn phases_run_in_order_and_declined_falls_through() {
    let trace = Trace::default();
    let mut t = Table::default();
    t.row(
        "a",
        Phase::PreCmd,
        None,
        0,
        probe(&trace, "pre", HandlerResult::Declined),
    );
    t.row(
        "a",
        Phase::Cmd,
        Some(&xfoo()),
        0,
        probe(&trace, "cmd1", HandlerResult::Declined),
    );
    t.row(
        "b",
        Phase::Cmd,
        Some(&xfoo()),
        5,
        probe(&trace, "cmd2", HandlerResult::Handled),
    );
    t.row(
        "c",
        Phase::Cmd,
        Some(&xfoo()),
        9,
        probe(&trace, "cmd3", HandlerResult::Handled),
    );
    t.row(
        "a",
        Phase::PostCmd,
        None,
        0,
        probe(&trace, "post", HandlerResult::Declined),
    );
    t.row(
        "a",
        Phase::PostCmdErr,
        None,
        0,
        probe(&trace, "post_err", HandlerResult::Declined),
    );
    t.row(
        "a",
        Phase::LogCmd,
        None,
        0,
        probe(&trace, "log", HandlerResult::Handled),
    );
    let (outcome, _) = run(t, xfoo()).await;
    assert_eq!(outcome, Outcome::Handled);
    assert_eq!(*trace.lock().unwrap(), ["pre", "cmd1", "cmd2", "post", "log(Handled)"]);
}

#[tokio::test]
async fn pre_cmd_error_skips_cmd_and_still_logs_once() {
    let trace = Trace::default();
    let mut t = Table::default();
    t.row(
        "auth",
        Phase::PreCmd,
        None,
        0,
        Arc::new(Probe {
            name: "pre",
            answer: HandlerResult::Error,
            trace: trace.clone(),
            reply: Some((false, Status::NotLoggedIn, "")),
        }),
    );
    t.row(
        "x",
        Phase::PreCmd,
        None,
        1,
        probe(&trace, "pre2", HandlerResult::Declined),
    );
    t.row(
        "x",
        Phase::Cmd,
        Some(&xfoo()),
        0,
        probe(&trace, "cmd", HandlerResult::Handled),
    );
    t.row(
        "x",
        Phase::PostCmd,
        None,
        0,
        probe(&trace, "post", HandlerResult::Declined),
    );
    t.row(
        "x",
        Phase::PostCmdErr,
        None,
        0,
        probe(&trace, "post_err", HandlerResult::Declined),
    );
    t.row(
        "x",
        Phase::LogCmd,
        None,
        0,
        probe(&trace, "log", HandlerResult::Handled),
    );
    let (outcome, out) = run(t, xfoo()).await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(*trace.lock().unwrap(), ["pre", "post_err", "log(Failed)"]);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "530 Please log in with USER and PASS.\r\n"
    );
}

#[tokio::test]
async fn nobody_takes_it_then_unsupported_and_logged() {
    let trace = Trace::default();
    let mut t = Table::default();
    t.row(
        "x",
        Phase::Cmd,
        Some(&xfoo()),
        0,
        probe(&trace, "cmd", HandlerResult::Declined),
    );
    t.row(
        "x",
        Phase::LogCmd,
        None,
        0,
        probe(&trace, "log", HandlerResult::Handled),
    );
    let (outcome, out) = run(t, xfoo()).await;
    assert_eq!(outcome, Outcome::Unsupported);
    assert_eq!(*trace.lock().unwrap(), ["cmd", "log(Unsupported)"]);
    // An unknown verb is "not understood" (500); a known one nobody implements is 502.
    assert!(String::from_utf8(out).unwrap().starts_with("500 "));
    let trace = Trace::default();
    let mut t = Table::default();
    t.row(
        "x",
        Phase::LogCmd,
        None,
        0,
        probe(&trace, "log", HandlerResult::Handled),
    );
    let (_, out) = run(t, Verb::Protocol("ALLO")).await;
    assert!(String::from_utf8(out).unwrap().starts_with("502 "));
}

#[tokio::test]
async fn cmd_error_without_reply_gets_a_generic_one() {
    let trace = Trace::default();
    let mut t = Table::default();
    t.row(
        "x",
        Phase::Cmd,
        Some(&xfoo()),
        0,
        probe(&trace, "cmd", HandlerResult::Error),
    );
    t.row(
        "x",
        Phase::LogCmd,
        None,
        0,
        probe(&trace, "log", HandlerResult::Handled),
    );
    let (outcome, out) = run(t, xfoo()).await;
    assert_eq!(outcome, Outcome::Failed);
    assert!(
        String::from_utf8(out).unwrap().starts_with("451 "),
        "a client must always get a reply"
    );
    assert_eq!(*trace.lock().unwrap(), ["cmd", "log(Failed)"]);
}

#[tokio::test]
async fn rejected_commands_fail_before_any_handler_and_are_logged() {
    let trace = Trace::default();
    let mut t = Table::default();
    t.row(
        "x",
        Phase::PreCmd,
        None,
        0,
        probe(&trace, "pre", HandlerResult::Declined),
    );
    t.row(
        "x",
        Phase::LogCmd,
        None,
        0,
        probe(&trace, "log", HandlerResult::Handled),
    );
    let pipeline = Pipeline::new(t.0).unwrap();
    let mut s = session();
    let mut cmd = CommandRecord::new(Protocol::Ftp, xfoo(), RawCommand::FtpUnparsed, &mut s, Channel::none());
    cmd.rejected = Some(crate::response::Reply {
        code: crate::response::Code::Raw(501),
        text: "Syntax error in parameters.".into(),
    });
    assert_eq!(pipeline.dispatch(&mut cmd).await, Outcome::Failed);
    assert_eq!(*trace.lock().unwrap(), ["log(Failed)"]);
}

#[test]
fn duplicate_registration_is_a_startup_error() {
    let trace = Trace::default();
    let mut t = Table::default();
    t.row(
        "first",
        Phase::Cmd,
        Some(&xfoo()),
        0,
        probe(&trace, "a", HandlerResult::Handled),
    );
    t.row(
        "second",
        Phase::Cmd,
        Some(&xfoo()),
        0,
        probe(&trace, "b", HandlerResult::Handled),
    );
    let err = Pipeline::new(t.0).unwrap_err();
    assert_eq!((err.existing, err.new), ("first", "second"));
    // Same verb at another priority, or another phase, is fine.
    let mut t = Table::default();
    t.row(
        "first",
        Phase::Cmd,
        Some(&xfoo()),
        0,
        probe(&trace, "a", HandlerResult::Handled),
    );
    t.row(
        "second",
        Phase::Cmd,
        Some(&xfoo()),
        1,
        probe(&trace, "b", HandlerResult::Handled),
    );
    t.row(
        "second",
        Phase::PostCmd,
        Some(&xfoo()),
        0,
        probe(&trace, "c", HandlerResult::Handled),
    );
    assert!(Pipeline::new(t.0).is_ok());
}

/// The custom command of the ProFTPD guide: module A handles XFOO with a 200, and
/// modules B and C add R_DUP lines from POST_CMD — without knowing A's code.
#[tokio::test]
async fn custom_command_module_reproduces_the_proftpd_example() {
    let trace = Trace::default();
    let mut t = Table::default();
    t.row(
        "mod_a",
        Phase::Cmd,
        Some(&xfoo()),
        0,
        Arc::new(Probe {
            name: "a",
            answer: HandlerResult::Handled,
            trace: trace.clone(),
            reply: Some((true, Status::Ok, "Command successfully completed.")),
        }),
    );
    struct Dup(&'static str);
    #[async_trait]
    impl Handler for Dup {
        async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
            let text = self.0.replace("%s", &cmd.verb.key());
            cmd.responses.dup(text);
            HandlerResult::Declined
        }
    }
    t.row(
        "mod_b",
        Phase::PostCmd,
        Some(&xfoo()),
        0,
        Arc::new(Dup("Statistics for command '%s': none.")),
    );
    t.row(
        "mod_c",
        Phase::PostCmd,
        None,
        1,
        Arc::new(Dup("%s post_cmd handler ran.")),
    );
    let (outcome, out) = run(t, xfoo()).await;
    assert_eq!(outcome, Outcome::Handled);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "200-Command successfully completed.\r\n Statistics for command 'XFOO': none.\r\n200 XFOO post_cmd handler ran.\r\n"
    );
}
