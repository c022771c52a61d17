//! `celmatch worker` and `celmatch cluster …`: thin over the celmatch-cluster crate.

use crate::cli::{ClusterCommand, RedisArgs};
use crate::commands::Stdout;
use crate::input::{self, Line, Lines};
use crate::report::{CliError, EXIT_USAGE};
use celmatch::{Routes, Subscription};
use celmatch_cluster::{Cluster, Options, Worker, WorkerOptions};
use serde_json::{json, Value as Json};
use std::io::BufRead;
use std::path::Path;
use std::sync::atomic::AtomicBool;

type Status = Result<i32, CliError>;

/// NDJSON lines are capped like events (1 MiB by default).
const LINE_CAP: usize = 1 << 20;

fn cluster_error(e: celmatch_cluster::Error) -> CliError {
    CliError::new(e.code(), e.message())
}

fn options(r: &RedisArgs) -> Result<Options, CliError> {
    let routes = if r.routes.is_empty() {
        None
    } else {
        let mut t = Routes::new();
        for spec in &r.routes {
            let (event, path) = spec.split_once('=').ok_or_else(|| CliError::usage(format!("--route {spec:?} is not EVENT=PATH")))?;
            t.insert(event, path).map_err(|e| CliError::usage(e.message()))?;
        }
        Some(t)
    };
    Ok(Options { prefix: r.prefix.clone(), ranges: r.ranges, routes })
}

fn connect(r: &RedisArgs) -> Result<Cluster, CliError> {
    Cluster::connect(&r.redis, &options(r)?).map_err(cluster_error)
}

pub fn worker(r: &RedisArgs, lease_ms: u64, id: Option<String>, verbose: bool) -> Status {
    if lease_ms < 100 {
        return Err(CliError::usage("--lease-ms must be at least 100"));
    }
    let id = id.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let mut w = Worker::new(&r.redis, &options(r)?, WorkerOptions { lease_ms, verbose, ..Default::default() }, id).map_err(cluster_error)?;
    eprintln!("celmatch worker {}: running", w.id());
    // Runs until the process is killed: leases then lapse and other workers take over.
    let stop = AtomicBool::new(false);
    w.run(&stop);
    Ok(0)
}

pub fn run(command: ClusterCommand) -> Status {
    match command {
        ClusterCommand::Add { redis, subscriptions } => {
            let mut c = connect(&redis)?;
            each_line(&subscriptions, |out, no, v| {
                let sub = Subscription::from_record(&v).map_err(|e| CliError::engine(&e, None))?;
                let added = c.add(&sub).map_err(cluster_error)?;
                out.line(&json!({"id": sub.id, "added": added}).to_string()).map(|_| ()).map_err(|e| e.with("line", json!(no)))
            })
        }
        ClusterCommand::Publish { redis, events } => {
            let mut c = connect(&redis)?;
            each_line(&events, |out, _, v| {
                let entry = c.publish(&v).map_err(cluster_error)?;
                out.line(&json!({"entry": entry}).to_string())
            })
        }
        ClusterCommand::Remove { redis, ids } => {
            let mut c = connect(&redis)?;
            let mut all = Vec::new();
            for id in ids {
                if id == "-" {
                    for l in std::io::stdin().lock().lines() {
                        let l = l.map_err(|e| CliError::io("cannot read stdin", &e))?;
                        if !l.trim().is_empty() {
                            all.push(l.trim().to_string());
                        }
                    }
                } else {
                    all.push(id);
                }
            }
            let mut out = Stdout::new(false);
            for id in all {
                let removed = c.remove(&id).map_err(cluster_error)?;
                out.line(&json!({"id": id, "removed": removed}).to_string())?;
            }
            out.flush()?;
            Ok(0)
        }
        ClusterCommand::Fired { redis, cursor, trim } => {
            let mut c = connect(&redis)?;
            let mut at = match &cursor {
                Some(f) if f.exists() => std::fs::read_to_string(f).map_err(|e| CliError::io(&format!("cannot read {}", f.display()), &e))?.trim().to_string(),
                _ => String::new(),
            };
            let mut out = Stdout::new(false);
            loop {
                let (batch, next) = c.read_outcomes(&at, 1000).map_err(cluster_error)?;
                if batch.is_empty() {
                    break;
                }
                for o in batch {
                    let line = json!({"id": o.id, "outcome": o.outcome, "event": o.event, "worker": o.worker, "record": o.record, "entry": o.entry});
                    out.line(&line.to_string())?;
                }
                at = next;
            }
            out.flush()?;
            if let Some(f) = &cursor {
                // Written whole, then renamed: a crash leaves the old cursor or the new one.
                let tmp = f.with_extension("tmp");
                std::fs::write(&tmp, format!("{at}\n")).and_then(|_| std::fs::rename(&tmp, f)).map_err(|e| CliError::io(&format!("cannot write {}", f.display()), &e))?;
                if trim {
                    c.trim_outcomes(&at).map_err(cluster_error)?;
                }
            }
            Ok(0)
        }
        ClusterCommand::Stats { redis } => {
            let mut c = connect(&redis)?;
            let stats = c.stats().map_err(cluster_error)?;
            let mut out = Stdout::new(false);
            out.line(&stats.to_string())?;
            out.flush()?;
            Ok(0)
        }
    }
}

/// Runs `f` on every JSON line of `path`. A line that is not JSON, or that `f` fails on, is
/// reported on stderr and skipped (exit status 2); a Redis failure ends the command.
fn each_line(path: &Path, mut f: impl FnMut(&mut Stdout, usize, Json) -> Result<(), CliError>) -> Status {
    let mut lines = Lines::new(input::open(path)?, LINE_CAP);
    let mut out = Stdout::new(false);
    let mut skipped = false;
    while let Some((no, line)) = lines.next_line().map_err(|e| CliError::io(&format!("cannot read {}", input::describe(path)), &e))? {
        let text = match line {
            Line::Text(t) if input::is_blank(&t) => continue,
            Line::Text(t) => t,
            Line::TooLong(n) => {
                eprintln!("line {no}: {n} bytes, over the limit of {LINE_CAP}; skipped");
                skipped = true;
                continue;
            }
        };
        let r = serde_json::from_slice(&text).map_err(|e| input::json_error(&e, &format!("line {no}"), "invalid_json")).and_then(|v| f(&mut out, no, v));
        match r {
            Ok(()) => {}
            Err(e) if e.code == "redis_error" || e.code == "broken_pipe" || e.code == "protocol_error" => {
                out.flush()?;
                return Err(e);
            }
            Err(e) => {
                eprintln!("line {no}: {}: {}", e.code, e.message);
                skipped = true;
            }
        }
    }
    out.flush()?;
    Ok(if skipped { EXIT_USAGE } else { 0 })
}
