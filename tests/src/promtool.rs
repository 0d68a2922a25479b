//! `promtool check metrics` on a Prometheus exposition (Debian package `prometheus`;
//! `./scripts/test` installs it as root). Without promtool the check prints a note and passes.

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
