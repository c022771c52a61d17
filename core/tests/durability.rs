//! Durable engines (`Engine::open`): what survives a reopen, `save`, bad stores, closing, and
//! the crash test: a child process performs random operations on a store and prints each
//! acknowledged result; the parent kills it with SIGKILL at random moments, reopens the store
//! and checks that every acknowledged change is there and nothing acknowledged as ended came
//! back. `CELMATCH_CRASH_KILLS` sets the number of kills (20 by default; 500 for the long run).

use celmatch::{Config, Durability, Engine, ErrorKind, ManualClock, Subscription};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_700_000_000_000;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("celmatch-durability-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config(now: i64) -> Config {
    Config { clock: Arc::new(ManualClock::new(now)), lookback_max_events: 100, ..Config::default() }
}

fn ids(engine: &Engine) -> BTreeSet<String> {
    engine.subscriptions().map(|s| s.id).collect()
}

#[test]
fn everything_acknowledged_survives_a_reopen() {
    let d = dir("reopen");
    let path = d.join("store.db");
    {
        let e = Engine::open(&path, config(T0)).unwrap();
        assert!(e.is_durable());
        let trigger = json!({"data": {"order": "o1", "unused": true}});
        e.add(Subscription::wait("w1", "app/paid").when("async.data.order == event.data.order").with_trigger(trigger.clone()).with_owner("r1").with_timeout_ms(60_000)).unwrap();
        e.add(Subscription::cancel("c1", "app/cancelled").with_owner("r1").with_not_before_ms(T0).with_exclude_event_id("e0")).unwrap();
        e.add_many((0..100).map(|i| Subscription::wait(format!("b{i}"), "app/batch").when(format!("async.data.n == {i}")).with_owner(format!("r{}", i % 7))).collect());
        assert!(e.claim("cart", "c-1", 3_600_000, None).unwrap());
        assert_eq!(e.process(&json!({"name": "app/batch", "data": {"n": 5}})).unwrap().len(), 1);
        assert!(e.remove("b6").unwrap());
        assert_eq!(e.remove_owner("r3").unwrap(), 14);
        e.process(&json!({"name": "app/other", "id": "x1", "ts": T0, "data": {}})).unwrap();
        assert_eq!(e.integrity_check().unwrap().unwrap(), "ok");
    }
    let e = Engine::open(&path, config(T0 + 1000)).unwrap();
    let got = ids(&e);
    assert!(got.contains("w1") && got.contains("c1"));
    assert!(!got.contains("b5") && !got.contains("b6") && !got.contains("b3") && !got.contains("b10"));
    assert_eq!(got.len(), 2 + 100 - 1 - 1 - 14);
    let w1 = e.get("w1").unwrap();
    assert_eq!(w1.condition.as_deref(), Some("async.data.order == event.data.order"), "the condition as registered");
    assert_eq!(w1.trigger, Some(json!({"data": {"order": "o1"}})), "the trigger fields the condition reads");
    assert_eq!(w1.deadline_ms, Some(T0 + 60_000));
    // The same add again (timeout and all) is still a no-op after the restart.
    let again = Subscription::wait("w1", "app/paid").when("async.data.order == event.data.order").with_trigger(json!({"data": {"order": "o1", "unused": true}})).with_owner("r1").with_timeout_ms(60_000);
    assert_eq!(e.add(again).unwrap(), None);
    assert!(!e.claim("cart", "c-1", 3_600_000, None).unwrap(), "the claim holds across the restart");
    // Registration order survives: b0 before b1 before …
    let fired = e.process(&json!({"name": "app/batch", "data": {"n": 1}})).unwrap();
    assert_eq!(fired[0].id, "b1");
    // The lookback buffer came back: a wait with lookback sees the event from before.
    let late = Subscription::wait("late", "app/other").with_lookback_ms(60_000);
    assert_eq!(e.add(late).unwrap().map(|f| f.id), Some("late".to_string()));
    assert_eq!(e.process(&json!({"name": "app/paid", "data": {"order": "o1"}})).unwrap()[0].id, "w1");
    assert_eq!(e.expire(Some(T0 + 10_000_000)).unwrap(), Vec::<String>::new());
    e.validate().unwrap();
}

