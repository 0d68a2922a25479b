//! PLACEHOLDER: the validated `ClusterLoadAssignment` domain type.

/// A validated ClusterLoadAssignment (placeholder: only the name so far).
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterLoadAssignment {
    /// The resource name.
    pub cluster_name: String,
}
