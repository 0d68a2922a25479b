//! PLACEHOLDER: the validated `Listener` domain type.

/// A validated Listener (placeholder: only the name so far).
#[derive(Clone, Debug, PartialEq)]
pub struct Listener {
    /// The resource name.
    pub name: String,
}
