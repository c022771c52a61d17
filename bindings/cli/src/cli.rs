//! The command line, defined once with clap's derive API.
//!
//! Every argument is read as an OS string: file names go to `PathBuf` untouched, and
//! expressions and ids are converted to UTF-8 by the command (invalid UTF-8 is a usage error,
//! exit status 2, never a panic).

use celmatch_benches::Shape;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "celmatch",
    version,
    about = "Check, evaluate, explain, match and benchmark CEL subscription conditions",
    long_about = "Check, evaluate, explain, match and benchmark CEL subscription conditions.\n\n\
        Exit status: 0 success, 1 error (an expression that does not compile, an event that cannot be \
        read, …), 2 usage error or, for `match` and `explain`, input lines that were skipped.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (defined once, accepted before or after the command name).
#[derive(Args, Debug)]
pub struct Global {
    /// Machine-readable output: results as JSON, errors as {"error":{"code","message","line","column"}}
    #[arg(long, global = true)]
    pub json: bool,
    /// CEL dialect: strict (CEL as specified, the default) or lenient (Inngest-compatible:
    /// missing fields are null); over the dialect of --config
    #[arg(long, global = true, value_enum)]
    pub dialect: Option<DialectArg>,
    /// Engine configuration: a configuration record as JSON text (starting with `{`) or the
    /// path of a file holding one, e.g. '{"lookback": {"max_age": "5m"}, "limits":
    /// {"max_event_bytes": 65536}}'. Read by the engine's core as in every binding: keys are
    /// dialect, lookback {max_age, max_events, max_bytes}, limits {max_expr_bytes, max_depth,
    /// max_conjunctions, max_event_bytes, max_event_depth}, event_fields ("inngest",
    /// "cloudevents" or {name, id, time}), cancel_removes_owner, max_claims, durability, now;
    /// durations are milliseconds or strings like "5m"; an unknown key is the error
    /// invalid_config (exit status 2)
    #[arg(long, global = true, value_name = "JSON|FILE")]
    pub config: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    Strict,
    Lenient,
}

