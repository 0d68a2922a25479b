//! Hot reload of a mesh file: poll its modification time and content, and when the content
//! changes, parse it; a good file replaces the served mesh, a bad one is reported and the last
//! good mesh keeps being served.
//!
//! Polling (every [`POLL_INTERVAL`]) avoids a file-notification dependency and works on every
//! filesystem. [`FileWatcher::poll`] is the testable core; [`watch_file`] is the loop around it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::mesh::{Mesh, MeshError};
use super::server::ServerHandle;

/// How often [`watch_file`] looks at the file.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What a poll found.
#[derive(Debug)]
pub enum Change {
    /// The content changed and parses: serve it.
    Mesh(Box<Mesh>),
    /// The content changed but is invalid (or unreadable): keep serving the previous mesh.
    Rejected(MeshError),
}

/// Remembers the last content seen for one file.
#[derive(Debug)]
pub struct FileWatcher {
    path: PathBuf,
    modified: Option<SystemTime>,
    content: Option<String>,
}

impl FileWatcher {
    /// Watches `path`, treating `initial` as the content already served.
    pub fn new(path: &Path, initial: Option<String>) -> FileWatcher {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        FileWatcher {
            path: path.to_path_buf(),
            modified,
            content: initial,
        }
    }

    /// Checks the file once. `None`: nothing new (same mtime, or same content).
    pub async fn poll(&mut self) -> Option<Change> {
        let modified = tokio::fs::metadata(&self.path)
            .await
            .and_then(|m| m.modified())
            .ok();
        if modified.is_some() && modified == self.modified {
            return None;
        }
        self.modified = modified;
        let text = match tokio::fs::read_to_string(&self.path).await {
            Ok(text) => text,
            Err(source) => {
                let err = MeshError::Read {
                    path: self.path.clone(),
                    source,
                };
                return Some(Change::Rejected(err));
            }
        };
        if self.content.as_deref() == Some(text.as_str()) {
            return None;
        }
        self.content = Some(text.clone());
        let format = super::mesh::Format::detect(Some(&self.path), &text);
        Some(
            match Mesh::parse(&text, format, &self.path.display().to_string()) {
                Ok(mesh) => Change::Mesh(Box::new(mesh)),
                Err(e) => Change::Rejected(e),
            },
        )
    }
}

/// Polls `watcher` forever, applying good meshes to `server` and logging rejected ones.
/// Ends only when the surrounding task is dropped.
pub async fn watch_file(mut watcher: FileWatcher, server: &ServerHandle) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match watcher.poll().await {
            None => {}
            Some(Change::Mesh(mesh)) => match server.set_mesh(&mesh) {
                Ok(version) => {
                    tracing::info!(file = %watcher.path.display(), version, "mesh reloaded")
                }
                Err(e) => tracing::error!(file = %watcher.path.display(), "{e}"),
            },
            Some(Change::Rejected(e)) => {
                tracing::error!("{e}\nkeeping the last good mesh");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "services:\n  - host: a\n    port: 1\n    cluster: c\nclusters:\n  - name: c\n";

    #[tokio::test]
    async fn reports_changes_once_and_rejects_bad_content() {
        let dir = std::env::temp_dir().join(format!("meshwork-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mesh.yaml");
        std::fs::write(&path, GOOD).unwrap();
        let mut watcher = FileWatcher::new(&path, Some(GOOD.to_owned()));
        assert!(
            watcher.poll().await.is_none(),
            "unchanged file must not reload"
        );

        let changed = GOOD.replace("port: 1", "port: 2");
        std::fs::write(&path, &changed).unwrap();
        // Force a different mtime even on coarse-grained filesystems.
        watcher.modified = None;
        match watcher.poll().await {
            Some(Change::Mesh(mesh)) => assert_eq!(mesh.services[0].port, 2),
            other => panic!("expected a new mesh, got {other:?}"),
        }

        std::fs::write(&path, "services:\n  - host: a\n    prot: 1\n").unwrap();
        watcher.modified = None;
        match watcher.poll().await {
            Some(Change::Rejected(e)) => {
                let text = e.to_string();
                assert!(text.contains("mesh.yaml:3"), "{text}");
                assert!(text.contains("prot"), "{text}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(
            watcher.poll().await.is_none(),
            "same bad content is reported once"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
