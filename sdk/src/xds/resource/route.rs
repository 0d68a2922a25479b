//! PLACEHOLDER: the validated `RouteConfiguration` domain type.

/// A validated RouteConfiguration (placeholder: only the name so far).
#[derive(Clone, Debug, PartialEq)]
pub struct RouteConfiguration {
    /// The resource name.
    pub name: String,
}
