//! `celmatch`: check, eval, explain, match and bench CEL subscription conditions.
//! See bindings/cli/README.md.

// Errors are the cold path and carry what is needed to render them (caret, JSON fields).
#![allow(clippy::result_large_err)]

mod bench;
mod cli;
mod cluster;
mod commands;
mod input;
mod render;
mod report;

use clap::error::ErrorKind;
use clap::Parser;
use cli::{Cli, Command};
use report::{CliError, Out, EXIT_USAGE};
use serde_json::json;
use std::ffi::OsString;
use std::io::Write;

/// Commands run on a thread with a generous stack, as insurance on top of the engine's own
/// depth limits.
const STACK: usize = 64 << 20;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = match std::thread::Builder::new().name("celmatch".into()).stack_size(STACK).spawn(move || run(args)) {
        Ok(h) => h.join().unwrap_or_else(|_| {
            let _ = writeln!(std::io::stderr(), "celmatch: internal error (panic); please report it");
            70
        }),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "celmatch: cannot start: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn run(args: Vec<OsString>) -> i32 {
    let json_wanted = args.iter().skip(1).any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(e, json_wanted),
    };
    let g = &cli.global;
    let result = match cli.command {
        Command::Check { expr, trigger } => commands::check(g, expr, trigger.as_deref()),
        Command::Eval { expr, event, trigger, key } => commands::eval(g, expr, &event, trigger.as_deref(), key),
        Command::Explain { subscriptions, event, id } => commands::explain(g, &subscriptions, &event, id),
        Command::Match { subscriptions, events, state } => commands::run_match(g, subscriptions.as_deref(), &events, state.as_deref()),
        Command::Inspect { store } => commands::inspect(g, &store),
        Command::Bench { waits, shape, events, seed } => bench::bench(g.json, waits, shape, events, seed),
        Command::Worker { redis, lease_ms, id, verbose } => cluster::worker(&redis, lease_ms, id, verbose),
        Command::Cluster { command } => cluster::run(command),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.code == "broken_pipe" => e.exit,
        Err(e) => {
            Out { json: g.json }.fatal(&e);
            e.exit
        }
    }
}

fn usage_error(e: clap::Error, json_wanted: bool) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return 0;
        }
        _ => {}
    }
    if json_wanted {
        let rendered = e.render().to_string();
        let first = rendered.lines().next().unwrap_or("").trim_start_matches("error: ").to_string();
        let code = if e.kind() == ErrorKind::InvalidUtf8 { "invalid_utf8" } else { "usage" };
        let err = CliError::new(code, first).exit(EXIT_USAGE);
        let mut so = std::io::stdout().lock();
        let _ = writeln!(so, "{}", json!({ "error": err.to_json() }));
        return EXIT_USAGE;
    }
    let _ = e.print();
    EXIT_USAGE
}
