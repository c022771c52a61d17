//! `celmatch worker` and `celmatch cluster …` against a redis-server of their own.

use serde_json::Value as Json;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_celmatch");

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cluster(url: &str, args: &[&str], stdin: &str) -> (i32, Vec<Json>, String) {
    let mut child = Command::new(BIN)
        .arg("cluster")
        .args(args)
        .args(["--redis", url, "--prefix", "cli", "--route", "order.paid=data.orderId"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out.status.code().unwrap(), lines, String::from_utf8(out.stderr).unwrap())
}

#[test]
fn add_publish_work_and_read_outcomes_with_a_cursor() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _redis = Kill(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (tests/setup.sh installs it)"),
    );
    let url = format!("redis://127.0.0.1:{port}/");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let subs = r#"{"id":"w1","event":"order.paid","if":"async.data.orderId == 'o1'","owner":"r1"}
{"id":"w2","event":"order.paid","if":"async.data.orderId == 'o2'"}
{"id":"bad","event":"order.paid","if":"async.data.orderId =="}
"#;
    let (code, lines, stderr) = cluster(&url, &["add"], subs);
    assert_eq!(code, 2, "a bad line is skipped: {stderr}");
    assert_eq!(lines.len(), 2);
    assert!(stderr.contains("line 3: parse_error"), "{stderr}");
    let (code, lines, _) = cluster(&url, &["remove", "w2", "nope"], "");
    assert_eq!((code, lines[0]["removed"].as_bool(), lines[1]["removed"].as_bool()), (0, Some(true), Some(false)));
    let (code, lines, _) = cluster(&url, &["publish"], "{\"name\":\"order.paid\",\"id\":\"e1\",\"data\":{\"orderId\":\"o1\"}}\n");
    assert_eq!((code, lines.len()), (0, 1));
    let _worker = Kill(Command::new(BIN).args(["worker", "--redis", &url, "--prefix", "cli", "--lease-ms", "500"]).stderr(Stdio::null()).spawn().unwrap());
    let dir = std::env::temp_dir().join(format!("celmatch-cli-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cursor = dir.join("cursor");
    let cursor = cursor.to_str().unwrap();
    let t = Instant::now();
    let first = loop {
        let (code, lines, stderr) = cluster(&url, &["fired", "--cursor", cursor], "");
        assert_eq!(code, 0, "{stderr}");
        if !lines.is_empty() {
            break lines;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "nothing fired");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!((first.len(), first[0]["id"].as_str(), first[0]["event"].as_str()), (1, Some("w1"), Some("e1")));
    // The cursor moved on: nothing new; then trimmed, the outcome is gone from Redis.
    assert!(cluster(&url, &["fired", "--cursor", cursor], "").1.is_empty());
    assert_eq!(cluster(&url, &["fired"], "").1.len(), 1);
    assert!(cluster(&url, &["fired", "--cursor", cursor, "--trim"], "").1.is_empty());
    assert!(cluster(&url, &["fired"], "").1.is_empty());
    let (code, lines, _) = cluster(&url, &["stats"], "");
    assert_eq!((code, lines[0]["subscriptions"].as_i64(), lines[0]["outcomes"].as_i64()), (0, Some(0), Some(0)));
    std::fs::write(cursor, "garbage").unwrap();
    let (code, _, stderr) = cluster(&url, &["fired", "--cursor", cursor], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("invalid_argument"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
