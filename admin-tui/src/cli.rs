//! Command-line arguments: admin endpoints from arguments, `--endpoints-file` or
//! `MESHTOP_ENDPOINTS`; a token from `--token-file` or `MESHTOP_TOKEN`; `--demo`. Bad input is
//! named in the error (which argument, which line, what was expected).
//!
//! Parsing and checking only; the environment is read by `main` and passed in, so this is pure.

use std::path::PathBuf;

use clap::Parser;
use thiserror::Error;

/// meshtop: watch and steer Meshwork services through their admin endpoints.
#[derive(Debug, Clone, Parser, PartialEq)]
#[command(name = "meshtop", version, about)]
pub struct Cli {
    /// Admin endpoints, `host:port` (e.g. 10.0.0.5:9901). Default: MESHTOP_ENDPOINTS
    /// (comma- or space-separated).
    pub endpoints: Vec<String>,
    /// A file of admin endpoints, one `host:port` per line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub endpoints_file: Option<PathBuf>,
    /// A file holding the admin bearer token. Default: MESHTOP_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Start the embedded demo mesh and open on it.
    #[arg(long)]
    pub demo: bool,
}

/// What meshtop runs with, once arguments, files and environment are merged and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Admin endpoints, `host:port`, in order, without duplicates.
    pub endpoints: Vec<String>,
    /// The bearer token.
    pub token: Option<String>,
    /// Whether to start the demo mesh.
    pub demo: bool,
}

/// The environment variables meshtop reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Env {
    /// `MESHTOP_ENDPOINTS`.
    pub endpoints: Option<String>,
    /// `MESHTOP_TOKEN`.
    pub token: Option<String>,
}

/// Bad arguments.
#[derive(Debug, Error, PartialEq)]
pub enum CliError {
    /// An endpoint is not `host:port`.
    #[error(
        "endpoint `{value}` from {source_name}: expected host:port with a port 1-65535 (e.g. 10.0.0.5:9901)"
    )]
    BadEndpoint {
        /// The text.
        value: String,
        /// Where it came from (`the arguments`, `MESHTOP_ENDPOINTS`, `FILE line N`).
        source_name: String,
    },
    /// A file could not be read.
    #[error("cannot read {what} `{path}`: {error}")]
    Unreadable {
        /// `--endpoints-file` or `--token-file`.
        what: &'static str,
        /// The path.
        path: String,
        /// The I/O error.
        error: String,
    },
    /// The token is empty.
    #[error(
        "the token from {0} is empty: put the admin token in it, or leave it out for read-only access"
    )]
    EmptyToken(String),
    /// Nothing to watch.
    #[error(
        "no admin endpoints: give host:port arguments, --endpoints-file FILE or MESHTOP_ENDPOINTS, or try --demo"
    )]
    NoEndpoints,
}

/// Reads a file for `what`.
type ReadFile<'a> = &'a dyn Fn(&std::path::Path) -> std::io::Result<String>;

impl Cli {
    /// Merges arguments, files (read through `read`) and `env` into a [`Config`].
    pub fn resolve(&self, env: &Env, read: ReadFile<'_>) -> Result<Config, CliError> {
        let mut endpoints = Vec::new();
        for e in &self.endpoints {
            push_endpoint(&mut endpoints, e, "the arguments")?;
        }
        if let Some(path) = &self.endpoints_file {
            let text = read(path).map_err(|e| unreadable("--endpoints-file", path, &e))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if !line.is_empty() {
                    let src = format!("{} line {}", path.display(), n + 1);
                    push_endpoint(&mut endpoints, line, &src)?;
                }
            }
        }
        if self.endpoints.is_empty()
            && self.endpoints_file.is_none()
            && let Some(list) = &env.endpoints
        {
            for e in list.split([',', ' ', '\n', '\t']).filter(|s| !s.is_empty()) {
                push_endpoint(&mut endpoints, e, "MESHTOP_ENDPOINTS")?;
            }
        }
        if endpoints.is_empty() && !self.demo {
            return Err(CliError::NoEndpoints);
        }
        let token = match &self.token_file {
            Some(path) => {
                let text = read(path).map_err(|e| unreadable("--token-file", path, &e))?;
                Some(check_token(
                    text,
                    &format!("--token-file {}", path.display()),
                )?)
            }
            None => env
                .token
                .clone()
                .map(|t| check_token(t, "MESHTOP_TOKEN"))
                .transpose()?,
        };
        Ok(Config {
            endpoints,
            token,
            demo: self.demo,
        })
    }
}

impl Config {
    /// Adds the demo mesh's admin endpoints (after any given ones, without duplicates) and, when
    /// no token was given, the demo's token (`--demo` hands a given token to the demo instead).
    pub fn add_demo(&mut self, endpoints: impl IntoIterator<Item = String>, token: &str) {
        for e in endpoints {
            if !self.endpoints.contains(&e) {
                self.endpoints.push(e);
            }
        }
        if self.token.is_none() {
            self.token = Some(token.to_owned());
        }
    }
}

fn unreadable(what: &'static str, path: &std::path::Path, e: &std::io::Error) -> CliError {
    CliError::Unreadable {
        what,
        path: path.display().to_string(),
        error: e.to_string(),
    }
}

fn check_token(text: String, from: &str) -> Result<String, CliError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(CliError::EmptyToken(from.to_owned()));
    }
    Ok(t.to_owned())
}

fn push_endpoint(out: &mut Vec<String>, value: &str, source: &str) -> Result<(), CliError> {
    let value = value.trim();
    let bare = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .unwrap_or(value);
    let ok = bare.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if !ok {
        return Err(CliError::BadEndpoint {
            value: value.to_owned(),
            source_name: source.to_owned(),
        });
    }
    if !out.iter().any(|e| e == value) {
        out.push(value.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
