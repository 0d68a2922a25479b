//! `meshtop --demo` end to end, as a user drives it: the real binary in a detached tmux session
//! (160x48, its own tmux socket), keys sent with `send-keys`, the screen read with `capture-pane`.
//! It starts the demo mesh, attaches to every demo service's admin endpoint, sets a client-side
//! abort fault through the Faults form, watches it hit the client's calls and clears it; then sets
//! a server-side abort fault on one backend (greeter-b0), watches the demo client's error rate on
//! the fleet view rise well above its baseline, clears it, watches the rate come back, and quits.
//!
//! Skipped (with a note) when `tmux` is not installed; `scripts/test` installs it. Every wait
//! polls the screen for a condition, with a bound.

#![allow(clippy::expect_used)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Bound of the first screen (the demo starts and five admin endpoints connect).
const START_BOUND: Duration = Duration::from_secs(60);
/// Bound of every later step.
const STEP_BOUND: Duration = Duration::from_secs(20);
/// How often the screen is read while waiting.
const POLL: Duration = Duration::from_millis(100);
/// Bound of a wait for the fleet's error rate to move.
const RATE_BOUND: Duration = Duration::from_secs(15);
/// The demo client's target, the fault's scope.
const TARGET: &str = "xds:///greeter:50051";
/// Every method the greeter backends serve, the server-side fault's scope.
const SERVED: &str = "helloworld.Greeter/*";
/// How far (in percentage points) a backend failing every attempt must raise the client's err%
/// above its baseline: greeter-b0 gets about a third of the client's attempts.
const RISE: f64 = 10.0;
/// How close (in percentage points) to the baseline the client's err% must come back once the
/// fault is cleared (greeter-b2 fails ~10% of its share on its own, so the rate is noisy).
const NEAR: f64 = 5.0;