#[test]
fn save_writes_the_same_format_atomically() {
    let d = dir("save");
    let e = Engine::new(config(T0));
    for i in 0..50 {
        e.add(Subscription::wait(format!("w{i}"), "app/e").when(format!("async.data.k == event.data.k && async.data.s == \"x{i}\"")).with_trigger(json!({"data": {"k": i}})).with_owner("run")).unwrap();
    }
    e.claim("s", "k", 1_000_000, None).unwrap();
    let path = d.join("saved.db");
    std::fs::write(&path, b"an older file that the rename replaces").unwrap();
    e.save(&path).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&d).unwrap().map(|f| f.unwrap().file_name()).filter(|n| n.to_string_lossy().contains("tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let back = Engine::open(&path, config(T0)).unwrap();
    assert_eq!(ids(&back), ids(&e));
    assert!(!back.claim("s", "k", 1_000_000, None).unwrap());
    for i in [0, 17, 49] {
        let event = json!({"name": "app/e", "data": {"k": i, "s": format!("x{i}")}});
        assert_eq!(back.process(&event).unwrap()[0].id, format!("w{i}"));
    }
    assert_eq!(back.subscriptions_of("run").len(), 47);
}

#[test]
fn bad_stores_are_typed_errors() {
    let d = dir("bad");
    let kind = |p: &Path| Engine::open(p, Config::default()).err().map(|e| e.kind());
    let garbage = d.join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 10_000]).unwrap();
    assert_eq!(kind(&garbage), Some(ErrorKind::CorruptStore));
    // A real store cut short.
    let good = d.join("good.db");
    {
        let e = Engine::open(&good, Config::default()).unwrap();
        e.add_many((0..2000).map(|i| Subscription::wait(format!("w{i}"), "e").when(format!("async.data.id == \"{i:0>40}\""))).collect());
        e.close().unwrap();
    }
    let bytes = std::fs::read(&good).unwrap();
    let cut = d.join("cut.db");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    assert!(matches!(kind(&cut), Some(ErrorKind::CorruptStore)), "{:?}", kind(&cut));
    // A SQLite file that is not ours, and one from a newer schema.
    let foreign = d.join("foreign.db");
    rusqlite::Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
    assert_eq!(kind(&foreign), Some(ErrorKind::IncompatibleStore));
    let newer = d.join("newer.db");
    std::fs::copy(&good, &newer).unwrap();
    rusqlite::Connection::open(&newer).unwrap().execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'", []).unwrap();
    let e = Engine::open(&newer, Config::default()).err().unwrap();
    assert_eq!(e.code(), "incompatible_store");
    assert!(e.message().contains("newer"), "{}", e.message());
    // A path that cannot be created.
    assert_eq!(kind(&d.join("no/such/dir/store.db")), Some(ErrorKind::IoError));
    // Two engines on one store: the second is refused until the first closes.
    let first = Engine::open(&good, Config::default()).unwrap();
    assert_eq!(kind(&good), Some(ErrorKind::StoreLocked));
    first.close().unwrap();
    assert_eq!(first.add(Subscription::wait("x", "e")).unwrap_err().code(), "engine_closed");
    assert_eq!(first.process(&json!({"name": "e"})).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(first.remove("w1").unwrap_err().kind(), ErrorKind::Closed);
    let second = Engine::open(&good, Config { durability: Durability::Power, ..Config::default() }).unwrap();
    assert_eq!(second.len(), 2000);
}

// ---------------------------------------------------------------------------------------------
// The crash test.

