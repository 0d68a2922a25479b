//! The example binaries run as real processes: `greeter-server` serves `greeter-client` (static
//! endpoints through a Meshwork channel) and stops cleanly on Ctrl-C (SIGINT); `meshwork-demo`
//! serves traffic for a bounded run and exits 0, and also stops cleanly on SIGINT. Every wait is
//! bounded; children are killed if a test fails.

// Test helpers: a failed spawn or wait is a test failure, reported by the panic message.
#![allow(clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(30);

/// Kills the child when dropped (a failed assertion must not leak a process).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of the child's stdout, read on a thread so waits can be bounded.
fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("stdout piped");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) for a stdout line containing `needle`; returns it.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + BOUND;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no line containing {needle:?} within {BOUND:?}; saw: {seen:#?}");
}

fn sigint(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT failed: {status}");
}

/// Waits (bounded) for the child to exit.
fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process did not exit within {BOUND:?}"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

#[test]
fn greeter_server_serves_the_client_and_stops_cleanly_on_ctrl_c() {
    let mut server = Guard(
        Command::new(env!("CARGO_BIN_EXE_greeter-server"))
            .args(["--listen", "127.0.0.1:0", "--name", "b0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start greeter-server"),
    );
    let lines = stdout_lines(&mut server.0);
    let ready = wait_line(&lines, "listening on");
    let addr = ready.rsplit(' ').next().expect("address").to_string();

    let client = Command::new(env!("CARGO_BIN_EXE_greeter-client"))
        .args(["--endpoints", &addr, "--count", "3", "--name", "test"])
        .output()
        .expect("run greeter-client");
    let stdout = String::from_utf8_lossy(&client.stdout);
    assert!(client.status.success(), "client failed: {stdout}");
    assert_eq!(stdout.matches("from b0").count(), 3, "{stdout}");
    assert!(stdout.contains("failed: 0"), "{stdout}");

    sigint(&server.0);
    let status = wait_exit(&mut server.0);
    assert!(status.success(), "greeter-server exited with {status}");
}

#[test]
fn the_demo_serves_traffic_and_exits_zero_after_its_duration() {
    let mut demo = Guard(
        Command::new(env!("CARGO_BIN_EXE_meshwork-demo"))
            .args(["--duration", "3s", "--seed", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start meshwork-demo"),
    );
    let lines = stdout_lines(&mut demo.0);
    let tick = wait_line(&lines, "t=");
    for backend in ["b0", "b1", "b2"] {
        assert!(tick.contains(backend), "live line lacks {backend}: {tick}");
    }
    let summary = wait_line(&lines, "client");
    assert!(summary.contains("ok"), "{summary}");
    let status = wait_exit(&mut demo.0);
    assert!(status.success(), "meshwork-demo exited with {status}");
}

#[test]
fn the_demo_stops_cleanly_on_ctrl_c() {
    let mut demo = Guard(
        Command::new(env!("CARGO_BIN_EXE_meshwork-demo"))
            .args(["--seed", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start meshwork-demo"),
    );
    let lines = stdout_lines(&mut demo.0);
    wait_line(&lines, "t=");
    sigint(&demo.0);
    let status = wait_exit(&mut demo.0);
    assert!(
        status.success(),
        "meshwork-demo exited with {status} after SIGINT"
    );
}
