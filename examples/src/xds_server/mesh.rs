//! The mesh file: a small, human-written description of services, routes, clusters and endpoints
//! that [`translate`](super::translate) turns into xDS v3 resources.
//!
//! This module only models and parses the file (YAML or JSON, chosen by extension or content) and
//! runs the semantic checks of [`validate`]; it knows nothing about protobuf or ADS. Field names
//! follow Envoy's xDS v3 API (`envoy.config.route.v3`, `envoy.config.cluster.v3`,
//! `envoy.config.endpoint.v3`) so the mapping stays obvious; `examples/mesh/README.md` documents the
//! format with examples.
//!
//! # Format (YAML shown; JSON has the same shape)
//!
//! ```yaml
//! naming: plain                 # or `istio`: route configs and clusters named `outbound|port||host`
//! services:
//!   - host: greeter             # listener `greeter:50051` (the gRPC target `xds:///greeter:50051`)
//!     port: 50051
//!     cluster: greeter          # shorthand for one catch-all route; or `routes:` (see README)
//! clusters:
//!   - name: greeter
//!     lb_policy: round_robin    # least_request | ring_hash | pick_first | peak_ewma
//!     localities:
//!       - locality: { region: eu, zone: eu-a }
//!         endpoints:
//!           - address: 127.0.0.1:50051
//! ```

mod duration;
mod model;
pub mod validate;

pub use duration::MeshDuration;
pub use model::*;

use std::path::{Path, PathBuf};

/// Why a mesh file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// The file could not be read.
    #[error("cannot read mesh file `{path}`: {source}; check the path and its permissions")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid YAML/JSON, or does not have the mesh file's shape.
    #[error(
        "{origin}:{line}:{column}: {message} (see examples/mesh/README.md for the mesh file format)"
    )]
    Syntax {
        /// File name (or `<inline>`).
        origin: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What the parser expected and what it found, with the field path when known.
        message: String,
    },
    /// The file parses but describes an inconsistent mesh.
    #[error("{origin}: invalid mesh:\n{}", render_issues(origin, issues))]
    Invalid {
        /// File name (or `<inline>`).
        origin: String,
        /// Every problem found, in file order.
        issues: Vec<validate::Issue>,
    },
}

/// The text format of a mesh description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (via `yaml_serde`).
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// Picks the format from a file extension, falling back to the content: text whose first
    /// non-blank character is `{` is JSON, anything else YAML.
    pub fn detect(path: Option<&Path>, text: &str) -> Format {
        match path.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            Some("json") => Format::Json,
            Some("yaml" | "yml") => Format::Yaml,
            _ if text.trim_start().starts_with('{') => Format::Json,
            _ => Format::Yaml,
        }
    }
}

impl Mesh {
    /// Reads, parses and validates a mesh file.
    pub fn load(path: &Path) -> Result<Mesh, MeshError> {
        let text = std::fs::read_to_string(path).map_err(|source| MeshError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let format = Format::detect(Some(path), &text);
        Mesh::parse(&text, format, &path.display().to_string())
    }

    /// Parses and validates mesh text; `origin` names the source in error messages.
    pub fn parse(text: &str, format: Format, origin: &str) -> Result<Mesh, MeshError> {
        let mesh: Mesh = match format {
            Format::Yaml => serde_yaml::from_str(text).map_err(|e| {
                let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
                MeshError::Syntax {
                    origin: origin.to_owned(),
                    line,
                    column,
                    message: strip_location(&e.to_string()),
                }
            })?,
            Format::Json => serde_json::from_str(text).map_err(|e| MeshError::Syntax {
                origin: origin.to_owned(),
                line: e.line(),
                column: e.column(),
                message: strip_location(&e.to_string()),
            })?,
        };
        let mut issues = validate::validate(&mesh);
        if issues.is_empty() {
            return Ok(mesh);
        }
        for issue in &mut issues {
            issue.line = validate::locate(text, &issue.needle);
        }
        Err(MeshError::Invalid {
            origin: origin.to_owned(),
            issues,
        })
    }

    /// Parses YAML text (for tests and embedded meshes).
    pub fn from_yaml(text: &str) -> Result<Mesh, MeshError> {
        Mesh::parse(text, Format::Yaml, "<inline>")
    }
}

/// Parsers append " at line L column C"; the location is reported separately.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn render_issues(origin: &str, issues: &[validate::Issue]) -> String {
    issues
        .iter()
        .map(|i| match i.line {
            Some(line) => format!("  {origin}:{line}: {}: {}", i.field, i.message),
            None => format!("  {}: {}", i.field, i.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests;