/// The child: random operations on the store. Before each call it prints what it is about
/// to do (`do …`), after it each acknowledged result and `done`: at most the last operation
/// is in flight when the kill comes. Run by `killed_at_random_moments_loses_nothing_acknowledged`,
/// never on its own.
#[test]
#[ignore]
fn crash_child() {
    let Ok(path) = std::env::var("CELMATCH_CRASH_STORE") else { return };
    let round: u64 = std::env::var("CELMATCH_CRASH_ROUND").unwrap().parse().unwrap();
    let mut now = T0 + round as i64 * 1_000_000_000;
    let engine = Engine::open(&path, config(now)).unwrap();
    let mut rng = SmallRng::seed_from_u64(round);
    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        writeln!(o, "{line}").unwrap();
        o.flush().unwrap();
    };
    let mut added: Vec<u64> = Vec::new();
    for i in 0u64.. {
        now += 10;
        let id = |n: u64| format!("r{round}-{n}");
        match rng.gen_range(0..100) {
            0..=44 => {
                let owner = format!("o{round}-{}", i % 16);
                let kind = if i % 5 == 0 { Subscription::cancel(id(i), "app/e") } else { Subscription::wait(id(i), "app/e") };
                let mut s = kind.when(format!("async.data.k == {i}")).with_owner(&owner);
                let deadline = if i % 3 == 0 { now + rng.gen_range(0..3000) } else { i64::MAX };
                if deadline != i64::MAX {
                    s = s.with_deadline_ms(deadline);
                }
                say("do add".into());
                if rng.gen_bool(0.2) {
                    let batch: Vec<Subscription> = (0..8).map(|j| Subscription::wait(format!("{}-{j}", id(i)), "app/b").when(format!("async.data.j == {j}")).with_owner(&owner)).collect();
                    for (j, r) in engine.add_many(batch).into_iter().enumerate() {
                        r.unwrap();
                        say(format!("add {}-{j} {owner} {}", id(i), i64::MAX));
                    }
                }
                engine.add(s).unwrap();
                added.push(i);
                say(format!("add {} {owner} {deadline}", id(i)));
            }
            45..=69 if !added.is_empty() => {
                let k = added[rng.gen_range(0..added.len())];
                // Fires every pending `k == K` wait, of any round.
                say(format!("do process {k}"));
                for f in engine.process(&json!({"name": "app/e", "data": {"k": k}})).unwrap() {
                    say(format!("end {}", f.id));
                }
            }
            70..=79 if !added.is_empty() => {
                let k = added[rng.gen_range(0..added.len())];
                say(format!("do end {}", id(k)));
                if engine.remove(&id(k)).unwrap() {
                    say(format!("end {}", id(k)));
                }
            }
            80..=84 => {
                let owner = format!("o{round}-{}", rng.gen_range(0..16));
                say(format!("do owner {owner}"));
                let n = engine.remove_owner(&owner).unwrap();
                say(format!("owner {owner} {n}"));
            }
            85..=92 => {
                say(format!("do expire {now}"));
                for x in engine.expire(Some(now)).unwrap() {
                    say(format!("end {x}"));
                }
            }
            _ => {
                let key = format!("k{round}-{i}");
                say("do claim".into());
                assert!(engine.claim("crash", &key, 1_000_000_000_000, Some(now)).unwrap());
                say(format!("claim {key}"));
            }
        }
        say("done".into());
    }
}

