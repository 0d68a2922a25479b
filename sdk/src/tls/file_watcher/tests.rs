//! `file_watcher` config validation, load errors that name the file, and reloads on the
//! refresh interval (paused tokio time) that keep the last good material when a reload fails.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;

use super::*;

fn temp_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "meshwork-file-watcher-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A self-signed certificate for `name` and its key, as PEM.
fn minted(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    (cert.pem(), key.serialize_pem())
}

fn config(dir: &std::path::Path, refresh: Duration) -> FileWatcherConfig {
    FileWatcherConfig {
        certificate_file: Some(dir.join("cert.pem")),
        private_key_file: Some(dir.join("key.pem")),
        ca_certificate_file: Some(dir.join("ca.pem")),
        refresh_interval: refresh,
    }
}

fn write_identity(dir: &std::path::Path, name: &str) -> String {
    let (cert, key) = minted(name);
    std::fs::write(dir.join("cert.pem"), &cert).expect("write");
    std::fs::write(dir.join("key.pem"), key).expect("write");
    std::fs::write(dir.join("ca.pem"), &cert).expect("write");
    cert
}

#[test]
fn config_defaults_and_validation() {
    let parsed =
        FileWatcherConfig::from_json(&json!({"ca_certificate_file": "/ca.pem"})).expect("valid");
    assert_eq!(parsed.refresh_interval, DEFAULT_REFRESH_INTERVAL);
    assert_eq!(parsed.certificate_file, None);
    let parsed = FileWatcherConfig::from_json(&json!({
        "certificate_file": "/c.pem", "private_key_file": "/k.pem", "refresh_interval": "1.5s"
    }))
    .expect("valid");
    assert_eq!(parsed.refresh_interval, Duration::from_millis(1500));
    let cases = [
        (
            json!({"certificate_file": "/c.pem"}),
            "without `private_key_file`",
        ),
        (
            json!({"private_key_file": "/k.pem", "ca_certificate_file": "/ca"}),
            "without `certificate_file`",
        ),
        (json!({}), "set at least one"),
        (
            json!({"ca_certificate_file": 7}),
            "`ca_certificate_file` must be a non-empty file path",
        ),
        (
            json!({"ca_certificate_file": "/ca", "refresh_interval": "0s"}),
            "positive JSON duration",
        ),
        (
            json!({"ca_certificate_file": "/ca", "refresh_interval": "10m"}),
            "positive JSON duration",
        ),
        (json!("file"), "expected a JSON object"),
    ];
    for (config, expected) in cases {
        let error = FileWatcherConfig::from_json(&config).expect_err("invalid");
        assert!(error.contains(expected), "{config}: {error}");
    }
}

#[tokio::test]
async fn load_errors_name_the_instance_and_file() {
    let dir = temp_dir();
    let missing = load("default", &config(&dir, DEFAULT_REFRESH_INTERVAL))
        .await
        .expect_err("no files");
    let text = missing.to_string();
    assert!(text.contains("instance `default`"), "{text}");
    assert!(text.contains("ca_certificate_file"), "{text}");
    assert!(
        text.contains(&dir.join("ca.pem").display().to_string()),
        "{text}"
    );
    assert!(text.contains("check the path"), "{text}");

    write_identity(&dir, "client.test");
    std::fs::write(dir.join("key.pem"), "not a key").expect("write");
    let text = load("default", &config(&dir, DEFAULT_REFRESH_INTERVAL))
        .await
        .expect_err("bad key")
        .to_string();
    assert!(text.contains("private_key_file"), "{text}");
    assert!(text.contains("PRIVATE KEY"), "{text}");

    std::fs::write(dir.join("ca.pem"), "-----BEGIN NOTHING-----\n").expect("write");
    let text = load("default", &config(&dir, DEFAULT_REFRESH_INTERVAL))
        .await
        .expect_err("bad ca")
        .to_string();
    assert!(text.contains("ca_certificate_file"), "{text}");
    assert!(text.contains("BEGIN CERTIFICATE"), "{text}");
}

#[tokio::test]
async fn loads_roots_and_identity() {
    let dir = temp_dir();
    write_identity(&dir, "client.test");
    let material = load("default", &config(&dir, DEFAULT_REFRESH_INTERVAL))
        .await
        .expect("loads");
    assert_eq!(material.roots.as_ref().map(|r| r.len()), Some(1));
    assert_eq!(material.identity.as_ref().map(|i| i.chain.len()), Some(1));
}

#[tokio::test(start_paused = true)]
async fn reloads_on_the_interval_and_keeps_the_last_good_files() {
    let dir = temp_dir();
    let first = write_identity(&dir, "first.test");
    let refresh = Duration::from_secs(60);
    let watcher = FileWatcher::start("default", config(&dir, refresh));
    let chain = |m: &Material| m.identity.as_ref().map(|i| i.chain[0].to_vec());
    let der = |pem: &str| {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .expect("pem")
            .to_vec()
    };
    assert_eq!(
        chain(&watcher.current().await.expect("first load")),
        Some(der(&first))
    );

    let second = write_identity(&dir, "second.test");
    tokio::time::sleep(refresh / 2).await;
    assert_eq!(
        chain(&watcher.current().await.expect("loaded")),
        Some(der(&first)),
        "files are not read again before the interval"
    );
    tokio::time::sleep(refresh).await;
    assert_eq!(
        chain(&watcher.current().await.expect("reloaded")),
        Some(der(&second))
    );

    std::fs::remove_file(dir.join("cert.pem")).expect("remove");
    tokio::time::sleep(refresh * 2).await;
    assert_eq!(
        chain(&watcher.current().await.expect("last good kept")),
        Some(der(&second))
    );
}
