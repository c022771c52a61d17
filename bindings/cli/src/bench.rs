//! `celmatch bench`: the scale workload of the benchmarks crate (`celmatch_benches::run`, also
//! behind `cargo run --release -p celmatch-benches --bin scale`), with a progress bar on a
//! terminal and a readable summary. See benches/src/lib.rs for what is measured and how.

use crate::commands::{Status, Stdout};
use crate::report::CliError;
use celmatch_benches::{run, Report, Shape};
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

pub fn bench(json: bool, waits: u64, shape: Shape, events: u64, seed: u64) -> Status {
    if waits == 0 || events == 0 {
        return Err(CliError::usage("--waits and --events must be at least 1"));
    }
    let report = if io::stderr().is_terminal() {
        let mut bar = Bar::new();
        let r = run(shape, waits, events, seed, &mut |stage, done, total| bar.update(stage, done, total));
        bar.clear();
        r
    } else {
        run(shape, waits, events, seed, &mut |_, _, _| {})
    };
    let mut out = Stdout::new(false);
    if json {
        out.line(&report.to_json_line())?;
    } else {
        for (k, v) in summary(&report, events) {
            out.line(&format!("{k:<13} {v}"))?;
        }
    }
    out.flush()?;
    Ok(0)
}

fn summary(r: &Report, events: u64) -> Vec<(&'static str, String)> {
    vec![
        ("shape", r.shape.name().to_string()),
        ("waits", group(r.waits as f64)),
        ("add", format!("{} waits/s", group(r.add_per_sec))),
        ("match median", format!("{} ns", group(r.match_ns_median))),
        ("match p99", format!("{} ns", group(r.match_ns_p99))),
        ("throughput", format!("{} events/s ({} events, each firing its target wait)", group(r.events_per_sec), group(events as f64))),
        ("memory", format!("{} bytes/wait (RSS growth in /proc/self/statm while adding, divided by waits)", group(r.bytes_per_wait))),
        (
            "naive",
            format!("{} ns/event (every compiled condition evaluated one by one; 1,000 sampled, scaled to N)", group(r.naive_ns_per_event)),
        ),
        ("speedup", format!("{:.1}x (naive ns/event over the median)", r.speedup)),
    ]
}

/// 1234567.8 -> "1,234,568".
fn group(n: f64) -> String {
    if !n.is_finite() {
        return n.to_string();
    }
    let s = (n.round() as i128).to_string();
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::from(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A progress bar on stderr, redrawn at most every 100 ms.
struct Bar {
    stage: String,
    started: Instant,
    last: Option<Instant>,
}

impl Bar {
    fn new() -> Self {
        Bar { stage: String::new(), started: Instant::now(), last: None }
    }

    fn update(&mut self, stage: &str, done: u64, total: u64) {
        if stage != self.stage {
            self.stage = stage.to_string();
        } else if self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) && done < total {
            return;
        }
        const WIDTH: u64 = 30;
        let done = done.min(total);
        let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '-' }).collect();
        let mut e = io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K{:<6} [{bar}] {pct:>3}% {done}/{total} {:.1}s", self.stage, self.started.elapsed().as_secs_f64());
        let _ = e.flush();
        self.last = Some(Instant::now());
    }

    fn clear(&mut self) {
        if self.last.is_some() {
            let mut e = io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn group_digits() {
        assert_eq!(super::group(0.0), "0");
        assert_eq!(super::group(999.4), "999");
        assert_eq!(super::group(1234567.8), "1,234,568");
        assert_eq!(super::group(-1234.0), "-1,234");
    }
}
