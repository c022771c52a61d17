//! `scale --waits N --shape SHAPE [--events K] [--seed S] [--threads T] [--lookback] [--json]`:
//! see the crate docs. `--threads` splits the events over T threads; `--lookback` keeps the
//! lookback buffer on.

use celmatch_benches::workload::{run_with, Options};
use celmatch_benches::Shape;
use std::io::{IsTerminal, Write};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut waits, mut shape, mut events, mut seed, mut json) = (1_000_000u64, Shape::Eq, 10_000u64, 42u64, false);
    let mut options = Options::default();
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{a} needs a value")));
        match a.as_str() {
            "--waits" => waits = value().parse().unwrap_or_else(|_| fail("--waits takes a number")),
            "--shape" => shape = value().parse().unwrap_or_else(|e: String| fail(&e)),
            "--events" => events = value().parse().unwrap_or_else(|_| fail("--events takes a number")),
            "--seed" => seed = value().parse().unwrap_or_else(|_| fail("--seed takes a number")),
            "--json" => json = true,
            "--threads" => options.threads = value().parse().ok().filter(|&t| t > 0).unwrap_or_else(|| fail("--threads takes a number > 0")),
            "--lookback" => options.lookback = true,
            _ => fail(&format!("unknown argument {a}")),
        }
    }
    if waits == 0 || events == 0 {
        fail("--waits and --events must be positive");
    }
    let tty = std::io::stderr().is_terminal();
    let mut progress = |stage: &str, done: u64, total: u64| {
        if tty {
            eprint!("\r{stage:>5} {:>3}% ({done}/{total})   ", done * 100 / total);
            let _ = std::io::stderr().flush();
        }
    };
    let report = run_with(shape, waits, events, seed, options, &mut progress);
    if tty {
        eprintln!();
    }
    if json {
        println!("{}", report.to_json_line());
    } else {
        println!("{report}");
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("scale: {msg}");
    std::process::exit(2)
}
