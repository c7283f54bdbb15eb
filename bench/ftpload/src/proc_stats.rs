//! CPU time of a process tree (the server, forking servers included) and of this
//! process, from `/proc` and `getrusage`, as `bench/benchclient.py` counts it:
//! utime + stime of every live process of the tree plus cutime + cstime
//! (children already reaped).

use std::collections::HashMap;

/// Clock ticks per second of `/proc/*/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const CLK_TCK: f64 = 100.0;

/// The fields after `(comm)` of `/proc/PID/stat`.
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect())
}

/// `pid` and its live descendants.
fn tree(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_fields(p).and_then(|f| f.get(1).copied()) {
                children.entry(u32::try_from(ppid).unwrap_or(0)).or_default().push(p);
            }
        }
    }
    let (mut out, mut stack) = (Vec::new(), vec![pid]);
    while let Some(p) = stack.pop() {
        out.push(p);
        stack.extend(children.get(&p).into_iter().flatten());
    }
    out
}

/// CPU seconds used by the process tree of `pid` (see the module docs).
pub fn tree_cpu_seconds(pid: u32) -> f64 {
    let ticks: u64 = tree(pid)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| f.get(11..15).map_or(0, |t| t.iter().sum()))
        .sum();
    ticks as f64 / CLK_TCK
}

/// CPU seconds used by this process so far.
pub fn self_cpu_seconds() -> f64 {
    stat_fields(std::process::id()).map_or(0.0, |f| f.get(11..13).map_or(0, |t| t.iter().sum()) as f64 / CLK_TCK)
}

/// Raises the open-files soft limit to the hard limit (hundreds of clients, each
/// with a control and a data socket). Failure is not fatal: EMFILE would then show
/// up as counted errors.
pub fn raise_nofile_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}
