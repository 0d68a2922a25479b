//! Prometheus exposition helpers for tests: `promtool check metrics` (Debian package
//! `prometheus`; `./scripts/test` installs it as root; without promtool the check prints a note
//! and passes), reading one sample, and polling a telemetry's text until a condition holds.

use std::io::Write as _;
use std::process::{Command, Stdio};

use anyhow::{Context as _, ensure};

/// Runs `promtool check metrics` on `text`; fails with promtool's output when it rejects it.
pub fn check_metrics(text: &str) -> anyhow::Result<()> {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            println!("note: promtool not run ({e}); install Debian package `prometheus` for it");
            return Ok(());
        }
    };
    child
        .stdin
        .take()
        .context("promtool stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The value of the first sample line `name{...}` of a Prometheus exposition that contains every
/// one of `labels` (each written as in the text, e.g. `grpc_status="OK"`).
pub fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Polls `telemetry`'s Prometheus text until `ok` holds, for at most `within`; the error shows
/// `what` and the last text.
pub async fn wait_for_text(
    telemetry: &meshwork::telemetry::Telemetry,
    within: std::time::Duration,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = telemetry.prometheus_text();
        if ok(&text) {
            return Ok(text);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{what} not seen within {within:?}; metrics:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
