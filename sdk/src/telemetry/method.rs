//! The `grpc.method` attribute: registered methods by name, everything else as `other`.
//!
//! gRFC A66 records the full `package.Service/Method` only for methods the application
//! registered (generated stubs), and `"other"` for the rest, so a peer sending arbitrary paths
//! cannot blow up metric cardinality. A tower layer cannot see the stubs, so it is told: either
//! explicit services / methods, or [`MethodRegistry::all`] (every well-formed path, for clients
//! that only call what they compiled in). It does not validate that methods exist.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::Value;

use super::names::OTHER_METHOD;

/// Which request paths are recorded under their own name in `grpc.method`.
#[derive(Debug, Clone)]
pub struct MethodRegistry {
    all: bool,
    /// `package.Service/Method` → the attribute value (shared, so recording does not allocate).
    methods: HashMap<Box<str>, Value>,
    /// `package.Service` names whose every method is registered.
    services: HashMap<Box<str>, ()>,
}

impl Default for MethodRegistry {
    /// Every well-formed method ([`MethodRegistry::all`]).
    fn default() -> Self {
        Self::all()
    }
}

impl MethodRegistry {
    /// Records every well-formed `/package.Service/Method` path under its own name.
    ///
    /// Fine for clients; a server facing untrusted peers should list its services instead.
    pub fn all() -> Self {
        Self {
            all: true,
            methods: HashMap::new(),
            services: HashMap::new(),
        }
    }

    /// Records nothing under its own name until services or methods are added.
    pub fn none() -> Self {
        Self {
            all: false,
            ..Self::all()
        }
    }

    /// Registers every method of `service` (`package.Service`, e.g. `helloworld.Greeter`).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.all = false;
        self.services.insert(service.into().into_boxed_str(), ());
        self
    }

    /// Registers one method, written `package.Service/Method`.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.all = false;
        let method: String = method.into();
        let value = Value::from(Arc::<str>::from(method.as_str()));
        self.methods.insert(method.into_boxed_str(), value);
        self
    }

    /// The `grpc.method` value for a request path (`/package.Service/Method`).
    pub fn attribute(&self, path: &str) -> Value {
        let Some((service, _)) = split_path(path) else {
            return Value::from(OTHER_METHOD);
        };
        let full = &path[1..];
        if let Some(v) = self.methods.get(full) {
            return v.clone();
        }
        if self.all || self.services.contains_key(service) {
            return Value::from(full.to_owned());
        }
        Value::from(OTHER_METHOD)
    }
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`), both non-empty; anything else is `None`.
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (service, method) = rest.split_once('/')?;
    if service.is_empty() || method.is_empty() || method.contains('/') {
        return None;
    }
    Some((service, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(r: &MethodRegistry, path: &str) -> String {
        r.attribute(path).as_str().into_owned()
    }

    #[test]
    fn all_records_well_formed_paths_and_other_for_the_rest() {
        let r = MethodRegistry::all();
        assert_eq!(
            name(&r, "/helloworld.Greeter/SayHello"),
            "helloworld.Greeter/SayHello"
        );
        assert_eq!(name(&r, "/no-method"), "other");
        assert_eq!(name(&r, "/a/b/c"), "other");
        assert_eq!(name(&r, "//x"), "other");
        assert_eq!(name(&r, ""), "other");
    }

    #[test]
    fn listed_services_and_methods_only() {
        let r = MethodRegistry::none()
            .service("helloworld.Greeter")
            .method("grpc.health.v1.Health/Check");
        assert_eq!(
            name(&r, "/helloworld.Greeter/SayHello"),
            "helloworld.Greeter/SayHello"
        );
        assert_eq!(
            name(&r, "/helloworld.Greeter/Other"),
            "helloworld.Greeter/Other"
        );
        assert_eq!(
            name(&r, "/grpc.health.v1.Health/Check"),
            "grpc.health.v1.Health/Check"
        );
        assert_eq!(name(&r, "/grpc.health.v1.Health/Watch"), "other");
        assert_eq!(name(&r, "/evil.Scanner/Probe123"), "other");
    }

    #[test]
    fn adding_a_service_turns_off_all() {
        let r = MethodRegistry::all().service("a.B");
        assert_eq!(name(&r, "/c.D/E"), "other");
    }
}