impl DialectArg {
    /// The dialect's name in a configuration record.
    pub fn as_str(self) -> &'static str {
        match self {
            DialectArg::Strict => "strict",
            DialectArg::Lenient => "lenient",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile an expression and show how it is understood (shape, parameters, conjunctions,
    /// indexed predicates), or where it is wrong
    Check {
        /// The CEL condition (`async` is the incoming event, `event` the trigger); `-` reads it from stdin
        #[arg(value_name = "EXPR")]
        expr: OsString,
        /// The trigger that `event.*` refers to (a JSON object), for conditions that use it; `-` reads stdin
        #[arg(long, value_name = "FILE")]
        trigger: Option<PathBuf>,
    },
    /// Evaluate an expression against an event and print the value as JSON
    Eval {
        /// The CEL expression; `-` reads it from stdin
        #[arg(value_name = "EXPR")]
        expr: OsString,
        /// The event (a JSON object); `-` reads stdin
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
        /// The trigger that `event.*` refers to (a JSON object); `-` reads stdin
        #[arg(long, value_name = "FILE", conflicts_with = "key")]
        trigger: Option<PathBuf>,
        /// Key mode: `event` is the incoming event (as in idempotency, debounce and rate-limit
        /// keys); prints the key string, or null for no key (the value null or false)
        #[arg(long)]
        key: bool,
    },
    /// For each subscription, how it is indexed and why this event did or did not fire it
    Explain {
        /// Subscriptions, one JSON object per line (see `celmatch match --help`); `-` reads stdin
        #[arg(long, value_name = "FILE")]
        subscriptions: PathBuf,
        /// The event (a JSON object); `-` reads stdin
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
        /// Explain only the subscription with this id
        #[arg(long, value_name = "ID")]
        id: Option<OsString>,
    },
    /// Load subscriptions, run events through them in order and print what fired
    #[command(long_about = "Load subscriptions, run events through them in order and print what fired.\n\n\
        Input is NDJSON (one JSON object per line; `-` reads stdin). A subscription line:\n  \
        {\"id\": str, \"kind\": \"wait\"|\"cancel\" (default \"wait\"), \"event\": str, \"if\": str?, \"trigger\": object?,\n   \
        \"owner\": str?, \"deadline\": RFC 3339 string or epoch ms?, \"not_before\": same?}\n\
        Output: one line per event, in input order:\n  \
        {\"event\": <0-based index>, \"fired\": [{\"id\": str, \"kind\": str, \"owner\": str?}, …]}\n\
        Subscriptions fire in registration order and every fired one (wait or cancel) is consumed. \
        `deadline` is compared with the current time, `not_before` with the event's `ts` field (epoch ms or \
        RFC 3339). A subscription line that fails to parse or compile is reported on stderr with its line \
        number and skipped; a bad event line is reported on stderr and output as \
        {\"event\": i, \"fired\": [], \"error\": {\"code\", \"message\"}}; either makes the exit status 2. \
        Blank lines are skipped (they are not events). See bindings/cli/README.md.")]
    Match {
        /// Subscriptions, one JSON object per line; `-` reads stdin (optional with --state)
        #[arg(long, value_name = "FILE", required_unless_present = "state")]
        subscriptions: Option<PathBuf>,
        /// Events, one JSON object per line; `-` reads stdin
        #[arg(long, value_name = "FILE")]
        events: PathBuf,
        /// A durable store (created if absent): its subscriptions are loaded first, and every
        /// subscription added and every one fired is committed to it as it happens
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
    /// Show what a durable store holds: schema version, subscriptions per event name and kind,
    /// owners, claims and buffered events
    Inspect {
        /// The store (a file written by `match --state`, Engine.open or save)
        #[arg(value_name = "FILE")]
        store: PathBuf,
    },
    /// Run the scale workload: N waits of one shape, then K events that each fire one of them
    #[command(long_about = "Run the scale workload: N waits of one shape, then K events that each fire one of them \
        (the workload of the benchmarks crate, as `cargo run --release -p celmatch-benches --bin scale`).\n\n\
        Reports add/s, match latency (median, p99), events/s, bytes per wait (growth of the resident set from \
        /proc/self/statm while adding, divided by N), the naive cost per event (every compiled condition \
        evaluated one by one, on a 1,000 sample scaled to N) and the speedup over it. The engine uses the \
        default configuration (strict dialect; --dialect and --config do not apply). A progress bar is drawn on stderr when it is a terminal.")]
    Bench {
        /// Number of pending waits
        #[arg(long, value_name = "N")]
        waits: u64,
        /// Condition shape: eq, eq-shared, bound, in, range, prefix, contains, or-nested, mixed
        #[arg(long, value_name = "SHAPE")]
        shape: Shape,
        /// Number of events, each built to fire one wait (which is put back, untimed)
        #[arg(long, value_name = "K", default_value_t = 10_000)]
        events: u64,
        /// Seed of the generated workload
        #[arg(long, value_name = "S", default_value_t = 42)]
        seed: u64,
    },
    /// Run a cluster worker: lease slot ranges in Redis, match their events, fire through Redis
    #[command(long_about = "Run a cluster worker until killed: lease ranges of slots in Redis, load their \
        subscriptions (and the broadcast set) into a local engine, follow their changes, consume their events \
        through the consumer group, and consume what fires (or expires) atomically in Redis. A killed worker's \
        leases lapse after --lease-ms and another worker takes its ranges and pending events. \
        See the README's Cluster section.")]
    Worker {
        #[command(flatten)]
        redis: RedisArgs,
        /// How long a lease lasts without renewal (renewed every quarter of it)
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        lease_ms: u64,
        /// This worker's name in Redis (default: host name and process id)
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// Log leases taken and lost, claims and skipped events on stderr
        #[arg(long)]
        verbose: bool,
    },
    /// Talk to a cluster: register and remove subscriptions, publish events, read outcomes, stats
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

/// Where the cluster is, and (for whoever connects first) how it is laid out.
#[derive(Args, Debug)]
pub struct RedisArgs {
    /// redis://host:port/ for one server, redis+cluster://host:port,host:port for a Redis Cluster
    #[arg(long, value_name = "URL")]
    pub redis: String,
    /// Prefix of every key: the cluster's name
    #[arg(long, value_name = "NAME", default_value = "celmatch")]
    pub prefix: String,
    /// Ranges of slots (fixed by the first to connect; others must agree or leave it out)
    #[arg(long, value_name = "N")]
    pub ranges: Option<u16>,
    /// Route events of a name by the value at a path: EVENT=PATH, e.g. app/order.paid=data.orderId
    /// (repeatable). The first to connect to a cluster must give its routes and fixes them
    #[arg(long = "route", value_name = "EVENT=PATH")]
    pub routes: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Register subscriptions (NDJSON records, as `match` reads them); prints {"id","added"} per line
    Add {
        #[command(flatten)]
        redis: RedisArgs,
        /// Subscriptions, one JSON object per line; `-` reads stdin
        #[arg(long, value_name = "FILE", default_value = "-")]
        subscriptions: PathBuf,
    },
    /// Remove subscriptions by id; prints {"id","removed"} per id (false: fired, expired or unknown)
    Remove {
        #[command(flatten)]
        redis: RedisArgs,
        /// Ids to remove; `-` reads them from stdin, one per line
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
    /// Publish events (NDJSON); prints {"entry"} (the stream entry id) per line
    Publish {
        #[command(flatten)]
        redis: RedisArgs,
        /// Events, one JSON object per line; `-` reads stdin
        #[arg(long, value_name = "FILE", default_value = "-")]
        events: PathBuf,
    },
    /// Print outcomes, one JSON object per line: {"id","outcome","event","worker","record","entry"}
    Fired {
        #[command(flatten)]
        redis: RedisArgs,
        /// Resume from the cursor in FILE (if it exists) and write the new cursor there, so each
        /// run prints only what is new
        #[arg(long, value_name = "FILE")]
        cursor: Option<PathBuf>,
        /// Delete the printed outcomes from Redis afterwards (needs --cursor)
        #[arg(long, requires = "cursor")]
        trim: bool,
    },
    /// Print counts: subscriptions (and broadcast), events, pending, outcomes, workers, per range
    Stats {
        #[command(flatten)]
        redis: RedisArgs,
    },
}