/// A tmux server on its own socket, killed when the test ends whatever happened.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "meshtop"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success(), "send-keys {keys:?}");
    }

    fn text(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", "meshtop", "-l", text]);
        assert!(out.status.success(), "send-keys -l {text}");
    }

    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "meshtop"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "meshtop"]).status.success()
    }

    /// Polls the screen until `done` holds; panics with the last screen after `bound`.
    async fn wait(&self, what: &str, bound: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {bound:?} for {what}; last screen:\n{screen}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The `injected/matched` counts of the fault rule row on the Faults view.
fn rule_hits(screen: &str) -> Option<(u64, u64)> {
    let row = screen
        .lines()
        .find(|l| l.contains("#1") && l.contains("abort UNAVAILABLE"))?;
    row.split_whitespace().find_map(|word| {
        let (a, b) = word.split_once('/')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    })
}

/// The `Flt` column (active fault rules) of the fleet row of `service`.
fn fleet_faults(screen: &str, service: &str) -> Option<u64> {
    let row = screen
        .lines()
        .find(|l| l.contains(service) && l.contains("127.0.0.1"))?;
    row.split_whitespace()
        .rfind(|w| *w != "│")?
        .trim_matches('│')
        .parse()
        .ok()
}

/// The `req/s` and `err%` columns of the fleet row of `service` (5th and 4th cells from the end).
fn fleet_rate(screen: &str, service: &str) -> Option<(f64, f64)> {
    let row = screen
        .lines()
        .find(|l| l.contains(service) && l.contains("127.0.0.1"))?;
    let cells: Vec<&str> = row
        .split_whitespace()
        .map(|w| w.trim_matches('│'))
        .filter(|w| !w.is_empty())
        .collect();
    let from_end = |k: usize| cells.len().checked_sub(k).and_then(|i| cells.get(i));
    Some((from_end(5)?.parse().ok()?, from_end(4)?.parse().ok()?))
}

/// The demo client's `err%` on the fleet view, once its traffic reaches the backends.
fn client_err(screen: &str) -> Option<f64> {
    fleet_rate(screen, "demo-client")
        .filter(|(rps, _)| *rps >= 20.0)
        .map(|(_, err)| err)
}

#[tokio::test]
async fn meshtop_demo_shows_the_fleet_injects_and_clears_faults_and_quits_on_q() {
    if !Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!(
            "note: tmux not found; skipping the meshtop --demo tmux test (scripts/test installs it)"
        );
        return;
    }
    let tmux = Tmux {
        socket: format!("meshtop-e2e-{}", std::process::id()),
    };
    let command = format!(
        "env -u MESHTOP_ENDPOINTS -u MESHTOP_TOKEN {} --demo",
        env!("CARGO_BIN_EXE_meshtop")
    );
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "meshtop",
        "-x",
        "160",
        "-y",
        "48",
        &command,
    ]);
    assert!(started.status.success(), "tmux new-session: {started:?}");

    // The fleet: the demo client and its four greeter backends, all connected.
    tmux.wait("the demo services on the fleet view", START_BOUND, |s| {
        [
            "demo-client",
            "greeter-b0",
            "greeter-b1",
            "greeter-b2",
            "greeter-canary",
        ]
        .iter()
        .all(|name| s.contains(name))
            && s.contains("5/5 up")
    })
    .await;

    // Faults view of the demo client (the first service): abort every call to the target.
    tmux.keys(&["4"]);
    tmux.wait("the client's Faults view", STEP_BOUND, |s| {
        s.contains("faults of demo-client") && s.contains("no fault rules")
    })
    .await;
    tmux.keys(&["n"]);
    tmux.wait("the fault form", STEP_BOUND, |s| {
        s.contains("new fault rule")
    })
    .await;
    tmux.keys(&["Tab"]);
    tmux.text(TARGET);
    tmux.keys(&["Tab", "Tab"]);
    tmux.text("UNAVAILABLE");
    tmux.keys(&["Enter"]);
    tmux.wait("the rule to be set", STEP_BOUND, |s| {
        s.contains("fault #1 set") && s.contains(&format!("client target {TARGET}"))
    })
    .await;

    // The client's calls hit it: refreshed counts rise, every matched call is aborted.
    let first = rule_hits(&tmux.screen()).map_or(0, |(injected, _)| injected);
    let screen = tmux
        .wait("the rule's hit count to rise", STEP_BOUND, |s| {
            tmux.keys(&["r"]);
            rule_hits(s).is_some_and(|(injected, matched)| injected > first && injected == matched)
        })
        .await;
    assert!(screen.contains("1/64 (ttl ≤ 24h)"), "{screen}");
    tmux.keys(&["1"]);
    tmux.wait("the fleet to count the client's rule", STEP_BOUND, |s| {
        fleet_faults(s, "demo-client") == Some(1)
    })
    .await;

    // Cleared: the rule is gone and the fleet's count is back to 0.
    tmux.keys(&["4"]);
    tmux.wait("the Faults view", STEP_BOUND, |s| rule_hits(s).is_some())
        .await;
    tmux.keys(&["d"]);
    tmux.wait("the rule to be cleared", STEP_BOUND, |s| {
        s.contains("fault #1 cleared") && s.contains("no fault rules")
    })
    .await;
    tmux.keys(&["1"]);
    tmux.wait("the fleet count back to 0", STEP_BOUND, |s| {
        fleet_faults(s, "demo-client") == Some(0)
    })
    .await;

    // The baseline: the client's err% with traffic flowing and no rule (b2 fails ~10% alone).
    let screen = tmux
        .wait("the client's traffic on the fleet", STEP_BOUND, |s| {
            client_err(s).is_some()
        })
        .await;
    let baseline = client_err(&screen).expect("the client's err%");

    // Faults view of greeter-b0 (second fleet row by name): abort everything it serves.
    tmux.keys(&["j", "Enter"]);
    tmux.wait("greeter-b0's service view", STEP_BOUND, |s| {
        s.contains("greeter-b0") && !s.contains("Fleet:")
    })
    .await;
    tmux.keys(&["4"]);
    tmux.wait("greeter-b0's Faults view", STEP_BOUND, |s| {
        s.contains("faults of greeter-b0") && s.contains("no fault rules")
    })
    .await;
    tmux.keys(&["n"]);
    tmux.wait("the fault form", STEP_BOUND, |s| {
        s.contains("new fault rule")
    })
    .await;
    tmux.keys(&["Left"]);
    tmux.wait("the server method scope", STEP_BOUND, |s| {
        s.contains("server method")
    })
    .await;
    tmux.keys(&["Tab"]);
    tmux.text(SERVED);
    tmux.keys(&["Tab", "Tab"]);
    tmux.text("UNAVAILABLE");
    tmux.keys(&["Enter"]);
    tmux.wait("the server rule to be set", STEP_BOUND, |s| {
        s.contains("fault #1 set") && s.contains(&format!("server method {SERVED}"))
    })
    .await;

    // The client's attempts to b0 fail: its err% rises well above the baseline.
    tmux.keys(&["1"]);
    let screen = tmux
        .wait("the client's err% to rise", RATE_BOUND, |s| {
            client_err(s).is_some_and(|err| err >= baseline + RISE)
        })
        .await;
    assert_eq!(fleet_faults(&screen, "greeter-b0"), Some(1), "{screen}");
    let raised = client_err(&screen).unwrap_or_default();

    // Cleared: the rule is gone and the client's err% comes back near the baseline.
    tmux.keys(&["4"]);
    tmux.wait("greeter-b0's rule on the Faults view", STEP_BOUND, |s| {
        s.contains("faults of greeter-b0") && rule_hits(s).is_some()
    })
    .await;
    tmux.keys(&["d"]);
    tmux.wait("the server rule to be cleared", STEP_BOUND, |s| {
        s.contains("fault #1 cleared") && s.contains("no fault rules")
    })
    .await;
    tmux.keys(&["1"]);
    let screen = tmux
        .wait(
            "the client's err% back near the baseline",
            RATE_BOUND,
            |s| {
                fleet_faults(s, "greeter-b0") == Some(0)
                    && client_err(s).is_some_and(|err| err <= baseline + NEAR)
            },
        )
        .await;
    eprintln!(
        "demo-client err%: baseline {baseline:.2}, with b0 aborting {raised:.2}, cleared {:.2}",
        client_err(&screen).unwrap_or_default()
    );

    // q stops the demo and meshtop; the session ends with the process.
    tmux.keys(&["q"]);
    let deadline = Instant::now() + STEP_BOUND;
    while tmux.alive() {
        assert!(
            Instant::now() < deadline,
            "meshtop still running {STEP_BOUND:?} after q; screen:\n{}",
            tmux.screen()
        );
        tokio::time::sleep(POLL).await;
    }
}
