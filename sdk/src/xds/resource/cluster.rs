//! PLACEHOLDER: the validated `Cluster` domain type.

/// A validated Cluster (placeholder: only the name so far).
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// The resource name.
    pub name: String,
}