#[test]
fn killed_at_random_moments_loses_nothing_acknowledged() {
    let kills: u64 = std::env::var("CELMATCH_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let d = dir("crash");
    let path = d.join("crash.db");
    let mut rng = SmallRng::seed_from_u64(99);
    // What the child acknowledged: pending ids (owner, deadline), ids that ended, claims.
    let mut pending: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let mut ended: BTreeSet<String> = BTreeSet::new();
    let mut claims: BTreeSet<String> = BTreeSet::new();
    let (mut acks, mut in_flight_seen, mut in_flight_ends) = (0usize, 0usize, 0usize);
    for round in 0..kills {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads", "1"])
            .env("CELMATCH_CRASH_STORE", &path)
            .env("CELMATCH_CRASH_ROUND", round.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>());
        // Kill at a random moment after the child has started working.
        std::thread::sleep(Duration::from_millis(rng.gen_range(30..300)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        // The operation in flight at the kill: the last `do` with no `done` after it.
        let mut in_flight: Option<&str> = None;
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts[..] {
                ["do", ..] => in_flight = Some(line),
                ["done"] => in_flight = None,
                ["add", id, owner, deadline] => {
                    pending.insert(id.into(), (owner.into(), deadline.parse().unwrap()));
                }
                ["end", id] => {
                    pending.remove(id);
                    ended.insert(id.into());
                }
                ["owner", owner, _] => pending.retain(|id, (o, _)| {
                    if o == owner {
                        ended.insert(id.clone());
                    }
                    o != owner
                }),
                ["claim", key] => {
                    claims.insert(key.into());
                }
                _ => {} // a line cut by the kill
            }
        }
        // What the operation in flight may have ended (committed, but not acknowledged).
        let may_have_ended = |id: &str, owner: &str, deadline: i64| match in_flight.map(|l| l.split(' ').collect::<Vec<_>>()).as_deref() {
            Some(["do", "end", x]) => *x == id,
            // `r<round>-<k>` (not a batch's `r<round>-<k>-<j>`) fires for k.
            Some(["do", "process", k]) => id.split('-').collect::<Vec<_>>()[..] == [id.split('-').next().unwrap_or(""), k],
            Some(["do", "owner", o]) => *o == owner,
            Some(["do", "expire", t]) => deadline <= t.parse::<i64>().unwrap(),
            _ => false,
        };
        acks += lines.len();
        let e = Engine::open(&path, config(T0 + (round as i64 + 1) * 1_000_000_000 - 1)).unwrap();
        assert_eq!(e.integrity_check().unwrap().unwrap(), "ok", "round {round}");
        let present = ids(&e);
        for (id, (owner, deadline)) in &pending.clone() {
            if present.contains(id) {
                continue;
            }
            if may_have_ended(id, owner, *deadline) {
                in_flight_ends += 1;
                pending.remove(id);
                ended.insert(id.clone());
                continue;
            }
            let story: Vec<&String> = lines.iter().filter(|l| l.contains(id.as_str()) || l.contains(&format!("{owner} "))).collect();
            panic!("round {round}: acknowledged {id} is lost; its acknowledgments: {story:?}; in flight: {in_flight:?}");
        }
        for id in &ended {
            assert!(!present.contains(id), "round {round}: {id} ended (acknowledged) but came back");
        }
        for key in &claims {
            assert!(!e.claim("crash", key, 1, None).unwrap(), "round {round}: acknowledged claim {key} does not hold");
        }
        e.validate().unwrap();
        // What was in flight when the child died (added but not acknowledged) is allowed to
        // be there; from now on it is pending like the rest.
        for s in e.subscriptions() {
            if let std::collections::btree_map::Entry::Vacant(v) = pending.entry(s.id) {
                in_flight_seen += 1;
                v.insert((s.owner.unwrap_or_default(), s.deadline_ms.unwrap_or(i64::MAX)));
            }
        }
        e.close().unwrap();
    }
    eprintln!(
        "crash: {kills} kills, {acks} acknowledged lines, {} pending and {} ended checked, {} claims; in flight at a kill: {in_flight_seen} adds found committed, {in_flight_ends} ends found committed; 0 lost, 0 duplicated",
        pending.len(),
        ended.len(),
        claims.len()
    );
    assert!(acks > kills as usize * 5, "the child did too little before being killed ({acks} acknowledgments)");
}

#[test]
fn what_the_rows_mean_is_checked_and_kept() {
    let d = dir("meaning");
    let path = d.join("store.db");
    {
        let e = Engine::open(&path, Config { dialect: celmatch::Dialect::Lenient, ..config(T0) }).unwrap();
        e.add(Subscription::wait("w", "app/e").when("async.data.x == null")).unwrap();
        // An event with no time is buffered with its arrival time, which is kept.
        e.process(&json!({"name": "app/late", "data": {}})).unwrap();
        // Saving over its own open store would leave it writing to an unlinked file.
        assert_eq!(e.save(&path).unwrap_err().kind(), ErrorKind::IoError);
    }
    // Another dialect would compile the stored conditions differently: refused.
    let e = Engine::open(&path, config(T0)).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::IncompatibleStore);
    assert!(e.message().contains("dialect"), "{}", e.message());
    // Opened with lookback off, the buffered events stay in the store…
    let off = Config { dialect: celmatch::Dialect::Lenient, lookback_max_events: 0, ..config(T0) };
    Engine::open(&path, off).unwrap().close().unwrap();
    // …and come back, with their time: 4 minutes later they are 4 minutes old, so a wait
    // looking back 3 minutes does not see them and one looking back 5 does.
    let later = Engine::open(&path, Config { dialect: celmatch::Dialect::Lenient, ..config(T0 + 240_000) }).unwrap();
    assert_eq!(later.add(Subscription::wait("l3", "app/late").with_lookback_ms(180_000)).unwrap(), None);
    assert_eq!(later.add(Subscription::wait("l5", "app/late").with_lookback_ms(300_000)).unwrap().map(|f| f.id), Some("l5".into()));
    assert_eq!(later.process(&json!({"name": "app/e", "data": {}})).unwrap()[0].id, "w", "lenient: missing == null");
}
